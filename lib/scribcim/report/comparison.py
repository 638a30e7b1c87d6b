"""The method comparison across seeds: one number per training run, then mean ± sd over runs.

A single training run answers nothing at CPU budgets (the same method moves by more between seeds
than methods differ), so the unit here is the *run*: each run's test-set mean (over volumes) of a
metric is one observation, runs of one method differ by seed, and methods pair by seed (same
initial-weight seed, same batch order). :func:`paired_differences` gives the seed-paired difference
of two methods with a 95 % t-interval over seeds.

Everything is read from committed ``summary.json`` files (the rows of :func:`scribcim.report.results.summary_rows`), so
``python -m scribcim.report.comparison`` redraws the table and the figure without training.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DataError
from ..provenance import git_state
from .bootstrap import paired_bootstrap
from .comparison_markdown import DIGITS, LOWER_BETTER, differences_section, purity_markdown, seeds_markdown
from .results import summaries_frame
from .stability import sd_ratio
from .results_report import main_runs
from ..training.methods import paper_order
from ..viz.common import save_figure
from ..viz.methods import plot_differences, plot_seeds
from ..runs.log import write_json
from ..runs.paths import summary_paths

log = logging.getLogger(__name__)
#: the metrics of the seed-paired differences (Dice and, beside it, HD95 of the foreground mean)
DIFF_METRICS = ("dice", "hd95")
#: (a, b, what a - b measures)
CONTRASTS = (("cim", "pce_selfdice", "what matching adds (same loss)"), ("cim", "pce", "CIM over the pCE baseline"),
             ("cim", "dmpls", "CIM against the DMPLS baseline"),
             ("cim_paper", "cim", "CIM as the paper sets it against this project's variant"),
             ("cim_paper", "pce_selfdice", "what matching as the paper sets it adds (same loss)"))
#: the methods whose networks keep banks (their summaries carry bank purity)
BANK_METHODS = ("cim", "cim_paper")


def run_means(d: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, method, seed, structure): the run's mean over test volumes of each metric.

    ``d`` holds the rows of one comparison (:func:`scribcim.report.results_report.main_runs`); post-processed rows
    keep the run's ``postprocessing`` choice.
    """
    keys = ["dataset", "profile", "method", "fold", "seed", "structure"] + [k for k in ("postprocessing",) if k in d]
    return d.groupby(keys, dropna=False)[list(DIGITS)].mean().reset_index()


