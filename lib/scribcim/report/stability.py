"""Is one method steadier across seeds than another? The ratio of across-seed sds of seed-paired runs.

Runs of two methods that share a seed are paired (same initial weights, same batch order), so their run means are
correlated and the F-test for two independent variances does not apply. The Pitman-Morgan test does: for paired
``x``, ``y``, ``var(x) = var(y)`` exactly when ``x + y`` and ``x - y`` are uncorrelated, tested with the t-statistic
of that correlation (n - 2 degrees of freedom). Its 95 % interval for the sd ratio ``theta = sd(x) / sd(y)`` is the
set of ``theta`` for which ``x / theta`` and ``y`` pass the test; the point estimate is the sample sd ratio.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import optimize, stats


def _t(x: np.ndarray, y: np.ndarray, theta: float) -> float:
    """The Pitman-Morgan t-statistic of ``x / theta`` against ``y``."""
    a = x / theta
    s, d = a + y, a - y
    tiny = 1e-9 * float(np.abs(a).max() + np.abs(y).max())
    if np.ptp(s) <= tiny or np.ptp(d) <= tiny:  # y linear in x: nothing left to correlate at this theta
        return 0.0
    r = float(np.corrcoef(s, d)[0, 1])
    r = max(min(r, 1 - 1e-15), -1 + 1e-15)
    return r * math.sqrt(x.size - 2) / math.sqrt(1 - r * r)


def sd_ratio(x: Sequence[float], y: Sequence[float]) -> dict:
    """``sd(x) / sd(y)`` of paired values with the Pitman-Morgan p-value (equal variances) and 95 % interval;
    NaN where fewer than three pairs or a constant sample leave it undefined."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in length: {x.size} and {y.size}")
    n = x.size
    sx, sy = (float(v.std(ddof=1)) if n > 1 else float("nan") for v in (x, y))
    out = {"pairs": int(n), "sd_a": sx, "sd_b": sy, "ratio": float("nan"), "ci95": [float("nan")] * 2,
           "p_value": float("nan")}
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return out
    theta = sx / sy
    p = float(2 * stats.t.sf(abs(_t(x, y, 1.0)), n - 2))
    crit = float(stats.t.ppf(0.975, n - 2))
    # t(theta) falls from about +inf (theta -> 0) to -inf: each bound is where it crosses -+crit
    lo = optimize.brentq(lambda th: _t(x, y, th) - crit, theta * 1e-6, theta)
    hi = optimize.brentq(lambda th: _t(x, y, th) + crit, theta, theta * 1e6)
    return out | {"ratio": theta, "ci95": [lo, hi], "p_value": p}
