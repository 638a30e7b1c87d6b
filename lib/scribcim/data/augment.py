"""Slice-level augmentation and resizing (numpy), as in the released WSL4MIS/CIM code.

With probability 0.5 a random rot90 (k in 0..3) and a random flip; otherwise, with
probability 0.5, a rotation by a uniform angle in [-20, 20] degrees (nearest-neighbour;
new border pixels get 0 in the image and label and the unlabelled value 4 in the
scribble). Then a nearest-neighbour resize to the input size.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from .volumes import UNLABELLED

MAX_ANGLE = 20.0


def resize_nearest(arr: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of the last two axes to ``shape`` (pixel-centre aligned)."""
    h, w = arr.shape[-2:]
    rows = np.minimum(((np.arange(shape[0]) + 0.5) * h / shape[0]).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(shape[1]) + 0.5) * w / shape[1]).astype(np.int64), w - 1)
    return arr[..., rows[:, None], cols[None, :]]


def augment_slice(image: np.ndarray, scribble: np.ndarray, label: np.ndarray,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Randomly rot90+flip or rotate one (image, scribble, label) slice triple."""
    if rng.random() > 0.5:
        k, axis = int(rng.integers(0, 4)), int(rng.integers(0, 2))
        image, scribble, label = (np.flip(np.rot90(a, k), axis=axis) for a in (image, scribble, label))
    elif rng.random() > 0.5:
        angle = float(rng.uniform(-MAX_ANGLE, MAX_ANGLE))
        rot = dict(angle=angle, order=0, reshape=False, mode="constant")
        image = ndimage.rotate(image, cval=0.0, **rot)
        scribble = ndimage.rotate(scribble, cval=UNLABELLED, **rot)
        label = ndimage.rotate(label, cval=0, **rot)
    return np.ascontiguousarray(image), np.ascontiguousarray(scribble), np.ascontiguousarray(label)
