"""The run-folder layout, spelled out here and nowhere else.

A run lives at ``{dataset}/{profile}/[{variant}/]{method}/fold{k}/seed{s}`` under ``runs_root`` (checkpoints,
logs) and under ``results_root`` (the committed ``summary.json``). ``{variant}`` names a simulated scribble set
(``sim-centreline-inc0.50-seed0``) or ``ablation`` (then ``{method}`` is the ablation's name: a run whose method
settings differ from its method's own, :func:`scribcim.config.ablations.ablation_of`). The Snakefile
and the report modules ask :func:`run_pattern` and :func:`run_path` for the layout instead of writing it.
"""
from __future__ import annotations

from pathlib import Path

from ..config import TrainConfig
from ..config.ablations import ablation_of
from ..errors import ConfigError
from ..data import get_dataset
from ..data.fetch import resolve_data_root, verify

ABLATION = "ablation"


def profile_dir(root: Path | str, dataset: str, profile: str) -> Path:
    """``<root>/<dataset>/<profile>``: every run of one dataset and profile lies below it."""
    return Path(root) / dataset / profile


def run_path(dataset: str, profile: str, method: str, fold: int | str, seed: int | str,
             variant: str | None = None) -> Path:
    """The relative path of one run: ``{dataset}/{profile}/[{variant}/]{method}/fold{fold}/seed{seed}``.

    Any part may be a glob (``"*"``) or a Snakemake wildcard (``"{method}"``).
    """
    base = profile_dir("", dataset, profile)
    return (base / variant if variant else base) / method / f"fold{fold}" / f"seed{seed}"


def planned_summary(root: Path | str, run: dict) -> str:
    """``<root>/<run_path>/summary.json`` of a planned run (a dict with dataset, profile, method, fold, seed: the
    runs of :mod:`scribcim.config.workflow`'s sections), as a POSIX path (a Snakemake target)."""
    rel = run_path(run["dataset"], run["profile"], run["method"], run["fold"], run["seed"])
    return f"{Path(root).as_posix()}/{rel.as_posix()}/summary.json"


def run_pattern(variant: str | None = None) -> str:
    """:func:`run_path` with Snakemake wildcards ``{dataset}``, ``{profile}``, ``{method}``, ``{fold}``, ``{seed}``."""
    return run_path("{dataset}", "{profile}", "{method}", "{fold}", "{seed}", variant).as_posix()


def sim_variant(base: str, level: str, seed: int | str) -> str:
    """The folder of a simulated scribble set: ``sim-{base}-inc{level}-seed{seed}`` (``level`` already formatted)."""
    return f"sim-{base}-inc{level}-seed{seed}"


def scribble_variant(config: TrainConfig) -> str | None:
    """None for expert scribbles, else the folder name of the simulated set, e.g. ``sim-centreline-inc0.50-seed0``."""
    if config.scribbles == "expert":
        return None
    return sim_variant(config.scribbles, f"{config.inconsistency:.2f}", config.scribble_seed)


def results_dir_for(config: TrainConfig) -> Path:
    """Where a run's summary is committed: the run folder's path with ``results_root`` for ``runs_root``.

    A run whose method settings differ from its method's own is an ablation
    (:func:`scribcim.config.ablations.ablation_of`): ``<profile>/ablation/<name>/...``, never the method's folder.
    """
    if (name := ablation_of(config)) is not None:
        if config.scribbles != "expert":
            raise ConfigError(f"an ablation ({name}) on simulated scribbles has no run folder layout: train it on "
                              "the expert scribbles, or give --run-dir")
        return ablation_dir(config.results_root, config.dataset, config.profile, name, config.fold, config.seed)
    return Path(config.results_root) / run_path(config.dataset, config.profile, config.method, config.fold,
                                                config.seed, scribble_variant(config))


def run_dir_for(config: TrainConfig) -> Path:
    """``runs/<dataset>/<profile>/[<variant>/]<method>/fold<k>/seed<s>`` unless ``config.run_dir`` is set.

    ``<variant>`` (e.g. ``sim-centreline-inc0.50-seed0``) only for simulated training scribbles.
    """
    if config.run_dir:
        return Path(config.run_dir)
    return Path(config.runs_root) / results_dir_for(config).relative_to(config.results_root)


def ablation_dir(root: Path | str, dataset: str, profile: str, name: str, fold: int, seed: int) -> Path:
    """``<root>/<dataset>/<profile>/ablation/<name>/fold<k>/seed<s>`` (runs or results)."""
    return Path(root) / run_path(dataset, profile, name, fold, seed, ABLATION)


def summary_paths(results_root: Path | str, dataset: str = "*", profile: str = "*", method: str = "*",
                  fold: int | str = "*", seed: int | str = "*") -> list[Path]:
    """The ``summary.json`` files of the runs matching the given parts (``"*"``: any), sorted."""
    return sorted(Path(results_root).glob(f"{run_path(dataset, profile, method, fold, seed).as_posix()}/summary.json"))


def data_root_for(config: TrainConfig) -> Path | None:
    """Resolved data root (None for synthetic datasets); verifies the files against the package sums."""
    if not get_dataset(config.dataset).needs_root:
        return None
    root = resolve_data_root(config.data_root)
    verify(config.dataset, root)
    return root
