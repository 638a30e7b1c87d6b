"""The result tables of the README and the docs pages, rendered from the committed records: no number typed by hand.

A page holds blocks between ``<!-- <kind> <key> -->`` and ``<!-- /<kind> -->``:

* ``headline <profile>``: from ``results/tables/<profile>_seeds.json`` (:mod:`scribcim.report.comparison`): per
  method the runs and the mean ± sd across runs of test Dice and HD95 (mean over classes), raw first and
  post-processed beside it, per dataset; then the seed-paired differences of ``cim`` against each baseline;
* ``targets <profile>``: from ``results/tables/<profile>_targets.json`` (:mod:`scribcim.report.targets`): each
  target, the measured figure and whether it holds;
* ``robustness-seeds <dataset>_<profile>``: from ``results/tables/<dataset>_<profile>_robustness_seeds.json``
  (:mod:`scribcim.report.robustness_seeds`): Dice per method at each inconsistency level and the slope, raw and
  post-processed, then the seed-paired differences of ``cim`` per level and of the slopes;
* ``paper <profile>`` and ``paper-summary <profile>``: from ``results/tables/<profile>_seeds.json``, laid out as the
  paper lays out its tables, beside the numbers reported elsewhere (:mod:`scribcim.report.paper_layout`);
* ``budget <dataset>``: from ``results/tables/<dataset>_budget.json`` (:mod:`scribcim.report.budget`): the budget
  study at both budgets and how its differences change (:mod:`scribcim.report.budget_block`);
* ``error-bands <dataset>_<profile>``: from ``results/tables/<dataset>_<profile>_error_bands.json``
  (:mod:`scribcim.analysis.error_bands`): where each method's extra errors against ``full`` lie
  (:mod:`scribcim.report.error_bands_block`).

``python -m scribcim.report.doc_blocks --write`` rewrites every block of README.md and docs/*.md in place
(``make comparison`` does); a test checks the committed pages against the committed records.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DataError
from ..training.methods import paper_order
from .comparison_markdown import DIGITS, fmt_ci, fmt_sd_ratio
from .markdown import DATASET_LABELS, fmt_mean_std, fmt_paired, md_header, md_row, num
from .budget_block import budget_block
from .error_bands_block import error_bands_block
from .paper_layout import paper_block, summary_block

BLOCK = re.compile(r"<!-- (?P<kind>headline|targets|robustness-seeds|paper-summary|paper|budget|error-bands) "
                   r"(?P<key>[\w.-]+) -->\n"
                   r"(?P<body>.*?)<!-- /(?P=kind) -->", re.S)
#: block kind -> the record file of a key, under the tables folder
SOURCES = {"headline": "{key}_seeds.json", "targets": "{key}_targets.json",
           "robustness-seeds": "{key}_robustness_seeds.json", "paper": "{key}_seeds.json",
           "paper-summary": "{key}_seeds.json", "budget": "{key}_budget.json",
           "error-bands": "{key}_error_bands.json"}
#: block kind -> the command that writes its record
MAKERS = {"headline": "python -m scribcim.report.comparison --profile {key}",
          "targets": "python -m scribcim.report.targets --profile {key}",
          "robustness-seeds": "python -m scribcim.report.robustness_seeds",
          "paper": "python -m scribcim.report.comparison --profile {key}",
          "paper-summary": "python -m scribcim.report.comparison --profile {key}",
          "budget": "python -m scribcim.report.budget --dataset {key}",
          "error-bands": "make error-bands"}
DATASETS = DATASET_LABELS


def _rows(table: Sequence[dict]) -> dict[tuple[str, str], dict]:
    """The foreground-mean rows by (dataset, method); JSON nulls (the sd of one run) as NaN."""
    return {(r["dataset"], r["method"]): {k: float("nan") if v is None else v for k, v in r.items()}
            for r in table if r["structure"] == "mean"}


def headline_block(record: dict) -> str:
    """The markdown between the README's markers (ends with a newline)."""
    post = record.get("postprocessed")
    raw_rows, post_rows = _rows(record["table"]), _rows(post["table"]) if post else {}
    datasets = [d for d in DATASETS if any(k[0] == d for k in raw_rows)]
    head, digits = ["method"], {m: DIGITS[m] for m in ("dice", "hd95")}
    for ds in datasets:
        head += [f"{DATASETS[ds]} runs"]
        for label, unit in (("Dice", ""), ("HD95", " (mm)")):
            head += [f"{DATASETS[ds]} {label}{unit}"] + ([f"{DATASETS[ds]} {label} post{unit}"] if post else [])
    lines = md_header(head)
    for method in paper_order({m for _, m in raw_rows}):
        cells = [f"`{method}`" + (" (dense labels)" if method == "full" else "")]
        for ds in datasets:
            r, p = raw_rows.get((ds, method)), post_rows.get((ds, method))
            cells.append(str(int(r["runs"])) if r else "-")
            for metric in digits:
                cells.append(fmt_mean_std(r[f"{metric}_mean"], r[f"{metric}_std"], digits[metric]) if r else "-")
                if post:
                    cells.append(fmt_mean_std(p[f"{metric}_mean"], p[f"{metric}_std"], digits[metric]) if p else "-")
        lines.append(md_row(cells))
    diffs = {(d["dataset"], d["a"], d["b"], d["metric"]): d for d in record["differences"]}
    pdiffs = {(d["dataset"], d["a"], d["b"], d["metric"]): d for d in (post or {}).get("differences", [])}
    hd = any(k[3] == "hd95" for k in diffs)  # records written before HD95 differences have none
    steady = any("sd_ratio" in d for d in diffs.values())  # nor the ratio of across-seed sds
    two = any("ci95_two_level" in d for d in diffs.values())  # nor the interval over seeds and patients
    head = ["contrast", "dataset", "Dice"] + (["Dice post"] if post else []) + \
        (["Dice, 95 % CI over seeds and patients"] + (["Dice post, same"] if post else []) if two else []) + \
        (["HD95 (mm)"] + (["HD95 post (mm)"] if post else []) if hd else []) + \
        (["across-seed sd of Dice, `a` / `b` [95 % CI], p"] if steady else [])
    lines += ["", "Seed-paired differences `a − b` (mean [95 % t-interval over seeds, on these test volumes], seeds "
              "where `a` is better" + ("; then the interval of a bootstrap that resamples seeds and then test patients, "
                                       "which also covers the choice of test patients" if two else "")
              + ("; the ratio of across-seed sds with its Pitman-Morgan interval, below 1 where `a` is steadier):"
                 if steady else "):"), ""]
    lines += md_header(head)
    for (ds, a, b, metric), d in diffs.items():
        if metric != "dice":
            continue
        cells = [f"`{a}` − `{b}`", DATASETS.get(ds, ds), fmt_paired(d, 3)]
        cells += [fmt_paired(pdiffs.get((ds, a, b, "dice")), 3)] if post else []
        cells += [fmt_ci(d.get("ci95_two_level"))] + ([fmt_ci((pdiffs.get((ds, a, b, "dice")) or {}).get(
            "ci95_two_level"))] if post else []) if two else []
        cells += [fmt_paired(diffs.get((ds, a, b, "hd95")), 1)] if hd else []
        cells += [fmt_paired(pdiffs.get((ds, a, b, "hd95")), 1)] if hd and post else []
        cells += [fmt_sd_ratio(d.get("sd_ratio"))] if steady else []
        lines.append(md_row(cells))
    commits = ", ".join(c[:7] for c in record.get("training_commits", []))
    lines += ["", f"From `results/tables/{record['profile']}_seeds.json` (`make comparison`; trained at {commits})."]
    return "\n".join(lines) + "\n"


