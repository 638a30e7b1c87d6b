"""Provenance: what a result was made from (commit, parameters, data, device, versions)."""
from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata as md
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

PACKAGES = ("scribcim", "torch", "numpy", "scipy", "h5py", "medpy", "tqdm")


def git_state(cwd: Path | None = None) -> dict[str, Any]:
    """Commit hash and whether the work tree has uncommitted changes (None outside git)."""
    def run(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                                  timeout=10, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None
    commit = run("rev-parse", "HEAD")
    status = run("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def repo_relative(path: Path | str) -> str:
    """``path`` relative to the root of the git work tree holding it, else absolute."""
    path = Path(path).resolve()
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=path if path.is_dir() else path.parent,
                             capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        return str(path.relative_to(Path(top).resolve()))
    except (OSError, subprocess.SubprocessError, ValueError):
        return str(path)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "not installed"
    return out


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what ``platform`` says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


#: CPU flags (``/proc/cpuinfo``) of native bfloat16 arithmetic: AVX-512 BF16 dot products, AMX tiles
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags() -> set[str]:
    """The CPU's feature flags (``/proc/cpuinfo`` on Linux; empty elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_bf16(flags: set[str] | None = None) -> dict[str, Any]:
    """Whether the CPU computes bfloat16 natively (``native_bf16``: AVX-512 BF16 or AMX-BF16), the flags that
    say so, and torch's CPU kernel level. Without native support bf16 autocast still runs, emulated and slower."""
    flags = cpu_flags() if flags is None else flags
    found = [f for f in BF16_FLAGS if f in flags]
    return {"native_bf16": bool(found), "bf16_flags": found, "amx": "amx_tile" in flags,
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def device_info(device: str) -> dict[str, Any]:
    """Where a run ran: device, CPU model and cores, whether it has native bf16, torch's thread counts (results
    depend on all of them)."""
    dev = torch.device(device)
    info: dict[str, Any] = {"device": str(dev), "platform": platform.platform(),
                            "processor": platform.processor() or platform.machine(),
                            "cpu_model": cpu_model(), "cpu_count": os.cpu_count(), **cpu_bf16(),
                            "torch_threads": torch.get_num_threads(),
                            "torch_interop_threads": torch.get_num_interop_threads()}
    if dev.type == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(dev)
    return info


def data_checksums(dataset: str) -> dict[str, Any]:
    """Digest of the packaged manifest the data was verified against (None for synthetic data)."""
    if dataset == "phantom":
        return {"dataset": dataset, "manifest_sha256": None, "note": "synthetic phantom"}
    from .data.fetch import load_manifest
    manifest = load_manifest(dataset)
    text = "".join(f"{h}  {p}\n" for p, h in sorted(manifest.items()))
    return {"dataset": dataset, "files": len(manifest),
            "manifest_sha256": hashlib.sha256(text.encode()).hexdigest(), "verified": True}


def provenance(config: dict[str, Any], *, device: str, dataset: str, repo: Path | None = None) -> dict[str, Any]:
    """The provenance block written next to every run and summary."""
    return {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git": git_state(repo),
        "command": " ".join(sys.argv),
        "config": config,
        "data": data_checksums(dataset),
        "device": device_info(device),
        "versions": versions(),
    }
