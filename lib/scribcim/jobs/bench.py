"""Training-step benchmark: plain UNet + pCE, our ``cim``, and a re-implementation of the released CIM step.

In one process on one device, for each batch size: build each trainer, run ``warmup`` steps
(excluded), then time ``steps`` steps (CUDA events on a GPU, ``time.perf_counter`` on the CPU,
whose kernels run synchronously) and keep the median. Separately, time the input pipeline
(:func:`scribcim.data.slices.make_batch` with augmentation, then the copy to the device) in
slices per second, to compare with the slices per second a step consumes; and beside it the
device pipeline (``--device-data``: :func:`scribcim.data.device_batches.make_device_batch` on slices
already on the device; building them once is timed apart, ``build_s``).

Trainers (all SGD with momentum 0.9 and weight decay 1e-4, as the training loop):

* ``plain``: :class:`scribcim.models.UNet` with partial cross-entropy (method ``pce``), fp32.
* ``cim``: method ``cim`` exactly as ``scribcim train`` builds it (its update is the sync-free one
  on CUDA, see :mod:`scribcim.models.cim`), with ``--bf16`` / ``--channels-last`` if asked;
  ``cim_fp32`` (same, neither option) is added when either is.
* ``released``: :class:`ReleasedCIM` and :func:`released_loss`, written from the description of the
  released code's behaviour (not from its source): fp32, faithful sampling (bilinear ``== 1``),
  Python-int queue pointers, boolean-mask indexing, a per-class Dice loss in a Python loop that
  calls ``.item()`` per class. Each of these waits for the GPU.

Ratios (``ratios`` block of the JSON, per batch size): ``cim_over_released`` and ``cim_over_plain``
are ratios of median step times (below 1: ``cim`` is faster); ``pipeline_over_step`` is slices per
second delivered by the faster of the two pipelines (named in ``pipeline_best``: ``make_batch`` or
``device``) over slices per second consumed by a ``cim`` step (above 1: the pipeline keeps up). On
CUDA, ``syncs_per_step`` counts the synchronising calls of one step (``torch.cuda.set_sync_debug_mode``).
"""
from __future__ import annotations

import datetime as _dt
import json
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..config import make_config
from ..data.device_batches import DeviceSlices, make_device_batch
from ..data.slices import SliceSet, make_batch
from ..training.methods import get_method
from ..models.released import ReleasedCIM, released_loss
from ..provenance import device_info, git_state, versions
from ..training.loop import train_step


def make_trainer(kind: str, device: str, *, size: int, batch_size: int, bf16: bool = False,
                 channels_last: bool = False, seed: int = 0) -> tuple[torch.nn.Module, Callable[[dict], torch.Tensor]]:
    """(model, step) where ``step(batch)`` runs one SGD step of ``kind`` (plain, cim, released) and returns the loss."""
    cfg = make_config("paper", method="pce" if kind == "plain" else "cim", input_size=size,
                      batch_size=batch_size, device=device)
    torch.manual_seed(seed)
    if kind == "released":
        model = ReleasedCIM(1, cfg.num_classes, bank_size=cfg.bank_size, momentum=cfg.token_momentum)
        def loss_of(batch):
            logits, _ = model(batch["image"], batch["scribble"])
            return released_loss(logits, batch["scribble"], dice_weight=cfg.self_dice_weight)
    elif kind in ("plain", "cim"):
        method = get_method(cfg.method)(cfg)
        model = method.build_model()
        def loss_of(batch):
            return method.loss(model, batch)
    else:
        raise ValueError(f"unknown trainer {kind!r}")
    return sgd_trainer(model, loss_of, cfg, device, bf16=bf16, channels_last=channels_last)


