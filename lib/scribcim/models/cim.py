"""Cross Image Matching (CIM, Chen et al., IEEE TIP 2025) on top of the WSL4MIS UNet.

Four conv-block heads on the bottleneck feature ``f`` give pixel keys/values (Kp 32-d,
Vp 128-d) and token keys/values (Kt 32-d, Vt 128-d). A reference set kept in buffers
(saved in checkpoints, never learned) holds, per class, a FIFO bank of M (key, value)
pixel entries and one EMA class token. At every bottleneck location p:

* smoothing:  S(p) = sum_m softmax_m(<Kp(p), key_m>) value_m over all C*M bank entries;
* regression: R(p) = sum_c softmax_c(<Kt(p), tokenkey_c>) tokenvalue_c;
* fusion:     the decoder receives concat(Vp, S) + concat(Vt, R) in place of ``f``.

After the forward pass, in training mode and only when a scribble is given, the scribbled
locations of each class (at bottleneck resolution) push their (Kp, Vp) into that class's
bank and move its token: t <- momentum * t + (1 - momentum) * mean. When the batch's
``origin`` (iteration, slice index per image) is given, ``bank_source`` records where each
bank entry came from: (iteration, batch position, slice index, row, column at bottleneck
resolution), -1 where unknown; batches are a function of (seed, iteration), so the exact
augmented image an entry was taken from can be redrawn (see :mod:`scribcim.matching`).

Differences between the default (corrected) behaviour and ``faithful=True`` (the released
code):

* Sampling. Released: the one-hot scribble is resized bilinearly (align_corners=True) to
  the bottleneck grid and locations equal to exactly 1 are kept; for 256 -> 16 this only
  sees the stride-17 grid of input pixels, so almost every scribbled pixel is ignored.
  Corrected: a bottleneck cell is selected for class c when any pixel of its receptive
  cell (H/h x W/w block) is scribbled with c (max-pooling of the one-hot scribble).
* Absent classes. Released: a class with no selected location in the batch contributes a
  zero mean, so its token decays towards 0 (t <- 0.99 t). Corrected: its token is left
  untouched.

Both modes, like the released code, build the tokens from the *pixel* head features
(``token_source="pixel"``); ``token_source="token"`` uses (Kt, Vt) instead, as a variant.

Two implementations of the update give the same buffers: :meth:`CIM.update_reference` (the
reference: a loop over classes with boolean-mask indexing, which synchronises with the host
on a GPU) and :meth:`CIM.update_reference_fast` (fixed shapes, no ``.item()``, no branch on
data: counts by sum, FIFO slots by cumsum, a gather into the banks, ``torch.where`` on class
presence). ``CIMConfig.sync_free`` picks one; ``None`` (default) takes the fast one for CUDA
tensors and the reference elsewhere. On CPU the two are bit-identical (tested); on a GPU the
token means may differ in the last bits (another summation order).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .unet import CHANNELS, DROPOUT, ConvBlock, UNet


@dataclass
class CIMConfig:
    """Switches of CIM, including the paper's ablations.

    Attributes:
        bank_size: entries per class bank (M).
        momentum: EMA momentum of the class tokens.
        use_banks: pixel-level matching (smoothing) on/off.
        use_tokens: class-token matching (regression) on/off.
        matching: ``"soft"`` (softmax attention) or ``"hard"`` (one-hot argmax).
        faithful: reproduce the released code's sampling and absent-class update.
        token_source: ``"pixel"`` (released) or ``"token"`` head features feed the tokens.
        key_dim: key width; value_dim: value width (2 * value_dim must equal the bottleneck width).
        sync_free: reference-set update without host synchronisation (True), the reference loop
            (False), or the former on CUDA and the latter elsewhere (None). Same buffers either way.
    """

    bank_size: int = 1000
    momentum: float = 0.99
    use_banks: bool = True
    use_tokens: bool = True
    matching: str = "soft"
    faithful: bool = False
    token_source: str = "pixel"
    key_dim: int = 32
    value_dim: int = 128
    sync_free: bool | None = None

    def __post_init__(self) -> None:
        if self.matching not in ("soft", "hard"):
            raise ValueError(f"matching must be 'soft' or 'hard', got {self.matching!r}")
        if self.token_source not in ("pixel", "token"):
            raise ValueError(f"token_source must be 'pixel' or 'token', got {self.token_source!r}")
        if self.bank_size < 1 or not 0.0 <= self.momentum < 1.0:
            raise ValueError("bank_size must be >= 1 and momentum in [0, 1)")


def attend(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, *, hard: bool = False
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Dot-product attention of every location of ``query`` over a set of (key, value) pairs.

    Args:
        query: (B, D, h, w); keys: (N, D); values: (N, Dv).
        hard: one-hot argmax weights instead of softmax.

    Returns:
        output (B, Dv, h, w) and weights (B, h*w, N), each row summing to one.
    """
    b, _, h, w = query.shape
    q = query.flatten(2).transpose(1, 2)
    scores = q @ keys.to(q.dtype).t()
    if hard:
        weights = F.one_hot(scores.argmax(-1), keys.shape[0]).to(q.dtype)
    else:
        weights = scores.softmax(-1)
    out = weights @ values.to(q.dtype)
    return out.transpose(1, 2).reshape(b, -1, h, w), weights


