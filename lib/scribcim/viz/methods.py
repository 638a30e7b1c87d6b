"""Figures comparing methods: per-case boxes, runs by seed, robustness to scribble style, ablations, and the
validation curves of the profile choice.

Each function draws numbers that :mod:`scribcim.report` (or :mod:`scribcim.jobs.ablation`) computed
and returns the figure; saving it with provenance is the caller's (:func:`.common.save_figure`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..errors import DataError
from ..evaluate.metrics import CLASS_NAMES, LABELS, pstd
from ..training.methods import paper_order
from .common import fixed_jitter, read_metrics


def plot_method_boxes(d: pd.DataFrame, title: str = "") -> plt.Figure:
    """Per-case foreground Dice and HD95 per method: box plots with the cases as points."""
    import seaborn as sns
    fg = d[d.structure == "mean"].copy()
    if "seed" in fg:  # a method run with several seeds gets one box per seed
        seeds = fg.groupby("method")["seed"].nunique()
        fg["method"] = [f"{m} ({s})" if seeds[m] > 1 else m for m, s in zip(fg.method, fg.seed)]
    order = [r for m in paper_order(d.method) for r in sorted(set(fg.method)) if r.split(" (")[0] == m]
    fig, axes = plt.subplots(1, 2, figsize=(max(11.0, 1.5 * len(order)), 4.5))
    for ax, metric, label in ((axes[0], "dice", "Dice (foreground mean)"), (axes[1], "hd95", "HD95 (mm)")):
        sub = fg.dropna(subset=[metric])  # HD95 is undefined (NaN) for a case with an empty prediction
        shown = [m for m in order if m in set(sub.method)]
        if not shown:
            ax.text(0.5, 0.5, f"no finite {metric} values", ha="center", transform=ax.transAxes)
            continue
        sns.boxplot(data=sub, x="method", y=metric, order=shown, ax=ax, color="0.85", fliersize=0, linewidth=0.8)
        with fixed_jitter():
            sns.stripplot(data=sub, x="method", y=metric, order=shown, ax=ax, size=3, alpha=0.6, hue="method",
                          hue_order=shown, palette="colorblind", legend=False)
        ax.set(xlabel="", ylabel=label)
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
        ax.grid(alpha=0.3, axis="y")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_seeds(runs: pd.DataFrame, dataset: str, metric: str = "dice", structure: str = "mean",
               post: pd.DataFrame | None = None) -> plt.Figure:
    """One point per run (colour = seed) per method, with the across-seed mean ± sd; lines join a seed's runs.

    ``runs``: one row per run and structure (:func:`scribcim.report.comparison.run_means`). With ``post`` (the
    same for the post-processed metrics), a second row draws those beside the raw ones, on the same y scale.
    """
    d = runs[(runs.dataset == dataset) & (runs.structure == structure)]
    methods, seeds = paper_order(d.method), sorted(set(d.seed))  # the raw runs' colours, kept in both rows
    if post is None:
        fig, ax = plt.subplots(figsize=(1.3 * len(methods) + 2, 3.6))
        _seed_panel(ax, d, methods, seeds, metric, structure,
                    f"{dataset}: runs by seed (black: mean ± sd across seeds)")
        return fig
    p = post[(post.dataset == dataset) & (post.structure == structure)]
    fig, axes = plt.subplots(2, 1, figsize=(1.3 * len(methods) + 2, 7.2), sharey=True)
    _seed_panel(axes[0], d, methods, seeds, metric, structure,
                f"{dataset}, raw: runs by seed (black: mean ± sd across seeds)")
    _seed_panel(axes[1], p, methods, seeds, metric, structure,
                f"{dataset}, post-processed (chosen per run on its validation patients)")
    fig.tight_layout()
    return fig


def _seed_panel(ax: plt.Axes, d: pd.DataFrame, methods: Sequence[str], seeds: Sequence[int], metric: str,
                structure: str, title: str) -> None:
    """Draw :func:`plot_seeds`'s panel of the rows ``d`` (one dataset and structure) into ``ax``."""
    colours = plt.get_cmap("tab10")
    for j, seed in enumerate(seeds):
        ds = d[d.seed == seed].set_index("method")
        xs = [i + (j - (len(seeds) - 1) / 2) * 0.06 for i, m in enumerate(methods) if m in ds.index]
        ys = [ds.loc[m, metric] for m in methods if m in ds.index]
        ax.plot(xs, ys, "o-", color=colours(j % 10), lw=0.6, ms=5, alpha=0.85, label=f"seed {int(seed)}")
    for i, m in enumerate(methods):
        v = d[d.method == m][metric].to_numpy(float)
        if not v.size:  # a method without post-processed runs: no mean to draw
            continue
        ax.errorbar(i + 0.32, v.mean(), yerr=v.std(ddof=1) if v.size > 1 else 0, fmt="s", color="k", ms=5,
                    capsize=3)
    ax.set_xticks(range(len(methods)), methods)
    ax.set_ylabel(f"test {LABELS[metric]} ({structure}), one point per run")
    ax.set_title(title, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=1, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)


