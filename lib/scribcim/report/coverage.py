"""Coverage of the training scribbles against inconsistency: does a level change how much is marked?

``python -m scribcim.report.coverage --base matched-centreline --levels 0 0.25 0.5 0.75 1 --fold 1
--scribble-seed 0 1 2 --profile cpu-mm175`` measures, for each level
and scribble seed, the per-class coverage (% of the class's dense-label pixels scribbled with that class)
of exactly the scribbles a run at that level trains on (``training_scribbles`` of the fold's training
volumes), writes the rows as CSV (a markdown summary and a JSON provenance file beside it), checks that
every class at every level stays within ``--tolerance`` (relative) of level 0, draws the base
annotator's family on three training slices, and writes where the scribbles lie at each level (slices marked,
stroke depth: :mod:`scribcim.report.geometry`, ``robustness_matched_geometry.*`` beside the CSV).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..data.scribble_coverage import CountCache, expert_coverage, level_coverage
from ..data.scribble_stats import CLASS_NAMES
from ..data.volumes import Volume
from .markdown import md_header, md_row
from ..runs.paths import profile_dir

log = logging.getLogger(__name__)
TOLERANCE = 0.15
#: the coverage CSV's name in a profile's results folder (the robustness report reads it there)
COVERAGE_CSV = "robustness_matched_coverage.csv"
LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)


def coverage_rows(volumes: Sequence[Volume], base: str, levels: Sequence[float] = LEVELS,
                  seeds: Sequence[int] = (0, 1, 2), cache: CountCache | None = None) -> pd.DataFrame:
    """One row per (level, scribble seed, class) of the training scribbles' coverage (see ``level_coverage``)."""
    df = pd.DataFrame(level_coverage(volumes, base, levels, seeds, cache=cache or CountCache(volumes)))
    df.insert(0, "base", base)
    return df


def level0_reference(df: pd.DataFrame) -> pd.Series:
    """Per class, level 0's coverage averaged over the seeds of ``df``: from its level-0 rows, else (level 0 not
    among the levels asked for) from each row's ``coverage_pct / relative_to_level0``, the coverage of the level-0
    scribbles that :func:`~scribcim.data.scribble_coverage.level_coverage` always draws as the reference."""
    zero = df[df.level == 0.0]
    if zero.empty:
        ref = df.assign(coverage_pct=df.coverage_pct / df.relative_to_level0)
        zero = ref.groupby(["scribble_seed", "class"], sort=False)["coverage_pct"].mean().reset_index()
    return zero.groupby("class", sort=False)["coverage_pct"].mean()


def mean_over_seeds(df: pd.DataFrame) -> pd.DataFrame:
    """Per (level, class): coverage averaged over seeds and its ratio to level 0's average (:func:`level0_reference`,
    also when level 0 is not among the levels)."""
    m = df.groupby(["level", "class"], sort=False)["coverage_pct"].mean().reset_index()
    m["relative_to_level0"] = m["coverage_pct"] / m["class"].map(level0_reference(df))
    return m


def check_tolerance(df: pd.DataFrame, tolerance: float = TOLERANCE) -> dict[str, dict]:
    """Per class: the largest relative deviation from level 0 over every level and seed, and whether it is
    within ``tolerance`` (``{"worst": float, "level": float, "seed": int, "ok": bool}``)."""
    out = {}
    for cls in [c for c in CLASS_NAMES if c in set(df["class"])]:
        d = df[df["class"] == cls].assign(dev=lambda x: (x.relative_to_level0 - 1).abs())
        w = d.loc[d.dev.idxmax()]
        out[cls] = {"worst": float(w.dev), "level": float(w.level), "seed": int(w.scribble_seed),
                    "ok": bool(w.dev <= tolerance)}
    return out


def check_lines(check: dict[str, dict], tolerance: float = TOLERANCE) -> list[str]:
    """One ``PASS`` / ``FAIL`` line per class."""
    return [f"{'PASS' if c['ok'] else 'FAIL'} {cls}: largest deviation from level 0 {100 * c['worst']:.1f}% "
            f"(level {c['level']:g}, seed {c['seed']}), tolerance {100 * tolerance:.0f}%" for cls, c in check.items()]


def coverage_summary_markdown(df: pd.DataFrame) -> str:
    """Markdown table: one row per level, per class the mean coverage over seeds and its ratio to level 0."""
    m = mean_over_seeds(df)
    classes = [c for c in CLASS_NAMES if c in set(m["class"])]
    lines = md_header(["level", *(f"{c} % (x level 0)" for c in classes)])
    for level, g in m.groupby("level", sort=True):
        g = g.set_index("class")
        lines.append(md_row([f"{level:.2f}", *(f"{g.coverage_pct[c]:.2f} ({g.relative_to_level0[c]:.3f})"
                                               for c in classes)]))
    return "\n".join(lines)


def expert_line(expert: dict[str, float] | None) -> list[str]:
    """A sentence on the expert scribbles' coverage of the same volumes (the reference row); none if absent."""
    if not expert:
        return []
    return ["Expert scribbles of the same volumes, for reference: " + ", ".join(
        f"{c} {expert[c]:.2f} %" for c in CLASS_NAMES if c in expert) + " (on-label pixels only)."]


