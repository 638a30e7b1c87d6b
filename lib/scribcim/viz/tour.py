"""Figures of the data tour (notebook 01): class frequencies, scribble coverage, example slices.

They draw the tables that :mod:`scribcim.notebook.tour` computes from the volumes.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..data.volumes import UNLABELLED, Volume
from ..errors import ConfigError
from .common import LABEL_CMAP, SCRIBBLE_CMAP, fixed_jitter


def plot_class_frequencies(summary: pd.DataFrame) -> plt.Figure:
    """Share of each class among the dense-label voxels and among the scribbled pixels (log scale).

    ``summary``: one row per class (:func:`scribcim.notebook.tour.class_summary`), in display order.
    """
    summ = summary.set_index("class")
    classes = list(summ.index)
    lab = summ.labelled_voxels.fillna(0)
    shares = {"dense label voxels": 100.0 * lab / lab.sum() if lab.sum() else lab * np.nan,
              "scribbled pixels": summ.scribbled_share_pct}
    fig, ax = plt.subplots(figsize=(6.2, 3.6))
    x = np.arange(len(classes))
    for i, (name, vals) in enumerate(shares.items()):
        bars = ax.bar(x + (i - 0.5) * 0.38, vals.fillna(0).to_numpy(), width=0.38, label=name)
        ax.bar_label(bars, labels=[("n/a" if np.isnan(v) else f"{v:.2g}") for v in vals], fontsize=7)
    ax.set_xticks(x, classes)
    ax.set_yscale("log")
    ax.set(ylabel="% of all voxels / scribbled pixels", title="class frequencies")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_coverage(long: pd.DataFrame, patients: pd.DataFrame) -> plt.Figure:
    """Scribble coverage per class: per volume (box + points) and per patient (pooled over its volumes).

    ``long``: one row per (volume, class) (:func:`scribcim.notebook.tour.long_table`), classes in display
    order; ``patients``: one row per patient with ``<class>_coverage_pct`` (``tour.patient_summary``).
    """
    import seaborn as sns
    classes = list(dict.fromkeys(long.cls))
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [1, 2.2]})
    long = long.dropna(subset=["coverage_pct"])
    if long.empty:
        for a in (ax, bx):
            a.text(0.5, 0.5, "no volume with both a dense label and a scribble:\ncoverage undefined", ha="center",
                   va="center")
            a.axis("off")
        return fig
    sns.boxplot(data=long, x="cls", y="coverage_pct", order=classes, ax=ax, fliersize=0, color="0.85")
    with fixed_jitter():
        sns.stripplot(data=long, x="cls", y="coverage_pct", order=classes, ax=ax, size=2.5, alpha=0.6)
    ax.set(xlabel="class", ylabel="scribbled / labelled pixels (%)", title="per volume")
    pat = patients.melt(id_vars="patient", value_vars=[f"{c}_coverage_pct" for c in classes],
                        var_name="cls", value_name="coverage_pct").dropna()
    pat["cls"] = pat.cls.str.replace("_coverage_pct", "")
    order = sorted(pat.patient.unique())
    sns.stripplot(data=pat, x="patient", y="coverage_pct", hue="cls", hue_order=classes, order=order,
                  ax=bx, size=4, jitter=False)
    step = max(1, len(order) // 25)
    bx.set_xticks(range(0, len(order), step), [str(p) for p in order[::step]], fontsize=7)
    bx.set(xlabel="patient", ylabel="scribbled / labelled pixels (%)", title="per patient (pooled over volumes)")
    bx.legend(title="class", fontsize=8)
    for a in (ax, bx):
        a.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def example_volumes(volumes: Sequence[Volume], n: int) -> list[Volume]:
    """``n`` volumes evenly spaced through ``volumes`` (deterministic)."""
    if n <= 0 or not volumes:
        return []
    idx = np.unique(np.linspace(0, len(volumes) - 1, min(n, len(volumes))).round().astype(int))
    return [volumes[i] for i in idx]


def plot_examples(volumes: Sequence[Volume], n: int = 6) -> plt.Figure:
    """Middle slice of ``n`` volumes: image, scribble overlay, dense-label overlay (one row per volume)."""
    chosen = example_volumes(volumes, n)
    if not chosen:
        raise ConfigError("no volumes to show: n must be >= 1 and the part non-empty")
    fig, axes = plt.subplots(len(chosen), 3, figsize=(7.5, 2.6 * len(chosen)), squeeze=False)
    for row, v in zip(axes, chosen):
        z = v.num_slices // 2
        img = v.image[z]
        for ax, name in zip(row, ("image", "scribble", "dense label")):
            ax.imshow(img, cmap="gray", vmin=float(img.min()), vmax=float(np.percentile(img, 99.5)) or 1.0)
            if name == "scribble" and not (v.scribble[z] != UNLABELLED).any():
                ax.text(0.5, 0.5, "no scribble", color="w", ha="center", va="center", transform=ax.transAxes)
            elif name == "scribble":
                ax.imshow(v.scribble[z], cmap=SCRIBBLE_CMAP, vmin=0, vmax=UNLABELLED, interpolation="nearest")
            elif name == "dense label" and v.label is not None:
                ax.imshow(v.label[z], cmap=LABEL_CMAP, vmin=0, vmax=3, interpolation="nearest")
            elif name == "dense label":
                ax.text(0.5, 0.5, "no dense label", color="w", ha="center", va="center", transform=ax.transAxes)
            ax.set_title(f"{v.case} z={z}: {name}" if name == "image" else name, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    return fig
