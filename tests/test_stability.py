"""scribcim.report.stability: the across-seed sd ratio of paired runs (Pitman-Morgan) and its interval."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from scribcim.report.stability import _t, sd_ratio

X = np.array([0.84, 0.83, 0.85, 0.82, 0.86])
Y = np.array([0.83, 0.84, 0.84, 0.835, 0.84])


def test_ratio_p_value_and_interval_by_hand():
    res = sd_ratio(X, Y)
    assert res["ratio"] == pytest.approx(X.std(ddof=1) / Y.std(ddof=1)) and res["pairs"] == 5
    r = stats.pearsonr(X + Y, X - Y)[0]  # Pitman-Morgan: the correlation of sum and difference
    assert res["p_value"] == pytest.approx(stats.pearsonr(X + Y, X - Y)[1])
    assert res["p_value"] == pytest.approx(2 * stats.t.sf(abs(r) * math.sqrt(3) / math.sqrt(1 - r * r), 3))
    lo, hi = res["ci95"]
    crit = stats.t.ppf(0.975, 3)
    assert lo < res["ratio"] < hi
    assert _t(X, Y, lo) == pytest.approx(crit) and _t(X, Y, hi) == pytest.approx(-crit)  # the bounds pass just
    assert (lo > 1) == (res["p_value"] < 0.05)  # the interval excludes 1 exactly when the test rejects


def test_swapping_and_scaling():
    a, b = sd_ratio(X, Y), sd_ratio(Y, X)
    assert b["ratio"] == pytest.approx(1 / a["ratio"])
    assert b["ci95"] == pytest.approx([1 / a["ci95"][1], 1 / a["ci95"][0]])
    c = sd_ratio(3 * X + 1, Y)
    assert c["ratio"] == pytest.approx(3 * a["ratio"]) and c["ci95"] == pytest.approx([3 * v for v in a["ci95"]])


def test_clearly_different_spreads_are_told_apart():
    rng = np.random.default_rng(0)
    y = rng.normal(0, 0.01, 30)
    x = y + rng.normal(0, 0.1, 30)  # ten times the spread, correlated with y
    res = sd_ratio(x, y)
    assert res["p_value"] < 1e-6 and res["ci95"][0] > 3


def test_undefined_cases_are_nan():
    assert math.isnan(sd_ratio([0.8, 0.9], [0.7, 0.8])["ratio"])  # two pairs: no test
    assert math.isnan(sd_ratio([0.8, 0.8, 0.8], [0.7, 0.8, 0.9])["ratio"])  # a constant sample
    with pytest.raises(ValueError, match="differ in length"):
        sd_ratio([1, 2, 3], [1, 2])


@pytest.mark.parametrize("shift", [0.0, 0.02, -0.3])
def test_exactly_linear_pairs_give_the_ratio_with_a_collapsed_interval(shift):
    """y a shifted (or scaled) copy of x, as when one method's runs are another's plus a constant: the ratio is
    known exactly and its interval collapses onto it instead of failing."""
    x = np.array([0.80, 0.78, 0.82, 0.75])
    for y, ratio in ((x + shift, 1.0), (2 * x + shift, 0.5)):
        res = sd_ratio(x, y)
        assert res["ratio"] == pytest.approx(ratio)
        assert res["ci95"] == pytest.approx([ratio, ratio], rel=1e-6)
        assert res["p_value"] == pytest.approx(1.0 if ratio == 1.0 else 0.0, abs=1e-9)  # equal sds; unequal
