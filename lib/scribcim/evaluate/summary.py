"""Evaluation of a trained run on held-out volumes: per-case 3D metrics in mm and ``summary.json``.

Each checkpoint (``best`` on validation, ``last``) predicts every test volume slice by slice
(:mod:`scribcim.evaluate.inference`), and :func:`scribcim.evaluate.metrics.volume_metrics` scores RV, MYO and
LV on the 3D volume with its true spacing. Undefined metrics are NaN and excluded from the
means; an empty prediction of a present class is counted per class (``empty_predictions``)
and gets Dice 0 and NaN distances, or ``empty_penalty`` mm if the run sets one. Distances: HD95, ASD
(medpy ``asd(pred, gt)``, from the prediction's surface to the reference's, one direction) and ASSD
(symmetric); ``metrics`` in the summary says so (:data:`scribcim.evaluate.metrics.DEFINITIONS`).

The foreground mean of a case is the mean over the three classes; ``foreground_mean`` in a
summary is the mean and std over cases of that per-case value.

Post-processing (:mod:`scribcim.evaluate.postprocess`) is chosen per checkpoint on the run's validation
patients (never the test patients) and recorded as ``checkpoints.<name>.postprocessing``; the raw
metrics stay where they were and the post-processed ones go beside them, in the same layout
(``foreground_mean``, ``classes``, ``cases``), at ``checkpoints.<name>.postprocessed``. The choices are
also written to ``run_dir/postprocessing.json``, which ``predict`` applies.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data import load_volumes
from ..runs.display import DISPLAY, TRAIN_LOG, display_record
from ..data.frame import frame_of
from .inference import predict_labels
from .postprocess import POSTPROCESSING
from .postprocess import apply as postprocess
from .postprocess import choose as choose_postprocessing
from ..data.scans import PRED_SUFFIX, spacing_affine
from ..data.normalise import normalise_volumes
from ..runs.info import read_run_info, write_labels_json
from ..data.nifti import write_nifti
from .metrics import CLASS_NAMES, DEFINITIONS, METRICS, volume_metrics
from ..progress import progress_bar
from ..provenance import provenance, repo_relative
from ..runs.load import load_model, load_run_config
from ..runs.log import write_json
from ..runs.paths import data_root_for

log = logging.getLogger(__name__)


def _stats(values: Sequence[float]) -> dict[str, float | int]:
    arr = np.asarray(values, dtype=float)
    ok = arr[np.isfinite(arr)]
    return {"mean": float(ok.mean()) if ok.size else float("nan"),
            "std": float(ok.std()) if ok.size else float("nan"), "n": int(ok.size)}


def aggregate(cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-class mean/std/n over cases, empty-prediction counts, and the foreground mean."""
    classes = {}
    for name in CLASS_NAMES:
        rows = [c["classes"][name] for c in cases]
        classes[name] = {m: _stats([r[m] for r in rows]) for m in METRICS}
        classes[name]["empty_predictions"] = int(sum(r["empty_pred"] and not r["empty_gt"] for r in rows))
    fg = {m: _stats([c["foreground_mean"][m] for c in cases]) for m in METRICS}
    return {"classes": classes, "foreground_mean": fg, "num_cases": len(cases)}


def score_case(case: str, pred: np.ndarray, label: np.ndarray, spacing: tuple[float, float, float],
               empty_penalty: float | None = None) -> dict[str, Any]:
    """Per-class metrics of one case and its foreground mean (NaN-aware)."""
    per = volume_metrics(pred, label, spacing, empty_penalty=empty_penalty)
    classes = {k: vars(v) for k, v in per.items()}
    fg = {}
    for m in METRICS:
        vals = np.array([classes[k][m] for k in CLASS_NAMES], dtype=float)
        fg[m] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    return {"case": case, "spacing": list(spacing), "classes": classes, "foreground_mean": fg}


