"""A two-level bootstrap of a seed-paired difference: training seeds, then test patients.

The t-interval of :func:`scribcim.report.comparison.paired_differences` treats each run's mean over the test volumes as
exact: it covers seed variation on these 40 test volumes only. Here both levels are resampled: per replicate, seeds
with replacement and test cases with replacement (the same cases for every seed, as every run is scored on the same
volumes), and the statistic is the mean over the drawn (seed, case) cells of the per-case difference ``a - b``. Its
spread over replicates is a standard error that also covers which patients happened to be in the test fold.

With a handful of seeds a percentile interval is too narrow (resampling 5 values shrinks their variance by 4/5 and
the normal quantile is not the t quantile), so the interval is ``mean ± t(0.975, seeds - 1) * se * sqrt(S / (S - 1))``:
with a single test case it is the seed-level t-interval, and patient variation only widens it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

#: replicates and generator seed of the intervals written into records (fixed: a redraw gives the same interval)
REPLICATES, SEED = 10_000, 0


def case_matrix(cases: pd.DataFrame, a: str, b: str, metric: str, structure: str = "mean") -> pd.DataFrame:
    """Seeds x cases of ``a - b`` per test case (rows of :func:`scribcim.report.results.summary_rows` of one dataset and
    checkpoint); only seeds both methods ran and cases both scored."""
    d = cases[cases.structure == structure]
    per = {m: d[d.method == m].pivot_table(index="seed", columns="case", values=metric, aggfunc="mean")
           for m in (a, b)}
    seeds = per[a].index.intersection(per[b].index)
    cols = per[a].columns.intersection(per[b].columns)
    return per[a].loc[seeds, cols] - per[b].loc[seeds, cols]


def two_level_interval(diff: pd.DataFrame | np.ndarray, *, replicates: int = REPLICATES, seed: int = SEED,
                       level: float = 0.95) -> dict:
    """Interval of the mean of a seeds x cases matrix of differences from its standard error over replicates that
    resample seeds and cases with replacement (module docstring; NaN cells, e.g. a distance undefined for a missed
    structure, are left out of each mean). Returns ``mean`` (of the observed cells), ``ci95``, ``se`` and the numbers
    of seeds and cases; NaN below two seeds."""
    x = np.asarray(diff, float)
    n_s, n_c = x.shape if x.ndim == 2 else (0, 0)
    mean = float(np.nanmean(x)) if x.size and np.isfinite(x).any() else float("nan")
    if n_s < 2 or n_c < 1:
        return {"mean": mean, "ci95": [float("nan"), float("nan")], "seeds": n_s, "cases": n_c,
                "replicates": 0}
    rng = np.random.default_rng(seed)
    ws = np.stack([np.bincount(r, minlength=n_s) for r in rng.integers(0, n_s, (replicates, n_s))]).astype(float)
    wc = np.stack([np.bincount(r, minlength=n_c) for r in rng.integers(0, n_c, (replicates, n_c))]).astype(float)
    ok = np.isfinite(x)
    total = np.einsum("bs,sc,bc->b", ws, np.where(ok, x, 0.0), wc)
    count = np.einsum("bs,sc,bc->b", ws, ok.astype(float), wc)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = total / count
    se = float(np.nanstd(stat, ddof=1)) * np.sqrt(n_s / (n_s - 1))
    half = float(stats.t.ppf(0.5 + level / 2, n_s - 1)) * se
    return {"mean": mean, "ci95": [mean - half, mean + half], "se": se, "seeds": n_s, "cases": n_c,
            "replicates": replicates}


def paired_bootstrap(cases: pd.DataFrame, a: str, b: str, metric: str = "dice", structure: str = "mean") -> dict:
    """:func:`two_level_interval` of ``a - b`` from the per-case rows of one dataset's runs."""
    return two_level_interval(case_matrix(cases, a, b, metric, structure))
