"""The Snakemake workflow's config checked by the library's own rules, before any job is planned.

``workflow/Snakefile`` calls :func:`check_workflow_config` on its merged config
(``workflow/config.yaml``, ``--configfile`` files and ``--config key=value``): an unknown key, a
section lacking a key, or any run it would plan whose :class:`scribcim.config.TrainConfig` the
library refuses (unknown method, profile or dataset, a bad fold, seed or override, a bad
scribble setting) stops the dry run too, with one line naming the key and the fix.
"""
from __future__ import annotations

import re
from dataclasses import fields
from typing import Any, Iterator

from ..device import check_device_name
from ..errors import ConfigError
from ..runs.paths import run_path, sim_variant
from .ablations import ABLATIONS, check_names
from .train_config import TrainConfig, make_config

#: section -> its keys (all required)
SECTIONS: dict[str, tuple[str, ...]] = {
    "main": ("profile", "datasets", "methods", "folds", "seeds"),
    "robustness": ("profile", "dataset", "methods", "base", "levels", "scribble_seed", "fold", "seed"),
    "selection": ("name", "profiles", "dataset", "methods", "fold", "seeds"),
    "grid": ("profile", "fold", "runs"),
    "robustness_seeds": ("profile", "dataset", "methods", "base", "levels", "seeds", "scribble_seeds", "fold"),
    "ablation": ("profile", "dataset", "fold", "ablations", "seeds"),
    "budget": ("dataset", "fold", "runs"),
    "paper_tables": ("profile", "fold", "runs"),
}
PATHS = ("data_root", "runs_root", "results_root", "figures_dir")
TOP_KEYS = (*PATHS, "device", "overrides", *SECTIONS)
#: fields each job sets itself (from its section, the paths and the device): not overrides
PER_JOB = ("dataset", "method", "fold", "profile", "seed", "data_root", "runs_root", "results_root", "device",
           "resume", "run_dir")
LEVEL = re.compile(r"^\d\.\d\d$")  # the Snakefile's wildcard for inconsistency levels
FIX = "fix it in workflow/config.yaml, your --configfile or --config"
#: ``robustness_seeds.scribble_seeds: paired``: the k-th training seed trains on scribble draw k (0, 1, 2, ...),
#: the seeds whose coverage ``python -m scribcim.report.coverage --scribble-seed 0 1 2`` checks
PAIRED = "paired"


def _fail(where: str, what: str) -> ConfigError:
    return ConfigError(f"workflow config{' ' + where if where else ''}: {what}: {FIX}")


def _list(section: dict[str, Any], key: str, where: str) -> list[Any]:
    value = section[key]
    if not isinstance(value, list) or not value:
        raise _fail(f"{where}.{key}", f"must be a non-empty list, got {value!r}")
    return value


def _keys(obj: Any, known: tuple[str, ...], where: str, required: bool = True) -> None:
    if not isinstance(obj, dict):
        raise _fail(where, f"must be a mapping with keys {list(known)}, got {obj!r}")
    unknown = sorted(set(obj) - set(known))
    if unknown:
        raise _fail(where, f"unknown key(s) {unknown}; known keys: {list(known)}")
    missing = [k for k in known if k not in obj] if required else []
    if missing:
        raise _fail(where, f"missing key(s) {missing}")


def _levels(section: dict[str, Any], where: str) -> list[str]:
    levels = _list(section, "levels", where)
    for lv in levels:
        if not (isinstance(lv, str) and LEVEL.match(lv)):
            raise _fail(f"{where}.levels", f"{lv!r} must be a quoted level with two decimals, e.g. \"0.50\"")
    return levels


def scribble_seeds(section: dict[str, Any], where: str = "robustness_seeds") -> list[int]:
    """The scribble seed of each training seed of a ``robustness_seeds`` section, in its order: ``paired`` gives
    the k-th seed scribble seed k (a new draw per seed), an int gives every seed that one draw."""
    seeds, fixed = _list(section, "seeds", where), section["scribble_seeds"]
    if len(set(seeds)) != len(seeds):
        raise _fail(f"{where}.seeds", f"must not repeat a seed, got {seeds!r}")
    if fixed == PAIRED:
        return list(range(len(seeds)))
    if isinstance(fixed, bool) or not isinstance(fixed, int) or fixed < 0:
        raise _fail(f"{where}.scribble_seeds", f"must be {PAIRED!r} or a scribble seed >= 0, got {fixed!r}")
    return [fixed] * len(seeds)


def seed_grid(section: dict[str, Any], where: str = "robustness_seeds") -> list[dict[str, Any]]:
    """The runs of a ``robustness_seeds`` section: per method and seed the expert run (``level`` None) and one
    simulated run per level (``level`` as written, e.g. ``"0.50"``), each with its ``scribble_seed``."""
    if section["base"] == "expert":
        raise _fail(f"{where}.base", "must be a simulated annotator (the expert runs are planned anyway)")
    levels, sseeds = _levels(section, where), scribble_seeds(section, where)
    return [{"method": m, "seed": s, "level": lv, "scribble_seed": ss}
            for m in _list(section, "methods", where) for s, ss in zip(section["seeds"], sseeds)
            for lv in (None, *levels)]


