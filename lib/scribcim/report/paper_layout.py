"""The comparison grid laid out as the paper lays out its tables, beside the numbers the field reports.

Two block kinds of :mod:`scribcim.report.doc_blocks`, both rendered from ``results/tables/<profile>_seeds.json``
(:mod:`scribcim.report.comparison`):

* ``paper <profile>`` (docs/paper.md): per dataset, Dice (%) and HD95 (mm) per structure (RV, MYO, LV) and their
  mean, per method in the paper's order, raw and post-processed, mean ± sd across runs with the number of runs;
  the reported numbers (:data:`REPORTED`) as rows of their own under the method they stand beside;
* ``paper-summary <profile>`` (README.md): mean Dice and HD95 only, raw / post-processed, with the reported number
  beside each method that has one.

A method appears once the record holds runs of it; one with reported numbers but no runs here shows ``-``. The
reported numbers are typed here and nowhere else.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..data.datasets import DATASETS as SPECS
from ..evaluate.metrics import CLASS_NAMES
from ..training.methods import METHODS, ORDER, paper_order
from .markdown import DATASET_LABELS, fmt_mean_std, md_header, md_row, num

DATASETS = DATASET_LABELS
STRUCTURES = (*CLASS_NAMES, "mean")
#: metric -> (label, factor from the record's unit to the table's: Dice as a fraction -> %, HD95 in mm)
METRICS = {"dice": ("Dice", 100.0), "hd95": ("HD95", 1.0)}


@dataclass(frozen=True)
class Source:
    """Where reported numbers come from: a footnote mark, a short name, and its protocol."""
    mark: str
    name: str
    protocol: str


@dataclass(frozen=True)
class Reported:
    """One published result, second-hand: Dice in % and HD95 in mm per structure (``mean``: over RV, MYO, LV)."""
    dataset: str
    name: str  # the method as the source names it
    source: str  # a mark of SOURCES
    beside: str | None  # this project's method whose rows it follows (None: a method not trained here: at the end)
    dice: dict[str, float]
    hd95: dict[str, float] = field(default_factory=dict)
    runs: str = "1 per fold"


#: The sources of :data:`REPORTED`, as the project's method notes quote them (METHOD.md, "Reported results" and
#: "Evaluation protocol"); the CIM release's MSCMR folds read from its `code/test_2d_fully_MSCMR_Scribble.py`.
SOURCES = {s.mark: s for s in (
    Source("a", "the CIM paper", "Chen et al., IEEE TIP 34:842-853 (2025), its released code: ACDC 5-fold "
           "cross-validation by patient, whole slices resized to 256x256; MSCMR 5-fold over the 25 scribbled "
           "subjects (5 test subjects a fold, not the 25 / 5 / 15 split used here), 480x480; 60,000 iterations, "
           "seed 2022, one run per fold, the checkpoint chosen on the test fold"),
    Source("b", "the WSL4MIS technical report", "ACDC 5-fold cross-validation, whole slices resized to 256 px, "
           "60,000 iterations, one run per fold, the checkpoint chosen on the test fold"),
    Source("c", "the DMSPS paper", "ACDC on its own split of 140 / 30 / 30 volumes, 30,000 iterations, one run"),
)}

#: Reported numbers (second-hand, DSC in %, HD95 in mm); "-" wherever the source gives no number. Sources: the
#: project's method notes (METHOD.md, "Reported results (from the paper, second-hand)") and its list of "other
#: reported ACDC numbers".
REPORTED = (
    # CIM paper, ACDC: 87.9 mean Dice (METHOD.md, "Reported results")
    Reported("acdc", "CIM", "a", "cim", {"mean": 87.9}),
    # CIM paper, MSCMR scribbles: 85.3 mean Dice, its runner-up 83.8 (METHOD.md, "Reported results")
    Reported("mscmr", "CIM", "a", "cim", {"mean": 85.3}),
    Reported("mscmr", "runner-up in the CIM paper", "a", None, {"mean": 83.8}, runs="-"),
    # WSL4MIS technical report (METHOD.md, "Other reported ACDC numbers"): pCE 68.6 (HD95 173.3),
    # DMPLS 87.2 (RV 86.1, MYO 84.2, LV 91.3; HD95 9.9; also the CIM paper's ACDC runner-up), full 89.8 (HD95 7.0)
    Reported("acdc", "pCE", "b", "pce", {"mean": 68.6}, {"mean": 173.3}),
    Reported("acdc", "DMPLS", "b", "dmpls", {"RV": 86.1, "MYO": 84.2, "LV": 91.3, "mean": 87.2}, {"mean": 9.9}),
    Reported("acdc", "full supervision", "b", "full", {"mean": 89.8}, {"mean": 7.0}),
    # DMSPS, own split 140/30/30 volumes, 30k iterations: 89.5 (METHOD.md, "Other reported ACDC numbers")
    Reported("acdc", "DMSPS", "c", None, {"mean": 89.5}, runs="1"),
)


def _rows(table: list[dict]) -> dict[tuple[str, str, str], dict]:
    """The record's rows with runs, by (dataset, method, structure)."""
    return {(r["dataset"], r["method"], r["structure"]): r for r in table if r.get("runs")}


