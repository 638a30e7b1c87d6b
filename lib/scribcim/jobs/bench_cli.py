"""The ``scribcim bench`` command: its options and what it runs (training steps on a device, or fp32 against bf16
on a CPU)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

from ..config import PROFILES
from ..errors import ConfigError


def cmd_bench(ns: argparse.Namespace) -> None:
    """Run the benchmark ``ns`` asks for (``--mode``: precision on a CPU, steps on a GPU, unless given)."""
    if (ns.mode or ("precision" if ns.device == "cpu" else "steps")) == "precision":
        if ns.device != "cpu":
            raise ConfigError("--mode precision times CPU steps: use --device cpu (or --mode steps on a GPU)")
        from .bench_precision import format_precision, run_precision_bench
        res = run_precision_bench(profile=ns.profile, methods=ns.methods, steps=ns.steps or 25,
                                  warmup=5 if ns.warmup is None else ns.warmup, repeats=ns.repeats,
                                  data_root=ns.data_root, pack=ns.pack, out=ns.out)
        print(format_precision(res))
        print(f"wrote {res['path']}")
        return
    from .bench import format_bench, run_bench
    res = run_bench(ns.device, size=ns.size, batches=ns.batch, steps=ns.steps or 50,
                    warmup=10 if ns.warmup is None else ns.warmup, bf16=ns.bf16,
                    channels_last=ns.channels_last, data_root=ns.data_root, pack=ns.pack,
                    pipeline_batches=ns.pipeline_batches, out=ns.out)
    print(format_bench(res))
    print(f"wrote {res['path']}")


def add_bench_parser(sub: Any, add_data_option: Callable[..., None]) -> None:
    """Add ``bench`` to the ``scribcim`` subcommands ``sub``."""
    be = sub.add_parser("bench", help="time training steps (plain UNet pCE, cim, the released CIM step) and the "
                        "input pipeline; writes JSON", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    be.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    be.add_argument("--mode", choices=("precision", "steps"), default=None,
                    help="precision: fp32 against bf16 steps of --methods as --profile trains them (the CPU default); "
                         "steps: plain, released and our cim steps and the input pipeline (the GPU default)")
    be.add_argument("--profile", default="cpu-mm175", choices=sorted(PROFILES),
                    help="--mode precision: the profile whose size, batch, view, threads and CIM settings are timed")
    be.add_argument("--methods", nargs="+", default=["pce", "cim"], help="--mode precision: methods to time")
    be.add_argument("--repeats", type=int, default=2, help="--mode precision: rounds alternating fp32 and bf16")
    be.add_argument("--size", type=int, default=256, help="input size (multiple of 16)")
    be.add_argument("--batch", type=int, nargs="+", default=[6, 12], help="batch sizes")
    be.add_argument("--steps", type=int, default=None, help="timed steps per trainer, median reported (default 50; "
                    "--mode precision 25)")
    be.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 10; --mode precision 5)")
    be.add_argument("--bf16", action="store_true", help="bf16 autocast for our cim (also times cim_fp32)")
    be.add_argument("--channels-last", action="store_true", help="NHWC for our cim (also times cim_fp32)")
    add_data_option(be, "ACDC data root for real slices (else phantom)")
    be.add_argument("--pack", type=Path, default=None, help="or a pack written by `scribcim pack`")
    be.add_argument("--pipeline-batches", type=int, default=20, help="batches timed through each input pipeline")
    be.add_argument("--out", type=Path, default=None, help="JSON path (default results/bench/<device>_<date>.json, "
                    "--mode precision: results/bench/cpu_precision_<date>.json)")
    be.set_defaults(func=cmd_bench)
