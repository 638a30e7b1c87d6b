"""The one training loop. Methods plug in through :mod:`scribcim.methods`.

``train(config)`` loads the fold, builds the method's network, runs SGD with poly decay,
validates on the validation patients (never the test patients), keeps ``latest.pt`` and
``best.pt`` and returns a :class:`RunResult`. ``resume=True`` continues from
``latest.pt``: batches are a function of (seed, iteration) and the dropout generator is
reseeded every step, so a resumed run follows the uninterrupted one exactly on CPU.
"""
from __future__ import annotations

import json
import logging
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .config import TrainConfig, scribble_variant
from .data import get_dataset, load_part, split_for
from .data.device_batches import DeviceSlices, make_device_batch
from .data.fetch import resolve_data_root, verify
from .data.slices import SliceSet, make_batch
from .data.volumes import Volume
from .ema import WeightEMA
from .inference import predict_labels
from .io import make_run_info, normalise_volumes, read_run_info
from .methods import get_method
from .metrics import fast_dice
from .progress import LoopProgress
from .provenance import provenance
from .runlog import MetricsLog, check_run_dir, eval_weights, load_checkpoint, save_checkpoint, write_json

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What a finished (or stopped) run produced."""

    run_dir: Path
    iterations: int
    finished: bool
    best_iteration: int
    best_val_dice: float
    last_val_dice: float
    wall_time_s: float


def run_dir_for(config: TrainConfig) -> Path:
    """``runs/<dataset>/<profile>/[<variant>/]<method>/fold<k>/seed<s>`` unless ``config.run_dir`` is set.

    ``<variant>`` (e.g. ``sim-centreline-inc0.50-seed0``) only for simulated training scribbles.
    """
    if config.run_dir:
        return Path(config.run_dir)
    return Path(config.runs_root) / results_dir_for(config).relative_to(config.results_root)


def results_dir_for(config: TrainConfig) -> Path:
    """Where a run's summary is committed: the run folder's path with ``results_root`` for ``runs_root``."""
    base = Path(config.results_root) / config.dataset / config.profile
    variant = scribble_variant(config)
    return (base / variant if variant else base) / config.method / f"fold{config.fold}" / f"seed{config.seed}"


def training_volumes(config: TrainConfig, volumes: list[Volume], run_dir: Path | None) -> list[Volume]:
    """The training volumes with the scribbles the config asks for (expert, or simulated from dense labels).

    Simulated sets are written down in ``run_dir/scribbles.json`` (which annotator drew each case), if given.
    """
    from .data.scribbles import assign_annotators, training_scribbles
    if config.scribbles == "expert":
        return volumes
    from .errors import ConfigError
    if any(v.label is None for v in volumes):
        raise ConfigError(f"--scribbles {config.scribbles}: {config.dataset} has no dense training labels to "
                          "simulate scribbles from; use --scribbles expert")
    who = assign_annotators([v.case for v in volumes], config.scribbles, config.inconsistency,
                            seed=config.scribble_seed)
    if run_dir is not None:
        write_json(run_dir / "scribbles.json", {"base": config.scribbles, "inconsistency": config.inconsistency,
                                                "seed": config.scribble_seed,
                                                "annotators": {c: a.name for c, a in sorted(who.items())}})
    return training_scribbles(volumes, config.scribbles, config.inconsistency, seed=config.scribble_seed)


def data_root_for(config: TrainConfig) -> Path | None:
    """Resolved data root (None for synthetic datasets); verifies the files against the package sums."""
    if not get_dataset(config.dataset).needs_root:
        return None
    root = resolve_data_root(config.data_root)
    verify(config.dataset, root)
    return root


def truncate_metrics(path: Path, iteration: int) -> None:
    """Drop log records after ``iteration`` (written before a hard kill, about to be redone)."""
    if path.is_file():
        keep = [ln for ln in path.read_text().splitlines() if ln and json.loads(ln)["iteration"] <= iteration]
        path.write_text("".join(ln + "\n" for ln in keep))


class DeferredInterrupt:
    """SIGINT / SIGTERM handling for the loop: the first signal only sets :attr:`requested` (the loop
    stops at the next step boundary, where the saved state is consistent with its iteration); a
    second one raises KeyboardInterrupt at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, object] = {}

    def _handler(self, signum, frame) -> None:  # noqa: ANN001
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("signal %d: stopping after this iteration (send it again to stop at once)", signum)

    def __enter__(self) -> "DeferredInterrupt":
        try:
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handler)
        except ValueError:  # not the main thread: leave signals alone
            self._previous.clear()
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


