"""Robustness to inconsistent scribbles at fixed coverage, across seeds (issue 21): the numbers.

The grid is the workflow's ``robustness_seeds`` section (:func:`scribcim.config.workflow.seed_grid`): per method
and training seed the expert run and one run per inconsistency level on scribbles simulated with a base annotator
of the ``matched`` family (styles differ, per-class coverage does not). As in :mod:`scribcim.report.comparison` the
unit is the run (its mean over test volumes); per level: mean ± sd across runs, the seed-paired differences of
:data:`CONTRASTS` with 95 % t-intervals, and the slope of Dice against inconsistency per method (each seed's
least-squares slope over its levels, then mean and 95 % t-interval over seeds), the seed-paired difference of
slopes, and the change from the lowest level to each higher one (per method, and of each contrast's gap), which
shows a curve that a slope would flatten. Post-processed metrics (``checkpoints.<name>.postprocessed``) come beside
the raw ones, never in their place. The files and the figure are written by
:mod:`scribcim.report.robustness_seeds` (``python -m scribcim.report.robustness_seeds``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DataError
from ..training.methods import paper_order
from ..config.workflow import seed_grid, seed_run_path
from .comparison import across_seeds, over_seeds, paired_differences, run_means, t_half
from .results import scribbles_label, summary_rows

EXPERT = "expert"
RAW, POST = "raw", "post-processed"
#: (a, b): the seed-paired contrasts a − b, per level and of the slopes
CONTRASTS = (("cim", "pce_selfdice"), ("cim", "dmpls"))


def read_grid(results_root: Path | str, section: dict[str, Any]) -> tuple[list[dict], list[str]]:
    """(runs found, relative folders of the planned runs without a summary): each run found is a
    :func:`seed_grid` entry with its ``summary`` and its ``source`` (the summary's path under ``results_root``)."""
    found, missing = [], []
    for run in seed_grid(section):
        rel = f"{seed_run_path(section, run)}/summary.json"
        path = Path(results_root) / rel
        if not path.is_file():
            missing.append(rel)
            continue
        s = json.loads(path.read_text())
        cfg = s["provenance"]["config"]
        want = EXPERT if run["level"] is None else scribbles_label(section["base"], float(run["level"]))
        got = scribbles_label(cfg.get("scribbles", EXPERT), float(cfg.get("inconsistency", 0.0)))
        if got != want or (run["level"] is not None and cfg.get("scribble_seed", 0) != run["scribble_seed"]):
            raise DataError(f"{path}: trained on {got} (scribble seed {cfg.get('scribble_seed', 0)}), not {want} "
                            f"(scribble seed {run['scribble_seed']}) as its folder says")
        found.append({**run, "summary": s, "source": rel})
    return found, missing


def grid_runs(found: Sequence[dict], *, postprocessed: bool = False, checkpoint: str = "best") -> pd.DataFrame:
    """One row per run and structure (:func:`run_means`) with its ``condition`` (``expert`` or the level as
    written), ``level`` (NaN for expert) and ``scribble_seed``; empty when no run has such metrics."""
    parts = []
    for r in found:
        rows = pd.DataFrame(summary_rows(r["summary"], r["source"], postprocessed=postprocessed))
        if rows.empty or not (rows.checkpoint == checkpoint).any():
            continue
        means = run_means(rows[rows.checkpoint == checkpoint])
        level = np.nan if r["level"] is None else float(r["level"])
        parts.append(means.assign(condition=r["level"] or EXPERT, level=level,
                                  scribble_seed=np.nan if r["level"] is None else r["scribble_seed"]))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def conditions(runs: pd.DataFrame) -> list[str]:
    """The conditions present: ``expert`` first, then the levels in increasing order."""
    present = set(runs.condition)
    return [EXPERT] * (EXPERT in present) + sorted(present - {EXPERT}, key=float)


def level_table(runs: pd.DataFrame, what: str = RAW, structure: str = "mean") -> pd.DataFrame:
    """Per condition and method: runs, mean, sd (ddof 1) and 95 % t-interval across runs of Dice, HD95 and ASD
    (:func:`across_seeds` of each condition), ``metrics`` = ``what``."""
    parts = []
    for c in conditions(runs):
        t = across_seeds(runs[runs.condition == c])
        t = t[t.structure == structure].set_index("method")
        parts.append(t.loc[paper_order(t.index)].reset_index().assign(condition=c))
    t = pd.concat(parts, ignore_index=True)
    for m in ("dice", "hd95"):
        half = t_half(t[f"{m}_std"], t[f"{m}_count"])
        t[f"{m}_ci_lo"], t[f"{m}_ci_hi"] = t[f"{m}_mean"] - half, t[f"{m}_mean"] + half
    t.insert(0, "metrics", what)
    t.insert(1, "level", [np.nan if c == EXPERT else float(c) for c in t.condition])
    return t[["metrics", "condition", "level", *[c for c in t.columns if c not in ("metrics", "condition", "level")]]]


def level_differences(runs: pd.DataFrame, what: str = RAW, metric: str = "dice",
                      contrasts: Sequence[tuple[str, str]] = CONTRASTS) -> list[dict]:
    """Per condition, the seed-paired differences a − b (:func:`paired_differences`) of the runs' means."""
    out = []
    for c in conditions(runs):
        rc = runs[runs.condition == c]
        out += [paired_differences(rc, a, b, metric=metric) | {"condition": c, "metrics": what}
                for a, b in contrasts if {a, b} <= set(rc.method)]
    return out


def base_gaps(runs: pd.DataFrame, what: str = RAW, metric: str = "dice") -> list[dict]:
    """Per method, the seed-paired difference (lowest level − expert) of its runs' means: how far the simulated base
    annotator's scribbles are from the experts' for that method (:func:`paired_differences`; ``a``/``b`` are the
    conditions, ``method`` the method). Empty without expert runs or simulated ones."""
    levels = [c for c in conditions(runs) if c != EXPERT]
    if not levels or EXPERT not in set(runs.condition):
        return []
    out = []
    for m in paper_order(runs.method):
        r = _by_condition(runs, m)
        if {levels[0], EXPERT} <= set(r.method):
            out.append(paired_differences(r, levels[0], EXPERT, metric=metric) | {"method": m, "metrics": what})
    return out


def _by_condition(runs: pd.DataFrame, method: str) -> pd.DataFrame:
    """``method``'s runs with the condition in the ``method`` column, so that :func:`paired_differences` of two
    conditions compares that method with itself, paired by seed."""
    r = runs[runs.method == method]
    return r.assign(method=r.condition)


def _contrast_runs(runs: pd.DataFrame, a: str, b: str, metric: str, structure: str = "mean") -> pd.DataFrame:
    """Per condition and seed the difference ``a - b`` of the runs' ``metric``, as rows whose ``method`` is the
    condition (so that :func:`paired_differences` of two conditions is a difference of differences)."""
    d = runs[runs.structure == structure]
    wide = d[d.method.isin([a, b])].pivot_table(index=["condition", "seed"], columns="method", values=metric)
    if not {a, b} <= set(wide.columns):
        return pd.DataFrame(columns=["method", "seed", "structure", metric])
    gap = (wide[a] - wide[b]).dropna().rename(metric).reset_index()
    return gap.rename(columns={"condition": "method"}).assign(structure=structure)


def level_changes(runs: pd.DataFrame, what: str = RAW, metric: str = "dice",
                  contrasts: Sequence[tuple[str, str]] = CONTRASTS) -> list[dict]:
    """Change from the lowest level to each higher level, paired by seed (training seed k and scribble draw k at
    every level; :func:`paired_differences`, ``a``/``b`` the levels): per method its own change, then per contrast
    the change of the gap a − b (a difference of differences; ``of`` names the method or the contrast). Unlike the
    slope it assumes no straight line: it shows a curve's shape."""
    levels = [c for c in conditions(runs) if c != EXPERT]
    sim = runs[runs.condition.isin(levels)]
    series = [(m, _by_condition(sim, m)) for m in paper_order(sim.method)]
    series += [(f"{a} − {b}", _contrast_runs(sim, a, b, metric)) for a, b in contrasts]
    out = []
    for of, r in series:
        out += [paired_differences(r, lv, levels[0], metric=metric) | {"of": of, "metrics": what}
                for lv in levels[1:] if {lv, levels[0]} <= set(r.method)]
    return out


def _fit(x: np.ndarray, y: np.ndarray) -> dict:
    """Least-squares slope of ``y`` on ``x`` with its standard error and 95 % t-interval (n - 2 degrees)."""
    keep = np.isfinite(y)
    x, y = x[keep], y[keep]
    if np.unique(x).size < 2:
        return {"n": int(x.size), "slope": np.nan, "intercept": np.nan, "stderr": np.nan, "ci95": [np.nan, np.nan]}
    fit = stats.linregress(x, y)
    half = float(stats.t.ppf(0.975, x.size - 2) * fit.stderr) if x.size > 2 else np.nan
    return {"n": int(x.size), "slope": float(fit.slope), "intercept": float(fit.intercept),
            "stderr": float(fit.stderr) if x.size > 2 else np.nan, "ci95": [fit.slope - half, fit.slope + half]}


def _over_seeds(values: np.ndarray) -> dict:
    """:func:`scribcim.report.comparison.over_seeds` of per-seed slopes, the mean named ``slope``."""
    s = over_seeds(values)
    return {"n": s["n"], "slope": s["mean"], "sd": s["sd"], "ci95": s["ci95"]}


def slopes(runs: pd.DataFrame, what: str = RAW, metric: str = "dice", structure: str = "mean") -> list[dict]:
    """Per method, the slope of ``metric`` against the inconsistency level with the seed as the unit (the runs of
    one seed share its scribble draw): each seed's least-squares slope over its levels (:func:`seed_slopes`), then
    mean, sd and 95 % t-interval over seeds (``n`` seeds with a slope; ``runs`` simulated runs), as the slope
    differences (:func:`slope_differences`) do."""
    sim = runs[(runs.condition != EXPERT) & (runs.structure == structure)]
    per_seed = seed_slopes(runs, metric, structure).dropna(subset=[metric])
    out = []
    for m in paper_order(sim.method):
        g = per_seed[per_seed.method == m].sort_values("seed")
        out.append({"method": m, "metric": metric, "metrics": what, "runs": int((sim.method == m).sum()),
                    "seeds": [int(s) for s in g.seed], "per_seed": [float(v) for v in g[metric]]}
                   | _over_seeds(g[metric].to_numpy(float)))
    return out


def seed_slopes(runs: pd.DataFrame, metric: str = "dice", structure: str = "mean") -> pd.DataFrame:
    """One row per method and seed: the slope of that seed's runs against the level (``metric`` holds it)."""
    sim = runs[(runs.condition != EXPERT) & (runs.structure == structure)]
    rows = [{"method": m, "seed": s, "structure": structure,
             metric: _fit(g.level.to_numpy(float), g[metric].to_numpy(float))["slope"]}
            for (m, s), g in sim.groupby(["method", "seed"])]
    return pd.DataFrame(rows, columns=["method", "seed", "structure", metric])


def slope_differences(runs: pd.DataFrame, what: str = RAW, metric: str = "dice",
                      contrasts: Sequence[tuple[str, str]] = CONTRASTS) -> list[dict]:
    """Seed-paired difference of slopes a − b: per seed the difference of the two methods' slopes over the levels,
    then mean, sd and 95 % t-interval over seeds (:func:`paired_differences`)."""
    per_seed = seed_slopes(runs, metric)
    return [paired_differences(per_seed, a, b, metric=metric) | {"metric": f"{metric} slope", "metrics": what}
            for a, b in contrasts if {a, b} <= set(per_seed.method)]


def analyse(found: Sequence[dict], checkpoint: str = "best") -> dict[str, dict]:
    """``{"raw": ..., "post-processed": ...}`` (the latter only when some run has post-processed metrics), each with
    ``runs``, ``table``, ``differences``, ``slopes``, ``slope_differences``, ``level_changes`` and ``base_gaps``."""
    out = {}
    for what, post in ((RAW, False), (POST, True)):
        runs = grid_runs(found, postprocessed=post, checkpoint=checkpoint)
        if runs.empty:
            continue
        out[what] = {"runs": runs, "table": level_table(runs, what), "differences": level_differences(runs, what),
                     "slopes": slopes(runs, what), "slope_differences": slope_differences(runs, what),
                     "level_changes": level_changes(runs, what), "base_gaps": base_gaps(runs, what)}
    if RAW not in out:
        raise DataError(f"no {checkpoint} checkpoint in the robustness grid's summaries")
    return out
