"""Reading a trained run back: its resolved config, what it saw, its network with a checkpoint's weights, and
its median test case."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..config import SEEN_SETTINGS, TrainConfig
from ..errors import ConfigError
from ..training.methods import get_method
from .info import read_json_file, read_run_info
from .log import eval_weights, load_checkpoint


def load_run_config(run_dir: Path) -> TrainConfig:
    """The resolved config stored in a run folder."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise ConfigError(f"{path} not found (from {Path.cwd()}): {run_dir} is not a scribcim run folder; "
                          "train one (`make reproduce`, `scribcim train ...`) or pass a folder `scribcim train` wrote")
    stored = read_json_file(path, "run config", "copy the run folder again from where it was trained")
    if not isinstance(stored, dict):
        raise ConfigError(f"{path} holds a {type(stored).__name__}, not a config: copy the run folder again")
    try:
        return TrainConfig.from_dict(stored)
    except (ConfigError, TypeError) as exc:
        raise ConfigError(f"{path}: {exc}: it was written by another scribcim version; use that one, "
                          "or retrain") from None


def load_model(run_dir: Path, checkpoint: str = "best", device: str = "cpu") -> tuple[torch.nn.Module, dict]:
    """The run's network with the weights and reference-set buffers of ``checkpoint``, in eval mode
    (the weight average when the run kept one, see :mod:`scribcim.training.ema`)."""
    from ..device import check_device
    check_device(device)
    config = load_run_config(run_dir)
    model = get_method(config.method)(config).build_model()
    ckpt = load_checkpoint(Path(run_dir) / "checkpoints" / f"{checkpoint}.pt", device)
    model.load_state_dict(eval_weights(ckpt))
    return model.to(device).eval(), ckpt


def run_meta(run_dir: Path | str) -> dict[str, Any]:
    """What the run saw (:data:`scribcim.config.SEEN_SETTINGS`: data, split, batches, banks), its class names and
    normalisation: what the matching views need to redraw its batches."""
    config = load_run_config(Path(run_dir))
    info = read_run_info(Path(run_dir), config)
    return {**{k: getattr(config, k) for k in SEEN_SETTINGS}, **{k: info[k] for k in ("class_names", "normalisation")}}


def median_case(run_dir: Path | str, checkpoint: str = "best") -> str:
    """The test case with the median foreground Dice in ``run_dir/summary.json`` (lower median)."""
    path = Path(run_dir) / "summary.json"
    cases = (json.loads(path.read_text()) if path.is_file() else {}).get("checkpoints", {}).get(checkpoint, {})
    cases = cases.get("cases") or []
    ranked = sorted((c for c in cases if c["foreground_mean"]["dice"] is not None),
                    key=lambda c: (c["foreground_mean"]["dice"], c["case"]))
    if not ranked:
        raise ConfigError(f"{path} holds no scored cases of checkpoint {checkpoint!r}: run `scribcim evaluate "
                          f"--run {run_dir}` first, or name a case")
    return ranked[(len(ranked) - 1) // 2]["case"]
