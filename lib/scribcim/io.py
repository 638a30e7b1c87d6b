"""Scans in and label volumes out: NIfTI and HDF5 reading, NIfTI writing, intensity normalisation.

Orientation convention (:data:`ORIENTATION`): NIfTI arrays are read as (x, y, z) with the
short-axis slices along the last axis, as in the ACDC and MS-CMRSeg NIfTI releases; the
project's HDF5 volumes are (z, y, x). Inside the library every volume is (z, y, x) with spacing
(dz, dy, dx) in mm; a NIfTI output is transposed back to (x, y, z) and keeps the input's shape,
affine and header, so it overlays in ITK-SNAP or 3D Slicer.

Normalisation (:func:`normalise`): per volume, subtract the minimum, divide by the 99.5th
percentile (numpy ``method="higher"``, an order statistic) and clip to [0, 1]. It is
scale-invariant (raw scanner units and [0, 1] give the same array) and a projection: an ACDC
HDF5 image (clipped at its 99th percentile and scaled to [0, 1], so about 1 % of its voxels,
at least 0.9 % in all 200 volumes, are exactly 1.0 and its minimum is 0.0) comes back
bit-identical. Training, ``evaluate`` and ``predict`` all apply it, with the spec stored in the
run folder's ``run_info.json``.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .data.nifti import read_nifti_zyx, squeeze_to_3d
from .data.volumes import ACDC_SPACING, Volume, read_spacing
from .errors import ConfigError, DataError
from .metrics import CLASS_NAMES
from .runlog import write_json

log = logging.getLogger(__name__)

ORIENTATION = ("NIfTI arrays are read as (x, y, z) with short-axis slices along the last axis "
               "(as in the ACDC and MS-CMRSeg NIfTI releases); HDF5 volumes (dataset 'image') are (z, y, x).")
PRED_SUFFIX = "_seg"      # <name>_seg.nii.gz: the label volume of input <name>
PROB_SUFFIX = "_prob"     # <name>_prob.nii.gz: per-class probabilities, (x, y, z, class)
NIFTI_EXTS = (".nii.gz", ".nii")
INPUT_EXTS = (*NIFTI_EXTS, ".h5")
RUN_INFO_FORMAT = 1
DEFAULT_NORMALISATION: dict[str, Any] = {"name": "min_percentile_clip", "percentile": 99.5, "method": "higher"}


def label_names(num_classes: int = len(CLASS_NAMES) + 1) -> list[str]:
    """Class names by label value: background, RV, MYO, LV."""
    names = ["background", *CLASS_NAMES]
    return names[:num_classes] + [f"class{k}" for k in range(len(names), num_classes)]


def make_run_info(config: Any, volumes: Sequence[Volume] | None = None) -> dict[str, Any]:
    """The self-describing part of a run folder beside ``config.json`` (written by ``train``).

    ``volumes``: the training volumes, whose slices give the input ``scale`` (:mod:`scribcim.geometry`).
    """
    info = {"format": RUN_INFO_FORMAT, "class_names": label_names(config.num_classes),
            "input_size": config.input_size, "in_channels": 1, "normalisation": DEFAULT_NORMALISATION,
            "orientation": ORIENTATION}
    if volumes is not None:
        from .geometry import training_scale
        info["scale"] = training_scale(volumes, config.input_size)
    return info


def read_json_file(path: Path, what: str, fix: str) -> Any:
    """A JSON file of a run folder, or a one-line :class:`ConfigError` saying what is wrong and ``fix``."""
    import json
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno}): {fix}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {path} ({type(exc).__name__}): {fix}") from None


RUN_INFO_KEYS = ("class_names", "input_size", "normalisation")


def read_run_info(run_dir: Path, config: Any) -> dict[str, Any]:
    """``run_info.json`` of a run folder; a folder from before it existed gets the defaults."""
    path = Path(run_dir) / "run_info.json"
    if not path.is_file():
        log.warning("%s missing (run folder from an older version): using the current defaults", path)
        return make_run_info(config)
    fix = "copy the run folder again from where it was trained, or delete the file to use the defaults"
    info = read_json_file(path, "run info", fix)
    if not isinstance(info, dict) or info.get("format") != RUN_INFO_FORMAT:
        got = info.get("format") if isinstance(info, dict) else type(info).__name__
        raise ConfigError(f"{path} has format {got}, this scribcim reads format "
                          f"{RUN_INFO_FORMAT}: use the scribcim version that trained it, or retrain")
    missing = [k for k in RUN_INFO_KEYS if k not in info]
    if missing:
        raise ConfigError(f"{path} lacks {missing}: {fix}")
    return info


def run_scale(info: dict[str, Any], config: Any) -> dict[str, Any]:
    """The run's input ``scale`` (mm per model pixel, typical spacing); a run without one gets its
    dataset's typical values, with a warning saying which."""
    scale = info.get("scale")
    if isinstance(scale, dict) and float(scale.get("mm_per_pixel", 0)) > 0:
        return scale
    from .geometry import fallback_scale
    scale = fallback_scale(config.dataset, int(info["input_size"]))
    log.warning("run_info.json records no input scale (run trained before scribcim recorded it): assuming %s, "
                "%.3f mm per model pixel (field of view %.0f mm), typical spacing %s mm", scale["source"],
                scale["mm_per_pixel"], scale["fov_mm"], "x".join(f"{s:g}" for s in scale["spacing_mm"]))
    return scale


def normalise(image: np.ndarray, spec: dict[str, Any] | None = None, *, name: str = "image") -> np.ndarray:
    """Per-volume intensity normalisation (see the module docstring); float32 in [0, 1]."""
    spec = spec or DEFAULT_NORMALISATION
    if spec.get("name") != DEFAULT_NORMALISATION["name"]:
        raise ConfigError(f"unknown normalisation {spec.get('name')!r} in the run folder: update scribcim")
    x = np.asarray(image, dtype=np.float64)
    if not np.isfinite(x).all():
        raise DataError(f"{name} has {int((~np.isfinite(x)).sum())} non-finite voxel(s) (NaN/inf): "
                        "fix or mask them in the file before segmenting")
    lo = float(x.min())
    hi = float(np.percentile(x, spec["percentile"], method=spec.get("method", "higher")))
    if not hi > lo:
        raise DataError(f"{name} has (nearly) constant intensities: it is not an image, check the file")
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def normalise_volumes(volumes: Sequence[Volume], spec: dict[str, Any] | None = None) -> list[Volume]:
    """:func:`normalise` applied to each volume's image (labels and scribbles untouched)."""
    return [dataclasses.replace(v, image=normalise(v.image, spec, name=v.case)) for v in volumes]


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


def write_labels_json(folder: Path, class_names: Sequence[str], **extra: Any) -> None:
    """``labels.json``: label value -> class name (plus where the labels came from)."""
    write_json(Path(folder) / "labels.json", {"labels": {str(i): n for i, n in enumerate(class_names)}, **extra})


def read_label_nifti(path: Path) -> np.ndarray:
    """A predicted label volume as (z, y, x) uint8 (clear error if unreadable or not integer labels)."""
    data = read_nifti_zyx(path, dtype=np.float64)[0]
    if not np.all(np.isfinite(data)) or np.any(data != np.round(data)) or data.min() < 0 or data.max() > 255:
        raise DataError(f"{path} is not a label volume (values must be integers 0-255): "
                        "write labels, not probabilities")
    return np.ascontiguousarray(data.astype(np.uint8))
