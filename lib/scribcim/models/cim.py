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
augmented image an entry was taken from can be redrawn (see :mod:`scribcim.analysis.matching`).

Where the matching happens (``level``): 0 is the bottleneck (1/16, the paper); 1 is the output
of the first decoder block (1/8, 128 channels), which at 128x128 input gives a 16x16 grid whose
cells cover what the paper's 16x16 grid covers at 256x256. Values are half the level's width.

Which cells feed the banks (``sampling``, see :mod:`scribcim.models.reference`): ``"any"``
scribbled pixel of the class in the cell (corrected default), ``"majority"`` of the cell's
scribbled pixels, or the released rule. ``faithful=True`` is the released code:

the released sampling (a stride-17 grid of pixels at 256 -> 16), and a class absent from the
batch moves its token towards zero (t <- 0.99 t; corrected: left untouched).

When the batch's dense ``label`` is given (training runs on data with dense labels), each bank
entry also records its cell's most frequent dense label and whether the cell went into another
class's bank (``bank_cell``), for :meth:`CIM.bank_purity`; labels never reach the loss.

Tokens are built from the *pixel* head features, as released; ``token_source="token"`` uses (Kt, Vt).

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

from .reference import SAMPLING, bank_purity, cell_info, entry_sources, scribble_mask
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
        faithful: reproduce the released code's sampling and absent-class update (level 0 only).
        token_source: ``"pixel"`` (released) or ``"token"`` head features feed the tokens.
        level: decoder blocks run before matching (0: bottleneck, 1/16; 1: 1/8).
        sampling: which cells feed the banks, ``"any"`` or ``"majority"`` (``faithful`` uses the released rule).
        key_dim: key width; value_dim: value width (None: half the matched feature's width, which
            2 * value_dim must equal).
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
    level: int = 0
    sampling: str = "any"
    key_dim: int = 32
    value_dim: int | None = None
    sync_free: bool | None = None

    def __post_init__(self) -> None:
        if self.matching not in ("soft", "hard"):
            raise ValueError(f"matching must be 'soft' or 'hard', got {self.matching!r}")
        if self.token_source not in ("pixel", "token"):
            raise ValueError(f"token_source must be 'pixel' or 'token', got {self.token_source!r}")
        if self.bank_size < 1 or not 0.0 <= self.momentum < 1.0:
            raise ValueError("bank_size must be >= 1 and momentum in [0, 1)")
        if self.level not in range(len(CHANNELS) - 1):
            raise ValueError(f"level must be in 0..{len(CHANNELS) - 2}, got {self.level}")
        if self.sampling not in SAMPLING[:2]:
            raise ValueError(f"sampling must be one of {SAMPLING[:2]}, got {self.sampling!r}")
        if self.faithful and (self.level or self.sampling != "any"):
            raise ValueError("faithful (the released code) matches at level 0 with its own sampling: "
                             "leave level 0 and sampling 'any'")

    @property
    def rule(self) -> str:
        """The sampling rule in force: ``"released"`` when faithful, else ``sampling``."""
        return "released" if self.faithful else self.sampling


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

    def __init__(self, in_channels: int = 1, num_classes: int = 4, *, cim: CIMConfig | None = None,
                 upsample: str = "bilinear") -> None:
        super().__init__(in_channels, num_classes, CHANNELS, DROPOUT, upsample)
        self.cfg = cim or CIMConfig()
        f = CHANNELS[-1 - self.cfg.level]  # width of the matched feature
        c, m, dk = num_classes, self.cfg.bank_size, self.cfg.key_dim
        dv = self.cfg.value_dim or f // 2
        if 2 * dv != f:
            raise ValueError(f"2 * value_dim must be {f} (the width at level {self.cfg.level}), got {2 * dv}")
        self.pixel_value, self.pixel_key = ConvBlock(f, dv), ConvBlock(f, dk)
        self.token_value, self.token_key = ConvBlock(f, dv), ConvBlock(f, dk)
        self.register_buffer("bank_keys", torch.randn(c, m, dk))
        self.register_buffer("bank_values", torch.randn(c, m, dv))
        self.register_buffer("bank_ptr", torch.zeros(c, dtype=torch.long))
        self.register_buffer("token_keys", torch.randn(c, dk))
        self.register_buffer("token_values", torch.randn(c, dv))
        self.register_buffer("bank_source", torch.full((c, m, 5), -1, dtype=torch.long))
        self.register_buffer("bank_cell", torch.full((c, m, 2), -1, dtype=torch.long))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # noqa: ANN001
        # checkpoints written before bank_source / bank_cell existed: those entries are unknown (-1)
        for name in ("bank_source", "bank_cell"):
            state_dict.setdefault(prefix + name, torch.full_like(getattr(self, name), -1))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def bank_purity(self) -> tuple[dict[str, float], dict[str, float]]:
        """(purity, shared) of the RV / MYO / LV banks: see :func:`scribcim.models.reference.bank_purity`."""
        return bank_purity(self.bank_cell.cpu())

    def forward(self, x: torch.Tensor, scribble: torch.Tensor | None = None, *, origin: torch.Tensor | None = None,
                label: torch.Tensor | None = None, return_attention: bool = False
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Segment ``x``; in training mode with a ``scribble`` (B, H, W) also update the reference set.

        ``origin`` (B, 2): (iteration, slice index) of each image, recorded in ``bank_source``.
        ``label`` (B, H, W): dense labels, only to record each new entry's cell label in ``bank_cell``.
        ``return_attention`` adds ``pixel_attention`` (B, h*w, C*M) and ``token_attention`` (B, h*w, C).
        """
        feats = self.encoder(x)
        f = self.decoder.run(feats[-1], feats[:-1], 0, self.cfg.level)
        out: dict[str, torch.Tensor] = {"bottleneck": feats[-1], "matched": f}
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
        dec = self.decoder.run(z, feats[:-1], self.cfg.level)
        logits = self.decoder.head(dec)
        out.update(fused=z, decoder=dec)
        if self.training and scribble is not None:
            src = (kp, vp) if self.cfg.token_source == "pixel" else (kt, vt)
            fast = kp.is_cuda if self.cfg.sync_free is None else self.cfg.sync_free
            update = self.update_reference_fast if fast else self.update_reference
            update(scribble, kp, vp, *src, origin=origin, label=label)
        return logits, out

    def scribble_mask(self, scribble: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(B, C, h, w) bool: which grid cells each class's scribble puts into that class's bank."""
        return scribble_mask(scribble, size, self.num_classes, self.cfg.rule)

    @torch.no_grad()
    def update_reference(self, scribble: torch.Tensor, kp: torch.Tensor, vp: torch.Tensor,
                         tk: torch.Tensor, tv: torch.Tensor, origin: torch.Tensor | None = None,
                         label: torch.Tensor | None = None) -> None:
        """Push scribbled (Kp, Vp) into the FIFO banks and move the EMA tokens (tk, tv source)."""
        mask = self.scribble_mask(scribble, tuple(kp.shape[-2:]))
        info = cell_info(mask, label, self.num_classes)  # (B, h, w, 2)
        source, cell = self.bank_source.clone(), self.bank_cell.clone()
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
                source[c, idx] = entry_sources(sel, origin)[-m:]
                cell[c, idx] = info[sel][-m:]
                ptr[c] = (ptr[c] + k) % m
                tok_k[c] = mom * tok_k[c] + (1 - mom) * tk_all[sel].mean(0)
                tok_v[c] = mom * tok_v[c] + (1 - mom) * tv_all[sel].mean(0)
            elif self.cfg.faithful:
                tok_k[c], tok_v[c] = mom * tok_k[c], mom * tok_v[c]
        # Rebind instead of writing in place: the old tensors are saved for this step's backward.
        self.bank_keys, self.bank_values, self.bank_ptr = bank_k, bank_v, ptr
        self.token_keys, self.token_values = tok_k, tok_v
        self.bank_source, self.bank_cell = source, cell

    @torch.no_grad()
    def update_reference_fast(self, scribble: torch.Tensor, kp: torch.Tensor, vp: torch.Tensor,
                              tk: torch.Tensor, tv: torch.Tensor, origin: torch.Tensor | None = None,
                              label: torch.Tensor | None = None) -> None:
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
        rows = torch.cat([src, cell_info(mask, label, self.num_classes).reshape(n, 2)], 1)[loc]  # (C, M, 7)
        bank_k = torch.where(written, keys[loc], self.bank_keys)
        bank_v = torch.where(written, vals[loc], self.bank_values)
        source = torch.where(written, rows[..., :5], self.bank_source)
        cell = torch.where(written, rows[..., 5:], self.bank_cell)
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
        self.bank_source, self.bank_cell = source, cell
