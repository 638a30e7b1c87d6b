"""Per-class 3D segmentation metrics (Dice, HD95, ASD, ASSD) in millimetres.

Arrays are indexed (z, y, x) and spacing is given in the same order, (dz, dy, dx) in mm.
Distances are medpy's (``medpy.metric.binary``, connectivity 1), see :data:`DEFINITIONS`: note that
ASD is one-directional (from the prediction's surface to the reference's); ASSD is the symmetric
one. A metric that is undefined is NaN, never a silent 0: NaNs are meant to be excluded from means
(``np.nanmean``).
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

CLASS_NAMES: tuple[str, ...] = ("RV", "MYO", "LV")  # labels 1, 2, 3; 0 is background
#: the per-case metrics of a summary, in the order summaries and tables list them
METRICS: tuple[str, ...] = ("dice", "hd95", "asd", "assd")
#: the metrics where smaller is better (the distances, mm); for Dice larger is better
LOWER_IS_BETTER: frozenset[str] = frozenset({"hd95", "asd", "assd"})
#: each metric's short name in table headers and axis labels
LABELS: dict[str, str] = {"dice": "Dice", "hd95": "HD95", "asd": "ASD", "assd": "ASSD"}
#: what each reported metric is (written into summaries and table notes)
DEFINITIONS: dict[str, str] = {
    "dice": "Dice overlap (medpy dc)",
    "hd95": "95th percentile of the surface distances in both directions, pooled (medpy hd95), mm",
    "asd": "mean distance from the prediction's surface to the reference's surface, one direction only "
           "(medpy asd(pred, gt)), mm",
    "assd": "mean of the surface distances in both directions, pooled (medpy assd), mm",
    "missed": "a class present in the reference but absent from the prediction: Dice 0, distances NaN and left "
              "out of the distance means (counted as empty_predictions), unless an empty_penalty in mm is set",
}


@dataclass
class ClassMetrics:
    """Metrics of one class in one volume (distances in mm)."""

    dice: float
    hd95: float
    asd: float
    assd: float
    empty_pred: bool
    empty_gt: bool


def pstd(values: Iterable[float]) -> float:
    """Standard deviation over cases as summaries report it (population, NaN left out; NaN when none)."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    return float(v.std()) if v.size else float("nan")


def volume_diagonal_mm(shape: Sequence[int], spacing: Sequence[float]) -> float:
    """Return the length in mm of the diagonal of a volume of ``shape`` voxels of ``spacing`` mm."""
    if len(shape) != len(spacing):
        raise ValueError(f"shape {tuple(shape)} and spacing {tuple(spacing)} differ in length")
    return float(math.sqrt(sum((n * s) ** 2 for n, s in zip(shape, spacing))))


def binary_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    spacing: Sequence[float],
    *,
    empty_penalty: float | None = None,
) -> ClassMetrics:
    """Dice, HD95, ASD and ASSD of one binary mask against the reference.

    Rules:
        * both non-empty: medpy's ``dc``, ``hd95``, ``asd(pred, gt)`` (mean surface distance from
          ``pred`` to ``gt``, one direction) and ``assd`` (both directions), with
          ``voxelspacing=spacing``, connectivity 1 (:func:`surface_metrics`);
        * ``gt`` present, ``pred`` empty (missed structure): dice 0.0, distances NaN, or
          ``empty_penalty`` mm when given (penalty mode, e.g. :func:`volume_diagonal_mm`),
          ``empty_pred=True``;
        * ``gt`` empty, ``pred`` non-empty (false-positive structure): dice 0.0, distances
          NaN (the penalty does not apply), ``empty_gt=True``;
        * both empty (class absent): dice and distances NaN, both flags set.

    Args:
        pred: Predicted mask (z, y, x), cast to bool.
        gt: Reference mask of the same shape, cast to bool.
        spacing: Voxel spacing (dz, dy, dx) in mm.
        empty_penalty: Distance in mm reported for a missed structure instead of NaN.

    Returns:
        The class metrics.
    """
    pred = np.asarray(pred).astype(bool, copy=False)
    gt = np.asarray(gt).astype(bool, copy=False)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from reference shape {gt.shape}")
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != pred.ndim:
        raise ValueError(f"spacing {spacing} does not match a {pred.ndim}-D array")
    has_pred, has_gt = bool(pred.any()), bool(gt.any())
    nan = float("nan")
    if has_pred and has_gt:
        from medpy.metric import binary

        return ClassMetrics(dice=float(binary.dc(pred, gt)), **surface_metrics(pred, gt, spacing),
                            empty_pred=False, empty_gt=False)
    if has_gt:
        dist = nan if empty_penalty is None else float(empty_penalty)
        return ClassMetrics(dice=0.0, hd95=dist, asd=dist, assd=dist, empty_pred=True, empty_gt=False)
    if has_pred:
        return ClassMetrics(dice=0.0, hd95=nan, asd=nan, assd=nan, empty_pred=False, empty_gt=True)
    return ClassMetrics(dice=nan, hd95=nan, asd=nan, assd=nan, empty_pred=True, empty_gt=True)


