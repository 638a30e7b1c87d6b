"""The multi-seed robustness report on disk (issue 21): markdown, CSV, JSON record and figure; its command line.

Numbers from :mod:`scribcim.report.robustness_seeds_stats`; files
``<tables>/<dataset>_<profile>_robustness_seeds.{md,csv,json}`` (and ``_runs.csv``, one row per run) and
``<figures>/<dataset>_<profile>_robustness_seeds.png``. Files whose content is unchanged are left alone, so a
redraw from the same summaries changes nothing.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError
from ..provenance import git_state
from ..runs.log import write_json_if_changed, write_text_if_changed
from ..training.methods import paper_order
from ..viz.common import save_figure
from ..viz.methods import plot_robustness_seeds
from ..config.workflow import PAIRED, scribble_seeds
from .comparison import purity_table, training_commits
from .markdown import fmt_mean_std, md_header, md_row
from .robustness_scribbles import coverage_lines, geometry_lines
from .robustness_seeds_stats import EXPERT, POST, RAW, analyse, conditions, read_grid

log = logging.getLogger(__name__)


def _ci(ci: Sequence[float]) -> str:
    return "n/a" if not np.isfinite(ci[0]) else f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"


def _signed(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:+.3f}"


def _sd(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.3f}"


def _label(condition: str, base: str) -> str:
    return EXPERT if condition == EXPERT else f"{base} inc {condition}"


def table_markdown(tables: dict[str, pd.DataFrame], base: str) -> str:
    """One row per condition and method: runs, then Dice and HD95 mean ± sd across runs, raw first and
    post-processed beside it (when there)."""
    raw = tables[RAW].set_index(["condition", "method"])
    post = tables[POST].set_index(["condition", "method"]) if POST in tables else None
    head = ["training scribbles", "method", "runs"]
    for m in ("Dice", "HD95 (mm)"):
        head += [m] + ([f"{m} post-processed"] if post is not None else [])
    lines = md_header(head)
    for (c, method), r in raw.iterrows():
        cells = [_label(c, base), method, str(int(r.runs))]
        for m, digits in (("dice", 3), ("hd95", 1)):
            cells.append(fmt_mean_std(r[f"{m}_mean"], r[f"{m}_std"], digits))
            if post is not None:
                p = post.loc[(c, method)] if (c, method) in post.index else None
                cells.append("n/a" if p is None else fmt_mean_std(p[f"{m}_mean"], p[f"{m}_std"], digits) +
                             (f" ({int(p.runs)} runs)" if p.runs != r.runs else ""))
        lines.append(md_row(cells))
    return "\n".join(lines)


def structures_markdown(runs: pd.DataFrame, base: str) -> str:
    """Dice per structure (mean ± sd across runs) per condition and method: which class moves with the level."""
    per = runs[runs.structure != "mean"]
    names = sorted(set(per.structure))
    g = per.groupby(["condition", "method", "structure"]).dice.agg(["mean", "std"])
    lines = md_header(["training scribbles", "method", *names])
    for c in conditions(runs):
        for m in paper_order(set(runs[runs.condition == c].method)):
            lines.append(md_row([_label(c, base), m, *(fmt_mean_std(*g.loc[(c, m, n)], 3) if (c, m, n) in g.index
                                                       else "n/a" for n in names)]))
    return "\n".join(lines)


def differences_markdown(diffs: Sequence[dict], base: str) -> str:
    """One row per condition, contrast and metrics (raw, then post-processed): mean seed-paired difference."""
    lines = md_header(["training scribbles", "contrast", "metrics", "pairs", "mean difference", "95 % CI", "sd",
                       "a better"])
    for d in diffs:
        lines.append(md_row([_label(d["condition"], base), f"{d['a']} − {d['b']}", d["metrics"], str(d["pairs"]),
                             _signed(d["mean"]), _ci(d["ci95"]), _sd(d["sd"]), f"{d['a_better']}/{d['pairs']}"]))
    return "\n".join(lines)


def base_gaps_markdown(gaps: Sequence[dict], base: str) -> str:
    """One row per method and metrics: the simulated base (lowest level) − expert scribbles, seed-paired."""
    if not gaps:
        return "No expert and simulated runs of the same method: no gap to the experts."
    lines = md_header(["method", "metrics", "pairs", f"{base} inc {gaps[0]['a']} − expert", "95 % CI", "sd"])
    lines += [md_row([g["method"], g["metrics"], str(g["pairs"]), _signed(g["mean"]), _ci(g["ci95"]), _sd(g["sd"])])
              for g in gaps]
    return "\n".join(lines)


def slopes_markdown(slopes: Sequence[dict], slope_diffs: Sequence[dict]) -> str:
    """The slopes per method (mean over seeds) and the seed-paired slope differences, as two markdown tables."""
    if not slopes:
        return "No simulated runs yet: no slopes."
    lines = md_header(["method", "metrics", "runs", "seeds", "mean slope (Dice per unit inconsistency)", "95 % CI"])
    lines += [md_row([s["method"], s["metrics"], str(s["runs"]), str(s["n"]), _signed(s["slope"]), _ci(s["ci95"])])
              for s in slopes]
    lines += [""] + md_header(["contrast", "metrics", "seeds", "mean slope difference", "95 % CI", "a flatter"])
    lines += [md_row([f"{d['a']} − {d['b']}", d["metrics"], str(d["pairs"]), _signed(d["mean"]), _ci(d["ci95"]),
                      f"{d['a_better']}/{d['pairs']}"]) for d in slope_diffs]
    return "\n".join(lines)


def level_changes_markdown(changes: Sequence[dict], base: str) -> str:
    """One row per method or contrast, metrics and level: its change from the lowest level, seed-paired."""
    if not changes:
        return "Fewer than two levels with runs: no change to show."
    lines = md_header(["method or contrast", "metrics", "level", "pairs", f"change from {base} inc {changes[0]['b']}",
                       "95 % CI", "sd", "up"])
    lines += [md_row([c["of"], c["metrics"], c["a"], str(c["pairs"]), _signed(c["mean"]), _ci(c["ci95"]),
                      _sd(c["sd"]), f"{c['a_better']}/{c['pairs']}"]) for c in changes]
    return "\n".join(lines)


def purity_markdown(found: Sequence[dict], base: str, checkpoint: str = "best") -> str:
    """Bank purity of the matching runs per condition and class (mean ± sd across runs, at ``checkpoint``), with
    the iterations those checkpoints were taken at; a line saying so when no run has banks."""
    rows = []
    for c in conditions(pd.DataFrame({"condition": [r["level"] or EXPERT for r in found]})):
        runs = [r["summary"] for r in found if (r["level"] or EXPERT) == c]
        t = purity_table(runs, checkpoint)
        t = t[t.kind == "bank_purity"].set_index("class")
        if t.empty:
            continue
        its = sorted(int(s["checkpoints"][checkpoint].get("iteration", -1)) for s in runs
                     if "bank_purity" in s["checkpoints"].get(checkpoint, {}))
        rows.append(md_row([_label(c, base), str(int(t["runs"].max())), ", ".join(map(str, its)),
                            *(fmt_mean_std(t["mean"][k], t["std"][k], 2) if k in t.index else "n/a"
                              for k in ("RV", "MYO", "LV"))]))
    if not rows:
        return "No run with banks: no bank purity."
    return "\n".join(md_header(["training scribbles", "runs", "iterations", "RV", "MYO", "LV"]) + rows)


def _records(items: Sequence[dict]) -> list[dict]:
    return json.loads(pd.DataFrame(items).to_json(orient="records")) if items else []


def render_robustness_seeds(results_root: Path | str, tables: Path | str, figures: Path | str,
                            section: dict[str, Any], *, checkpoint: str = "best") -> dict[str, Any]:
    """Write the report of the ``robustness_seeds`` grid ``section``; return its record (also in the JSON)."""
    git = git_state()  # before anything is written: the tree as the command found it
    found, missing = read_grid(results_root, section)
    if not found:
        raise DataError(f"no run of the robustness_seeds grid under {results_root}: "
                        "run `snakemake -s workflow/Snakefile robustness_seeds`")
    res = analyse(found, checkpoint)
    base, stem = section["base"], f"{section['dataset']}_{section['profile']}_robustness_seeds"
    sseeds = scribble_seeds(section)
    pairing = ("paired: training seed k of the list trains on scribble draw k" if section["scribble_seeds"] == PAIRED
               else "one scribble draw for every seed")
    md = [f"### {section['dataset']}, profile `{section['profile']}`, fold {section['fold']}, checkpoint "
          f"`{checkpoint}`: scribble inconsistency at fixed coverage, several seeds", "",
          f"Base annotator `{base}`; inconsistency levels {', '.join(section['levels'])}; training seeds "
          f"{', '.join(map(str, section['seeds']))} with scribble seeds {', '.join(map(str, sseeds))} ({pairing}). "
          f"{len(found)} of {len(found) + len(missing)} planned runs present."]
    md += [f"Missing: {', '.join(f'`{m}`' for m in missing)}."] if missing else []
    md += ["", "Mean ± sd across runs (seeds) of each run's mean over test volumes (foreground mean; HD95 in mm)"
           + ("; post-processed: connected components as chosen per run on its validation patients." if POST in res
              else "; no run has post-processed metrics."), "",
           table_markdown({w: r["table"] for w, r in res.items()}, base), "",
           "Dice per structure, raw (mean ± sd across runs; the runs' mean over test volumes per class):", "",
           structures_markdown(res[RAW]["runs"], base), "",
           "Seed-paired differences of Dice (a − b; 95 % t-interval over seeds):", "",
           differences_markdown([d for r in res.values() for d in r["differences"]], base), "",
           "How far the simulated base is from the experts: per method, its runs at the lowest level minus its runs "
           "on the expert scribbles, paired by training seed (Dice; 95 % t-interval over seeds):", "",
           base_gaps_markdown([g for r in res.values() for g in r["base_gaps"]], base), "",
           "Slope of Dice against inconsistency (per seed the least-squares slope over its levels, then mean and "
           "95 % t-interval over seeds, seeds − 1 degrees of freedom), and the seed-paired difference of slopes "
           "(per seed the difference of the two methods' slopes over the levels; 95 % t-interval over seeds; `a flatter`: seeds "
           "where a's slope is the larger):", "",
           slopes_markdown([s for r in res.values() for s in r["slopes"]],
                           [d for r in res.values() for d in r["slope_differences"]]), "",
           "Change from the lowest level to each higher one, paired by seed (training seed k on scribble draw k at "
           "every level; Dice; 95 % t-interval over seeds; no straight line assumed): for a method its own change, "
           "for a contrast the change of its gap (positive: a gains more or loses less than b; `up`: seeds with a "
           "positive change):", "",
           level_changes_markdown([c for r in res.values() for c in r["level_changes"]], base), "",
           "Bank purity of the matching runs (share of each class's bank entries whose feature cell is mostly that "
           "class by the dense labels, measured only; mean ± sd across runs at the chosen checkpoint, whose "
           "iterations are listed):", "", purity_markdown(found, base, checkpoint), "",
           *coverage_lines(results_root, section), *geometry_lines(results_root, section), ""]
    commits = training_commits([r["summary"] for r in found])
    md.append(f"Trained at commit(s) {', '.join(c[:7] for c in commits)}; {len(found)} summaries.")
    tables, sources = Path(tables), [r["source"] for r in found]
    tables.mkdir(parents=True, exist_ok=True)
    table = pd.concat([r["table"] for r in res.values()], ignore_index=True)
    runs = pd.concat([r["runs"].assign(metrics=w) for w, r in res.items()], ignore_index=True)
    write_text_if_changed(tables / f"{stem}.md", "\n".join(md) + "\n")
    write_text_if_changed(tables / f"{stem}.csv", table.to_csv(index=False, float_format="%.6g"))
    write_text_if_changed(tables / f"{stem}_runs.csv", runs.to_csv(index=False, float_format="%.6g"))
    record = {"made_by": "python -m scribcim.report.robustness_seeds", "section": section, "checkpoint": checkpoint,
              "scribble_seeds": dict(zip(map(str, section["seeds"]), sseeds)), "missing": missing,
              "summaries": sources, "training_commits": commits, "git": git}
    for what, r in res.items():
        record[what] = {"table": json.loads(r["table"].to_json(orient="records")),
                        "differences": r["differences"], "slopes": r["slopes"],
                        "slope_differences": r["slope_differences"], "level_changes": r["level_changes"],
                        "base_gaps": r["base_gaps"]}
    write_json_if_changed(tables / f"{stem}.json", record)
    mean = runs[runs.structure == "mean"]
    prov = {"made_by": record["made_by"], "git": record["git"], "section": section, "summaries": sources,
            "runs": _records(mean[["metrics", "condition", "method", "seed", "dice"]].to_dict("records"))}
    title = (f"{section['dataset']} {section['profile']}, base {base}: mean and 95 % t-interval across runs, "
             f"dots: each run (seeds {', '.join(map(str, section['seeds']))})")
    fig = save_figure(plot_robustness_seeds(table, title, runs=runs), Path(figures) / f"{stem}.png", prov)
    log.info("wrote %s and %s", tables / f"{stem}.md", fig)
    return record | {"files": {"table": tables / f"{stem}.md", "csv": tables / f"{stem}.csv", "figure": fig}}


def load_section(config: Path | str | None = None, section: str | None = None) -> tuple[dict[str, Any], dict]:
    """(the ``robustness_seeds`` section, the whole config): from ``section`` (YAML or JSON text, as the Snakefile
    passes it) if given, else from the workflow config file ``config``."""
    import yaml
    whole = yaml.safe_load(Path(config).read_text()) if config else {}
    rs = yaml.safe_load(section) if section else whole.get("robustness_seeds")
    if not isinstance(rs, dict):
        raise DataError(f"no robustness_seeds section in {config}: pass --section or --config")
    return rs, whole or {}


def report_from_config(config: Path | str | None = "workflow/config.yaml", section: str | None = None, *,
                       profile: str | None = None, results: Path | str | None = None,
                       tables: Path | str | None = None, figures: Path | str | None = None,
                       checkpoint: str = "best") -> dict[str, Any]:
    """:func:`render_robustness_seeds` of a workflow config's ``robustness_seeds`` section (or of ``section``, as
    the Snakefile passes it), its ``profile`` replaced if given; the folders default to the config's
    ``results_root`` (tables: ``<results>/tables``) and ``figures_dir``."""
    rs, whole = load_section(config, section)
    if profile is not None:
        rs = {**rs, "profile": profile}
    results = results or whole.get("results_root") or "results"
    return render_robustness_seeds(results, tables or Path(results) / "tables",
                                   figures or whole.get("figures_dir") or "figures", rs, checkpoint=checkpoint)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m scribcim.report.robustness_seeds``: the multi-seed robustness report from committed summaries."""
    import argparse
    p = argparse.ArgumentParser(prog="python -m scribcim.report.robustness_seeds", description=main.__doc__)
    p.add_argument("--config", default=None, help="workflow config whose robustness_seeds section (and "
                   "results_root, figures_dir) to use (default: workflow/config.yaml unless --section)")
    p.add_argument("--section", default=None, help="the section itself as JSON/YAML (the Snakefile passes it)")
    p.add_argument("--results", default=None, help="folder of the summaries (default: the config's results_root)")
    p.add_argument("--tables", default=None, help="where the tables go (default: <results>/tables)")
    p.add_argument("--figures", default=None, help="where the figure goes (default: the config's figures_dir)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    ns = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = report_from_config(ns.config or (None if ns.section else "workflow/config.yaml"), ns.section,
                             results=ns.results, tables=ns.tables, figures=ns.figures, checkpoint=ns.checkpoint)
    print(out["files"]["table"].read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
