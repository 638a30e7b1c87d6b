"""Configuration in one place: a run's options (:mod:`.train_config`), the named profiles (:mod:`.profiles`), the
command-line options made from them (:mod:`.options`) and the Snakemake workflow's config (:mod:`.workflow`).

The names a run needs are re-exported here: ``from scribcim.config import TrainConfig, make_config``.
"""
from __future__ import annotations

from .profiles import PROFILES
from .train_config import (LEGACY, METHOD_SETTINGS, SEEN_SETTINGS, TrainConfig, coerce, field_choices, make_config,
                           validate_scribbles, with_legacy)

__all__ = ["LEGACY", "METHOD_SETTINGS", "PROFILES", "SEEN_SETTINGS", "TrainConfig", "coerce", "field_choices",
           "make_config", "validate_scribbles", "with_legacy"]