def surface_metrics(pred: np.ndarray, gt: np.ndarray, spacing: Sequence[float]) -> dict[str, float]:
    """medpy's ``hd95``, ``asd(pred, gt)`` and ``assd`` of two non-empty masks, from one distance transform
    each way (the same numbers as the three medpy calls, which would compute five; a test checks it)."""
    from medpy.metric.binary import __surface_distances as surface_distances  # medpy's own helper

    to_gt = surface_distances(pred, gt, spacing, 1)
    to_pred = surface_distances(gt, pred, spacing, 1)
    both = np.concatenate([to_gt, to_pred])
    return {"hd95": float(np.percentile(np.hstack((to_gt, to_pred)), 95)), "asd": float(to_gt.mean()),
            "assd": float(both.mean())}


def volume_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    spacing: Sequence[float],
    *,
    labels: Sequence[int] = (1, 2, 3),
    empty_penalty: float | None = None,
) -> dict[str, ClassMetrics]:
    """Per-class metrics of an integer label volume; see :func:`binary_metrics` for the rules.

    Args:
        pred: Predicted labels (z, y, x).
        gt: Reference labels of the same shape.
        spacing: Voxel spacing (dz, dy, dx) in mm.
        labels: Class labels to score; label ``k`` is named ``CLASS_NAMES[k - 1]`` when it
            exists, else ``"class<k>"``.
        empty_penalty: Distance in mm for a missed structure (see :func:`binary_metrics`).

    Returns:
        Class name -> metrics, in the order of ``labels``.
    """
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from reference shape {gt.shape}")
    out: dict[str, ClassMetrics] = {}
    for label in labels:
        name = CLASS_NAMES[label - 1] if 1 <= label <= len(CLASS_NAMES) else f"class{label}"
        out[name] = binary_metrics(pred == label, gt == label, spacing, empty_penalty=empty_penalty)
    return out


def fast_dice(pred: np.ndarray, gt: np.ndarray, labels: Sequence[int] = (1, 2, 3)) -> np.ndarray:
    """Per-class Dice with numpy only, for cheap validation during training.

    Args:
        pred: Predicted labels (any shape).
        gt: Reference labels of the same shape.
        labels: Class labels to score.

    Returns:
        float64 array of one Dice per label; NaN where the class is absent from both.
    """
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from reference shape {gt.shape}")
    out = np.full(len(labels), np.nan, dtype=np.float64)
    for i, label in enumerate(labels):
        p, g = pred == label, gt == label
        total = int(np.count_nonzero(p)) + int(np.count_nonzero(g))
        if total:
            out[i] = 2.0 * np.count_nonzero(p & g) / total
    return out


def validation_dice(per_volume: Sequence[np.ndarray]) -> float:
    """The validation Dice that picks the best checkpoint and the post-processing: the mean of every per-class
    :func:`fast_dice` of every volume, NaN (a class absent from both) left out; NaN when none is left.

    With every class present in each reference (ACDC, MSCMR) this is the mean over volumes of each volume's mean
    foreground Dice; a volume missing a class weighs by the classes it has.
    """
    scores = np.stack([np.asarray(d, dtype=np.float64) for d in per_volume]) if len(per_volume) else np.zeros(0)
    return float(np.nanmean(scores)) if (~np.isnan(scores)).any() else float("nan")
