"""Training methods as plug-ins of the one training loop, and their registry.

A method says which network to build and how to turn a batch into a loss. Adding one is a
small, local change: subclass :class:`Method`, decorate it with ``@register("name")``. Methods
register themselves here; the configuration asks this registry (:func:`get_method`, :data:`METHODS`)
and this module never imports the configuration (a run's config is only read, by attribute).
"""
from __future__ import annotations

from dataclasses import fields
from typing import Any, Callable, ClassVar, Iterable

import torch
from torch import nn

from ..errors import ConfigError
from ..models import CIM, CIMConfig, UNet
from ..models.dual import DualDecoderUNet
from .losses import dense_ce_dice, mixed_pseudo_label_dice, partial_ce, partial_dice, self_dice

METHODS: dict[str, type["Method"]] = {}
#: the paper's order of the methods in tables and figures (others follow, sorted)
ORDER = ("pce", "pce_dice", "pce_selfdice", "dmpls", "cim", "cim_paper", "full")


def paper_order(names: Iterable[str]) -> list[str]:
    """The distinct ``names`` in the paper's order (:data:`ORDER`), others after, sorted."""
    present = set(names)
    return [m for m in ORDER if m in present] + sorted(present - set(ORDER))


def cim_config(config: Any) -> CIMConfig:
    """The :class:`scribcim.models.CIMConfig` of a run's config (ValueError for a bad combination): every
    config field whose metadata names a CIM setting (``cim=``) sets it."""
    return CIMConfig(**{f.metadata["cim"]: getattr(config, f.name) for f in fields(config) if "cim" in f.metadata})


def register(name: str) -> Callable[[type["Method"]], type["Method"]]:
    """Class decorator adding a method to :data:`METHODS` under ``name``."""
    def deco(cls: type["Method"]) -> type["Method"]:
        cls.name = name
        METHODS[name] = cls
        return cls
    return deco


class Method:
    """Base: a plain UNet trained with partial cross-entropy.

    Args:
        config: the run's :class:`scribcim.config.TrainConfig` (methods read their own fields).
    """

    name: ClassVar[str] = ""
    #: True for methods trained on dense labels (refused on scribble-only datasets)
    needs_dense_labels: ClassVar[bool] = False
    #: config fields the method fixes, whatever the profile says (an override to another value is refused)
    settings: ClassVar[dict[str, Any]] = {}

    def __init__(self, config) -> None:
        self.config = config

    def build_model(self) -> nn.Module:
        return UNet(in_channels=1, num_classes=self.config.num_classes, upsample=self.config.upsample)

    def diagnostics(self, model: nn.Module) -> dict[str, float]:
        """Scalars about the model's state to log beside the loss (none by default)."""
        return {}

    def forward(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        """The training forward pass: (logits, features)."""
        return model(batch["image"], batch["scribble"])

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Forward ``batch`` through ``model`` and return (loss, named parts as tensors)."""
        logits, _ = self.forward(model, batch)
        ce = partial_ce(logits, batch["scribble"])
        return ce, {"pce": ce.detach()}


@register("pce")
class PCE(Method):
    """pCE only: the scribble-supervised baseline."""


@register("pce_selfdice")
class PCESelfDice(Method):
    """pCE + ``self_dice_weight`` * self-pseudo-label Dice on a plain UNet (CIM's loss without matching)."""

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits, _ = self.forward(model, batch)
        ce, sd = partial_ce(logits, batch["scribble"]), self_dice(logits)
        return ce + self.config.self_dice_weight * sd, {"pce": ce.detach(), "self_dice": sd.detach()}


@register("cim")
class CIMMethod(PCESelfDice):
    """CIM network with the same loss as ``pce_selfdice``: pCE + ``self_dice_weight`` * self-Dice (paper: 0.5)."""

    def build_model(self) -> nn.Module:
        return CIM(1, self.config.num_classes, cim=cim_config(self.config), upsample=self.config.upsample)

    def forward(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        """Also hands the batch's origin and dense label (if any) to the network, which records them with
        each bank entry (the label only to measure bank purity; it never reaches the loss)."""
        return model(batch["image"], batch["scribble"], origin=batch.get("origin"), label=batch.get("label"))

    def diagnostics(self, model: nn.Module) -> dict[str, float]:
        """Bank purity and sharing per class (``bank_purity_RV``, ``bank_shared_MYO``, ...); NaN skipped."""
        purity, shared = model.bank_purity()
        out = {f"bank_purity_{k}": v for k, v in purity.items()}
        out.update({f"bank_shared_{k}": v for k, v in shared.items()})
        return {k: v for k, v in out.items() if v == v}


@register("cim_paper")
class CIMPaper(CIMMethod):
    """``cim`` as the paper sets it: matching at the bottleneck (1/16 of the input), the released bank sampling and
    absent-class token update (``faithful``, which feeds the banks from any scribbled pixel the released rule
    sees), 1000 entries a bank and token momentum 0.99 as released. ``cim`` is this project's variant (the
    profile's level and sampling, chosen on validation)."""

    settings = {"cim_level": 0, "sampling": "any", "faithful": True, "bank_size": 1000, "token_momentum": 0.99}


@register("pce_dice")
class PCEDice(Method):
    """pCE + partial Dice on scribbled pixels (nnU-Net's ignore-label loss)."""

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits, _ = self.forward(model, batch)
        ce, dice = partial_ce(logits, batch["scribble"]), partial_dice(logits, batch["scribble"])
        return ce + dice, {"pce": ce.detach(), "partial_dice": dice.detach()}


@register("full")
class Full(Method):
    """Dense labels, 0.5 CE + 0.5 Dice: the fully supervised upper bound."""

    needs_dense_labels = True

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits, _ = model(batch["image"])
        loss = dense_ce_dice(logits, batch["label"])
        return loss, {"ce_dice": loss.detach()}


@register("dmpls")
class DMPLS(Method):
    """Dual-branch mixed pseudo-label supervision (Luo et al., MICCAI 2022).

    Main and auxiliary decoders (the latter on dropped-out features); pseudo-label from a
    random convex mix of the two softmaxes; loss 0.5 (pCE1 + pCE2) + 0.5 * 0.5 (Dice1 + Dice2).
    The mixing weight is drawn from torch's generator, which the loop reseeds every step.
    """

    def build_model(self) -> nn.Module:
        return DualDecoderUNet(1, self.config.num_classes, upsample=self.config.upsample)

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits, feats = self.forward(model, batch)
        aux = feats["aux_logits"]
        ce = 0.5 * (partial_ce(logits, batch["scribble"]) + partial_ce(aux, batch["scribble"]))
        beta = float(torch.rand(())) + 1e-10
        dice = mixed_pseudo_label_dice(logits, aux, beta)
        return ce + 0.5 * dice, {"pce": ce.detach(), "mpl_dice": dice.detach()}


def get_method(name: str) -> type[Method]:
    """Look up a registered method by name (clear error listing the known ones)."""
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}: choose one of {sorted(METHODS)}")
    return METHODS[name]
