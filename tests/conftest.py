"""Shared fixtures: the real data root (when SCRIBCIM_DATA is set) and small phantom configs."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def real_root() -> Path:
    """The real data root from SCRIBCIM_DATA; skips the test when unset or lacking ACDC."""
    root = os.environ.get("SCRIBCIM_DATA")
    if not root or not (Path(root) / "ACDC" / "ACDC_training_volumes").is_dir():
        pytest.skip("SCRIBCIM_DATA not set (or has no ACDC/): real-data test skipped")
    return Path(root)


@pytest.fixture(scope="session")
def phantom_run(tmp_path_factory) -> Callable[..., Path]:
    """The one phantom-training factory of the suite: ``phantom_run(method, **overrides)`` trains a smoke-profile
    phantom run once per session for each (method, overrides) and returns a fresh copy of its run folder, so a
    test may evaluate into it or write beside it without disturbing another test."""
    import shutil

    from scribcim.config import make_config
    from scribcim.training.loop import train
    trained: dict[tuple, Path] = {}

    def make(method: str = "cim", **overrides: Any) -> Path:
        key = (method, tuple(sorted(overrides.items())))
        if key not in trained:
            d = tmp_path_factory.mktemp(f"phantom-{method}") / "run"
            train(make_config("smoke", dataset="phantom", method=method, run_dir=str(d), progress=False,
                              num_threads=1, **overrides))
            trained[key] = d
        copy = tmp_path_factory.mktemp(f"phantom-{method}-copy") / "run"
        shutil.copytree(trained[key], copy)
        return copy
    return make


@pytest.fixture(scope="session")
def phantom_cim_run(phantom_run) -> Path:
    """A 4-iteration phantom cim run (no data folder needed) whose small banks (8 entries per class) are fully
    written, evaluated on its test cases: what the explorer and matching notebooks need."""
    from scribcim.evaluate.summary import evaluate
    d = phantom_run("cim", bank_size=8)
    evaluate(d, checkpoints=("best",), progress=False)
    return d


@pytest.fixture
def smoke_overrides(tmp_path: Path) -> dict:
    """Config overrides for a few-iteration phantom run inside tmp_path."""
    return dict(dataset="phantom", run_dir=str(tmp_path / "run"), progress=False, num_threads=1)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny convs are much faster single-threaded on a busy CPU; restore the setting afterwards."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
