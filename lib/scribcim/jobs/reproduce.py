"""The main job: train and evaluate several methods on one fold in a folder of its own, print the table and the
numbers beside the committed runs.

Everything goes under ``out`` (``reproduced/`` by default, ignored by git): ``out/runs/...`` (run folders),
``out/results/...`` (summaries, table, timing, the comparison with the committed runs) and ``out/figures/...``;
the committed ``results/`` and ``figures/`` are only read (:mod:`scribcim.report.reproduced`).

Runs of a one-thread profile (the ``cpu-*`` profiles) go side by side, one process each, as many as
there are cores: each run is a function of its config alone (seed, one thread), so the numbers are
those of the same runs made one after the other, in about half the time on two cores.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Sequence

from ..config import TrainConfig, make_config
from ..errors import ConfigError
from ..data import get_dataset
from ..data.fetch import fetch, resolve_data_root
from ..evaluate.summary import evaluate
from ..viz.figures import render_main_figures
from ..report.reproduced import committed_summaries, compare_run, format_comparisons
from ..report.tables import full_report
from ..runs.log import write_json
from ..runs.paths import profile_dir, results_dir_for
from ..training.loop import train

log = logging.getLogger(__name__)


def run_and_evaluate(config: TrainConfig) -> tuple[dict[str, Any], float]:
    """Train (or resume) one run, evaluate it into its results folder; (summary, seconds)."""
    t = time.perf_counter()
    res = train(config)
    summary = evaluate(res.run_dir, data_root=config.data_root, results_dir=results_dir_for(config),
                       progress=config.progress)
    return summary, round(time.perf_counter() - t, 1)


def default_jobs(configs: Sequence[TrainConfig]) -> int:
    """Runs side by side: as many as the cores hold at each run's thread count (torch's default: one at a time)."""
    cores = os.cpu_count() or 1
    threads = max(c.num_threads or cores for c in configs)
    return max(1, min(len(configs), cores // threads))


def reproduce(*, dataset: str = "acdc", fold: int = 1, profile: str = "quick",
              methods: Sequence[str] = ("pce", "cim"), data_root: str | None = None,
              source_dir: str | None = None, device: str = "cpu", jobs: int | None = None,
              out: Path | str = "reproduced", committed: Path | str = "results",
              **overrides: Any) -> list[dict[str, Any]]:
    """Fetch the data if missing, train (resuming finished or interrupted runs), evaluate, print a table and the
    numbers beside the committed runs of ``committed`` (:func:`scribcim.report.reproduced.compare_run`).

    ``jobs``: runs side by side in separate processes (default :func:`default_jobs`); with several, only
    the last method's run shows a progress bar. Returns the summaries in ``methods`` order and writes
    ``<out>/results/<dataset>/<profile>/fold<k>_{table,timing,against_committed}.*``, the run folders under
    ``<out>/runs`` and the figures under ``<out>/figures``; nothing outside ``out`` (but a data fetch).
    """
    t0 = time.perf_counter()
    out = Path(out)
    for kept in (Path(committed), Path("figures")):
        if out.resolve() == kept.resolve() or kept.resolve() in out.resolve().parents:
            raise ConfigError(f"--out {out} lies in {kept}/, whose committed files reproduce never writes: "
                              "choose another folder (default: reproduced)")
    overrides = {**overrides, "runs_root": str(out / "runs"), "results_root": str(out / "results")}
    root = None
    if get_dataset(dataset).needs_root:
        root = str(fetch(dataset, resolve_data_root(data_root), source_dir=source_dir, if_missing=True))
    configs = [make_config(profile, dataset=dataset, method=m, fold=fold, data_root=root, device=device, resume=True,
                           **overrides) for m in methods]
    jobs = default_jobs(configs) if jobs is None else max(1, int(jobs))
    if jobs > 1:
        log.info("training %s side by side: %d processes", ", ".join(methods), jobs)
        for c in configs[:-1]:
            c.progress = False
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            done = list(pool.map(run_and_evaluate, configs))
    else:
        done = [run_and_evaluate(c) for c in configs]
    summaries = [s for s, _ in done]
    timings = {m: sec for m, (_, sec) in zip(methods, done)}
    outs = {c.method: results_dir_for(c) for c in configs}
    table = full_report(summaries)
    dest = profile_dir(out / "results", dataset, profile)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / f"fold{fold}_table.md").write_text(table + "\n")
    write_json(dest / f"fold{fold}_timing.json", {"seconds_per_method": timings, "jobs": jobs,
                                                   "total_seconds": round(time.perf_counter() - t0, 1)})
    figs = render_main_figures(outs, out / "figures", f"{dataset}_{profile}_fold{fold}", root and Path(root))
    recs = [compare_run(s, committed_summaries(committed, dataset, profile, s["method"], fold)) for s in summaries]
    against = format_comparisons(recs, f"{Path(committed) / dataset / profile}/<method>/fold{fold}/seed*/summary.json")
    (dest / f"fold{fold}_against_committed.md").write_text(against + "\n")
    write_json(dest / f"fold{fold}_against_committed.json", recs)
    print(table)
    print("figures: " + ", ".join(str(f) for f in figs))
    print("\n" + against)
    print(f"\nwall time {time.perf_counter() - t0:.0f} s; results under {dest}, run folders under {out / 'runs'}; "
          f"nothing written under {committed}/ or figures/")
    return summaries
