"""NIfTI files and the library's (z, y, x) convention: reading volumes, writing label/probability volumes."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError


def squeeze_to_3d(arr: np.ndarray, path: Path) -> np.ndarray:
    """Drop trailing singleton axes; refuse anything that is not one 3D volume."""
    while arr.ndim > 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3:
        raise DataError(f"{path} holds a {arr.ndim}D array {tuple(arr.shape)}, expected one 3D volume: "
                        "save a single 3D frame (stack 2D slices, or take one time point of a 4D cine)")
    return arr


def read_nifti_zyx(path: Path | str, dtype: Any = np.float32
                   ) -> tuple[np.ndarray, tuple[float, float, float], np.ndarray, Any]:
    """Read a NIfTI file stored (x, y, z) as an array (z, y, x).

    Returns:
        the array, spacing (dz, dy, dx) in mm from the header, the affine and the header.
    """
    import nibabel as nib

    path = Path(path)
    try:
        img = nib.load(str(path))
        data = squeeze_to_3d(np.asarray(img.dataobj, dtype=dtype), path)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot read {path} ({type(exc).__name__}): the file is missing, corrupt or "
                        "truncated; fetch or export it again") from None
    dx, dy, dz = (float(s) for s in img.header.get_zooms()[:3])
    return (np.ascontiguousarray(data.transpose(2, 1, 0)), (dz, dy, dx),
            np.asarray(img.affine, dtype=float), img.header)


def _atomic_save(img: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        img.to_filename(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_nifti(path: Path, volume_zyx: np.ndarray, affine: np.ndarray, header: Any = None,
                dtype: Any = np.uint8) -> None:
    """Write a (z, y, x[, c]) array as NIfTI (x, y, z[, c]) with ``affine`` (temporary name, then rename)."""
    import nibabel as nib
    arr = np.asarray(volume_zyx)
    data = np.ascontiguousarray(arr.transpose(2, 1, 0, *range(3, arr.ndim)).astype(dtype))
    hdr = header.copy() if header is not None else None
    cls = type(header) if header is not None and isinstance(header, nib.Nifti2Header) else nib.Nifti1Header
    img = (nib.Nifti2Image if cls is nib.Nifti2Header else nib.Nifti1Image)(data, affine, header=hdr)
    codes = (int(header["qform_code"]), int(header["sform_code"])) if header is not None else (0, 0)
    img.set_qform(affine, codes[0] or 1)
    img.set_sform(affine, codes[1] or 1)
    img.set_data_dtype(dtype)
    img.header.set_slope_inter(1.0, 0.0)
    img.header["cal_min"], img.header["cal_max"] = 0, 0
    _atomic_save(img, path)


def read_label_nifti(path: Path) -> np.ndarray:
    """A predicted label volume as (z, y, x) uint8 (clear error if unreadable or not integer labels)."""
    data = read_nifti_zyx(path, dtype=np.float64)[0]
    if not np.all(np.isfinite(data)) or np.any(data != np.round(data)) or data.min() < 0 or data.max() > 255:
        raise DataError(f"{path} is not a label volume (values must be integers 0-255): "
                        "write labels, not probabilities")
    return np.ascontiguousarray(data.astype(np.uint8))
