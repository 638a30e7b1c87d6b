"""Datasets by name: how to split them and load the volumes of a split's part."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..errors import ConfigError
from .mscmr import load_mscmr, mscmr_split
from .phantom import phantom_volumes
from .splits import DEFAULT_VAL_PATIENTS, Split, fold_split
from .volumes import Volume, load_acdc


@dataclass(frozen=True)
class DatasetSpec:
    """How to split and load a dataset.

    Attributes:
        name: dataset name.
        split: (fold, val_patients or None for the default) -> :class:`Split`.
        loader: (data root, patient ids) -> volumes.
        needs_root: False for synthetic data.
        dense_train_labels: False where the training volumes have scribbles only (no dense labels).
    """

    name: str
    split: Callable[[int, int | None], Split]
    loader: Callable[[Path | None, Sequence[int]], list[Volume]]
    needs_root: bool = True
    dense_train_labels: bool = True


def _acdc_split(fold: int, val: int | None) -> Split:
    return fold_split(fold, num_patients=100, val_patients=DEFAULT_VAL_PATIENTS if val is None else val)


def _acdc(root: Path | None, patients: Sequence[int]) -> list[Volume]:
    """ACDC volumes from the data folder, or from a lossless pack file given as the data root."""
    if root is not None and Path(root).is_file():
        from .pack import load_pack
        return load_pack(root, patients=patients)
    return load_acdc(root, patients=patients)


def _phantom_split(fold: int, val: int | None) -> Split:
    return fold_split(fold, num_patients=10, val_patients=2 if val is None else val)


def _phantom(root: Path | None, patients: Sequence[int]) -> list[Volume]:
    wanted = set(patients)
    return [v for v in phantom_volumes(10) if v.patient in wanted]


DATASETS: dict[str, DatasetSpec] = {
    "acdc": DatasetSpec("acdc", _acdc_split, _acdc),
    "mscmr": DatasetSpec("mscmr", mscmr_split, load_mscmr, dense_train_labels=False),
    "phantom": DatasetSpec("phantom", _phantom_split, _phantom, needs_root=False),
}


def get_dataset(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}: choose one of {sorted(DATASETS)}")
    return DATASETS[name]


def split_for(name: str, fold: int, val_patients: int | None = None) -> Split:
    """The patient split of ``fold`` for dataset ``name``."""
    return get_dataset(name).split(fold, val_patients)


def load_part(name: str, root: Path | None, split: Split, part: str) -> list[Volume]:
    """Volumes of one part (``train``, ``val`` or ``test``) of a split."""
    if part not in ("train", "val", "test"):
        raise ConfigError(f"part must be train, val or test, got {part!r}")
    return get_dataset(name).loader(root, getattr(split, part))


def dataset_root(name: str, data_root: Path | str | None) -> Path | None:
    """The resolved data root of dataset ``name`` (``data_root``, else $SCRIBCIM_DATA, else ./data); None for
    synthetic data."""
    from .fetch import resolve_data_root
    return resolve_data_root(data_root) if get_dataset(name).needs_root else None


def load_volumes(name: str, part: str | Sequence[int], *, fold: int, data_root: Path | str | None = None,
                 val_patients: int | None = None) -> list[Volume]:
    """The volumes of ``part`` (``train``, ``val``, ``test``, or a list of patient ids) of ``fold`` of dataset
    ``name``: the data root resolved (:func:`dataset_root`), the fold split, the part loaded."""
    root = dataset_root(name, data_root)
    if not isinstance(part, str):
        return get_dataset(name).loader(root, part)
    return load_part(name, root, split_for(name, fold, val_patients), part)


def labelled_volumes(name: str, root: Path | None) -> list[Volume]:
    """Every volume of the dataset that has a dense label (for scoring outside a fold)."""
    s = split_for(name, 1)
    ids = sorted(set(s.train) | set(s.val) | set(s.test))
    return [v for v in get_dataset(name).loader(root, ids) if v.label is not None]
