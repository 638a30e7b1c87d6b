"""The far-field figure: HD95 of every test volume in every run, raw beside post-processed."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm

from ..training.methods import paper_order


def plot_far_field(case_runs: pd.DataFrame, threshold: float = 20.0, title: str = "") -> plt.Figure:
    """Heat maps, test volumes (rows, most often above ``threshold`` first) by runs (columns, grouped by method):
    HD95 (mean over classes) raw and post-processed, on one log colour scale; ``case_runs`` as
    :func:`scribcim.report.far_field.case_runs`."""
    m = case_runs[case_runs.structure == "mean"]
    methods = paper_order(m.method)
    cols = [(meth, s) for meth in methods for s in sorted(m[m.method == meth].seed.unique())]
    order = (m.assign(far=m.hd95 > threshold).groupby("case").agg(far=("far", "sum"), hd=("hd95", "median"))
             .sort_values(["far", "hd"], ascending=False).index)
    grids = [m.pivot_table(index="case", columns=["method", "seed"], values=v).reindex(index=order, columns=cols)
             for v in ("hd95", "hd95_post")]
    vals = np.concatenate([g.to_numpy().ravel() for g in grids])
    vals = vals[np.isfinite(vals) & (vals > 0)]
    norm = LogNorm(vmin=max(1.0, vals.min()) if vals.size else 1.0, vmax=max(vals.max(), 2 * threshold)
                   if vals.size else 10 * threshold)
    fig, axes = plt.subplots(1, 2, figsize=(2 + 0.3 * len(cols) * 2, 1.5 + 0.16 * len(order)), sharey=True,
                             constrained_layout=True)
    for ax, grid, label in zip(axes, grids, ("raw", "post-processed")):
        im = ax.imshow(grid.to_numpy(float), aspect="auto", cmap="magma_r", norm=norm, interpolation="nearest")
        ax.set_title(f"HD95 (mm), {label}", fontsize=9, pad=22)
        ax.set_xticks(range(len(cols)), [str(s) for _, s in cols], rotation=90, fontsize=6)
        starts = [i for i, (meth, _) in enumerate(cols) if i == 0 or cols[i - 1][0] != meth]
        for i in starts[1:]:
            ax.axvline(i - 0.5, color="k", lw=1)
        for i, meth in zip(starts, [cols[i][0] for i in starts]):
            ax.text(i - 0.4, -0.8, meth, fontsize=7, ha="left", va="bottom", rotation=20)
    axes[0].set_yticks(range(len(order)), [str(c) for c in order], fontsize=6)
    cb = fig.colorbar(im, ax=axes, shrink=0.8)
    cb.ax.axhline(threshold, color="tab:blue", lw=2)
    cb.set_label(f"HD95 (mm); line: {threshold:g} mm", fontsize=8)
    if title:
        fig.suptitle(f"{title}: test volumes (rows) x runs (columns, by method and seed)", fontsize=10)
    return fig


def plot_islands(examples: list[dict]) -> plt.Figure:
    """Per example (:func:`scribcim.analysis.islands.examples`): the slice with the run's largest island, the
    reference labels beside the raw prediction."""
    from .common import draw_panel
    fig, axes = plt.subplots(len(examples), 2, figsize=(5.6, 2.9 * len(examples)), squeeze=False)
    for row, ex in zip(axes, examples):
        draw_panel(row[0], ex["image"], np.ma.masked_equal(ex["label"], 0), title=f"{ex['case']} z={ex['slice']}: "
                   "reference", fontsize=8)
        draw_panel(row[1], ex["image"], np.ma.masked_equal(ex["pred"], 0),
                   title=f"{ex['method']} seed {ex['seed']}: raw prediction", fontsize=8)
    fig.tight_layout()
    return fig
