"""Packed training: runs trained side by side in processes equal the same runs trained alone."""
from __future__ import annotations

import json

import pytest
import torch

from scribcim.config import make_config
from scribcim.errors import ConfigError
from scribcim.training.packed import grid_configs, train_packed
from scribcim.training.loop import train


def _cfg(tmp_path, name, method, seed, **kw):
    return make_config("smoke", dataset="phantom", method=method, seed=seed, progress=False, num_threads=1,
                       max_iterations=4, device_data=True, ema_decay=0.9, run_dir=str(tmp_path / name),
                       results_root=str(tmp_path / "results"), **kw)


def _losses(run_dir):
    return [json.loads(x).get("loss") for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_packed_runs_equal_runs_trained_alone(tmp_path):
    """cim and pce_selfdice (two seeds of cim) in three processes sharing the device slices: the same losses,
    weights, weight average and reference set as each run alone, and a summary each."""
    plan = [("cim", 1), ("cim", 2), ("pce_selfdice", 1)]
    alone = [train(_cfg(tmp_path, f"alone-{m}-{s}", m, s)) for m, s in plan]
    packed = train_packed([_cfg(tmp_path, f"packed-{m}-{s}", m, s) for m, s in plan], parallel=3)
    assert all(r.ok for r in packed), [r.error for r in packed]
    for a, p in zip(alone, packed):
        pdir = tmp_path / p.run_dir.split("/")[-1]
        assert _losses(a.run_dir) == _losses(pdir)
        wa = torch.load(a.run_dir / "checkpoints" / "last.pt", weights_only=False)
        wp = torch.load(pdir / "checkpoints" / "last.pt", weights_only=False)
        for part in ("model", "ema"):
            assert all(torch.equal(wa[part][k], wp[part][k]) for k in wa[part]), (p.run_dir, part)
        assert p.summary and json.loads(open(p.summary).read())["checkpoints"]["best"]["num_cases"] > 0


def test_packed_refuses_runs_that_cannot_share_slices(tmp_path):
    with pytest.raises(ConfigError, match="agree on"):
        train_packed([_cfg(tmp_path, "a", "pce", 1), _cfg(tmp_path, "b", "pce", 1, input_size=32)])


@pytest.mark.slow
def test_a_failing_run_is_reported_and_the_others_finish(tmp_path):
    good = _cfg(tmp_path, "good", "pce", 1)
    bad = _cfg(tmp_path, "bad", "pce", 2)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text(json.dumps({**bad.to_dict(), "lr": 0.5}))  # another run's folder
    out = train_packed([good, bad], parallel=2, evaluate_runs=False)
    assert out[0].ok and not out[1].ok and "different config" in out[1].error


def test_grid_configs_pair_methods_and_seeds():
    cfgs = grid_configs("smoke", ["pce", "cim"], [1, 2], dataset="phantom")
    assert [(c.method, c.seed) for c in cfgs] == [("pce", 1), ("pce", 2), ("cim", 1), ("cim", 2)]
    assert all(c.resume for c in cfgs)
