"""A seed names one run: bit-for-bit repeats, any memory format; exact resume after a signal; weight average."""
from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from scribcim.config import make_config
from scribcim.training.ema import WeightEMA
from scribcim.runs.paths import run_dir_for
from scribcim.training.loop import train


def _records(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _losses(run_dir) -> dict[int, float]:
    return {r["iteration"]: r["loss"] for r in _records(run_dir) if "loss" in r}


def _weights(run_dir, name="last"):
    return torch.load(run_dir / "checkpoints" / f"{name}.pt", weights_only=False)


def _cfg(tmp_path, name, **kw):
    base = dict(dataset="phantom", method="cim", progress=False, num_threads=1, max_iterations=6, val_every=3,
                checkpoint_every=3, log_every=1, ema_decay=0.9, run_dir=str(tmp_path / name))
    return make_config("smoke", **{**base, **kw})


@pytest.mark.parametrize("method", ["cim", "dmpls"])
def test_same_seed_and_threads_repeat_bit_for_bit(tmp_path, method):
    """Two runs, one seed, one thread: identical losses, weights, weight average and reference set."""
    a = train(_cfg(tmp_path, "a", method=method))
    b = train(_cfg(tmp_path, "b", method=method))
    assert _losses(a.run_dir) == _losses(b.run_dir)
    wa, wb = _weights(a.run_dir), _weights(b.run_dir)
    for part in ("model", "ema"):
        assert wa[part].keys() == wb[part].keys()
        assert all(torch.equal(wa[part][k], wb[part][k]) for k in wa[part]), part
    c = train(_cfg(tmp_path, "c", method=method, seed=7))
    assert _losses(c.run_dir) != _losses(a.run_dir)


def test_memory_format_does_not_change_the_run(tmp_path):
    """channels_last or not: the same initial weights, batches and dropout masks, so the first losses agree
    up to conv rounding (with nn.Dropout's memory-order masks they differed from the first step). Later
    steps drift apart as rounding differences grow, which is why a seed is tied to one memory format."""
    a = _losses(train(_cfg(tmp_path, "a", channels_last=False)).run_dir)
    b = _losses(train(_cfg(tmp_path, "b", channels_last=True)).run_dir)
    assert a.keys() == b.keys()
    assert abs(a[1] - b[1]) < 1e-5 and abs(a[2] - b[2]) < 1e-3


def test_signal_mid_step_stops_at_the_boundary_and_resumes_exactly(tmp_path, monkeypatch):
    """SIGINT inside iteration 3's forward pass (after CIM's reference set moved) ends the run after
    iteration 3 with a consistent checkpoint: the resumed run's losses and weights equal the uninterrupted run's."""
    full = train(_cfg(tmp_path, "full"))
    import scribcim.training.methods as methods
    real = methods.CIMMethod.forward
    calls = {"n": 0}

    def forward_then_signal(self, model, batch):
        out = real(self, model, batch)
        calls["n"] += 1
        if calls["n"] == 3:  # the reference set has already been updated by this forward pass
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(methods.CIMMethod, "forward", forward_then_signal)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tmp_path, "cut"))
    cut = tmp_path / "cut"
    assert _weights(cut, "latest")["iteration"] == 3
    monkeypatch.setattr(methods.CIMMethod, "forward", real)
    train(_cfg(tmp_path, "cut", resume=True))
    a, b = _losses(full.run_dir), _losses(cut)
    assert a == b
    wa, wb = _weights(full.run_dir), _weights(cut)
    for part in ("model", "ema"):
        assert all(torch.equal(wa[part][k], wb[part][k]) for k in wa[part]), part


def test_sigterm_is_handled_like_sigint(tmp_path, monkeypatch):
    """SIGTERM (a scheduler's stop) also ends the run at a step boundary with latest.pt saved."""
    import scribcim.training.methods as methods
    real = methods.CIMMethod.forward
    calls = {"n": 0}

    def forward_then_term(self, model, batch):
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(self, model, batch)

    monkeypatch.setattr(methods.CIMMethod, "forward", forward_then_term)
    cfg = _cfg(tmp_path, "t")
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    assert _weights(run_dir_for(cfg), "latest")["iteration"] == 2
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_weight_average_is_what_validation_and_checkpoints_use(tmp_path):
    """With ema_decay the checkpoints hold the average beside the live weights, and they differ."""
    res = train(_cfg(tmp_path, "e"))
    ck = _weights(res.run_dir, "best")
    assert ck["ema"] is not None
    assert any(not torch.equal(ck["ema"][k], ck["model"][k]) for k in ck["model"] if "weight" in k)
    # buffers (BatchNorm statistics, CIM's reference set) are the live model's, not averaged
    assert torch.equal(ck["ema"]["bank_keys"], ck["model"]["bank_keys"])
    plain = train(_cfg(tmp_path, "p", ema_decay=0.0))
    assert _weights(plain.run_dir)["ema"] is None


def test_weight_average_warms_up():
    """Early steps average with a smaller decay, so the initial weights fade quickly."""
    net = torch.nn.Linear(2, 2)
    ema = WeightEMA(net, 0.99)
    assert ema.decay_at(1) == pytest.approx(2 / 11) and ema.decay_at(10_000) == 0.99
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net, step=1)
    assert torch.allclose(ema.model.weight, net.weight - 2 / 11)
    with pytest.raises(ValueError):
        WeightEMA(net, 1.0)


def test_provenance_names_cpu_model_and_threads(tmp_path):
    res = train(_cfg(tmp_path, "p", method="pce", max_iterations=1))
    dev = json.loads((res.run_dir / "provenance.json").read_text())["device"]
    assert dev["cpu_model"] and dev["cpu_count"] >= 1 and dev["torch_threads"] == 1
