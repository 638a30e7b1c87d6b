"""The paper's ablation table across seeds (issue 30): each ablation of ``cim`` paired by seed with the runs of its batch.

Runs are keyed by condition: the main runs of one profile (``cim``, ``pce_selfdice``, ``cim_paper``, ...) by
method, the ablation runs (``<profile>/ablation/<name>/``, :mod:`scribcim.config.ablations`) by ablation name; then the
comparison's functions (:mod:`scribcim.report.comparison`) give mean ± sd across seeds per structure (raw first,
post-processed beside), seed-paired differences of each condition from ``cim`` and from ``pce_selfdice`` with 95 %
t-intervals, and bank purity per condition. Beside each difference from ``cim``: the paper's reported difference
(:data:`PAPER_DIFFERENCES`), whether the interval includes it, and the half-width of the interval (the smallest
difference these seeds resolve at this spread).

``python -m scribcim.report.ablation_seeds`` writes ``results/tables/<dataset>_<profile>_ablation.{md,json}`` and
``figures/<dataset>_<profile>_ablation.png`` from committed summaries (notebook 03 renders the same).
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..config.ablations import identify
from ..errors import DataError
from ..provenance import git_state
from ..runs.log import write_json
from ..runs.paths import ABLATION, profile_dir
from ..viz.common import save_figure
from ..viz.methods import plot_differences
from .comparison import BANK_METHODS, profile_summaries, purity_table, seed_comparison, training_commits
from .comparison_markdown import differences_section, fmt_ci, purity_markdown, seeds_markdown
from .markdown import md_header, md_row
from .results import summaries_frame, training_cpus

log = logging.getLogger(__name__)
#: the conditions of the table besides ``cim`` and the references, in the paper's order
CONDITIONS = ("no_banks", "no_tokens", "hard_matching", "cim_paper")
REFERENCES = ("cim", "pce_selfdice")
#: the paper's ablation differences from its full method (ACDC mean Dice: 87.1 and 87.2 against 87.9)
PAPER_DIFFERENCES = {"no_banks": 0.871 - 0.879, "no_tokens": 0.872 - 0.879}


def ablation_summaries(results_root: Path | str, dataset: str, profile: str, fold: int) -> list[dict]:
    """The ablation summaries of one dataset, profile and fold, each with its ``condition`` (the named ablation its
    config is); a summary matching no named ablation is left out with a warning."""
    out = []
    for path in sorted((profile_dir(results_root, dataset, profile) / ABLATION).glob(f"*/fold{fold}/seed*/summary.json")):
        s = json.loads(path.read_text())
        name = identify(s["provenance"]["config"])
        if name is None or name in REFERENCES:
            log.warning("%s: config is no named ablation of cim: left out", path)
            continue
        out.append(s | {"condition": name})
    return out


def condition_rows(main: Sequence[dict], ablations: Sequence[dict], postprocessed: bool) -> pd.DataFrame:
    """Long rows (:func:`summary_rows`) of the main runs (condition = method) and the ablation runs (condition =
    ablation name, in the ``method`` column, their settings cleared so that they count as main runs)."""
    renamed = summaries_frame([s | {"method": s["condition"]} for s in ablations], postprocessed)
    return pd.concat([summaries_frame(main, postprocessed), renamed.assign(settings="")], ignore_index=True)


def contrasts(conditions: Sequence[str]) -> list[tuple[str, str, str]]:
    """Each condition against ``cim`` and against ``pce_selfdice``."""
    return [(c, ref, f"{c} against {ref}") for c in conditions for ref in REFERENCES]


def resolution_rows(diffs: Sequence[dict]) -> list[dict]:
    """Per difference from ``cim`` (Dice): its interval, the paper's difference if it reports one and whether the
    interval includes it, and the half-width (the smallest difference resolved at this spread and these seeds)."""
    out = []
    for d in diffs:
        if d["b"] != "cim" or d["metric"] != "dice":
            continue
        lo, hi = d["ci95"]
        paper = PAPER_DIFFERENCES.get(d["a"])
        out.append({"condition": d["a"], "pairs": d["pairs"], "mean": d["mean"], "ci95": [lo, hi],
                    "half_width": (hi - lo) / 2 if np.isfinite(lo) else float("nan"), "paper": paper,
                    "includes_paper": None if paper is None or not np.isfinite(lo) else bool(lo <= paper <= hi),
                    "excludes_zero": bool(np.isfinite(lo) and (lo > 0 or hi < 0))})
    return out


def resolution_markdown(rows: Sequence[dict]) -> str:
    """Markdown of :func:`resolution_rows`."""
    lines = md_header(["condition − cim", "seeds", "Dice difference [95 % CI]", "half-width (resolves)",
                       "paper's difference", "interval includes the paper's", "excludes zero"])
    for r in rows:
        yes = {True: "yes", False: "**no**", None: "n/a"}
        lines.append(md_row([f"`{r['condition']}`", str(r["pairs"]), f"{r['mean']:+.3f} {fmt_ci(r['ci95'])}",
                             "n/a" if not np.isfinite(r["half_width"]) else f"±{r['half_width']:.3f}",
                             "not reported" if r["paper"] is None else f"{r['paper']:+.3f}",
                             yes[r["includes_paper"]], yes[r["excludes_zero"]]]))
    return "\n".join(lines)


def ablation_study(results_root: Path | str, *, dataset: str = "acdc", profile: str = "cpu-mm175-tables", fold: int = 1,
                   checkpoint: str = "best") -> dict[str, Any]:
    """Every number of the table (module docstring); DataError without ablation runs or without the grid's cim."""
    main = [s for s in profile_summaries(results_root, profile, fold) if s["dataset"] == dataset]
    abl = ablation_summaries(results_root, dataset, profile, fold)
    if not abl:
        raise DataError(f"no ablation runs of {dataset}/{profile} fold {fold} under {results_root}: run "
                        "`make ablation` first (it trains them with the cim and pce_selfdice runs they pair with; "
                        "about 20 min a run on one CPU thread)")
    conds = [c for c in CONDITIONS if c in {s["condition"] for s in abl} | {s["method"] for s in main}]
    keep = set(conds) | set(REFERENCES)
    main = [s for s in main if s["method"] in keep]
    if "cim" not in {s["method"] for s in main}:
        raise DataError(f"no {dataset}/{profile} cim runs under {results_root}: the ablations pair with them; "
                        "`make ablation` trains them")
    out: dict[str, Any] = {"dataset": dataset, "profile": profile, "fold": fold, "checkpoint": checkpoint,
                           "conditions": conds, "training_commits": training_commits([*main, *abl]),
                           "cpus": training_cpus([*main, *abl]),
                           "runs": len(main) + len(abl)}
    for what, post in (("raw", False), ("post", True)):
        try:
            runs, table, diffs = seed_comparison(condition_rows(main, abl, post), dataset, profile=profile, fold=fold,
                                                 checkpoint=checkpoint, contrasts=contrasts(conds))
        except (DataError, AttributeError, KeyError):  # no post-processed rows
            continue
        out[what] = {"runs": runs, "table": table, "differences": diffs, "resolution": resolution_rows(diffs)}
    # runs whose banks feed the matching (without banks, nothing is matched against them)
    banked = [s for s in [*main, *abl] if s["method"] in BANK_METHODS and s.get("condition") != "no_banks"]
    out["purity"] = purity_table(banked, checkpoint, label=lambda s: s.get("condition", s["method"]))
    return out