def plot_robustness(cases: pd.DataFrame, methods: Sequence[str] | None = None) -> plt.Figure:
    """Left: mean ± std Dice against inconsistency (expert at the left); right: per-case spread (box + points).

    ``cases``: one row per test case, method and training scribbles
    (:func:`scribcim.report.robustness.robustness_cases`); ``methods``: which, in this order (default: all).
    """
    import seaborn as sns
    methods = [m for m in (methods or paper_order(cases.method)) if m in set(cases.method)]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1, 1.4]})
    colours = dict(zip(methods, sns.color_palette("colorblind", len(methods)), strict=True))
    offsets = dict(zip(methods, np.linspace(-0.03, 0.03, len(methods)), strict=True))
    for m in methods:
        dm = cases[cases.method == m]
        sim = dm[dm.scribbles != "expert"].groupby("inconsistency")["dice"].agg(["mean", pstd])
        sim = sim.rename(columns={"pstd": "std"})
        ax.errorbar(sim.index + offsets[m], sim["mean"], yerr=sim["std"], marker="o", capsize=3,
                    color=colours[m], label=m)
        ex = dm[dm.scribbles == "expert"]["dice"]
        if len(ex):
            ax.errorbar([-0.3 + offsets[m]], [ex.mean()], yerr=[pstd(ex)], marker="s", capsize=3, color=colours[m])
    levels = sorted(cases[cases.scribbles != "expert"].inconsistency.unique())
    ax.set_xticks([-0.3, *levels], ["expert", *[f"{v:.2f}" for v in levels]])
    ax.axvline(-0.15, color="0.7", lw=0.8)
    ax.set(xlabel="inconsistency of simulated scribbles", ylabel="test Dice (foreground mean)",
           title="mean ± std over test volumes")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    order = ["expert", *[lab for lab in sorted(cases.training_scribbles.unique()) if lab != "expert"]]
    sns.boxplot(data=cases, x="training_scribbles", y="dice", hue="method", order=order, hue_order=methods,
                palette=colours, ax=bx, fliersize=0, linewidth=0.8)
    with fixed_jitter():
        sns.stripplot(data=cases, x="training_scribbles", y="dice", hue="method", order=order, hue_order=methods,
                      palette=colours, ax=bx, dodge=True, size=2.5, alpha=0.6, legend=False)
    bx.set(xlabel="training scribbles", ylabel="test Dice per volume", title="spread over test volumes")
    bx.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def plot_ablations(table: pd.DataFrame) -> plt.Figure:
    """Grouped bars: mean Dice per ablation and structure, error bars one std over test cases.

    ``table``: one row per ablation (:func:`scribcim.jobs.ablation.ablation_table`).
    """
    structures = (*CLASS_NAMES, "mean")
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(table) + 2), 3.8))
    x, width = np.arange(len(table)), 0.8 / len(structures)
    for i, st in enumerate(structures):
        ax.bar(x + (i - (len(structures) - 1) / 2) * width, table[f"dice_{st}_mean"], width,
               yerr=table[f"dice_{st}_std"].fillna(0), capsize=2, label=st, alpha=0.6 if st != "mean" else 1.0)
    if "cim" in set(table.ablation):
        ax.axhline(float(table.loc[table.ablation == "cim", "dice_mean_mean"].iloc[0]), color="k", ls="--", lw=0.8,
                   label="cim mean")
    ax.set_xticks(x, table.ablation, rotation=20)
    ax.set(ylabel="test Dice", ylim=(0, 1), title="ablations of CIM (mean ± std over test volumes)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    fig.tight_layout()
    return fig


def plot_validation_curves(runs: pd.DataFrame) -> plt.Figure:
    """Validation Dice against iteration, one line per run; one panel per method, colour per profile.

    ``runs``: one row per candidate run with its ``folder`` (:func:`scribcim.report.selection.validation_runs`).
    """
    methods = sorted(set(runs.method))
    profiles = sorted(set(runs.profile))
    fig, axes = plt.subplots(1, len(methods), figsize=(4.2 * len(methods), 3.2), sharey=True, squeeze=False)
    for ax, m in zip(axes[0], methods):
        for j, p in enumerate(profiles):
            for k, row in enumerate(runs[(runs.method == m) & (runs.profile == p)].itertuples()):
                try:
                    val = [(r["iteration"], r["val_dice"]) for r in read_metrics(Path(row.folder))[1]]
                except DataError:  # a summary without its training log: no curve
                    val = []
                if val:
                    ax.plot(*zip(*val), color=f"C{j}", lw=1, alpha=0.8, label=p if k == 0 else None)
        ax.set_title(m, fontsize=9)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation Dice (EMA weights)")
    axes[0][-1].legend(fontsize=8)
    return fig


def plot_robustness_seeds(table: pd.DataFrame, title: str = "", metric: str = "dice",
                          runs: pd.DataFrame | None = None) -> plt.Figure:
    """Mean ``metric`` across runs against inconsistency per method, error bars the table's interval
    (``<metric>_ci_lo`` / ``_ci_hi``); each method's expert runs as a horizontal band (interval) and line (mean).

    ``table``: :func:`scribcim.report.robustness_seeds_stats.level_table` rows (``metrics`` raw and, when there,
    post-processed: one panel each, same y scale). ``runs`` (optional; ``metrics``, ``method``, ``level``,
    ``structure``, ``metric`` columns, as :func:`~scribcim.report.robustness_seeds_stats.grid_runs`): each
    simulated run's own value as a small dot beside its method's mean.
    """
    panels = list(dict.fromkeys(table.metrics))
    methods = paper_order(table.method)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.0), sharey=True, squeeze=False)
    offsets = dict(zip(methods, np.linspace(-0.05, 0.05, len(methods)), strict=True))
    for ax, what in zip(axes[0], panels):
        t = table[table.metrics == what]
        for i, m in enumerate(methods):
            tm, colour = t[t.method == m], f"C{i}"
            sim, ex = tm[tm.level.notna()].sort_values("level"), tm[tm.level.isna()]
            lo, hi = sim[f"{metric}_ci_lo"].to_numpy(float), sim[f"{metric}_ci_hi"].to_numpy(float)
            mean = sim[f"{metric}_mean"].to_numpy(float)
            err = np.nan_to_num(np.vstack([mean - lo, hi - mean]))  # one run: no interval
            ax.errorbar(sim.level + offsets[m], mean, yerr=err, marker="o", capsize=3, color=colour, label=m)
            if runs is not None and len(runs):
                r = runs[(runs.metrics == what) & (runs.method == m) & runs.level.notna() & (runs.structure == "mean")]
                ax.scatter(r.level + offsets[m] + 0.015, r[metric], s=9, color=colour, alpha=0.55, lw=0)
            if len(ex):
                r = ex.iloc[0]
                if np.isfinite(r[f"{metric}_ci_lo"]):
                    ax.axhspan(r[f"{metric}_ci_lo"], r[f"{metric}_ci_hi"], color=colour, alpha=0.12, lw=0)
                ax.axhline(r[f"{metric}_mean"], color=colour, ls="--", lw=0.9)
        levels = sorted(set(t.level.dropna()))
        ax.set_xticks(levels)
        if levels:  # room for the offsets, also when one level has runs so far
            pad = 0.1 * max(levels[-1] - levels[0], 1.0)
            ax.set_xlim(levels[0] - pad, levels[-1] + pad)
        ax.set(xlabel="inconsistency of the training scribbles", title=f"{what} (dashed, band: expert scribbles)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"test {LABELS[metric]} (foreground mean), mean of runs")
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_differences(diffs: Sequence[dict], post: Sequence[dict] = (), title: str = "") -> plt.Figure:
    """Seed-paired differences ``a - b`` (:func:`scribcim.report.comparison.paired_differences`, with ``dataset``):
    per contrast and dataset, the mean with its 95 % interval and each seed's difference as a dot; Dice left, HD95
    right (when there); post-processed (``post``) beside the raw ones, on the same axes."""
    metrics = [m for m in ("dice", "hd95") if any(d["metric"] == m for d in diffs)]
    keys = list(dict.fromkeys((d["dataset"], d["a"], d["b"]) for d in diffs))
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 0.55 * len(keys) + 1.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for what, rows, dy, colour in (("raw", diffs, -0.14, "tab:blue"), ("post-processed", post, 0.14, "tab:orange")):
            by = {(d["dataset"], d["a"], d["b"]): d for d in rows if d["metric"] == metric}
            for i, k in enumerate(k for k in keys if k in by):
                d = by[k]
                i = keys.index(k)
                lo, hi = d["ci95"]
                if np.isfinite(lo):
                    ax.plot([lo, hi], [i + dy] * 2, color=colour, lw=2)
                ax.plot(d["per_seed"], [i + dy] * len(d["per_seed"]), "o", color=colour, ms=3, alpha=0.5)
                ax.plot(d["mean"], i + dy, "D", color=colour, ms=6, label=what if i == 0 else None)
        ax.axvline(0, color="k", lw=0.8)
        pairs = {(d["dataset"], d["a"], d["b"]): d["pairs"] for d in diffs}
        ax.set_yticks(range(len(keys)), [f"{a} − {b} ({ds}, {pairs[ds, a, b]} seeds)" for ds, a, b in keys],
                      fontsize=8)
        ax.invert_yaxis()
        better = "a better ->" if metric == "dice" else "<- a better"
        ax.set_xlabel(f"{LABELS[metric]} difference{' (mm)' if metric != 'dice' else ''}, {better}", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
