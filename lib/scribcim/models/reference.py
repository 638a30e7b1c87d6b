"""Which bottleneck cells feed CIM's reference set, and what the bank entries are (a diagnostic).

A *cell* is the block of input pixels behind one location of the matching grid (H/h x W/w).

Sampling rules (``CIMConfig.sampling``; ``faithful=True`` always means ``"released"``):

* ``"released"``: the one-hot scribble resized bilinearly (align_corners=True) to the grid and
  locations equal to exactly 1 kept (for 256 -> 16 only a stride-17 grid of pixels is seen);
* ``"any"``: a cell goes to class c's bank when any of its pixels is scribbled with c (a cell
  with several scribbled classes goes to several banks);
* ``"majority"``: a cell goes to class c's bank only when c holds more than half of the cell's
  scribbled pixels (so to at most one bank).

Bank purity (measured, never trained on): for every entry, the most frequent *dense* label of
its cell (-1 when no dense label came with the batch) and whether the same cell went into
another class's bank in its step. :func:`bank_purity` turns them into per-class fractions.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SAMPLING = ("any", "majority", "released")
CLASS_KEYS = {1: "RV", 2: "MYO", 3: "LV"}


def cell_counts(onehot: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, C, H, W) 0/1 maps -> (B, C, h, w) pixel counts per cell (H, W multiples of h, w)."""
    b, c, hh, ww = onehot.shape
    h, w = size
    if hh % h or ww % w:
        raise ValueError(f"input {hh}x{ww} is not a multiple of the grid {h}x{w}")
    return onehot.reshape(b, c, h, hh // h, w, ww // w).sum((3, 5))


def class_onehot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B, H, W) integer map -> (B, C, H, W) float one-hot; values >= C (unlabelled) give all zeros."""
    onehot = F.one_hot(labels.long().clamp(0, num_classes), num_classes + 1)
    return onehot[..., :num_classes].permute(0, 3, 1, 2).float()


def scribble_mask(scribble: torch.Tensor, size: tuple[int, int], num_classes: int, sampling: str) -> torch.Tensor:
    """(B, C, h, w) bool: which grid cells each class's scribble puts into that class's bank."""
    onehot = class_onehot(scribble, num_classes)
    if sampling == "released":
        return F.interpolate(onehot, size=size, mode="bilinear", align_corners=True) == 1
    if sampling == "any":
        return F.adaptive_max_pool2d(onehot, size) > 0
    if sampling == "majority":
        counts = cell_counts(onehot, size)
        return 2 * counts > counts.sum(1, keepdim=True)
    raise ValueError(f"sampling must be one of {SAMPLING}, got {sampling!r}")


def cell_info(mask: torch.Tensor, label: torch.Tensor | None, num_classes: int) -> torch.Tensor:
    """(B, h, w, 2) long per cell: its most frequent dense label (-1 without ``label``) and whether
    ``mask`` selects it for more than one class (0/1)."""
    b, _, h, w = mask.shape
    shared = (mask.sum(1) > 1).long()
    if label is None:
        majority = torch.full_like(shared, -1)
    else:
        majority = cell_counts(class_onehot(label, num_classes), (h, w)).argmax(1)
    return torch.stack([majority, shared], -1)


def bank_purity(bank_cell: torch.Tensor) -> tuple[dict[str, float], dict[str, float]]:
    """(purity, shared) keyed RV / MYO / LV from a (C, M, 2) ``bank_cell`` buffer.

    purity: the fraction of the class's entries whose cell's most frequent dense label is the class;
    shared: the fraction whose cell also went into another class's bank. Only entries with a known
    cell label count (NaN when there are none).
    """
    purity, shared = {}, {}
    for c, name in CLASS_KEYS.items():
        if c >= bank_cell.shape[0]:
            continue
        known = bank_cell[c, :, 0] >= 0
        n = int(known.sum())
        purity[name] = float((bank_cell[c, known, 0] == c).sum()) / n if n else math.nan
        shared[name] = float(bank_cell[c, known, 1].sum()) / n if n else math.nan
    return purity, shared


def entry_sources(sel: torch.Tensor, origin: torch.Tensor | None) -> torch.Tensor:
    """(n, 5) rows (iteration, batch position, slice index, row, col) of the selected locations."""
    where = sel.nonzero()  # (n, 3): b, y, x, in the same order as boolean indexing
    if origin is None:
        return torch.full((where.shape[0], 5), -1, dtype=torch.long, device=sel.device)
    o = origin.to(sel.device).long()[where[:, 0]]
    return torch.cat([o[:, :1], where[:, :1], o[:, 1:2], where[:, 1:]], 1)
