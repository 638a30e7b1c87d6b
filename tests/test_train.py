"""End-to-end training on the phantom: few-iteration runs, checkpoints, logs and resume."""
from __future__ import annotations

import json

import pytest
import torch

from scribcim.config import make_config
from scribcim.errors import ConfigError
from scribcim.runs.paths import run_dir_for
from scribcim.training.loop import poly_lr, train


def _losses(run_dir) -> dict[int, float]:
    recs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["iteration"]: r["loss"] for r in recs if "loss" in r}


@pytest.mark.parametrize("method", ["pce", "cim", "pce_dice", "pce_selfdice", "full", "dmpls"])
def test_few_iteration_run_writes_everything(method, smoke_overrides):
    """A 4-iteration run leaves config, provenance, metrics, TensorBoard and the three checkpoints."""
    res = train(make_config("smoke", method=method, **smoke_overrides))
    d = res.run_dir
    assert res.finished and res.iterations == 4
    for name in ("config.json", "provenance.json", "split.json", "metrics.jsonl", "train_result.json"):
        assert (d / name).is_file(), name
    assert any((d / "tb").iterdir())
    for ck in ("latest", "best", "last"):
        assert (d / "checkpoints" / f"{ck}.pt").is_file()
    prov = json.loads((d / "provenance.json").read_text())
    assert {"git", "config", "data", "device", "versions"} <= set(prov)
    assert prov["config"]["method"] == method
    losses = _losses(d)
    assert sorted(losses) == [1, 2, 3, 4] and all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert 0.0 <= res.best_val_dice <= 1.0 and res.best_iteration in (2, 4)


def test_cim_buffers_saved_and_changed(smoke_overrides):
    """The reference set is saved in checkpoints and moved by training (from scribbles)."""
    res = train(make_config("smoke", method="cim", **smoke_overrides))
    state = torch.load(res.run_dir / "checkpoints" / "last.pt", weights_only=False)["model"]
    for key in ("bank_keys", "bank_values", "bank_ptr", "token_keys", "token_values"):
        assert key in state
    assert int(state["bank_ptr"].sum()) > 0


def test_resume_gives_same_next_losses(tmp_path, smoke_overrides):
    """Stopping after 2 iterations and resuming reproduces the uninterrupted run's losses exactly."""
    full = train(make_config("smoke", method="cim", **{**smoke_overrides, "run_dir": str(tmp_path / "a")}))
    part = make_config("smoke", method="cim", stop_after=2, **{**smoke_overrides, "run_dir": str(tmp_path / "b")})
    first = train(part)
    assert first.iterations == 2 and not first.finished
    resumed = train(make_config("smoke", method="cim", resume=True,
                                **{**smoke_overrides, "run_dir": str(tmp_path / "b")}))
    assert resumed.finished and resumed.iterations == 4
    a, b = _losses(full.run_dir), _losses(resumed.run_dir)
    assert a[3] == pytest.approx(b[3], abs=1e-6) and a[4] == pytest.approx(b[4], abs=1e-6)
    wa = torch.load(full.run_dir / "checkpoints" / "last.pt", weights_only=False)["model"]
    wb = torch.load(resumed.run_dir / "checkpoints" / "last.pt", weights_only=False)["model"]
    for k in wa:
        assert torch.allclose(wa[k].float(), wb[k].float(), atol=1e-5), k


def test_existing_run_needs_resume_and_same_config(smoke_overrides):
    """A second run into the same folder is refused unless resumed, and a changed config always is."""
    train(make_config("smoke", method="pce", **smoke_overrides))
    with pytest.raises(ConfigError, match="--resume"):
        train(make_config("smoke", method="pce", **smoke_overrides))
    with pytest.raises(ConfigError, match="different config"):
        train(make_config("smoke", method="pce", lr=0.5, resume=True, **smoke_overrides))


def test_poly_lr():
    """Poly decay starts at the base rate and reaches 0 at the end."""
    assert poly_lr(0.01, 0, 100, 0.9) == 0.01
    assert poly_lr(0.01, 50, 100, 0.9) == pytest.approx(0.01 * 0.5 ** 0.9)
    assert poly_lr(0.01, 100, 100, 0.9) == 0.0


def test_interrupt_saves_latest_and_resume_cleans_log(smoke_overrides, monkeypatch):
    """Ctrl-C (or SIGTERM) mid-run saves latest.pt at the last finished iteration; resume drops stale log lines."""
    import scribcim.training.loop as tr
    real = tr.make_batch

    def flaky(*args, iteration, **kw):
        if iteration == 2:
            raise KeyboardInterrupt
        return real(*args, iteration=iteration, **kw)

    monkeypatch.setattr(tr, "make_batch", flaky)
    cfg = make_config("smoke", method="pce", **smoke_overrides)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    run_dir = run_dir_for(cfg)
    assert torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=False)["iteration"] == 2
    with (run_dir / "metrics.jsonl").open("a") as fh:  # as if a hard kill had logged iteration 3
        fh.write(json.dumps({"iteration": 3, "loss": 123.0}) + "\n")
    monkeypatch.setattr(tr, "make_batch", real)
    res = train(make_config("smoke", method="pce", resume=True, **smoke_overrides))
    assert res.finished and 123.0 not in _losses(run_dir).values()
    assert (run_dir / "resumes.jsonl").is_file()


