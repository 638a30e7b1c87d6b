"""Reading NIfTI volumes into the library's (z, y, x) convention."""
from __future__ import annotations

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
