"""Where scribbles lie (slices marked, stroke depth): hand-computed arrays, the level rows against the members'
on the phantom, and the geometry record the coverage command writes."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scribcim.data.phantom import phantom_volumes
from scribcim.data.scribble_geometry import SUMS, expert_geometry, geometry_rows, geometry_values, stroke_geometry
from scribcim.data.scribbles import ANNOTATORS
from scribcim.data.volumes import UNLABELLED, Volume
from scribcim.report.coverage import main


def _square() -> tuple[np.ndarray, np.ndarray]:
    """Two 9 x 9 slices with a 5 x 5 RV square in the middle; slice 0 has one RV stroke pixel at the centre and
    one on the square's edge, slice 1 none; one BG stroke pixel in a corner of slice 0."""
    lab = np.zeros((2, 9, 9), np.uint8)
    lab[:, 2:7, 2:7] = 1
    scr = np.full_like(lab, UNLABELLED)
    scr[0, 4, 4] = scr[0, 2, 4] = 1
    scr[0, 0, 0] = 0
    return lab, scr


def test_stroke_geometry_by_hand():
    """Centre pixel: 3 px from the nearest BG pixel; edge pixel: 1 px; BG corner: sqrt(8) px from the square;
    in-plane spacing (0.5 mm, 2 mm) scales the distances along each axis."""
    lab, scr = _square()
    g = stroke_geometry(scr, lab, (5.0, 1.0, 1.0))
    assert g.shape == (len(SUMS), 4)
    assert list(g[:, 1]) == pytest.approx([2, 1, 3 + 1, 2])  # RV: 2 slices, 1 marked, depths 3 + 1, 2 pixels
    assert list(g[:, 0]) == pytest.approx([2, 1, np.sqrt(8), 1])
    assert list(g[:, 3]) == [0, 0, 0, 0]  # no LV anywhere
    v = geometry_values(g)
    assert v["RV"] == {"slices_marked_pct": 50.0, "depth_mm": 2.0, "pixels": 2}
    assert np.isnan(v["LV"]["slices_marked_pct"]) and np.isnan(v["MYO"]["depth_mm"])
    aniso = geometry_values(stroke_geometry(scr, lab, (5.0, 0.5, 2.0)))
    assert aniso["RV"]["depth_mm"] == pytest.approx((1.5 + 0.5) / 2)  # centre: 3 rows x 0.5; edge: 1 row x 0.5
    empty = np.zeros((1, 9, 9), np.uint8)  # a slice of background only: its BG strokes count as marked, no depth
    stroke = np.full_like(empty, UNLABELLED)
    stroke[0, 4, :] = 0
    g2 = stroke_geometry(np.concatenate([scr, stroke]), np.concatenate([lab, empty]), (5.0, 1.0, 1.0))
    assert list(g2[:, 0]) == pytest.approx([3, 2, np.sqrt(8), 1])
    vol = Volume("c", 1, lab.astype(np.float32), lab, scr, (5.0, 1.0, 1.0))
    assert expert_geometry([vol, vol])["RV"] == v["RV"] | {"pixels": 4}


@pytest.fixture(scope="module")
def rows():
    return pd.DataFrame(geometry_rows(phantom_volumes(2), "matched-centreline", [0.0, 1.0], [0, 1]))


def test_level_rows_are_the_annotators_who_draw(rows):
    """Level 0 is the base drawing every volume; the members are the base and its family's other styles (never
    the base's own style again); a contour lies nearer the border than a centre line."""
    members = list(dict.fromkeys(rows[rows.scope == "member"].name))
    base = ANNOTATORS["matched-centreline"]
    assert members[0] == base.name and "matched-centreline-wide-sparse" not in members
    assert set(members[1:]) == {n for n, a in ANNOTATORS.items() if a.family == "matched" and a.style != base.style}
    key = ["scribble_seed", "class"]
    lv0 = rows[(rows.scope == "level") & (rows.name == "0.00")].set_index(key)
    own = rows[(rows.scope == "member") & (rows.name == base.name)].set_index(key)
    pd.testing.assert_frame_equal(lv0[["slices_marked_pct", "depth_mm", "pixels"]],
                                  own[["slices_marked_pct", "depth_mm", "pixels"]])
    lv = rows[(rows["class"] == "LV")].groupby("name").depth_mm.mean()
    assert lv["matched-boundary"] < lv["matched-centreline"]
    assert len(rows[rows.scope == "level"]) == 2 * 2 * 4  # levels x seeds x classes


def test_coverage_command_writes_the_geometry_record(tmp_path):
    out = tmp_path / "res" / "cov.csv"
    main(["--dataset", "phantom", "--levels", "0", "1", "--scribble-seed", "0", "--out", str(out), "--no-figure",
          "--tolerance", "0.5"])
    geo = out.with_name("robustness_matched_geometry.csv")
    df = pd.read_csv(geo)
    assert {"scope", "name", "scribble_seed", "class", "slices_marked_pct", "depth_mm", "pixels"} <= set(df.columns)
    md = geo.with_suffix(".md").read_text()
    assert "| level | RV slices marked % |" in md and "| `matched-centreline` |" in md
    assert "expert scribbles of the same volumes" in md
    record = json.loads(geo.with_suffix(".json").read_text())
    assert record["parameters"]["base"] == "matched-centreline" and "git" in record["provenance"]
    main(["--dataset", "phantom", "--levels", "0", "--scribble-seed", "0", "--out", str(tmp_path / "b" / "c.csv"),
          "--no-figure", "--no-geometry"])
    assert not (tmp_path / "b" / "robustness_matched_geometry.csv").exists()
