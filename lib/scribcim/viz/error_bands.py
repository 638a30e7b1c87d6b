"""The error-band figure: where each method's errors lie, false positives up, false negatives down."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..evaluate.metrics import CLASS_NAMES
from ..training.methods import paper_order

COLOURS = ("#1b7837", "#a6dba0", "#c2a5cf", "#762a83")  # <= 2 mm, 2-5 mm, > 5 mm, other slice


def plot_error_bands(table: pd.DataFrame, bands: Sequence[str]) -> plt.Figure:
    """Rows raw / post-processed, one panel per class: per method, the mean across seeds of the error volume (ml per
    test volume) in each distance band (``bands``: :data:`scribcim.analysis.error_bands.BANDS`), FP stacked above
    zero and FN below; ``table`` as :func:`scribcim.analysis.error_bands.seed_table`."""
    whats = [w for w in ("raw", "post") if w in set(table.what)]
    methods = paper_order(set(table.method))
    fig, axes = plt.subplots(len(whats), len(CLASS_NAMES), figsize=(3.4 * len(CLASS_NAMES), 3.0 * len(whats)),
                             sharey=True, squeeze=False, constrained_layout=True)
    x = np.arange(len(methods))
    for row, what in zip(axes, whats):
        for ax, cls in zip(row, CLASS_NAMES):
            t = table[(table.what == what) & (table["class"] == cls)].set_index("method").reindex(methods)
            for kind, sign in (("fp", 1.0), ("fn", -1.0)):
                bottom = np.zeros(len(methods))
                for band, colour in zip(bands, COLOURS):
                    col = f"{kind} {band} mean"
                    if col not in t:
                        continue
                    h = sign * t[col].fillna(0.0).to_numpy(float)
                    ax.bar(x, h, bottom=bottom, color=colour, width=0.7,
                           label=band if (kind, what, cls) == ("fp", whats[0], CLASS_NAMES[0]) else None)
                    bottom += h
            ax.axhline(0, color="k", lw=0.8)
            ax.set_xticks(x, methods, rotation=30, ha="right", fontsize=8)
            ax.set_title(f"{cls}, {'raw' if what == 'raw' else 'post-processed'}", fontsize=9)
            ax.grid(axis="y", alpha=0.3)
        row[0].set_ylabel("ml per test volume\nFP up, FN down", fontsize=8)
    fig.legend(loc="outside lower center", ncol=len(bands), fontsize=8,
               title="in-plane distance from the reference boundary", title_fontsize=8)
    fig.suptitle("Where the errors lie (mean across seeds)", fontsize=10)
    return fig
