"""MS-CMRSeg LGE with expert scribbles, in the CycleMix layout (one fixed split, NIfTI).

Layout (relative to the data root)::

    MSCMR_dataset/train/images/subjectN_DE.nii.gz          25 subjects, LGE image (x, y, z)
    MSCMR_dataset/train/labels/subjectN_DE_scribble.nii.gz  scribbles 0-3, 4 = unlabelled (no dense labels)
    MSCMR_dataset/val/{images,labels}/...DE_manual.nii.gz   5 subjects with dense manual labels
    MSCMR_dataset/TestSet/{images,labels}/...               15 subjects with dense manual labels

Spacing comes from the NIfTI headers (about 0.74 x 0.74 x 5 mm). Class order: the label
values are already the project's (1 RV, 2 MYO, 3 LV): over the 20 labelled subjects, 97.8 % of
the 1-voxel in-plane border of label 3 is label 2 (the LV blood pool is enclosed by the
myocardium) and label 1 touches only background and label 2 (the RV); ``tests`` guard it.
Images are raw scanner intensities: training, evaluation and prediction normalise each volume
(:func:`scribcim.data.normalise.normalise`).
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ConfigError, DataError
from .nifti import read_nifti_zyx
from .splits import Split
from .volumes import UNLABELLED, Volume

MSCMR_DIR = "MSCMR_dataset"
#: part -> (folder, label suffix)
PARTS = {"train": ("train", "_DE_scribble"), "val": ("val", "_DE_manual"), "test": ("TestSet", "_DE_manual")}
#: MSCMR label value -> project label (identity, checked against the anatomy; see module docstring)
LABEL_MAP = np.array([0, 1, 2, 3, UNLABELLED], dtype=np.uint8)
_FILE_RE = re.compile(r"^MSCMR_dataset/(train|val|TestSet)/images/subject(\d+)_DE\.nii\.gz$")


@lru_cache(maxsize=1)
def mscmr_subjects() -> dict[str, tuple[int, ...]]:
    """Subject ids of each part, read from the packaged checksum manifest."""
    from .fetch import load_manifest
    folders = {folder: part for part, (folder, _) in PARTS.items()}
    out: dict[str, list[int]] = {p: [] for p in PARTS}
    for rel in load_manifest("mscmr"):
        m = _FILE_RE.match(rel)
        if m:
            out[folders[m.group(1)]].append(int(m.group(2)))
    return {p: tuple(sorted(v)) for p, v in out.items()}


def mscmr_split(fold: int = 1, val_patients: int | None = None) -> Split:
    """The one published split (25 scribbled training, 5 validation, 15 test subjects)."""
    if fold != 1:
        raise ConfigError(f"MSCMR has one fixed split: use fold 1, not {fold}")
    s = mscmr_subjects()
    if val_patients not in (None, len(s["val"])):
        raise ConfigError(f"MSCMR's validation set is fixed at {len(s['val'])} subjects; leave val_patients unset")
    return Split(fold=1, train=s["train"], val=s["val"], test=s["test"])


def _part_of(subject: int) -> str:
    for part, ids in mscmr_subjects().items():
        if subject in ids:
            return part
    raise DataError(f"subject{subject} is not an MSCMR subject")


def read_mscmr_volume(root: Path, subject: int) -> Volume:
    """One subject: image, and the scribble (train) or dense label (val/test)."""
    part = _part_of(subject)
    folder, suffix = PARTS[part]
    base = Path(root) / MSCMR_DIR / folder
    if not base.is_dir():
        raise DataError(f"MSCMR folder {base} not found: run `scribcim fetch mscmr --data {root}` "
                        "or set SCRIBCIM_DATA to the folder that contains MSCMR_dataset/")
    image_path = base / "images" / f"subject{subject}_DE.nii.gz"
    image, spacing, affine, _ = read_nifti_zyx(image_path)
    lab, _, _, _ = read_nifti_zyx(base / "labels" / f"subject{subject}{suffix}.nii.gz", dtype=np.int32)
    if lab.shape != image.shape or lab.min() < 0 or lab.max() >= len(LABEL_MAP):
        raise DataError(f"{base / 'labels'} subject{subject}: label shape {lab.shape} / values "
                        f"{lab.min()}..{lab.max()} do not fit the image {image.shape}: re-fetch it")
    lab = LABEL_MAP[lab]
    scribble = lab if part == "train" else np.full(image.shape, UNLABELLED, np.uint8)
    label = None if part == "train" else lab
    # the image's affine: the labels lie on its grid (one label file, subject43's, has lost its orientation)
    return Volume(case=f"subject{subject}", patient=subject, image=image, label=label,
                  scribble=scribble, spacing=spacing, affine=affine, source=str(image_path))


def load_mscmr(root: Path | str, subjects: Sequence[int]) -> list[Volume]:
    """Load the named subjects (any part)."""
    return [read_mscmr_volume(Path(root), int(s)) for s in subjects]
