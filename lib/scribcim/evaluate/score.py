"""Score a folder of predicted label volumes against a dataset's expert labels.

Predictions are NIfTI label volumes in (x, y, z) (:data:`scribcim.data.scans.ORIENTATION`) named
``<case>.nii[.gz]`` or ``<case>_seg.nii[.gz]`` (what ``predict`` and ``evaluate
--save-predictions`` write). Each is matched by case name to the dataset's dense label and
scored with the project's metrics (:func:`scribcim.evaluate.summary.score_case`, true spacing from the
dataset) and aggregated with :func:`scribcim.evaluate.summary.aggregate`, so scoring ``evaluate``'s own
saved predictions gives ``evaluate``'s numbers exactly. Cases missing on either side are named. A prediction
must lie on its reference's voxel grid: same shape, and the same affine (within :data:`AFFINE_ATOL`) where the
reference scan has one (NIfTI: MSCMR), else (HDF5: ACDC) the same voxel sizes as its spacing.
"""
from __future__ import annotations

import csv
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data import dataset_root, load_volumes
from ..data.datasets import labelled_volumes
from ..errors import DataError
from ..progress import progress_bar
from .summary import aggregate, score_case
from ..data.scans import NIFTI_EXTS, PRED_SUFFIX, scan_name
from ..data.nifti import read_label_nifti
from .metrics import CLASS_NAMES, DEFINITIONS, METRICS
from ..runs.log import write_json

log = logging.getLogger(__name__)
#: largest difference allowed between a prediction's affine (or voxel sizes, mm) and its reference's
AFFINE_ATOL = 1e-3


def prediction_files(pred_dir: Path) -> dict[str, Path]:
    """Case name -> predicted label file in ``pred_dir`` (``_seg`` suffix optional)."""
    if not pred_dir.is_dir():
        raise DataError(f"{pred_dir} not found: pass the folder of predicted label volumes with --pred")
    out: dict[str, Path] = {}
    for p in sorted(pred_dir.iterdir()):
        if p.name.startswith(".") or not p.name.endswith(NIFTI_EXTS):
            continue
        name = scan_name(p)
        case = name[: -len(PRED_SUFFIX)] if name.endswith(PRED_SUFFIX) else name
        if case in out:
            raise DataError(f"{pred_dir} holds two predictions of {case} ({out[case].name}, {p.name}): keep one")
        out[case] = p
    if not out:
        raise DataError(f"{pred_dir} holds no .nii or .nii.gz label volumes: run `scribcim predict` first")
    return out


def check_affine(pred_path: Path, volume: Any) -> None:
    """Refuse a prediction whose NIfTI affine is not its reference's (``volume.affine``, within
    :data:`AFFINE_ATOL`), or, for a reference without one (HDF5), whose voxel sizes are not its spacing."""
    import nibabel as nib
    from nibabel.affines import voxel_sizes
    got = np.asarray(nib.load(str(pred_path)).affine, dtype=float)
    ref = volume.source or f"the reference scan of {volume.case}"
    fix = (f"write the prediction on that scan's grid with its affine (`scribcim predict` on {ref} does), or "
           "resample it onto that grid")
    if volume.affine is not None:
        if not np.allclose(got, volume.affine, atol=AFFINE_ATOL):
            raise DataError(f"{pred_path} has affine {np.round(got, 3).tolist()}, {ref} has "
                            f"{np.round(volume.affine, 3).tolist()} (they differ by up to "
                            f"{np.abs(got - volume.affine).max():.3g}): the prediction is resampled, reoriented or "
                            f"flipped against its reference; {fix}")
        return
    sizes, want = voxel_sizes(got), np.asarray(volume.spacing[::-1], dtype=float)
    if not np.allclose(sizes, want, atol=AFFINE_ATOL):
        raise DataError(f"{pred_path} has voxel sizes (x, y, z) {np.round(sizes, 4).tolist()} mm, {ref} has "
                        f"{np.round(want, 4).tolist()} mm: the prediction is not on its reference's grid; {fix}")


