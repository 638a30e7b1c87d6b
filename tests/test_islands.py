"""scribcim.analysis.islands: the far-field islands of a prediction, their table, figure and command line."""
from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from scribcim.analysis import islands as isl
from scribcim.viz.far_field import plot_islands

SPACING = (10.0, 2.0, 2.0)  # mm (z, y, x): one voxel is 0.04 ml


def _scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 6-slice volume: the reference heart (LV) on slices 1-4, a prediction of it plus two islands."""
    label = np.zeros((6, 40, 40), np.uint8)
    label[1:5, 10:20, 10:20] = 3
    pred = label.copy()
    pred[0:2, 30:34, 30:34] = 1      # RV island: 2 x 4 x 4 voxels, base side (slices 0-1), nearest voxel 10 voxels away
    pred[4, 10:12, 24:26] = 2        # MYO island on the apex slice, 2 x 2 voxels, 5 voxels (10 mm) away in x
    scribble = np.full(label.shape, isl.UNLABELLED, np.uint8)
    scribble[2, 10, 22] = isl.BACKGROUND  # the farthest background scribble: 3 voxels = 6 mm from the heart
    return pred, label, scribble


def test_islands_are_the_components_besides_the_largest():
    pred, label, scribble = _scene()
    found = sorted(isl.islands(pred, label, SPACING, scribble), key=lambda i: i["class"])
    assert [i["class"] for i in found] == ["MYO", "RV"]
    myo, rv = found
    assert rv["voxels"] == 32 and rv["ml"] == pytest.approx(32 * 0.04) and rv["slices"] == [0, 1]
    # nearest RV voxel (1, 30, 30) to the heart corner (1, 19, 19): 11 voxels in y and x, 2 mm each
    assert rv["distance_mm"] == pytest.approx(np.hypot(22, 22))
    assert myo["distance_mm"] == pytest.approx(10.0) and myo["voxels"] == 4 and myo["largest_slice"] == 4
    assert rv["z_heart"] == pytest.approx((0.5 - 1) / 3) and myo["z_heart"] == pytest.approx(1.0)
    assert rv["scribble_reach_mm"] == pytest.approx(6.0) and rv["beyond_scribbles"] and myo["beyond_scribbles"]
    assert isl.islands(pred, label, SPACING)[0]["beyond_scribbles"] is None  # no scribbles given
    assert isl.islands(label, label, SPACING) == [] and isl.islands(0 * label, label, SPACING) == []


def test_island_table_counts_per_method_and_class():
    pred, label, scribble = _scene()
    rows = [{"method": m, "seed": s, "case": c, **i} for m in ("cim", "pce_selfdice") for s in (1, 2)
            for c in ("a", "b") for i in isl.islands(pred, label, SPACING, scribble)]
    t = isl.island_table(rows).set_index(["method", "class"])
    assert t.loc[("cim", "RV"), "islands"] == 4 and t.loc[("cim", "RV"), "case_runs"] == 4
    assert t.loc[("cim", "RV"), "basal_share"] == 1.0 and t.loc[("cim", "MYO"), "basal_share"] == 0.0
    assert t.loc[("cim", "MYO"), "ml_median"] == pytest.approx(0.16)
    assert set(isl.island_table(rows, min_ml=1.0)["class"]) == {"RV"}  # the 0.16 ml islands left out
    md = "\n".join(isl.islands_markdown(isl.island_table(rows), runs=4, min_ml=0.0))
    assert "| cim | RV | 4 | 4 | 1.28 | 31 | 100% | 100% |" in md
    assert isl.island_table([]).empty


def test_split_table_compares_far_case_runs_with_the_rest():
    rows = [{"method": "cim", "seed": 1, "case": "a", "ml": 5.0, "distance_mm": 60.0},
            {"method": "cim", "seed": 1, "case": "a", "ml": 1.0, "distance_mm": 30.0},
            {"method": "cim", "seed": 1, "case": "b", "ml": 0.05, "distance_mm": 90.0}]  # below min_ml
    hd95 = pd.DataFrame({"method": "cim", "seed": 1, "case": ["a", "b", "c"], "hd95": [40.0, 5.0, 3.0]})
    t = isl.split_table(rows, hd95, threshold=20.0, min_ml=0.1).set_index("far")
    assert t.loc[True, "case_runs"] == 1 and t.loc[True, "islands_median"] == 2
    assert t.loc[True, "ml_total_median"] == pytest.approx(6.0) and t.loc[True, "farthest_median"] == 60.0
    assert t.loc[False, "case_runs"] == 2 and t.loc[False, "islands_median"] == 0  # b's island is too small
    md = "\n".join(isl.split_markdown(t.reset_index(), 20.0))
    assert "| cim | yes | 1 | 2 | 6.0 | 60 |" in md
    assert isl._one_per_patient(["p1_frame01", "p1_frame12", "p2_frame01"]) == ["p1_frame01", "p2_frame01"]


def test_plot_islands_draws_reference_beside_prediction():
    pred, label, _ = _scene()
    ex = [{"case": "a", "method": "cim", "seed": 1, "slice": 1, "image": np.random.rand(40, 40),
           "pred": pred[1], "label": label[1]}] * 2
    fig = plot_islands(ex)
    assert len(fig.axes) == 4 and fig.axes[1].get_title() == "cim seed 1: raw prediction"
    plt.close(fig)


@pytest.mark.slow
def test_command_line_on_a_trained_phantom_run(phantom_run, tmp_path, capsys):
    from scribcim.errors import DataError
    from scribcim.evaluate.summary import evaluate
    run = phantom_run("pce")
    with pytest.raises(DataError, match="evaluate the run first"):
        isl.main([str(run), "--out", str(tmp_path / "x")])
    evaluate(run, checkpoints=("best",), progress=False)
    isl.main([str(run), "--out", str(tmp_path / "isl"), "--figure", str(tmp_path / "isl.png"), "--min-ml", "0"])
    rec = json.loads((tmp_path / "isl.json").read_text())
    assert rec["provenance"]["config"]["runs"] and "git" in rec["provenance"] and len(rec["training_commits"]) == 1
    islands = pd.read_csv(tmp_path / "isl.csv") if rec["islands"] else pd.DataFrame(columns=["method", "seed"])
    assert len(islands) == rec["islands"] and rec["islands_csv"] == "isl.csv"
    assert all(islands.method == "pce") and all(islands.seed == 2022)
    assert "| method | class | islands |" in capsys.readouterr().out
    assert (tmp_path / "isl.md").is_file()
    assert (tmp_path / "isl.png").is_file() == bool(rec["islands"])
    if rec["islands"]:
        assert {"first_slice", "last_slice", "ml", "distance_mm", "z_heart"} <= set(islands.columns)
