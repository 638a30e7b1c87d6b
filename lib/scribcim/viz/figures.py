"""Figures of trained runs: training curves, prediction overlays, best/worst cases, matching records.

Drawn from committed results (plus the data folder for images), no training: training curves
come from the results folders' ``train_log.jsonl``, prediction overlays from ``display.json``
(see :mod:`scribcim.runs.display`). :func:`scribcim.jobs.redraw.make_figures` calls them.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data import load_volumes
from ..runs.display import read_display
from ..runs.load import median_case
from ..errors import DataError
from ..provenance import git_state, repo_relative
from .common import draw_panel, plot_curves, plot_overlays, plt, save_figure

log = logging.getLogger(__name__)


def _summary(folder: Path) -> dict[str, Any]:
    path = Path(folder) / "summary.json"
    if not path.is_file():
        raise DataError(f"{path} not found: evaluate the run with --results {folder}")
    return json.loads(path.read_text())


def _fg_dice(summary: dict[str, Any], checkpoint: str) -> dict[str, float]:
    return {c["case"]: c["foreground_mean"]["dice"] or 0.0 for c in summary["checkpoints"][checkpoint]["cases"]}


def _test_volumes(summary: dict[str, Any], data_root: Path | None, cases: Sequence[str]) -> dict[str, Any]:
    vols = load_volumes(summary["dataset"], summary["part"], fold=summary["fold"], data_root=data_root)
    found = {v.case: v for v in vols if v.case in set(cases)}
    missing = sorted(set(cases) - set(found))
    if missing:
        raise DataError(f"cases {missing} are not in {summary['dataset']} fold {summary['fold']} {summary['part']}")
    return found


def overlays_figure(folders: dict[str, Path], data_root: Path | None = None, case: str | None = None
                    ) -> tuple[plt.Figure, dict[str, Any]]:
    """One test slice (the middle slice of ``case``, default the last run's median case): image,
    scribble, ground truth and each run's prediction. Returns (figure, what was shown)."""
    last = list(folders.values())[-1]
    checkpoint = read_display(last)[0]
    case = case or median_case(last, checkpoint)
    vol = _test_volumes(_summary(last), data_root, [case])[case]
    preds, z = {}, None
    for label, folder in folders.items():
        _, middles = read_display(folder)
        z, preds[label] = middles[case]
    fig = plot_overlays(vol.image[z], vol.scribble[z], vol.label[z], preds,
                        title=f"{case}, slice {z} (median-Dice test case of {list(folders)[-1]})")
    return fig, {"case": case, "slice": z, "checkpoint": checkpoint}


def best_worst_figure(folder: Path, data_root: Path | None = None, n: int = 2) -> plt.Figure:
    """Rows: the ``n`` best and ``n`` worst test cases of a run (image, scribble, prediction, ground truth)."""
    checkpoint, middles = read_display(folder)
    summary = _summary(folder)
    dice = _fg_dice(summary, checkpoint)
    ranked = sorted(dice, key=dice.get, reverse=True)
    chosen = ranked[:n] + ranked[-n:]
    vols = _test_volumes(summary, data_root, chosen)
    fig, axes = plt.subplots(len(chosen), 4, figsize=(10, 2.6 * len(chosen)))
    for row, case in zip(np.atleast_2d(axes), chosen, strict=True):
        z, pred = middles[case]
        v = vols[case]
        panels = [("image", None), ("scribble", v.scribble[z]), ("prediction", pred), ("ground truth", v.label[z])]
        for ax, (name, mask) in zip(row, panels, strict=True):
            title = name + (f"\n{case} z={z}, Dice {dice[case]:.3f}" if name == "image" else "")
            draw_panel(ax, v.image[z], mask, scribble=name == "scribble", title=title, fontsize=8)
    fig.tight_layout()
    return fig


def render_main_figures(folders: dict[str, Path], dest: Path, stem: str, data_root: Path | None = None
                        ) -> list[Path]:
    """``<stem>_curves.png`` and ``<stem>_overlays.png`` for the runs in ``folders`` (results or run folders)."""
    fig, shown = overlays_figure(folders, data_root)
    prov = {"git": git_state(), "inputs": {k: repo_relative(v) for k, v in folders.items()}, **shown,
            "made_by": "scribcim figures (lib/scribcim/viz/figures.py:render_main_figures)"}
    return [save_figure(plot_curves(folders), dest / f"{stem}_curves.png", prov),
            save_figure(fig, dest / f"{stem}_overlays.png", prov)]


def render_matching_figures(record_path: Path, dest: Path, data_root: Path | None = None) -> list[Path]:
    """The three figures of a matching record (notebook 05), redrawn from the record and the data folder."""
    from ..analysis import matching
    from . import matching as viz_matching
    record = matching.load_record(record_path)
    prov = {**record["provenance"], "record": repo_relative(record_path)}
    stem = Path(record_path).stem
    return [save_figure(viz_matching.render_attention(record, data_root), dest / f"{stem}_attention.png", prov),
            save_figure(viz_matching.render_matches(record, data_root), dest / f"{stem}_matches.png", prov),
            save_figure(viz_matching.render_embedding(record), dest / f"{stem}_embedding.png", prov)]
