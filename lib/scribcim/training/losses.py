"""Losses for scribble supervision."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.volumes import UNLABELLED


def partial_ce(logits: torch.Tensor, scribble: torch.Tensor, *, ignore_index: int = UNLABELLED) -> torch.Tensor:
    """Cross-entropy over scribbled pixels only (``ignore_index`` pixels get no gradient).

    Returns 0 (with a graph) when a batch has no scribbled pixel. No host synchronisation: the
    mean is the sum over scribbled pixels divided by their count (at least 1), on the device.
    """
    total = F.cross_entropy(logits.float(), scribble.long(), ignore_index=ignore_index, reduction="sum")
    return total / (scribble != ignore_index).sum().clamp(min=1)


def soft_dice_loss(probs: torch.Tensor, target: torch.Tensor, *, smooth: float = 1e-5) -> torch.Tensor:
    """Mean over classes of 1 - (2|P*T| + s) / (|P|^2 + |T|^2 + s), sums over batch and pixels.

    Args:
        probs: (B, C, H, W) probabilities. target: (B, C, H, W) one-hot (or soft) target.
    """
    dims = (0, 2, 3)
    inter = (probs * target).sum(dims)
    denom = (probs * probs).sum(dims) + (target * target).sum(dims)
    return (1.0 - (2.0 * inter + smooth) / (denom + smooth)).mean()


def self_dice(logits: torch.Tensor) -> torch.Tensor:
    """Dice of the softmax against its own detached hard pseudo-label (argmax), averaged over classes."""
    probs = logits.float().softmax(1)
    pseudo = F.one_hot(probs.argmax(1), probs.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
    return soft_dice_loss(probs, pseudo.detach())


def partial_dice(logits: torch.Tensor, scribble: torch.Tensor, *, ignore_index: int = UNLABELLED) -> torch.Tensor:
    """Soft Dice restricted to scribbled pixels (the nnU-Net-style ignore-label Dice)."""
    probs = logits.float().softmax(1)
    mask = (scribble != ignore_index).unsqueeze(1).to(probs.dtype)
    target = F.one_hot(scribble.long().clamp(0, probs.shape[1] - 1), probs.shape[1]).permute(0, 3, 1, 2)
    return soft_dice_loss(probs * mask, target.to(probs.dtype) * mask)


def dense_ce_dice(logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """0.5 cross-entropy + 0.5 soft Dice against a dense label (full supervision)."""
    probs = logits.float().softmax(1)
    target = F.one_hot(label.long(), probs.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
    return 0.5 * F.cross_entropy(logits.float(), label.long()) + 0.5 * soft_dice_loss(probs, target)


def mixed_pseudo_label_dice(logits_a: torch.Tensor, logits_b: torch.Tensor, beta: float) -> torch.Tensor:
    """DMPLS: Dice of both branches against argmax(beta * p_a + (1 - beta) * p_b), averaged."""
    pa, pb = logits_a.float().softmax(1), logits_b.float().softmax(1)
    pseudo = (beta * pa + (1.0 - beta) * pb).argmax(1).detach()
    target = F.one_hot(pseudo, pa.shape[1]).permute(0, 3, 1, 2).to(pa.dtype)
    return 0.5 * (soft_dice_loss(pa, target) + soft_dice_loss(pb, target))
