"""Robustness to inconsistent scribbles: Dice against the inconsistency of simulated training scribbles.

The grid (methods x {expert, simulated at several inconsistency levels}) is trained with
``scribcim train --scribbles centreline --inconsistency L`` and evaluated with
``scribcim evaluate --results ...`` (or the workflow's ``robustness`` target); this module
only reads the committed summaries, tabulates them and draws the figure.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import DataError
from ..provenance import git_state
from ..evaluate.metrics import pstd
from .results import case_table
from .markdown import fmt_mean_std, md_header, md_row
from ..runs.log import write_json, write_json_if_changed, write_text_if_changed
from ..runs.paths import profile_dir
from ..viz.common import save_figure
from ..viz.methods import plot_robustness

log = logging.getLogger(__name__)
METHODS = ("pce", "pce_selfdice", "dmpls", "cim")
LEVELS = (0.0, 0.5, 1.0)


def robustness_cases(df: pd.DataFrame, *, dataset: str = "acdc", profile: str = "quick", fold: int = 1,
                     seed: int = 2022, base: str = "centreline", checkpoint: str = "best",
                     methods: Sequence[str] = METHODS) -> pd.DataFrame:
    """Per-case foreground-mean rows of the grid: expert runs and simulated runs with annotator ``base``."""
    d = df[(df.dataset == dataset) & (df.profile == profile) & (df.fold == fold) & (df.seed == seed)
           & (df.checkpoint == checkpoint) & (df.structure == "mean") & df.method.isin(methods)
           & df.scribbles.isin(["expert", base]) & (df.settings == "")]
    if d.empty or (d.scribbles == "expert").all():
        raise DataError(f"no {dataset}/{profile} fold {fold} results with simulated scribbles ({base}) for "
                        f"{list(methods)}: run the grid first (`make robustness`)")
    return d.copy()


def robustness_table(cases: pd.DataFrame, methods: Sequence[str] = METHODS) -> tuple[pd.DataFrame, str]:
    """(numbers, markdown): mean ± std of per-case Dice for each method and training-scribble set."""
    g = cases.groupby(["method", "scribbles", "inconsistency"])["dice"].agg(["mean", pstd, "median", "count"])
    g = g.reset_index().rename(columns={"pstd": "std"})
    cols = [("expert", 0.0)] + sorted({(b, i) for b, i in zip(g.scribbles, g.inconsistency) if b != "expert"},
                                      key=lambda t: t[1])
    head = ["method"] + ["expert" if b == "expert" else f"{b} inc {i:.2f}" for b, i in cols]
    sims = [c for c in cols if c[0] != "expert"]
    if len(sims) >= 2:
        head.append(f"change {sims[0][1]:.2f} -> {sims[-1][1]:.2f}")
    lines = md_header(head)
    for m in [m for m in methods if m in set(g.method)]:
        row = [m]
        means = {}
        for b, i in cols:
            r = g[(g.method == m) & (g.scribbles == b) & (g.inconsistency == i)]
            means[(b, i)] = float(r["mean"].iloc[0]) if len(r) else np.nan
            row.append(fmt_mean_std(float(r["mean"].iloc[0]), float(r["std"].iloc[0])) if len(r) else "not run")
        if len(sims) >= 2:
            delta = means[sims[-1]] - means[sims[0]]
            row.append("n/a" if np.isnan(delta) else f"{delta:+.3f}")
        lines.append(md_row(row))
    return g, "\n".join(lines)


def training_coverage(cases: pd.DataFrame, results_root: Path | str, stats: Path | str) -> pd.DataFrame | None:
    """Estimated scribble coverage (% of each class's pixels) of the training scribbles of each grid column.

    For simulated levels: each annotator's coverage measured by ``scribcim scribbles`` (``stats``, the
    style against expert comparison) weighted by the number of training volumes it drew
    (``scribbles.json`` beside each summary); for expert scribbles, the experts' measured coverage.
    None (with a log line) when the statistics or a run's ``scribbles.json`` are missing.
    """
    stats = Path(stats)
    if not stats.is_file():
        log.info("no scribble statistics at %s (scribcim scribbles): coverage not estimated", stats)
        return None
    cover = {r["source"]: r["coverage_pct"] for r in json.loads(stats.read_text())["rows"]}
    rows = []
    for (b, inc), runs in cases.groupby(["scribbles", "inconsistency"]):
        drawn: Counter = Counter()
        for source in sorted(runs.source.unique()):
            if b == "expert":
                drawn["expert"] += 1
                continue
            path = (Path(results_root) / source).parent / "scribbles.json"
            if not path.is_file():
                log.info("no %s: coverage not estimated", path)
                return None
            drawn.update(json.loads(path.read_text())["annotators"].values())
        unknown = set(drawn) - set(cover)
        if unknown:
            log.info("annotators %s not in %s: coverage not estimated", sorted(unknown), stats)
            return None
        total = sum(drawn.values())
        row = {"scribbles": b, "inconsistency": float(inc)}
        for c in ("RV", "MYO", "LV"):
            row[c] = sum(n * cover[a][c] for a, n in drawn.items()) / total
        row["mean"] = float(np.mean([row[c] for c in ("RV", "MYO", "LV")]))
        rows.append(row)
    rows.sort(key=lambda r: (r["scribbles"] != "expert", r["inconsistency"]))  # expert first
    return pd.DataFrame(rows)


def coverage_markdown(cov: pd.DataFrame) -> str:
    """The coverage estimate as a markdown table, one row per training-scribble set."""
    lines = ["| training scribbles | RV % | MYO % | LV % | mean % |", "|---|---|---|---|---|"]
    for r in cov.itertuples():
        name = "expert" if r.scribbles == "expert" else f"{r.scribbles} inc {r.inconsistency:.2f}"
        lines.append(f"| {name} | {r.RV:.2f} | {r.MYO:.2f} | {r.LV:.2f} | {r.mean:.2f} |")
    return "\n".join(lines)


def render_robustness(results_root: Path | str = "results", figures: Path | str = "figures", *,
                      dataset: str = "acdc", profile: str = "quick", fold: int = 1, seed: int = 2022,
                      base: str = "centreline", methods: Sequence[str] = METHODS,
                      tables: Path | str | None = None) -> dict[str, Path]:
    """Write ``<results>/<dataset>/<profile>/robustness_fold<k>.{md,csv,json}`` (or into ``tables``) and the figure.

    The table is followed by the estimated coverage of each column's training scribbles when the
    scribble statistics (``<results>/<dataset>/scribbles/stats.json``) are there.
    """
    git = git_state()  # before anything is written: the tree as the command found it
    cases = robustness_cases(case_table(results_root), dataset=dataset, profile=profile, fold=fold, seed=seed,
                             base=base, methods=methods)
    numbers, md = robustness_table(cases, methods)
    dest = Path(tables) if tables else profile_dir(results_root, dataset, profile)
    dest.mkdir(parents=True, exist_ok=True)
    stem = f"robustness_fold{fold}"
    n = int(cases.groupby(["method", "training_scribbles"]).size().max())
    text = (f"{dataset.upper()} fold {fold}, profile `{profile}`, seed {seed}: test Dice (foreground mean, best "
            f"checkpoint on validation) of each method trained on expert scribbles and on scribbles simulated "
            f"with base annotator `{base}` at each inconsistency level; mean ± std over {n} test volumes.\n\n" + md)
    stats = Path(results_root) / dataset / "scribbles" / "stats.json"
    cov = training_coverage(cases, results_root, stats)
    if cov is not None:
        shown = (Path(Path(results_root).name) / stats.relative_to(results_root)).as_posix()
        text += ("\n\nEstimated scribble coverage of the training scribbles (% of each class's pixels): each "
                 f"annotator's coverage measured in `{shown}` (100 "
                 "ACDC volumes), weighted by the training volumes it drew (`scribbles.json` beside each summary). "
                 "Inconsistency also changes how much is marked.\n\n" + coverage_markdown(cov))
    texts = {f"{stem}.md": text + "\n", f"{stem}.csv": numbers.to_csv(index=False, float_format="%.6f")}
    if cov is not None:
        texts[f"{stem}_coverage.csv"] = cov.to_csv(index=False, float_format="%.4f")
    changed = [name for name, body in texts.items() if write_text_if_changed(dest / name, body)]
    prov = {"git": git, "made_by": "scribcim robustness (lib/scribcim/report/robustness.py:render_robustness)",
            "summaries": sorted(cases.source.unique().tolist()), "base": base, "checkpoint": "best"}
    (write_json if changed else write_json_if_changed)(dest / f"{stem}.json", prov)  # unchanged: left alone
    fig = save_figure(plot_robustness(cases, methods), Path(figures) / f"{dataset}_{profile}_{stem}.png", prov)
    return {"table": dest / f"{stem}.md", "csv": dest / f"{stem}.csv", "figure": fig}