def seed_run_path(section: dict[str, Any], run: dict[str, Any]) -> str:
    """The relative run folder (:func:`scribcim.runs.paths.run_path`) of one run of :func:`seed_grid`."""
    variant = None if run["level"] is None else sim_variant(section["base"], run["level"], run["scribble_seed"])
    return run_path(section["dataset"], section["profile"], run["method"], section["fold"], run["seed"],
                    variant).as_posix()


def ablation_run(section: dict[str, Any], name: str, seed: int) -> dict[str, Any]:
    """The TrainConfig fields of one run of an ``ablation`` section: ``cim`` with the named ablation's overrides
    (:data:`scribcim.config.ablations.ABLATIONS`; not ``cim`` or ``pce``: runs of their own, sections grid and
    paper_tables)."""
    if name in ("cim", "pce"):
        raise _fail("ablation.ablations", f"{name!r} is a method's own run (sections grid and paper_tables), "
                                          "not an ablation")
    return dict(profile=section["profile"], dataset=section["dataset"], method="cim", fold=section["fold"],
                seed=seed, **ABLATIONS[check_names([name])[0]])


def _block_runs(section: dict[str, Any], where: str, per_block: str) -> list[dict[str, Any]]:
    """Every method at every seed of each block of ``section["runs"]``; ``per_block`` is the key a block names
    itself (``profile`` or ``dataset``), the section gives the other one and the fold."""
    other = "dataset" if per_block == "profile" else "profile"
    out = []
    for i, block in enumerate(_list(section, "runs", where)):
        _keys(block, (per_block, "methods", "seeds"), f"{where}.runs[{i}]")
        out += [{per_block: block[per_block], other: section[other], "method": m, "fold": section["fold"], "seed": s}
                for m in _list(block, "methods", f"{where}.runs[{i}]") for s in _list(block, "seeds", f"{where}.runs[{i}]")]
    return out


def budget_runs(section: dict[str, Any], where: str = "budget") -> list[dict[str, Any]]:
    """The runs of a ``budget`` section: per block (profile, methods, seeds) every method at every seed."""
    return _block_runs(section, where, "profile")


def grid_runs(section: dict[str, Any], where: str = "grid") -> list[dict[str, Any]]:
    """The runs of a section shaped as ``grid`` (profile, fold, runs: blocks of dataset, methods, seeds)."""
    return _block_runs(section, where, "dataset")


def planned_runs(config: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(section, TrainConfig fields) of every run the config can plan (before the paths and device)."""
    main, rob, sel, grid, rs, abl, budget, tables = (config[s] for s in SECTIONS)
    for d in _list(main, "datasets", "main"):
        for m in _list(main, "methods", "main"):
            for f in _list(main, "folds", "main"):
                for s in _list(main, "seeds", "main"):
                    yield "main", dict(profile=main["profile"], dataset=d, method=m, fold=f, seed=s)
    levels = _levels(rob, "robustness")
    for m in _list(rob, "methods", "robustness"):
        run = dict(profile=rob["profile"], dataset=rob["dataset"], method=m, fold=rob["fold"], seed=rob["seed"])
        yield "robustness", run
        for lv in levels:
            yield "robustness", dict(run, scribbles=rob["base"], inconsistency=float(lv),
                                     scribble_seed=rob["scribble_seed"])
    for p in _list(sel, "profiles", "selection"):
        for m in _list(sel, "methods", "selection"):
            for s in _list(sel, "seeds", "selection"):
                yield "selection", dict(profile=p, dataset=sel["dataset"], method=m, fold=sel["fold"], seed=s)
    for name, section in (("grid", grid), ("paper_tables", tables)):
        for run in grid_runs(section, name):
            yield name, run
    for a in check_names(_list(abl, "ablations", "ablation")):
        for s in _list(abl, "seeds", "ablation"):
            yield "ablation", ablation_run(abl, a, s)
    for run in budget_runs(budget):
        yield "budget", run
    for r in seed_grid(rs):
        run = dict(profile=rs["profile"], dataset=rs["dataset"], method=r["method"], fold=rs["fold"], seed=r["seed"])
        yield "robustness_seeds", run if r["level"] is None else dict(
            run, scribbles=rs["base"], inconsistency=float(r["level"]), scribble_seed=r["scribble_seed"])


def check_workflow_config(config: dict[str, Any]) -> int:
    """Raise :class:`ConfigError` for a config the workflow cannot run (see the module docstring);
    return the number of runs checked."""
    _keys(config, TOP_KEYS, "")
    for key in PATHS:
        if config[key] is not None and not isinstance(config[key], str):
            raise _fail(key, f"must be a path (or null), got {config[key]!r}")
    check_device_name(config["device"], "workflow config device")
    for name in SECTIONS:
        _keys(config[name], SECTIONS[name], name)
    overrides = config["overrides"] if config["overrides"] is not None else {}
    _keys(overrides, tuple(f.name for f in fields(TrainConfig)), "overrides", required=False)
    fixed = sorted(set(overrides) & set(PER_JOB))
    if fixed:
        raise _fail("overrides", f"{fixed} are set per job by the workflow (its sections, paths and device), "
                                 "not by overrides")
    n = 0
    for section, run in planned_runs(config):
        try:
            fields_ = {k: v for k, v in run.items() if k != "profile"}
            make_config(run["profile"], **{**overrides, **fields_, "device": config["device"]})
        except ConfigError as exc:
            raise _fail(section, str(exc)) from None
        n += 1
    return n
