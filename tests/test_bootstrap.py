"""The two-level bootstrap (seeds, then test patients) of a seed-paired difference."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from scribcim.report.bootstrap import case_matrix, two_level_interval


def test_one_case_gives_the_seed_t_interval():
    per_seed = np.array([0.01, 0.03, -0.01, 0.02, 0.00])
    r = two_level_interval(per_seed[:, None], replicates=20_000)
    half = stats.t.ppf(0.975, 4) * per_seed.std(ddof=1) / math.sqrt(5)
    assert r["mean"] == pytest.approx(per_seed.mean())
    assert r["ci95"] == pytest.approx([per_seed.mean() - half, per_seed.mean() + half], rel=0.05)


def test_patient_variation_widens_the_interval_and_is_reproducible():
    rng = np.random.default_rng(1)
    seed_effect = rng.normal(0.01, 0.005, (5, 1))
    flat = np.repeat(seed_effect, 40, axis=1)
    noisy = flat + rng.normal(0, 0.05, (1, 40))  # a patient effect shared by all seeds
    w_flat, w_noisy = (np.diff(two_level_interval(x)["ci95"])[0] for x in (flat, noisy))
    assert w_noisy > 1.5 * w_flat
    assert two_level_interval(noisy) == two_level_interval(noisy)  # fixed generator seed


def test_undefined_cells_are_left_out_and_too_few_seeds_give_nan():
    x = np.array([[0.1, np.nan], [0.3, 0.2], [0.2, 0.1]])
    r = two_level_interval(x, replicates=2000)
    assert r["mean"] == pytest.approx(np.nanmean(x)) and all(np.isfinite(r["ci95"]))
    one = two_level_interval(np.array([[0.1, 0.2]]))
    assert one["seeds"] == 1 and all(math.isnan(v) for v in one["ci95"])


def test_case_matrix_pairs_common_seeds_and_cases():
    rows = [{"method": m, "seed": s, "case": c, "structure": "mean", "dice": v}
            for m, s, c, v in [("a", 1, "x", 0.9), ("a", 1, "y", 0.8), ("a", 2, "x", 0.7), ("b", 1, "x", 0.5),
                               ("b", 1, "y", 0.6), ("b", 3, "x", 0.1)]]
    m = case_matrix(pd.DataFrame(rows), "a", "b", "dice")
    assert list(m.index) == [1] and list(m.columns) == ["x", "y"]
    assert m.loc[1].tolist() == pytest.approx([0.4, 0.2])
