"""The released CIM training step's behaviour, re-implemented for the benchmark (:mod:`scribcim.jobs.bench`).

Written from the description of the released code (not from its source): faithful sampling, Python-int
queue pointers with boolean-mask indexing, and a Dice loss that calls ``.item()`` once per class. Each of
these waits for the GPU; the benchmark times them against the project's sync-free step.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.volumes import UNLABELLED
from .cim import CIM, CIMConfig


class ReleasedCIM(CIM):
    """CIM with the released code's reference-set update: host-side pointers and boolean-mask indexing.

    Faithful sampling (bilinear resize of the one-hot scribble, ``== 1``) and zero means for absent
    classes (their tokens decay). The queue pointers are Python integers (``self.ptrs``), so the
    number of selected locations must come back to the host every step.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 4, *, bank_size: int = 1000,
                 momentum: float = 0.99) -> None:
        super().__init__(in_channels, num_classes,
                         cim=CIMConfig(bank_size=bank_size, momentum=momentum, faithful=True, sync_free=False))
        self.ptrs = [0] * num_classes

    @torch.no_grad()
    def update_reference(self, scribble: torch.Tensor, kp: torch.Tensor, vp: torch.Tensor,
                         tk: torch.Tensor, tv: torch.Tensor, origin=None, label=None) -> None:  # noqa: ANN001
        m, mom = self.cfg.bank_size, self.cfg.momentum
        onehot = torch.cat([(scribble == c).unsqueeze(1) for c in range(self.num_classes)], 1).float()
        lab = F.interpolate(onehot, size=tuple(kp.shape[-2:]), mode="bilinear", align_corners=True)
        keys, vals = kp.permute(0, 2, 3, 1).reshape(-1, kp.shape[1]), vp.permute(0, 2, 3, 1).reshape(-1, vp.shape[1])
        tks, tvs = tk.permute(0, 2, 3, 1).reshape(-1, tk.shape[1]), tv.permute(0, 2, 3, 1).reshape(-1, tv.shape[1])
        bank_k, bank_v = self.bank_keys.clone(), self.bank_values.clone()
        tok_k, tok_v = self.token_keys.clone(), self.token_values.clone()
        for c in range(self.num_classes):
            sel = (lab[:, c] == 1).reshape(-1)
            ck, cv = keys[sel].float(), vals[sel].float()  # boolean-mask indexing: the size comes from the GPU
            n = ck.shape[0]
            if n > 0:
                ck, cv = ck[-m:], cv[-m:]
                k, ptr = ck.shape[0], self.ptrs[c]
                first = min(k, m - ptr)
                bank_k[c, ptr:ptr + first], bank_v[c, ptr:ptr + first] = ck[:first], cv[:first]
                if first < k:  # wrap around
                    bank_k[c, :k - first], bank_v[c, :k - first] = ck[first:], cv[first:]
                self.ptrs[c] = (ptr + k) % m
                mean_k, mean_v = tks[sel].float().mean(0), tvs[sel].float().mean(0)
            else:
                mean_k, mean_v = torch.zeros_like(tok_k[c]), torch.zeros_like(tok_v[c])
            tok_k[c] = mom * tok_k[c] + (1 - mom) * mean_k
            tok_v[c] = mom * tok_v[c] + (1 - mom) * mean_v
        self.bank_keys, self.bank_values, self.token_keys, self.token_values = bank_k, bank_v, tok_k, tok_v
        self.bank_ptr = torch.tensor(self.ptrs, device=self.bank_ptr.device)


def released_loss(logits: torch.Tensor, scribble: torch.Tensor, *, dice_weight: float = 0.5,
                  smooth: float = 1e-5) -> tuple[torch.Tensor, list[float]]:
    """pCE + ``dice_weight`` x Dice against the argmax pseudo-label, one class at a time with ``.item()``.

    The same quantity as ``partial_ce + dice_weight * self_dice`` (up to summation order); returns the
    loss and the per-class Dice values the released code logs.
    """
    ce = F.cross_entropy(logits, scribble.long(), ignore_index=UNLABELLED)
    probs = logits.softmax(1)
    pseudo = probs.argmax(1).detach()
    target = torch.cat([(pseudo == c).unsqueeze(1) for c in range(probs.shape[1])], 1).float()
    dice, per_class = 0.0, []
    for c in range(probs.shape[1]):
        p, t = probs[:, c], target[:, c]
        loss_c = 1.0 - (2.0 * (p * t).sum() + smooth) / ((p * p).sum() + (t * t).sum() + smooth)
        per_class.append(1.0 - loss_c.item())  # host synchronisation, once per class
        dice = dice + loss_c
    return ce + dice_weight * dice / probs.shape[1], per_class
