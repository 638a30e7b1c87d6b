"""The named ablations of CIM and the folder a run with changed method settings lives in.

An ablation is a set of :class:`~scribcim.config.TrainConfig` overrides of the full ``cim`` (:data:`ABLATIONS`);
``pce`` is the reference at the other end. A run whose method settings (:data:`~scribcim.config.METHOD_SETTINGS`)
differ from its method's own is an ablation: :func:`ablation_of` names its folder (``<profile>/ablation/<name>``,
:mod:`scribcim.runs.paths`), so that it never lands in the folder of the method it changes.
"""
from __future__ import annotations

from dataclasses import fields
from typing import Any, Sequence

from ..errors import ConfigError
from .train_config import METHOD_SETTINGS, TrainConfig

ABLATIONS: dict[str, dict[str, Any]] = {
    "cim": {}, "no_banks": {"use_banks": False}, "no_tokens": {"use_tokens": False},
    "no_matching": {"use_banks": False, "use_tokens": False}, "hard_matching": {"matching": "hard"},
    "bank_100": {"bank_size": 100}, "bank_4000": {"bank_size": 4000}, "momentum_0.9": {"token_momentum": 0.9},
    "faithful_sampling": {"faithful": True}, "pce": {"method": "pce"},
}
#: the config fields that tell ablations apart (other values of them than an entry sets: no named ablation)
FIELDS = ("method", *METHOD_SETTINGS)
DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(TrainConfig) if f.name in FIELDS}


def check_names(names: Sequence[str]) -> list[str]:
    """``names`` as a list, or :class:`ConfigError` naming the unknown ones and listing the known ones."""
    names = [names] if isinstance(names, str) else list(names)
    if bad := [n for n in names if n not in ABLATIONS]:
        raise ConfigError(f"unknown ablation(s) {bad}: choose from {list(ABLATIONS)}")
    return list(dict.fromkeys(names))


def ablation_values(name: str) -> dict[str, Any]:
    """The values of :data:`FIELDS` an ablation runs with (defaults overridden by its entry)."""
    return {**DEFAULTS, **ABLATIONS[check_names([name])[0]]}


def identify(config: dict[str, Any]) -> str | None:
    """The ablation a run's config is (pce: by method alone, its network ignores the CIM switches); else None."""
    if config.get("method") == "pce":
        return "pce"
    return next((name for name in ABLATIONS if name != "pce" and all(config.get(k, DEFAULTS[k]) == v
                                                                     for k, v in ablation_values(name).items())), None)


def describe(name: str) -> str:
    """``use_banks=False``-style text of an ablation's overrides (``-`` for the full cim)."""
    return ", ".join(f"{k}={v}" for k, v in ABLATIONS[name].items()) or "-"


def own_settings(method: str) -> dict[str, Any]:
    """The method settings a run of ``method`` has unless changed: the defaults and those the method fixes (e.g.
    ``cim_paper``'s); an unknown method (an old record's) has the defaults."""
    from ..training.methods import METHODS
    known = METHODS.get(method)
    return {**DEFAULTS, **(known.settings if known else {})}


def changed_settings(config: TrainConfig | dict[str, Any]) -> dict[str, Any]:
    """The method settings of a run's config (a TrainConfig or a stored dict, whose missing fields take the
    defaults) that differ from its method's own (:func:`own_settings`), in :data:`METHOD_SETTINGS` order."""
    cfg = config if isinstance(config, dict) else config.to_dict()
    own = own_settings(cfg.get("method", DEFAULTS["method"]))
    return {k: cfg[k] for k in METHOD_SETTINGS if k in cfg and cfg[k] != own[k]}


def ablation_of(config: TrainConfig) -> str | None:
    """None for a run with its method's own settings; else its ablation folder: the named ablation it is
    (:func:`identify`), or ``<method>-<setting>-<value>...`` for an unnamed combination."""
    if not (changed := changed_settings(config)):
        return None
    if (name := identify(config.to_dict())) not in (None, "pce", "cim"):
        return name
    return "-".join([config.method, *(f"{k}-{v}" for k, v in changed.items())])