def _kinds(record: dict) -> list[tuple[str, dict]]:
    """(label, rows) of the raw numbers and, where the record has them, the post-processed ones."""
    post = record.get("postprocessed")
    return [("raw", _rows(record["table"]))] + ([("post-processed", _rows(post["table"]))] if post else [])


def _cell(row: dict | None, metric: str, sd: bool = True) -> str:
    """``mean ± sd`` of a record row in the table's unit (1 decimal); "-" without a row."""
    if row is None:
        return "-"
    k = METRICS[metric][1]
    return fmt_mean_std(num(row.get(f"{metric}_mean")) * k, num(row.get(f"{metric}_std")) * k if sd else np.nan, 1)


def _value(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def _label(method: str) -> str:
    return f"`{method}`" + (" (dense labels)" if method == "full" else "")


def _runnable(method: str, dataset: str) -> bool:
    """False where a method needs dense training labels that the dataset does not have (``full`` on MSCMR)."""
    m, spec = METHODS.get(method), SPECS.get(dataset)
    return not (m is not None and spec is not None and m.needs_dense_labels and not spec.dense_train_labels)


def _datasets(kinds: list[tuple[str, dict]]) -> list[str]:
    shown = {k[0] for _, rows in kinds for k in rows} | {r.dataset for r in REPORTED}
    return [d for d in DATASETS if d in shown] + sorted(shown - set(DATASETS))


def _footer(record: dict) -> str:
    commits = ", ".join(c[:7] for c in record.get("training_commits", []))
    return (f"From `results/tables/{record['profile']}_seeds.json` (`make comparison`; fold {record.get('fold', 1)}, "
            f"the checkpoint best on the validation patients; trained at {commits}).")


def paper_block(record: dict) -> str:
    """The markdown of a ``paper`` block (ends with a newline)."""
    kinds = _kinds(record)
    raw = kinds[0][1]
    lines: list[str] = []
    for ds in _datasets(kinds):
        name = DATASETS.get(ds, ds)
        reported = [r for r in REPORTED if r.dataset == ds]
        have = {k[1] for k in raw if k[0] == ds}
        methods = paper_order(have | {r.beside for r in reported if r.beside})
        head = ["method", "numbers", "runs"] + [f"{METRICS[m][0]} {s}" for m in METRICS for s in STRUCTURES]
        lines += [f"**{name}**: Dice (%) and HD95 (mm) per structure and their mean. Here: mean ± sd across runs "
                  "(seeds) of each run's mean over the test volumes; reported: as published.", ""]
        lines += md_header(head)
        for method in methods:
            if method in have:
                for label, rows in kinds:
                    mean = rows.get((ds, method, "mean"))
                    lines.append(md_row([_label(method), label, str(int(mean["runs"])) if mean else "-",
                                         *(_cell(rows.get((ds, method, s)), m) for m in METRICS for s in STRUCTURES)]))
            else:
                lines.append(md_row([_label(method), "no runs yet", "-"] + ["-"] * 2 * len(STRUCTURES)))
            lines += [_reported_row(r) for r in reported if r.beside == method]
        lines += [_reported_row(r) for r in reported if r.beside is None]
        missing = [m for m in paper_order(set(ORDER) | {k[1] for k in raw}) if m not in have and m not in methods]
        absent = [m for m in missing if _runnable(m, ds)]
        if absent:
            lines += ["", f"Not in the record yet on {name}: {', '.join(f'`{m}`' for m in absent)}."]
        for m in (m for m in missing if not _runnable(m, ds)):
            lines += ["", f"`{m}` needs dense training labels, which {name} does not have."]
        lines.append("")
    lines.append("Reported elsewhere: second-hand numbers as published, not rerun here (`-`: the source as quoted "
                 "gives no number); their protocols:")
    lines.append("")
    lines += [f"* [{s.mark}] {s.name}: {s.protocol}." for s in SOURCES.values()]
    lines += ["", _footer(record)]
    return "\n".join(lines) + "\n"


def _reported_row(r: Reported) -> str:
    return md_row([r.name, f"reported [{r.source}]", r.runs,
                   *(_value(getattr(r, m).get(s)) for m in METRICS for s in STRUCTURES)])


def summary_block(record: dict) -> str:
    """The markdown of a ``paper-summary`` block: mean Dice (%) and HD95 (mm), raw / post-processed, per method and
    dataset, the reported number beside each method that has one (ends with a newline)."""
    kinds = _kinds(record)
    raw = kinds[0][1]
    reported = {(r.dataset, r.beside): r for r in REPORTED if r.beside}
    datasets = [d for d in _datasets(kinds) if any(k[0] == d for k in raw) or any(k[0] == d for k in reported)]
    what = " / ".join("post" if label != "raw" else "raw" for label, _ in kinds)
    head, cols = ["method"], []
    for ds in datasets:
        head.append(f"{DATASETS.get(ds, ds)} runs")
        for m, (label, _) in METRICS.items():
            unit = "%" if m == "dice" else "mm"
            head.append(f"{DATASETS.get(ds, ds)} {label} ({unit}), {what}")
            cols.append((ds, m, False))
            if any(ds == d and getattr(r, m).get("mean") is not None for (d, _), r in reported.items()):
                head.append(f"{DATASETS.get(ds, ds)} {label} ({unit}), reported")
                cols.append((ds, m, True))
    lines = md_header(head)
    for method in paper_order({k[1] for k in raw} | {b for _, b in reported}):
        cells = [_label(method)]
        for ds in datasets:
            mean = raw.get((ds, method, "mean"))
            cells.append(str(int(mean["runs"])) if mean else "-")
            for d, m, rep in (c for c in cols if c[0] == ds):
                if rep:
                    r = reported.get((ds, method))
                    v = None if r is None else getattr(r, m).get("mean")
                    cells.append("-" if v is None else f"{v:.1f} [{r.source}]")
                elif mean is None:
                    cells.append("-")
                else:
                    cells.append(" / ".join(_cell(rows.get((ds, method, "mean")), m, sd=False) for _, rows in kinds))
        lines.append(md_row(cells))
    marks = sorted({r.source for r in reported.values()})
    lines += ["", "Here: the mean across runs (seeds). Reported: second-hand, as published ("
              + "; ".join(f"[{k}] {SOURCES[k].name}" for k in marks) + "): one run per fold of a 5-fold cross-"
              "validation, other input sizes and budgets, checkpoints chosen on the test fold. Per structure, with "
              "sds, and every protocol difference: [docs/paper.md](docs/paper.md).", "", _footer(record)]
    return "\n".join(lines) + "\n"
