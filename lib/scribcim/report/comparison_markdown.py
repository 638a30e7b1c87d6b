"""The markdown of the across-seed comparison: the table per method, the seed-paired differences, bank purity.

Numbers come from :mod:`scribcim.report.comparison`; this module only lays them out.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..evaluate.metrics import CLASS_NAMES, LABELS
from ..training.methods import paper_order
from .markdown import fmt_mean_std, md_header, md_row

STRUCTURES = [*CLASS_NAMES, "mean"]
#: the metrics compared across seeds, with the digits each is shown with
DIGITS = {"dice": 3, "hd95": 1, "asd": 1}
#: metrics where smaller is better (a paired difference a - b < 0 means a is better)
LOWER_BETTER = frozenset({"hd95", "asd"})


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
    lines = md_header(["contrast", "metric", "pairs (seeds)", "mean difference", "95 % CI", "sd", "a better",
                       "across-seed sd a / b [95 % CI], p"])
    for d in diffs:
        k = DIGITS.get(d["metric"], 3)
        unit = " (mm)" if d["metric"] in LOWER_BETTER else ""
        ci = "n/a" if not np.isfinite(d["ci95"][0]) else f"[{d['ci95'][0]:+.{k}f}, {d['ci95'][1]:+.{k}f}]"
        sd = "n/a" if not np.isfinite(d["sd"]) else f"{d['sd']:.{k}f}"
        lines.append(md_row([f"{d['a']} − {d['b']}", f"{LABELS.get(d['metric'], d['metric'])} {d['structure']}{unit}",
                             str(d["pairs"]), f"{d['mean']:+.{k}f}", ci, sd, f"{d['a_better']}/{d['pairs']}",
                             fmt_sd_ratio(d.get("sd_ratio"))]))
    return "\n".join(lines)


def fmt_sd_ratio(r: dict | None) -> str:
    """``ratio [lo, hi], p = ...`` of :func:`scribcim.report.stability.sd_ratio`; n/a where undefined."""
    if not r or r["ratio"] is None or not np.isfinite(r["ratio"]):
        return "n/a"
    return f"{r['ratio']:.2f} [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}], p = {r['p_value']:.2f}"


def differences_section(diffs: Sequence[dict], what: str = "") -> list[str]:
    """The lines of one differences table with its heading (none without differences)."""
    return [f"Seed-paired differences{what} (a − b; 95 % t-interval over seeds; last column: the ratio of the two "
            "methods' across-seed sds, paired by seed, with the Pitman-Morgan interval and p-value for equal sds):", "",
            differences_markdown(diffs), ""] if diffs else []


def purity_markdown(table: pd.DataFrame, dataset: str) -> str:
    """Markdown: per class, CIM's bank purity and sharing (mean ± sd across runs)."""
    t = table[table.dataset == dataset].set_index(["kind", "class"])
    lines = ["| CIM bank | " + " | ".join(CLASS_NAMES) + " |", "|---|" + "---|" * len(CLASS_NAMES)]
    for kind, label in (("bank_purity", "purity (cell mostly the class)"), ("bank_shared", "shared with another bank")):
        cells = [f"{t.loc[(kind, c), 'mean']:.2f} ± {t.loc[(kind, c), 'std']:.2f}" if (kind, c) in t.index else "n/a"
                 for c in CLASS_NAMES]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