def reference_volumes(dataset: str, data_root: str | None, fold: int | None, part: str) -> list[Any]:
    """The dataset's volumes with dense labels: all of them, or the ``part`` of ``fold``."""
    if fold is None:
        return labelled_volumes(dataset, dataset_root(dataset, data_root))
    return [v for v in load_volumes(dataset, part, fold=fold, data_root=data_root) if v.label is not None]


def score(pred_dir: Path | str, dataset: str = "acdc", *, data_root: str | None = None, fold: int | None = None,
          part: str = "test", empty_penalty: float | None = None, out_dir: Path | str | None = None,
          progress: bool = True) -> dict[str, Any]:
    """Score every prediction in ``pred_dir`` that has a reference case; write ``score.json`` and ``score.csv``.

    Args:
        pred_dir: Folder of predicted label volumes (NIfTI, x, y, z).
        dataset: ``acdc``, ``mscmr`` (or ``phantom`` in tests).
        data_root: Data root (else ``$SCRIBCIM_DATA``, else ``./data``).
        fold: Restrict the reference to one fold's ``part``; None: every case of the dataset.
        part: ``test`` or ``val`` (with ``fold``).
        empty_penalty: Distance in mm for a missed structure (as in ``evaluate``).
        out_dir: Where to write ``score.json``/``score.csv`` (default: ``pred_dir``).
        progress: Show a progress bar.

    Returns:
        ``aggregate`` of the scored cases plus ``cases``, ``missing_predictions`` (reference
        cases without a prediction) and ``unmatched_predictions`` (predictions with no reference).
    """
    pred_dir = Path(pred_dir)
    preds = prediction_files(pred_dir)
    refs = reference_volumes(dataset, data_root, fold, part)
    ref_names = {v.case for v in refs}
    unmatched = sorted(set(preds) - ref_names)
    missing = [v.case for v in refs if v.case not in preds]
    matched = [v for v in refs if v.case in preds]
    if not matched:
        raise DataError(f"no prediction in {pred_dir} matches a {dataset} case (e.g. {unmatched[:3]}): "
                        "name files <case>.nii.gz or <case>_seg.nii.gz")
    for what, names in (("prediction(s) with no reference case", unmatched),
                        ("reference case(s) with no prediction", missing)):
        if names:
            log.warning("%d %s: %s%s", len(names), what, ", ".join(names[:10]), " ..." if len(names) > 10 else "")
    cases = []
    for v in progress_bar(matched, enabled=progress, desc="score", unit="volume"):
        pred = read_label_nifti(preds[v.case])
        if pred.shape != v.label.shape:
            raise DataError(f"{preds[v.case]} has shape (z, y, x) {pred.shape}, the label of {v.case} has "
                            f"{v.label.shape}: write predictions on the original grid, (x, y, z) in NIfTI")
        check_affine(preds[v.case], v)
        cases.append(score_case(v.case, pred, v.label, v.spacing, empty_penalty))
    result = {"dataset": dataset, "fold": fold, "part": part if fold is not None else None,
              "pred_dir": str(pred_dir), "empty_penalty": empty_penalty, "metrics": DEFINITIONS, **aggregate(cases),
              "cases": cases,
              "missing_predictions": missing, "unmatched_predictions": unmatched}
    out = Path(out_dir) if out_dir is not None else pred_dir
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "score.json", result)
    write_csv(out / "score.csv", cases)
    return result


def write_csv(path: Path, cases: list[dict[str, Any]]) -> None:
    """One row per case and class (plus ``foreground_mean``), atomically."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["case", "class", *METRICS])
        for c in cases:
            for name in CLASS_NAMES:
                w.writerow([c["case"], name, *(c["classes"][name][m] for m in METRICS)])
            w.writerow([c["case"], "foreground_mean", *(c["foreground_mean"][m] for m in METRICS)])
    os.replace(tmp, path)
