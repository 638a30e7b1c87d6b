"""Slice-by-slice prediction of a 3D volume at the network's input size.

:func:`predict_volume` sees each slice through a run's :class:`scribcim.data.frame.Frame`, as training
did: validation, ``evaluate`` and the notebooks call it. For the whole-slice view it is
:func:`predict_probs` (each whole slice resized to the input size); for the millimetre view it is
:func:`predict_probs_at_scale`, which maps each slice so that one model pixel covers a given number of
mm (:mod:`scribcim.evaluate.geometry`; ``predict`` uses it for scans of any field of view and spacing).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.augment import resize_nearest
from ..data.frame import Frame
from ..errors import ConfigError
from .geometry import from_model, to_model


def _forward(model: nn.Module, small: np.ndarray, back: Callable[[torch.Tensor], torch.Tensor], *,
             device: str | torch.device, batch_size: int, bf16: bool) -> np.ndarray:
    """Softmax of ``small`` (z, S, S) in batches of slices, each mapped back by ``back``; (C, z, y, x)."""
    out = []
    for start in range(0, small.shape[0], batch_size):
        x = torch.from_numpy(np.ascontiguousarray(small[start:start + batch_size, None])).to(device)
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            logits, _ = model(x)
        out.append(back(logits.float().softmax(1)).cpu())
    return torch.cat(out).permute(1, 0, 2, 3).numpy()


@torch.no_grad()
def predict_probs(model: nn.Module, image: np.ndarray, *, input_size: int, device: str | torch.device = "cpu",
                  batch_size: int = 16, bf16: bool = False) -> np.ndarray:
    """Class probabilities (C, z, y, x) of a volume ``image`` (z, y, x) at its original size.

    Each slice is resized (nearest, as in training) to ``input_size``, segmented, and its
    softmax is resized back bilinearly to the slice's size. The model must be in eval mode.
    """
    z, h, w = image.shape
    small = resize_nearest(image.astype(np.float32), (input_size, input_size))
    return _forward(model, small, lambda p: F.interpolate(p, size=(h, w), mode="bilinear", align_corners=False),
                    device=device, batch_size=batch_size, bf16=bf16)


@torch.no_grad()
def predict_probs_at_scale(model: nn.Module, image: np.ndarray, *, spacing_yx: Sequence[float],
                           mm_per_pixel: Sequence[float], input_size: int, device: str | torch.device = "cpu",
                           batch_size: int = 16, bf16: bool = False) -> np.ndarray:
    """Class probabilities (C, z, y, x) of ``image`` (z, y, x) with in-plane spacing ``spacing_yx`` (mm),
    each slice seen by the model with one pixel covering ``mm_per_pixel`` (y, x) mm
    (:mod:`scribcim.evaluate.geometry`)."""
    small = to_model(image.astype(np.float32), spacing_yx, mm_per_pixel, input_size)
    return _forward(model, small, lambda p: from_model(p, image.shape[1:], spacing_yx, mm_per_pixel),
                    device=device, batch_size=batch_size, bf16=bf16)


def predict_volume(model: nn.Module, image: np.ndarray, *, frame: Frame, spacing_yx: Sequence[float] | None = None,
                   device: str | torch.device = "cpu", batch_size: int = 16, bf16: bool = False) -> np.ndarray:
    """Class probabilities (C, z, y, x) of ``image`` (z, y, x) seen through ``frame`` (in-plane spacing
    ``spacing_yx`` mm, needed by the millimetre view)."""
    kw = dict(device=device, batch_size=batch_size, bf16=bf16)
    if frame.pixel_mm is None:
        return predict_probs(model, image, input_size=frame.size, **kw)
    if spacing_yx is None:
        raise ConfigError("the millimetre view needs the scan's in-plane spacing (spacing_yx)")
    p = float(frame.pixel_mm)
    return predict_probs_at_scale(model, image, spacing_yx=spacing_yx, mm_per_pixel=(p, p), input_size=frame.size,
                                  **kw)


def predict_labels(model: nn.Module, image: np.ndarray, *, frame: Frame | None = None, input_size: int | None = None,
                   **kwargs) -> np.ndarray:
    """Label volume (z, y, x) uint8: argmax of :func:`predict_volume` (``input_size`` alone: the whole-slice
    view)."""
    if frame is None:
        if input_size is None:
            raise ConfigError("predict_labels needs a frame or an input_size")
        frame = Frame(int(input_size))
    return predict_volume(model, image, frame=frame, **kwargs).argmax(0).astype(np.uint8)
