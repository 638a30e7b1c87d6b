"""Slice-level augmentation and resizing (numpy), as in the released WSL4MIS/CIM code, and its millimetre twin.

With probability 0.5 a random rot90 (k in 0..3) and a random flip; otherwise, with
probability 0.5, a rotation by a uniform angle in [-20, 20] degrees (nearest-neighbour;
new border pixels get 0 in the image and label and the unlabelled value 4 in the
scribble). Then a nearest-neighbour resize to the input size.

In the millimetre view (:mod:`scribcim.data.frame`) the same rot90+flip / rotation draw is followed by a
zoom in [0.9, 1.1] and a shift of up to 10 mm along each axis (:func:`draw_frame_augmentation`); the
window is sampled once, directly from the slice, with all of it applied.
"""
from __future__ import annotations

import numpy as np
from dataclasses import dataclass

from scipy import ndimage

from .volumes import UNLABELLED

MAX_ANGLE = 20.0
MAX_ZOOM = 0.1        # millimetre view: scale uniform in [1 - MAX_ZOOM, 1 + MAX_ZOOM]
MAX_SHIFT_MM = 10.0   # millimetre view: window centre shifted uniformly by up to this along each axis


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


@dataclass(frozen=True)
class FrameAugmentation:
    """One slice's augmentation in the millimetre view: rot90 ``k`` then a flip of ``axis`` (None: none), or a
    rotation by ``angle`` degrees; then ``scale`` (> 1 zooms in) and ``shift_mm`` (y, x) of the window."""

    k: int = 0
    axis: int | None = None
    angle: float = 0.0
    scale: float = 1.0
    shift_mm: tuple[float, float] = (0.0, 0.0)

    def dihedral(self, arr: np.ndarray) -> np.ndarray:
        """The rot90 + flip part, applied to a square sample (the window is centred, so this is exact)."""
        return arr if self.axis is None else np.flip(np.rot90(arr, self.k), axis=self.axis)


def draw_frame_augmentation(rng: np.random.Generator) -> FrameAugmentation:
    """The millimetre view's augmentation of one slice, drawn as :func:`augment_slice` draws, plus zoom and shift."""
    k, axis, angle = 0, None, 0.0
    if rng.random() > 0.5:
        k, axis = int(rng.integers(0, 4)), int(rng.integers(0, 2))
    elif rng.random() > 0.5:
        angle = float(rng.uniform(-MAX_ANGLE, MAX_ANGLE))
    scale = float(rng.uniform(1.0 - MAX_ZOOM, 1.0 + MAX_ZOOM))
    dy, dx = (float(v) for v in rng.uniform(-MAX_SHIFT_MM, MAX_SHIFT_MM, 2))
    return FrameAugmentation(k=k, axis=axis, angle=angle, scale=scale, shift_mm=(dy, dx))
