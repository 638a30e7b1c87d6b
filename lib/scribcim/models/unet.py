"""The 2D UNet of the WSL4MIS family, returning ``(logits, features)``.

Encoder channels (16, 32, 64, 128, 256) with dropout (0.05, 0.1, 0.2, 0.3, 0.5); each level
is two 3x3 conv + BatchNorm + LeakyReLU; max-pool down, 2x2 transposed conv up, skips by
concatenation. The bottleneck is at 1/16 of the input, so inputs must be multiples of 16.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

CHANNELS = (16, 32, 64, 128, 256)
DROPOUT = (0.05, 0.1, 0.2, 0.3, 0.5)


class ConvBlock(nn.Sequential):
    """Two (3x3 conv, BatchNorm, LeakyReLU) with dropout between them."""

    def __init__(self, cin: int, cout: int, dropout: float = 0.0) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(),
            nn.Dropout(dropout),
            nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(),
        )


class Encoder(nn.Module):
    """Five levels; returns the feature map of every level, finest first."""

    def __init__(self, in_channels: int, channels: Sequence[int], dropout: Sequence[float]) -> None:
        super().__init__()
        self.levels = nn.ModuleList([ConvBlock(in_channels, channels[0], dropout[0])])
        for i in range(1, len(channels)):
            self.levels.append(nn.Sequential(nn.MaxPool2d(2), ConvBlock(channels[i - 1], channels[i], dropout[i])))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for level in self.levels:
            x = level(x)
            feats.append(x)
        return feats


class UpBlock(nn.Module):
    """2x2 transposed conv up, concatenate the skip, conv block."""

    def __init__(self, cin: int, cskip: int, cout: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cskip, 2, stride=2)
        self.conv = ConvBlock(2 * cskip, cout, 0.0)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class Decoder(nn.Module):
    """Four up blocks and a 3x3 classifier; returns (logits, last decoder feature)."""

    def __init__(self, channels: Sequence[int], num_classes: int) -> None:
        super().__init__()
        c = list(channels)
        self.ups = nn.ModuleList([UpBlock(c[i + 1], c[i], c[i]) for i in reversed(range(len(c) - 1))])
        self.head = nn.Conv2d(c[0], num_classes, 3, padding=1)

    def forward(self, bottleneck: torch.Tensor, skips: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x = bottleneck
        for up, skip in zip(self.ups, reversed(skips)):
            x = up(x, skip)
        return self.head(x), x


class UNet(nn.Module):
    """WSL4MIS 2D UNet.

    Args:
        in_channels: image channels.
        num_classes: output classes (background included).

    Example:
        >>> net = UNet(1, 4)
        >>> logits, feats = net(torch.zeros(2, 1, 64, 64))
        >>> tuple(logits.shape), tuple(feats["bottleneck"].shape)
        ((2, 4, 64, 64), (2, 256, 4, 4))
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 4,
                 channels: Sequence[int] = CHANNELS, dropout: Sequence[float] = DROPOUT) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.encoder = Encoder(in_channels, channels, dropout)
        self.decoder = Decoder(channels, num_classes)

    def forward(self, x: torch.Tensor, scribble: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Segment ``x`` (B, C, H, W). ``scribble`` is accepted for a uniform interface and unused.

        Returns:
            logits (B, num_classes, H, W) and a dict with ``bottleneck`` (B, 256, H/16, W/16)
            and ``decoder`` (B, 16, H, W) features.
        """
        feats = self.encoder(x)
        logits, dec = self.decoder(feats[-1], feats[:-1])
        return logits, {"bottleneck": feats[-1], "decoder": dec}
