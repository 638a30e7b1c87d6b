"""The budget study's figure: validation Dice against iteration, every run drawn, one panel per method."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import pandas as pd

from ..training.methods import paper_order


def plot_learning_curves(curves: pd.DataFrame, order: Sequence[str] | None = None,
                         methods: Sequence[str] | None = None, muted: Sequence[str] = ()) -> plt.Figure:
    """One panel per method (paper order; ``methods`` limits them), one line per run (profile x seed), a colour per
    profile (``order``: the legend order), the ``muted`` profiles thin and grey (a reference drawn behind); a dotted
    line where each shorter budget ends. Rows of :func:`scribcim.report.climbing.learning_curves`."""
    methods = paper_order(methods if methods is not None else curves.method)
    profiles = list(order or dict.fromkeys(curves.profile))
    palette = iter(plt.get_cmap("tab10").colors)
    colours = {p: (0.6, 0.6, 0.6) if p in muted else next(palette) for p in profiles}
    ends = curves.groupby("profile").iteration.max()
    fig, axes = plt.subplots(1, len(methods), figsize=(3.2 * len(methods), 3.4), sharey=True, squeeze=False)
    lo = max(0.0, float(curves.val_dice.quantile(0.02)) - 0.02)
    for ax, method in zip(axes[0], methods):
        d = curves[curves.method == method]
        for p in profiles:
            for i, (seed, run) in enumerate(d[d.profile == p].groupby("seed")):
                run = run.sort_values("iteration")
                ax.plot(run.iteration, run.val_dice, color=colours[p], lw=0.7 if p in muted else 1.2,
                        alpha=0.6 if p in muted else 0.9, zorder=1 if p in muted else 2, label=p if i == 0 else None)
        if d.profile.nunique() and d.iteration.max() > ends.min():
            ax.axvline(ends.min(), color="k", ls=":", lw=0.8)
        ax.set(title=method, xlabel="iteration", ylim=(lo, 1.0))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation Dice (mean foreground, 3D)")
    handles = {h.get_label(): h for ax in axes[0] for h in ax.get_lines() if not h.get_label().startswith("_")}
    labels = [p for p in profiles if p in handles]
    fig.legend([handles[p] for p in labels], [f"{p} (reference)" if p in muted else p for p in labels],
               loc="lower center", ncol=len(labels), frameon=False)
    fig.suptitle(f"Validation Dice of every run (one line a seed), by budget; dotted: {int(ends.min())} iterations")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig
