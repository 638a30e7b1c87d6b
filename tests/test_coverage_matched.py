"""Tests of the coverage-matched annotator family and of the coverage-per-level report (phantom volumes;
the 15 % check on real ACDC only with SCRIBCIM_DATA)."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from scribcim.data.phantom import phantom_volumes
from scribcim.data.scribble_coverage import (CountCache, annotator_coverage, class_counts, expert_coverage,
                                             level_coverage)
from scribcim.data.volumes import UNLABELLED, Volume
from scribcim.data.scribbles import ANNOTATORS, Annotator, assign_annotators, simulate_volume, training_scribbles
from scribcim.errors import ConfigError
from scribcim.report.coverage import TOLERANCE, check_tolerance, coverage_rows, main, mean_over_seeds

#: sha256 (first 16 hex) of each original annotator's scribbles of phantom_volumes(2), seed 0, computed with the
#: simulator before the matched family was added (lib/scribcim/data/scribbles.py at commit HEAD of that change)
BEFORE = {"centreline": "46a78a5583ae34e7", "boundary": "84fd9f4e78206360", "free": "04b1c7656d8f6ba3",
          "centreline-short": "d1e7962ca5992b78", "boundary-short": "125bcf75a7d9d951",
          "free-short": "893c8a2683fc7731", "free-wide-sparse": "9cd0b83843008c16"}
#: the same for every original base's assignment of 200 ACDC-like cases at levels 0.25 / 0.5 / 1, seeds 0 / 1
ASSIGN_BEFORE = "ddd83e607f54ea50"
CASES = [f"patient{p:03d}_frame{f:02d}" for p in range(1, 101) for f in (1, 2)]
MATCHED = [n for n, a in ANNOTATORS.items() if a.family == "matched"]


@pytest.fixture(scope="module")
def vols():
    return phantom_volumes(2)


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_original_annotators_draw_what_they_drew(name, vols):
    """Each original annotator's scribbles of a fixed phantom are bit-identical to those before the change."""
    h = hashlib.sha256()
    for v in vols:
        h.update(simulate_volume(v.label, ANNOTATORS[name], seed=0, case=v.case).tobytes())
    assert h.hexdigest()[:16] == BEFORE[name]
    assert ANNOTATORS[name].family == "default" and ANNOTATORS[name].class_coverage is None


def test_original_assignments_unchanged():
    """Who draws each case under an original base is unchanged, and never a matched annotator."""
    h = hashlib.sha256()
    for base in BEFORE:
        for level in (0.25, 0.5, 1.0):
            for seed in (0, 1):
                who = assign_annotators(CASES, base, level, seed=seed)
                assert all(a.family == "default" for a in who.values())
                h.update(json.dumps([who[c].name for c in CASES]).encode())
    assert h.hexdigest()[:16] == ASSIGN_BEFORE


@pytest.mark.parametrize("base", MATCHED)
def test_matched_family_switches_only_within_itself(base):
    """A matched base switches only to matched annotators of another style, and to each of them."""
    b = ANNOTATORS[base]
    who = assign_annotators(CASES, base, 1.0, seed=3)
    assert all(a.family == "matched" and a.style != b.style for a in who.values())
    assert {a.name for a in who.values()} == {n for n in MATCHED if ANNOTATORS[n].style != b.style}
    assert all(a is b for a in assign_annotators(CASES, base, 0.0, seed=3).values())


def test_matched_family_spans_the_styles():
    """The family holds every style, several widths and slice fractions; the base is a valid --scribbles."""
    from scribcim.config import make_config
    fam = [ANNOTATORS[n] for n in MATCHED]
    assert {a.style for a in fam} == {"centreline", "boundary", "free"}
    assert len({a.width for a in fam}) >= 3 and len({a.slices for a in fam}) >= 3
    make_config("smoke", dataset="phantom", scribbles="matched-centreline", inconsistency=0.5).validate()


