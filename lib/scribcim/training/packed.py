"""Many runs trained at once on one device: one process per run, the training slices shared.

A small UNet leaves most of a large GPU idle, so a GPU window should train many runs (methods x
seeds) side by side. :func:`train_packed` starts one process per run (``torch.multiprocessing``,
spawn), at most ``parallel`` at a time. The parent puts the training slices on the device once
(:class:`scribcim.data.device_batches.DeviceSlices`) and hands the same tensors to every child (CUDA
IPC on a GPU, shared memory on a CPU), so N runs hold one copy of the data. Each child is an ordinary
run: :func:`scribcim.training.loop.train` with its own weights, optimiser, reference set, seed, checkpoints,
provenance and resume, then :func:`scribcim.evaluate.summary.evaluate` into its results folder. A run's
numbers therefore equal the same run trained alone (bit for bit on a CPU with one thread each; tested).

Processes rather than CUDA streams or ``torch.func`` stacking: they need no change to the models
(CIM's reference-set update and BatchNorm's running statistics are in-place buffer updates that a
vmapped model cannot make) and keep resume and provenance per run. Whether stacked models would use
a GPU better is left to a measurement on one (``scribcim bench`` times one run; the window script
times the packed runs beside it).

``python -m scribcim.training.packed --profile P --methods M ... --seeds S ...`` trains a packed grid.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import time
import traceback
from pathlib import Path
from typing import Any, Sequence

import torch

from ..config import TrainConfig, make_config
from ..data import split_for
from ..data.device_batches import DeviceSlices
from ..errors import ConfigError

log = logging.getLogger(__name__)
#: config fields that decide a run's training slices: runs sharing slices must agree on all of them
DATA_FIELDS = ("dataset", "data_root", "fold", "val_patients", "scribbles", "inconsistency", "scribble_seed",
               "input_size", "pixel_mm", "device")


def shared_data_key(config: TrainConfig) -> tuple:
    """What a run's device slices depend on."""
    return tuple(getattr(config, f) for f in DATA_FIELDS)


def shared_device_slices(config: TrainConfig) -> DeviceSlices:
    """The training slices ``train(config)`` would put on its device, built once for a packed group."""
    from ..runs.paths import data_root_for
    from .run_setup import load_training
    _, slices = load_training(config, data_root_for(config), split_for(config.dataset, config.fold,
                                                                        config.val_patients), None)
    return DeviceSlices.from_slices(slices, config.input_size, config.device, pixel_mm=config.pixel_mm)


@dataclasses.dataclass
class PackedRun:
    """How one run of a packed group ended (``ok``: trained to its end or to a requested stop, no error)."""

    run_dir: str
    ok: bool
    seconds: float
    summary: str | None = None
    error: str | None = None
    iterations_before: int = 0
    iterations_after: int = 0
    batch_size: int = 0


def _iteration_of(run_dir: Path) -> int:
    """The iteration of a run's ``latest.pt`` (0 for a new run)."""
    from ..runs.log import load_checkpoint
    latest = run_dir / "checkpoints" / "latest.pt"
    return int(load_checkpoint(latest)["iteration"]) if latest.is_file() else 0


def _child(config: dict[str, Any], slices: DeviceSlices | None, evaluate_run: bool, out: Any) -> None:
    """One run in its own process: train (resuming), then evaluate into the results folder."""
    from ..evaluate.summary import evaluate
    from ..runs.paths import results_dir_for, run_dir_for
    from .loop import train
    t0 = time.perf_counter()
    cfg = TrainConfig.from_dict(config)
    run_dir = run_dir_for(cfg)
    rec = PackedRun(str(run_dir), False, 0.0, batch_size=cfg.batch_size)
    try:
        rec.iterations_before = rec.iterations_after = _iteration_of(run_dir)
        res = train(cfg, device_slices=slices)
        rec.iterations_after, rec.ok = res.iterations, True
        if evaluate_run and res.finished:
            results = results_dir_for(cfg)
            evaluate(res.run_dir, data_root=cfg.data_root, device=cfg.device, results_dir=results, progress=False)
            rec.summary = str(results / "summary.json")
    except KeyboardInterrupt:  # a requested stop: the run saved its latest checkpoint and resumes next time
        rec.ok, rec.error = True, "stopped (resumes with the same call)"
        rec.iterations_after = _iteration_of(run_dir)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent by name, never lost
        rec.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    rec.seconds = time.perf_counter() - t0
    out.put(dataclasses.asdict(rec))


