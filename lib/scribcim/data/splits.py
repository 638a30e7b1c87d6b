"""Cross-validation splits by patient: the paper's 5 folds plus a seeded validation carve-out.

Fold k (1-5) tests patients 20(k-1)+1 .. 20k. The remaining 80 training patients lose
``val_patients`` (default 8, i.e. 10 %) to a validation set drawn with a fixed seed, used
only for model selection: test patients are never looked at before the final evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

NUM_FOLDS = 5
DEFAULT_VAL_PATIENTS = 8
SPLIT_SEED = 2022


@dataclass(frozen=True)
class Split:
    """Patient ids of one fold: disjoint train / val / test lists (sorted)."""

    fold: int
    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]


def fold_split(fold: int, *, num_patients: int = 100, val_patients: int = DEFAULT_VAL_PATIENTS,
               seed: int = SPLIT_SEED) -> Split:
    """The paper's fold ``fold`` with a validation set carved from its training patients.

    Example:
        >>> s = fold_split(1)
        >>> s.test[:3], len(s.train), len(s.val)
        ((1, 2, 3), 72, 8)
    """
    if not 1 <= fold <= NUM_FOLDS:
        raise ConfigError(f"fold must be 1..{NUM_FOLDS}, got {fold}")
    per = num_patients // NUM_FOLDS
    test = tuple(range(per * (fold - 1) + 1, per * fold + 1))
    rest = [p for p in range(1, num_patients + 1) if p not in test]
    if not 0 <= val_patients < len(rest):
        raise ConfigError(f"val_patients must be in [0, {len(rest)}), got {val_patients}")
    rng = np.random.default_rng([seed, fold])
    val = tuple(sorted(int(p) for p in rng.choice(rest, size=val_patients, replace=False)))
    train = tuple(p for p in rest if p not in val)
    return Split(fold=fold, train=train, val=val, test=test)
