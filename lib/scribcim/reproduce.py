"""The main job: train and evaluate several methods on one fold, write results, print the table."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Sequence

from .config import make_config
from .data import get_dataset
from .data.fetch import fetch, resolve_data_root
from .evaluate import evaluate, load_model
from .inference import predict_labels
from .provenance import git_state
from .report import full_report
from .runlog import write_json
from .train import results_dir_for, train

log = logging.getLogger(__name__)


def reproduce(*, dataset: str = "acdc", fold: int = 1, profile: str = "quick",
              methods: Sequence[str] = ("pce", "cim"), data_root: str | None = None,
              source_dir: str | None = None, device: str = "cpu", **overrides: Any) -> list[dict[str, Any]]:
    """Fetch the data if missing, train (resuming finished or interrupted runs), evaluate, print a table.

    Returns the summaries in ``methods`` order and writes ``results/<dataset>/<profile>/fold<k>_table.md``.
    """
    t0 = time.perf_counter()
    root = None
    if get_dataset(dataset).needs_root:
        root = str(fetch(dataset, resolve_data_root(data_root), source_dir=source_dir, if_missing=True))
    summaries, timings, runs = [], {}, {}
    for method in methods:
        cfg = make_config(profile, dataset=dataset, method=method, fold=fold, data_root=root,
                          device=device, resume=True, **overrides)
        t = time.perf_counter()
        res = train(cfg)
        runs[method] = res.run_dir
        out = results_dir_for(cfg)
        summaries.append(evaluate(res.run_dir, data_root=root, results_dir=out))
        timings[method] = round(time.perf_counter() - t, 1)
    table = full_report(summaries)
    dest = Path(make_config(profile).results_root) / dataset / profile
    dest.mkdir(parents=True, exist_ok=True)
    (dest / f"fold{fold}_table.md").write_text(table + "\n")
    write_json(dest / f"fold{fold}_timing.json", {"seconds_per_method": timings,
                                                   "total_seconds": round(time.perf_counter() - t0, 1)})
    figs = render_figures(summaries, runs, root, Path("figures"), f"{dataset}_{profile}_fold{fold}")
    print(table)
    print("figures: " + ", ".join(str(f) for f in figs))
    print(f"\nwall time {time.perf_counter() - t0:.0f} s; results under {dest}")
    return summaries


def render_figures(summaries: Sequence[dict[str, Any]], runs: dict[str, Path], root: str | None,
                   dest: Path, stem: str) -> list[Path]:
    """Training curves of every run, and overlays of each method's best checkpoint on one test slice.

    The slice is the middle slice of the test case with the median foreground Dice of the last
    method (the case is chosen from test results only for display, never for selection).
    """
    from .data import load_part, split_for
    from .viz import plot_curves, plot_overlays, save_figure

    last = summaries[-1]
    cases = sorted(last["checkpoints"]["best"]["cases"], key=lambda c: c["foreground_mean"]["dice"] or 0.0)
    case = cases[len(cases) // 2]["case"]
    split = split_for(last["dataset"], last["fold"])
    vol = next(v for v in load_part(last["dataset"], root and Path(root), split, "test") if v.case == case)
    z = vol.num_slices // 2
    preds = {}
    for s in summaries:
        model, _ = load_model(runs[s["method"]], "best")
        cfg = s["provenance"]["config"]
        preds[s["method"]] = predict_labels(model, vol.image, input_size=cfg["input_size"])[z]
    prov = {"git": git_state(), "summaries": {s["method"]: s["run_dir"] for s in summaries},
            "case": case, "slice": z, "checkpoint": "best",
            "made_by": "scribcim reproduce (lib/scribcim/reproduce.py:render_figures)"}
    return [
        save_figure(plot_curves(runs), dest / f"{stem}_curves.png", prov),
        save_figure(plot_overlays(vol.image[z], vol.scribble[z], vol.label[z], preds,
                                  title=f"{case}, slice {z} (median-Dice test case)"),
                    dest / f"{stem}_overlays.png", prov),
    ]
