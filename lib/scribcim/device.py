"""Checking a ``--device`` before anything is loaded onto it or written for it."""
from __future__ import annotations

import re

from .errors import ConfigError

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")


def check_device_name(device: str, flag: str = "--device") -> None:
    """Raise :class:`ConfigError` unless ``device`` is ``cpu``, ``cuda`` or ``cuda:N``."""
    if not isinstance(device, str) or not _DEVICE.match(device):
        raise ConfigError(f"{flag} must be cpu, cuda or cuda:N, got {device!r}")


def check_device(device: str, flag: str = "--device") -> None:
    """Raise :class:`ConfigError` for a malformed device or a CUDA device this machine does not have."""
    check_device_name(device, flag)
    if device == "cpu":
        return
    import torch
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        raise ConfigError(f"{flag} {device}: no CUDA GPU is available here (torch {torch.__version__}, {build}): "
                          f"use {flag} cpu, or run on a machine with a GPU and a CUDA build of torch")
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise ConfigError(f"{flag} {device}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                          f"(cuda:0..cuda:{torch.cuda.device_count() - 1}): choose one of them")
