"""Tests of the scribble-style simulator, its statistics and its report (phantom and tiny masks only)."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from scipy import ndimage

from scribcim.data.phantom import phantom_volumes, write_phantom
from scribcim.data.scribble_stats import compare_styles, scribble_stats, stats_markdown
from scribcim.data.scribbles import (ANNOTATORS, STYLES, Annotator, assign_annotators, draw_slice,
                                     simulate_volume, simulate_volumes)
from scribcim.data.strokes import shorten, thin
from scribcim.data.volumes import UNLABELLED, Volume
from scribcim.errors import ConfigError, DataError


def _random_labels(seed: int, shape: tuple[int, int, int] = (2, 28, 32)) -> np.ndarray:
    """A random label map of smooth blobs with all four values."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.normal(size=shape), sigma=(0, 3, 3))
    edges = np.quantile(field, [0.4, 0.6, 0.8])
    return np.digitize(field, edges).astype(np.uint8)


def _count(scrib: np.ndarray, cls: int | None = None) -> int:
    return int((scrib != UNLABELLED).sum() if cls is None else (scrib == cls).sum())


@pytest.fixture(scope="module")
def vols() -> list[Volume]:
    return phantom_volumes(2)


def test_deterministic_and_seed_dependent(vols):
    """Same seed and case give the same scribble; another seed changes a free-style one."""
    lab = vols[0].label
    for a in ANNOTATORS.values():
        one = simulate_volume(lab, a, seed=3, case="c")
        assert np.array_equal(one, simulate_volume(lab, a, seed=3, case="c"))
        assert one.dtype == np.uint8 and one.shape == lab.shape
    free = ANNOTATORS["free"]
    a, b = simulate_volume(lab, free, seed=3, case="c"), simulate_volume(lab, free, seed=4, case="c")
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("name", sorted(ANNOTATORS))
def test_never_a_wrong_class(name, vols):
    """Over many seeds, phantom and random label maps: a scribbled pixel always has its label's class."""
    a = ANNOTATORS[name]
    labels = [v.label for v in vols[:2]] + [_random_labels(s) for s in range(3)]
    for seed in range(4):
        for i, lab in enumerate(labels):
            s = simulate_volume(lab, a, seed=seed, case=str(i))
            marked = s != UNLABELLED
            assert set(np.unique(s)) <= {0, 1, 2, 3, UNLABELLED}
            assert np.array_equal(s[marked], lab[marked]), (name, seed, i)


def test_every_style_marks_every_present_class(vols):
    """On the phantom each style scribbles background, RV, MYO and LV."""
    v = vols[0]
    for style in STYLES:
        s = simulate_volume(v.label, Annotator("t", style), case=v.case)
        assert all(_count(s, c) > 0 for c in range(4)), style


def test_width_and_coverage_have_their_effect(vols):
    """A wider pen marks more pixels; a lower coverage (the shortened version) fewer, for every style."""
    labs = [v.label for v in vols[:3]]
    for style in STYLES:
        base = Annotator("t", style, width=1)
        n = sum(_count(simulate_volume(lab, base, case=str(i))) for i, lab in enumerate(labs))
        wide = sum(_count(simulate_volume(lab, dataclasses.replace(base, width=3), case=str(i)))
                   for i, lab in enumerate(labs))
        short = sum(_count(simulate_volume(lab, dataclasses.replace(base, coverage=0.3), case=str(i)))
                    for i, lab in enumerate(labs))
        assert wide > 1.5 * n and short < 0.6 * n, (style, n, wide, short)


def test_shorten_keeps_a_fraction_of_the_length():
    """Half of a straight 21-pixel line keeps 11 pixels from one end; a ring keeps an arc."""
    line = np.zeros((5, 25), bool)
    line[2, 2:23] = True
    half = shorten(line, 0.5, np.random.default_rng(0))
    assert half.sum() == 11 and (half <= line).all()
    assert ndimage.label(half, np.ones((3, 3)))[1] == 1
    yy, xx = np.mgrid[:31, :31]
    ring = thin(np.abs(np.hypot(yy - 15, xx - 15) - 10) < 1.5)
    arc = shorten(ring, 0.3, np.random.default_rng(1))
    assert 0.2 * ring.sum() < arc.sum() < 0.45 * ring.sum()
    assert ndimage.label(arc, np.ones((3, 3)))[1] == 1


def test_slices_and_background_parameters(vols):
    """``slices`` annotates that fraction of slices; ``background`` sets the background strokes."""
    lab = np.concatenate([vols[0].label] * 4)[:4]
    half = simulate_volume(lab, Annotator("t", "centreline", slices=0.5))
    assert sum(bool((half[z] != UNLABELLED).any()) for z in range(4)) == 2
    assert _count(simulate_volume(lab, Annotator("t", "centreline", background=0)), 0) == 0
    wide = np.pad(lab, ((0, 0), (90, 90), (90, 90)))  # room for the second background ring (40-76 px out)
    one = simulate_volume(wide, Annotator("t", "centreline", background=1))
    two = simulate_volume(wide, Annotator("t", "centreline", background=2))
    assert _count(two, 0) > _count(one, 0) > 0
    fg = wide[0] > 0
    dist = ndimage.distance_transform_edt(~fg)
    assert 4 < dist[one[0] == 0].min() and dist[one[0] == 0].max() <= 40       # first ring
    assert dist[(two[0] == 0) & (one[0] != 0)].min() > 20                     # the second lies farther out


