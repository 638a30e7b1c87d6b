"""The budget study's figure: validation Dice against iteration, every run drawn, one panel per method."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import pandas as pd

from ..training.methods import paper_order


def plot_learning_curves(curves: pd.DataFrame, order: Sequence[str] | None = None) -> plt.Figure:
    """One panel per method (paper order), one line per run (profile x seed), a colour per profile (``order``:
    the profiles' legend order); rows of :func:`scribcim.report.budget.learning_curves`."""
    methods = paper_order(curves.method)
    profiles = list(order or dict.fromkeys(curves.profile))
    colours = {p: plt.get_cmap("tab10")(i) for i, p in enumerate(profiles)}
    fig, axes = plt.subplots(1, len(methods), figsize=(3.2 * len(methods), 3.4), sharey=True, squeeze=False)
    lo = max(0.0, float(curves.val_dice.quantile(0.02)) - 0.02)
    for ax, method in zip(axes[0], methods):
        d = curves[curves.method == method]
        for p in profiles:
            for i, (seed, run) in enumerate(d[d.profile == p].groupby("seed")):
                run = run.sort_values("iteration")
                ax.plot(run.iteration, run.val_dice, color=colours[p], lw=1, alpha=0.8,
                        label=p if i == 0 else None)
        ax.set(title=method, xlabel="iteration", ylim=(lo, 1.0))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation Dice (mean foreground, 3D)")
    handles = {h.get_label(): h for ax in axes[0] for h in ax.get_lines() if not h.get_label().startswith("_")}
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=len(handles), frameon=False)
    fig.suptitle("Validation Dice of every run (one line a seed), by budget")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig
