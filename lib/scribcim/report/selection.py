"""Choosing a profile among candidates on the validation patients only, over several seeds.

For each candidate profile, method and seed, the run's validation Dice (the EMA weights, on the
validation patients carved from the training patients) is read from its summary and training log;
test metrics are never read here. The criterion, fixed before the runs: the mean over methods and
seeds of the validation Dice at the last iteration (an unbiased figure: the best-on-validation value
is the maximum of a noisy curve); a gap under ``tie`` goes to the candidate with the smaller
across-seed sd.

The same criterion chose ``cpu-lr03`` over ``cpu-lr01`` (``results/acdc/profile_selection.md``, the record of
that choice) and chooses the input geometry among ``cpu-lr03`` (whole slices, the control) and its
millimetre-view twins (selection ``geometry``).

``python -m scribcim.report.selection`` (name, candidates, methods and seeds from ``workflow/config.yaml``)
writes ``<results>/<dataset>/profile_selection_<name>.{md,json}`` and a figure of the validation curves.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..errors import DataError
from ..provenance import git_state
from .markdown import fmt_mean_std, md_header, md_row
from ..runs.log import write_json
from ..runs.paths import summary_paths
from ..viz.common import save_figure
from ..viz.methods import plot_validation_curves

log = logging.getLogger(__name__)


def validation_runs(results_root: Path | str, dataset: str, profiles: Sequence[str], fold: int = 1, *,
                    methods: Sequence[str], seeds: Sequence[int]) -> pd.DataFrame:
    """One row per (profile, method, seed) of the selection: best and last validation Dice, iterations, wall time.

    Only ``methods`` x ``seeds`` count: later runs of a candidate profile (the grid's) are not the selection's.
    """
    rows = []
    for profile in profiles:
        for path in summary_paths(results_root, dataset, profile, fold=fold):
            s = json.loads(path.read_text())
            if s["method"] not in methods or s["seed"] not in seeds:
                continue
            ck, result = s["checkpoints"], (s["provenance"].get("train_result") or {})
            rows.append({"profile": profile, "method": s["method"], "seed": s["seed"],
                         "val_best": ck["best"]["val_dice"], "best_iteration": ck["best"]["iteration"],
                         "val_last": ck["last"]["val_dice"], "iterations": ck["last"]["iteration"],
                         "wall_s": result.get("wall_time_s"), "folder": str(path.parent)})
    if not rows:
        raise DataError(f"no {dataset} summaries of {list(profiles)} under {results_root}: "
                        "run `snakemake -s workflow/Snakefile selection` first")
    return pd.DataFrame(rows)


def candidate_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (profile, method): runs, mean and sample sd across seeds of the last and best validation Dice."""
    g = runs.groupby(["profile", "method"])
    out = g[["val_last", "val_best", "wall_s"]].agg(["mean", "std"])
    out.columns = [f"{a}_{b}" for a, b in out.columns]
    out["runs"] = g.seed.nunique()
    return out.reset_index()


def choose(runs: pd.DataFrame, *, tie: float = 0.005) -> tuple[str, pd.DataFrame]:
    """(chosen profile, per-profile criterion): mean over methods of the across-seed mean last validation Dice."""
    per_method = candidate_table(runs)
    crit = per_method.groupby("profile").agg(criterion=("val_last_mean", "mean"), sd=("val_last_std", "mean"),
                                             methods=("method", "nunique"), runs=("runs", "sum")).reset_index()
    crit = crit.sort_values("criterion", ascending=False).reset_index(drop=True)
    best = crit.iloc[0]
    close = crit[crit.criterion >= best.criterion - tie]
    return str(close.sort_values("sd").iloc[0].profile), crit


def selection_markdown(runs: pd.DataFrame, chosen: str, crit: pd.DataFrame) -> str:
    table = candidate_table(runs)
    ms = fmt_mean_std
    lines = md_header(["profile", "method", "runs", "val Dice, last", "val Dice, best", "wall s (mean)"])
    lines += [md_row([r.profile, r.method, str(r.runs), ms(r.val_last_mean, r.val_last_std),
                      ms(r.val_best_mean, r.val_best_std), f"{r.wall_s_mean:.0f}"]) for r in table.itertuples()]
    lines += ["", *md_header(["profile", "criterion (mean last val Dice)", "mean across-seed sd", "runs"])]
    lines += [md_row([r.profile, f"{r.criterion:.4f}", f"{r.sd:.4f}", str(r.runs)]) for r in crit.itertuples()]
    lines += ["", f"Chosen: **{chosen}** (validation patients only; test metrics not read)."]
    return "\n".join(lines)


def render_selection(results_root: Path | str, out: Path | str, figures: Path | str, *, dataset: str,
                     profiles: Sequence[str], methods: Sequence[str], seeds: Sequence[int], fold: int = 1,
                     name: str | None = None) -> dict:
    """Write ``<out>/<stem>.{md,json}`` and ``<figures>/<dataset>_<stem>.png``, stem ``profile_selection[_<name>]``."""
    git = git_state()  # before anything is written: the tree as the command found it
    stem = "profile_selection" + (f"_{name}" if name else "")
    runs = validation_runs(results_root, dataset, profiles, fold, methods=methods, seeds=seeds)
    chosen, crit = choose(runs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.md").write_text(selection_markdown(runs, chosen, crit) + "\n")
    record = {"dataset": dataset, "fold": fold, "name": name, "profiles": list(profiles), "chosen": chosen,
              "criterion": json.loads(crit.to_json(orient="records")),
              "runs": json.loads(runs.drop(columns="folder").to_json(orient="records")), "git": git}
    write_json(out / f"{stem}.json", record)
    save_figure(plot_validation_curves(runs), Path(figures) / f"{dataset}_{stem}.png",
                {"made_by": "scribcim.report.selection", "git": git, "profiles": list(profiles)})
    return record


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m scribcim.report.selection``: compare the workflow config's candidate profiles on validation."""
    p = argparse.ArgumentParser(prog="python -m scribcim.report.selection", description=main.__doc__)
    p.add_argument("--config", default="workflow/config.yaml",
                   help="workflow config whose `selection` section names the candidates (default: %(default)s)")
    p.add_argument("--results", default="results", help="folder holding the summaries (default: results)")
    p.add_argument("--figures", default="figures", help="where the figure goes (default: figures)")
    ns = p.parse_args(argv)
    import yaml
    sel = yaml.safe_load(Path(ns.config).read_text())["selection"]
    out = Path(ns.results) / sel["dataset"]
    rec = render_selection(ns.results, out, ns.figures, dataset=sel["dataset"], profiles=sel["profiles"],
                           methods=sel["methods"], seeds=sel["seeds"], fold=sel["fold"], name=sel["name"])
    print((Path(out) / f"profile_selection_{sel['name']}.md").read_text())
    print("chosen:", rec["chosen"])


if __name__ == "__main__":
    main()
