"""Heart coverage of centred millimetre windows (scribcim.report.window), on synthetic volumes."""
from __future__ import annotations

import numpy as np
import pytest

from scribcim.data.volumes import Volume
from scribcim.errors import DataError
from scribcim.report.window import coverage_table, heart_in_window, main, summarise


def volume(label: np.ndarray, spacing=(10.0, 1.0, 1.0), case: str = "c") -> Volume:
    """A synthetic volume around ``label`` (z, y, x)."""
    label = label.astype(np.uint8)
    return Volume(case=case, patient=1, image=np.zeros(label.shape, np.float32), label=label,
                  scribble=np.full(label.shape, 4, np.uint8), spacing=spacing)


def test_centred_disk_fully_inside():
    """A 30 mm-radius disk at the centre of a 200 mm slice lies wholly in a 100 mm window, not in a 40 mm one."""
    yy, xx = np.mgrid[:200, :200] + 0.5
    disk = ((yy - 100) ** 2 + (xx - 100) ** 2 <= 30 ** 2)
    v = volume(np.stack([disk * 3, disk * 2]))
    r = heart_in_window(v, 100.0)
    assert r["all_inside"] and r["inside_fraction"] == 1.0 and r["fov_mm"] == [200.0, 200.0]
    assert r["heart_extent_mm"] == 60.0 and r["max_offset_mm"] == pytest.approx(29.5)
    small = heart_in_window(v, 40.0)
    assert not small["all_inside"] and 0 < small["inside_fraction"] < 1


def test_offset_rectangle_fraction():
    """A rectangle centred 100 mm right of the centre: 4 of its 80 columns fall in a 128 mm window."""
    lab = np.zeros((1, 320, 320), np.uint8)
    lab[0, 150:170, 220:300] = 1           # centre x = 260 mm = slice centre (160) + 100
    r = heart_in_window(volume(lab), 128.0)
    # window: |j + 0.5 - 160| <= 64  ->  j in [96, 223]; inside columns 220..223
    assert r["inside_fraction"] == pytest.approx(4 / 80) and not r["all_inside"]
    assert r["heart_extent_mm"] == 80.0 and r["max_offset_mm"] == pytest.approx(139.5)


def test_anisotropic_spacing():
    """dy = 2 mm, dx = 1 mm: a 100 x 200 slice is 200 mm square, and half of a full-height column is inside 100 mm."""
    lab = np.zeros((1, 100, 200), np.uint8)
    lab[0, :, 100] = 2
    r = heart_in_window(volume(lab, spacing=(8.0, 2.0, 1.0)), 100.0)
    # rows: |(i + 0.5) * 2 - 100| <= 50  ->  i in [25, 74]: 50 of 100
    assert r["fov_mm"] == [200.0, 200.0] and r["inside_fraction"] == pytest.approx(0.5)
    assert r["heart_extent_mm"] == 200.0 and r["max_offset_mm"] == pytest.approx(99.0)


def test_unlabelled_volume():
    """No dense label: heart_in_window refuses, coverage_table skips the volume."""
    v = volume(np.zeros((1, 8, 8)))
    unlabelled = Volume(case="u", patient=2, image=v.image, label=None, scribble=v.scribble, spacing=v.spacing)
    with pytest.raises(DataError):
        heart_in_window(unlabelled, 10.0)
    assert coverage_table([unlabelled], [10.0]).empty


def test_coverage_table_and_summarise_counts():
    """Three volumes x two windows: six rows; the summary counts the volumes wholly inside each window."""
    lab = np.zeros((1, 100, 100), np.uint8)
    centre, near, far = lab.copy(), lab.copy(), lab.copy()
    centre[0, 45:55, 45:55] = 1            # offsets <= 4.5 mm
    near[0, 45:55, 70:80] = 1              # x offset up to 29.5 mm
    far[0, 45:55, 90:100] = 1              # x offset up to 49.5 mm
    vols = [volume(a, case=c) for a, c in ((centre, "a"), (near, "b"), (far, "c"))]
    df = coverage_table(vols, [40.0, 100.0])
    assert len(df) == 6 and list(df["case"]) == ["a", "b", "c"] * 2
    s = summarise(df).set_index("window_mm")
    assert list(s["volumes"]) == [3, 3]
    assert s.loc[40.0, "all_inside_share"] == pytest.approx(1 / 3) and s.loc[100.0, "all_inside_share"] == 1.0
    assert s.loc[40.0, "min_inside_fraction"] == 0.0 and s.loc[100.0, "min_inside_fraction"] == 1.0
    assert s.loc[40.0, "mean_inside_fraction"] == pytest.approx(1 / 3)
    assert 0.0 <= s.loc[40.0, "p1_inside_fraction"] <= 1 / 3


@pytest.mark.realdata
def test_acdc_256mm_window_holds_the_heart(real_root):
    """On all 200 ACDC volumes a 256 mm window holds every heart voxel in >= 99 % of them (a few seconds)."""
    from scribcim.data.datasets import labelled_volumes
    s = summarise(coverage_table(labelled_volumes("acdc", real_root), [256.0]))
    assert int(s["volumes"].iloc[0]) == 200 and s["all_inside_share"].iloc[0] >= 0.99


def test_main_writes_report(tmp_path, monkeypatch):
    """main() writes the markdown and JSON of each dataset (loader replaced by synthetic volumes)."""
    import json

    import scribcim.data.datasets as ds
    lab = np.zeros((1, 64, 64), np.uint8)
    lab[0, 30:34, 30:34] = 1
    monkeypatch.setattr(ds, "labelled_volumes", lambda name, root: [volume(lab, case=f"{name}1")])
    main(["--windows", "32", "--out", str(tmp_path), "--datasets", "phantom"])
    md = (tmp_path / "phantom" / "window_coverage.md").read_text()
    rec = json.loads((tmp_path / "phantom" / "window_coverage.json").read_text())
    assert "| 32 | 1 | 100.0 % |" in md and rec["summary"][0]["volumes"] == 1
    assert rec["cases"][0]["case"] == "phantom1" and rec["provenance"]["config"]["windows_mm"] == [32.0]