def robustness_block(record: dict) -> str:
    """The markdown of a ``robustness-seeds`` block (ends with a newline)."""
    sec = record["section"]
    levels = ["expert", *sec["levels"]]
    kinds = [k for k in ("raw", "post-processed") if k in record]
    head = ["method", "Dice"] + [("expert scribbles" if c == "expert" else f"inconsistency {c}") for c in levels]
    lines = md_header(head + ["slope per unit inconsistency [95 % CI]"])
    for method in paper_order(sec["methods"]):
        for kind in kinds:
            rows = {r["condition"]: r for r in record[kind]["table"] if r["method"] == method}
            slope = next((x for x in record[kind]["slopes"] if x["method"] == method), None)
            if not rows and slope is None:  # e.g. no post-processed metrics for this method
                continue
            cells = [f"`{method}`", kind]
            cells += [fmt_mean_std(rows[c]["dice_mean"], rows[c]["dice_std"], 3) + f" ({int(rows[c]['runs'])})"
                      if c in rows else "-" for c in levels]
            cells.append("-" if slope is None or not np.isfinite(num(slope["ci95"][0])) else
                         f"{slope['slope']:+.3f} [{slope['ci95'][0]:+.3f}, {slope['ci95'][1]:+.3f}]")
            lines.append(md_row(cells))
    lines += ["", "Seed-paired differences of Dice `a − b` per level and of the slopes (mean [95 % t-interval], seeds "
              "where `a` is better; for slopes, where `a` falls less):", ""]
    lines += md_header(["contrast", "Dice"] + head[2:] + ["slope"])
    for kind in kinds:
        diffs = {(d["b"], d["condition"]): d for d in record[kind]["differences"]}
        slopes = {d["b"]: d for d in record[kind]["slope_differences"]}
        for b in paper_order({d["b"] for d in record[kind]["differences"]}):
            lines.append(md_row([f"`cim` − `{b}`", kind, *(fmt_paired(diffs.get((b, c)), 3) for c in levels),
                                 fmt_paired(slopes.get(b), 3)]))
    commits = ", ".join(c[:7] for c in record.get("training_commits", []))
    stem = f"{sec['dataset']}_{sec['profile']}"
    missing = f"; {len(record['missing'])} planned runs missing" if record.get("missing") else ""
    lines += ["", f"Runs per cell in brackets. From `results/tables/{stem}_robustness_seeds.json` (`python -m "
              f"scribcim.report.robustness_seeds`; trained at {commits}{missing})."]
    return "\n".join(lines) + "\n"


