"""Training slices cut from volumes, and deterministic batches of augmented slices.

A batch is a pure function of (seed, iteration): resuming at iteration ``i`` draws exactly
the batch an uninterrupted run would have drawn, with no sampler state to save.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .augment import augment_slice, resize_nearest
from .volumes import Volume


@dataclass
class SliceSet:
    """All 2D slices of some volumes, kept at their original in-plane size."""

    images: list[np.ndarray]
    scribbles: list[np.ndarray]
    labels: list[np.ndarray]
    cases: list[str]
    dense_labels: bool = True

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
        return out

    def __len__(self) -> int:
        return len(self.images)


def make_batch(slices: SliceSet, *, batch_size: int, size: tuple[int, int], seed: int,
               iteration: int, augment: bool = True) -> dict[str, torch.Tensor]:
    """The batch of iteration ``iteration``: image (B,1,H,W) float32, scribble and label (B,H,W) int64,
    origin (B,2) int64 = (iteration, slice index) of each image."""
    rng = np.random.default_rng([seed, iteration])
    idx = rng.choice(len(slices), size=batch_size, replace=len(slices) < batch_size)
    imgs, scribs, labs = [], [], []
    for i in idx:
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
