"""The main job end to end on the phantom: results, table, timing and figures with provenance."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from scribcim.jobs.reproduce import reproduce
from scribcim.viz.common import plot_overlays


@pytest.mark.slow
def test_reproduce_writes_results_and_figures(tmp_path, monkeypatch, capsys):
    """reproduce() trains both methods, writes summaries, the table, timings and two figures."""
    monkeypatch.chdir(tmp_path)
    summaries = reproduce(dataset="phantom", profile="smoke", progress=False, num_threads=1)
    assert [s["method"] for s in summaries] == ["pce", "cim"]
    for m in ("pce", "cim"):
        s = json.loads((tmp_path / f"results/phantom/smoke/{m}/fold1/seed2022/summary.json").read_text())
        assert s["method"] == m and "provenance" in s
        assert Path(s["run_dir"]).resolve() == (tmp_path / f"runs/phantom/smoke/{m}/fold1/seed2022").resolve()
    table = (tmp_path / "results/phantom/smoke/fold1_table.md").read_text()
    assert "| pce | best |" in table and "| cim | last |" in table
    assert "Dice mean" in capsys.readouterr().out
    for fig in ("curves", "overlays"):
        png = tmp_path / f"figures/phantom_smoke_fold1_{fig}.png"
        assert png.stat().st_size > 5000
        prov = json.loads(png.with_suffix(".json").read_text())
        assert "git" in prov and prov["checkpoint"] == "best"
    # a second call resumes finished runs instead of training again
    again = reproduce(dataset="phantom", profile="smoke", progress=False, num_threads=1)
    assert again[1]["checkpoints"]["last"]["iteration"] == summaries[1]["checkpoints"]["last"]["iteration"]


@pytest.mark.slow
def test_side_by_side_runs_equal_runs_one_after_the_other(tmp_path, monkeypatch):
    """Two one-thread runs in two processes give, case for case, the numbers of the same runs made in turn."""
    got = {}
    for jobs in (1, 2):
        (tmp_path / f"jobs{jobs}").mkdir()
        monkeypatch.chdir(tmp_path / f"jobs{jobs}")
        got[jobs] = reproduce(dataset="phantom", profile="smoke", progress=False, num_threads=1, jobs=jobs)
        timing = json.loads(Path("results/phantom/smoke/fold1_timing.json").read_text())
        assert timing["jobs"] == jobs
    for a, b in zip(got[1], got[2]):
        for ck in ("best", "last"):
            assert [c["foreground_mean"]["dice"] for c in a["checkpoints"][ck]["cases"]] == \
                   [c["foreground_mean"]["dice"] for c in b["checkpoints"][ck]["cases"]]


def test_overlay_panels():
    """An overlay figure has image, scribble, ground truth and one panel per prediction."""
    img = np.zeros((20, 20), np.float32)
    lab = np.zeros((20, 20), np.uint8)
    fig = plot_overlays(img, np.full_like(lab, 4), lab, {"a": lab, "b": lab})
    assert [ax.get_title() for ax in fig.axes] == ["image", "scribble", "ground truth", "a", "b"]


def test_run_dir_recorded_relative_to_repository_root(tmp_path):
    """Inside a git work tree, a run folder is recorded relative to its root (from any cwd)."""
    from scribcim.provenance import repo_relative
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    run = tmp_path / "runs" / "x"
    run.mkdir(parents=True)
    assert repo_relative(run) == "runs/x"
