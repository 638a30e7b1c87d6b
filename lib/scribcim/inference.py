"""Slice-by-slice prediction of a 3D volume at the network's input size."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data.augment import resize_nearest


@torch.no_grad()
def predict_probs(model: nn.Module, image: np.ndarray, *, input_size: int, device: str | torch.device = "cpu",
                  batch_size: int = 16, bf16: bool = False) -> np.ndarray:
    """Class probabilities (C, z, y, x) of a volume ``image`` (z, y, x) at its original size.

    Each slice is resized (nearest, as in training) to ``input_size``, segmented, and its
    softmax is resized back bilinearly to the slice's size. The model must be in eval mode.
    """
    z, h, w = image.shape
    small = resize_nearest(image.astype(np.float32), (input_size, input_size))
    out = []
    for start in range(0, z, batch_size):
        x = torch.from_numpy(np.ascontiguousarray(small[start:start + batch_size, None])).to(device)
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            logits, _ = model(x)
        probs = logits.float().softmax(1)
        out.append(F.interpolate(probs, size=(h, w), mode="bilinear", align_corners=False).cpu())
    return torch.cat(out).permute(1, 0, 2, 3).numpy()


def predict_labels(model: nn.Module, image: np.ndarray, **kwargs) -> np.ndarray:
    """Label volume (z, y, x) uint8: argmax of :func:`predict_probs`."""
    return predict_probs(model, image, **kwargs).argmax(0).astype(np.uint8)
