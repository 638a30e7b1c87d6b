"""The budget study: does the answer change when the models are trained longer? (issue 29)

The same methods, seeds and fold at two budgets that differ in one thing (the training length: the ``budget``
section of ``workflow/config.yaml``, e.g. ``cpu-mm175-bf16`` at 1500 iterations and ``cpu-mm175-bf16-6k`` at 6000),
and the fp32 grid (``cpu-mm175``) beside the short budget to measure what bf16 costs. Everything reuses the
comparison's functions (:mod:`scribcim.report.comparison`), with runs keyed by condition:

* per budget: mean ± sd across seeds (raw first, post-processed beside) and the seed-paired differences of
  :data:`CONTRASTS`, with 95 % t-intervals;
* the change of each difference from the short to the long budget, paired by seed (``(a - b)_long - (a - b)_short``);
* per method, what the long budget adds (long - short) and what bf16 costs (bf16 twin - fp32 grid), seed-paired;
* the targets of the long budget (:data:`BUDGET_TARGETS`) and one figure of validation Dice against iteration.

``python -m scribcim.report.budget`` (``make budget``) writes ``results/tables/<dataset>_budget.{md,json}`` and
``figures/<dataset>_budget_curves.png`` from committed summaries and training logs, without training.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..config.workflow import budget_runs
from ..errors import DataError
from ..provenance import git_state
from ..runs.log import write_json
from ..training.methods import paper_order
from ..viz.budget import plot_learning_curves
from ..runs.paths import planned_summary
from ..viz.common import save_figure
from .comparison import (BANK_METHODS, CONTRASTS, over_seeds, paired_differences, profile_summaries, purity_table,
                         seed_comparison, training_commits)
from .budget_block import POST, RAW, seed_rule_lines
from .climbing import climbing_markdown, climbing_runs, climbing_summary, learning_curves
from .comparison_markdown import (DIGITS, LOWER_BETTER, differences_section, fmt_ci, purity_markdown,
                                  seeds_markdown)
from .markdown import md_header, md_row
from .results import summaries_frame, training_cpus
from .targets import Target, check, targets_markdown

log = logging.getLogger(__name__)
#: the contrasts of the budget study (a, b, what a - b measures)
CONTRASTS_BUDGET = tuple(c for c in CONTRASTS if (c[0], c[1]) in {("cim", "pce_selfdice"), ("cim", "dmpls"),
                                                                   ("cim_paper", "cim"), ("cim_paper", "pce_selfdice")})
SCRIBBLE_METHODS = ("pce_selfdice", "dmpls", "cim", "cim_paper")
#: the long budget's configuration per method, as its runs recorded it (which CIM each row is; the geometry)
CONFIG_KEYS = ("input_size", "pixel_mm", "max_iterations", "bf16", "cim_level", "sampling", "faithful", "bank_size",
               "token_momentum")
#: issue 29, point 4: the long budget's targets (ACDC fold 1, test set, best-on-validation checkpoint)
BUDGET_TARGETS: tuple[Target, ...] = (
    Target("full: mean Dice >= 0.90", "mean", "full", limit=0.90, at_least=True),
    Target("cim: mean Dice >= 0.87", "mean", "cim", limit=0.87, at_least=True),
    Target("cim: HD95 (mean over classes) <= 15 mm, raw", "mean", "cim", "hd95", 15.0),
    Target("cim: mean Dice >= 0.885, post-processed", "mean", "cim", limit=0.885, at_least=True, postprocessed=True),
    Target("best scribble method within 0.015 of full, post-processed", "gap", "full", limit=0.015,
           postprocessed=True, other=",".join(SCRIBBLE_METHODS)),
    *(Target(f"{m}: across-seed sd of mean Dice <= 0.015", "sd", m, limit=0.015) for m in SCRIBBLE_METHODS),
)


def change_between(long: dict, short: dict) -> dict:
    """The seed-paired change of one difference from the short budget to the long one: per seed both ran,
    ``long - short`` of the per-seed differences, mean, sd and 95 % t-interval (NaN below two seeds)."""
    a, b = dict(zip(long["seeds"], long["per_seed"])), dict(zip(short["seeds"], short["per_seed"]))
    seeds = sorted(set(a) & set(b))
    x = [a[s] - b[s] for s in seeds]
    s = over_seeds(x)
    return {"a": long["a"], "b": long["b"], "metric": long["metric"], "structure": long["structure"],
            "pairs": s["n"], "seeds": seeds, "per_seed": [float(v) for v in x], "mean": s["mean"], "sd": s["sd"],
            "ci95": s["ci95"], "long": long["mean"], "short": short["mean"]}


def profile_pairs(runs: pd.DataFrame, a: str, b: str, metric: str = "dice") -> list[dict]:
    """Per method in both profiles ``a`` and ``b`` of ``runs`` (run means with a ``profile`` column): the
    seed-paired difference ``a - b`` (:func:`paired_differences`, conditions keyed ``method@profile``)."""
    keyed = runs.assign(method=runs.method + "@" + runs.profile)
    out = []
    for m in paper_order(set(runs[runs.profile == a].method) & set(runs[runs.profile == b].method)):
        d = paired_differences(keyed, f"{m}@{a}", f"{m}@{b}", metric=metric)
        out.append(d | {"method": m, "a_profile": a, "b_profile": b})
    return out


def budget_study(results_root: Path | str, *, long: str, short: str, fp32: str | None = None, dataset: str = "acdc",
                 fold: int = 1, checkpoint: str = "best") -> dict[str, Any]:
    """Every number of the study (see the module docstring), keyed raw / post; DataError without long-budget runs."""
    found = {p: profile_summaries(results_root, p, fold) for p in dict.fromkeys(p for p in (long, short, fp32) if p)}
    found = {p: [s for s in ss if s["dataset"] == dataset] for p, ss in found.items()}
    if not found[long]:
        raise DataError(f"no {dataset} runs of profile {long} under {results_root}: run `snakemake -s "
                        "workflow/Snakefile budget` first")
    out: dict[str, Any] = {"profiles": list(found), "long": long, "short": short, "fp32": fp32, "dataset": dataset,
                           "fold": fold, "checkpoint": checkpoint,
                           "summaries": {p: len(ss) for p, ss in found.items()},
                           "training_commits": {p: training_commits(ss) for p, ss in found.items() if ss},
                           "cpus": {p: training_cpus(ss) for p, ss in found.items() if ss},
                           "iterations": {p: sorted({s["provenance"]["config"]["max_iterations"] for s in ss})
                                          for p, ss in found.items() if ss},
                           "config": {s["method"]: {k: s["provenance"]["config"].get(k) for k in CONFIG_KEYS}
                                      for s in found[long]}}
    for what, post in ((RAW, False), (POST, True)):
        per: dict[str, dict] = {}
        all_runs = []
        for p, ss in found.items():
            try:
                runs, table, diffs = seed_comparison(summaries_frame(ss, post), dataset, profile=p, fold=fold,
                                                     checkpoint=checkpoint, contrasts=CONTRASTS_BUDGET)
            except (DataError, AttributeError, KeyError):  # no runs (or no post-processed rows) of this profile
                continue
            per[p] = {"runs": runs, "table": table, "differences": diffs}
            all_runs.append(runs)
        runs = pd.concat(all_runs) if all_runs else pd.DataFrame()
        changes = []
        if long in per and short in per:
            short_diffs = {(d["a"], d["b"], d["metric"]): d for d in per[short]["differences"]}
            changes = [change_between(d, short_diffs[(d["a"], d["b"], d["metric"])]) for d in per[long]["differences"]
                       if (d["a"], d["b"], d["metric"]) in short_diffs]
        gains = profile_pairs(runs, long, short) if long in per and short in per else []
        bf16 = profile_pairs(runs, short, fp32) if fp32 and short in per and fp32 in per else []
        out[what] = {"per_profile": per, "changes": changes, "gains": gains, "bf16_cost": bf16}
    out["targets"] = check(_record(out, long), dataset, BUDGET_TARGETS)
    out["purity"] = {p: purity_table([s for s in ss if s["method"] in BANK_METHODS], checkpoint)
                     for p, ss in found.items()}
    out["curves"] = learning_curves(results_root, found)
    out["climbing"] = climbing_summary(climbing_runs(out["curves"]))
    return out


def _record(study: dict, profile: str) -> dict:
    """A comparison-shaped record of one profile (``table``, ``differences``, ``postprocessed``) for
    :func:`scribcim.report.targets.check`."""
    def part(what: str) -> dict:
        p = study[what]["per_profile"].get(profile)
        return {"table": [] if p is None else json.loads(p["table"].to_json(orient="records")),
                "differences": [] if p is None else p["differences"]}
    return {**part(RAW), "postprocessed": part(POST)}


def changes_markdown(changes: Sequence[dict], long: str, short: str) -> str:
    """Markdown: per contrast and metric, the difference at each budget and its seed-paired change."""
    lines = md_header(["contrast", "metric", "pairs", f"at `{short}`", f"at `{long}`", "change (long − short)",
                       "95 % CI"])
    for c in changes:
        k = DIGITS.get(c["metric"], 3)
        unit = " (mm)" if c["metric"] in LOWER_BETTER else ""
        lines.append(md_row([f"{c['a']} − {c['b']}", f"{c['metric']}{unit}", str(c["pairs"]), f"{c['short']:+.{k}f}",
                             f"{c['long']:+.{k}f}", f"{c['mean']:+.{k}f}", fmt_ci(c["ci95"], k)]))
    return "\n".join(lines)


def pairs_markdown(pairs: Sequence[dict], what: str) -> str:
    """Markdown: per method, the seed-paired difference of one profile against another (``what`` names it)."""
    lines = md_header(["method", what, "pairs", "mean difference", "95 % CI", "sd", "a better"])
    for d in pairs:
        k = DIGITS.get(d["metric"], 3)
        sd = "n/a" if not np.isfinite(d["sd"]) else f"{d['sd']:.{k}f}"
        lines.append(md_row([d["method"], f"`{d['a_profile']}` − `{d['b_profile']}`", str(d["pairs"]),
                             f"{d['mean']:+.{k}f}", fmt_ci(d["ci95"], k), sd, f"{d['a_better']}/{d['pairs']}"]))
    return "\n".join(lines)


def budget_markdown(study: dict) -> list[str]:
    """The report's lines: per budget the tables and differences (raw, then post-processed), the changes, what the
    long budget adds, what bf16 costs, bank purity, the targets."""
    ds, long, short, fp32 = study["dataset"], study["long"], study["short"], study["fp32"]
    md = [f"# Budget study: {ds}, fold {study['fold']}, checkpoint `{study['checkpoint']}`", "",
          f"The same methods and seeds at two budgets that differ only in training length (`{short}`, `{long}`), and "
          f"the fp32 grid `{fp32}` beside the short one (what bf16 costs). Each run's test-set mean over volumes is one "
          "observation; mean ± sd across runs (seeds); differences paired by seed with 95 % t-intervals. HD95/ASD in mm. "
          "Raw first, post-processed (largest connected components, chosen per run on validation) beside.", ""]
    for p in study["profiles"]:
        raw = study[RAW]["per_profile"].get(p)
        if raw is None:
            md += [f"## `{p}`", "", "No runs yet.", ""]
            continue
        post = study[POST]["per_profile"].get(p)
        md += [f"## `{p}`", "", "Raw:", "", seeds_markdown(raw["table"], ds), ""]
        md += [] if post is None else ["Post-processed:", "", seeds_markdown(post["table"], ds), ""]
        md += differences_section(raw["differences"]) + ([] if post is None else
                                                        differences_section(post["differences"], " (post-processed)"))
        pur = study["purity"].get(p)
        if pur is not None and not pur.empty and (pur.dataset == ds).any():
            md += ["Bank purity of the runs with banks (dense labels used only to measure):", "",
                   purity_markdown(pur, ds), ""]
    for what, label in ((RAW, "raw"), (POST, "post-processed")):
        s = study[what]
        if s["changes"]:
            md += [f"## How each difference changes from `{short}` to `{long}` ({label})", "",
                   changes_markdown(s["changes"], long, short), ""]
        if s["gains"]:
            md += [f"## What the long budget adds, per method ({label} Dice)", "", pairs_markdown(s["gains"], "budgets"),
                   ""]
        if s["bf16_cost"]:
            cpus = study["cpus"]
            md += [f"## What bf16 costs at 1500 iterations, per method ({label} Dice)", "",
                   f"Trained on: `{short}` {', '.join(cpus.get(short, []))}; `{fp32}` {', '.join(cpus.get(fp32, []))}. "
                   "Where the CPU kinds differ, the difference holds precision and CPU kind together (a seed names one "
                   "run per machine).", "", pairs_markdown(s["bf16_cost"], "precision"), ""]
    if study["climbing"]:
        md += ["## Still climbing at the last iteration?", "", climbing_markdown(study["climbing"]), ""]
    long_raw = study[RAW]["per_profile"].get(long)
    md += [f"## Do the seeds resolve the main contrasts at `{long}`?", "",
           *seed_rule_lines(long_raw["differences"] if long_raw else []), ""]
    if study["targets"]:
        md += [f"## Targets at `{long}`", "", targets_markdown(study["targets"]), ""]
    commits = {p: ", ".join(c[:7] for c in cs) for p, cs in study["training_commits"].items()}
    md.append("Runs: " + "; ".join(f"`{p}` {n} (trained at {commits.get(p, '-')})"
                                   for p, n in study["summaries"].items()) + ".")
    return md


def _json(study: dict) -> dict:
    def part(what: str) -> dict:
        s = study[what]
        return {"per_profile": {p: {"table": json.loads(v["table"].to_json(orient="records")),
                                    "differences": v["differences"]} for p, v in s["per_profile"].items()},
                "changes": s["changes"], "gains": s["gains"], "bf16_cost": s["bf16_cost"]}
    return {k: study[k] for k in ("profiles", "long", "short", "fp32", "dataset", "fold", "checkpoint", "summaries",
                                  "training_commits", "cpus", "iterations", "config", "targets", "climbing")} | {
        RAW: part(RAW), POST: part(POST),
        "bank_purity": {p: json.loads(t.to_json(orient="records")) for p, t in study["purity"].items()}}


def render_budget(results_root: Path | str, tables: Path | str, figures: Path | str, *, long: str, short: str,
                  fp32: str | None = None, dataset: str = "acdc", fold: int = 1, checkpoint: str = "best",
                  planned: Sequence[dict] = ()) -> dict:
    """Write ``<tables>/<dataset>_budget.{md,json}`` and ``<figures>/<dataset>_budget_curves.png``; return the record.
    ``planned``: the study's runs (:func:`scribcim.config.workflow.budget_runs`); the record names those not in."""
    git = git_state()  # before anything is written: the tree as the command found it
    study = budget_study(results_root, long=long, short=short, fp32=fp32, dataset=dataset, fold=fold,
                         checkpoint=checkpoint)
    tables, figures = Path(tables), Path(figures)
    tables.mkdir(parents=True, exist_ok=True)
    missing = [f"{r['profile']}/{r['method']}/seed{r['seed']}" for r in planned
               if not Path(planned_summary(results_root, r)).is_file()]
    md = budget_markdown(study)
    if missing:
        md[1:1] = ["", f"Being trained: {len(planned) - len(missing)} of the {len(planned)} planned runs are in (missing: "
                   f"{', '.join(missing)}); a cell of one run is a smoke test, not a result."]
    (tables / f"{dataset}_budget.md").write_text("\n".join(md) + "\n")
    record = _json(study) | {"planned": len(planned), "missing": missing, "git": git, "made_by": "scribcim.report.budget"}
    write_json(tables / f"{dataset}_budget.json", record)
    curves = study["curves"]
    if not curves.empty:
        order = [p for p in (short, long, fp32) if p in study["profiles"]]
        shown = set(curves[curves.profile.isin([long, short])].method)
        save_figure(plot_learning_curves(curves, order=order, methods=shown, muted=[fp32] if fp32 else []),
                    figures / f"{dataset}_budget_curves.png",
                    {"made_by": "scribcim.report.budget", "git": git, "profiles": study["profiles"],
                     "runs": curves.groupby(["profile", "method"]).seed.nunique().reset_index().to_dict("records")})
    return record


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m scribcim.report.budget``: the budget study's tables and learning curves (workflow/config.yaml's
    ``budget`` section names the profiles: its first block is the long budget, its second the short one)."""
    import yaml
    cfg = yaml.safe_load(Path("workflow/config.yaml").read_text())
    blocks = cfg["budget"]["runs"]
    p = argparse.ArgumentParser(prog="python -m scribcim.report.budget", description=main.__doc__)
    p.add_argument("--long", default=blocks[0]["profile"], help="the long budget's profile")
    p.add_argument("--short", default=blocks[1]["profile"] if len(blocks) > 1 else None,
                   help="the short budget's profile (same precision)")
    p.add_argument("--fp32", default=cfg["paper_tables"]["profile"],
                   help="the fp32 runs beside the short budget (default: the paper_tables batch, trained on the same "
                        "CPU kind as the budget study)")
    p.add_argument("--dataset", default=cfg["budget"]["dataset"])
    p.add_argument("--fold", type=int, default=cfg["budget"]["fold"])
    p.add_argument("--results", default="results")
    p.add_argument("--tables", default="results/tables")
    p.add_argument("--figures", default="figures")
    ns = p.parse_args(argv)
    render_budget(ns.results, ns.tables, ns.figures, long=ns.long, short=ns.short, fp32=ns.fp32, dataset=ns.dataset,
                  fold=ns.fold, planned=budget_runs(cfg["budget"]))
    print((Path(ns.tables) / f"{ns.dataset}_budget.md").read_text())


if __name__ == "__main__":
    main()