def test_empty_slice_and_bad_input():
    """An all-background slice without a heart reference stays unlabelled; bad parameters raise."""
    rng = np.random.default_rng(0)
    assert (draw_slice(np.zeros((20, 20), np.uint8), ANNOTATORS["free"], rng) == UNLABELLED).all()
    with pytest.raises(ConfigError):
        Annotator("x", "zigzag")
    with pytest.raises(ConfigError):
        Annotator("x", "free", coverage=0)
    with pytest.raises(DataError):
        simulate_volume(np.zeros((4, 4), np.uint8), ANNOTATORS["free"])


def test_inconsistency_levels():
    """0: the base annotator everywhere; 1: every case by another style; higher levels switch supersets."""
    cases = [f"patient{p:03d}_frame01" for p in range(1, 41)]
    base = ANNOTATORS["centreline"]
    assert all(a == base for a in assign_annotators(cases, "centreline", 0.0).values())
    full = assign_annotators(cases, "centreline", 1.0)
    assert all(a.style != base.style for a in full.values())
    assert len({a.name for a in full.values()}) > 1
    low, high = (assign_annotators(cases, "centreline", x, seed=5) for x in (0.3, 0.7))
    switched_low = {c for c, a in low.items() if a != base}
    switched_high = {c for c, a in high.items() if a != base}
    assert switched_low < switched_high and 0 < len(switched_low)
    with pytest.raises(ConfigError):
        assign_annotators(cases, "centreline", 1.5)
    with pytest.raises(ConfigError):
        assign_annotators(cases, "nobody", 0.5)


def test_simulate_volumes_replaces_only_the_scribble(vols):
    """New Volume objects: same image/label, simulated scribble, independent of list order."""
    out = simulate_volumes(vols, "boundary", 0.5, seed=1)
    rev = simulate_volumes(vols[::-1], "boundary", 0.5, seed=1)[::-1]
    for v, o, r in zip(vols, out, rev):
        assert o is not v and o.image is v.image and o.label is v.label and o.case == v.case
        assert np.array_equal(o.scribble, r.scribble)
        marked = o.scribble != UNLABELLED
        assert np.array_equal(o.scribble[marked], v.label[marked])
    with pytest.raises(DataError):
        simulate_volumes([dataclasses.replace(vols[0], label=None)])


def test_stats_on_a_hand_made_case():
    """Coverage, strokes per slice, distance to the boundary in mm, annotated slices and off-label pixels."""
    label = np.zeros((2, 10, 10), np.uint8)
    label[:, 2:8, 2:8] = 1
    scrib = np.full_like(label, UNLABELLED)
    scrib[0, 4, 3:7] = 1          # one stroke; pixel distances to the border 2, 3, 3, 2
    scrib[0, 6, 6] = 1            # a second stroke, distance 2
    scrib[0, 0, 0] = 0            # background, distance to the heart: 2 px diagonally... sqrt(8)
    scrib[0, 2, 2] = 2            # off-label (class 2 on class 1)
    vol = Volume("patient001_frame01", 1, np.zeros(label.shape, np.float32), label, scrib, (10.0, 2.0, 2.0))
    s = scribble_stats([vol])
    assert s["coverage_pct"]["RV"] == pytest.approx(100 * 5 / 72)
    assert s["strokes_per_slice"]["RV"] == pytest.approx(1.0)   # 2 strokes on slice 0, 0 on slice 1
    assert s["strokes_per_slice"]["MYO"] is None                # MYO never present in the label
    assert s["boundary_mm"]["RV"] == pytest.approx(2.0 * (2 + 3 + 3 + 2 + 2) / 5)
    assert s["boundary_mm"]["BG"] == pytest.approx(2.0 * np.sqrt(8))
    assert s["slices_pct"] == pytest.approx(50.0)
    assert s["off_label_pct"] == pytest.approx(100 * 1 / 7)


def test_compare_styles_table(vols):
    """Expert row first, one row per annotator, simulated rows never off-label; markdown has every row."""
    pool = {k: ANNOTATORS[k] for k in ("centreline", "free-short")}
    rows = compare_styles(vols[:2], pool, seed=0)
    assert [r["source"] for r in rows] == ["expert", "centreline", "free-short"]
    assert all(r["off_label_pct"] == 0 for r in rows[1:])
    md = stats_markdown(rows)
    assert md.count("| free-short |") == 3 and "| expert |" in md


def test_render_report_on_phantom(tmp_path):
    """The runner writes stats.json/stats.md and the figure with provenance, each panel titled."""
    from scribcim.viz.scribbles import render_scribble_report
    root = write_phantom(tmp_path / "data", num_patients=2)
    pool = {k: ANNOTATORS[k] for k in ("centreline", "boundary", "free")}
    fig_path = tmp_path / "fig" / "styles.png"
    rep = render_scribble_report(root, tmp_path / "res", fig_path, patient_stride=1, annotators=pool)
    assert [r["source"] for r in rep["rows"]] == ["expert", "centreline", "boundary", "free"]
    saved = json.loads((tmp_path / "res" / "stats.json").read_text())
    assert saved["parameters"]["cases"] == [f"patient{p:03d}_frame{f:02d}" for p in (1, 2) for f in (1, 2)]
    assert "git" in saved["provenance"] and "| boundary |" in (tmp_path / "res" / "stats.md").read_text()
    assert fig_path.is_file() and "slice" in json.loads(fig_path.with_suffix(".json").read_text())
