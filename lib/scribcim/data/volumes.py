"""Volumes: the unit of data. Loading the ACDC WSL4MIS layout into :class:`Volume` objects.

Layout (relative to the data root)::

    ACDC/ACDC_training_volumes/patientNNN_frameMM.h5   image (z,y,x) float32, label uint8, scribble uint16
    ACDC/spacing.csv                                    case,dz_mm,dy_mm,dx_mm

Scribble values: 0-3 as the label (0 background, 1 RV, 2 MYO, 3 LV), 4 = unlabelled.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import DataError

UNLABELLED = 4
NUM_CLASSES = 4
ACDC_DIR = "ACDC"
ACDC_VOLUMES = "ACDC/ACDC_training_volumes"
ACDC_SPACING = "ACDC/spacing.csv"
_CASE_RE = re.compile(r"^patient(\d{3})_frame(\d{2})$")


@dataclass(frozen=True)
class Volume:
    """One 3D scan with its dense label, scribble and voxel spacing.

    Attributes:
        case: case id, e.g. ``patient001_frame01``.
        patient: patient number (1-100 for ACDC).
        image: float32 array (z, y, x), intensities normalised per volume.
        label: uint8 dense label (z, y, x); may be ``None`` for scribble-only data.
        scribble: uint8 scribble (z, y, x), 4 = unlabelled.
        spacing: voxel size in mm, (dz, dy, dx).
        affine: the (x, y, z) voxel-to-world affine of the NIfTI scan the volume was read from (MSCMR); None
            where the source has none (HDF5, packs, phantoms): their geometry is the spacing alone.
        source: the file the volume was read from ("" for synthetic or packed volumes).
    """

    case: str
    patient: int
    image: np.ndarray
    label: np.ndarray | None
    scribble: np.ndarray
    spacing: tuple[float, float, float]
    affine: np.ndarray | None = None
    source: str = ""

    @property
    def num_slices(self) -> int:
        return int(self.image.shape[0])


def patient_of(case: str) -> int:
    """Patient number of an ACDC case id (``patient007_frame01`` -> 7)."""
    m = _CASE_RE.match(case)
    if not m:
        raise DataError(f"{case!r} is not an ACDC case id (expected patientNNN_frameMM)")
    return int(m.group(1))


def read_spacing(path: Path) -> dict[str, tuple[float, float, float]]:
    """Read ``spacing.csv`` into ``{case: (dz, dy, dx)}`` (mm)."""
    if not path.is_file():
        raise DataError(f"missing {path}: run `scribcim fetch acdc` (or point --data/SCRIBCIM_DATA at the data root)")
    out: dict[str, tuple[float, float, float]] = {}
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        need = {"case", "dz_mm", "dy_mm", "dx_mm"}
        if reader.fieldnames is None or not need <= set(reader.fieldnames):
            raise DataError(f"{path} has columns {reader.fieldnames}, expected {sorted(need)}: re-fetch it")
        for row in reader:
            out[row["case"]] = (float(row["dz_mm"]), float(row["dy_mm"]), float(row["dx_mm"]))
    return out


def list_acdc_cases(root: Path) -> list[str]:
    """Sorted case ids present under ``root`` (raises a clear error for a wrong layout)."""
    vol_dir = Path(root) / ACDC_VOLUMES
    if not vol_dir.is_dir():
        hint = "" if not Path(root).is_dir() else f" ({root} exists but has no {ACDC_VOLUMES}/)"
        raise DataError(
            f"ACDC volumes not found at {vol_dir}{hint}: run `scribcim fetch acdc --data {root}` "
            "or set SCRIBCIM_DATA to the folder that contains ACDC/")
    cases = sorted(p.stem for p in vol_dir.glob("*.h5"))
    if not cases:
        raise DataError(f"no .h5 volumes in {vol_dir}: run `scribcim fetch acdc --data {root}`")
    return cases


def read_h5_volume(path: Path, spacing: tuple[float, float, float], *, case: str | None = None) -> Volume:
    """Read one WSL4MIS HDF5 volume (image, label, scribble)."""
    import h5py

    case = case or path.stem
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in ("image", "label", "scribble") if k not in f]
            if missing:
                raise DataError(f"{path} lacks dataset(s) {missing}: wrong layout, "
                                "re-fetch it with `scribcim fetch acdc`")
            image = np.asarray(f["image"][()], dtype=np.float32)
            label = np.asarray(f["label"][()], dtype=np.uint8)
            scribble = np.asarray(f["scribble"][()], dtype=np.uint8)
    except DataError:
        raise
    except Exception as exc:  # h5py raises OSError/KeyError flavours for corrupt files
        raise DataError(f"cannot read {path} ({type(exc).__name__}): the file is corrupt or truncated, "
                        "re-fetch it with `scribcim fetch acdc`") from exc
    if not (image.ndim == 3 and image.shape == label.shape == scribble.shape):
        raise DataError(f"{path}: image/label/scribble shapes {image.shape}/{label.shape}/{scribble.shape} "
                        "differ or are not 3D: re-fetch it")
    return Volume(case=case, patient=patient_of(case), image=image, label=label,
                  scribble=scribble, spacing=spacing, source=str(path))


def load_acdc(root: Path | str, *, patients: Iterable[int] | None = None,
              cases: Sequence[str] | None = None) -> list[Volume]:
    """Load ACDC volumes (all, or those of ``patients`` / named ``cases``), joined with their spacing."""
    root = Path(root)
    present = list_acdc_cases(root)
    spacing = read_spacing(root / ACDC_SPACING)
    wanted = set(patients) if patients is not None else None
    selected = [c for c in (cases if cases is not None else present)
                if wanted is None or patient_of(c) in wanted]
    vols = []
    for case in selected:
        if case not in spacing:
            raise DataError(f"{root / ACDC_SPACING} has no row for {case}: re-fetch spacing.csv")
        path = root / ACDC_VOLUMES / f"{case}.h5"
        if not path.is_file():
            raise DataError(f"missing {path}: run `scribcim fetch acdc --data {root}`")
        vols.append(read_h5_volume(path, spacing[case], case=case))
    return vols
