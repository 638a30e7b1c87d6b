"""An exponential moving average of a model's weights, the weights a run validates and is scored with.

``ema = d * ema + (1 - d) * weights`` after optimiser step t, with d = min(decay, (1 + t) / (10 + t)),
so that the average is not dominated by the initial weights early on. Buffers are copied, not
averaged: BatchNorm statistics follow the live model, and CIM's reference set (FIFO banks, class
tokens) must stay a set of real entries, which an average of slots would not be.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class WeightEMA:
    """Keeps ``model``: an eval-mode copy of the tracked network with averaged parameters.

    Example:
        >>> net = nn.Linear(2, 1)
        >>> ema = WeightEMA(net, decay=0.9)
        >>> with torch.no_grad():
        ...     _ = net.weight.add_(1.0)
        >>> ema.update(net, step=1000)
        >>> bool(torch.allclose(ema.model.weight, net.weight - 0.9))
        True
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def decay_at(self, step: int) -> float:
        """The decay used after optimiser step ``step`` (1-based): warmed up, then ``decay``."""
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Average towards ``model``'s parameters after optimiser step ``step``; copy its buffers."""
        ema_params = list(self.model.parameters())
        torch._foreach_lerp_(ema_params, [p.detach() for p in model.parameters()], 1.0 - self.decay_at(step))
        for target, buf in zip(self.model.buffers(), model.buffers()):
            target.copy_(buf)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)
