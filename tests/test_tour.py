"""Data tour: per-volume counts and coverage on hand-made volumes, summaries, figures, and the notebook on real ACDC."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scribcim.notebook import tour
from scribcim.viz import tour as tour_plots
from scribcim.data.phantom import phantom_volumes
from scribcim.data.scribble_stats import scribble_stats
from scribcim.data.volumes import UNLABELLED, Volume
from scribcim.errors import ConfigError
from scribcim.notebook.execute import NOTEBOOKS, execute, has_outputs, parameters_of

U = UNLABELLED


def _hand_volume(case: str = "patient007_frame01", *, label: bool = True, scribble: bool = True) -> Volume:
    """2 slices of 4 x 5. Slice 0: RV 4, MYO 2, LV 3, BG 11 pixels; slice 1: LV 5, BG 15.

    Scribbles: slice 0 RV 1, MYO 1, BG 2 pixels; slice 1 LV 2 pixels.
    """
    lab = np.zeros((2, 4, 5), np.uint8)
    lab[0, 0, :4] = 1
    lab[0, 1, :2] = 2
    lab[0, 2, :3] = 3
    lab[1, 3, :5] = 3
    scr = np.full((2, 4, 5), U, np.uint8)
    if scribble:
        scr[0, 0, 0] = 1
        scr[0, 1, 1] = 2
        scr[0, 3, 3:5] = 0
        scr[1, 3, 1:3] = 3
    return Volume(case=case, patient=int(case[7:10]), image=np.random.default_rng(0).random((2, 4, 5), np.float32),
                  label=lab if label else None, scribble=scr, spacing=(10.0, 1.5, 1.25))


def test_volume_row_hand_counts():
    row = tour.volume_row(_hand_volume(), "train")
    assert (row["case"], row["patient"], row["part"], row["slices"]) == ("patient007_frame01", 7, "train", 2)
    assert (row["height"], row["width"], row["dz_mm"], row["dy_mm"], row["dx_mm"]) == (4, 5, 10.0, 1.5, 1.25)
    assert row["has_label"] and row["has_scribble"] and row["scribbled_slices"] == 2
    # labelled, scribbled, slices with a scribble, strokes per slice where the class is present
    expect = {"RV": (4, 1, 1, 1.0), "MYO": (2, 1, 1, 1.0), "LV": (8, 2, 1, 0.5), "BG": (26, 2, 1, 0.5)}
    for c, (labelled, scribbled, slices, strokes) in expect.items():
        assert row[f"{c}_labelled"] == labelled
        assert row[f"{c}_label_frac"] == pytest.approx(labelled / 40)
        assert row[f"{c}_scribbled"] == scribbled
        assert row[f"{c}_coverage_pct"] == pytest.approx(100.0 * scribbled / labelled)
        assert row[f"{c}_scribbled_slices"] == slices
        assert row[f"{c}_strokes_per_slice"] == pytest.approx(strokes)
    assert row["BG_coverage_pct"] == pytest.approx(100 * 2 / 26)


def test_volume_without_label_or_scribble():
    """No dense label (MSCMR training): counts only. No scribble (MSCMR val/test): coverage undefined, not 0."""
    row = tour.volume_row(_hand_volume(label=False))
    assert not row["has_label"] and row["RV_scribbled"] == 1 and row["LV_scribbled_slices"] == 1
    assert all(math.isnan(row[f"{c}_{k}"]) for c in tour.CLASSES for k in ("label_frac", "labelled", "coverage_pct"))
    row = tour.volume_row(_hand_volume(scribble=False))
    assert row["has_label"] and not row["has_scribble"] and row["scribbled_slices"] == 0
    assert row["MYO_labelled"] == 2 and math.isnan(row["MYO_coverage_pct"]) and row["MYO_scribbled"] == 0
    table = tour.volume_table({"train": [_hand_volume(label=False)], "test": [_hand_volume(scribble=False)]})
    per_class = tour.class_summary(table).set_index("class")
    assert per_class.loc["RV", "scribbled_pixels"] == 1 and math.isnan(per_class.loc["RV", "coverage_pct_pooled"])
    assert per_class.loc["LV", "labelled_volumes"] == 1 and per_class.loc["LV", "scribbled_volumes"] == 1
    assert per_class.loc["LV", "scribbled_slices_pct"] == pytest.approx(50.0)  # 1 of the scribbled volume's 2 slices
    fig = tour_plots.plot_coverage(tour.long_table(table), tour.patient_summary(table))
    assert "coverage undefined" in fig.axes[0].texts[0].get_text()


def test_summaries_pool_like_scribble_stats():
    """Per-class pooled coverage equals scribble_stats over the same volumes; per-patient pools two frames."""
    vols = phantom_volumes(3)
    table = tour.volume_table(vols)
    assert len(table) == 6 and list(table.case) == [v.case for v in vols]
    pooled = scribble_stats(vols)["coverage_pct"]
    per_class = tour.class_summary(table).set_index("class")
    for c in tour.CLASSES:
        assert per_class.loc[c, "coverage_pct_pooled"] == pytest.approx(pooled[c])
        assert per_class.loc[c, "scribbled_pixels"] == sum(int((v.scribble == tour.VALUE[c]).sum()) for v in vols)
    assert per_class.scribbled_share_pct.sum() == pytest.approx(100.0)
    per_patient = tour.patient_summary(table).set_index("patient")
    two = [v for v in vols if v.patient == 2]
    mine = sum(int((v.scribble == 2).sum()) for v in two) / sum(int((v.label == 2).sum()) for v in two)
    assert per_patient.loc[2, "MYO_coverage_pct"] == pytest.approx(100 * mine)
    assert per_patient.loc[2, "volumes"] == 2 and per_patient.loc[2, "slices"] == sum(v.num_slices for v in two)
    long = tour.long_table(table)
    assert len(long) == 4 * len(table) and set(long.cls) == set(tour.CLASSES)


def test_load_parts_figures_and_save(tmp_path):
    vols = tour.load_tour_volumes("phantom", None, 1, "all")
    assert list(vols) == ["train", "val", "test"] and sum(map(len, vols.values())) == 20
    with pytest.raises(ConfigError, match="part must be one of"):
        tour.load_tour_volumes("phantom", None, 1, "everything")
    table = tour.volume_table(vols)
    assert set(table.part) == {"train", "val", "test"}
    flat = [v for vs in vols.values() for v in vs]
    assert [v.case for v in tour_plots.example_volumes(flat, 3)] == [flat[0].case, flat[10].case, flat[19].case]
    figs = {"class_frequencies": tour_plots.plot_class_frequencies(tour.class_summary(table)),
            "coverage": tour_plots.plot_coverage(tour.long_table(table), tour.patient_summary(table)),
            "examples": tour_plots.plot_examples(flat, 3)}
    assert len(figs["examples"].axes) == 9
    paths = tour.save_tour(tmp_path, table, figs, dataset="phantom", fold=1, part="all")
    assert len(pd.read_csv(paths["tour"])) == 20 and len(pd.read_csv(paths["per_class"])) == 4
    assert len(pd.read_csv(paths["per_patient"])) == 10
    for name in figs:
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
        assert json.loads((tmp_path / f"{name}.json").read_text())["dataset"] == "phantom"
    with pytest.raises(ConfigError, match="no volumes"):
        tour_plots.plot_examples(flat, 0)


def test_notebook_is_clean_and_parameterised():
    path = NOTEBOOKS / "01_data_tour.ipynb"
    assert not has_outputs(path)
    assert json.loads(path.read_text())["metadata"]["kernelspec"]["name"] == "python3"
    assert parameters_of(path) == {"dataset": '"acdc"', "data_root": "None", "fold": "1", "part": '"train"',
                                   "n_examples": "6", "out_dir": "None"}


@pytest.mark.realdata
def test_tour_notebook_on_acdc(real_root: Path, tmp_path: Path):
    """The notebook on the 16 validation volumes of ACDC fold 1: tables and figures written and plausible."""
    out = tmp_path / "tour"
    nb = execute("01_data_tour", tmp_path / "x.ipynb", {"dataset": "acdc", "data_root": str(real_root), "fold": 1,
                                                        "part": "val", "n_examples": 2, "out_dir": str(out)})
    assert not any(o.get("output_type") == "error" for c in json.loads(nb.read_text())["cells"]
                   for o in c.get("outputs", []))
    table = pd.read_csv(out / "tour.csv")
    assert len(table) == 16 and table.patient.nunique() == 8 and set(table.part) == {"val"}
    assert table.has_label.all() and table.has_scribble.all() and (table.slices >= 6).all()
    assert ((table.dz_mm >= 5) & (table.dy_mm < 2.5)).all()
    for c in tour.CLASSES:
        assert table[f"{c}_coverage_pct"].between(0, 100).all() and (table[f"{c}_scribbled"] > 0).all()
    per_class = pd.read_csv(out / "tour_per_class.csv").set_index("class")
    assert list(per_class.index) == list(tour.CLASSES)
    assert per_class.loc["BG", "label_frac_mean"] > 0.9 and per_class.loc["BG", "coverage_pct_pooled"] < 2
    assert all(3 < per_class.loc[c, "coverage_pct_pooled"] < 30 for c in ("RV", "MYO", "LV"))
    assert len(pd.read_csv(out / "tour_per_patient.csv")) == 8
    for name in ("class_frequencies", "coverage", "examples"):
        assert (out / f"{name}.png").stat().st_size > 5000


@pytest.mark.realdata
def test_tour_mscmr_training_has_no_dense_labels(real_root: Path):
    if not (real_root / "MSCMR_dataset").is_dir():
        pytest.skip("no MSCMR_dataset under SCRIBCIM_DATA")
    table = tour.volume_table(tour.load_tour_volumes("mscmr", real_root, 1, "train"))
    assert len(table) == 25 and not table.has_label.any() and table.has_scribble.all()
    assert table.RV_coverage_pct.isna().all() and (table.MYO_scribbled > 0).all()
