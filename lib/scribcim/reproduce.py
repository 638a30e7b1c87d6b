"""The main job: train and evaluate several methods on one fold, write results, print the table."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Sequence

from .config import make_config
from .data import get_dataset
from .data.fetch import fetch, resolve_data_root
from .evaluate.summary import evaluate
from .viz.figures import render_main_figures
from .report.tables import full_report
from .runs.log import write_json
from .runs.paths import profile_dir, results_dir_for
from .train import train

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
    summaries, timings, outs = [], {}, {}
    for method in methods:
        cfg = make_config(profile, dataset=dataset, method=method, fold=fold, data_root=root,
                          device=device, resume=True, **overrides)
        t = time.perf_counter()
        res = train(cfg)
        out = outs[method] = results_dir_for(cfg)
        summaries.append(evaluate(res.run_dir, data_root=root, results_dir=out))
        timings[method] = round(time.perf_counter() - t, 1)
    table = full_report(summaries)
    dest = profile_dir(make_config(profile).results_root, dataset, profile)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / f"fold{fold}_table.md").write_text(table + "\n")
    write_json(dest / f"fold{fold}_timing.json", {"seconds_per_method": timings,
                                                   "total_seconds": round(time.perf_counter() - t0, 1)})
    figs = render_main_figures(outs, Path("figures"), f"{dataset}_{profile}_fold{fold}", root and Path(root))
    print(table)
    print("figures: " + ", ".join(str(f) for f in figs))
    print(f"\nwall time {time.perf_counter() - t0:.0f} s; results under {dest}")
    return summaries
