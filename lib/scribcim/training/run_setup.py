"""Everything before a run's first iteration: every check first, then the run folder, then the data.

:func:`check_run` and :func:`prepare_run` refuse a bad config, an unavailable device, a run folder holding another run
and a missing data root before it creates anything, and removes a run folder it created itself
if loading the data then fails: a call that fails leaves no folder behind.
"""
from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..runs.paths import data_root_for, run_dir_for
from ..data import load_part, split_for
from ..data.slices import SliceSet
from ..data.splits import Split
from ..data.volumes import Volume
from ..device import check_device
from ..errors import ConfigError
from ..runs.info import make_run_info, read_run_info
from ..data.normalise import normalise_volumes
from ..provenance import provenance
from ..runs.log import check_run_dir, write_json

log = logging.getLogger(__name__)


def training_volumes(config: TrainConfig, volumes: list[Volume], run_dir: Path | None) -> list[Volume]:
    """The training volumes with the scribbles the config asks for (expert, or simulated from dense labels).

    Simulated sets are written down in ``run_dir/scribbles.json`` (which annotator drew each case), if given.
    """
    from ..data.scribbles import assign_annotators, training_scribbles
    if config.scribbles == "expert":
        return volumes
    if any(v.label is None for v in volumes):
        raise ConfigError(f"--scribbles {config.scribbles}: {config.dataset} has no dense training labels to "
                          "simulate scribbles from; use --scribbles expert")
    who = assign_annotators([v.case for v in volumes], config.scribbles, config.inconsistency,
                            seed=config.scribble_seed)
    if run_dir is not None:
        write_json(run_dir / "scribbles.json", {"base": config.scribbles, "inconsistency": config.inconsistency,
                                                "seed": config.scribble_seed,
                                                "annotators": {c: a.name for c, a in sorted(who.items())}})
    return training_scribbles(volumes, config.scribbles, config.inconsistency, seed=config.scribble_seed)


def load_training(config: TrainConfig, root: Path | None, split: Split, run_dir: Path | None,
                  run_info: dict | None = None) -> tuple[dict, SliceSet]:
    """(run info, normalised training slices) of a run: ``run_info`` as given, else made from its training
    volumes. ``run_dir`` receives ``scribbles.json`` for simulated scribbles (None: nothing is written)."""
    volumes = training_volumes(config, load_part(config.dataset, root, split, "train"), run_dir)
    run_info = run_info or make_run_info(config, volumes)
    return run_info, SliceSet.from_volumes(normalise_volumes(volumes, run_info["normalisation"]))


@dataclass
class RunSetup:
    """A run folder ready for the loop: its split, ``run_info.json`` and normalised data."""

    run_dir: Path
    split: Split
    run_info: dict[str, Any]
    slices: SliceSet
    val_volumes: list[Volume]


def check_run(config: TrainConfig) -> Path:
    """Every check that needs no data: the config, the device, the run folder. Returns the run folder."""
    config.validate()
    check_device(config.device)
    run_dir = run_dir_for(config)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"run folder {run_dir} is a file: choose another --run-dir")
    check_run_dir(run_dir, config.to_dict())
    if (run_dir / "checkpoints" / "latest.pt").exists() and not config.resume:
        raise ConfigError(f"{run_dir} already holds a run: pass --resume to continue it, "
                          "or choose another --run-dir")
    return run_dir


def prepare_run(config: TrainConfig, run_dir: Path | None = None) -> RunSetup:
    """Write the run folder's records and load the data, after :func:`check_run` (run here unless its
    ``run_dir`` is passed); see the module docstring."""
    run_dir = check_run(config) if run_dir is None else run_dir
    root = data_root_for(config)
    split = split_for(config.dataset, config.fold, config.val_patients)
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _setup(config, run_dir, root, split)
    except BaseException:
        if created:  # nothing trained yet: leave no half-made run folder behind
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _setup(config: TrainConfig, run_dir: Path, root: Path | None, split: Split) -> RunSetup:
    cfg_dict = config.to_dict()
    resuming = (run_dir / "checkpoints" / "latest.pt").exists()
    write_json(run_dir / "config.json", cfg_dict)
    write_json(run_dir / "split.json", {"fold": split.fold, "train": split.train, "val": split.val,
                                        "test": split.test})
    prov = provenance(cfg_dict, device=config.device, dataset=config.dataset)
    if resuming:  # keep the original provenance, log this session beside it
        with (run_dir / "resumes.jsonl").open("a") as fh:
            fh.write(json.dumps(prov) + "\n")
    else:
        write_json(run_dir / "provenance.json", prov)
    # what `predict` needs besides config.json and the checkpoints (with the training slices' scale);
    # a resumed run keeps its own
    run_info, slices = load_training(config, root, split, run_dir,
                                     read_run_info(run_dir, config) if resuming else None)
    write_json(run_dir / "run_info.json", run_info)
    norm = run_info["normalisation"]  # identity on the ACDC HDF5 images (see scribcim.data.normalise)
    from .methods import get_method
    if get_method(config.method).needs_dense_labels and not slices.dense_labels:
        raise ConfigError(f"method {config.method!r} needs dense training labels, which {config.dataset} "
                          "does not have: choose a scribble-supervised method")
    val_volumes = normalise_volumes(load_part(config.dataset, root, split, "val"), norm)
    return RunSetup(run_dir, split, run_info, slices, val_volumes)