class CIM(UNet):
    """UNet with Cross Image Matching at the bottleneck. ``forward`` returns ``(logits, features)``.

    Example:
        >>> net = CIM(1, 4, cim=CIMConfig(bank_size=8))
        >>> logits, f = net(torch.zeros(2, 1, 32, 32))
        >>> tuple(logits.shape), tuple(f["pixel_key"].shape)
        ((2, 4, 32, 32), (2, 32, 2, 2))
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 4, *, cim: CIMConfig | None = None) -> None:
        super().__init__(in_channels, num_classes, CHANNELS, DROPOUT)
        self.cfg = cim or CIMConfig()
        c, m, dk, dv = num_classes, self.cfg.bank_size, self.cfg.key_dim, self.cfg.value_dim
        if 2 * dv != CHANNELS[-1]:
            raise ValueError(f"2 * value_dim must be {CHANNELS[-1]}, got {2 * dv}")
        f = CHANNELS[-1]
        self.pixel_value, self.pixel_key = ConvBlock(f, dv), ConvBlock(f, dk)
        self.token_value, self.token_key = ConvBlock(f, dv), ConvBlock(f, dk)
        self.register_buffer("bank_keys", torch.randn(c, m, dk))
        self.register_buffer("bank_values", torch.randn(c, m, dv))
        self.register_buffer("bank_ptr", torch.zeros(c, dtype=torch.long))
        self.register_buffer("token_keys", torch.randn(c, dk))
        self.register_buffer("token_values", torch.randn(c, dv))
        self.register_buffer("bank_source", torch.full((c, m, 5), -1, dtype=torch.long))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # noqa: ANN001
        # checkpoints written before bank_source existed: their entries' sources are unknown (-1)
        state_dict.setdefault(prefix + "bank_source", torch.full_like(self.bank_source, -1))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor, scribble: torch.Tensor | None = None, *, origin: torch.Tensor | None = None,
                return_attention: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Segment ``x``; in training mode with a ``scribble`` (B, H, W) also update the reference set.

        ``origin`` (B, 2): (iteration, slice index) of each image, recorded in ``bank_source``.
        ``return_attention`` adds ``pixel_attention`` (B, h*w, C*M) and ``token_attention`` (B, h*w, C).
        """
        feats = self.encoder(x)
        f = feats[-1]
        out: dict[str, torch.Tensor] = {"bottleneck": f}
        kp, vp, kt, vt = self.pixel_key(f), self.pixel_value(f), self.token_key(f), self.token_value(f)
        out.update(pixel_key=kp, pixel_value=vp, token_key=kt, token_value=vt)
        hard = self.cfg.matching == "hard"
        fused = []
        if self.cfg.use_banks:
            s, a = attend(kp, self.bank_keys.flatten(0, 1), self.bank_values.flatten(0, 1), hard=hard)
            fused.append(torch.cat([vp, s], 1))
            if return_attention:
                out["pixel_attention"] = a
        if self.cfg.use_tokens:
            r, b = attend(kt, self.token_keys, self.token_values, hard=hard)
            fused.append(torch.cat([vt, r], 1))
            if return_attention:
                out["token_attention"] = b
        z = torch.stack(fused).sum(0) if fused else f
        logits, dec = self.decoder(z, feats[:-1])
        out.update(fused=z, decoder=dec)
        if self.training and scribble is not None:
            src = (kp, vp) if self.cfg.token_source == "pixel" else (kt, vt)
            fast = kp.is_cuda if self.cfg.sync_free is None else self.cfg.sync_free
            update = self.update_reference_fast if fast else self.update_reference
            update(scribble, kp, vp, *src, origin=origin)
        return logits, out

    def scribble_mask(self, scribble: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(B, C, h, w) bool: which bottleneck locations each class's scribble selects."""
        onehot = F.one_hot(scribble.long().clamp(0, self.num_classes), self.num_classes + 1)
        onehot = onehot[..., : self.num_classes].permute(0, 3, 1, 2).float()
        if self.cfg.faithful:
            return F.interpolate(onehot, size=size, mode="bilinear", align_corners=True) == 1
        return F.adaptive_max_pool2d(onehot, size) > 0

    @torch.no_grad()
    def update_reference(self, scribble: torch.Tensor, kp: torch.Tensor, vp: torch.Tensor,
                         tk: torch.Tensor, tv: torch.Tensor, origin: torch.Tensor | None = None) -> None:
        """Push scribbled (Kp, Vp) into the FIFO banks and move the EMA tokens (tk, tv source)."""
        mask = self.scribble_mask(scribble, tuple(kp.shape[-2:]))
        source = self.bank_source.clone()
        keys_all, vals_all = (t.detach().permute(0, 2, 3, 1).float() for t in (kp, vp))
        tk_all, tv_all = (t.detach().permute(0, 2, 3, 1).float() for t in (tk, tv))
        bank_k, bank_v, ptr = self.bank_keys.clone(), self.bank_values.clone(), self.bank_ptr.clone()
        tok_k, tok_v = self.token_keys.clone(), self.token_values.clone()
        m, mom = self.cfg.bank_size, self.cfg.momentum
        for c in range(self.num_classes):
            sel = mask[:, c]
            keys, vals = keys_all[sel], vals_all[sel]
            n = keys.shape[0]
            if n:
                keys, vals, k = keys[-m:], vals[-m:], min(n, m)
                idx = (ptr[c] + torch.arange(k, device=ptr.device)) % m
                bank_k[c, idx], bank_v[c, idx] = keys, vals
                source[c, idx] = self._sources(sel, origin)[-m:]
                ptr[c] = (ptr[c] + k) % m
                tok_k[c] = mom * tok_k[c] + (1 - mom) * tk_all[sel].mean(0)
                tok_v[c] = mom * tok_v[c] + (1 - mom) * tv_all[sel].mean(0)
            elif self.cfg.faithful:
                tok_k[c], tok_v[c] = mom * tok_k[c], mom * tok_v[c]
        # Rebind instead of writing in place: the old tensors are saved for this step's backward.
        self.bank_keys, self.bank_values, self.bank_ptr = bank_k, bank_v, ptr
        self.token_keys, self.token_values = tok_k, tok_v
        self.bank_source = source

    @torch.no_grad()
    def update_reference_fast(self, scribble: torch.Tensor, kp: torch.Tensor, vp: torch.Tensor,
                              tk: torch.Tensor, tv: torch.Tensor, origin: torch.Tensor | None = None) -> None:
        """:meth:`update_reference` with fixed shapes and no host synchronisation (same buffers).

        Locations are numbered n = (b, y, x) in row-major order, as boolean indexing does. For class c
        with ``count`` selected locations, the j-th selected one (in that order) is ``order[c, j]``;
        the FIFO keeps the last k = min(count, M) of them, and bank slot s receives the
        ((s - ptr) mod M)-th kept one when that is < k, else keeps its entry.
        """
        mask = self.scribble_mask(scribble, tuple(kp.shape[-2:]))  # (B, C, h, w)
        b, c, h, w = mask.shape
        n, m, mom, dev = b * h * w, self.cfg.bank_size, self.cfg.momentum, kp.device
        sel = mask.permute(1, 0, 2, 3).reshape(c, n)
        count = sel.sum(1)
        rank = sel.long().cumsum(1) - 1  # rank of each selected location within its class
        order = torch.zeros(c, n + 1, dtype=torch.long, device=dev)  # column n: dump for unselected
        order.scatter_(1, torch.where(sel, rank, n), torch.arange(n, device=dev).expand(c, n))
        order = order[:, :n]
        keys, vals, t_keys, t_vals = (t.detach().permute(0, 2, 3, 1).reshape(n, -1).float() for t in (kp, vp, tk, tv))
        k = count.clamp(max=m)
        j = (torch.arange(m, device=dev) - self.bank_ptr[:, None]) % m  # (C, M)
        written = (j < k[:, None]).unsqueeze(-1)
        loc = order.gather(1, (count - k)[:, None].add(j).clamp(max=n - 1))  # (C, M) location per slot
        if origin is None:
            src = torch.full((n, 5), -1, dtype=torch.long, device=dev)
        else:
            pos = torch.arange(n, device=dev)
            bb, o = pos // (h * w), origin.to(dev).long()
            src = torch.stack([o[bb, 0], bb, o[bb, 1], pos // w % h, pos % w], 1)
        bank_k = torch.where(written, keys[loc], self.bank_keys)
        bank_v = torch.where(written, vals[loc], self.bank_values)
        source = torch.where(written, src[loc], self.bank_source)
        # token means: compact each class's selected rows to the front (zeros after), then sum over
        # rows; on CPU this adds the same numbers in the same order as mean() over the selected rows
        first = (torch.arange(n, device=dev) < count[:, None]).unsqueeze(-1)
        present, denom = (count > 0)[:, None], count.clamp(min=1)[:, None]
        tok = []
        for old, feat in ((self.token_keys, t_keys), (self.token_values, t_vals)):
            mean = torch.where(first, feat[order], 0.0).sum(1) / denom
            absent = mom * old if self.cfg.faithful else old
            tok.append(torch.where(present, mom * old + (1 - mom) * mean, absent))
        # Rebind instead of writing in place: the old tensors are saved for this step's backward.
        self.bank_keys, self.bank_values, self.bank_ptr = bank_k, bank_v, (self.bank_ptr + k) % m
        self.token_keys, self.token_values = tok
        self.bank_source = source

    @staticmethod
    def _sources(sel: torch.Tensor, origin: torch.Tensor | None) -> torch.Tensor:
        """(n, 5) rows (iteration, batch position, slice index, row, col) of the selected locations."""
        where = sel.nonzero()  # (n, 3): b, y, x, in the same order as boolean indexing
        if origin is None:
            return torch.full((where.shape[0], 5), -1, dtype=torch.long, device=sel.device)
        o = origin.to(sel.device).long()[where[:, 0]]
        return torch.cat([o[:, :1], where[:, :1], o[:, 1:2], where[:, 1:]], 1)
