"""``scribcim figures`` / ``make figures``: every committed figure (and the tables drawn beside it), redrawn
from committed results plus the data folder, no training.

A figure is redrawn when its inputs are committed; figures whose inputs are absent are skipped
with a log line. The one driver above :mod:`scribcim.report` and :mod:`scribcim.viz`.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from ..errors import DataError
from ..report.results_report import render_results
from ..report.robustness import render_robustness
from ..runs.paths import profile_dir, run_path
from ..viz.figures import render_main_figures, render_matching_figures

log = logging.getLogger(__name__)


def make_figures(results: Path | str = "results", figures: Path | str = "figures", *,
                 data_root: Path | str | None = None, scribble_stats: bool = True,
                 tables: Path | str | None = None, records: Path | str | None = None) -> list[Path]:
    """Redraw every figure whose inputs are committed under ``results`` into ``figures``.

    The tables drawn alongside go to their usual places under ``results`` unless ``tables`` names
    another folder (tests); matching records (notebook 05) are read from ``records`` (default:
    ``figures`` itself). ``scribble_stats=False`` skips the scribble-style figure (it
    re-simulates 100 volumes, about 3 minutes).
    """
    results, figures = Path(results), Path(figures)
    written: list[Path] = []
    quick = profile_dir(results, "acdc", "quick")
    main = {m: results / run_path("acdc", "quick", m, 1, 2022) for m in ("pce", "cim")}
    if all((f / "display.json").is_file() for f in main.values()):
        written += render_main_figures(main, figures, "acdc_quick_fold1", data_root)
    else:
        log.info("skipping acdc_quick_fold1 curves/overlays: no display.json under %s", quick)
    written += [p for p in render_results(results, Path(tables) if tables else results / "tables", figures)
                if p.suffix == ".png"]
    try:
        written.append(render_robustness(results, figures, tables=tables)["figure"])
    except DataError as exc:
        log.info("skipping the robustness figure: %s", exc)
    for record in sorted(Path(records or figures).glob("*.json")):
        if "top_k" in json.loads(record.read_text()):  # a matching record (notebook 05), not a provenance file
            written += render_matching_figures(record, figures, data_root)
    if scribble_stats:
        from ..data.fetch import resolve_data_root
        from ..viz.scribbles import render_scribble_report
        render_scribble_report(resolve_data_root(data_root), Path(tables) if tables else results / "acdc" / "scribbles",
                               figures / "acdc_scribble_styles.png")
        written.append(figures / "acdc_scribble_styles.png")
    return written