def evaluate(run_dir: Path | str, *, checkpoints: Sequence[str] = ("best", "last"), part: str = "test",
             data_root: str | None = None, device: str | None = None,
             results_dir: Path | str | None = None, progress: bool = True,
             save_predictions: bool = False) -> dict[str, Any]:
    """Score a run's checkpoints on the ``part`` volumes of its fold and write ``summary.json``.

    The summary goes to ``run_dir/summary.json`` and, if given, ``results_dir/summary.json``, each
    with ``display.json`` beside it (and ``results_dir`` a copy of the training log, see
    :mod:`scribcim.runs.display`).
    With ``save_predictions``, each prediction is also written as NIfTI (x, y, z) with the true
    spacing (the scan's own affine where it has one: MSCMR) to ``run_dir/predictions/<checkpoint>/<case>_seg.nii.gz``.
    """
    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    if data_root is not None:
        config.data_root = data_root
    device = device or config.device
    info = read_run_info(run_dir, config)
    volumes, val_volumes = (normalise_volumes(load_volumes(config.dataset, which, fold=config.fold,
                                                           data_root=data_root_for(config),
                                                           val_patients=config.val_patients), info["normalisation"])
                            for which in (part, "val"))
    val_volumes = [v for v in val_volumes if v.label is not None]
    frame = frame_of(config)
    result: dict[str, Any] = {}
    middles: dict[str, tuple[int, np.ndarray]] = {}
    for name in checkpoints:
        model, ckpt = load_model(run_dir, name, device)

        def segment(v: Any) -> np.ndarray:
            return predict_labels(model, v.image, frame=frame, spacing_yx=v.spacing[1:], device=device)

        post = choose_postprocessing([segment(v) for v in val_volumes], [v.label for v in val_volumes])
        cases, post_cases = [], []
        for v in progress_bar(volumes, desc=f"evaluate {config.method} [{name}]", enabled=progress):
            pred = segment(v)
            cases.append(score_case(v.case, pred, v.label, v.spacing, config.empty_penalty))
            post_cases.append(cases[-1] if post["choice"] == "none" else
                              score_case(v.case, postprocess(pred, post["choice"]), v.label, v.spacing,
                                         config.empty_penalty))
            if name == checkpoints[0]:
                middles[v.case] = (v.num_slices // 2, pred[v.num_slices // 2])
            if save_predictions:
                write_nifti(run_dir / "predictions" / name / f"{v.case}{PRED_SUFFIX}.nii.gz", pred,
                            v.affine if v.affine is not None else spacing_affine(v.spacing))
        if save_predictions:
            write_labels_json(run_dir / "predictions" / name, info["class_names"], checkpoint=name)
        result[name] = {"iteration": ckpt["iteration"], "val_dice": ckpt["state"].get("last_val")
                        if name != "best" else ckpt["state"].get("best"), **aggregate(cases), "cases": cases,
                        "postprocessing": post, "postprocessed": {**aggregate(post_cases), "cases": post_cases}}
        if hasattr(model, "bank_purity"):  # measured with dense labels, never trained on
            result[name]["bank_purity"], result[name]["bank_shared"] = model.bank_purity()
    summary = {"method": config.method, "dataset": config.dataset, "fold": config.fold,
               "profile": config.profile, "seed": config.seed, "part": part,
               "run_dir": repo_relative(run_dir),
               "geometry": frame.describe(),
               "empty_penalty": config.empty_penalty, "metrics": DEFINITIONS, "checkpoints": result,
               "provenance": {**provenance(config.to_dict(), device=device, dataset=config.dataset),
                              "train": _read_json(run_dir / "provenance.json"),
                              "train_result": _read_json(run_dir / "train_result.json")}}
    write_json(run_dir / POSTPROCESSING, {name: r["postprocessing"] for name, r in result.items()})
    display = display_record(checkpoints[0], middles)
    for folder in [run_dir] + ([Path(results_dir)] if results_dir is not None else []):
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / "summary.json", summary)
        write_json(folder / DISPLAY, display)
        if folder != run_dir and (run_dir / "metrics.jsonl").is_file():
            shutil.copyfile(run_dir / "metrics.jsonl", folder / TRAIN_LOG)
        if folder != run_dir and (run_dir / "scribbles.json").is_file():  # who drew each simulated volume
            shutil.copyfile(run_dir / "scribbles.json", folder / "scribbles.json")
    return summary


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None