def ablation_markdown(study: dict) -> list[str]:
    """The report's lines: tables (raw, post-processed), differences, resolution against the paper, bank purity."""
    ds = study["dataset"]
    md = [f"# Ablations of cim across seeds: {ds}, profile `{study['profile']}`, fold {study['fold']}", "",
          "Each run's test-set mean over volumes is one observation; mean ± sd across runs (seeds); every condition "
          "paired by seed with the `cim` and `pce_selfdice` runs of the same profile. HD95/ASD in mm.", ""]
    for what, label in (("raw", "Raw"), ("post", "Post-processed (largest connected components, chosen per run on "
                                                 "validation)")):
        if what not in study:
            continue
        s = study[what]
        md += [f"{label}:", "", seeds_markdown(s["table"], ds), ""]
        md += differences_section(s["differences"], "" if what == "raw" else " (post-processed)")
        md += [f"Against the paper's ablation ({label.split(' (')[0].lower()} Dice; the paper: one run each, ACDC "
               "87.1 without banks, 87.2 without tokens, 87.9 whole):", "", resolution_markdown(s["resolution"]), ""]
    if not study["purity"].empty:
        md += ["Bank purity per condition (dense labels used only to measure):", "",
               purity_markdown(study["purity"], ds), ""]
    md.append(f"{study['runs']} runs, trained at {', '.join(c[:7] for c in study['training_commits'])} on "
              f"{', '.join(study['cpus'])}.")
    if len(study["training_commits"]) > 1 or len(study["cpus"]) > 1:
        md.append("The runs differ in commit or CPU kind: a seed's run differs with them (float sums), so each "
                  "difference holds that change too.")
    return md


