"""The error-band figure: where each method's errors lie, false positives up, false negatives down."""
from __future__ import annotations

from typing import Mapping, Sequence

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


def plot_error_examples(examples: list[dict], notes: Mapping[str, str] | None = None, margin: int = 12
                        ) -> plt.Figure:
    """Rows: test volumes, columns: methods (:func:`scribcim.analysis.error_bands.example_slices`), then the
    reference: each method's post-processed prediction over the image, cropped around the heart, with the reference
    boundary of every class drawn over it (a ring thicker than its line is a structure drawn too thick); ``notes``:
    a line per case under its reference's title."""
    from .common import CLASS_COLOURS, draw_panel
    cases = list(dict.fromkeys(e["case"] for e in examples))
    methods = paper_order({e["method"] for e in examples})
    by = {(e["case"], e["method"]): e for e in examples}
    fig, axes = plt.subplots(len(cases), len(methods) + 1, figsize=(2.3 * (len(methods) + 1), 2.8 * len(cases)),
                             squeeze=False)
    for row, case in zip(axes, cases):
        first = next(e for e in examples if e["case"] == case)
        ys, xs = np.nonzero(first["label"] > 0)
        h, w = first["label"].shape
        crop = ((slice(max(ys.min() - margin, 0), min(ys.max() + margin + 1, h)),
                 slice(max(xs.min() - margin, 0), min(xs.max() + margin + 1, w))) if ys.size else
                (slice(None), slice(None)))
        for ax, method in zip(row, [*methods, "reference"]):
            e = by.get((case, method), first)
            shown = e["label"] if method == "reference" else e["pred"]
            note = f"\n{(notes or {}).get(case)}" if (notes or {}).get(case) else ""
            title = (f"{case} z={first['slice']}{note}\nreference" if method == "reference" else
                     f"{method} (seed {e['seed']})" if (case, method) in by else f"{method}: -")
            draw_panel(ax, first["image"][crop], np.ma.masked_equal(shown[crop], 0), title=title, fontsize=7)
            for ci, colour in enumerate(CLASS_COLOURS[1:], start=1):
                ref = (first["label"][crop] == ci).astype(float)
                if ref.any() and ref.min() == 0:
                    ax.contour(ref, levels=[0.5], colors=[colour], linewidths=0.8)
                    ax.contour(ref, levels=[0.5], colors="white", linewidths=0.3)
    fig.suptitle("Post-processed predictions, middle slice of the heart; lines: the reference boundaries", fontsize=9)
    fig.tight_layout()
    return fig
