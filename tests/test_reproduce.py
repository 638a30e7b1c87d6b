"""The main job end to end on the phantom: results, table, timing and figures with provenance, all in its own
folder (``reproduced/``), and its numbers beside the committed runs."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from scribcim.evaluate.metrics import CLASS_NAMES
from scribcim.jobs.reproduce import reproduce
from scribcim.report.reproduced import compare_run, format_comparisons, verdict
from scribcim.viz.common import plot_overlays

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_reproduce_writes_results_and_figures(tmp_path, monkeypatch, capsys):
    """reproduce() trains both methods, writes summaries, the table, timings and two figures under reproduced/."""
    monkeypatch.chdir(tmp_path)
    summaries = reproduce(dataset="phantom", profile="smoke", progress=False, num_threads=1)
    assert [s["method"] for s in summaries] == ["pce", "cim"]
    out = tmp_path / "reproduced"
    for m in ("pce", "cim"):
        s = json.loads((out / f"results/phantom/smoke/{m}/fold1/seed2022/summary.json").read_text())
        assert s["method"] == m and "provenance" in s
        assert Path(s["run_dir"]).resolve() == (out / f"runs/phantom/smoke/{m}/fold1/seed2022").resolve()
    table = (out / "results/phantom/smoke/fold1_table.md").read_text()
    assert "| pce | best |" in table and "| cim | last |" in table
    printed = capsys.readouterr().out
    assert "Dice mean" in printed and "no committed runs of this method" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reproduced"]
    for fig in ("curves", "overlays"):
        png = out / f"figures/phantom_smoke_fold1_{fig}.png"
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
        timing = json.loads(Path("reproduced/results/phantom/smoke/fold1_timing.json").read_text())
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


def toy_summary(method: str, seed: int, dice: float, post: float | None = None, cpu: str = "CPU A") -> dict:
    """A summary with two test cases whose foreground-mean Dice average ``dice`` (post-processed: ``post``)."""
    def cases(d: float) -> list[dict]:
        return [{"case": f"p{i}", "foreground_mean": {"dice": v},
                 "classes": {c: {"dice": v, "empty_pred": False, "empty_gt": False} for c in CLASS_NAMES}}
                for i, v in enumerate((d - 0.01, d + 0.01))]
    best = {"iteration": 4, "cases": cases(dice)}
    if post is not None:
        best["postprocessed"] = {"cases": cases(post)}
    return {"method": method, "dataset": "phantom", "profile": "smoke", "fold": 1, "seed": seed,
            "checkpoints": {"best": best},
            "provenance": {"config": {"scribbles": "expert"}, "device": {"cpu_model": cpu}}}


def test_compare_run_on_toy_summaries():
    """Same-seed value, difference, across-seed sd and range of the committed runs, the CPUs, and the verdict."""
    committed = [toy_summary("cim", 2022, 0.80, 0.84), toy_summary("cim", 2023, 0.82, 0.85),
                 toy_summary("cim", 2024, 0.84, 0.86)]
    rec = compare_run(toy_summary("cim", 2022, 0.83, 0.90, cpu="CPU B"), committed)
    raw, post = rec["rows"]
    assert raw["dice"] == "raw" and post["dice"] == "post-processed"
    assert raw["committed_seed"] == pytest.approx(0.80) and raw["this_run"] == pytest.approx(0.83)
    assert raw["difference"] == pytest.approx(0.03) and raw["sd"] == pytest.approx(0.02)
    assert (raw["min"], raw["max"], raw["runs"]) == (pytest.approx(0.80), pytest.approx(0.84), 3)
    assert raw["outside_by"] == 0 and post["outside_by"] == pytest.approx(0.04)
    assert rec["cpu"] == "CPU B" and rec["cpu_committed_seed"] == "CPU A" and rec["cpu_committed"] == {"CPU A": 3}
    assert rec["same_cpu_model"] is False
    v = verdict(rec)
    assert v.startswith("cim: outside the range of the 3 committed run(s)") and "0.0400 above the highest" in v
    assert "another CPU model" in v
    # equal to the committed run of its seed, on the same CPU model, without post-processed numbers
    again = toy_summary("cim", 2023, 0.82)
    again["provenance"]["device"]["native_bf16"] = True  # recorded by newer runs only
    same = compare_run(again, [toy_summary("cim", 2023, 0.82), *committed[:1]])
    assert [r["dice"] for r in same["rows"]] == ["raw"]
    assert same["cpu"] == "CPU A (native bf16: yes)" and same["same_cpu_model"] is True
    assert verdict(same).startswith("cim: inside") and "equal to the committed seed-2023 run" in verdict(same)
    text = format_comparisons([rec, same], "results/phantom/smoke/<method>/fold1/seed*/summary.json")
    assert "| cim | raw | 0.8000 | 0.8300 | +0.0300 | 0.0200 | 0.8000-0.8400 | 3 |" in text
    assert "A seed names one run per machine" in text
    assert verdict(compare_run(toy_summary("pce", 2022, 0.7), [])).endswith("no committed runs of this method "
                                                                            "and profile to compare with.")


def _tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.relative_to(root).parts}


@pytest.mark.slow
def test_reproduce_leaves_committed_files_alone(tmp_path, monkeypatch, capsys):
    """In a git work tree holding committed results and figures at the very paths the old reproduce wrote,
    a smoke reproduce changes no tracked file and adds nothing outside reproduced/ (ignored by the repository's
    .gitignore), and prints its numbers beside the committed runs."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                              check=True, capture_output=True, text=True).stdout
    git("init", "-q")
    shutil.copyfile(REPO / ".gitignore", tmp_path / ".gitignore")
    for m in ("pce", "cim"):
        for seed, dice in ((2022, 0.5), (2023, 0.6)):
            f = tmp_path / f"results/phantom/smoke/{m}/fold1/seed{seed}/summary.json"
            f.parent.mkdir(parents=True)
            f.write_text(json.dumps(toy_summary(m, seed, dice, dice + 0.05)))
    for name in ("phantom_smoke_fold1_curves.png", "phantom_smoke_fold1_overlays.png"):
        (tmp_path / "figures").mkdir(exist_ok=True)
        (tmp_path / "figures" / name).write_bytes(b"committed figure")
    (tmp_path / "results/phantom/smoke/fold1_table.md").write_text("committed table\n")
    git("add", "-A")
    git("commit", "-q", "-m", "committed evidence")
    before = _tree_hashes(tmp_path)
    monkeypatch.chdir(tmp_path)
    reproduce(dataset="phantom", profile="smoke", progress=False, num_threads=1)
    assert git("status", "--porcelain") == ""
    extra = git("status", "--porcelain", "--ignored", "--untracked-files=all").splitlines()
    assert extra and all(line.startswith("!! reproduced/") for line in extra), extra
    after = _tree_hashes(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("reproduced/")} == before
    assert (tmp_path / "reproduced/results/phantom/smoke/fold1_against_committed.md").is_file()
    printed = capsys.readouterr().out
    assert "| cim | raw | 0.5000 |" in printed and "committed runs: CPU A (2)" in printed
    assert "A seed names one run per machine" in printed
    with pytest.raises(Exception, match="committed files"):
        reproduce(dataset="phantom", profile="smoke", progress=False, num_threads=1, out="results/x")
