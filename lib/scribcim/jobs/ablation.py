"""Ablations of CIM: named config overrides, trained and evaluated on one fold, tabulated against cim and pce.

Each ablation is a set of :class:`~scribcim.config.TrainConfig` overrides of the full ``cim``
(:data:`scribcim.config.ablations.ABLATIONS`); ``pce`` (no matching, no self-Dice term) is the reference at the other end. A run
lives where the library's layout puts it (:func:`ablation_folder`): an ablation in
``<runs>/<dataset>/<profile>/ablation/<name>/fold<k>/seed<s>``, the references ``cim`` and ``pce`` (their methods'
own settings) in their methods' folders, where the profile's other runs of them are (a grid's, a workflow's), so
that one seed of a profile is one run; summaries in the same places under ``<results>``. The table reads those
summaries and names each run by what its config says (:func:`identify`), never by its folder.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from ..config import TrainConfig, make_config
from ..config.ablations import (ABLATIONS, FIELDS, ablation_values, check_names, describe,  # noqa: F401 (re-exported)
                                identify)
from ..errors import ConfigError, DataError
from ..evaluate.summary import evaluate
from ..evaluate.metrics import CLASS_NAMES
from ..provenance import git_state
from ..report.markdown import fmt_mean_std, md_header, md_row
from ..report.results import summary_rows
from ..runs.log import RESUME_FREE, write_json
from ..runs.paths import ABLATION, profile_dir, results_dir_for, run_dir_for
from ..training.loop import train
from ..viz.common import save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)
FREE = set(RESUME_FREE) | {"run_dir", "runs_root", "results_root"}  # may differ between compared runs
STRUCTURES = (*CLASS_NAMES, "mean")


def ablation_folder(root: Path | str, dataset: str, profile: str, name: str, fold: int, seed: int) -> Path:
    """Where ablation ``name`` of a fold and seed lives under ``root`` (a runs or results folder): the library's
    layout (:func:`scribcim.runs.paths.results_dir_for`), so ``cim`` and ``pce`` in their methods' folders."""
    cfg = make_config(profile, **ablation_values(name), dataset=dataset, fold=fold, seed=seed, results_root=str(root))
    return results_dir_for(cfg)


def with_reference(names: Sequence[str], include_pce: bool = True) -> list[str]:
    """``names`` (checked) plus ``pce`` when asked and missing."""
    names = check_names(names)
    return names + ["pce"] if include_pce and "pce" not in names else names


def _config_diff(a: dict[str, Any], b: dict[str, Any], ignore: Sequence[str] = ()) -> list[str]:
    return sorted(k for k in set(a) | set(b) if k not in FREE and k not in ignore and a.get(k) != b.get(k))


def _refuse_other_config(made_with: dict[str, Any], config: TrainConfig, where: Path) -> None:
    if diff := _config_diff(made_with, config.to_dict()):
        raise ConfigError(f"{where} was made with a different config ({', '.join(diff)}): delete it (and its run "
                          "folder) or choose other runs_root/results_root")


def summary_complete(path: Path, config: TrainConfig) -> bool:
    """True if ``path`` is a summary of both checkpoints made with ``config``; ConfigError if made with another."""
    if not path.is_file():
        return False
    try:
        made_with, ckpts = (s := json.loads(path.read_text()))["provenance"]["config"], s["checkpoints"]
    except (json.JSONDecodeError, KeyError, TypeError):
        log.warning("%s is not a complete summary: it will be redone", path)
        return False
    _refuse_other_config(made_with, config, path)
    return {"best", "last"} <= set(ckpts) and ckpts["last"]["iteration"] >= config.max_iterations


