"""Every committed ``summary.json`` as one long table, with summary statistics and paired tests.

:func:`case_table` reads ``results/**/summary.json`` into a :class:`pandas.DataFrame` with one
row per (run, checkpoint, case, structure), where structure is RV, MYO, LV or ``mean`` (the
foreground mean of the case), with Dice, HD95, ASD, ASSD (NaN in summaries made before ASSD was
recorded) and ``missed``: 1 for a class present in the reference and predicted empty (its distances
are NaN, left out of means), for ``mean`` the number of such classes in the case. Runs are
identified by what their config says (dataset, profile, method, fold, seed, training scribbles),
never by folder names.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import pandas as pd
from scipy import stats

from ..errors import DataError
from ..evaluate.metrics import CLASS_NAMES, LOWER_IS_BETTER, METRICS, pstd
from .markdown import fmt_mean_std

log = logging.getLogger(__name__)
RUN_KEYS = ["dataset", "profile", "scribbles", "inconsistency", "settings", "method", "fold", "seed"]


def scribbles_label(scribbles: str, inconsistency: float) -> str:
    """``expert`` or e.g. ``centreline@0.50`` (simulated base annotator at an inconsistency level)."""
    return "expert" if scribbles == "expert" else f"{scribbles}@{inconsistency:.2f}"


def settings_label(config: dict) -> str:
    """``""`` for the method's own settings (the defaults and those its method fixes, e.g. ``cim_paper``'s), else
    e.g. ``"use_banks=False"`` (comma-separated, in :data:`~scribcim.config.METHOD_SETTINGS` order;
    :func:`scribcim.config.ablations.changed_settings`)."""
    from ..config.ablations import changed_settings
    return ",".join(f"{k}={v}" for k, v in changed_settings(config).items())


def summary_rows(summary: dict, source: str = "", postprocessed: bool = False) -> list[dict]:
    """Long-format rows of one summary (see module docstring).

    With ``postprocessed``, the rows are those of each checkpoint's post-processed metrics
    (``checkpoints.<name>.postprocessed.cases``, the post-processing chosen on the validation patients), with the
    choice in a ``postprocessing`` column; checkpoints without post-processed metrics (older summaries) give none.
    """
    cfg = summary["provenance"]["config"]
    run = {"dataset": summary["dataset"], "profile": summary["profile"], "method": summary["method"],
           "fold": summary["fold"], "seed": summary["seed"], "scribbles": cfg.get("scribbles", "expert"),
           "inconsistency": float(cfg.get("inconsistency", 0.0)), "settings": settings_label(cfg),
           "source": source}
    run["training_scribbles"] = scribbles_label(run["scribbles"], run["inconsistency"])
    rows = []
    for ck, res in summary["checkpoints"].items():
        if postprocessed:
            if "postprocessed" not in res:
                continue
            run_ck = {**run, "postprocessing": (res.get("postprocessing") or {}).get("choice")}
            res = {**res["postprocessed"], "iteration": res["iteration"]}
        else:
            run_ck = run
        for case in res["cases"]:
            parts = {**{c: case["classes"][c] for c in CLASS_NAMES}, "mean": case["foreground_mean"]}
            missed = {c: int(_missed(case["classes"][c])) for c in CLASS_NAMES}
            missed["mean"] = sum(missed.values())
            for structure, vals in parts.items():
                rows.append({**run_ck, "checkpoint": ck, "iteration": res["iteration"], "case": case["case"],
                             "structure": structure, **{m: _num(vals.get(m)) for m in METRICS},
                             "missed": missed[structure]})
    return rows


def summaries_frame(summaries: Sequence[dict], postprocessed: bool = False) -> pd.DataFrame:
    """The long rows (:func:`summary_rows`) of several summaries as one table."""
    return pd.DataFrame([r for s in summaries for r in summary_rows(s, postprocessed=postprocessed)])


def _missed(metrics: dict) -> bool:
    """A class present in the reference and absent from the prediction."""
    return bool(metrics.get("empty_pred")) and not metrics.get("empty_gt")


def _num(v: float | None) -> float:
    return float("nan") if v is None else float(v)


def case_table(results_root: Path | str = "results") -> pd.DataFrame:
    """Every ``summary.json`` under ``results_root`` as one long table (raises if there are none)."""
    root = Path(results_root)
    paths = sorted(root.rglob("summary.json"))
    if not paths:
        raise DataError(f"no summary.json under {root}: run `scribcim evaluate --results ...` or `make reproduce`")
    rows = []
    for p in paths:
        try:
            rows += summary_rows(json.loads(p.read_text()), source=str(p.relative_to(root)))
        except (KeyError, json.JSONDecodeError) as exc:
            raise DataError(f"{p}: not a scribcim summary ({exc}); remove it or rerun `scribcim evaluate`") from None
    return pd.DataFrame(rows)


def mean_std_table(df: pd.DataFrame, metric: str = "dice", checkpoint: str = "best") -> pd.DataFrame:
    """Mean, std (as in summaries, :func:`pstd`) and n over cases of ``metric``, per run and structure (wide)."""
    d = df[df.checkpoint == checkpoint]
    keys = [k for k in RUN_KEYS + ["training_scribbles"] if k in d]
    g = d.groupby(keys + ["structure"], dropna=False)[metric].agg(["mean", pstd, "count"]).reset_index()
    g = g.rename(columns={"pstd": "std"})
    wide = g.pivot(index=keys, columns="structure", values=["mean", "std", "count"])
    wide.columns = [f"{structure}_{stat}" for stat, structure in wide.columns]
    order = [f"{s}_{st}" for s in [*CLASS_NAMES, "mean"] for st in ("mean", "std", "count")]
    return wide[[c for c in order if c in wide.columns]].reset_index()


def _wilcoxon_p(a: pd.Series, b: pd.Series) -> float:
    """Two-sided Wilcoxon signed-rank p of paired ``a``, ``b``: NaN without pairs (nothing tested), 1 when every
    pair is equal (no difference to rank)."""
    if len(a) == 0:
        return float("nan")
    if not (a != b).any():
        return 1.0
    return float(stats.wilcoxon(a, b).pvalue)


def paired_wilcoxon(df: pd.DataFrame, methods: Sequence[str], *, metric: str = "dice", structure: str = "mean",
                    checkpoint: str = "best", **where: object) -> pd.DataFrame:
    """Two-sided Wilcoxon signed-rank tests between every pair of ``methods`` on their common cases.

    ``where`` selects the runs (e.g. ``dataset="acdc", profile="quick", training_scribbles="expert"``);
    each method must have exactly one run there. Cases missing or NaN in either are left out.
    ``a_better_cases`` counts the cases where a is better: a larger Dice, a smaller distance
    (:data:`~scribcim.evaluate.metrics.LOWER_IS_BETTER`). No common case: ``p_value`` NaN (no test), not 1.
    """
    d = df[(df.checkpoint == checkpoint) & (df.structure == structure)]
    for k, v in where.items():
        d = d[d[k] == v]
    per = {}
    for m in methods:
        dm = d[d.method == m]
        if dm.empty:
            raise DataError(f"no results for method {m!r} with {where}")
        if dm.duplicated("case").any():
            raise DataError(f"method {m!r} has several runs with {where}: narrow the selection")
        per[m] = dm.set_index("case")[metric]
    out = []
    for i, a in enumerate(methods):
        for b in methods[i + 1:]:
            both = pd.concat([per[a], per[b]], axis=1, join="inner").dropna()
            diff = both.iloc[:, 0] - both.iloc[:, 1]
            better = diff < 0 if metric in LOWER_IS_BETTER else diff > 0
            out.append({"a": a, "b": b, "n": len(both), f"mean_{metric}_a": both.iloc[:, 0].mean(),
                        f"mean_{metric}_b": both.iloc[:, 1].mean(), "mean_difference": float(diff.mean()),
                        "a_better_cases": int(better.sum()), "p_value": _wilcoxon_p(both.iloc[:, 0], both.iloc[:, 1])})
    return pd.DataFrame(out)


def fmt_distance(mean: float, std: float, missed: int = 0, digits: int = 1) -> str:
    """A distance's mean ± std over cases, followed by ``(k missed)`` when k structures were left out of it."""
    return fmt_mean_std(mean, std, digits) + (f" ({int(missed)} missed)" if missed else "")


def training_device(summary: dict) -> dict:
    """Where a run was trained: its training provenance's ``device`` block (the evaluation's where older summaries
    have no training provenance)."""
    prov = summary.get("provenance") or {}
    return ((prov.get("train") or {}).get("device")) or prov.get("device") or {}


def training_cpus(summaries: Sequence[dict]) -> list[str]:
    """The CPU models the runs were trained on (their training provenance), sorted."""
    return sorted({str(training_device(s).get("cpu_model")) for s in summaries})
