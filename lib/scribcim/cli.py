"""Command line: thin wrappers over the typed functions.

fetch, train, evaluate, predict, score, reproduce, report, scribbles, robustness, figures.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

from .config.options import add_config_options, config_from_args, option_help  # noqa: F401 (config_from_args re-exported)
from .config import PROFILES
from .errors import ScribcimError

log = logging.getLogger("scribcim")


def cmd_fetch(ns: argparse.Namespace) -> None:
    from .data.fetch import fetch
    root = fetch(ns.dataset, ns.data_root, source_dir=ns.source, if_missing=ns.if_missing)
    print(f"{ns.dataset}: all files verified under {root}")


def cmd_train(ns: argparse.Namespace) -> None:
    from .training.loop import train
    res = train(config_from_args(ns))
    print(f"run folder {res.run_dir}: {res.iterations} iterations, best validation Dice "
          f"{res.best_val_dice:.4f} at iteration {res.best_iteration}")


def cmd_evaluate(ns: argparse.Namespace) -> None:
    from .evaluate.summary import evaluate
    from .report.tables import full_report
    s = evaluate(ns.run, checkpoints=ns.checkpoint, part=ns.part, data_root=ns.data_root, device=ns.device,
                 results_dir=ns.results, save_predictions=ns.save_predictions)
    print(full_report([s]))


def cmd_predict(ns: argparse.Namespace) -> None:
    from .errors import DataError
    from .evaluate.predict import predict
    res = predict(ns.run, ns.input, ns.output, checkpoint=ns.checkpoint, device=ns.device,
                  batch_size=ns.batch_size, save_probs=ns.probs, overwrite=ns.overwrite, progress=ns.progress,
                  postprocess=not ns.no_postprocess)
    if res.outputs:
        print(f"{len(res.outputs)} label volume(s) in {ns.output} ({res.seconds_per_volume:.2f} s per volume)")
    if res.failed:  # each reason was logged as it happened
        total = len(res.failed) + len(res.outputs)
        raise DataError(f"{len(res.failed)} of {total} input(s) refused (each named above"
                        + ("; the others were written" if res.outputs else "; nothing was written")
                        + "): fix or remove them and rerun")


def cmd_score(ns: argparse.Namespace) -> None:
    from .report.tables import fmt_stat
    from .evaluate.score import score
    r = score(ns.pred, ns.dataset, data_root=ns.data_root, fold=ns.fold, part=ns.part,
              empty_penalty=ns.empty_penalty, out_dir=ns.out, progress=ns.progress)
    fg = r["foreground_mean"]
    print(f"{r['num_cases']} case(s): foreground Dice {fmt_stat(fg['dice'])}, "
          f"HD95 {fmt_stat(fg['hd95'], digits=2)} mm, ASD (pred -> gt) {fmt_stat(fg['asd'], digits=2)} mm, "
          f"ASSD {fmt_stat(fg['assd'], digits=2)} mm; "
          f"{len(r['missing_predictions'])} reference case(s) without a prediction, "
          f"{len(r['unmatched_predictions'])} prediction(s) without a reference")


def cmd_reproduce(ns: argparse.Namespace) -> None:
    from .jobs.reproduce import reproduce
    reproduce(dataset=ns.dataset, fold=ns.fold, profile=ns.profile, methods=ns.methods,
              data_root=ns.data_root, source_dir=ns.source, device=ns.device, jobs=ns.jobs, out=ns.out)


def cmd_report(ns: argparse.Namespace) -> None:
    from .report.tables import full_report, load_summaries
    print(full_report(load_summaries(ns.summaries)))


def cmd_scribbles(ns: argparse.Namespace) -> None:
    from .data.fetch import resolve_data_root
    from .viz.scribbles import render_scribble_report
    render_scribble_report(resolve_data_root(ns.data_root), ns.results, ns.figure)
    print(f"wrote {ns.results / 'stats.md'} and {ns.figure}")


def cmd_robustness(ns: argparse.Namespace) -> None:
    from .report.robustness import render_robustness
    out = render_robustness(ns.results, ns.figures, dataset=ns.dataset, profile=ns.profile, fold=ns.fold,
                            seed=ns.seed, base=ns.base, methods=ns.methods)
    print(out["table"].read_text())
    print("wrote " + ", ".join(str(p) for p in out.values()))


def cmd_figures(ns: argparse.Namespace) -> None:
    from .jobs.redraw import make_figures
    written = make_figures(ns.results, ns.figures, data_root=ns.data_root, scribble_stats=ns.scribble_stats)
    print(f"{len(written)} figure(s) redrawn under {ns.figures}:")
    for p in written:
        print(f"  {p}")


def cmd_pack(ns: argparse.Namespace) -> None:
    import time

    from .data.fetch import resolve_data_root
    from .data.pack import pack_acdc, verify_pack
    root = resolve_data_root(ns.data_root)
    t0 = time.perf_counter()
    if ns.verify_only:
        r = verify_pack(ns.out, data_root=None if ns.no_source else root)
    else:
        r = pack_acdc(root, ns.out, codec=ns.codec)
    print(f"{ns.out}: {r['volumes']} volumes, {r['bytes'] / 2**20:.1f} MiB ({r['bits_per_pixel']:.2f} bits/pixel, "
          f"codec {r['codec']}), every array verified, sha256 {r['sha256']}, {time.perf_counter() - t0:.0f} s")
    if ns.record:
        from .provenance import provenance
        from .runs.log import write_json_if_changed
        # rounded: the zip's manifest (its time and data-root path) moves the size by a few bytes between runs, and
        # a rerun that measures the same must leave a committed record alone
        write_json_if_changed(ns.record, {
            "made_by": "scribcim pack --record", "dataset": "acdc", "codec": r["codec"], "volumes": r["volumes"],
            "pixels": r["pixels"], "mib": round(r["bytes"] / 2**20, 1),
            "bits_per_pixel": round(r["bits_per_pixel"], 2),
            "provenance": provenance({"codec": r["codec"], "verify_only": ns.verify_only}, device="cpu",
                                     dataset="acdc")})


DATA_HELP = "data root (else $SCRIBCIM_DATA, else ./data)"


def add_data_option(p: argparse.ArgumentParser, help: str = DATA_HELP) -> None:
    """``--data``: the data-root option every data-reading command shares."""
    p.add_argument("--data", dest="data_root", default=None, help=help)


def add_folder_options(p: argparse.ArgumentParser) -> None:
    """``--results`` and ``--figures``: the committed results and figures folders (default results/, figures/)."""
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--figures", type=Path, default=Path("figures"))


def add_progress_option(p: argparse.ArgumentParser, help: str | None = None) -> None:
    """``--progress/--no-progress``: a progress bar (default on)."""
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help=help)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scribcim", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    f = sub.add_parser("fetch", help="download (or copy with --from) a dataset and verify its checksums")
    f.add_argument("dataset", choices=["acdc", "mscmr"])
    f.add_argument("--from", dest="source", default=None, help="copy from this folder (same layout) instead")
    add_data_option(f)
    f.add_argument("--if-missing", action="store_true", help="do nothing if the data root already verifies")
    f.set_defaults(func=cmd_fetch)

    t = sub.add_parser("train", help="train one run; every config field is an option",
                       description="Train one run. Each option sets one field of the run's config "
                       "(scribcim.config.TrainConfig); options not given take the --profile's value, else the "
                       "field's default. A bad value stops before the run folder is created.")
    t.add_argument("--profile", default="cpu-mm175", choices=sorted(PROFILES),
                   help=option_help("profile"))
    add_config_options(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="score a run's checkpoints on its test volumes")
    e.add_argument("--run", required=True, type=Path, help="run folder")
    e.add_argument("--checkpoint", nargs="+", default=["best", "last"])
    e.add_argument("--part", default="test", choices=["val", "test"])
    add_data_option(e)
    e.add_argument("--device", default=None)
    e.add_argument("--results", type=Path, default=None, help="also write summary.json here")
    e.add_argument("--save-predictions", action="store_true",
                   help="also write each prediction as NIfTI (x, y, z) to RUN/predictions/<checkpoint>/")
    e.set_defaults(func=cmd_evaluate)

    from .data.scans import ORIENTATION
    pr = sub.add_parser("predict", help="segment NIfTI/HDF5 scans with a trained run",
                        description=f"Segment scans with a trained run. {ORIENTATION} Each slice is mapped "
                        "so that the heart appears at the scale of training (mm per model pixel, from the run "
                        "folder), whatever the scan's field of view and spacing; scans under 32 pixels or about a "
                        "quarter of the training field of view across are refused. Outputs: "
                        "<name>_seg.nii.gz (0 background, 1 RV, 2 MYO, 3 LV) with the input's shape and affine, "
                        "and labels.json.")
    pr.add_argument("--run", required=True, type=Path, help="run folder written by `scribcim train`")
    pr.add_argument("--input", required=True, type=Path, help="a .nii/.nii.gz/.h5 file or a folder of them")
    pr.add_argument("--output", required=True, type=Path,
                    help="folder for the label volumes (created if needed; refused if it holds files, "
                    "unless --overwrite)")
    pr.add_argument("--checkpoint", default="best", choices=["best", "last"],
                    help="best (chosen on the validation patients) or last (default best)")
    pr.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    pr.add_argument("--batch-size", type=int, default=16, help="slices per forward pass, >= 1 (default 16)")
    pr.add_argument("--probs", action="store_true", help="also write <name>_prob.nii.gz (x, y, z, class)")
    pr.add_argument("--overwrite", action="store_true",
                    help="write into an --output folder that already holds files (same-named masks are replaced)")
    pr.add_argument("--no-postprocess", action="store_true",
                    help="write the raw argmax: skip the post-processing the run chose on its validation patients "
                    "(postprocessing.json, written by `scribcim evaluate`)")
    add_progress_option(pr, "show a progress bar (default on)")
    pr.set_defaults(func=cmd_predict)

    sc = sub.add_parser("score", help="score a folder of predicted label volumes against expert labels",
                        description=f"Score predictions named <case>.nii.gz or <case>_seg.nii.gz. {ORIENTATION} "
                        "Writes score.json and score.csv.")
    sc.add_argument("--pred", required=True, type=Path, help="folder of predicted label volumes (NIfTI)")
    sc.add_argument("--dataset", default="acdc", choices=["acdc", "mscmr", "phantom"])
    add_data_option(sc)
    sc.add_argument("--fold", type=int, default=None, help="only the cases of this fold's --part")
    sc.add_argument("--part", default="test", choices=["val", "test"])
    sc.add_argument("--empty-penalty", type=float, default=None, help="mm for a missed structure")
    sc.add_argument("--out", type=Path, default=None, help="where score.json/score.csv go (default --pred)")
    add_progress_option(sc)
    sc.set_defaults(func=cmd_score)

    r = sub.add_parser("reproduce", help="the main job: train, evaluate, print the table and the committed runs beside")
    r.add_argument("--dataset", default="acdc")
    r.add_argument("--fold", type=int, default=1)
    r.add_argument("--profile", default="cpu-mm175", choices=sorted(PROFILES))
    r.add_argument("--methods", nargs="+", default=["pce", "cim"])
    add_data_option(r)
    r.add_argument("--from", dest="source", default=None, help="fetch missing data from this folder")
    r.add_argument("--device", default="cpu")
    r.add_argument("--jobs", type=int, default=None, help="runs side by side, one process each (default: as many "
                   "as the cores hold at the profile's thread count: 2 on two cores for the cpu-* profiles, else 1)")
    r.add_argument("--out", type=Path, default=Path("reproduced"), help="it writes OUT/{runs,results,figures} only")
    r.set_defaults(func=cmd_reproduce)

    sb = sub.add_parser("scribbles", help="simulated scribble styles vs expert scribbles on ACDC: stats and figure")
    add_data_option(sb)
    sb.add_argument("--results", type=Path, default=Path("results/acdc/scribbles"))
    sb.add_argument("--figure", type=Path, default=Path("figures/acdc_scribble_styles.png"))
    sb.set_defaults(func=cmd_scribbles)

    ro = sub.add_parser("robustness", help="table and figure of Dice against scribble inconsistency, "
                        "from committed summaries (no training)")
    add_folder_options(ro)
    ro.add_argument("--dataset", default="acdc")
    ro.add_argument("--profile", default="quick")
    ro.add_argument("--fold", type=int, default=1)
    ro.add_argument("--seed", type=int, default=2022)
    ro.add_argument("--base", default="centreline", help="base annotator of the simulated scribbles")
    ro.add_argument("--methods", nargs="+", default=["pce", "pce_selfdice", "dmpls", "cim"])
    ro.set_defaults(func=cmd_robustness)

    fi = sub.add_parser("figures", help="redraw every committed figure from committed results (+ data), no training")
    add_folder_options(fi)
    add_data_option(fi)
    fi.add_argument("--scribble-stats", action=argparse.BooleanOptionalAction, default=True,
                    help="also redo the scribble statistics and styles figure (about 3 minutes)")
    fi.set_defaults(func=cmd_figures)

    from .jobs.bench_cli import add_bench_parser
    add_bench_parser(sub, add_data_option)

    from .data.pack import CODECS, DEFAULT_PACK
    pk = sub.add_parser("pack", help="pack all ACDC volumes into one lossless file and verify it",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_data_option(pk)
    pk.add_argument("--out", type=Path, default=DEFAULT_PACK, help="pack file")
    pk.add_argument("--codec", default="j2k", choices=CODECS, help="j2k (Pillow's OpenJPEG) or lzma (stdlib only)")
    pk.add_argument("--verify-only", action="store_true", help="only decode --out and check it (and the source)")
    pk.add_argument("--no-source", action="store_true", help="with --verify-only: checksums only, no HDF5 files")
    pk.add_argument("--record", type=Path, default=None, help="also write the pack's size (MiB, bits per pixel) "
                    "with provenance to this JSON (results/bench/acdc_pack_<codec>.json: the figures docs/gpu.md "
                    "quotes); left alone when a rerun measures the same")
    pk.set_defaults(func=cmd_pack)

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
