"""Reading a trained run back: its resolved config and its network with a checkpoint's weights."""
from __future__ import annotations

from pathlib import Path

import torch

from ..config import TrainConfig
from ..methods import get_method
from .log import eval_weights, load_checkpoint


def load_run_config(run_dir: Path) -> TrainConfig:
    """The resolved config stored in a run folder."""
    from ..errors import ConfigError
    from .info import read_json_file
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
    (the weight average when the run kept one, see :mod:`scribcim.ema`)."""
    from ..device import check_device
    check_device(device)
    config = load_run_config(run_dir)
    model = get_method(config.method)(config).build_model()
    ckpt = load_checkpoint(Path(run_dir) / "checkpoints" / f"{checkpoint}.pt", device)
    model.load_state_dict(eval_weights(ckpt))
    return model.to(device).eval(), ckpt
