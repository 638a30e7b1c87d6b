"""Tests of scribcim.evaluate.postprocess on small synthetic label volumes (z, y, x)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from scribcim.errors import ConfigError
from scribcim.evaluate.postprocess import CANDIDATES, apply, choose, largest_component

SHAPE = (6, 40, 40)
RV, MYO, LV = 4 * 12 * 6, 4 * 12 * 4, 4 * 12 * 6  # class sizes of the heart below (768 voxels in all)


def _heart() -> np.ndarray:
    """A contiguous heart: RV | MYO | LV side by side along x."""
    v = np.zeros(SHAPE, np.uint8)
    v[1:5, 10:22, 8:14] = 1
    v[1:5, 10:22, 14:18] = 2
    v[1:5, 10:22, 18:24] = 3
    return v


def _with_small_blob() -> np.ndarray:
    """The heart plus a 32-voxel RV blob far from it."""
    v = _heart()
    v[1:3, 32:36, 32:36] = 1
    return v


def _with_big_blob() -> np.ndarray:
    """The heart plus a 1176-voxel RV blob far from it, bigger than the heart (768)."""
    v = _heart()
    v[0:6, 26:40, 26:40] = 1
    return v


def _with_island() -> np.ndarray:
    """The heart with one LV voxel inside the RV (a stray LV island touching the foreground)."""
    v = _heart()
    v[2, 12, 9] = 3
    return v


def test_largest_fg_removes_far_blob_and_keeps_heart() -> None:
    out = apply(_with_small_blob(), "largest_fg")
    np.testing.assert_array_equal(out, _heart())
    assert out.dtype == np.uint8 and out.shape == SHAPE


def test_largest_fg_classes_removes_stray_class_island() -> None:
    pred = _with_island()
    np.testing.assert_array_equal(apply(pred, "largest_fg"), pred)  # the island touches the heart
    expected = _heart()
    expected[2, 12, 9] = 0
    np.testing.assert_array_equal(apply(pred, "largest_fg_classes"), expected)


def test_none_leaves_prediction_unchanged() -> None:
    pred = _with_small_blob()
    np.testing.assert_array_equal(apply(pred, "none"), pred)


@pytest.mark.parametrize("choice", CANDIDATES)
def test_empty_prediction_stays_empty(choice: str) -> None:
    out = apply(np.zeros(SHAPE, np.uint8), choice)
    assert out.dtype == np.uint8 and out.shape == SHAPE and not out.any()
    assert not largest_component(np.zeros(SHAPE, bool)).any()


def test_diagonal_contact_is_connected() -> None:
    mask = np.zeros((6, 10, 10), bool)
    mask[0:2, 0:2, 0] = True  # 4 voxels
    mask[2:4, 2:4, 1] = True  # 4 voxels touching the first only by an edge/corner
    mask[5, 5:8, 7:9] = True  # 6 voxels, the largest under face connectivity
    np.testing.assert_array_equal(largest_component(mask)[:, :, :2], mask[:, :, :2])
    assert largest_component(mask).sum() == 8
    corner = np.zeros((3, 3, 3), bool)
    corner[0, 0, 0] = corner[1, 1, 1] = True  # corner contact only
    np.testing.assert_array_equal(largest_component(corner), corner)


def test_tie_keeps_lowest_label() -> None:
    mask = np.zeros((4, 10, 10), bool)
    mask[0, 0:2, 0:2] = True
    mask[3, 7:9, 7:9] = True
    expected = np.zeros_like(mask)
    expected[0, 0:2, 0:2] = True
    np.testing.assert_array_equal(largest_component(mask), expected)


@pytest.mark.parametrize("choice", CANDIDATES)
def test_apply_does_not_modify_input(choice: str) -> None:
    pred = _with_island()
    pred[1:3, 32:36, 32:36] = 2
    before = pred.copy()
    out = apply(pred, choice)
    np.testing.assert_array_equal(pred, before)
    assert out is not pred and not np.shares_memory(out, pred)


def test_unknown_choice_raises_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        apply(_heart(), "largest")
    for name in CANDIDATES:
        assert name in str(err.value)


def test_choose_picks_largest_fg_when_it_raises_dice() -> None:
    preds, gts = [_with_small_blob(), _heart()], [_heart(), _heart()]
    res = choose(preds, gts)
    none_first = (2 * RV / (RV + 32 + RV) + 1 + 1) / 3
    assert res["val_dice"]["none"] == pytest.approx((none_first + 1.0) / 2, rel=1e-12)
    assert res["val_dice"]["largest_fg"] == pytest.approx(1.0, rel=1e-12)
    assert res["val_dice"]["largest_fg_classes"] == pytest.approx(1.0, rel=1e-12)
    assert res["choice"] == "largest_fg"  # largest_fg_classes is equal, not greater: the simpler is kept
    assert res["volumes"] == 2 and isinstance(res["rule"], str) and res["rule"]
    assert set(res["val_dice"]) == set(CANDIDATES)


def test_choose_keeps_none_when_post_processing_drops_dice() -> None:
    res = choose([_with_big_blob()], [_heart()])
    big = 6 * 14 * 14
    blob_only = np.zeros(SHAPE, np.uint8)
    blob_only[0:6, 26:40, 26:40] = 1
    np.testing.assert_array_equal(apply(_with_big_blob(), "largest_fg"), blob_only)  # the heart is deleted
    assert res["val_dice"]["none"] == pytest.approx((2 * RV / (RV + big + RV) + 1 + 1) / 3, rel=1e-12)
    assert res["val_dice"]["largest_fg"] == 0.0
    assert res["val_dice"]["largest_fg_classes"] == 0.0
    assert res["choice"] == "none"


def test_choose_moves_to_largest_fg_classes_from_none() -> None:
    res = choose([_with_island()], [_heart()])
    none = (2 * (RV - 1) / (RV - 1 + RV) + 1 + 2 * LV / (LV + 1 + LV)) / 3
    assert res["val_dice"]["none"] == pytest.approx(none, rel=1e-12)
    assert res["val_dice"]["largest_fg"] == pytest.approx(none, rel=1e-12)
    assert res["val_dice"]["largest_fg_classes"] == pytest.approx((2 * (RV - 1) / (RV - 1 + RV) + 2) / 3, rel=1e-12)
    assert res["choice"] == "largest_fg_classes"


def test_choose_equal_dice_keeps_simplest() -> None:
    res = choose([_heart(), _heart()], [_heart(), _heart()])
    assert res["val_dice"] == {c: 1.0 for c in CANDIDATES}
    assert res["choice"] == "none"


def test_choose_ignores_volumes_without_classes() -> None:
    empty = np.zeros(SHAPE, np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = choose([empty, _with_small_blob()], [empty, _heart()])
    assert res["val_dice"]["largest_fg"] == 1.0
    assert res["val_dice"]["none"] == pytest.approx((2 * RV / (RV + 32 + RV) + 2) / 3, rel=1e-12)
    assert res["choice"] == "largest_fg" and res["volumes"] == 2


def test_choose_scores_validation_as_the_training_loop_does(monkeypatch) -> None:
    """One definition of validation Dice: the post-processing choice's is the best checkpoint's
    (``training.loop.validate``), also when a volume lacks a class (its one class weighs as one of four, not as a
    whole volume: (1 + 1 + 1 + 0) / 4, not (1 + 0) / 2)."""
    import torch

    from scribcim.config import make_config
    from scribcim.data.volumes import Volume
    from scribcim.training import loop
    rv_only, wrong = np.zeros(SHAPE, np.uint8), np.zeros(SHAPE, np.uint8)
    rv_only[1:3, 5:9, 5:9] = 1
    wrong[1:3, 20:24, 20:24] = 1
    preds, gts = [_heart(), wrong], [_heart(), rv_only]
    vols = [Volume(f"c{i}", i, np.full(SHAPE, float(i), np.float32), g, g, (1.0, 1.0, 1.0)) for i, g in enumerate(gts)]
    monkeypatch.setattr(loop, "predict_labels", lambda model, image, **kw: preds[int(image.flat[0])])
    val = loop.validate(torch.nn.Identity(), vols, make_config("smoke", device="cpu"))
    assert val == choose(preds, gts)["val_dice"]["none"] == pytest.approx(0.75, rel=1e-12)


def test_choose_without_volumes_raises_config_error() -> None:
    with pytest.raises(ConfigError):
        choose([], [])
    with pytest.raises(ConfigError):
        choose([_heart()], [])
