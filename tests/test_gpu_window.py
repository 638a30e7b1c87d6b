"""The prepared GPU window script, dry-run on the CPU at a tiny size (what a window will do, step by step)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_window_script_dry_run(tmp_path):
    """DRY=1: tests, bench JSON with its ratios, and a packed grid of 4 runs with summaries and slices/s."""
    env = {**os.environ, "DRY": "1", "PY": sys.executable, "OUT": str(tmp_path / "bench"),
           "RUNS_ROOT": str(tmp_path / "runs"), "RESULTS_ROOT": str(tmp_path / "results"), "GRID_SECONDS": "600"}
    proc = subprocess.run(["bash", "workflow/gpu_window.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    bench = [p for p in (tmp_path / "bench").glob("cpu_*.json") if "packed" not in p.name]
    assert len(bench) == 1 and "ratios" in json.loads(bench[0].read_text())
    packed = json.loads(next((tmp_path / "bench").glob("cpu_packed_*.json")).read_text())
    assert packed["runs"] == 4 and packed["slices_per_s"] > 0
    assert all(r["ok"] and r["iterations_after"] == 4 for r in packed["per_run"])
    summaries = sorted((tmp_path / "results").rglob("summary.json"))
    assert len(summaries) == 4
    # a second window resumes: nothing left to train, the same summaries
    again = subprocess.run(["bash", "workflow/gpu_window.sh"], cwd=REPO, env={**env, "STEP": "grid"},
                           capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    reports = sorted((tmp_path / "bench").glob("cpu_packed_*.json"))
    last = json.loads(reports[-1].read_text())
    assert all(r["iterations_before"] == 4 for r in last["per_run"])
