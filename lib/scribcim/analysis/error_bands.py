"""Where a run's segmentation errors lie: by in-plane distance from the reference boundary, per class.

For class ``c`` of a test volume, every wrong voxel is a false positive (predicted ``c``, the reference says
another label) or a false negative (the reference says ``c``, predicted another label). Each gets the in-plane
distance (mm, its slice only, the voxel's own spacing) from its centre to the nearest voxel centre on the other side
of the reference boundary of ``c``; a false positive on a slice where the reference has no ``c`` at all (beyond the
base or the apex) has none and falls in the band ``other slice``. The bands (:data:`BANDS`): ``<= 2 mm`` (the first
ring or two of voxels: a boundary drawn a pixel off), ``2-5 mm``, ``> 5 mm`` (a wrong region) and ``other slice``.

A run's figure is the mean over its test volumes of the error volume (ml) in each band; across seeds, mean ± sd of
those; against a reference method (``full``: the same network and geometry with dense labels) the seed-paired
difference with its 95 % t-interval: where a method's extra errors lie. Dense labels are used only to measure.
Each case's Dice recomputed from these counts is checked against the run's ``summary.json`` (the predictions are
``evaluate``'s, fp32 on every profile).

``python -m scribcim.analysis.error_bands RUN [RUN ...] --out STEM`` (``make error-bands``) writes
``<out>.{md,json}``, ``<out>.csv`` (each run's means) and, with ``--figure``, a PNG; the ``error-bands`` block of the
docs pages renders the record (:mod:`scribcim.report.error_bands_block`).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import ndimage

from ..evaluate.metrics import CLASS_NAMES
from ..evaluate.postprocess import apply as postprocess
from ..report.comparison import over_seeds, training_commits
from ..runs.log import write_json_if_changed, write_text_if_changed
from ..training.methods import paper_order
from .error_bands_cache import cached_rows
from .islands import predictions, run_summary, runs_parser

log = logging.getLogger(__name__)
#: upper edges (mm) of the distance bands; beyond the last, ``> 5 mm``; then FPs on slices without the class
EDGES_MM = (2.0, 5.0)
BANDS = ("<= 2 mm", "2-5 mm", "> 5 mm", "other slice")
KINDS = ("fp", "fn")
#: every label's name: a FP of a class is split by the label the reference gives it, a FN by the label predicted
LABELS = ("BG", *CLASS_NAMES)
#: (kind, label) columns of the split: ``fp on <label>`` and ``fn as <label>`` (ml; NaN for the class itself)
SPLIT_COLUMNS = tuple(f"{k} {w} {n}" for k, w in (("fp", "on"), ("fn", "as")) for n in LABELS)
#: the error columns of a row, ``<kind> <band>`` (a FN always lies on a slice holding its class)
COLUMNS = tuple(f"{k} {b}" for k in KINDS for b in BANDS if (k, b) != ("fn", "other slice"))
#: largest |Dice from these counts - the summary's Dice| before the record says the predictions are not evaluate's
DICE_ATOL = 1e-6


def _band(dist: np.ndarray) -> np.ndarray:
    """Band index (into :data:`BANDS`) of each distance; infinite distance: ``other slice``."""
    return np.where(np.isfinite(dist), np.digitize(dist, EDGES_MM, right=True), len(BANDS) - 1)


def band_errors(pred: np.ndarray, label: np.ndarray, spacing: Sequence[float]) -> list[dict]:
    """Per class of ``pred`` against ``label`` (z, y, x labels; ``spacing`` (dz, dy, dx) mm): the Dice, the
    reference volume (ml), the false-positive and false-negative volume (ml) in each of :data:`BANDS`, and the FPs
    by the label the reference gives them (``fp on <label>``) and the FNs by the label predicted (``fn as <label>``)."""
    ml = float(np.prod(spacing)) / 1000.0
    out = []
    for ci, name in enumerate(CLASS_NAMES, start=1):
        ref, hit = label == ci, pred == ci
        outside = np.full(ref.shape, np.inf)  # distance of a voxel outside the reference to the nearest inside
        inside = np.zeros(ref.shape)          # distance of a voxel inside the reference to the nearest outside
        for z in np.flatnonzero(ref.any(axis=(1, 2))):
            outside[z] = ndimage.distance_transform_edt(~ref[z], sampling=spacing[1:])
            inside[z] = ndimage.distance_transform_edt(ref[z], sampling=spacing[1:])
        tp = int(np.count_nonzero(ref & hit))
        row: dict[str, Any] = {"class": name, "ref_ml": float(ref.sum()) * ml}
        for kind, mask, dist in (("fp", hit & ~ref, outside), ("fn", ref & ~hit, inside)):
            counts = np.bincount(_band(dist[mask]), minlength=len(BANDS))
            row[kind] = int(counts.sum())
            row.update({f"{kind} {b}": float(n) * ml for b, n in zip(BANDS, counts)})
        for li, other in enumerate(LABELS):
            same = li == ci
            row[f"fp on {other}"] = np.nan if same else float(np.count_nonzero(hit & (label == li))) * ml
            row[f"fn as {other}"] = np.nan if same else float(np.count_nonzero(ref & (pred == li))) * ml
        total = 2 * tp + row["fp"] + row["fn"]
        row["dice"] = 2 * tp / total if total else float("nan")
        out.append(row)
    return out


def run_error_bands(run_dir: Path | str, checkpoint: str = "best", *, summary: dict | None = None,
                    **kwargs: Any) -> list[dict]:
    """:func:`band_errors` of a run's test predictions, raw and after the post-processing the run chose on
    validation, one row per (what, case, class) with the run's method and seed and the Dice its summary records
    (``summary_dice``; ``summary``: the run's, when already read); keywords as
    :func:`scribcim.analysis.islands.predictions`."""
    ck = (summary or run_summary(run_dir))["checkpoints"][checkpoint]
    choice = ck["postprocessing"]["choice"]
    recorded = {(what, c["case"], k): c["classes"][k]["dice"] for what, cases in
                (("raw", ck["cases"]), ("post", ck["postprocessed"]["cases"])) for c in cases for k in c["classes"]}
    rows = []
    for config, v, pred in predictions(run_dir, checkpoint=checkpoint, **kwargs):
        for what, p in (("raw", pred), ("post", postprocess(pred, choice))):
            for r in band_errors(p, v.label, v.spacing):
                rows.append({"method": config.method, "seed": config.seed, "what": what, "case": v.case,
                             "summary_dice": recorded.get((what, v.case, r["class"]), np.nan), **r})
    return rows


def typical_cases(rows: pd.DataFrame, method: str, against: str, n: int) -> tuple[int | None, list[str]]:
    """The first seed both ``method`` and ``against`` ran, and ``n`` of its test volumes at evenly spaced quantiles
    ((i + 1) / (n + 1): the median for one) of ``method``'s extra error over ``against`` (post-processed, all
    classes): volumes chosen by a rule, not by eye."""
    post = rows[rows.what == "post"]
    seeds = sorted(set(post[post.method == method].seed) & set(post[post.method == against].seed))
    if not seeds or n < 1:
        return None, []
    per = {m: post[(post.method == m) & (post.seed == seeds[0])].groupby("case")[list(COLUMNS)].sum().sum(axis=1)
           for m in (method, against)}
    extra = (per[method] - per[against]).dropna().sort_values()
    picks = [extra.index[int(round(q * (len(extra) - 1)))] for q in np.arange(1, n + 1) / (n + 1)]
    return int(seeds[0]), list(dict.fromkeys(picks))


def example_slices(runs: Sequence[Path | str], cases: Sequence[str], checkpoint: str = "best",
                   data_root: str | None = None, summaries: Sequence[dict] | None = None) -> list[dict]:
    """Per run and case (in the order of ``cases``), the middle slice of the reference heart: image,
    post-processed prediction (the run's own choice), reference (``summaries``: the runs', when already read)."""
    out = []
    for run, summary in zip(runs, summaries or [run_summary(r) for r in runs]):
        choice = summary["checkpoints"][checkpoint]["postprocessing"]["choice"]
        for config, v, pred in predictions(run, cases=cases, checkpoint=checkpoint, data_root=data_root,
                                           progress=False):
            heart = np.flatnonzero((v.label > 0).any(axis=(1, 2)))
            z = int(heart[len(heart) // 2]) if heart.size else v.num_slices // 2
            out.append({"case": v.case, "method": config.method, "seed": config.seed, "slice": z,
                        "image": v.image[z], "pred": postprocess(pred, choice)[z], "label": v.label[z]})
    return sorted(out, key=lambda e: list(cases).index(e["case"]))


def dice_check(rows: pd.DataFrame) -> float:
    """Largest |Dice from the counts - the summary's| over the rows where both are defined (0 when none)."""
    d = (rows.dice - rows.summary_dice).abs().dropna()
    return float(d.max()) if len(d) else 0.0


