"""Run-folder bookkeeping: config and provenance files, JSON-lines metrics, TensorBoard, checkpoints."""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError

log = logging.getLogger(__name__)
CHECKPOINT_FORMAT = 1
# Fields that may differ between an interrupted run and its resumption.
RESUME_FREE = {"resume", "progress", "stop_after", "device", "num_threads", "data_root"}
#: provenance fields that change on every rerun (when, at which commit, by which command), not with the content
VOLATILE = ("created", "git", "command")


def _clean(o: Any) -> Any:
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (temporary file, then rename); NaN becomes null."""
    write_text(path, json.dumps(_clean(obj), indent=2, sort_keys=False) + "\n")


def write_text(path: Path, text: str) -> None:
    """Write text atomically (temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_text_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` unless ``path`` already holds it; True if written."""
    path = Path(path)
    if path.is_file() and path.read_text() == text:
        return False
    write_text(path, text)
    return True


def write_csv_record(out: Path, csv_text: str, markdown: str, record: Any) -> None:
    """A measured table as three files: ``out`` (CSV), ``out`` with ``.md`` (its summary) and ``.json`` (record)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, csv_text)
    write_text(out.with_suffix(".md"), markdown)
    write_json(out.with_suffix(".json"), record)


def _stable(obj: Any) -> Any:
    """``obj`` without the :data:`VOLATILE` keys, at the top and in a ``provenance`` block."""
    if not isinstance(obj, dict):
        return obj
    out = {k: v for k, v in obj.items() if k not in VOLATILE}
    if isinstance(out.get("provenance"), dict):
        out["provenance"] = {k: v for k, v in out["provenance"].items() if k not in VOLATILE}
    return out


def write_json_if_changed(path: Path, obj: Any) -> bool:
    """:func:`write_json` unless ``path`` holds the same content apart from :data:`VOLATILE` fields (so a rerun
    that changes nothing leaves a tracked provenance file, and the commit it names, alone); True if written."""
    path = Path(path)
    try:
        same = path.is_file() and _stable(json.loads(path.read_text())) == _stable(json.loads(json.dumps(_clean(obj))))
    except json.JSONDecodeError:
        same = False
    if not same:
        write_json(path, obj)
    return not same


def check_run_dir(run_dir: Path, config: dict[str, Any]) -> None:
    """Refuse to mix runs: an existing run folder must hold the same config (bar RESUME_FREE)."""
    path = run_dir / "config.json"
    if not path.is_file():
        return
    from ..config import TrainConfig, with_legacy
    # a field added after the run was made counts as the value the run effectively had: its legacy
    # value where it has one, else its default
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)
                if f.default is not dataclasses.MISSING}
    old = {**defaults, **with_legacy(json.loads(path.read_text()))}
    diff = sorted(k for k in set(old) | set(config)
                  if k not in RESUME_FREE and old.get(k) != config.get(k))
    if diff:
        raise ConfigError(f"{path} was written with a different config ({', '.join(diff)}): "
                          "choose another --run-dir or delete that folder")


class MetricsLog:
    """Appends one JSON line per record to ``metrics.jsonl`` and mirrors scalars to TensorBoard."""

    def __init__(self, run_dir: Path, *, tensorboard: bool = True) -> None:
        self.path = run_dir / "metrics.jsonl"
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.writer = SummaryWriter(str(run_dir / "tb"))
            except ImportError:  # tensorboard is optional at run time
                log.warning("tensorboard not installed: no TensorBoard scalars")

    def write(self, step: int, **scalars: float) -> None:
        rec = {"iteration": step, **{k: float(v) for k, v in scalars.items()}}
        with self.path.open("a") as fh:
            fh.write(json.dumps(rec) + "\n")
        if self.writer is not None:
            for k, v in scalars.items():
                self.writer.add_scalar(k, float(v), step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def save_checkpoint(path: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
                    iteration: int, state: dict[str, Any], ema: torch.nn.Module | None = None) -> None:
    """Save model (buffers included), its weight average (``ema``, if any), optimizer and loop state atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": CHECKPOINT_FORMAT, "iteration": iteration, "model": model.state_dict(),
                "ema": ema.state_dict() if ema is not None else None,
                "optimizer": optimizer.state_dict() if optimizer is not None else None,
                "state": state, "torch_rng": torch.get_rng_state()}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (clear error for other formats).

    A file that fails to load on ``map_location`` but loads on the CPU is healthy: the error names
    the device, not the file. Only a file that the CPU cannot read either is called corrupt.
    """
    if not path.is_file():
        raise ConfigError(f"no checkpoint at {path}: train the run first (`scribcim train`), or pass the run "
                          "folder that holds checkpoints/ (--run)")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:
        if str(map_location) != "cpu":
            try:
                torch.load(path, map_location="cpu", weights_only=False)
            except Exception:
                pass
            else:
                raise ConfigError(f"checkpoint {path} is fine but cannot be loaded onto {map_location} "
                                  f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}): "
                                  "choose another --device (e.g. cpu)") from None
        raise ConfigError(f"cannot read checkpoint {path} ({type(exc).__name__}): the file is corrupt or "
                          "truncated; copy it again from where the run was trained, or retrain "
                          "(a run's latest.pt: delete it and resume from an earlier copy)") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"{path} is not a scribcim checkpoint of format {CHECKPOINT_FORMAT}: "
                          "retrain with this version")
    return ckpt


def eval_weights(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights a checkpoint is validated and scored with: the weight average if the run kept one."""
    return ckpt.get("ema") or ckpt["model"]
