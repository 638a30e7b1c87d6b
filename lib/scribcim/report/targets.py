"""The comparison grid's targets, stated before the grid was trained, checked against its record.

``python -m scribcim.report.targets --profile cpu-mm175`` reads ``results/tables/<profile>_seeds.json`` (written by
:mod:`scribcim.report.comparison`) and writes ``<profile>_targets.{md,json}``: per target the measured figure, the
threshold and whether it holds. Test set, the checkpoint chosen on validation, raw unless a target says
post-processed (issue 20, point 5). A missing method or metric is reported as not measured, never as met.
"""
from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import DataError
from ..provenance import git_state
from ..runs.log import write_json
from .markdown import md_header, md_row

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """One target: ``kind`` is ``sd`` (across-seed sd of the run means), ``mean`` (mean across runs), ``interval``
    (the seed-paired difference ``method - other``: its 95 % interval excludes zero or is at most ``limit`` wide on
    each side) or ``gap`` (``method``'s mean minus the best mean of the comma-separated methods ``other`` is at most
    ``limit``)."""
    name: str
    kind: str
    method: str
    metric: str = "dice"
    limit: float = 0.0
    at_least: bool = False
    postprocessed: bool = False
    other: str = ""


#: issue 20, point 5 (ACDC fold 1), in the order the issue lists them
TARGETS: tuple[Target, ...] = (
    *(Target(f"{m}: across-seed sd of mean Dice <= 0.02", "sd", m, limit=0.02)
      for m in ("pce_selfdice", "dmpls", "cim")),
    Target("cim: mean Dice >= 0.85", "mean", "cim", limit=0.85, at_least=True),
    Target("full: mean Dice >= 0.89", "mean", "full", limit=0.89, at_least=True),
    Target("cim: HD95 (mean over classes) <= 20 mm, raw", "mean", "cim", "hd95", 20.0),
    Target("cim: HD95 (mean over classes) <= 8 mm, post-processed", "mean", "cim", "hd95", 8.0, postprocessed=True),
    Target("cim - pce_selfdice: 95 % interval excludes zero or half-width <= 0.02", "interval", "cim",
           limit=0.02, other="pce_selfdice"),
)


def _row(table: Sequence[dict], dataset: str, method: str) -> dict | None:
    rows = [r for r in table if r["dataset"] == dataset and r["method"] == method and r["structure"] == "mean"]
    return rows[0] if rows else None


def _difference(diffs: Sequence[dict], dataset: str, t: Target) -> dict | None:
    rows = [d for d in diffs if d.get("dataset") == dataset and d["a"] == t.method and d["b"] == t.other
            and d["metric"] == t.metric and d["structure"] == "mean"]
    return rows[0] if rows else None


def _gap(table: Sequence[dict], dataset: str, t: Target) -> dict:
    """A ``gap`` target measured: ``method``'s mean minus the best of ``other``'s (``best`` names it)."""
    key = f"{t.metric}_mean"
    means = {m: r for m in (t.method, *t.other.split(",")) if (r := _row(table, dataset, m)) is not None
             and r.get(key) is not None}
    best = max((m for m in means if m != t.method), key=lambda m: means[m][key], default=None)
    if best is None or t.method not in means:
        return {}
    gap = float(means[t.method][key]) - float(means[best][key])
    return {"measured": gap, "best": best, "runs": int(min(means[t.method]["runs"], means[best]["runs"])),
            "met": gap <= t.limit}


