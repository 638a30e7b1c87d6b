"""The one markdown-table helper and the one ``mean ± std`` formatter of every table the project writes."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def md_header(head: Sequence[str]) -> list[str]:
    """The header row and the ``|---|`` rule of a markdown table."""
    return [md_row(head), "|" + "---|" * len(head)]


def md_row(cells: Sequence[str]) -> str:
    """One markdown table row: ``| a | b |``."""
    return "| " + " | ".join(cells) + " |"


def fmt_mean_std(mean: float | None, std: float | None, digits: int = 3) -> str:
    """``mean ± std``; the mean alone when there is no spread to show (NaN or None std, e.g. one run, as a JSON record
    holds it); n/a without a mean."""
    if mean is None or np.isnan(mean):
        return "n/a"
    return f"{mean:.{digits}f}" if std is None or np.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


#: the datasets' names in tables and pages
DATASET_LABELS = {"acdc": "ACDC", "mscmr": "MSCMR"}


def num(x: float | None) -> float:
    """A record's number as a float: JSON null (NaN when written) back to NaN."""
    return float("nan") if x is None else float(x)


def fmt_paired(d: dict | None, digits: int) -> str:
    """A seed-paired difference (a record of :func:`scribcim.report.comparison.paired_differences`) as
    ``mean [lo, hi], better/pairs``; ``mean (1 seed)`` with one pair; "n/a" without a pair; "-" without a record."""
    if d is None:
        return "-"
    mean, (lo, hi) = num(d["mean"]), (num(x) for x in d["ci95"])
    if not d["pairs"] or not np.isfinite(mean):
        return "n/a"
    if d["pairs"] < 2 or not np.isfinite(lo):
        return f"{mean:+.{digits}f} (1 seed)"
    better = f", {d['a_better']}/{d['pairs']}" if "a_better" in d else ""
    return f"{mean:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]{better}"
