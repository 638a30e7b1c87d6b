"""The one training loop. Methods plug in through :mod:`scribcim.training.methods`.

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
from typing import Any, Callable

import torch

from ..config import TrainConfig
from ..data.device_batches import DeviceSlices, make_device_batch
from ..data.frame import frame_of
from ..data.slices import make_batch
from ..data.volumes import Volume
from .ema import WeightEMA
from ..evaluate.inference import predict_labels
from .methods import get_method
from ..evaluate.metrics import fast_dice, validation_dice
from ..progress import LoopProgress
from ..provenance import BF16_FLAGS, cpu_bf16
from .run_setup import check_run, prepare_run
from ..runs.log import MetricsLog, eval_weights, load_checkpoint, save_checkpoint, write_json

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


def reseed_step(seed: int, iteration: int) -> None:
    """Seed torch for one training step (dropout, the method's own draws): the same step draws the same numbers
    whether the run was resumed or not, and in any replay of it (:mod:`scribcim.analysis.matching`)."""
    torch.manual_seed(seed * 1_000_003 + iteration)


def train_step(loss_of: Callable[[dict], tuple[torch.Tensor, Any]], batch: dict, opt: torch.optim.Optimizer, *,
               device_type: str, bf16: bool = False) -> tuple[torch.Tensor, Any]:
    """One optimiser step, as the training loop and :mod:`scribcim.jobs.bench` take it: ``loss_of(batch)`` (the loss
    and its parts) under bf16 autocast if asked, then the gradients and the update. Returns (loss, parts)."""
    with torch.autocast(device_type=device_type, dtype=torch.bfloat16, enabled=bf16):
        loss, parts = loss_of(batch)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss, parts


def set_determinism(config: TrainConfig) -> None:
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    if config.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def warn_emulated_bf16(config: TrainConfig) -> None:
    """Warn when bf16 autocast runs on a CPU without native bf16: the profile keeps its precision (it never
    changes with the machine), but the run is slower there and its provenance says so (``native_bf16``)."""
    if config.bf16 and torch.device(config.device).type == "cpu" and not cpu_bf16()["native_bf16"]:
        log.warning("profile %s trains in bf16, but this CPU has no native bf16 (%s): emulated, likely slower "
                    "than fp32; the precision stays bf16, as the profile says (an fp32 twin: profile cpu-mm175)",
                    config.profile, " / ".join(BF16_FLAGS) + " absent")


def poly_lr(base: float, iteration: int, max_iterations: int, power: float) -> float:
    """Poly decay: base * (1 - it / max) ** power."""
    return base * (1.0 - iteration / max_iterations) ** power


def validate(model: torch.nn.Module, volumes: list[Volume], config: TrainConfig) -> float:
    """Validation Dice (:func:`~scribcim.evaluate.metrics.validation_dice` of each volume's 3D per-class Dice),
    the figure the best checkpoint is chosen by (and, after training, the post-processing)."""
    was_training = model.training
    model.eval()
    frame = frame_of(config)
    scores = [fast_dice(predict_labels(model, v.image, frame=frame, spacing_yx=v.spacing[1:], device=config.device,
                                       bf16=config.bf16), v.label) for v in volumes]
    model.train(was_training)
    return validation_dice(scores)


def train(config: TrainConfig, *, device_slices: DeviceSlices | None = None) -> RunResult:
    """Train one (dataset, method, fold, seed) run; see the module docstring.

    ``device_slices``: with ``device_data``, training slices already on the device (shared by the runs
    of :mod:`scribcim.training.packed`); they must be what this run would build itself (its data, fold, scribbles
    and input size), which :func:`scribcim.training.packed.shared_data_key` guards.
    """
    t0 = time.perf_counter()
    run_dir = check_run(config)
    set_determinism(config)
    warn_emulated_bf16(config)
    setup = prepare_run(config, run_dir)
    latest = run_dir / "checkpoints" / "latest.pt"
    ckpt_dir = run_dir / "checkpoints"
    slices, val_volumes = setup.slices, setup.val_volumes
    log.info("run %s: %d training slices, %d validation volumes", run_dir, len(slices), len(val_volumes))

    method = get_method(config.method)(config)
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
        on_device = device_slices or DeviceSlices.from_slices(slices, config.input_size, config.device,
                                                              pixel_mm=config.pixel_mm)
        if len(on_device) != len(slices) or on_device.size != config.input_size:
            from ..errors import ConfigError
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
                                    iteration=it, pixel_mm=config.pixel_mm).items()}
            batch["image"] = batch["image"].contiguous(memory_format=fmt)
            if not slices.dense_labels:  # zeros stand in for the missing labels: hide them from the method
                batch.pop("label", None)
            reseed_step(config.seed, it)
            mid_step = True
            loss, parts = train_step(lambda b: method.loss(model, b), batch, opt, device_type=device_type,
                                     bf16=config.bf16)
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