def set_determinism(config: TrainConfig) -> None:
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    if config.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def poly_lr(base: float, iteration: int, max_iterations: int, power: float) -> float:
    """Poly decay: base * (1 - it / max) ** power."""
    return base * (1.0 - iteration / max_iterations) ** power


def validate(model: torch.nn.Module, volumes: list[Volume], config: TrainConfig) -> float:
    """Mean foreground Dice (3D, per volume, then averaged) on validation volumes."""
    was_training = model.training
    model.eval()
    scores = [fast_dice(predict_labels(model, v.image, input_size=config.input_size, device=config.device,
                                       bf16=config.bf16), v.label) for v in volumes]
    model.train(was_training)
    return float(np.nanmean(np.stack(scores))) if scores else float("nan")


def train(config: TrainConfig, *, device_slices: DeviceSlices | None = None) -> RunResult:
    """Train one (dataset, method, fold, seed) run; see the module docstring.

    ``device_slices``: with ``device_data``, training slices already on the device (shared by the runs
    of :mod:`scribcim.packed`); they must be what this run would build itself (its data, fold, scribbles
    and input size), which :func:`scribcim.packed.shared_data_key` guards.
    """
    config.validate()
    t0 = time.perf_counter()
    set_determinism(config)
    run_dir = run_dir_for(config)
    cfg_dict = config.to_dict()
    check_run_dir(run_dir, cfg_dict)
    ckpt_dir = run_dir / "checkpoints"
    latest = ckpt_dir / "latest.pt"
    if latest.exists() and not config.resume:
        from .errors import ConfigError
        raise ConfigError(f"{run_dir} already holds a run: pass --resume to continue it, "
                          "or choose another --run-dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    root = data_root_for(config)
    split = split_for(config.dataset, config.fold, config.val_patients)
    write_json(run_dir / "config.json", cfg_dict)
    write_json(run_dir / "split.json", {"fold": split.fold, "train": split.train, "val": split.val,
                                        "test": split.test})
    # what `predict` needs besides config.json and the checkpoints; a resumed run keeps its own
    run_info = read_run_info(run_dir, config) if latest.exists() else make_run_info(config)
    write_json(run_dir / "run_info.json", run_info)
    prov = provenance(cfg_dict, device=config.device, dataset=config.dataset)
    if latest.exists():  # resuming: keep the original provenance, log this session beside it
        with (run_dir / "resumes.jsonl").open("a") as fh:
            fh.write(json.dumps(prov) + "\n")
    else:
        write_json(run_dir / "provenance.json", prov)
    norm = run_info["normalisation"]  # identity on the ACDC HDF5 images (see scribcim.io)
    train_volumes = training_volumes(config, load_part(config.dataset, root, split, "train"), run_dir)
    slices = SliceSet.from_volumes(normalise_volumes(train_volumes, norm))
    val_volumes = normalise_volumes(load_part(config.dataset, root, split, "val"), norm)
    log.info("run %s: %d training slices, %d validation volumes", run_dir, len(slices), len(val_volumes))

    method = get_method(config.method)(config)
    if method.needs_dense_labels and not slices.dense_labels:
        from .errors import ConfigError
        raise ConfigError(f"method {config.method!r} needs dense training labels, which {config.dataset} "
                          "does not have: choose a scribble-supervised method")
    torch.manual_seed(config.seed)  # the initial weights are a function of the seed, not of what ran before
    model = method.build_model().to(config.device)
    fmt = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                          weight_decay=config.weight_decay)
    ema = WeightEMA(model, config.ema_decay) if config.ema_decay else None
    start, best, best_it, last_val = 0, -math.inf, -1, float("nan")
    if config.resume and latest.exists():
        ckpt = load_checkpoint(latest, config.device)
        model.load_state_dict(ckpt["model"])
        if ema is not None:
            ema.load_state_dict(eval_weights(ckpt))
        opt.load_state_dict(ckpt["optimizer"])
        start = ckpt["iteration"]
        best, best_it, last_val = ckpt["state"]["best"], ckpt["state"]["best_iteration"], ckpt["state"]["last_val"]
        log.info("resumed %s at iteration %d", run_dir, start)
        truncate_metrics(run_dir / "metrics.jsonl", start)

    metrics = MetricsLog(run_dir)
    size = (config.input_size, config.input_size)
    # --device-data: slices resident on the device, batches augmented there (still a function of (seed, it))
    on_device = None
    if config.device_data:
        on_device = device_slices or DeviceSlices.from_slices(slices, config.input_size, config.device)
        if len(on_device) != len(slices) or on_device.size != config.input_size:
            from .errors import ConfigError
            raise ConfigError(f"the shared device slices ({len(on_device)} at {on_device.size} px) are not this "
                              f"run's ({len(slices)} at {config.input_size} px)")
    device_type = torch.device(config.device).type
    stop = config.max_iterations if config.stop_after is None else min(config.max_iterations,
                                                                        start + config.stop_after)
    done = start

    def checkpoint(path: Path) -> None:
        save_checkpoint(path, model=model, optimizer=opt, iteration=done, ema=ema.model if ema else None,
                        state={"best": best, "best_iteration": best_it, "last_val": last_val})

    model.train()
    bar = LoopProgress(start, stop, config.max_iterations, enabled=config.progress,
                       desc=f"{config.method} fold{config.fold}")
    signals = DeferredInterrupt().__enter__()
    mid_step = False  # True while the model, optimiser and weight average are between two iterations
    try:
        for it in bar:
            lr = poly_lr(config.lr, it, config.max_iterations, config.poly_power)
            for group in opt.param_groups:
                group["lr"] = lr
            if on_device is not None:
                batch = make_device_batch(on_device, batch_size=config.batch_size, seed=config.seed, iteration=it)
            else:
                batch = {k: v.to(config.device, non_blocking=True) for k, v in
                         make_batch(slices, batch_size=config.batch_size, size=size, seed=config.seed,
                                    iteration=it).items()}
            batch["image"] = batch["image"].contiguous(memory_format=fmt)
            if not slices.dense_labels:  # zeros stand in for the missing labels: hide them from the method
                batch.pop("label", None)
            torch.manual_seed(config.seed * 1_000_003 + it)
            mid_step = True
            with torch.autocast(device_type=device_type, dtype=torch.bfloat16, enabled=config.bf16):
                loss, parts = method.loss(model, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done = it + 1
            if ema is not None:
                ema.update(model, step=done)
            mid_step = False
            if done % config.log_every == 0 or done == config.max_iterations:
                metrics.write(done, loss=loss.item(), lr=lr, **{k: v.item() for k, v in parts.items()},
                              **method.diagnostics(model))
                bar.set_postfix(loss=f"{loss.item():.3f}", val=f"{last_val:.3f}")
            if done % config.val_every == 0 or done == config.max_iterations:
                last_val = validate(ema.model if ema else model, val_volumes, config)
                metrics.write(done, val_dice=last_val)
                if last_val > best:
                    best, best_it = last_val, done
                    checkpoint(ckpt_dir / "best.pt")
            if done % config.checkpoint_every == 0 or done == stop:
                checkpoint(latest)
            if signals.requested:
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        if mid_step:  # a second signal inside a step: its state is half-updated, keep the last checkpoint
            log.warning("interrupted inside iteration %d: %s keeps the last saved iteration (resume with "
                        "--resume)", done + 1, latest)
        else:
            log.warning("interrupted after iteration %d: saving %s (resume with --resume)", done, latest)
            checkpoint(latest)
        raise
    finally:
        signals.__exit__()
        bar.close()
        metrics.close()
    finished = done >= config.max_iterations
    if finished:
        checkpoint(ckpt_dir / "last.pt")
    result = RunResult(run_dir=run_dir, iterations=done, finished=finished, best_iteration=best_it,
                       best_val_dice=best, last_val_dice=last_val, wall_time_s=time.perf_counter() - t0)
    write_json(run_dir / "train_result.json", {**result.__dict__, "run_dir": str(run_dir)})
    return result
