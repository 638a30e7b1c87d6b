"""Scans in: NIfTI and HDF5 inputs read into :class:`Scan` (the ``predict`` and ``score`` inputs).

Orientation convention (:data:`ORIENTATION`): NIfTI arrays are read as (x, y, z) with the
short-axis slices along the last axis, as in the ACDC and MS-CMRSeg NIfTI releases; the
project's HDF5 volumes are (z, y, x). Inside the library every volume is (z, y, x) with spacing
(dz, dy, dx) in mm; a NIfTI output (:func:`scribcim.data.nifti.write_nifti`) is transposed back to
(x, y, z) and keeps the input's shape, affine and header, so it overlays in ITK-SNAP or 3D Slicer.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import DataError
from .nifti import read_nifti_zyx, squeeze_to_3d
from .volumes import ACDC_SPACING, read_spacing

ORIENTATION = ("NIfTI arrays are read as (x, y, z) with short-axis slices along the last axis "
               "(as in the ACDC and MS-CMRSeg NIfTI releases); HDF5 volumes (dataset 'image') are (z, y, x).")
PRED_SUFFIX = "_seg"      # <name>_seg.nii.gz: the label volume of input <name>
PROB_SUFFIX = "_prob"     # <name>_prob.nii.gz: per-class probabilities, (x, y, z, class)
NIFTI_EXTS = (".nii.gz", ".nii")
#: an axis whose voxels are this many times coarser than both others' is the through-plane (slice) axis
THROUGH_PLANE_RATIO = 1.5
INPUT_EXTS = (*NIFTI_EXTS, ".h5")


@dataclass
class Scan:
    """One input volume: image (z, y, x), spacing (dz, dy, dx) mm, and what a NIfTI output needs.

    ``spacing_source`` says where the spacing came from (``""``: nowhere, a placeholder of 1 mm).
    """

    path: Path
    name: str
    image: np.ndarray
    spacing: tuple[float, float, float]
    affine: np.ndarray
    header: Any = None  # the input's NIfTI header (None for HDF5 inputs)
    spacing_source: str = "header"


def scan_name(path: Path) -> str:
    """File name without its input extension (``a.nii.gz`` -> ``a``)."""
    for ext in INPUT_EXTS:
        if path.name.endswith(ext):
            return path.name[: -len(ext)]
    return path.stem


def spacing_affine(spacing: Sequence[float]) -> np.ndarray:
    """A diagonal (x, y, z) affine for spacing (dz, dy, dx) mm."""
    dz, dy, dx = (float(s) for s in spacing)
    return np.diag([dx, dy, dz, 1.0])


def list_inputs(path: Path | str) -> list[Path]:
    """``path`` itself, or the NIfTI/HDF5 files of a folder (sorted; our own outputs skipped)."""
    path = Path(path)
    if path.is_file():
        if not path.name.endswith(INPUT_EXTS):
            raise DataError(f"{path} is not .nii, .nii.gz or .h5: convert it to NIfTI first")
        return [path]
    if not path.is_dir():
        raise DataError(f"{path} not found: pass an existing file or folder with --input")
    files = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(INPUT_EXTS)
                   and not p.name.startswith(".")
                   and not scan_name(p).endswith((PRED_SUFFIX, PROB_SUFFIX)))
    if not files:
        raise DataError(f"{path} holds no .nii, .nii.gz or .h5 files: point --input at your scans")
    return files


def read_scan(path: Path | str) -> Scan:
    """Read a NIfTI (x, y, z) or HDF5 (z, y, x) scan into a :class:`Scan` (clear error if unreadable)."""
    path = Path(path)
    try:
        if path.name.endswith(".h5"):
            return _read_h5(path)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot read {path} ({type(exc).__name__}): the file is corrupt or truncated, "
                        "export it again") from None
    image, spacing, affine, header = read_nifti_zyx(path)
    known = all(np.isfinite(spacing)) and min(spacing) > 0
    return Scan(path, scan_name(path), image, spacing if known else (1.0, 1.0, 1.0), affine, header,
                spacing_source="NIfTI header" if known else "")


def with_spacing(scan: Scan, spacing: Sequence[float], source: str) -> Scan:
    """``scan`` with another spacing (an HDF5 scan's affine follows it; a NIfTI keeps its own)."""
    spacing = tuple(float(s) for s in spacing)
    affine = spacing_affine(spacing) if scan.header is None else scan.affine
    return dataclasses.replace(scan, spacing=spacing, affine=affine, spacing_source=source)


def _h5_spacing(f: Any, path: Path) -> tuple[tuple[float, float, float], str] | None:
    """(dz, dy, dx) from a ``spacing`` attribute or dataset of the file (or of ``image``), if any."""
    for where, obj in (("attribute", f["image"].attrs), ("attribute", f.attrs), ("dataset", f)):
        if "spacing" in obj:
            value = np.asarray(obj["spacing"][()] if where == "dataset" else obj["spacing"], dtype=float).ravel()
            if value.shape != (3,) or not np.all(np.isfinite(value)) or value.min() <= 0:
                raise DataError(f"{path}: 'spacing' {value.tolist()} is not three positive mm values (dz, dy, dx): "
                                "fix it or remove it")
            return (float(value[0]), float(value[1]), float(value[2])), f"'spacing' {where} of the file"
    return None


def _read_h5(path: Path) -> Scan:
    import h5py
    with h5py.File(path, "r") as f:
        if "image" not in f:
            raise DataError(f"{path} has no 'image' dataset: save the scan (z, y, x) as 'image'")
        image = squeeze_to_3d(np.asarray(f["image"][()], dtype=np.float32), path)
        found = _h5_spacing(f, path)
    name = scan_name(path)
    csv = path.parent.parent / Path(ACDC_SPACING).name
    if found is None and csv.is_file() and name in (table := read_spacing(csv)):
        found = table[name], str(csv)
    spacing, source = found if found is not None else ((1.0, 1.0, 1.0), "")
    return Scan(path, name, image, spacing, spacing_affine(spacing), spacing_source=source)


def through_plane_axis(scan: Scan) -> int:
    """The NIfTI (x, y, z) axis that ``scan``'s short-axis slices lie along: the axis whose voxel size is at least
    :data:`THROUGH_PLANE_RATIO` times both others' (cine short-axis stacks have slices 5-10 mm thick, pixels of
    1-2 mm); 2, the convention, when no axis is that much coarser, the spacing is unknown, or the scan is HDF5.

    The voxel sizes, not the axis codes, tell it: short-axis planes are oblique, so the slice axis of a real scan
    may point to any scanner axis (the MS-CMRSeg scans' last axis is closest to R-L or A-P, not S-I).
    """
    if scan.header is None or not scan.spacing_source:
        return 2
    sizes = scan.spacing[::-1]  # (dx, dy, dz): NIfTI axis order
    axis = int(np.argmax(sizes))
    others = max(s for i, s in enumerate(sizes) if i != axis)
    return axis if sizes[axis] >= THROUGH_PLANE_RATIO * others else 2


def slices_last(scan: Scan) -> tuple[Scan, np.ndarray | None]:
    """``scan`` with its through-plane axis (:func:`through_plane_axis`) moved last in NIfTI (x, y, z) order,
    i.e. first in the (z, y, x) image, the other two kept in order; and the nibabel orientation transform that
    puts an (x, y, z) array of that layout back in the input's (None: the axis is already last)."""
    from nibabel.orientations import apply_orientation, ornt_transform
    axis = through_plane_axis(scan)
    if axis == 2:
        return scan, None
    order = [i for i in range(3) if i != axis] + [axis]
    own = np.column_stack([np.arange(3.0), np.ones(3)])  # the input's axes as they are
    to, back = ornt_transform(own, own[order]), ornt_transform(own[order], own)
    xyz = apply_orientation(scan.image.transpose(2, 1, 0), to)
    spacing = tuple(scan.spacing[::-1][i] for i in order)[::-1]
    return dataclasses.replace(scan, image=np.ascontiguousarray(xyz.transpose(2, 1, 0)), spacing=spacing), back


def to_input_orientation(volume_zyx: np.ndarray, back: np.ndarray | None) -> np.ndarray:
    """A (z, y, x) volume made on :func:`slices_last`'s layout, back in the input's (unchanged when ``back`` is
    None)."""
    from nibabel.orientations import apply_orientation
    if back is None:
        return volume_zyx
    return np.ascontiguousarray(apply_orientation(volume_zyx.transpose(2, 1, 0), back).transpose(2, 1, 0))