def check(record: dict, dataset: str = "acdc", targets: Sequence[Target] = TARGETS) -> list[dict]:
    """Per target: ``measured`` (a number, or the interval), ``runs``, ``met`` (True/False, None if not measured)."""
    post = record.get("postprocessed") or {}
    out = []
    for t in targets:
        table = post.get("table", []) if t.postprocessed else record["table"]
        res = {"target": t.name, "dataset": dataset, "postprocessed": t.postprocessed, "measured": None,
               "runs": 0, "met": None}
        if t.kind == "interval":
            d = _difference(post.get("differences", []) if t.postprocessed else record["differences"], dataset, t)
            if d is not None and d["pairs"] > 1:
                lo, hi = d["ci95"]
                res |= {"measured": {"mean": d["mean"], "ci95": [lo, hi], "half_width": (hi - lo) / 2},
                        "runs": d["pairs"], "met": bool(lo > 0 or hi < 0 or (hi - lo) / 2 <= t.limit)}
        elif t.kind == "gap":
            res |= _gap(table, dataset, t)
        else:
            row = _row(table, dataset, t.method)
            key = f"{t.metric}_{'std' if t.kind == 'sd' else 'mean'}"
            if row is not None and row.get(key) is not None and (t.kind != "sd" or row["runs"] > 1):
                v = float(row[key])
                res |= {"measured": v, "runs": int(row["runs"]), "met": v >= t.limit if t.at_least else v <= t.limit}
        out.append(res)
    return out


def _measured(r: dict) -> str:
    m = r["measured"]
    if m is None:
        return "not measured"
    if "best" in r:
        return f"{m:.3f} (best: {r['best']})"
    if isinstance(m, dict):
        return f"{m['mean']:+.3f} [{m['ci95'][0]:+.3f}, {m['ci95'][1]:+.3f}], half-width {m['half_width']:.3f}"
    return f"{m:.1f}" if "HD95" in r["target"] else f"{m:.3f}"


def targets_markdown(results: Sequence[dict]) -> str:
    """Markdown: one row per target with the measured figure, the runs it rests on, and whether it holds."""
    lines = md_header(["target", "measured", "runs", "holds"])
    for r in results:
        holds = "not measured" if r["met"] is None else ("yes" if r["met"] else "**no**")
        lines.append(md_row([r["target"], _measured(r), str(r["runs"]), holds]))
    return "\n".join(lines)


def render_targets(tables: Path | str, profile: str, dataset: str = "acdc") -> dict:
    """Write ``<tables>/<profile>_targets.{md,json}`` from ``<tables>/<profile>_seeds.json``; returns the record."""
    git = git_state()  # before anything is written: the tree as the command found it
    tables = Path(tables)
    src = tables / f"{profile}_seeds.json"
    if not src.is_file():
        raise DataError(f"{src} is missing: run `python -m scribcim.report.comparison --profile {profile}` first")
    record = json.loads(src.read_text())
    results = check(record, dataset)
    md = [f"### Targets of the {dataset} comparison grid, profile `{profile}`", "",
          "Test set, the checkpoint chosen on validation; raw unless the target says post-processed. Stated before the "
          "grid was trained; the code that checks them (`scribcim.report.targets.TARGETS`) was written after.", "", targets_markdown(results), "",
          f"From `{src.name}` (training commits {', '.join(c[:7] for c in record.get('training_commits', []))})."]
    (tables / f"{profile}_targets.md").write_text("\n".join(md) + "\n")
    out = {"profile": profile, "dataset": dataset, "targets": results, "source": src.name, "git": git,
           "training_commits": record.get("training_commits", [])}
    write_json(tables / f"{profile}_targets.json", out)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m scribcim.report.targets --profile P``: the grid's targets, checked."""
    p = argparse.ArgumentParser(prog="python -m scribcim.report.targets", description=main.__doc__)
    p.add_argument("--profile", required=True, help="the profile whose comparison record to check")
    p.add_argument("--tables", default="results/tables", help="where <profile>_seeds.json is (default: results/tables)")
    p.add_argument("--dataset", default="acdc", help="dataset (default: acdc)")
    ns = p.parse_args(argv)
    render_targets(ns.tables, ns.profile, ns.dataset)
    print((Path(ns.tables) / f"{ns.profile}_targets.md").read_text())


if __name__ == "__main__":
    main()
