"""Evaluation: summary structure, per-case aggregation, empty predictions, slice-wise inference."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import scribcim.evaluate.summary as ev
from scribcim.evaluate.inference import predict_probs
from scribcim.models import UNet
from scribcim.report.tables import full_report
from scribcim.runs.load import load_model, load_run_config


@pytest.fixture
def trained_run(phantom_run):
    return phantom_run("cim")


def test_summary_structure(trained_run, tmp_path):
    """summary.json has both checkpoints, per-case and per-class stats, foreground mean and provenance."""
    s = ev.evaluate(trained_run, results_dir=tmp_path / "res", progress=False)
    on_disk = json.loads((tmp_path / "res" / "summary.json").read_text())
    assert on_disk["method"] == "cim" and on_disk["dataset"] == "phantom" and on_disk["fold"] == 1
    assert on_disk["profile"] == "smoke" and "provenance" in on_disk
    assert {"git", "config", "data", "device", "versions"} <= set(on_disk["provenance"])
    for ck in ("best", "last"):
        r = s["checkpoints"][ck]
        assert r["num_cases"] == 4 == len(r["cases"])  # phantom fold 1 tests patients 1, 2 (two frames each)
        assert {c["case"][:10] for c in r["cases"]} == {"patient001", "patient002"}
        assert set(r["classes"]) == {"RV", "MYO", "LV"}
        assert set(r["foreground_mean"]) == {"dice", "hd95", "asd", "assd"}
        dice = [c["foreground_mean"]["dice"] for c in r["cases"]]
        assert r["foreground_mean"]["dice"]["mean"] == pytest.approx(np.mean(dice))
    assert "Dice MYO" in full_report([s]) and "ASSD mean" in full_report([s])
    for ck in ("best", "last"):  # post-processed beside raw, same layout; the choice made on validation volumes
        r, post = on_disk["checkpoints"][ck], on_disk["checkpoints"][ck]["postprocessed"]
        assert set(post) == {"classes", "foreground_mean", "num_cases", "cases"} and post["num_cases"] == 4
        assert [c["case"] for c in post["cases"]] == [c["case"] for c in r["cases"]]
        choice = r["postprocessing"]
        assert choice["volumes"] == 4 and choice["choice"] in choice["val_dice"]
        if choice["choice"] == "none":
            assert post["foreground_mean"] == r["foreground_mean"]
    assert json.loads((trained_run / "postprocessing.json").read_text())["last"] == s["checkpoints"]["last"][
        "postprocessing"]
    report = full_report([s])
    assert report.index("post-processed as each run chose") > report.index("Checkpoint: best on validation")
    assert on_disk["geometry"]["kind"] == "whole_slice"
    assert "asd(pred, gt)" in on_disk["metrics"]["asd"] and "both directions" in on_disk["metrics"]["assd"]


def test_empty_prediction_counted_not_zero(trained_run, monkeypatch):
    """A model predicting only background gets Dice 0, NaN HD95 (null in JSON) and counted misses."""
    monkeypatch.setattr(ev, "predict_labels", lambda model, image, **kw: np.zeros(image.shape, np.uint8))
    s = ev.evaluate(trained_run, checkpoints=("last",), progress=False)
    r = s["checkpoints"]["last"]
    for name in ("RV", "MYO", "LV"):
        assert r["classes"][name]["empty_predictions"] == 4
        assert r["classes"][name]["dice"]["mean"] == 0.0
        assert math.isnan(r["classes"][name]["hd95"]["mean"]) and r["classes"][name]["hd95"]["n"] == 0
    saved = json.loads((trained_run / "summary.json").read_text())
    assert saved["checkpoints"]["last"]["classes"]["LV"]["hd95"]["mean"] is None
    row = next(ln for ln in full_report([s]).splitlines() if ln.startswith("| cim"))
    assert "(4 missed)" in row and row.endswith("| 12 |")  # per class, and in all, next to the distance means


def test_empty_penalty_mode():
    """With a penalty, a missed structure's distances become the penalty instead of NaN."""
    gt = np.zeros((3, 8, 8), np.uint8)
    gt[1, 2:5, 2:5] = 3
    pred = np.zeros_like(gt)
    row = ev.score_case("c", pred, gt, (10.0, 1.0, 1.0), empty_penalty=99.0)
    assert row["classes"]["LV"]["hd95"] == 99.0 and row["classes"]["LV"]["dice"] == 0.0
    assert math.isnan(row["classes"]["RV"]["dice"])  # absent in both: undefined, excluded
    assert row["foreground_mean"]["dice"] == 0.0


def test_predict_probs_maps_back_to_original_size():
    """Slice-wise prediction returns (C, z, y, x) at the original size, probabilities summing to 1."""
    net = UNet().eval()
    image = np.random.default_rng(0).random((3, 37, 50)).astype(np.float32)
    p = predict_probs(net, image, input_size=32, batch_size=2)
    assert p.shape == (4, 3, 37, 50)
    assert np.allclose(p.sum(0), 1.0, atol=1e-5)
    with torch.no_grad():
        direct = net(torch.from_numpy(image[:1, None, :32, :32].copy()))[0]
    assert direct.shape == (1, 4, 32, 32)


def test_display_inputs_written_beside_summary(trained_run, tmp_path):
    """Results folders get the training log and the best checkpoint's middle-slice predictions (lossless)."""
    from scribcim.data import load_part, split_for
    from scribcim.runs.display import decode_labels, encode_labels, read_display
    from scribcim.evaluate.inference import predict_labels
    from scribcim.data.normalise import normalise_volumes
    from scribcim.runs.info import read_run_info
    from scribcim.viz.common import read_metrics

    ev.evaluate(trained_run, results_dir=tmp_path / "res", progress=False)
    res = tmp_path / "res"
    assert (res / "train_log.jsonl").read_text() == (trained_run / "metrics.jsonl").read_text()
    assert read_metrics(res) == read_metrics(trained_run)
    checkpoint, middles = read_display(res)
    assert checkpoint == "best"
    model, _ = load_model(trained_run, "best")
    cfg = load_run_config(trained_run)
    vols = normalise_volumes(load_part("phantom", None, split_for("phantom", 1), "test"),
                             read_run_info(trained_run, cfg)["normalisation"])
    assert sorted(middles) == sorted(v.case for v in vols)
    v = vols[0]
    z, pred = middles[v.case]
    assert z == v.num_slices // 2
    assert np.array_equal(pred, predict_labels(model, v.image, input_size=64)[z])
    labels = np.random.default_rng(0).integers(0, 5, (37, 53))
    assert np.array_equal(decode_labels(encode_labels(labels)), labels)
    with pytest.raises(Exception, match="display.json not found"):
        read_display(tmp_path)