def render_ablation(results_root: Path | str, tables: Path | str, figures: Path | str, *, dataset: str = "acdc",
                    profile: str = "cpu-mm175-tables", fold: int = 1, checkpoint: str = "best") -> dict:
    """Write ``<tables>/<dataset>_<profile>_ablation.{md,json}`` and the figure; return the record."""
    git = git_state()  # before anything is written: the tree as the command found it
    study = ablation_study(results_root, dataset=dataset, profile=profile, fold=fold, checkpoint=checkpoint)
    stem = f"{dataset}_{profile}_ablation"
    Path(tables).mkdir(parents=True, exist_ok=True)
    (Path(tables) / f"{stem}.md").write_text("\n".join(ablation_markdown(study)) + "\n")
    record = {k: study[k] for k in ("dataset", "profile", "fold", "checkpoint", "conditions", "runs",
                                    "training_commits", "cpus")}
    for what in ("raw", "post"):
        if what in study:
            s = study[what]
            record[what] = {"table": json.loads(s["table"].to_json(orient="records")),
                            "differences": s["differences"], "resolution": s["resolution"]}
    record |= {"bank_purity": json.loads(study["purity"].to_json(orient="records")), "git": git,
               "made_by": "scribcim.report.ablation_seeds"}
    write_json(Path(tables) / f"{stem}.json", record)
    vs_cim = lambda diffs: [d for d in diffs if d["b"] == "cim"]  # noqa: E731
    save_figure(plot_differences(vs_cim(study["raw"]["differences"]),
                                 vs_cim(study["post"]["differences"]) if "post" in study else (),
                                 f"{profile}: each condition − cim, seed-paired, mean and 95 % interval"),
                Path(figures) / f"{stem}.png", {"made_by": "scribcim.report.ablation_seeds", "git": git,
                                                "differences": vs_cim(study["raw"]["differences"])})
    return record


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m scribcim.report.ablation_seeds``: the ablation table across seeds."""
    import yaml
    section = yaml.safe_load(Path("workflow/config.yaml").read_text())["ablation"]
    p = argparse.ArgumentParser(prog="python -m scribcim.report.ablation_seeds", description=main.__doc__)
    p.add_argument("--profile", default=section["profile"], help="default: workflow/config.yaml's ablation section")
    p.add_argument("--dataset", default=section["dataset"])
    p.add_argument("--fold", type=int, default=section["fold"])
    p.add_argument("--results", default="results")
    p.add_argument("--tables", default="results/tables")
    p.add_argument("--figures", default="figures")
    ns = p.parse_args(argv)
    render_ablation(ns.results, ns.tables, ns.figures, dataset=ns.dataset, profile=ns.profile, fold=ns.fold)
    print((Path(ns.tables) / f"{ns.dataset}_{ns.profile}_ablation.md").read_text())


if __name__ == "__main__":
    main()
