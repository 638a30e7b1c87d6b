"""The robustness grid's training scribbles, measured, as lines of its report: coverage per level (the
``--tolerance`` check against level 0, the experts' coverage for reference) and where the strokes lie
(:mod:`scribcim.report.geometry`). Both read the records ``python -m scribcim.report.coverage`` writes in the
profile's results folder; a record not yet measured says so (coverage) or is left out (geometry).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ..config.workflow import scribble_seeds
from ..runs.paths import profile_dir
from .coverage import COVERAGE_CSV, check_lines, check_tolerance, coverage_summary_markdown, expert_line
from .geometry import GEOMETRY_CSV, geometry_markdown


def coverage_lines(results_root: Path | str, section: dict[str, Any]) -> list[str]:
    """The measured coverage of the grid's training scribbles (``python -m scribcim.report.coverage``), rows of its
    base, levels and scribble seeds; a line saying it is absent otherwise."""
    root = Path(results_root)
    path = profile_dir(root, section["dataset"], section["profile"]) / COVERAGE_CSV
    if not path.is_file():
        return [f"Coverage of the training scribbles: not measured (no `{path.relative_to(root)}`; run "
                "`python -m scribcim.report.coverage`)."]
    df = pd.read_csv(path)
    levels, sseeds = [float(x) for x in section["levels"]], sorted(set(scribble_seeds(section)))
    d = df[(df.base == section["base"]) & df.level.isin(levels) & df.scribble_seed.isin(sseeds)]
    shown = path.relative_to(root).as_posix()
    if d.empty:
        return [f"Coverage of the training scribbles: `{shown}` has no rows for base `{section['base']}`, levels "
                f"{section['levels']} and scribble seeds {sseeds}."]
    return [f"Coverage of the training scribbles (`{shown}`; % of each class's dense-label pixels, mean over scribble "
            f"seeds {', '.join(str(s) for s in sseeds)}; in brackets the ratio to level 0):", "",
            coverage_summary_markdown(d), "", *(f"- {line}" for line in check_lines(check_tolerance(d))),
            *expert_reference(path)]


def geometry_lines(results_root: Path | str, section: dict[str, Any]) -> list[str]:
    """Where the grid's training scribbles lie per level and per annotator (:mod:`scribcim.report.geometry`), its
    levels and scribble seeds; nothing when not measured."""
    root = Path(results_root)
    path = profile_dir(root, section["dataset"], section["profile"]) / GEOMETRY_CSV
    if not path.is_file():
        return []
    df = pd.read_csv(path, dtype={"name": str})
    sseeds = sorted(set(scribble_seeds(section)))
    keep = df.scribble_seed.isin(sseeds) & ((df.scope == "member") | df.name.isin(section["levels"]))
    expert = _beside(path, "expert")
    return ["", f"Where those scribbles lie (`{path.relative_to(root).as_posix()}`; mean ± sd over scribble seeds "
            f"{', '.join(map(str, sseeds))}): slices marked, of the slices containing a class; depth, mean distance "
            "(mm) of the class's scribbled pixels to another class (for BG: from the heart):", "",
            geometry_markdown(df[keep], expert)]


def expert_reference(coverage_csv: Path) -> list[str]:
    """The expert scribbles' coverage of the same volumes, from the JSON beside the coverage CSV (if recorded)."""
    expert = _beside(coverage_csv, "expert_coverage_pct")
    return ["", *expert_line(expert)] if expert else []


def _beside(csv: Path, key: str) -> Any:
    """``key`` of the JSON record beside a CSV record (None when either is absent)."""
    info = csv.with_suffix(".json")
    return json.loads(info.read_text()).get(key) if info.is_file() else None
