"""The results notebook's products: method tables per fold, paired tests, box/strip plots, written to disk.

Everything is read from committed ``summary.json`` files (:func:`scribcim.report.results.case_table`),
so ``make figures`` redraws these without training.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..errors import DataError
from ..evaluate.metrics import CLASS_NAMES
from ..provenance import git_state
from ..evaluate.metrics import pstd
from ..training.methods import paper_order
from .results import case_table, fmt_distance, paired_wilcoxon
from .markdown import fmt_mean_std, md_header, md_row
from ..runs.log import write_json, write_json_if_changed, write_text_if_changed
from ..viz.common import save_figure
from ..viz.methods import plot_method_boxes

log = logging.getLogger(__name__)
#: what the distance columns are, under every table that has them
DISTANCE_NOTE = ("HD95, ASD and ASSD in mm (medpy): ASD is `asd(pred, gt)`, the mean distance from the prediction's "
                 "surface to the ground truth's (one direction); ASSD pools both directions (n/a: summary made "
                 "before it was recorded). `missed`: structures present in the ground truth and predicted empty, "
                 "left out of the distance means (unless the run set `--empty-penalty`); `(k missed)` marks a "
                 "class's share.")


def main_runs(df: pd.DataFrame, *, dataset: str, profile: str, checkpoint: str = "best",
              scribbles: str = "expert") -> pd.DataFrame:
    """Rows of the main comparison: default settings, the given training scribbles, one checkpoint."""
    d = df[(df.dataset == dataset) & (df.profile == profile) & (df.checkpoint == checkpoint)
           & (df.training_scribbles == scribbles) & (df.settings == "")]
    if d.empty:
        raise DataError(f"no {dataset}/{profile} results with {scribbles} scribbles under the results folder")
    return d


def method_table(d: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """(numbers, markdown): one row per run (method, fold, seed), mean ± std over cases of Dice, HD95, ASD
    (prediction -> reference) and ASSD (symmetric), and the structures missed (left out of the distances).

    Runs of different seeds are not pooled: the spread between seeds is shown as separate rows. Summaries
    made before ASSD was recorded show it as n/a (NaN in the numbers).
    """
    rows, lines = [], []
    head = ["method", "fold", "seed", "n"] + [f"Dice {c}" for c in CLASS_NAMES] + ["Dice mean"] + \
        [f"HD95 {c}" for c in CLASS_NAMES] + ["HD95 mean", "ASD mean", "ASSD mean", "missed"]
    lines += md_header(head)
    for m in paper_order(d.method):
        for fold, seed in sorted(set(zip(d[d.method == m].fold, d[d.method == m].seed))):
            dm = d[(d.method == m) & (d.fold == fold) & (d.seed == seed)]
            row: dict = {"method": m, "fold": int(fold), "seed": int(seed), "n": int(dm.case.nunique())}
            cells = [m, str(fold), str(seed), str(row["n"])]
            missed = {s: int(dm[dm.structure == s].missed.sum()) for s in [*CLASS_NAMES, "mean"]}
            for metric, structures, digits in (("dice", [*CLASS_NAMES, "mean"], 3),
                                               ("hd95", [*CLASS_NAMES, "mean"], 1), ("asd", ["mean"], 1),
                                               ("assd", ["mean"], 1)):
                for s in structures:
                    v = dm[dm.structure == s][metric]
                    row[f"{metric}_{s}_mean"], row[f"{metric}_{s}_std"] = v.mean(), pstd(v)
                    cells.append(fmt_mean_std(v.mean(), pstd(v), digits) if metric == "dice" or s == "mean"
                                 else fmt_distance(v.mean(), pstd(v), missed[s], digits))
            row.update({f"missed_{s}": missed[s] for s in CLASS_NAMES}, missed=missed["mean"])
            cells.append(str(missed["mean"]))
            rows.append(row)
            lines.append(md_row(cells))
    return pd.DataFrame(rows), "\n".join(lines)


def _fmt(x: float, spec: str) -> str:
    """``x`` formatted with ``spec``; "n/a" when it is NaN (e.g. the p of a pair of runs with no common case)."""
    return "n/a" if pd.isna(x) else format(x, spec)


def wilcoxon_table(d: pd.DataFrame, reference: str = "cim", checkpoint: str = "best") -> tuple[pd.DataFrame, str]:
    """Paired Wilcoxon signed-rank tests of ``reference`` against every other method, per fold and seed.

    Runs are paired only with runs of the same fold and seed (foreground Dice per test volume).
    """
    out = []
    for fold, seed in sorted(set(zip(d.fold, d.seed))):
        df_run = d[(d.fold == fold) & (d.seed == seed)]
        others = [m for m in paper_order(df_run.method) if m != reference]
        if reference not in set(df_run.method) or not others:
            continue
        for m in others:
            out.append(paired_wilcoxon(df_run, [reference, m], checkpoint=checkpoint).assign(fold=int(fold),
                                                                                         seed=int(seed)))
    if not out:
        raise DataError(f"no fold and seed has both {reference!r} and another method")
    t = pd.concat(out, ignore_index=True)
    lines = ["| fold | seed | A | B | n | mean Dice A | mean Dice B | A - B | cases A better | p (Wilcoxon) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in t.itertuples():
        lines.append(f"| {r.fold} | {r.seed} | {r.a} | {r.b} | {r.n} | {_fmt(r.mean_dice_a, '.3f')} | "
                     f"{_fmt(r.mean_dice_b, '.3f')} | {_fmt(r.mean_difference, '+.3f')} | {r.a_better_cases} | "
                     f"{_fmt(r.p_value, '.2g')} |")
    return t, "\n".join(lines)


def render_results(results_root: Path | str = "results", tables_dir: Path | str = "results/tables",
                   figures_dir: Path | str = "figures", *,
                   comparisons: Sequence[tuple[str, str]] = (("acdc", "quick"),),
                   reference: str = "cim", checkpoint: str = "best") -> list[Path]:
    """Write ``all_runs.csv`` and, per (dataset, profile), the method table, Wilcoxon tests and box plot."""
    git = git_state()  # before anything is written: the tree as the command found it
    from .results import mean_std_table
    df = case_table(results_root)
    tables, figures = Path(tables_dir), Path(figures_dir)
    tables.mkdir(parents=True, exist_ok=True)
    written = [tables / "all_runs.csv"]
    write_text_if_changed(written[0], mean_std_table(df, checkpoint=checkpoint).to_csv(index=False,
                                                                                     float_format="%.6f"))
    prov = {"git": git, "made_by": "notebooks/04_results.ipynb (lib/scribcim/report/results_report.py)",
            "checkpoint": checkpoint}
    for dataset, profile in comparisons:
        d = main_runs(df, dataset=dataset, profile=profile, checkpoint=checkpoint)
        stem = f"{dataset}_{profile}"
        numbers, md = method_table(d)
        note = (f"{dataset.upper()} `{profile}` profile, expert scribbles, checkpoint `{checkpoint}`: mean ± std over "
                "test volumes (3D, true spacing). " + DISTANCE_NOTE)
        texts = {f"{stem}_methods.csv": numbers.to_csv(index=False, float_format="%.6f"),
                 f"{stem}_methods.md": note + "\n\n" + md + "\n"}
        if reference in set(d.method) and d.method.nunique() > 1:
            w, wmd = wilcoxon_table(d, reference, checkpoint)
            texts[f"{stem}_wilcoxon.csv"] = w.to_csv(index=False, float_format="%.6g")
            texts[f"{stem}_wilcoxon.md"] = (
                f"Paired two-sided Wilcoxon signed-rank tests on per-volume foreground Dice ({dataset}, {profile}, "
                f"{checkpoint}); no correction for multiple comparisons.\n\n{wmd}\n")
        changed = [name for name, text in texts.items() if write_text_if_changed(tables / name, text)]
        written += [tables / name for name in texts]
        sources = sorted(d.source.unique().tolist())
        # the provenance names the commit the tables last changed at: rewritten only when they (or inputs) change
        (write_json if changed else write_json_if_changed)(tables / f"{stem}_provenance.json",
                                                           {**prov, "summaries": sources})
        written.append(save_figure(plot_method_boxes(d, f"{dataset.upper()} {profile}: per-volume test results"),
                                   figures / f"{stem}_methods_box.png", {**prov, "summaries": sources}))
    return written