def train_packed(configs: Sequence[TrainConfig], *, parallel: int | None = None, evaluate_runs: bool = True,
                 deadline_s: float | None = None) -> list[PackedRun]:
    """Train ``configs`` side by side, at most ``parallel`` processes at once (default: all).

    Runs with ``device_data`` must share :data:`DATA_FIELDS`; their slices are built once here.
    After ``deadline_s`` seconds (or on SIGINT/SIGTERM to this process) no run is started and the running
    ones are asked to stop (SIGTERM: each saves its checkpoint at a step boundary and resumes next call).
    Returns one :class:`PackedRun` per config, in order; a failed run is reported, the others go on.
    """
    import signal
    stop = {"requested": False}

    def request_stop(signum, frame):  # noqa: ANN001
        stop["requested"] = True
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _run_all(configs, parallel, evaluate_runs, deadline_s, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_all(configs: Sequence[TrainConfig], parallel: int | None, evaluate_runs: bool,
             deadline_s: float | None, stop: dict) -> list[PackedRun]:
    if not configs:
        return []
    configs = [c.validate() for c in configs]
    keys = {shared_data_key(c) for c in configs if c.device_data}
    if len(keys) > 1:
        raise ConfigError(f"runs sharing device slices must agree on {', '.join(DATA_FIELDS)}: got {sorted(keys)}")
    slices = shared_device_slices(next(c for c in configs if c.device_data)) if keys else None
    from ..runs.paths import run_dir_for
    ctx = torch.multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    pending = list(enumerate(configs))
    running: dict[str, Any] = {}  # run folder -> process
    done: dict[str, dict] = {}
    limit = parallel or len(configs)
    t0, stopping = time.perf_counter(), False
    while pending or running:
        if not stopping and (stop["requested"] or (deadline_s is not None and time.perf_counter() - t0 > deadline_s)):
            stopping = True
            log.warning("stopping: %d runs asked to save and stop, %d not started", len(running), len(pending))
            pending.clear()
            for p in running.values():
                p.terminate()
        while pending and len(running) < limit:
            i, cfg = pending.pop(0)
            p = ctx.Process(target=_child, args=(cfg.to_dict(), slices if cfg.device_data else None,
                                                 evaluate_runs, queue), name=f"packed-{i}")
            p.start()
            running[str(run_dir_for(cfg))] = p
            log.info("started run %d/%d: %s seed %d", i + 1, len(configs), cfg.method, cfg.seed)
        # a child seen ended here has flushed its report into the pipe, so the drain below reads it
        ended = {run_dir for run_dir, p in running.items() if not p.is_alive()}
        _drain(queue, done, 2.0)
        for run_dir, p in list(running.items()):
            if run_dir in done or run_dir in ended:
                p.join(timeout=30 if run_dir in done else 0.1)
                if not p.is_alive():
                    running.pop(run_dir)
                    done.setdefault(run_dir, dataclasses.asdict(PackedRun(
                        run_dir, False, 0.0, error=f"process ended with exit code {p.exitcode} and no report")))
    return _in_order(configs, done)


def _drain(queue: Any, done: dict[str, dict], timeout: float) -> None:
    """Move every report waiting in ``queue`` into ``done`` (waiting up to ``timeout`` s for the first)."""
    import queue as queue_module
    while True:
        try:
            rec = queue.get(timeout=timeout)
        except queue_module.Empty:  # nothing (more) waiting; children that died without a word are found by the caller
            return
        done[rec["run_dir"]] = rec
        timeout = 0.05


def _in_order(configs: Sequence[TrainConfig], done: dict[str, dict]) -> list[PackedRun]:
    from ..runs.paths import run_dir_for
    out = []
    for cfg in configs:
        rec = done.get(str(run_dir_for(cfg)))
        out.append(PackedRun(**rec) if rec else PackedRun(str(run_dir_for(cfg)), False, 0.0, error="not started"))
        if not out[-1].ok:
            log.error("run %s failed: %s", out[-1].run_dir, (out[-1].error or "").splitlines()[0])
    return out


def throughput(runs: Sequence[PackedRun], wall_s: float) -> dict[str, Any]:
    """Training slices per second of the packed group over ``wall_s`` (iterations this call x batch)."""
    slices = sum((r.iterations_after - r.iterations_before) * r.batch_size for r in runs)
    return {"runs": len(runs), "wall_s": wall_s, "slices": slices, "slices_per_s": slices / wall_s if wall_s else 0.0,
            "per_run": [dataclasses.asdict(r) | {"error": (r.error or "").splitlines()[:1]} for r in runs]}


def grid_configs(profile: str, methods: Sequence[str], seeds: Sequence[int], **overrides: Any) -> list[TrainConfig]:
    """One config per (method, seed), methods outer, all with the same overrides."""
    return [make_config(profile, method=m, seed=s, resume=True, **overrides) for m in methods for s in seeds]


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m scribcim.training.packed``: train a grid of runs side by side on one device."""
    p = argparse.ArgumentParser(prog="python -m scribcim.training.packed", description=main.__doc__)
    p.add_argument("--profile", required=True, help="training profile of every run")
    p.add_argument("--methods", nargs="+", required=True, help="methods")
    p.add_argument("--seeds", nargs="+", type=int, required=True, help="seeds (runs pair by seed across methods)")
    p.add_argument("--parallel", type=int, default=None, help="processes at once (default: all runs)")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="config overrides for every run")
    p.add_argument("--no-evaluate", action="store_true", help="train only")
    p.add_argument("--deadline-s", type=float, default=None, help="stop (and save) every run after this many seconds")
    p.add_argument("--report", type=Path, default=None, help="write the runs and packed slices/s here (JSON)")
    ns = p.parse_args(argv)
    overrides = dict(kv.split("=", 1) for kv in ns.set)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    t0 = time.perf_counter()
    runs = train_packed(grid_configs(ns.profile, ns.methods, ns.seeds, **overrides), parallel=ns.parallel,
                        evaluate_runs=not ns.no_evaluate, deadline_s=ns.deadline_s)
    report = throughput(runs, time.perf_counter() - t0)
    if ns.report is not None:
        from ..runs.log import write_json
        ns.report.parent.mkdir(parents=True, exist_ok=True)
        write_json(ns.report, report)
    for r in runs:
        log.info("%s %s %d -> %d it, %.0f s %s", "ok  " if r.ok else "FAIL", r.run_dir, r.iterations_before,
                 r.iterations_after, r.seconds, r.summary or ((r.error or "").splitlines() or [""])[0])
    log.info("packed: %.1f training slices/s over %.0f s", report["slices_per_s"], report["wall_s"])
    if not all(r.ok for r in runs):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
