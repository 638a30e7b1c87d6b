"""Figures of matching: a matching record's attention maps, matched entries and key embedding (notebook 05),
drawn from the record and the data folder alone (no model is loaded); the explorer's view (notebook 06).
Slices are drawn as :func:`scribcim.analysis.matching.in_view` shows them (a millimetre-view run: in the model's
window), the grid the record's pixel and maps refer to.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.colors import ListedColormap

from ..data.slices import SliceSet
from ..data.volumes import UNLABELLED
from ..analysis.matching import in_view, load_case, redraw, training_slices, upsample
from .common import CLASS_COLOURS, LABEL_CMAP, SCRIBBLE_CMAP, plt

#: the explorer's error map: wrong pixels in magenta
ERROR_CMAP = ListedColormap([(0, 0, 0, 0), (1.0, 0.0, 1.0, 0.6)])


def _show(ax: plt.Axes, image: np.ndarray, pixel: Sequence[int] | None = None, title: str = "") -> None:
    ax.imshow(image, cmap="gray")
    if pixel is not None:
        ax.plot(pixel[1], pixel[0], marker="+", color="cyan", ms=12, mew=2)
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def render_attention(record: dict[str, Any], data_root: str | Path | None = None) -> plt.Figure:
    """The pixel's mass per class (bank solid, token hatched); per class, each cell's bank mass and token weight."""
    meta, names, px, c = record["run"], record["run"]["class_names"], record["pixel"], len(record["run"]["class_names"])
    image = in_view(load_case(meta, record["case"], data_root, record["patient"]), meta).image[record["slice"]]
    fig, axes = plt.subplots(2, c + 1, figsize=(2.5 * (c + 1), 5.2))
    _show(axes[0, 0], image, px, f"{record['case']} z={record['slice']}\npixel {tuple(px)} cell {record['cell']}")
    for i, (kind, values) in enumerate((("bank", record["class_mass"]), ("token", record["token"]))):
        if values is not None:
            axes[1, 0].bar(np.arange(c) + 0.4 * i - 0.2, values, 0.4, color=CLASS_COLOURS[:c], edgecolor="k",
                           hatch="//" if i else None, label=kind)
    axes[1, 0].set(xticks=np.arange(c), xticklabels=names, ylim=(0, 1), title="this pixel")
    axes[1, 0].legend(fontsize=7)
    for row, kind in enumerate(("bank", "token")):
        maps = record["maps"][kind]
        for k in range(c):
            _show(axes[row, k + 1], image, px, f"{kind} attention -> {names[k]}" if maps else f"{kind}: not used")
            if maps:
                im = axes[row, k + 1].imshow(upsample(np.asarray(maps[k]), image.shape, meta["input_size"]),
                                             cmap="magma", vmin=0, vmax=1, alpha=0.6, interpolation="nearest")
    fig.tight_layout()
    fig.colorbar(im, ax=axes[:, 1:], shrink=0.6, label="attention mass")
    return fig


def draw_entry(ax: plt.Axes, entry: dict[str, Any], drawn: dict[str, Any] | None, names: Sequence[str]) -> None:
    """One matched entry: its redrawn training image and scribble, the matched cell outlined; or "source unknown"."""
    from matplotlib.patches import Rectangle
    head = f"#{entry['rank']} {names[entry['class']]} w={entry['weight']:.3f}"
    if drawn is None:
        _show(ax, np.ones((2, 2)), None, head)
        ax.text(0.5, 0.5, "source unknown", ha="center", va="center", transform=ax.transAxes, fontsize=9)
        return
    _show(ax, drawn["image"], None, f"{head}\n{drawn['case']} (it {entry['source'][0]}, b {entry['source'][1]})")
    ax.imshow(drawn["scribble"], cmap=SCRIBBLE_CMAP, vmin=0, vmax=UNLABELLED, interpolation="nearest")
    ax.add_patch(Rectangle(drawn["box"][:2], *drawn["box"][2:], fill=False, ec="cyan", lw=2))


def render_matches(record: dict[str, Any], data_root: str | Path | None = None,
                   slices: SliceSet | None = None) -> plt.Figure:
    """Top-k matched entries on their redrawn training images (``slices``: the run's; else read from the data)."""
    meta, top = record["run"], record["top_k"]
    if slices is None and any(e["source"][0] >= 0 for e in top):
        slices = training_slices(meta, data_root)
    ncol, nrow = min(4, max(1, len(top))), max(1, -(-len(top) // 4))
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol, 3.2 * nrow), squeeze=False)
    for ax in axes.flat[len(top):]:
        ax.axis("off")
    for ax, e in zip(axes.flat, top):
        draw_entry(ax, e, redraw(slices, meta, e["source"], record["grid"]) if slices else None, meta["class_names"])
    fig.suptitle(f"top {len(top)} entries matched by pixel {tuple(record['pixel'])} of {record['case']}", fontsize=9)
    fig.tight_layout()
    return fig


def render_embedding(record: dict[str, Any]) -> plt.Figure:
    """t-SNE of bank keys (dots, by class) and the slice's pixel keys (stars, by ground-truth class), per model."""
    models, names = record["embedding"]["models"], record["run"]["class_names"]
    fig, axes = plt.subplots(1, max(1, len(models)), figsize=(5 * max(1, len(models)), 4.4), squeeze=False)
    for ax, (name, e) in zip(axes[0], models.items()):
        for kind, marker, size in (("bank", "o", 8), ("test", "*", 90)):
            xy, cls = np.asarray(e[f"{kind}_xy"]).reshape(-1, 2), np.asarray(e[f"{kind}_class"], dtype=int)
            for k in np.unique(cls):
                ax.scatter(*xy[cls == k].T, s=size, marker=marker, color=CLASS_COLOURS[k % len(CLASS_COLOURS)],
                           alpha=0.5 if kind == "bank" else 1.0, edgecolors="k" if kind == "test" else "none",
                           linewidths=0.5, label=f"{kind} {names[k]}")
        ax.set(xticks=[], yticks=[])
        ax.set_title(f"{name}: {len(e['bank_class'])} of {e['written_entries']} written bank entries, "
                     f"{len(e['test_class'])} test cells", fontsize=8)
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig


def draw_view(v: dict[str, Any], layers: Sequence[str], attention_class: int, meta: dict[str, Any],
              slices: SliceSet | None) -> plt.Figure:
    """The explorer's view (notebook 06): the slice with ``layers``, the pixel and its matched bank entries.

    ``v``: :meth:`scribcim.notebook.explorer.Explorer.view`; ``meta``: :func:`scribcim.runs.load.run_meta`;
    ``slices``: the run's training slices, to redraw each entry's source (None: entries without their source).
    """
    vol, z, match, names = v["volume"], v["slice_index"], v["match"], meta["class_names"]
    image, label, top = vol.image[z], vol.label[z], match["top_k"]
    ncol = max(1, math.ceil(len(top) / 2))
    fig = plt.figure(figsize=(5.0 + 2.4 * ncol, 6.0), layout="constrained")
    grid = fig.add_gridspec(2, 1 + ncol, width_ratios=[2.2] + [1] * ncol)
    ax = fig.add_subplot(grid[:, 0])
    ax.imshow(image, cmap="gray")
    if "attention" in layers:
        amap = upsample(v["attention"].maps()["bank"][attention_class], image.shape, meta["input_size"])
        im = ax.imshow(amap, cmap="magma", vmin=0, vmax=1, alpha=0.55, interpolation="nearest")
        fig.colorbar(im, ax=ax, shrink=0.5, label=f"bank attention -> {names[attention_class]}")
    if "prediction" in layers:
        ax.imshow(v["prediction"], cmap=LABEL_CMAP, vmin=0, vmax=3, interpolation="nearest")
    if "error map" in layers:
        ax.imshow((v["prediction"] != label).astype(np.uint8), cmap=ERROR_CMAP, vmin=0, vmax=1,
                  interpolation="nearest")
    if "ground truth" in layers:
        for k in range(1, len(names)):
            if (label == k).any():
                ax.contour(label == k, levels=[0.5], colors=[CLASS_COLOURS[k % len(CLASS_COLOURS)]],
                           linewidths=1.2)
    if "scribble" in layers:
        ax.imshow(vol.scribble[z], cmap=SCRIBBLE_CMAP, vmin=0, vmax=UNLABELLED, interpolation="nearest")
    r, c = match["pixel"]
    ax.plot(c, r, marker="+", color="cyan", ms=14, mew=2)
    mass = " ".join(f"{n} {w:.2f}" for n, w in zip(names, match["class_mass"]))
    tok = "" if match["token"] is None else "\ntoken: " + " ".join(
        f"{n} {w:.2f}" for n, w in zip(names, match["token"]))
    ax.set_title(f"{vol.case} z={z} ({', '.join(layers) or 'image'})\npixel ({r}, {c}) cell "
                 f"{tuple(match['cell'])}\nbank mass: {mass}{tok}", fontsize=8)
    ax.axis("off")
    for i, e in enumerate(top):
        sub = fig.add_subplot(grid[i // ncol, 1 + i % ncol])
        drawn = redraw(slices, meta, e["source"], v["attention"].grid) if slices is not None else None
        draw_entry(sub, e, drawn, names)
    return fig