def write_coverage(df: pd.DataFrame, out: Path, params: dict, *, dataset: str = "acdc",
                   tolerance: float = TOLERANCE, expert: dict[str, float] | None = None,
                   prov: dict | None = None) -> dict[str, dict]:
    """Write ``out`` (CSV), ``out.md`` (summary and check) and ``out.json`` (parameters, check, provenance:
    ``prov``, else taken now, before anything is written); ``expert`` (``{class: %}`` of the volumes' own
    scribbles) goes beside the summary as a reference."""
    from ..provenance import provenance
    from ..runs.log import write_csv_record
    prov = prov or provenance(params, device="cpu", dataset=dataset)
    check = check_tolerance(df, tolerance)
    seeds = ", ".join(str(s) for s in sorted(set(df.scribble_seed)))
    md = (f"Coverage of the training scribbles (% of each class's dense-label pixels, pooled over the "
          f"{params.get('volumes', '?')} training volumes of {dataset.upper()} fold {params.get('fold', '?')}) with "
          f"base annotator `{params.get('base')}`, mean over scribble seeds {seeds}; in brackets the ratio to level "
          f"0. Per-seed rows: `{Path(out).name}`.\n\n" + coverage_summary_markdown(df) + "\n\n"
          + "\n".join(f"- {line}" for line in check_lines(check, tolerance)) + "\n"
          + "".join(f"\n{line}\n" for line in expert_line(expert)))
    write_csv_record(out, df.to_csv(index=False, float_format="%.6f"), md,
                     {"parameters": params, "tolerance": tolerance, "check": check,
                      **({"expert_coverage_pct": expert} if expert else {}), "provenance": prov})
    return check


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m scribcim.report.coverage``: coverage of the training scribbles at each inconsistency level."""
    from ..data.datasets import load_volumes
    p = argparse.ArgumentParser(prog="python -m scribcim.report.coverage", description=main.__doc__)
    p.add_argument("--base", default="matched-centreline", help="base annotator (default: %(default)s)")
    p.add_argument("--levels", type=float, nargs="+", default=list(LEVELS), help="inconsistency levels")
    p.add_argument("--fold", type=int, default=1)
    p.add_argument("--scribble-seed", type=int, nargs="+", default=[0, 1, 2], help="scribble seeds")
    p.add_argument("--dataset", default="acdc")
    p.add_argument("--data", default=None, help="data root (default: $SCRIBCIM_DATA, else ./data)")
    p.add_argument("--profile", default="cpu-mm175", help="profile folder of the robustness grid the scribbles "
                   "feed (default: %(default)s)")
    p.add_argument("--out", type=Path, default=None,
                   help="CSV path (default: results/<dataset>/<profile>/robustness_matched_coverage.csv)")
    p.add_argument("--figure", type=Path, default=None,
                   help="PNG of the base's family (default: figures/<dataset>_matched_scribbles.png)")
    p.add_argument("--no-figure", action="store_true", help="skip the figure")
    p.add_argument("--no-geometry", action="store_true", help="skip the geometry record (slices marked, stroke "
                   "depth per level: robustness_matched_geometry.csv beside the CSV)")
    p.add_argument("--tolerance", type=float, default=TOLERANCE, help="relative tolerance (default: %(default)s)")
    ns = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = ns.out or profile_dir("results", ns.dataset, ns.profile) / COVERAGE_CSV
    vols = load_volumes(ns.dataset, "train", fold=ns.fold, data_root=ns.data)
    from ..data.scribble_coverage import COUNTS, volume_counts
    from ..data.scribble_geometry import GEOMETRY, expert_geometry, geometry_rows, volume_geometry
    measures = {COUNTS: volume_counts, **({} if ns.no_geometry else {GEOMETRY: volume_geometry})}
    cache = CountCache(vols, measures)  # each scribble simulated once, for coverage and geometry
    df = coverage_rows(vols, ns.base, ns.levels, ns.scribble_seed, cache)
    params = {"base": ns.base, "levels": ns.levels, "fold": ns.fold, "scribble_seeds": ns.scribble_seed,
              "dataset": ns.dataset, "volumes": len(vols), "cases": [v.case for v in vols]}
    expert = expert_coverage(vols)  # coverage_rows has checked that every volume has a dense label
    from ..provenance import provenance
    prov = provenance(params, device="cpu", dataset=ns.dataset)  # before anything is written: a clean tree
    check = write_coverage(df, out, params, dataset=ns.dataset, tolerance=ns.tolerance, expert=expert, prov=prov)
    print(out.with_suffix(".md").read_text())
    if not ns.no_geometry:
        from .geometry import GEOMETRY_CSV, write_geometry
        geo = pd.DataFrame(geometry_rows(vols, ns.base, ns.levels, ns.scribble_seed, cache=cache))
        path = write_geometry(geo, out.with_name(GEOMETRY_CSV), params, prov, expert_geometry(vols))
        print(path.with_suffix(".md").read_text())
    if not ns.no_figure:
        from ..viz.scribbles import render_family_figure
        fig = ns.figure or Path("figures") / f"{ns.dataset}_matched_scribbles.png"
        render_family_figure(vols, ns.base, fig, {**prov, "coverage": str(out)}, seed=ns.scribble_seed[0])
        print(f"figure: {fig}")
    return 0 if all(c["ok"] for c in check.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
