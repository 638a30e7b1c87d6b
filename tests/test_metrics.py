"""Tests of scribcim.evaluate.metrics against hand-computed cases."""
from __future__ import annotations

import math

import numpy as np
import pytest
from medpy.metric import binary

from scribcim.evaluate.metrics import (CLASS_NAMES, ClassMetrics, binary_metrics, fast_dice, volume_diagonal_mm,
                                       volume_metrics)

SHAPE = (8, 10, 12)


def _box(z: slice, y: slice, x: slice, shape: tuple[int, int, int] = SHAPE) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[z, y, x] = True
    return mask


def test_identical_masks() -> None:
    mask = _box(slice(2, 5), slice(3, 7), slice(4, 9))
    m = binary_metrics(mask, mask, (10.0, 2.0, 1.0))
    assert m == ClassMetrics(dice=1.0, hd95=0.0, asd=0.0, assd=0.0, empty_pred=False, empty_gt=False)


@pytest.mark.parametrize(
    ("axis", "expected_mm"),
    [(0, 10.0), (1, 2.0), (2, 1.0)],
)
def test_single_voxel_shift_respects_zyx_spacing(axis: int, expected_mm: float) -> None:
    gt = np.zeros(SHAPE, bool)
    gt[3, 4, 5] = True
    pred = np.roll(gt, 1, axis=axis)
    m = binary_metrics(pred, gt, (10.0, 2.0, 1.0))
    assert m.dice == 0.0
    assert m.hd95 == pytest.approx(expected_mm)
    assert m.asd == pytest.approx(expected_mm)


@pytest.mark.parametrize(
    ("axis", "step_mm"),
    [(0, 10.0), (1, 2.0), (2, 1.0)],
)
def test_cube_shift_respects_zyx_spacing(axis: int, step_mm: float) -> None:
    # 2x2x2 cube (every voxel on the surface) moved by one voxel: half of the surface voxels
    # of each mask lie in the other (distance 0), the other half one step away.
    gt = _box(slice(3, 5), slice(4, 6), slice(5, 7))
    pred = np.roll(gt, 1, axis=axis)
    m = binary_metrics(pred, gt, (10.0, 2.0, 1.0))
    assert m.dice == pytest.approx(0.5)  # 2 * 4 / (8 + 8)
    assert m.hd95 == pytest.approx(step_mm)
    assert m.asd == pytest.approx(step_mm / 2)


def test_dice_of_overlapping_boxes() -> None:
    gt = _box(slice(0, 4), slice(0, 4), slice(0, 4))  # 64 voxels
    pred = _box(slice(1, 4), slice(0, 4), slice(2, 8))  # 3*4*6 = 72 voxels
    inter = 3 * 4 * 2
    m = binary_metrics(pred, gt, (1.0, 1.0, 1.0))
    assert m.dice == pytest.approx(2 * inter / (64 + 72))


def test_empty_prediction_is_nan_not_zero() -> None:
    gt = _box(slice(2, 4), slice(2, 4), slice(2, 4))
    m = binary_metrics(np.zeros(SHAPE, bool), gt, (10.0, 1.5, 1.5))
    assert m.dice == 0.0 and m.empty_pred and not m.empty_gt
    assert math.isnan(m.hd95) and math.isnan(m.asd) and math.isnan(m.assd)


def test_empty_prediction_penalty_mode() -> None:
    gt = _box(slice(2, 4), slice(2, 4), slice(2, 4))
    spacing = (10.0, 1.5, 1.5)
    diag = volume_diagonal_mm(SHAPE, spacing)
    assert diag == pytest.approx(math.sqrt(80.0**2 + 15.0**2 + 18.0**2))
    m = binary_metrics(np.zeros(SHAPE, bool), gt, spacing, empty_penalty=diag)
    assert (m.dice, m.hd95, m.asd, m.assd, m.empty_pred) == (0.0, diag, diag, diag, True)


def test_empty_reference() -> None:
    pred = _box(slice(2, 4), slice(2, 4), slice(2, 4))
    m = binary_metrics(pred, np.zeros(SHAPE, bool), (1.0, 1.0, 1.0), empty_penalty=99.0)
    assert m.dice == 0.0 and m.empty_gt and not m.empty_pred
    assert math.isnan(m.hd95) and math.isnan(m.asd)


def test_both_empty_is_nan() -> None:
    empty = np.zeros(SHAPE, bool)
    m = binary_metrics(empty, empty, (1.0, 1.0, 1.0), empty_penalty=5.0)
    assert math.isnan(m.dice) and math.isnan(m.hd95) and math.isnan(m.asd)
    assert m.empty_pred and m.empty_gt


def test_shape_and_spacing_checks() -> None:
    with pytest.raises(ValueError, match="shape"):
        binary_metrics(np.zeros((2, 2, 2), bool), np.zeros((2, 2, 3), bool), (1, 1, 1))
    with pytest.raises(ValueError, match="spacing"):
        binary_metrics(np.ones((2, 2, 2), bool), np.ones((2, 2, 2), bool), (1, 1))


def test_volume_metrics_per_class() -> None:
    gt = np.zeros(SHAPE, np.uint8)
    gt[2:4, 2:4, 2:4] = 1
    gt[5:7, 5:7, 5:7] = 3
    pred = gt.copy()
    pred[pred == 3] = 0  # LV missed
    pred[0, 0, 0] = 2  # MYO predicted but absent from the reference
    out = volume_metrics(pred, gt, (10.0, 1.0, 1.0))
    assert list(out) == list(CLASS_NAMES) == ["RV", "MYO", "LV"]
    assert out["RV"].dice == 1.0 and out["RV"].hd95 == 0.0
    assert out["MYO"].empty_gt and out["MYO"].dice == 0.0
    assert out["LV"].empty_pred and math.isnan(out["LV"].hd95)
    assert volume_metrics(pred, gt, (10.0, 1.0, 1.0), empty_penalty=7.0)["LV"].hd95 == 7.0
    assert list(volume_metrics(pred, gt, (1, 1, 1), labels=(3, 4))) == ["LV", "class4"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_distances_are_medpys(seed: int) -> None:
    """hd95, asd(pred, gt) and assd computed once each way equal medpy's three public functions exactly."""
    rng = np.random.default_rng(seed)
    pred = _box(slice(1, 6), slice(2, 8), slice(1, 9)) & (rng.random(SHAPE) > 0.2)
    gt = _box(slice(2, 7), slice(1, 9), slice(3, 11))
    spacing = (6.0, 1.4, 0.9)
    m = binary_metrics(pred, gt, spacing)
    assert m.hd95 == binary.hd95(pred, gt, spacing, 1)
    assert m.asd == binary.asd(pred, gt, spacing, 1) != binary.asd(gt, pred, spacing, 1)  # one direction
    assert m.assd == binary.assd(pred, gt, spacing, 1) == pytest.approx(binary.assd(gt, pred, spacing, 1))  # both


def test_fast_dice_matches_medpy() -> None:
    rng = np.random.default_rng(42)
    pred = rng.integers(0, 4, size=(6, 20, 20))
    gt = rng.integers(0, 3, size=(6, 20, 20))  # label 3 absent from the reference
    fast = fast_dice(pred, gt)
    for i, label in enumerate((1, 2, 3)):
        assert fast[i] == pytest.approx(binary.dc(pred == label, gt == label))
    assert fast[2] == 0.0
    assert math.isnan(fast_dice(np.zeros((2, 2)), np.zeros((2, 2)), labels=(1,))[0])
    assert fast_dice(gt, gt, labels=(1, 2)).tolist() == [1.0, 1.0]