def run_ablations(names: Sequence[str], *, dataset: str = "acdc", profile: str = "quick", fold: int = 1,
                  seed: int = 2022, data_root: str | None = None, device: str = "cpu", runs_root: str = "runs",
                  results_root: str = "results", train_missing: bool = True, **overrides: Any) -> pd.DataFrame:
    """Train (resuming) and evaluate each ablation whose summary is missing; skip those already complete.

    ``overrides`` are further TrainConfig fields shared by every run (e.g. ``max_iterations``); they may
    not touch the fields the ablations set. With ``train_missing=False`` an unfinished run is only
    reported. Returns one row per ablation: name, status (``complete``, ``trained``, ``evaluated``,
    ``missing``, ``unfinished``), run_dir, summary.
    """
    names, rows = check_names(names), []
    if clash := sorted(set(overrides) & {*FIELDS, "dataset", "profile", "fold", "seed", "run_dir", "resume"}):
        raise ConfigError(f"overrides {clash} are set by the ablations or by run_ablations' own arguments")
    for name in names:
        cfg = make_config(profile, **{**overrides, **ablation_values(name)}, dataset=dataset, fold=fold, seed=seed,
                          data_root=data_root, device=device, runs_root=str(runs_root),
                          results_root=str(results_root), resume=True)
        run_dir, summary = run_dir_for(cfg), results_dir_for(cfg) / "summary.json"  # the library's layout
        cfg = dataclasses.replace(cfg, run_dir=str(run_dir))
        if summary_complete(summary, cfg):
            status = "complete"
            log.info("ablation %s: complete summary %s, skipped", name, summary)
        elif not (finished := (run_dir / "checkpoints" / "last.pt").is_file()) and not train_missing:
            status = "missing"
            log.warning("ablation %s: no complete summary and train_missing=False: left out", name)
        else:
            if finished:  # (train() checks an unfinished run's config itself)
                _refuse_other_config(json.loads((run_dir / "config.json").read_text()), cfg, run_dir)
            status = "evaluated"
            if not finished:
                log.info("ablation %s: training %s", name, run_dir)
                finished = train(cfg).finished
                status = "trained" if finished else "unfinished"
            if finished:
                evaluate(run_dir, data_root=data_root, device=device, results_dir=summary.parent, progress=cfg.progress)
        rows.append({"ablation": name, "change": describe(name), "status": status, "run_dir": str(run_dir),
                     "summary": str(summary)})
    return pd.DataFrame(rows)


def missing_note(status: pd.DataFrame, profile: str = "quick") -> str:
    """Markdown naming the ablations :func:`run_ablations` left ``missing`` and how to make them ("" if none)."""
    missing = status.loc[status.status == "missing", "ablation"].tolist()
    if not missing:
        return ""
    cost = "; about 20 minutes a run on one CPU thread" if profile == "cpu-mm175-tables" else ""
    return (f"**Not trained:** {', '.join(f'`{m}`' for m in missing)} (no results under the results folder). "
            "Set `train_missing = True` in the parameters cell and run the notebook again to train and evaluate "
            f"them (profile `{profile}`{cost}), or in batch: `papermill notebooks/03_ablation.ipynb "
            f"reproduced/03_ablation.ipynb -p profile {profile} -p train_missing True` (every seed and the MSCMR "
            "rows: `make ablation`).")


def available_table(results_root: Path | str, dataset: str, profile: str, fold: int, seed: int, *,
                    names: Sequence[str] | None = None, checkpoint: str = "best") -> tuple[pd.DataFrame | None, str]:
    """:func:`ablation_table`, or (None, a note saying so) when no ablation of the fold has results yet."""
    try:
        return ablation_table(results_root, dataset, profile, fold, seed, names=names, checkpoint=checkpoint)
    except DataError as exc:
        log.info("no ablation table: %s", exc)
        return None, (f"No ablation results of {dataset}/{profile} fold {fold} seed {seed} under `{results_root}` "
                      "to tabulate: set `train_missing = True` to train them.")