def sgd_trainer(model: torch.nn.Module, loss_of: Callable[[dict], Any], cfg: Any, device: str, *, bf16: bool,
                channels_last: bool) -> tuple[torch.nn.Module, Callable[[dict], torch.Tensor]]:
    """(model on ``device`` in training mode, ``step(batch)``): one SGD step as the training loop takes it (``cfg``'s
    lr, momentum, weight decay; :func:`scribcim.training.loop.train_step`), returning the loss."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device).to(memory_format=fmt).train()
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    dev_type = torch.device(device).type

    def step(batch: dict) -> torch.Tensor:
        return train_step(loss_of, batch, opt, device_type=dev_type, bf16=bf16)[0].detach()
    return model, step


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step: Callable[[], object], device: str, *, steps: int, warmup: int) -> dict:
    """Median (and p10, p90, mean wall) milliseconds per step after ``warmup`` untimed steps."""
    for _ in range(warmup):
        step()
    _sync(device)
    cuda = torch.device(device).type == "cuda"
    times, t0 = [], time.perf_counter()
    if cuda:
        ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(steps)]
        for a, b in ev:
            a.record()
            step()
            b.record()
        _sync(device)
        times = [a.elapsed_time(b) for a, b in ev]
    else:
        for _ in range(steps):
            t = time.perf_counter()
            step()
            times.append(1e3 * (time.perf_counter() - t))
    wall = 1e3 * (time.perf_counter() - t0) / steps
    q = statistics.quantiles(times, n=10) if len(times) > 1 else [times[0]] * 9
    return {"median_ms": statistics.median(times), "p10_ms": q[0], "p90_ms": q[-1], "mean_wall_ms": wall,
            "steps": steps, "warmup": warmup}


def count_syncs(step: Callable[[], object], device: str) -> int | None:
    """Synchronising calls in one step (CUDA only; None elsewhere)."""
    if torch.device(device).type != "cuda":
        return None
    _sync(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message).lower() for w in caught)


def time_pipeline(slices: SliceSet, device: str, *, batch_size: int, size: int, batches: int) -> dict:
    """Slices per second from :func:`make_batch` (augmentation on) to tensors on ``device``."""
    make_batch(slices, batch_size=batch_size, size=(size, size), seed=0, iteration=0)
    _sync(device)
    t0 = time.perf_counter()
    for it in range(batches):
        b = make_batch(slices, batch_size=batch_size, size=(size, size), seed=0, iteration=it + 1)
        b = {k: v.to(device, non_blocking=True) for k, v in b.items()}
    _sync(device)
    dt = time.perf_counter() - t0
    return {"slices_per_s": batches * batch_size / dt, "ms_per_batch": 1e3 * dt / batches, "batches": batches}


def time_device_pipeline(slices: SliceSet, device: str, *, batch_size: int, size: int, batches: int) -> dict:
    """Slices per second from :func:`make_device_batch` (augmentation on); ``build_s``: the one-off upload."""
    _sync(device)
    t0 = time.perf_counter()
    ds = DeviceSlices.from_slices(slices, size, device)
    _sync(device)
    build_s = time.perf_counter() - t0
    make_device_batch(ds, batch_size=batch_size, seed=0, iteration=0)
    _sync(device)
    t0 = time.perf_counter()
    for it in range(batches):
        make_device_batch(ds, batch_size=batch_size, seed=0, iteration=it + 1)
    _sync(device)
    dt = time.perf_counter() - t0
    return {"slices_per_s": batches * batch_size / dt, "ms_per_batch": 1e3 * dt / batches, "batches": batches,
            "build_s": build_s, "slices": len(ds)}


def bench_slices(data_root: Path | str | None = None, pack: Path | str | None = None) -> tuple[SliceSet, str]:
    """Training slices for the pipeline and the timed batch: a pack, the ACDC data root, or the phantom."""
    if pack is not None:
        from ..data.pack import load_pack
        return SliceSet.from_volumes(load_pack(pack)), f"pack {pack}"
    if data_root is not None:
        from ..data.volumes import load_acdc
        return SliceSet.from_volumes(load_acdc(data_root)), f"ACDC under {data_root}"
    from ..data.phantom import phantom_volumes
    return SliceSet.from_volumes(phantom_volumes(10)), "phantom (synthetic; timing only)"


def run_bench(device: str = "cpu", *, size: int = 256, batches: Sequence[int] = (6, 12), steps: int = 50,
              warmup: int = 10, bf16: bool = False, channels_last: bool = False, data_root: Path | str | None = None,
              pack: Path | str | None = None, pipeline_batches: int = 20, out: Path | str | None = None,
              command: str | None = None) -> dict:
    """Run the benchmark, write the JSON to ``out`` (default ``results/bench/<device>_<date>.json``), return it."""
    slices, source = bench_slices(data_root, pack)
    kinds = ["plain", "released", "cim"] + (["cim_fp32"] if bf16 or channels_last else [])
    timings: dict[str, dict[str, dict]] = {k: {} for k in kinds}
    syncs: dict[str, dict[str, int | None]] = {k: {} for k in kinds}
    pipeline, ratios = {}, {"cim_over_released": {}, "cim_over_plain": {}, "pipeline_over_step": {}}
    device_pipeline: dict[str, dict] = {}
    pipeline_best: dict[str, str] = {}
    for bs in batches:
        batch = {k: v.to(device) for k, v in make_batch(slices, batch_size=bs, size=(size, size), seed=0,
                                                         iteration=0).items()}
        for kind in kinds:
            opts = dict(bf16=bf16, channels_last=channels_last) if kind == "cim" else {}
            step = make_trainer(kind.removesuffix("_fp32"), device, size=size, batch_size=bs, **opts)[1]
            b = dict(batch, image=batch["image"].contiguous(memory_format=torch.channels_last)) \
                if opts.get("channels_last") else batch
            run = lambda s=step, x=b: s(x)  # noqa: E731
            timings[kind][str(bs)] = time_steps(run, device, steps=steps, warmup=warmup)
            syncs[kind][str(bs)] = count_syncs(run, device)
        pipeline[str(bs)] = time_pipeline(slices, device, batch_size=bs, size=size, batches=pipeline_batches)
        device_pipeline[str(bs)] = time_device_pipeline(slices, device, batch_size=bs, size=size,
                                                        batches=pipeline_batches)
        med = {k: timings[k][str(bs)]["median_ms"] for k in kinds}
        ratios["cim_over_released"][str(bs)] = med["cim"] / med["released"]
        ratios["cim_over_plain"][str(bs)] = med["cim"] / med["plain"]
        rates = {"make_batch": pipeline[str(bs)]["slices_per_s"], "device": device_pipeline[str(bs)]["slices_per_s"]}
        pipeline_best[str(bs)] = max(rates, key=rates.__getitem__)
        ratios["pipeline_over_step"][str(bs)] = rates[pipeline_best[str(bs)]] / (bs / (med["cim"] / 1e3))
    result = {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command if command is not None else " ".join(sys.argv),
        "device": device_info(device), "torch": torch.__version__, "git": git_state(), "versions": versions(),
        "settings": {"size": size, "batches": list(batches), "steps": steps, "warmup": warmup, "bf16": bf16,
                     "channels_last": channels_last, "precision": {"plain": "fp32", "released": "fp32",
                     "cim": "bf16 autocast" if bf16 else "fp32"}, "data": source,
                     "pipeline_batches": pipeline_batches, "timer": "cuda events" if torch.device(device).type ==
                     "cuda" else "perf_counter (CPU kernels are synchronous)"},
        "medians_ms": {k: {bs: t["median_ms"] for bs, t in v.items()} for k, v in timings.items()},
        "timings": timings, "syncs_per_step": syncs, "pipeline": pipeline, "device_pipeline": device_pipeline,
        "pipeline_best": pipeline_best, "ratios": ratios,
        "ratios_note": "cim_over_*: median step time ratios (<1: cim faster); pipeline_over_step: slices/s of the "
                       "faster pipeline (pipeline_best: make_batch = `pipeline`, device = `device_pipeline`) over "
                       "cim step slices/s (>1: the pipeline keeps up)",
    }
    return write_result(result, out, f"{torch.device(device).type}_{_dt.date.today().isoformat()}.json")


def write_result(result: dict, out: Path | str | None, default_name: str) -> dict:
    """Write a benchmark's JSON to ``out`` (default ``results/bench/<default_name>``); return it with its ``path``."""
    out = Path(out) if out is not None else Path("results/bench") / default_name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    return result | {"path": str(out)}


def format_bench(result: dict) -> str:
    """A few lines: median ms per trainer and batch, and the ratios."""
    lines = [f"device {result['device'].get('gpu', result['device']['device'])}, torch {result['torch']}, "
             f"size {result['settings']['size']}"]
    for kind, per in result["medians_ms"].items():
        lines.append(f"  {kind:9s} " + "  ".join(f"batch {bs}: {ms:8.2f} ms" for bs, ms in per.items()))
    for bs, p in result["pipeline"].items():
        dev = result.get("device_pipeline", {}).get(bs)
        lines.append(f"  pipeline  batch {bs}: make_batch {p['slices_per_s']:.1f} slices/s"
                     + (f", device {dev['slices_per_s']:.1f} slices/s" if dev else "")
                     + (f" (best: {result['pipeline_best'][bs]})" if "pipeline_best" in result else ""))
    for name, per in result["ratios"].items():
        lines.append(f"  {name:18s} " + "  ".join(f"batch {bs}: {r:.3f}" for bs, r in per.items()))
    return "\n".join(lines)
