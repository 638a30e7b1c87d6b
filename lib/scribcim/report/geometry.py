"""Where the training scribbles lie at each inconsistency level: the geometry record beside the coverage record.

:func:`scribcim.data.scribble_geometry.geometry_rows` per level and per annotator a level may pick; written by
``python -m scribcim.report.coverage`` as ``<profile folder>/robustness_matched_geometry.{csv,md,json}``: what the
levels change when coverage stays put (slices marked, how deep inside a structure the strokes run).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import pandas as pd

from ..data.scribble_stats import CLASS_NAMES
from .markdown import fmt_mean_std, md_header, md_row

#: the geometry CSV's name in a profile's results folder (the robustness report reads it there)
GEOMETRY_CSV = "robustness_matched_geometry.csv"
_FG = [c for c in CLASS_NAMES if c != "BG"]


def _head(first: str) -> list[str]:
    return [first, *(f"{c} slices marked %" for c in _FG), *(f"{c} depth mm" for c in CLASS_NAMES)]


def _cells(g: pd.DataFrame) -> list[str]:
    """Per class mean ± sd over scribble seeds of slices marked (foreground classes) and depth (every class)."""
    by = g.groupby("class")
    return ([fmt_mean_std(by.slices_marked_pct.mean()[c], by.slices_marked_pct.std()[c], 1) for c in _FG]
            + [fmt_mean_std(by.depth_mm.mean()[c], by.depth_mm.std()[c], 1) for c in CLASS_NAMES])


def geometry_markdown(df: pd.DataFrame, expert: Mapping[str, Mapping[str, float]] | None = None) -> str:
    """Two tables (per level; per annotator a level may pick), mean ± sd over scribble seeds, and the experts'
    row when given."""
    lev, mem = df[df.scope == "level"], df[df.scope == "member"]
    lines = md_header(_head("level"))
    lines += [md_row([name, *_cells(g)]) for name, g in sorted(lev.groupby("name"), key=lambda x: float(x[0]))]
    lines += [""] + md_header(_head("annotator (drawing every volume)"))
    lines += [md_row([f"`{name}`", *_cells(g)]) for name, g in mem.groupby("name", sort=False)]
    if expert:
        lines.append(md_row(["expert scribbles of the same volumes",
                             *(f"{expert[c]['slices_marked_pct']:.1f}" for c in _FG),
                             *(f"{expert[c]['depth_mm']:.1f}" for c in CLASS_NAMES)]))
    return "\n".join(lines)


def write_geometry(df: pd.DataFrame, out: Path, params: dict, prov: dict,
                   expert: Mapping[str, Mapping[str, float]] | None = None) -> Path:
    """Write ``out`` (CSV, one row per scope, name, scribble seed and class), ``out.md`` and ``out.json``."""
    from ..runs.log import write_csv_record
    seeds = ", ".join(str(s) for s in sorted(set(df.scribble_seed)))
    md = (f"Where the training scribbles lie (base `{params.get('base')}`, {params.get('volumes', '?')} training "
          f"volumes of {str(params.get('dataset', '')).upper()} fold {params.get('fold', '?')}; mean ± sd over "
          f"scribble seeds {seeds}). Slices marked: of the slices containing a class, the share with a stroke of it; "
          "depth: mean in-plane distance (mm) of the class's scribbled pixels to the nearest pixel of another class "
          "(small on a contour, large on a centre line; for BG, the distance from the heart). Per-seed rows: "
          f"`{Path(out).name}`.\n\n" + geometry_markdown(df, expert) + "\n")
    write_csv_record(out, df.to_csv(index=False, float_format="%.6f"), md,
                     {"parameters": params, **({"expert": expert} if expert else {}), "provenance": prov})
    return Path(out)