@pytest.mark.parametrize("bad, match", [
    (dict(scribbles="nobody"), "expert"),
    (dict(scribbles="centreline", inconsistency=1.5), r"\[0, 1\]"),
    (dict(inconsistency=0.5), "simulated scribbles only"),
    (dict(method="full", scribbles="centreline"), "dense labels"),
])
def test_bad_scribble_settings_are_refused(bad, match):
    with pytest.raises(ConfigError, match=match):
        make_config("smoke", dataset="phantom", **bad)


def test_training_on_simulated_scribbles(tmp_path):
    """--scribbles/--inconsistency train on simulated scribbles, in their own run folder, written down."""
    from scribcim.data import load_part, split_for
    from scribcim.data.scribbles import simulate_volumes
    from scribcim.training.run_setup import training_volumes

    cfg = make_config("smoke", method="pce", dataset="phantom", scribbles="centreline", inconsistency=1.0,
                      scribble_seed=3, runs_root=str(tmp_path), progress=False, num_threads=1)
    res = train(cfg)
    assert res.finished
    assert "sim-centreline-inc1.00-seed3" in res.run_dir.parts
    from scribcim.evaluate.summary import evaluate
    evaluate(res.run_dir, checkpoints=("best",), results_dir=tmp_path / "res", progress=False)
    assert (tmp_path / "res" / "scribbles.json").read_text() == (res.run_dir / "scribbles.json").read_text()
    record = json.loads((res.run_dir / "scribbles.json").read_text())
    expert = load_part("phantom", None, split_for("phantom", cfg.fold), "train")
    assert sorted(record["annotators"]) == sorted(v.case for v in expert)
    assert all(name != "centreline" for name in record["annotators"].values())  # level 1: all switched
    used = training_volumes(cfg, expert, res.run_dir)
    again = simulate_volumes(expert, "centreline", 1.0, seed=3)
    for u, a, e in zip(used, again, expert, strict=True):
        assert (u.scribble == a.scribble).all() and (u.image == e.image).all()
    assert any((u.scribble != e.scribble).any() for u, e in zip(used, expert, strict=True))


def test_simulated_scribbles_need_dense_labels(tmp_path):
    import dataclasses

    from scribcim.data.phantom import phantom_volumes
    from scribcim.training.run_setup import training_volumes
    vols = [dataclasses.replace(v, label=None) for v in phantom_volumes(2)]
    with pytest.raises(ConfigError, match="no dense training labels"):
        training_volumes(make_config("smoke", dataset="phantom", scribbles="free"), vols, tmp_path)


def test_initial_weights_depend_on_the_seed_only(tmp_path):
    """Two runs with the same config start from the same weights whatever ran before; another seed differs."""
    def first_loss(seed: int, name: str) -> float:
        torch.rand(17)  # disturb the global generator
        cfg = make_config("smoke", dataset="phantom", method="pce", seed=seed, max_iterations=1, progress=False,
                          num_threads=1, run_dir=str(tmp_path / name))
        return _losses(train(cfg).run_dir)[1]
    a, b, c = first_loss(1, "a"), first_loss(1, "b"), first_loss(2, "c")
    assert a == b and a != c


def test_override_values_are_coerced_or_refused():
    """String values from YAML/--config become the field's type; impossible ones are refused by name."""
    cfg = make_config("smoke", num_threads="1", progress="false", lr="0.02", bank_size=8.0, device="cpu")
    assert (cfg.num_threads, cfg.progress, cfg.lr, cfg.bank_size) == (1, False, 0.02, 8)
    for bad in (dict(num_threads="two"), dict(progress="maybe"), dict(bank_size=2.5)):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            make_config("smoke", **bad)


def test_int_field_refuses_a_fractional_string():
    """An int field takes "3", "3.0", 3.0 and 3 as 3; "3.5" (or 3.5) is refused naming the field, not truncated."""
    from scribcim.config.train_config import coerce
    assert [coerce("bank_size", v) for v in ("3", "3.0", 3.0, 3, " 3 ")] == [3] * 5
    for bad in ("3.5", 3.5, "inf", "nan"):
        with pytest.raises(ConfigError, match="bank_size"):
            coerce("bank_size", bad)


def test_resume_run_made_before_a_field_existed(smoke_overrides):
    """A run whose config.json predates a field (absent = the field's default) still resumes."""
    part = train(make_config("smoke", method="pce", stop_after=2, **smoke_overrides))
    cfg_path = part.run_dir / "config.json"
    old = json.loads(cfg_path.read_text())
    for new_field in ("scribbles", "inconsistency", "scribble_seed", "device_data"):
        old.pop(new_field, None)
    cfg_path.write_text(json.dumps(old))
    resumed = train(make_config("smoke", method="pce", resume=True, **smoke_overrides))
    assert resumed.finished
    with pytest.raises(ConfigError, match="different config"):
        train(make_config("smoke", method="pce", resume=True, lr=0.5, **smoke_overrides))
