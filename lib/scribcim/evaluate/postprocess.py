"""nnU-Net-style connected-component post-processing, chosen per run on the validation patients.

Scribble-supervised networks predict false-positive blobs far from the heart (far-field blobs). Keeping only
the largest connected component of the foreground removes them, but it helps only where the heart is the
largest predicted thing: where a far blob is bigger than the heart, it deletes the heart instead. So, like
nnU-Net (which keeps a post-processing step only where it raises the cross-validation Dice), the step is
chosen on the validation volumes of the run, never on the test volumes:

* start at ``"none"``;
* move to ``"largest_fg"`` only if its mean validation Dice is strictly greater than ``"none"``'s;
* then move to ``"largest_fg_classes"`` only if its mean validation Dice is strictly greater than the
  current choice's.

A step that does not raise the validation Dice is not taken (equal keeps the simpler choice).
Components use full 26-connectivity (voxels touching by a face, an edge or a corner are connected).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from ..errors import ConfigError
from .metrics import fast_dice, validation_dice

log = logging.getLogger(__name__)

#: the file in a run folder that holds the choice for each evaluated checkpoint (``evaluate`` writes it, ``predict``
#: applies it)
POSTPROCESSING = "postprocessing.json"
#: the post-processing choices, simplest first
CANDIDATES: tuple[str, ...] = ("none", "largest_fg", "largest_fg_classes")
#: the foreground classes kept to their largest component by ``largest_fg_classes``
CLASSES: tuple[int, ...] = (1, 2, 3)
#: the decision rule as :func:`choose` reports it
RULE = ("nnU-Net: start at 'none'; take 'largest_fg' only if its mean validation Dice is strictly greater; then "
        "take 'largest_fg_classes' only if strictly greater than the current choice (equal keeps the simpler)")
#: the connectivity of every 3D component (26-connectivity), here and in scribcim.analysis.islands
COMPONENTS = ndimage.generate_binary_structure(3, 3)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """Boolean mask of the largest 3D connected component of ``mask`` (26-connectivity).

    An empty mask gives an empty mask; on ties the component with the lowest label index is kept.
    """
    mask = np.asarray(mask, dtype=bool)
    labelled, n = ndimage.label(mask, structure=COMPONENTS)
    if n == 0:
        return np.zeros(mask.shape, dtype=bool)
    sizes = np.bincount(labelled.ravel(), minlength=n + 1)[1:]
    return labelled == int(np.argmax(sizes)) + 1  # argmax returns the first (lowest label) maximum


def _check_choice(choice: str) -> None:
    """Raise ConfigError unless ``choice`` is one of :data:`CANDIDATES`."""
    if choice not in CANDIDATES:
        raise ConfigError(f"unknown post-processing {choice!r}: use one of {', '.join(CANDIDATES)}")


def apply(pred: np.ndarray, choice: str) -> np.ndarray:
    """Post-process one label volume (z, y, x); returns a new array of the same dtype and shape.

    ``none``: unchanged. ``largest_fg``: keep the largest connected component of the foreground (``pred > 0``),
    other foreground voxels become 0. ``largest_fg_classes``: ``largest_fg``, then for each class 1..3 keep only
    that class's largest component, other voxels of the class become 0. Unknown ``choice``: ConfigError.
    """
    _check_choice(choice)
    out = np.array(pred, copy=True)
    if choice == "none":
        return out
    fg = out > 0
    out[fg & ~largest_component(fg)] = 0
    if choice == "largest_fg_classes":
        for c in CLASSES:
            m = out == c
            if m.any():
                out[m & ~largest_component(m)] = 0
    return out


def _mean_dice(preds: Sequence[np.ndarray], labels: Sequence[np.ndarray], choice: str) -> float:
    """The validation Dice after ``choice``, as the training loop's best checkpoint is chosen
    (:func:`~scribcim.evaluate.metrics.validation_dice`)."""
    return validation_dice([fast_dice(apply(pred, choice), gt, CLASSES) for pred, gt in zip(preds, labels)])


def choose(preds: Sequence[np.ndarray], labels: Sequence[np.ndarray]) -> dict[str, Any]:
    """Choose the post-processing on validation volumes by nnU-Net's rule (see the module docstring).

    Returns ``{"choice": str, "val_dice": {candidate: float}, "rule": str, "volumes": int}``; ConfigError when
    there are no volumes or ``preds`` and ``labels`` differ in number.
    """
    if len(preds) != len(labels):
        raise ConfigError(f"post-processing choice: {len(preds)} predictions but {len(labels)} references")
    if not len(preds):
        raise ConfigError("post-processing choice needs at least one validation volume: none given")
    val_dice = {c: _mean_dice(preds, labels, c) for c in CANDIDATES}
    choice = "none"
    if val_dice["largest_fg"] > val_dice[choice]:
        choice = "largest_fg"
    if val_dice["largest_fg_classes"] > val_dice[choice]:
        choice = "largest_fg_classes"
    log.info("post-processing on %d validation volumes: %s (val Dice %s)", len(preds), choice,
             ", ".join(f"{c} {d:.4f}" for c, d in val_dice.items()))
    return {"choice": choice, "val_dice": val_dice, "rule": RULE, "volumes": len(preds)}
