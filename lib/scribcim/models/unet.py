"""The 2D UNet of the WSL4MIS family, returning ``(logits, features)``.

Encoder channels (16, 32, 64, 128, 256) with dropout (0.05, 0.1, 0.2, 0.3, 0.5); each level
is two 3x3 conv + BatchNorm + LeakyReLU; max-pool down, skips by concatenation. The bottleneck
is at 1/16 of the input, so inputs must be multiples of 16.

Up-sampling as released (``upsample="bilinear"``, the default): a 1x1 conv to the skip's width,
then bilinear x2 with ``align_corners=True``. ``upsample="transposed"`` (a 2x2 transposed conv,
WSL4MIS's non-default option) is kept for runs made before the correction.

Dropout masks are drawn in the logical (N, C, H, W) order whatever the tensor's memory format
(:class:`Dropout`), so a seed names the same run with and without ``channels_last``.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

CHANNELS = (16, 32, 64, 128, 256)
DROPOUT = (0.05, 0.1, 0.2, 0.3, 0.5)
UPSAMPLE = ("bilinear", "transposed")


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Element dropout whose mask does not depend on ``x``'s memory format.

    The mask is drawn as a contiguous (logical-order) tensor, so the same generator state drops
    the same elements of a ``channels_last`` and a contiguous ``x`` (``nn.Dropout`` draws in
    memory order, so there the two would differ).
    """
    if not training or p == 0.0:
        return x
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    keep = torch.empty(x.shape, device=x.device, dtype=torch.float32).bernoulli_(1.0 - p)
    return x * keep.to(x.dtype) / (1.0 - p)


class Dropout(nn.Module):
    """:func:`dropout` as a module (drop-in for ``nn.Dropout``)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class ConvBlock(nn.Sequential):
    """Two (3x3 conv, BatchNorm, LeakyReLU) with dropout between them."""

    def __init__(self, cin: int, cout: int, dropout: float = 0.0) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(),
            Dropout(dropout),
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
    """Up-sample x2 to the skip's width, concatenate (skip first), conv block.

    ``mode="bilinear"`` (released): 1x1 conv then bilinear x2, ``align_corners=True``;
    ``mode="transposed"``: one 2x2 transposed conv with stride 2.
    """

    def __init__(self, cin: int, cskip: int, cout: int, mode: str = "bilinear") -> None:
        super().__init__()
        if mode not in UPSAMPLE:
            raise ValueError(f"upsample must be one of {UPSAMPLE}, got {mode!r}")
        self.mode = mode
        if mode == "bilinear":
            self.conv1x1 = nn.Conv2d(cin, cskip, 1)
        else:
            self.up = nn.ConvTranspose2d(cin, cskip, 2, stride=2)
        self.conv = ConvBlock(2 * cskip, cout, 0.0)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        if self.mode == "bilinear":
            x = nn.functional.interpolate(self.conv1x1(x), scale_factor=2, mode="bilinear", align_corners=True)
        else:
            x = self.up(x)
        return self.conv(torch.cat([skip, x], dim=1))


class Decoder(nn.Module):
    """Four up blocks (coarsest first) and a 3x3 classifier; returns (logits, last decoder feature)."""

    def __init__(self, channels: Sequence[int], num_classes: int, upsample: str = "bilinear") -> None:
        super().__init__()
        c = list(channels)
        self.ups = nn.ModuleList([UpBlock(c[i + 1], c[i], c[i], upsample) for i in reversed(range(len(c) - 1))])
        self.head = nn.Conv2d(c[0], num_classes, 3, padding=1)

    def run(self, x: torch.Tensor, skips: Sequence[torch.Tensor], start: int = 0, stop: int | None = None
            ) -> torch.Tensor:
        """Up blocks ``start..stop-1`` on ``x``; ``skips`` finest first, as the encoder returns them."""
        coarse_first = list(reversed(skips))
        for i in range(start, len(self.ups) if stop is None else stop):
            x = self.ups[i](x, coarse_first[i])
        return x

    def forward(self, bottleneck: torch.Tensor, skips: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.run(bottleneck, skips)
        return self.head(x), x


class UNet(nn.Module):
    """WSL4MIS 2D UNet.

    Args:
        in_channels: image channels.
        num_classes: output classes (background included).
        upsample: ``"bilinear"`` (released: 1x1 conv + bilinear x2) or ``"transposed"``.

    Example:
        >>> net = UNet(1, 4)
        >>> logits, feats = net(torch.zeros(2, 1, 64, 64))
        >>> tuple(logits.shape), tuple(feats["bottleneck"].shape)
        ((2, 4, 64, 64), (2, 256, 4, 4))
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 4,
                 channels: Sequence[int] = CHANNELS, dropout: Sequence[float] = DROPOUT,
                 upsample: str = "bilinear") -> None:
        super().__init__()
        self.num_classes = num_classes
        self.encoder = Encoder(in_channels, channels, dropout)
        self.decoder = Decoder(channels, num_classes, upsample)

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