#: the columns whose seed-paired differences the record keeps: all errors, by band (FP + FN), the boundary band split
DIFF_COLUMNS = ("error", *(f"all {b}" for b in BANDS), "all <= 5 mm", "fp <= 2 mm", "fn <= 2 mm")


def run_means(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (what, method, seed, class): the run's mean over test volumes of each band's error (ml) by kind
    and both kinds together (``all <band>``; ``all <= 5 mm``: the first two bands), its total error and reference
    volume (ml)."""
    d = rows.assign(error=rows[list(COLUMNS)].sum(axis=1),
                    **{f"all {b}": sum(rows[f"{k} {b}"] for k in KINDS if f"{k} {b}" in COLUMNS) for b in BANDS})
    d["all <= 5 mm"] = d[f"all {BANDS[0]}"] + d[f"all {BANDS[1]}"]
    keep = [*COLUMNS, *(f"all {b}" for b in BANDS), "all <= 5 mm", *SPLIT_COLUMNS, "error", "ref_ml"]
    return d.groupby(["what", "method", "seed", "class"])[keep].mean().reset_index()


def seed_table(means: pd.DataFrame) -> pd.DataFrame:
    """Per (what, method, class): runs and the mean and sd across seeds of each column of :func:`run_means`."""
    value_cols = [c for c in means.columns if c not in ("what", "method", "seed", "class")]
    g = means.groupby(["what", "method", "class"])
    out = g[value_cols].agg(["mean", "std"])
    out.columns = [f"{c} {s}" for c, s in out.columns]
    return out.assign(runs=g.seed.nunique()).reset_index()


def differences(means: pd.DataFrame, against: str) -> list[dict]:
    """Per (what, method other than ``against``, class, column): the seed-paired difference method − ``against`` of
    the run means (:func:`scribcim.report.comparison.over_seeds`; only the seeds both ran); none without runs of
    ``against``."""
    out: list[dict] = []
    if against not in set(means.method):
        log.warning("no runs of %s among these: no differences from it", against)
        return out
    for (what, cls), d in means.groupby(["what", "class"]):
        ref = d[d.method == against].set_index("seed")
        for method in paper_order(set(d.method) - {against}):
            m = d[d.method == method].set_index("seed")
            seeds = sorted(set(m.index) & set(ref.index))
            for col in (*DIFF_COLUMNS, *SPLIT_COLUMNS):
                if m[col].isna().all():  # the class itself: no FP on it, no FN as it
                    continue
                s = over_seeds((m.loc[seeds, col] - ref.loc[seeds, col]).to_numpy(float))
                out.append({"what": what, "class": cls, "method": method, "against": against, "column": col,
                            "seeds": [int(x) for x in seeds], "pairs": s["n"], **s})
    return out


def _ordered(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(method, class) in the papers' method order, then RV, MYO, LV."""
    return [(m, c) for m in paper_order(set(frame.method)) for c in CLASS_NAMES if c in set(frame["class"])]


def bands_markdown(table: pd.DataFrame, diffs: Sequence[dict], against: str) -> list[str]:
    """Per what (raw, then post-processed): the across-seed table of error volumes by band, then each method's
    seed-paired difference from ``against``."""
    from ..report.markdown import fmt_mean_std, fmt_paired, md_header, md_row
    md = ["Error volume (ml per test volume; mean ± sd across seeds) by in-plane distance from the reference "
          "boundary: FP, predicted the class where the reference has another label; FN, the reference's class "
          "predicted as another; `other slice`: FP on slices where the reference has no such class."]
    for what, label in (("raw", "Raw"), ("post", "Post-processed (the run's choice on validation)")):
        t = table[table.what == what]
        if t.empty:
            continue
        md += ["", f"{label}:", "", *md_header(["method", "class", "runs", "all errors", *COLUMNS, "reference"])]
        for method, cls in _ordered(t):
            r = t[(t.method == method) & (t["class"] == cls)].iloc[0]
            md.append(md_row([f"`{method}`", cls, str(int(r.runs)),
                              *(fmt_mean_std(r[f"{c} mean"], r[f"{c} std"], 2) for c in ("error", *COLUMNS)),
                              fmt_mean_std(r["ref_ml mean"], r["ref_ml std"], 1)]))
        found = {(d["method"], d["class"], d["column"]): d for d in diffs if d["what"] == what}
        pairs = [(m, c) for m, c in _ordered(t) if m != against and (m, c, "error") in found]
        if pairs:
            md += ["", f"{label}, each method − `{against}` (ml per test volume, paired by seed: mean [95 % "
                   "t-interval]):", "", *md_header(["method", "class", *DIFF_COLUMNS])]
            md += [md_row([f"`{m}`", c, *(fmt_paired(found[m, c, col], 2) for col in DIFF_COLUMNS)])
                   for m, c in pairs]
            md += ["", f"{label}, each method − `{against}`, the errors by label: FP by what the reference says "
                   "there, FN by what was predicted there:", "", *md_header(["method", "class", *SPLIT_COLUMNS])]
            md += [md_row([f"`{m}`", c, *(fmt_paired(found.get((m, c, col)), 2) for col in SPLIT_COLUMNS)])
                   for m, c in pairs]
    return md


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m scribcim.analysis.error_bands RUN [RUN ...] --out STEM``: where trained runs' errors lie."""
    from ..provenance import provenance, repo_relative
    from ..runs.load import load_run_config
    p = runs_parser("scribcim.analysis.error_bands", main.__doc__, "what, run and class: the run's mean over its "
                    "test volumes", "the error volumes by band")
    p.add_argument("--against", default="full", help="the method the others are compared with (default: full)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best", help="checkpoint (default: best)")
    p.add_argument("--examples", type=int, default=3, help="with --figure, also draw this many test volumes (at "
                   "evenly spaced quantiles of cim's extra error over --against) as <figure>_examples.png "
                   "(default 3; 0: none)")
    p.add_argument("--fresh", action="store_true", help="measure every run again, not from the rows kept beside "
                   "it (<run>/error_bands_<checkpoint>.json)")
    ns = p.parse_args(argv)
    if ns.figure and Path(ns.figure).with_suffix(".json").resolve() == Path(ns.out).with_suffix(".json").resolve():
        p.error(f"--figure {ns.figure} would overwrite the record {ns.out}.json with its provenance: name another")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    summaries = [run_summary(r) for r in ns.runs]  # read once, before any prediction: an unevaluated run stops here
    rows = pd.DataFrame([r for run, s in zip(ns.runs, summaries) for r in cached_rows(
        run, ns.checkpoint, ns.data, lambda: run_error_bands(run, ns.checkpoint, summary=s, data_root=ns.data),
        Path(__file__), fresh=ns.fresh)])
    worst = dice_check(rows)
    if worst > DICE_ATOL:
        log.warning("Dice from the counts differs from the summaries' by up to %.2g: these predictions are not the "
                    "ones the summaries scored", worst)
    means = run_means(rows)
    table, diffs = seed_table(means), differences(means, ns.against)
    md = bands_markdown(table, diffs, ns.against) + [
        "", f"Per case, Dice from these counts against the summaries': largest difference {worst:.1g}."]
    out = Path(ns.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # provenance first: the tree as it was before this run wrote anything (else its own outputs mark it dirty)
    dataset = load_run_config(Path(ns.runs[0])).dataset
    prov = provenance({"runs": [repo_relative(Path(r)) for r in ns.runs], "checkpoint": ns.checkpoint,
                       "against": ns.against, "edges_mm": list(EDGES_MM)}, device="cpu", dataset=dataset)
    # a rerun that measures the same leaves the committed files (and the commit their provenance names) alone
    write_text_if_changed(out.with_suffix(".md"), "\n".join(md) + "\n")
    write_text_if_changed(out.with_suffix(".csv"), means.to_csv(index=False, float_format="%.6g"))
    write_json_if_changed(out.with_suffix(".json"), {
        "stem": out.name, "dataset": dataset, "profiles": sorted({s["profile"] for s in summaries}),
        "checkpoint": ns.checkpoint, "against": ns.against, "bands": list(BANDS), "table": table.to_dict("records"),
        "differences": diffs,
        "dice_check": worst, "runs_csv": out.with_suffix(".csv").name, "cases": int(rows.case.nunique()),
        "training_commits": training_commits(summaries), "provenance": prov})
    if ns.figure:
        from ..viz.common import save_figure
        from ..viz.error_bands import plot_error_bands, plot_error_examples
        save_figure(plot_error_bands(table, BANDS), Path(ns.figure), prov)
        others = paper_order(set(means.method) - {ns.against})
        method = "cim" if "cim" in others else (others or [None])[0]
        seed, cases = typical_cases(rows, method, ns.against, ns.examples) if method else (None, [])
        if cases:
            shown = [(r, s) for r, s in zip(ns.runs, summaries) if s["seed"] == seed]
            figure = Path(ns.figure)
            quantiles = {c: f"{(i + 1) / (ns.examples + 1):.0%} quantile of {method}'s extra error"
                         for i, c in enumerate(cases)}
            slices = example_slices([r for r, _ in shown], cases, ns.checkpoint, ns.data, [s for _, s in shown])
            save_figure(plot_error_examples(slices, quantiles),
                        figure.with_name(f"{figure.stem}_examples{figure.suffix}"),
                        {**prov, "examples": {"method": method, "seed": seed, "cases": cases,
                                              "rule": "quantiles (i + 1) / (n + 1) of the extra error over "
                                                      f"{ns.against}, post-processed; middle slice of the heart"}})
    print("\n".join(md))


if __name__ == "__main__":
    main()