def test_class_coverage_sets_each_class_fraction(vols):
    """``class_coverage`` of all ones draws what ``coverage=1`` draws; a lower MYO fraction shortens only MYO
    (centreline strokes consume the generator independently of the fraction)."""
    lab = vols[0].label
    plain = simulate_volume(lab, Annotator("t", "centreline"), case="c")
    assert np.array_equal(plain, simulate_volume(lab, Annotator("t", "centreline", class_coverage=(1,) * 4), case="c"))
    short = simulate_volume(lab, Annotator("t", "centreline", class_coverage=(1, 1, 0.3, 1)), case="c")
    assert 0 < (short == 2).sum() < 0.5 * (plain == 2).sum()
    for c in (0, 1, 3):
        assert np.array_equal(short == c, plain == c)
    for bad in ((1, 1, 1), (1, 1, 0, 1), (1, 1, 1.5, 1)):
        with pytest.raises(ConfigError):
            Annotator("x", "free", class_coverage=bad)


def test_level_coverage_is_that_of_training_scribbles():
    """The cached per-level counts equal those of the volumes ``training_scribbles`` returns at that level."""
    vs = phantom_volumes(4)
    rows = pd.DataFrame(level_coverage(vs, "matched-centreline", [0.0, 0.5, 1.0], [1]))
    for level in (0.0, 0.5, 1.0):
        drawn = training_scribbles(vs, "matched-centreline", level, seed=1)
        counts = sum(class_counts(v.scribble, v.label) for v in drawn)
        got = rows[rows.level == level].sort_values("class", key=lambda s: s.map(["BG", "RV", "MYO", "LV"].index))
        assert got.scribbled_pixels.tolist() == counts[0].tolist()
        assert got.class_pixels.tolist() == counts[1].tolist()
    assert rows[rows.level == 1.0].switched.iloc[0] == len(vs)


def test_coverage_stays_close_across_levels_on_the_phantom():
    """On phantom volumes (tiny hearts with thin rings; the family is calibrated on ACDC, where the real-data test
    checks 15 %) every class stays within 60 % of level 0, and the matched family changes coverage across levels
    far less than the original one does (whose RV and LV coverage doubles there)."""
    vs = phantom_volumes(6)
    worst = {}
    for base in ("centreline", "matched-centreline"):
        df = coverage_rows(vs, base, [0.0, 0.5, 1.0], [0, 1])
        worst[base] = {c: v["worst"] for c, v in check_tolerance(df).items()}
    assert max(worst["matched-centreline"].values()) < 0.6, worst
    assert np.mean(list(worst["matched-centreline"].values())) < 0.5 * np.mean(list(worst["centreline"].values()))
    assert set(mean_over_seeds(df)["level"]) == {0.0, 0.5, 1.0}


def test_ratio_to_level0_without_level0_among_the_levels():
    """Levels 0.5 and 1 only: the summary's ratio to level 0 is still level 0's (always drawn as the reference),
    the same numbers as when level 0 is asked for, not NaN."""
    vs = phantom_volumes(2)
    with_zero = mean_over_seeds(coverage_rows(vs, "matched-centreline", [0.0, 0.5, 1.0], [0, 1]))
    without = mean_over_seeds(coverage_rows(vs, "matched-centreline", [0.5, 1.0], [0, 1]))
    assert without.relative_to_level0.notna().all()
    expect = with_zero[with_zero.level != 0.0].reset_index(drop=True)
    pd.testing.assert_frame_equal(without.reset_index(drop=True), expect, check_exact=False, rtol=1e-12)


def test_deterministic_in_seed():
    """Same seeds give the same rows; another seed gives other scribbles of a free-style member."""
    vs = phantom_volumes(2)
    one, two = (coverage_rows(vs, "matched-free", [0.0, 1.0], [4]) for _ in range(2))
    pd.testing.assert_frame_equal(one, two)
    a = ANNOTATORS["matched-free"]
    lab = vs[0].label
    assert np.array_equal(simulate_volume(lab, a, seed=4, case="c"), simulate_volume(lab, a, seed=4, case="c"))
    assert not np.array_equal(simulate_volume(lab, a, seed=4, case="c"), simulate_volume(lab, a, seed=5, case="c"))


