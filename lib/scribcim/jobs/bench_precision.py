"""CPU precision benchmark: one training step in fp32 and in bf16 autocast, side by side, as a profile trains.

``scribcim bench --device cpu`` (``--mode precision``, the CPU default) builds each method exactly as ``scribcim
train`` does with the profile's settings (input size, batch, channels-last, the profile's CIM level and sampling,
its thread count), on one batch of real training slices in the profile's view, and times ``steps`` SGD steps
after ``warmup`` untimed ones, in fp32 and in bf16 autocast. The two precisions alternate over ``repeats`` rounds
in one process, so that both see the same machine state; the ratio ``bf16 / fp32`` of median step times is the
figure (below 1: bf16 is faster). Beside it: whether the CPU computes bf16 natively (AVX-512 BF16 / AMX-BF16, from
its flags) and torch's CPU kernel level. Without native bf16, autocast is emulated and usually slower.
"""
from __future__ import annotations

import datetime as _dt
import statistics
import sys
from pathlib import Path
from typing import Sequence

import torch

from ..config import make_config
from ..data.slices import SliceSet, make_batch
from ..provenance import cpu_bf16, device_info, git_state, versions
from ..training.methods import get_method
from .bench import bench_slices, sgd_trainer, time_steps, write_result

PRECISIONS = ("fp32", "bf16")


def make_profile_step(method: str, profile: str, batch: dict[str, torch.Tensor], *, bf16: bool, seed: int = 0):
    """A function running one SGD step of ``method`` as ``profile`` trains it (precision: ``bf16``)."""
    cfg = make_config(profile, method=method, bf16=bf16)
    torch.manual_seed(seed)
    m = get_method(method)(cfg)
    model = m.build_model()
    _, step = sgd_trainer(model, lambda x: m.loss(model, x), cfg, "cpu", bf16=cfg.bf16,
                          channels_last=cfg.channels_last)
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    b = dict(batch, image=batch["image"].contiguous(memory_format=fmt))
    if not m.needs_dense_labels:
        b.pop("label", None)
    return lambda: step(b)


def profile_batch(slices: SliceSet, profile: str) -> dict[str, torch.Tensor]:
    """The first training batch of ``profile`` (its input size, batch size and view) from ``slices``."""
    cfg = make_config(profile)
    return make_batch(slices, batch_size=cfg.batch_size, size=(cfg.input_size, cfg.input_size), seed=0, iteration=0,
                      pixel_mm=cfg.pixel_mm)


def run_precision_bench(*, profile: str = "cpu-mm175", methods: Sequence[str] = ("pce", "cim"), steps: int = 25,
                        warmup: int = 5, repeats: int = 2, data_root: Path | str | None = None,
                        pack: Path | str | None = None, out: Path | str | None = None,
                        command: str | None = None) -> dict:
    """Time fp32 and bf16 steps of ``methods`` as ``profile`` trains them; write the JSON to ``out`` (default
    ``results/bench/cpu_precision_<date>.json``) and return it."""
    cfg = make_config(profile)
    threads_before = torch.get_num_threads()
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    try:
        slices, source = bench_slices(data_root, pack)
        batch = profile_batch(slices, profile)
        times: dict[str, dict[str, list[float]]] = {m: {p: [] for p in PRECISIONS} for m in methods}
        for _ in range(repeats):
            for m in methods:
                for p in PRECISIONS:
                    step = make_profile_step(m, profile, batch, bf16=p == "bf16")
                    times[m][p].append(time_steps(step, "cpu", steps=steps, warmup=warmup)["median_ms"])
        threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(threads_before)
    medians = {m: {p: statistics.median(v) for p, v in per.items()} for m, per in times.items()}
    result = {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command if command is not None else " ".join(sys.argv),
        "device": {**device_info("cpu"), "torch_threads": threads}, "cpu_bf16": cpu_bf16(), "git": git_state(),
        "versions": versions(),
        "settings": {"profile": profile, "input_size": cfg.input_size, "batch_size": cfg.batch_size,
                     "pixel_mm": cfg.pixel_mm, "channels_last": cfg.channels_last, "threads": threads,
                     "methods": list(methods), "steps": steps, "warmup": warmup, "repeats": repeats, "data": source,
                     "timer": "perf_counter (CPU kernels are synchronous)"},
        "step_ms": times, "median_ms": medians,
        "bf16_over_fp32": {m: medians[m]["bf16"] / medians[m]["fp32"] for m in methods},
        "note": "median step time of each round (steps timed after warmup), rounds alternating fp32 and bf16; "
                "bf16_over_fp32 < 1: bf16 autocast is faster",
    }
    return write_result(result, out, f"cpu_precision_{_dt.date.today().isoformat()}.json")


def format_precision(result: dict) -> str:
    """A few lines: the CPU and its bf16 support, then per method fp32 and bf16 ms a step and their ratio."""
    b, s = result["cpu_bf16"], result["settings"]
    native = f"yes ({', '.join(b['bf16_flags'])})" if b["native_bf16"] else "no (emulated)"
    lines = [f"CPU {result['device']['cpu_model']}, {s['threads']} thread(s), native bf16: {native}, "
             f"AMX: {'yes' if b['amx'] else 'no'}, torch kernels {b['cpu_capability']}",
             f"profile {s['profile']}: {s['input_size']} px, batch {s['batch_size']}, channels-last "
             f"{s['channels_last']}, {s['repeats']} rounds x {s['steps']} steps; data: {s['data']}",
             f"  {'method':8s} {'fp32 ms':>9s} {'bf16 ms':>9s} {'bf16/fp32':>10s}"]
    for m, med in result["median_ms"].items():
        lines.append(f"  {m:8s} {med['fp32']:9.1f} {med['bf16']:9.1f} {result['bf16_over_fp32'][m]:10.3f}")
    return "\n".join(lines)
