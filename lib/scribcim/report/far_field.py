"""Where the comparison grid's large distances come from: case-runs with a far-away false positive.

A case-run is one test volume segmented by one run. ``python -m scribcim.report.far_field --profile P`` reads the
grid's summaries (raw and post-processed metrics of the checkpoint chosen on validation) and writes
``results/tables/<dataset>_<profile>_far_field.{md,json}`` and ``figures/<dataset>_<profile>_far_field.png``:

- per method, the share of case-runs whose raw HD95 (mean over classes) is above ``threshold`` mm, their raw and
  post-processed Dice against the other case-runs' (does removing disconnected islands bring them level?);
- per class, the share of case-runs above the threshold, raw and post-processed;
- per test volume, in how many runs (all methods, all seeds) it is above the threshold: the same volumes in every
  run point at the data, not at a seed.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import DataError
from ..evaluate.metrics import CLASS_NAMES
from ..provenance import git_state
from ..runs.log import write_json
from ..training.methods import paper_order
from ..viz.common import save_figure
from ..viz.far_field import plot_far_field
from .comparison import profile_summaries
from .markdown import md_header, md_row
from .results import summary_rows
from .results_report import main_runs

log = logging.getLogger(__name__)
KEYS = ["method", "seed", "case"]


def case_runs(summaries: Sequence[dict], dataset: str, profile: str, checkpoint: str = "best") -> pd.DataFrame:
    """One row per (method, seed, case, structure): raw ``dice``/``hd95`` and post-processed ``dice_post``/``hd95_post``
    (NaN for runs without post-processed metrics)."""
    raw = main_runs(pd.DataFrame([r for s in summaries for r in summary_rows(s)]), dataset=dataset, profile=profile,
                    checkpoint=checkpoint)
    post_rows = [r for s in summaries for r in summary_rows(s, postprocessed=True)]
    out = raw[KEYS + ["structure", "dice", "hd95"]]
    if post_rows:
        post = main_runs(pd.DataFrame(post_rows), dataset=dataset, profile=profile, checkpoint=checkpoint)
        post = post[KEYS + ["structure", "dice", "hd95"]].rename(columns={"dice": "dice_post", "hd95": "hd95_post"})
        return out.merge(post, on=KEYS + ["structure"], how="left")
    return out.assign(dice_post=np.nan, hd95_post=np.nan)


def by_method(cr: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per method: case-runs, share above ``threshold``, and the mean Dice/HD95 of those above and of the rest."""
    m = cr[cr.structure == "mean"].assign(far=lambda d: d.hd95 > threshold)
    rows = []
    for method in paper_order(m.method):
        d = m[m.method == method]
        row = {"method": method, "runs": d.seed.nunique(), "case_runs": len(d), "far": int(d.far.sum()),
               "far_share": float(d.far.mean())}
        for name, part in (("far", d[d.far]), ("near", d[~d.far])):
            for col in ("dice", "dice_post", "hd95", "hd95_post"):
                row[f"{col}_{name}"] = float(part[col].mean()) if len(part) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def by_class(cr: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per method and class: the share of case-runs whose class HD95 is above ``threshold``, raw and post-processed."""
    d = cr[cr.structure.isin(CLASS_NAMES)]
    g = d.assign(raw=d.hd95 > threshold, post=d.hd95_post > threshold).groupby(["method", "structure"])
    return g[["raw", "post"]].mean().reset_index()


def by_case(cr: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per test volume: in how many runs (any method) its raw HD95 (mean) is above ``threshold``; most first."""
    m = cr[cr.structure == "mean"].assign(far=lambda d: d.hd95 > threshold)
    g = m.groupby("case").agg(far_runs=("far", "sum"), runs=("far", "size"), dice=("dice", "mean"),
                              dice_post=("dice_post", "mean"))
    return g.sort_values(["far_runs", "dice"], ascending=[False, True]).reset_index()


def _f(v: float, digits: int = 3) -> str:
    return "n/a" if not np.isfinite(v) else f"{v:.{digits}f}"


def far_field_markdown(methods: pd.DataFrame, classes: pd.DataFrame, cases: pd.DataFrame, threshold: float,
                       top: int = 10) -> list[str]:
    """The report's markdown lines: the three tables (``top`` volumes of the per-volume one)."""
    t = f"{threshold:g} mm"
    md = [f"Case-runs (one test volume segmented by one run) with raw HD95 (mean over classes) above {t}, against "
          "the rest; Dice and HD95 are means over those case-runs, raw and post-processed (the run's own choice on "
          "validation).", ""]
    md += md_header(["method", "runs", "case-runs", f"> {t}", "Dice raw (far / rest)", "Dice post (far / rest)",
                     "HD95 raw (far / rest)", "HD95 post (far / rest)"])
    for r in methods.itertuples():
        md.append(md_row([r.method, str(r.runs), str(r.case_runs), f"{r.far} ({r.far_share:.0%})",
                          f"{_f(r.dice_far)} / {_f(r.dice_near)}", f"{_f(r.dice_post_far)} / {_f(r.dice_post_near)}",
                          f"{_f(r.hd95_far, 1)} / {_f(r.hd95_near, 1)}",
                          f"{_f(r.hd95_post_far, 1)} / {_f(r.hd95_post_near, 1)}"]))
    md += ["", f"Share of case-runs with a class's HD95 above {t} (raw / post-processed):", ""]
    md += md_header(["method", *CLASS_NAMES])
    for method in paper_order(classes.method):
        c = classes[classes.method == method].set_index("structure")
        md.append(md_row([method, *(f"{c.loc[k, 'raw']:.0%} / {c.loc[k, 'post']:.0%}" for k in CLASS_NAMES)]))
    md += ["", f"The {top} test volumes most often above {t} (runs of every method and seed):", ""]
    md += md_header(["volume", f"runs > {t}", "Dice raw", "Dice post"])
    for r in cases.head(top).itertuples():
        md.append(md_row([str(r.case), f"{int(r.far_runs)}/{int(r.runs)}", _f(r.dice), _f(r.dice_post)]))
    return md + [""]


def render_far_field(results_root: Path | str, tables: Path | str, figures: Path | str, *, profile: str,
                     dataset: str = "acdc", fold: int = 1, threshold: float = 20.0) -> dict:
    """Write ``<tables>/<dataset>_<profile>_far_field.{md,json}`` and the figure; returns the record."""
    git = git_state()  # before anything is written: the tree as the command found it
    summaries = [s for s in profile_summaries(results_root, profile, fold) if s["dataset"] == dataset]
    if not summaries:
        raise DataError(f"no {dataset}/{profile} fold-{fold} summaries under {results_root}: run the grid "
                        "(`make grid`) or copy its summaries there")
    cr = case_runs(summaries, dataset, profile)
    methods, classes, cases = by_method(cr, threshold), by_class(cr, threshold), by_case(cr, threshold)
    name = f"{dataset}_{profile}_far_field"
    md = [f"### Far-field false positives, {dataset}, profile `{profile}`, fold {fold}, checkpoint `best`", "",
          *far_field_markdown(methods, classes, cases, threshold), f"{len(summaries)} summaries."]
    tables, figures = Path(tables), Path(figures)
    tables.mkdir(parents=True, exist_ok=True)
    (tables / f"{name}.md").write_text("\n".join(md) + "\n")
    record = {"profile": profile, "dataset": dataset, "fold": fold, "threshold_mm": threshold,
              "methods": methods.to_dict("records"), "classes": classes.to_dict("records"),
              "cases": cases.to_dict("records"), "git": git}
    write_json(tables / f"{name}.json", record)
    prov = {"made_by": "scribcim.report.far_field", "git": git, "profile": profile, "dataset": dataset,
            "threshold_mm": threshold, "summaries": len(summaries)}
    save_figure(plot_far_field(cr, threshold, title=f"{dataset}, {profile}"), figures / f"{name}.png", prov)
    return record


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m scribcim.report.far_field --profile P``: where the grid's large HD95 come from."""
    p = argparse.ArgumentParser(prog="python -m scribcim.report.far_field", description=main.__doc__)
    p.add_argument("--profile", required=True, help="the profile of the comparison grid")
    p.add_argument("--dataset", default="acdc", help="dataset (default: acdc)")
    p.add_argument("--results", default="results", help="folder holding the summaries (default: results)")
    p.add_argument("--tables", default="results/tables", help="where the tables go (default: results/tables)")
    p.add_argument("--figures", default="figures", help="where the figure goes (default: figures)")
    p.add_argument("--threshold", type=float, default=20.0, help="HD95 threshold in mm (default: 20)")
    ns = p.parse_args(argv)
    render_far_field(ns.results, ns.tables, ns.figures, profile=ns.profile, dataset=ns.dataset,
                     threshold=ns.threshold)
    print((Path(ns.tables) / f"{ns.dataset}_{ns.profile}_far_field.md").read_text())


if __name__ == "__main__":
    main()
