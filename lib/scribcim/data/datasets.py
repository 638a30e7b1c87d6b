"""Datasets by name: which volumes form the train / val / test parts of a fold."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..errors import ConfigError
from .phantom import phantom_volumes
from .splits import Split, fold_split
from .volumes import Volume, load_acdc


@dataclass(frozen=True)
class DatasetSpec:
    """How to load a dataset: patient count, default validation size, loader."""

    name: str
    num_patients: int
    val_patients: int
    loader: Callable[[Path | None, Sequence[int]], list[Volume]]
    needs_root: bool = True


def _acdc(root: Path | None, patients: Sequence[int]) -> list[Volume]:
    return load_acdc(root, patients=patients)


def _phantom(root: Path | None, patients: Sequence[int]) -> list[Volume]:
    wanted = set(patients)
    return [v for v in phantom_volumes(10) if v.patient in wanted]


DATASETS: dict[str, DatasetSpec] = {
    "acdc": DatasetSpec("acdc", 100, 8, _acdc),
    "phantom": DatasetSpec("phantom", 10, 2, _phantom, needs_root=False),
}


def get_dataset(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}: choose one of {sorted(DATASETS)}")
    return DATASETS[name]


def split_for(name: str, fold: int, val_patients: int | None = None) -> Split:
    """The patient split of ``fold`` for dataset ``name``."""
    spec = get_dataset(name)
    return fold_split(fold, num_patients=spec.num_patients,
                      val_patients=spec.val_patients if val_patients is None else val_patients)


def load_part(name: str, root: Path | None, split: Split, part: str) -> list[Volume]:
    """Volumes of one part (``train``, ``val`` or ``test``) of a split."""
    if part not in ("train", "val", "test"):
        raise ConfigError(f"part must be train, val or test, got {part!r}")
    return get_dataset(name).loader(root, getattr(split, part))
