"""A UNet with an auxiliary decoder fed perturbed encoder features (for DMPLS, Luo et al. 2022).

The main decoder sees the encoder features as they are; the auxiliary decoder sees them
through feature dropout (``aux_dropout``, applied in training only). At evaluation only the
main decoder's logits are returned as the prediction.
"""
from __future__ import annotations

import torch

from .unet import CHANNELS, Decoder, UNet, dropout


class DualDecoderUNet(UNet):
    """UNet + auxiliary decoder. ``forward`` returns ``(logits, features)`` with ``aux_logits`` in training.

    Example:
        >>> net = DualDecoderUNet(1, 4)
        >>> logits, f = net(torch.zeros(2, 1, 32, 32))
        >>> tuple(f["aux_logits"].shape)
        (2, 4, 32, 32)
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 4, *, aux_dropout: float = 0.5,
                 upsample: str = "bilinear") -> None:
        super().__init__(in_channels, num_classes, upsample=upsample)
        self.aux_decoder = Decoder(CHANNELS, num_classes, upsample)
        self.aux_dropout = aux_dropout

    def forward(self, x: torch.Tensor, scribble: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        feats = self.encoder(x)
        logits, dec = self.decoder(feats[-1], feats[:-1])
        out = {"bottleneck": feats[-1], "decoder": dec}
        if self.training:
            noisy = [dropout(f, self.aux_dropout) for f in feats]
            out["aux_logits"], _ = self.aux_decoder(noisy[-1], noisy[:-1])
        return logits, out