def across_seeds(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, method, structure): number of runs, mean and sample sd (ddof 1) across runs of each metric."""
    g = runs.groupby(["dataset", "method", "structure"])
    out = g[list(DIGITS)].agg(["mean", "std", "count"])
    out.columns = [f"{m}_{s}" for m, s in out.columns]
    out["runs"] = g.seed.nunique()
    out["seeds"] = g.seed.apply(lambda s: ",".join(str(int(x)) for x in sorted(set(s))))
    return out.reset_index()


def t_half(sd: float | pd.Series, n: int | pd.Series) -> np.ndarray:
    """Half-width of the 95 % t-interval of a mean of ``n`` values with sample sd ``sd`` (NaN below two)."""
    n = np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 1, stats.t.ppf(0.975, np.maximum(n - 1, 1)) * sd / np.sqrt(n), np.nan)


def over_seeds(values: Sequence[float] | np.ndarray) -> dict:
    """``n``, mean, sd (ddof 1) and 95 % t-interval (:func:`t_half`, seeds - 1 degrees; NaN below two) of one value
    per seed."""
    x = np.asarray(values, float)
    mean = float(x.mean()) if x.size else float("nan")
    sd = float(x.std(ddof=1)) if x.size > 1 else float("nan")
    half = float(t_half(sd, x.size))
    return {"n": int(x.size), "mean": mean, "sd": sd, "ci95": [mean - half, mean + half]}


def paired_differences(runs: pd.DataFrame, a: str, b: str, *, metric: str = "dice",
                       structure: str = "mean") -> dict:
    """Seed-paired difference ``a - b`` of the runs' means: per-seed values, mean, sd, 95 % t-interval
    (:func:`t_half`; NaN below two pairs), ``a_better``, the seeds where a is better (a larger Dice, a smaller
    distance), and ``sd_ratio``: is a steadier across seeds than b (:func:`scribcim.report.stability.sd_ratio`).
    Only seeds that both methods ran count."""
    d = runs[runs.structure == structure]
    both = pd.concat([d[d.method == m].set_index("seed")[metric] for m in (a, b)], axis=1, join="inner",
                     keys=[a, b]).dropna()
    diff = (both[a] - both[b]).to_numpy(float)
    s = over_seeds(diff)
    better = diff < 0 if metric in LOWER_BETTER else diff > 0
    return {"a": a, "b": b, "metric": metric, "structure": structure, "pairs": s["n"],
            "seeds": [int(x) for x in both.index], "per_seed": [float(x) for x in diff],
            "mean": s["mean"], "sd": s["sd"], "ci95": s["ci95"], "a_better": int(better.sum()),
            "sd_ratio": sd_ratio(both[a], both[b])}


def profile_summaries(results_root: Path | str, profile: str, fold: int) -> list[dict]:
    """The summaries of one profile and fold with expert training scribbles (the comparison's runs)."""
    out = []
    for path in summary_paths(results_root, profile=profile, fold=fold):
        s = json.loads(path.read_text())
        if s["provenance"]["config"].get("scribbles", "expert") == "expert":
            out.append(s)
    return out


def training_commits(summaries: Sequence[dict]) -> list[str]:
    """The git commits the runs were trained at (one, for a comparison that stands)."""
    return sorted({str(((s["provenance"].get("train") or {}).get("git") or {}).get("commit")) for s in summaries})


def purity_table(summaries: Sequence[dict], checkpoint: str = "best", label: Callable[[dict], str] | None = None
                 ) -> pd.DataFrame:
    """Bank purity and sharing (mean ± sd across runs) per dataset, method and class, from the summaries of runs
    with banks (``label``: the method column of a summary, default its method; e.g. an ablation's name)."""
    rows = []
    for s in summaries:
        ck = s["checkpoints"].get(checkpoint, {})
        for kind in ("bank_purity", "bank_shared"):
            for cls, v in (ck.get(kind) or {}).items():
                rows.append({"dataset": s["dataset"], "method": label(s) if label else s["method"], "seed": s["seed"],
                             "kind": kind, "class": cls, "value": np.nan if v is None else v})
    if not rows:
        return pd.DataFrame(columns=["dataset", "method", "kind", "class", "mean", "std", "runs"])
    d = pd.DataFrame(rows)
    g = d.groupby(["dataset", "method", "kind", "class"]).value
    return pd.concat([g.mean().rename("mean"), g.std().rename("std"), g.count().rename("runs")], axis=1).reset_index()


def contrast_differences(runs: pd.DataFrame, dataset: str, contrasts: Sequence[tuple[str, str, str]] = CONTRASTS,
                         cases: pd.DataFrame | None = None) -> list[dict]:
    """:func:`paired_differences` of every contrast (a, b, what) whose two methods (conditions) ``runs`` holds, for
    each of :data:`DIFF_METRICS`; with the runs' per-case rows (``cases``), also ``ci95_two_level``: the interval of a
    bootstrap over seeds and test patients (:func:`scribcim.report.bootstrap.paired_bootstrap`)."""
    out = []
    for a, b, what in contrasts:
        if not {a, b} <= set(runs.method):
            continue
        for m in DIFF_METRICS:
            d = paired_differences(runs, a, b, metric=m) | {"dataset": dataset, "what": what}
            if cases is not None:
                d["ci95_two_level"] = paired_bootstrap(cases, a, b, m)["ci95"]
            out.append(d)
    return out


def seed_comparison(df: pd.DataFrame, dataset: str, *, profile: str, fold: int = 1, checkpoint: str = "best",
                    contrasts: Sequence[tuple[str, str, str]] = CONTRASTS
                    ) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """(run means, mean ± sd across seeds, seed-paired differences) of one dataset's main runs in ``df``
    (rows of :func:`scribcim.report.results.summary_rows`; the ``method`` column names the condition, e.g. an
    ablation's name); raises DataError if there are none."""
    d = main_runs(df, dataset=dataset, profile=profile, checkpoint=checkpoint)
    d = d[d.fold == fold]
    runs = run_means(d)
    return runs, across_seeds(runs), contrast_differences(runs, dataset, contrasts, cases=d)


def postprocessing_choices(runs: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per method (paper order), how many of its runs (post-processed :func:`run_means` of one dataset) chose each
    post-processing, most chosen first."""
    per_run = runs[runs.structure == "mean"]
    out = {}
    for method in paper_order(per_run.method):
        counts = per_run[per_run.method == method].postprocessing.value_counts(dropna=False)
        out[method] = {str(c): int(n) for c, n in sorted(counts.items(), key=lambda cn: (-cn[1], str(cn[0])))}
    return out


def _post_comparison(post_df: pd.DataFrame, dataset: str, runs: pd.DataFrame, where: dict) -> dict | None:
    """The runs, table, differences, choices and markdown of the post-processed rows of ``dataset``, or None."""
    try:
        post, table, diffs = seed_comparison(post_df, dataset, **where)
    except DataError:
        return None
    choices = postprocessing_choices(post)
    line = "; ".join(f"{m}: " + ", ".join(f"{c} {n}" for c, n in by.items()) for m, by in choices.items())
    n_post, n_raw = (len(r[r.structure == "mean"]) for r in (post, runs))
    md = ["Post-processed (connected components; the post-processing chosen per run on its validation patients, "
          "never the test patients): mean ± sd across runs, as above."
          + (f" Only {n_post} of the {n_raw} runs have post-processed metrics." if n_post != n_raw else ""), "",
          seeds_markdown(table, dataset), "", f"Post-processing chosen (runs): {line}.", ""]
    return {"dataset": dataset, "runs": post, "table": table, "differences": diffs, "choices": choices, "md": md,
            "md_differences": differences_section(diffs, " of the post-processed means")}


def _run_dice(runs: pd.DataFrame) -> list[dict]:
    return runs[runs.structure == "mean"][["method", "seed", "dice"]].to_dict("records")


def _write_tables(tables: Path, profile: str, runs: pd.DataFrame, table: pd.DataFrame, suffix: str = "") -> None:
    runs.to_csv(tables / f"{profile}_seeds_runs{suffix}.csv", index=False, float_format="%.6g")
    table.to_csv(tables / f"{profile}_seeds{suffix}.csv", index=False, float_format="%.6g")


def render_comparison(results_root: Path | str, tables: Path | str, figures: Path | str, *, profile: str,
                      datasets: Sequence[str] = ("acdc", "mscmr"), fold: int = 1, checkpoint: str = "best") -> dict:
    """Write ``<tables>/<profile>_seeds.{md,csv,json}`` and ``<figures>/<dataset>_<profile>_seeds.png``.

    Summaries with post-processed metrics (``checkpoints.<name>.postprocessed``) add, beside the raw numbers (first,
    never replaced), post-processed tables, choices and differences, a second figure row, ``<profile>_seeds_post.csv``,
    ``<profile>_seeds_runs_post.csv`` and the record's ``postprocessed``.
    """
    git = git_state()  # before anything is written: the tree as the command found it
    summaries = profile_summaries(results_root, profile, fold)
    if not summaries:
        raise DataError(f"no {profile} results under {results_root}: run `snakemake -s workflow/Snakefile grid`")
    df, post_df = summaries_frame(summaries), summaries_frame(summaries, postprocessed=True)
    purity = purity_table([s for s in summaries if s["method"] in BANK_METHODS], checkpoint)
    where = {"profile": profile, "fold": fold, "checkpoint": checkpoint}
    parts, all_runs, diffs, md = [], [], [], []
    posts = []
    for dataset in datasets:
        try:
            runs, table, ds_diffs = seed_comparison(df, dataset, **where)
        except DataError:
            log.info("no %s/%s runs: left out", dataset, profile)
            continue
        all_runs.append(runs)
        parts.append(table)
        diffs += ds_diffs
        md += [f"### {dataset}, profile `{profile}`, fold {fold}, checkpoint `{checkpoint}`", "",
               "Mean ± sd across runs (seeds) of each run's mean over test volumes; HD95/ASD in mm.", "",
               seeds_markdown(table, dataset), ""]
        post = None if post_df.empty else _post_comparison(post_df, dataset, runs, where)  # empty: old summaries
        posts += [] if post is None else [post]
        md += [] if post is None else post["md"]
        md += differences_section(ds_diffs) + ([] if post is None else post["md_differences"])
        if (purity[purity.dataset == dataset].runs > 0).any():
            md += ["Bank purity of the CIM runs (dense labels used only to measure):", "",
                   purity_markdown(purity, dataset), ""]
        elif dataset in set(purity.dataset):
            md += [f"Bank purity is not measured on {dataset}: its training volumes have no dense labels to "
                   "measure it with.", ""]
        post_runs = None if post is None else post["runs"]
        prov = {"made_by": "scribcim.report.comparison", "git": git, "profile": profile, "fold": fold,
                "runs": _run_dice(runs)} | ({} if post is None else {"runs_postprocessed": _run_dice(post_runs)})
        save_figure(plot_seeds(runs, dataset, post=post_runs), Path(figures) / f"{dataset}_{profile}_seeds.png", prov)
    if not parts:
        raise DataError(f"no {profile} results under {results_root}: run `snakemake -s workflow/Snakefile grid`")
    post_diffs = [d for p in posts for d in p["differences"]]
    if diffs:  # one figure of every contrast of every dataset
        save_figure(plot_differences(diffs, post_diffs, f"{profile}: seed-paired differences, mean and 95 % interval"),
                    Path(figures) / f"{profile}_differences.png",
                    {"made_by": "scribcim.report.comparison", "git": git, "profile": profile, "fold": fold,
                     "differences": diffs, "postprocessed": post_diffs})
    runs, table = pd.concat(all_runs), pd.concat(parts)
    commits = training_commits(summaries)
    if len(commits) > 1:
        log.warning("the %s runs were trained at %d commits (%s): not one comparison", profile, len(commits), commits)
    md.append(f"Trained at commit(s) {', '.join(c[:7] for c in commits)}; {len(summaries)} summaries.")
    tables = Path(tables)
    tables.mkdir(parents=True, exist_ok=True)
    (tables / f"{profile}_seeds.md").write_text("\n".join(md))
    _write_tables(tables, profile, runs, table)
    record = {"profile": profile, "fold": fold, "checkpoint": checkpoint, "differences": diffs,
              "table": json.loads(table.to_json(orient="records")),
              "bank_purity": json.loads(purity.to_json(orient="records")),
              "git": git, "training_commits": commits}
    if posts:
        post_table = pd.concat([p["table"] for p in posts])
        _write_tables(tables, profile, pd.concat([p["runs"] for p in posts]), post_table, "_post")
        record["postprocessed"] = {"table": json.loads(post_table.to_json(orient="records")),
                                   "differences": post_diffs,
                                   "choices": {p["dataset"]: p["choices"] for p in posts}}
    write_json(tables / f"{profile}_seeds.json", record)
    return record


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m scribcim.report.comparison --profile P``: the across-seed tables and figures."""
    p = argparse.ArgumentParser(prog="python -m scribcim.report.comparison", description=main.__doc__)
    p.add_argument("--profile", required=True, help="the profile whose seed grid to compare")
    p.add_argument("--results", default="results", help="folder holding the summaries (default: results)")
    p.add_argument("--tables", default="results/tables", help="where the tables go (default: results/tables)")
    p.add_argument("--figures", default="figures", help="where the figures go (default: figures)")
    p.add_argument("--fold", type=int, default=1, help="fold (default: 1)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best", help="checkpoint (default: best)")
    ns = p.parse_args(argv)
    render_comparison(ns.results, ns.tables, ns.figures, profile=ns.profile, fold=ns.fold, checkpoint=ns.checkpoint)
    print((Path(ns.tables) / f"{ns.profile}_seeds.md").read_text())


if __name__ == "__main__":
    main()