def test_expert_coverage_counts_on_label_strokes_only():
    """Two volumes pooled: 2 of 4 RV pixels scribbled RV; an RV stroke on background is not RV coverage."""
    lab = np.zeros((1, 4, 4), np.uint8)
    lab[0, 0, :] = 1  # RV: 4 pixels; background 12
    a = np.full_like(lab, UNLABELLED)
    a[0, 0, 0] = 1
    a[0, 3, 3] = 1  # RV drawn on background: off-label
    a[0, 2, :2] = 0  # 2 background pixels
    b = np.full_like(lab, UNLABELLED)
    b[0, 0, 1] = 1
    vols = [Volume(f"c{i}", i, lab.astype(np.float32), lab, s, (1.0, 1.0, 1.0)) for i, s in enumerate((a, b))]
    cov = expert_coverage(vols)
    assert cov["RV"] == pytest.approx(100 * 2 / 8) and cov["BG"] == pytest.approx(100 * 2 / 24)
    assert np.isnan(cov["LV"])


def test_cli_writes_csv_summary_and_figure(tmp_path):
    """``python -m scribcim.report.coverage`` on the phantom: CSV columns, summary, JSON check, figure + JSON."""
    out, fig = tmp_path / "res" / "cov.csv", tmp_path / "fig" / "matched.png"
    rc = main(["--dataset", "phantom", "--levels", "0", "1", "--scribble-seed", "0", "--out", str(out),
               "--figure", str(fig), "--tolerance", "0.5"])
    assert rc in (0, 1)
    df = pd.read_csv(out)
    assert {"level", "scribble_seed", "class", "coverage_pct", "relative_to_level0"} <= set(df.columns)
    assert len(df) == 2 * 4 and (df[df.level == 0].relative_to_level0 == 1).all()
    assert "PASS" in out.with_suffix(".md").read_text() or "FAIL" in out.with_suffix(".md").read_text()
    record = json.loads(out.with_suffix(".json").read_text())
    assert set(record["check"]) == {"BG", "RV", "MYO", "LV"}
    from scribcim.data.datasets import load_volumes
    expert = expert_coverage(load_volumes("phantom", "train", fold=1))
    assert record["expert_coverage_pct"] == pytest.approx(expert) and expert["RV"] > 0
    assert f"RV {expert['RV']:.2f} %" in out.with_suffix(".md").read_text()
    info = json.loads(fig.with_suffix(".json").read_text())
    assert fig.is_file() and info["base"] == "matched-centreline" and len(info["slices"]) == 3
    assert set(info["annotators"]) == set(MATCHED)


@pytest.mark.realdata
def test_matched_coverage_on_acdc(real_root):
    """ACDC fold 1 training volumes, seed 0: every member matches the base's per-class coverage within 10 % (the
    sparse members vary by a few percent with the seed, which picks their slices) and every inconsistency level
    stays within 15 % of level 0."""
    from scribcim.data.datasets import load_volumes
    vs = load_volumes("acdc", "train", fold=1, data_root=real_root)
    cache = CountCache(vs)
    ref = annotator_coverage(vs, ANNOTATORS["matched-centreline"], (0,), cache)
    for name in MATCHED:
        cov = annotator_coverage(vs, ANNOTATORS[name], (0,), cache)
        assert all(abs(cov[c] / ref[c] - 1) < 0.1 for c in cov), (name, cov, ref)
    df = pd.DataFrame(level_coverage(vs, "matched-centreline", [0.0, 0.25, 0.5, 0.75, 1.0], [0], cache=cache))
    check = check_tolerance(df, TOLERANCE)
    assert all(c["ok"] for c in check.values()), check
