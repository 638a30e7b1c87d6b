"""The markdown of the across-seed comparison: the table per method, the seed-paired differences, bank purity.

Numbers come from :mod:`scribcim.report.comparison`; this module only lays them out.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..evaluate.metrics import CLASS_NAMES, LABELS, LOWER_IS_BETTER
from ..training.methods import paper_order
from .markdown import fmt_mean_std, md_header, md_row

STRUCTURES = [*CLASS_NAMES, "mean"]
#: the metrics compared across seeds, with the digits each is shown with
DIGITS = {"dice": 3, "hd95": 1, "asd": 1}
#: metrics where smaller is better (a paired difference a - b < 0 means a is better): the distances
LOWER_BETTER = LOWER_IS_BETTER


def _cell(row: pd.Series, metric: str, digits: int) -> str:
    return fmt_mean_std(row[f"{metric}_mean"], row[f"{metric}_std"], digits)


def seeds_markdown(table: pd.DataFrame, dataset: str) -> str:
    """Markdown: one row per method, mean ± sd across runs of Dice, HD95 and ASD per structure."""
    t = table[table.dataset == dataset]
    head = ["method", "runs"] + [f"{LABELS[m]} {s}" for m in DIGITS
                                 for s in (STRUCTURES if m != "asd" else ["mean"])]
    lines = md_header(head)
    for method in paper_order(t.method):
        tm = t[t.method == method].set_index("structure")
        cells = [method, str(int(tm.runs.iloc[0]))]
        for m, digits in DIGITS.items():
            cells += [_cell(tm.loc[s], m, digits) for s in (STRUCTURES if m != "asd" else ["mean"])]
        lines.append(md_row(cells))
    return "\n".join(lines)


def differences_markdown(diffs: Sequence[dict]) -> str:
    """Markdown: one row per contrast and metric, mean paired difference [95 % CI], sd, and how many seeds a won
    (for HD95/ASD, a wins where its distance is smaller)."""
    two = any("ci95_two_level" in d for d in diffs)
    lines = md_header(["contrast", "metric", "pairs (seeds)", "mean difference", "95 % CI",
                       *(["95 % CI, seeds and patients"] if two else []), "sd", "a better",
                       "across-seed sd a / b [95 % CI], p"])
    for d in diffs:
        k = DIGITS.get(d["metric"], 3)
        unit = " (mm)" if d["metric"] in LOWER_BETTER else ""
        sd = "n/a" if not np.isfinite(d["sd"]) else f"{d['sd']:.{k}f}"
        lines.append(md_row([f"{d['a']} − {d['b']}", f"{LABELS.get(d['metric'], d['metric'])} {d['structure']}{unit}",
                             str(d["pairs"]), f"{d['mean']:+.{k}f}", fmt_ci(d["ci95"], k),
                             *([fmt_ci(d.get("ci95_two_level"), k)] if two else []), sd,
                             f"{d['a_better']}/{d['pairs']}", fmt_sd_ratio(d.get("sd_ratio"))]))
    return "\n".join(lines)


def fmt_ci(ci: Sequence[float] | None, k: int = 3) -> str:
    """``[lo, hi]`` with signs and ``k`` digits; n/a where undefined."""
    if not ci or ci[0] is None or not np.isfinite(ci[0]):
        return "n/a"
    return f"[{ci[0]:+.{k}f}, {ci[1]:+.{k}f}]"


def fmt_sd_ratio(r: dict | None) -> str:
    """``ratio [lo, hi], p = ...`` of :func:`scribcim.report.stability.sd_ratio`; n/a where undefined."""
    if not r or r["ratio"] is None or not np.isfinite(r["ratio"]):
        return "n/a"
    return f"{r['ratio']:.2f} [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}], p = {r['p_value']:.2f}"


def differences_section(diffs: Sequence[dict], what: str = "") -> list[str]:
    """The lines of one differences table with its heading (none without differences)."""
    return [f"Seed-paired differences{what} (a − b; 95 % t-interval over seeds; last column: the ratio of the two "
            "methods' across-seed sds, paired by seed, with the Pitman-Morgan interval and p-value for equal sds; where "
            "given, a second interval from a bootstrap that resamples seeds and then test patients, which also covers "
            "the choice of test patients):", "",
            differences_markdown(diffs), ""] if diffs else []


def purity_markdown(table: pd.DataFrame, dataset: str) -> str:
    """Markdown: per class, the bank purity and sharing of each method with banks (mean ± sd across runs); one
    method (or a table without a method column) keeps the one-method layout."""
    t = table[table.dataset == dataset]
    methods = list(dict.fromkeys(t.method)) if "method" in t else [None]
    one = len(methods) == 1
    lines = [f"| {'CIM bank' if one else 'method | bank'} | " + " | ".join(CLASS_NAMES) + " |",
             "|---|" + ("" if one else "---|") + "---|" * len(CLASS_NAMES)]
    for method in methods:
        tm = (t if method is None else t[t.method == method]).set_index(["kind", "class"])
        for kind, label in (("bank_purity", "purity (cell mostly the class)"),
                            ("bank_shared", "shared with another bank")):
            cells = [fmt_mean_std(tm.loc[(kind, c), "mean"], tm.loc[(kind, c), "std"], 2) if (kind, c) in tm.index
                     else "n/a" for c in CLASS_NAMES]
            lines.append(f"| {label if one else f'`{method}` | {label}'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
