"""Tests of scribcim.jobs.bench: a tiny CPU run writes the JSON, and the released-step re-implementation is sound."""
from __future__ import annotations

import copy
import json

import pytest
import torch

from scribcim.jobs.bench import make_trainer
from scribcim.models.released import ReleasedCIM, released_loss
from scribcim.cli import main
from scribcim.training.losses import partial_ce, self_dice
from scribcim.models import CIM, CIMConfig

UNLAB = 4


pytestmark = pytest.mark.usefixtures("one_thread")


def _positive_numbers(block: dict) -> bool:
    return all(isinstance(v, float) and v > 0 for per in block.values() for v in per.values())


def test_cpu_bench_tiny_writes_json(tmp_path, capsys):
    """32x32, batch 2, 2 steps after 1 warm-up: the JSON has every required key with positive numbers."""
    out = tmp_path / "bench" / "cpu.json"
    assert main(["bench", "--device", "cpu", "--mode", "steps", "--size", "32", "--batch", "2", "--steps", "2",
                 "--warmup", "1", "--pipeline-batches", "2", "--out", str(out)]) == 0
    assert "cim_over_released" in capsys.readouterr().out
    r = json.loads(out.read_text())
    for key in ("device", "torch", "command", "git", "versions", "settings", "medians_ms", "timings", "pipeline",
                "ratios", "syncs_per_step"):
        assert key in r, key
    assert r["torch"] == torch.__version__ and r["device"]["device"] == "cpu"
    assert set(r["medians_ms"]) == {"plain", "released", "cim"}
    assert _positive_numbers(r["medians_ms"])
    assert set(r["ratios"]) == {"cim_over_released", "cim_over_plain", "pipeline_over_step"}
    assert _positive_numbers(r["ratios"]) and set(r["ratios"]["cim_over_plain"]) == {"2"}
    assert r["pipeline"]["2"]["slices_per_s"] > 0
    assert r["timings"]["cim"]["2"]["steps"] == 2 and r["timings"]["cim"]["2"]["warmup"] == 1
    assert r["syncs_per_step"]["released"]["2"] is None  # counted on CUDA only


def test_cpu_precision_bench_prints_fp32_and_bf16_side_by_side(tmp_path, capsys):
    """The CPU default: fp32 and bf16 steps of each method as the profile trains them, their ratio, the CPU's bf16."""
    out = tmp_path / "precision.json"
    assert main(["bench", "--device", "cpu", "--profile", "smoke", "--methods", "pce", "cim", "--steps", "2",
                 "--warmup", "1", "--repeats", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "native bf16: " in text and "bf16/fp32" in text and f"wrote {out}" in text
    r = json.loads(out.read_text())
    assert set(r["step_ms"]) == {"pce", "cim"} and all(len(v) == 2 for per in r["step_ms"].values()
                                                        for v in per.values())
    assert _positive_numbers(r["median_ms"]) and all(v > 0 for v in r["bf16_over_fp32"].values())
    for m in ("pce", "cim"):
        assert r["bf16_over_fp32"][m] == pytest.approx(r["median_ms"][m]["bf16"] / r["median_ms"][m]["fp32"])
        assert f"  {m} " in text
    assert isinstance(r["cpu_bf16"]["native_bf16"], bool) and r["device"]["native_bf16"] == r["cpu_bf16"]["native_bf16"]
    assert r["settings"]["input_size"] == 64 and r["settings"]["data"].startswith("phantom")
    assert main(["bench", "--device", "cuda", "--mode", "precision"]) == 2  # a CPU comparison only


def test_released_loss_is_pce_plus_half_self_dice():
    """The released per-class Dice loop computes the same loss as our pCE + 0.5 self-Dice (up to rounding)."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 32, 32, generator=g)
    scribble = torch.randint(0, 5, (3, 32, 32), generator=g)
    loss, per_class = released_loss(logits, scribble)
    ours = partial_ce(logits, scribble) + 0.5 * self_dice(logits)
    assert torch.allclose(loss, ours, rtol=1e-6, atol=1e-7)
    assert len(per_class) == 4 and all(0.0 <= d <= 1.0 for d in per_class)


def _dense_scribble(b, size, g):
    """Every pixel labelled (blocks of 4), so faithful sampling's grid points always hit a class."""
    s = torch.randint(0, 4, (b, size // 4, size // 4), generator=g)
    s[0, 0, 0] = UNLAB
    return s.repeat_interleave(4, 1).repeat_interleave(4, 2)


def test_released_update_matches_faithful_reference():
    """ReleasedCIM's host-side update fills the same banks, pointers and tokens as CIM(faithful=True)."""
    g = torch.Generator().manual_seed(1)
    torch.manual_seed(0)
    ours = CIM(1, 4, cim=CIMConfig(bank_size=5, faithful=True))
    released = ReleasedCIM(1, 4, bank_size=5)
    released.load_state_dict(ours.state_dict())
    for step in range(4):
        s = _dense_scribble(2, 64, g)
        if step == 2:
            s[s == 1] = 0  # class 1 absent: its token decays in both
        feats = [torch.randn(2, d, 4, 4, generator=g) for d in (32, 128, 32, 128)]
        ours.update_reference(s, *feats)
        released.update_reference(s, *feats)
        for name in ("bank_keys", "bank_values", "bank_ptr", "token_keys", "token_values"):
            assert torch.equal(getattr(ours, name), getattr(released, name)), (step, name)
    assert released.ptrs == ours.bank_ptr.tolist()


def test_released_step_trains():
    """Two released-style SGD steps on CPU: finite loss, weights and reference set move."""
    g = torch.Generator().manual_seed(2)
    model, step = make_trainer("released", "cpu", size=32, batch_size=2)
    before = copy.deepcopy(model.state_dict())
    batch = {"image": torch.randn(2, 1, 32, 32, generator=g), "scribble": _dense_scribble(2, 32, g)}
    losses = [step(batch) for _ in range(2)]
    assert all(torch.isfinite(x) for x in losses)
    assert not torch.equal(model.encoder.levels[0][0].weight, before["encoder.levels.0.0.weight"])
    assert not torch.equal(model.bank_keys, before["bank_keys"])
    assert not torch.equal(model.token_keys, before["token_keys"])
    assert sum(model.ptrs) > 0
