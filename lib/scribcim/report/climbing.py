"""Is a model still climbing at its last iteration? Read from its validation curve (the training log).

Per run: the iteration of its best validation Dice (the checkpoint the tables use), whether that is one of the last
four validations, and how much validation Dice rose over the last third of the budget (from the validation nearest
two thirds of the last iteration to the last one: 1000 -> 1500 at 1500 iterations, 4000 -> 6000 at 6000). Per
profile and method: how many runs peak late and rise, and the median rise. Rows of
:func:`learning_curves` (every run's validation curve, from the training log beside its summary) in, tables out.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..runs.paths import run_path
from ..training.methods import paper_order
from ..viz.common import read_metrics
from .markdown import md_header, md_row

log = logging.getLogger(__name__)
#: a run "peaks late" when its best validation is one of its last LATE validations
LATE = 4


def learning_curves(results_root: Path | str, found: dict[str, list[dict]]) -> pd.DataFrame:
    """Validation Dice against iteration of every run (its training log beside its summary,
    :func:`scribcim.viz.common.read_metrics`): one row per (profile, method, seed, iteration)."""
    rows = []
    for profile, ss in found.items():
        for s in ss:
            folder = Path(results_root) / run_path(s["dataset"], profile, s["method"], s["fold"], s["seed"])
            try:
                val = read_metrics(folder)[1]
            except (OSError, DataError) as exc:
                log.warning("%s: no training log (%s): that run has no curve", folder, exc)
                continue
            rows += [{"profile": profile, "method": s["method"], "seed": s["seed"], "iteration": r["iteration"],
                      "val_dice": r["val_dice"]} for r in val]
    return pd.DataFrame(rows, columns=["profile", "method", "seed", "iteration", "val_dice"])


def climbing_runs(curves: pd.DataFrame) -> pd.DataFrame:
    """One row per run (profile, method, seed): last and best iteration, ``late`` (best among the last :data:`LATE`
    validations), validation Dice at two thirds of the budget and at the end, and ``rise`` (end minus two thirds)."""
    rows = []
    for (profile, method, seed), run in curves.groupby(["profile", "method", "seed"], sort=False):
        run = run.sort_values("iteration")
        its, dice = run.iteration.to_numpy(), run.val_dice.to_numpy()
        k = int(np.argmin(np.abs(its - its[-1] * 2 / 3)))
        best = int(np.argmax(dice))
        rows.append({"profile": profile, "method": method, "seed": seed, "last": int(its[-1]),
                     "best": int(its[best]), "late": best >= len(its) - LATE, "from": int(its[k]),
                     "val_from": float(dice[k]), "val_last": float(dice[-1]), "rise": float(dice[-1] - dice[k])})
    return pd.DataFrame(rows, columns=["profile", "method", "seed", "last", "best", "late", "from", "val_from",
                                       "val_last", "rise"])


def climbing_summary(runs: pd.DataFrame) -> list[dict]:
    """Per profile (in order of appearance) and method (the paper's order): runs, how many peak late, how many rose
    over the last third, the median rise."""
    out = []
    groups = {k: g for k, g in runs.groupby(["profile", "method"], sort=False)}
    for profile in dict.fromkeys(runs.profile):
        for method in paper_order({m for p, m in groups if p == profile}):
            g = groups[profile, method]
            out.append({"profile": profile, "method": method, "runs": len(g), "late": int(g.late.sum()),
                        "rose": int((g.rise > 0).sum()), "median_rise": float(g.rise.median()),
                        "window": f"{int(g['from'].median())}-{int(g['last'].median())}"})
    return out


def climbing_markdown(summary: list[dict]) -> str:
    """Markdown: per profile and method, late peaks and rises over the last third."""
    lines = md_header(["profile", "method", "runs", f"best among the last {LATE} validations", "window",
                       "rose over it", "median rise"])
    for r in summary:
        lines.append(md_row([f"`{r['profile']}`", f"`{r['method']}`", str(r["runs"]), f"{r['late']}/{r['runs']}",
                             r["window"], f"{r['rose']}/{r['runs']}", f"{r['median_rise']:+.3f}"]))
    return "\n".join(lines)


def climbing_line(summary: list[dict], profile: str) -> str:
    """One sentence for a profile: runs peaking late, runs rising over the last third, the median rise."""
    rows = [r for r in summary if r["profile"] == profile]
    if not rows:
        return f"`{profile}`: no validation curves."
    n, late, rose = (sum(r[k] for r in rows) for k in ("runs", "late", "rose"))
    windows = sorted({r["window"] for r in rows})
    rises = ", ".join(f"`{r['method']}` {r['median_rise']:+.3f}" for r in rows)
    return (f"`{profile}`: best checkpoint among the last {LATE} validations in {late} of {n} runs; validation Dice "
            f"rose over iterations {'/'.join(windows)} in {rose} of {n} (median rise {rises}).")