def targets_block(record: dict) -> str:
    """The markdown of a ``targets`` block: :func:`scribcim.report.targets.targets_markdown` of the record."""
    from .targets import targets_markdown
    return (targets_markdown(record["targets"]) + f"\n\nFrom `results/tables/{record['profile']}_targets.json` "
            "(`python -m scribcim.report.targets`; the targets stated before the grid was trained).\n")


RENDER = {"headline": headline_block, "targets": targets_block, "robustness-seeds": robustness_block,
          "paper": paper_block, "paper-summary": summary_block, "budget": budget_block,
          "error-bands": error_bands_block}


def update(page: Path | str, tables: Path | str = "results/tables", write: bool = True) -> bool:
    """Render every block of ``page`` from its record; True if all already matched (also for a page without
    blocks). With ``write``, changed blocks are rewritten in place."""
    page = Path(page)
    text = page.read_text()
    out, pos, same = [], 0, True
    for m in BLOCK.finditer(text):
        src = Path(tables) / SOURCES[m["kind"]].format(key=m["key"])
        if not src.is_file():
            raise DataError(f"{page}: block '{m['kind']} {m['key']}' needs {src}: run "
                            f"`{MAKERS[m['kind']].format(key=m['key'])}`")
        body = RENDER[m["kind"]](json.loads(src.read_text()))
        same &= body == m["body"]
        out += [text[pos:m.start("body")], body]
        pos = m.end("body")
    if not same and write:
        page.write_text("".join(out) + text[pos:])
    return same


def pages(root: Path | str = ".") -> list[Path]:
    """README.md and docs/*.md of the repository at ``root`` that hold at least one block."""
    root = Path(root)
    return [p for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))]
            if p.is_file() and BLOCK.search(p.read_text())]


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m scribcim.report.doc_blocks [--write]``: the result tables of README.md and docs/*.md, rendered
    from the committed records."""
    p = argparse.ArgumentParser(prog="python -m scribcim.report.doc_blocks", description=main.__doc__)
    p.add_argument("pages", nargs="*", help="pages to render (default: README.md and docs/*.md holding blocks)")
    p.add_argument("--tables", default="results/tables", help="where the records are (default: results/tables)")
    p.add_argument("--write", action="store_true", help="rewrite the blocks (else: exit 1 if one is out of date)")
    ns = p.parse_args(argv)
    stale = [str(f) for f in (ns.pages or pages()) if not update(f, ns.tables, write=ns.write)]
    if stale and not ns.write:
        raise SystemExit(f"out of date: {', '.join(stale)}; run `python -m scribcim.report.doc_blocks --write`")


if __name__ == "__main__":
    main()
