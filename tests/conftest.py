"""Shared fixtures: the real data root (when SCRIBCIM_DATA is set) and small phantom configs."""
from __future__ import annotations

import os
from pathlib import Path

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
def phantom_cim_run(tmp_path_factory) -> Path:
    """A 4-iteration phantom cim run (no data folder needed) whose small banks (8 entries per class) are fully
    written, evaluated on its test cases: what the explorer and matching notebooks need."""
    from scribcim.config import make_config
    from scribcim.evaluate.summary import evaluate
    from scribcim.train import train
    d = tmp_path_factory.mktemp("matching") / "run"
    train(make_config("smoke", dataset="phantom", method="cim", run_dir=str(d), progress=False, num_threads=1,
                      bank_size=8))
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
