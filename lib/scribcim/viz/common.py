"""Figures: training curves of runs and overlays of predictions on a test slice."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Iterator, Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from ..data.volumes import UNLABELLED

#: background transparent, RV blue, MYO green, LV red
_RV, _MYO, _LV = (0.12, 0.47, 0.9, 0.55), (0.2, 0.8, 0.3, 0.55), (0.9, 0.2, 0.2, 0.55)
LABEL_CMAP = ListedColormap([(0, 0, 0, 0), _RV, _MYO, _LV])
#: one solid colour per class (background grey), for points and contours
CLASS_COLOURS = [(0.45, 0.45, 0.45)] + [tuple(c[:3]) for c in LABEL_CMAP.colors[1:]]
#: scribbles: background strokes yellow, unlabelled (4) transparent
SCRIBBLE_CMAP = ListedColormap([(1.0, 0.85, 0.1, 0.9), _RV[:3] + (0.95,), _MYO[:3] + (0.95,), _LV[:3] + (0.95,),
                                (0, 0, 0, 0)])


def read_metrics(folder: Path) -> tuple[list[dict], list[dict]]:
    """(training records, validation records) of a run's ``metrics.jsonl`` or a results folder's copy."""
    from ..runs.display import train_log_path
    recs = [json.loads(line) for line in train_log_path(folder).read_text().splitlines() if line]
    return [r for r in recs if "loss" in r], [r for r in recs if "val_dice" in r]


def plot_curves(runs: Mapping[str, Path]) -> plt.Figure:
    """Training loss and validation Dice against iteration, one line per run (or results) folder."""
    fig, (ax_l, ax_v) = plt.subplots(1, 2, figsize=(10, 3.6))
    for label, run in runs.items():
        train, val = read_metrics(run)
        ax_l.plot([r["iteration"] for r in train], [r["loss"] for r in train], label=label, lw=1)
        ax_v.plot([r["iteration"] for r in val], [r["val_dice"] for r in val], marker="o", ms=3, label=label)
    ax_l.set(xlabel="iteration", ylabel="training loss", title="loss")
    ax_v.set(xlabel="iteration", ylabel="mean foreground Dice", title="validation (3D, val patients)", ylim=(0, 1))
    for ax in (ax_l, ax_v):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def draw_panel(ax: plt.Axes, image: np.ndarray, mask: np.ndarray | None = None, *, scribble: bool = False,
               title: str = "", fontsize: int = 9) -> None:
    """One overlay panel: the grey image, a label map (or a scribble, 4 = unlabelled) over it, a title."""
    ax.imshow(image, cmap="gray")
    if mask is not None:
        cmap, vmax = (SCRIBBLE_CMAP, UNLABELLED) if scribble else (LABEL_CMAP, 3)
        ax.imshow(mask, cmap=cmap, vmin=0, vmax=vmax, interpolation="nearest")
    ax.set_title(title, fontsize=fontsize)
    ax.axis("off")


def plot_overlays(image: np.ndarray, scribble: np.ndarray, label: np.ndarray,
                  predictions: Mapping[str, np.ndarray], *, title: str = "") -> plt.Figure:
    """One slice: image, scribble, ground truth and each prediction as colour overlays."""
    panels = {"image": None, "scribble": scribble, "ground truth": label, **predictions}
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.9))
    for ax, (name, mask) in zip(np.atleast_1d(axes), panels.items()):
        draw_panel(ax, image, mask, scribble=name == "scribble", title=name, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


@contextlib.contextmanager
def fixed_jitter(seed: int = 0) -> Iterator[None]:
    """Seed numpy's global generator inside the block (seaborn's strip-plot jitter draws from it), then
    restore it: figures with jittered points come out the same on every run."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def save_figure(fig: plt.Figure, path: Path, provenance: dict) -> Path:
    """Save ``fig`` as PNG with a ``<name>.json`` provenance file beside it.

    A figure whose bytes are already in ``path`` is not rewritten, nor is its provenance unless something
    besides its volatile fields (date, commit, command) changed: redrawing unchanged figures changes no file.
    """
    import io

    from ..runs.log import write_json, write_json_if_changed
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    if path.is_file() and path.read_bytes() == buf.getvalue():
        write_json_if_changed(path.with_suffix(".json"), provenance)
        return path
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)
    write_json(path.with_suffix(".json"), provenance)
    return path