def ablation_cases(results_root: Path | str, dataset: str, profile: str, fold: int, seed: int,
                   names: Sequence[str] | None = None) -> pd.DataFrame:
    """Long rows (:func:`scribcim.report.results.summary_rows`) of the ablation summaries of the fold
    (all, or ``names``)."""
    root = profile_dir(results_root, dataset, profile) / ABLATION
    references = [p for r in ("cim", "pce") if (p := ablation_folder(results_root, dataset, profile, r, fold, seed)
                                                / "summary.json").is_file()]
    found: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path in [*references, *sorted(root.rglob("summary.json"))]:
        try:
            s = json.loads(path.read_text())
            key, cfg = (s["dataset"], s["profile"], s["fold"], s["seed"]), s["provenance"]["config"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(f"{path}: not a scribcim summary ({exc}); remove it or rerun the ablation") from None
        if key != (dataset, profile, fold, seed) or (names is not None and identify(cfg) not in check_names(names)):
            continue
        if (name := identify(cfg)) is None:
            log.warning("%s: config matches no named ablation (%s); left out", path, {k: cfg.get(k) for k in FIELDS})
            continue
        if name in found:
            raise DataError(f"{found[name][0]} and {path} are both ablation {name!r}: remove one")
        if path.is_relative_to(root) and path.relative_to(root).parts[0] != name:
            log.warning("%s sits in a folder not named %r, which its config says it is", path, name)
        found[name] = (path, s)
    if not found:
        raise DataError(f"no ablation summaries of {dataset}/{profile} fold {fold} seed {seed} under {root}: "
                        "run run_ablations first")
    (ref, ref_s), *others = found.values()
    for path, s in others:
        if diff := _config_diff(ref_s["provenance"]["config"], s["provenance"]["config"], FIELDS):
            log.warning("%s differs from %s in %s besides the ablation: not like for like", path, ref, diff)
    rows = [{**r, "ablation": name} for name in ABLATIONS if name in found
            for r in summary_rows(found[name][1], source=str(found[name][0].relative_to(Path(results_root))))]
    return pd.DataFrame(rows)


def ablation_table(results_root: Path | str, dataset: str, profile: str, fold: int, seed: int, *,
                   names: Sequence[str] | None = None, checkpoint: str = "best") -> tuple[pd.DataFrame, str]:
    """(numbers, markdown): mean ± std over test cases of Dice per class and mean, HD95 (mean), deltas vs cim/pce.

    Deltas: mean foreground Dice of the ablation minus the reference's. Std: over cases, ddof 0 as in summaries.
    """
    df, rows = ablation_cases(results_root, dataset, profile, fold, seed, names).query("checkpoint == @checkpoint"), []
    if df.empty:
        raise DataError(f"no {checkpoint!r} checkpoint in the ablation summaries of {dataset}/{profile} fold {fold}")
    for name, d in df.groupby("ablation", sort=False):
        row: dict[str, Any] = {"ablation": name, "change": describe(name), "method": d.method.iloc[0],
                               "iteration": int(d.iteration.iloc[0]), "cases": int(d.case.nunique()),
                               "source": d.source.iloc[0]}
        for st in STRUCTURES:
            row[f"dice_{st}_mean"], row[f"dice_{st}_std"] = (v := d[d.structure == st].dice).mean(), v.std(ddof=0)
        row["hd95_mean_mean"], row["hd95_mean_std"] = (hd := d[d.structure == "mean"].hd95).mean(), hd.std(ddof=0)
        row["missed"] = int(d[d.structure == "mean"].missed.sum())
        rows.append(row)
    out = pd.DataFrame(rows)
    means = dict(zip(out.ablation, out.dice_mean_mean))
    for ref in ("cim", "pce"):
        out[f"delta_vs_{ref}"] = out.dice_mean_mean - means.get(ref, np.nan)
    head = ["ablation", "change", *(f"Dice {s}" for s in STRUCTURES), "HD95 mean (mm)", "missed", "Δ Dice vs cim",
            "Δ Dice vs pce"]
    lines = [f"{dataset.upper()} fold {fold}, profile `{profile}`, seed {seed}, checkpoint `{checkpoint}`: test "
             f"Dice and HD95 (foreground mean), mean ± std over {int(out.cases.max())} volumes; Δ = difference "
             "of mean Dice to the reference; `missed`: structures present in the ground truth and predicted empty, "
             "left out of the HD95 mean.", "", *md_header(head)]
    for r in out.itertuples():
        cells = [r.ablation, r.change, *(fmt_mean_std(getattr(r, f"dice_{s}_mean"), getattr(r, f"dice_{s}_std"))
                                         for s in STRUCTURES),
                 fmt_mean_std(r.hd95_mean_mean, r.hd95_mean_std, 1), str(r.missed),
                 *("n/a" if np.isnan(x) else f"{x:+.3f}" for x in (r.delta_vs_cim, r.delta_vs_pce))]
        lines.append(md_row(cells))
    return out, "\n".join(lines)


def save_ablations(out_dir: Path | str, table: pd.DataFrame, markdown: str, fig: Figure | None = None,
                   **provenance: Any) -> dict[str, Path]:
    """Write ``ablation_table.md``, ``ablation_table.csv`` and ``ablation_dice.png`` (+ provenance JSON)."""
    (out := Path(out_dir)).mkdir(parents=True, exist_ok=True)
    paths = {"md": out / "ablation_table.md", "csv": out / "ablation_table.csv"}
    paths["md"].write_text(markdown + "\n")
    table.to_csv(paths["csv"], index=False, float_format="%.6f")
    prov = {"git": git_state(), "made_by": "lib/scribcim/jobs/ablation.py (notebooks/03_ablation.ipynb)",
            "summaries": table.source.tolist() if "source" in table else None, **provenance}
    write_json(out / "ablation_table.json", prov)
    if fig is not None:
        paths["png"] = save_figure(fig, out / "ablation_dice.png", prov)
    return paths
