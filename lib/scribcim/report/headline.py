"""The README's headline tables, written from the comparison record so that no number in them is typed by hand.

The README holds a block between ``<!-- headline <profile> -->`` and ``<!-- /headline -->``; :func:`headline_block`
renders it from ``results/tables/<profile>_seeds.json`` (:mod:`scribcim.report.comparison`): per method the runs
and the mean ± sd across runs of test Dice and HD95 (mean over classes), raw first and post-processed beside it,
per dataset; then the seed-paired differences of ``cim`` against each baseline with their 95 % intervals.
``python -m scribcim.report.headline --write`` rewrites the block in place (``make comparison`` does), and a test
checks the committed README against the committed record.
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
from .markdown import fmt_mean_std, md_header, md_row

BLOCK = re.compile(r"<!-- headline (?P<profile>[\w.-]+) -->\n(?P<body>.*?)<!-- /headline -->", re.S)
DATASETS = {"acdc": "ACDC", "mscmr": "MSCMR"}


def _rows(table: Sequence[dict]) -> dict[tuple[str, str], dict]:
    return {(r["dataset"], r["method"]): r for r in table if r["structure"] == "mean"}


def _ci(d: dict | None, digits: int) -> str:
    if d is None:
        return "-"
    if d["pairs"] < 2 or not np.isfinite(d["ci95"][0]):
        return f"{d['mean']:+.{digits}f} (1 seed)"
    return (f"{d['mean']:+.{digits}f} [{d['ci95'][0]:+.{digits}f}, {d['ci95'][1]:+.{digits}f}], "
            f"{d['a_better']}/{d['pairs']}")


def headline_block(record: dict) -> str:
    """The markdown between the README's markers (ends with a newline)."""
    post = record.get("postprocessed")
    raw_rows, post_rows = _rows(record["table"]), _rows(post["table"]) if post else {}
    datasets = [d for d in DATASETS if any(k[0] == d for k in raw_rows)]
    head, digits = ["method"], {"dice": 3, "hd95": 1}
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
    lines += ["", "Seed-paired differences `a − b` (mean [95 % t-interval], seeds where `a` is better):", ""]
    diffs = {(d["dataset"], d["a"], d["b"], d["metric"]): d for d in record["differences"]}
    pdiffs = {(d["dataset"], d["a"], d["b"], d["metric"]): d for d in (post or {}).get("differences", [])}
    hd = any(k[3] == "hd95" for k in diffs)  # records written before HD95 differences have none
    head = ["contrast", "dataset", "Dice"] + (["Dice post"] if post else []) + \
        (["HD95 (mm)"] + (["HD95 post (mm)"] if post else []) if hd else [])
    lines += md_header(head)
    for (ds, a, b, metric), d in diffs.items():
        if metric != "dice":
            continue
        cells = [f"`{a}` − `{b}`", DATASETS.get(ds, ds), _ci(d, 3)]
        cells += [_ci(pdiffs.get((ds, a, b, "dice")), 3)] if post else []
        cells += [_ci(diffs.get((ds, a, b, "hd95")), 1)] if hd else []
        cells += [_ci(pdiffs.get((ds, a, b, "hd95")), 1)] if hd and post else []
        lines.append(md_row(cells))
    commits = ", ".join(c[:7] for c in record.get("training_commits", []))
    lines += ["", f"From `results/tables/{record['profile']}_seeds.json` (`make comparison`; trained at {commits})."]
    return "\n".join(lines) + "\n"


def update(readme: Path | str, tables: Path | str = "results/tables", write: bool = True) -> bool:
    """Render the README's headline block from its profile's record; True if it already matched. With ``write``,
    the block is rewritten in place."""
    readme = Path(readme)
    text = readme.read_text()
    m = BLOCK.search(text)
    if m is None:
        raise DataError(f"{readme} has no '<!-- headline <profile> -->' ... '<!-- /headline -->' block")
    src = Path(tables) / f"{m['profile']}_seeds.json"
    if not src.is_file():
        raise DataError(f"{src} is missing: run `python -m scribcim.report.comparison --profile {m['profile']}`")
    body = headline_block(json.loads(src.read_text()))
    if body == m["body"]:
        return True
    if write:
        readme.write_text(text[:m.start("body")] + body + text[m.end("body"):])
    return False


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m scribcim.report.headline [--write]``: the README's headline tables from the comparison record."""
    p = argparse.ArgumentParser(prog="python -m scribcim.report.headline", description=main.__doc__)
    p.add_argument("--readme", default="README.md", help="the file holding the block (default: README.md)")
    p.add_argument("--tables", default="results/tables", help="where <profile>_seeds.json is")
    p.add_argument("--write", action="store_true", help="rewrite the block (else: exit 1 if it is out of date)")
    ns = p.parse_args(argv)
    same = update(ns.readme, ns.tables, write=ns.write)
    if not same and not ns.write:
        raise SystemExit(f"{ns.readme}: the headline block is out of date; run with --write")


if __name__ == "__main__":
    main()
