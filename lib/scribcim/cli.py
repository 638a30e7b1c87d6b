"""Command line: thin wrappers over the typed functions (fetch, train, evaluate, reproduce, report)."""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import typing
from pathlib import Path
from typing import Any, Sequence

from .config import PROFILES, TrainConfig, make_config
from .errors import ScribcimError

log = logging.getLogger("scribcim")
FIXED = {"profile", "extra"}


def _parse_type(hint: Any):
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    return base if base in (int, float, str) else str


def add_config_options(p: argparse.ArgumentParser) -> None:
    """One ``--field-name`` option per :class:`TrainConfig` field (booleans get ``--no-...``)."""
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        if f.name in FIXED:
            continue
        flag = "--" + f.name.replace("_", "-")
        if hints[f.name] is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        else:
            p.add_argument(flag, type=_parse_type(hints[f.name]), default=None, metavar=f.name.upper())
    p.add_argument("--data", dest="data_root", default=None, help="data root (else $SCRIBCIM_DATA, else ./data)")


def config_from_args(ns: argparse.Namespace) -> TrainConfig:
    names = {f.name for f in dataclasses.fields(TrainConfig)} - FIXED
    return make_config(ns.profile, **{k: getattr(ns, k) for k in names if getattr(ns, k, None) is not None})


def cmd_fetch(ns: argparse.Namespace) -> None:
    from .data.fetch import fetch
    root = fetch(ns.dataset, ns.data_root, source_dir=ns.source, if_missing=ns.if_missing)
    print(f"{ns.dataset}: all files verified under {root}")


def cmd_train(ns: argparse.Namespace) -> None:
    from .train import train
    res = train(config_from_args(ns))
    print(f"run folder {res.run_dir}: {res.iterations} iterations, best validation Dice "
          f"{res.best_val_dice:.4f} at iteration {res.best_iteration}")


def cmd_evaluate(ns: argparse.Namespace) -> None:
    from .evaluate import evaluate
    from .report import full_report
    s = evaluate(ns.run, checkpoints=ns.checkpoint, part=ns.part, data_root=ns.data_root, device=ns.device,
                 results_dir=ns.results)
    print(full_report([s]))


def cmd_reproduce(ns: argparse.Namespace) -> None:
    from .reproduce import reproduce
    reproduce(dataset=ns.dataset, fold=ns.fold, profile=ns.profile, methods=ns.methods,
              data_root=ns.data_root, source_dir=ns.source, device=ns.device)


def cmd_report(ns: argparse.Namespace) -> None:
    from .report import full_report, load_summaries
    print(full_report(load_summaries(ns.summaries)))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scribcim", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    f = sub.add_parser("fetch", help="download (or copy with --from) a dataset and verify its checksums")
    f.add_argument("dataset", choices=["acdc"])
    f.add_argument("--from", dest="source", default=None, help="copy from this folder (same layout) instead")
    f.add_argument("--data", dest="data_root", default=None, help="data root (else $SCRIBCIM_DATA, else ./data)")
    f.add_argument("--if-missing", action="store_true", help="do nothing if the data root already verifies")
    f.set_defaults(func=cmd_fetch)

    t = sub.add_parser("train", help="train one run; every config field is an option",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    add_config_options(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="score a run's checkpoints on its test volumes")
    e.add_argument("--run", required=True, type=Path, help="run folder")
    e.add_argument("--checkpoint", nargs="+", default=["best", "last"])
    e.add_argument("--part", default="test", choices=["val", "test"])
    e.add_argument("--data", dest="data_root", default=None)
    e.add_argument("--device", default=None)
    e.add_argument("--results", type=Path, default=None, help="also write summary.json here")
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser("reproduce", help="the main job: train and evaluate methods on one fold, print the table")
    r.add_argument("--dataset", default="acdc")
    r.add_argument("--fold", type=int, default=1)
    r.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    r.add_argument("--methods", nargs="+", default=["pce", "cim"])
    r.add_argument("--data", dest="data_root", default=None)
    r.add_argument("--from", dest="source", default=None, help="fetch missing data from this folder")
    r.add_argument("--device", default="cpu")
    r.set_defaults(func=cmd_reproduce)

    rep = sub.add_parser("report", help="print a side-by-side table of summary.json files")
    rep.add_argument("summaries", nargs="+", type=Path)
    rep.set_defaults(func=cmd_report)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if ns.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        ns.func(ns)
    except ScribcimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: rerun the same command with --resume to continue", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
