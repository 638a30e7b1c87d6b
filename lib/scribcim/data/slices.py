"""Training slices cut from volumes, and deterministic batches of augmented slices.

A batch is a pure function of (seed, iteration): resuming at iteration ``i`` draws exactly
the batch an uninterrupted run would have drawn, with no sampler state to save. With ``pixel_mm``
the slices are seen through the millimetre view of :mod:`scribcim.data.frame` (the mapping that
``predict`` uses); without it, as the released code, each slice is augmented and resized whole.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from .augment import FrameAugmentation, augment_slice, draw_frame_augmentation, resize_nearest
from .frame import Frame, sample
from .volumes import UNLABELLED, Volume


@dataclass
class SliceSet:
    """All 2D slices of some volumes, kept at their original in-plane size, with their (dy, dx) spacing in mm."""

    images: list[np.ndarray]
    scribbles: list[np.ndarray]
    labels: list[np.ndarray]
    cases: list[str]
    dense_labels: bool = True
    spacings: list[tuple[float, float]] = field(default_factory=list)

    @classmethod
    def from_volumes(cls, volumes: Sequence[Volume]) -> "SliceSet":
        out = cls([], [], [], [])
        for v in volumes:
            out.dense_labels &= v.label is not None
            label = v.label if v.label is not None else np.zeros_like(v.scribble)
            for z in range(v.num_slices):
                out.images.append(v.image[z])
                out.scribbles.append(v.scribble[z])
                out.labels.append(label[z])
                out.cases.append(f"{v.case}:{z}")
                out.spacings.append((float(v.spacing[1]), float(v.spacing[2])))
        return out

    def __len__(self) -> int:
        return len(self.images)


def frame_slice(slices: SliceSet, i: int, frame: Frame, aug: FrameAugmentation | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, scribble, label) of slice ``i`` in the millimetre view, with augmentation ``aug`` (None: none)."""
    aug = aug or FrameAugmentation()
    img, spacing = slices.images[i], slices.spacings[i]
    rows, cols, inside = frame.indices(img.shape, spacing, angle_deg=aug.angle, scale=aug.scale, shift_mm=aug.shift_mm)
    out = (sample(img, rows, cols), sample(slices.scribbles[i], rows, cols, inside, UNLABELLED),
           sample(slices.labels[i], rows, cols))
    return tuple(np.ascontiguousarray(aug.dihedral(a)) for a in out)  # type: ignore[return-value]


def make_batch(slices: SliceSet, *, batch_size: int, size: tuple[int, int], seed: int,
               iteration: int, augment: bool = True, pixel_mm: float | None = None) -> dict[str, torch.Tensor]:
    """The batch of iteration ``iteration``: image (B,1,H,W) float32, scribble and label (B,H,W) int64,
    origin (B,2) int64 = (iteration, slice index) of each image. ``pixel_mm``: the millimetre view
    (:mod:`scribcim.data.frame`, square ``size``); None: whole slices augmented, then resized."""
    rng = np.random.default_rng([seed, iteration])
    idx = rng.choice(len(slices), size=batch_size, replace=len(slices) < batch_size)
    imgs, scribs, labs = [], [], []
    frame = Frame(size[0], pixel_mm) if pixel_mm is not None else None
    for i in idx:
        if frame is not None:
            img, scr, lab = frame_slice(slices, int(i), frame, draw_frame_augmentation(rng) if augment else None)
            imgs.append(img)
            scribs.append(scr)
            labs.append(lab)
            continue
        img, scr, lab = slices.images[i], slices.scribbles[i], slices.labels[i]
        if augment:
            img, scr, lab = augment_slice(img, scr, lab, rng)
        imgs.append(resize_nearest(img, size))
        scribs.append(resize_nearest(scr, size))
        labs.append(resize_nearest(lab, size))
    return {
        "image": torch.from_numpy(np.stack(imgs)[:, None].astype(np.float32)),
        "scribble": torch.from_numpy(np.stack(scribs).astype(np.int64)),
        "label": torch.from_numpy(np.stack(labs).astype(np.int64)),
        "origin": torch.from_numpy(np.stack([np.full(len(idx), iteration), idx], 1).astype(np.int64)),
    }
