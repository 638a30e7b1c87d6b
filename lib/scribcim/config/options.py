"""Command-line options from the config dataclass: one ``--field-name`` per :class:`TrainConfig` field.

The help text, default and choices of each option come from the field itself (its metadata,
:func:`scribcim.config.field_choices`) and from the profiles that change it: one source.
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any

from .profiles import PROFILES
from .train_config import TrainConfig, field_choices, make_config

FIXED = {"profile", "extra"}  # --profile is its own option; extra is not a command-line setting


def _parse_type(hint: Any):
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    return base if base in (int, float, str) else str


def _fmt(value: Any) -> str:
    return "unset" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def option_help(name: str) -> str:
    """Help text of ``--name``: the field's description, its default and the profiles that change it."""
    f = next(f for f in dataclasses.fields(TrainConfig) if f.name == name)
    by_profile = {p: v[name] for p, v in sorted(PROFILES.items()) if name in v and v[name] != f.default}
    default = f"default {_fmt(f.default)}"
    if by_profile:
        default += "; " + ", ".join(f"{p} {_fmt(v)}" for p, v in by_profile.items())
    return f"{f.metadata.get('help', '')} ({default})".replace("%", "%%")


def add_config_options(p: argparse.ArgumentParser) -> None:
    """One ``--field-name`` option per :class:`TrainConfig` field (booleans get ``--no-...``), with the
    field's help, default (and the profiles that change it) and choices."""
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        if f.name in FIXED:
            continue
        flag = "--" + f.name.replace("_", "-")
        if hints[f.name] is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=option_help(f.name))
            continue
        choices = field_choices(f.name)
        p.add_argument(flag, type=_parse_type(hints[f.name]), default=None, help=option_help(f.name),
                       choices=choices, metavar=None if choices else f.name.upper())
    # the same setting under the name the other commands use (kept for scripts; not listed)
    p.add_argument("--data", dest="data_root", default=None, help=argparse.SUPPRESS)


def config_from_args(ns: argparse.Namespace) -> TrainConfig:
    names = {f.name for f in dataclasses.fields(TrainConfig)} - FIXED
    return make_config(ns.profile, **{k: getattr(ns, k) for k in names if getattr(ns, k, None) is not None})
