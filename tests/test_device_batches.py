"""Tests of scribcim.data.device_batches (on the CPU): the batch contract of make_batch, exact
rot90/flip, aligned image/scribble/label, out-of-slice values, the augmentation distribution of
augment.py, training with --device-data (and exact resume), and the bench's device pipeline."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import ndimage

from scribcim.config import TrainConfig, make_config
from scribcim.data.augment import augment_slice, resize_nearest
from scribcim.data.device_batches import DeviceSlices, batch_params, dihedral_matrix, make_device_batch
from scribcim.data.phantom import phantom_volumes
from scribcim.data.slices import SliceSet, make_batch
from scribcim.errors import ConfigError

UNLAB = 4
SIZE = 32


@pytest.fixture(scope="module")
def phantom() -> SliceSet:
    return SliceSet.from_volumes(phantom_volumes(3))


def _slice_set(images, scribbles, labels) -> SliceSet:
    return SliceSet(list(images), list(scribbles), list(labels), [f"c:{i}" for i in range(len(images))])


def _aligned(n: int = 6, seed: int = 0) -> SliceSet:
    """Slices whose image is their label (as float) and whose scribble is their label."""
    rng = np.random.default_rng(seed)
    labels = [np.kron(rng.integers(0, 4, (6, 5)), np.ones((6, 8), np.int64)).astype(np.uint8) for _ in range(n)]
    return _slice_set([lab.astype(np.float32) for lab in labels], [lab.copy() for lab in labels], labels)


def test_same_keys_shapes_dtypes_as_make_batch(phantom):
    ds = DeviceSlices.from_slices(phantom, SIZE, "cpu")
    assert len(ds) == len(phantom) and ds.size == SIZE and ds.device.type == "cpu"
    assert ds.images.dtype == torch.float32 and ds.images.shape == (len(phantom), 1, SIZE, SIZE)
    assert ds.scribbles.dtype == ds.labels.dtype == torch.uint8
    ours = make_device_batch(ds, batch_size=5, seed=3, iteration=7)
    ref = make_batch(phantom, batch_size=5, size=(SIZE, SIZE), seed=3, iteration=7)
    assert set(ours) == set(ref)
    for k in ref:
        assert ours[k].shape == ref[k].shape and ours[k].dtype == ref[k].dtype, k
    assert (ours["origin"][:, 0] == 7).all() and len(set(ours["origin"][:, 1].tolist())) == 5


def test_resident_slices_are_resized_as_on_the_cpu(phantom):
    ds = DeviceSlices.from_slices(phantom, SIZE, "cpu")
    for i in (0, len(phantom) - 1):
        assert np.array_equal(ds.images[i, 0].numpy(), resize_nearest(phantom.images[i], (SIZE, SIZE)))
        assert np.array_equal(ds.scribbles[i].numpy(), resize_nearest(phantom.scribbles[i], (SIZE, SIZE)))
        assert np.array_equal(ds.labels[i].numpy(), resize_nearest(phantom.labels[i], (SIZE, SIZE)))
    plain = make_device_batch(ds, batch_size=4, seed=0, iteration=1, augment=False)
    idx = plain["origin"][:, 1]
    assert torch.equal(plain["image"], ds.images[idx]) and torch.equal(plain["label"], ds.labels[idx].long())


def test_a_batch_is_a_function_of_seed_and_iteration(phantom):
    ds = DeviceSlices.from_slices(phantom, SIZE, "cpu")
    a, b = (make_device_batch(ds, batch_size=4, seed=1, iteration=5) for _ in range(2))
    torch.rand(3)  # the global generator plays no part
    c = make_device_batch(ds, batch_size=4, seed=1, iteration=5)
    for k in a:
        assert torch.equal(a[k], b[k]) and torch.equal(a[k], c[k]), k
    for other in (make_device_batch(ds, batch_size=4, seed=1, iteration=6),
                  make_device_batch(ds, batch_size=4, seed=2, iteration=5)):
        assert not torch.equal(a["image"], other["image"])


def test_rot90_flip_exact_and_rotation_as_scipy():
    """Each item equals numpy's flip(rot90) of the resized slice, or (rotations) scipy's nearest rotation
    up to rounding ties; out-of-slice pixels get image 0, label 0, scribble 4."""
    rng = np.random.default_rng(1)
    n = 5
    sl = _slice_set(rng.random((n, 32, 32), dtype=np.float32), rng.integers(0, 5, (n, 32, 32), dtype=np.uint8),
                    rng.integers(0, 4, (n, 32, 32), dtype=np.uint8))
    ds = DeviceSlices.from_slices(sl, SIZE, "cpu")
    seen, agree = set(), []
    for it in range(40):
        p = batch_params(n, batch_size=4, seed=0, iteration=it)
        b = make_device_batch(ds, batch_size=4, seed=0, iteration=it)
        for j in range(4):
            i, mode = int(p.index[j]), int(p.mode[j])
            src = [ds.images[i, 0].numpy(), ds.scribbles[i].numpy(), ds.labels[i].numpy()]
            got = [b["image"][j, 0].numpy(), b["scribble"][j].numpy(), b["label"][j].numpy()]
            if mode == 0:
                want = src
            elif mode == 1:
                k, ax = int(p.k[j]), int(p.axis[j])
                seen.add((k, ax))
                want = [np.flip(np.rot90(a, k), ax) for a in src]
            else:
                rot = dict(angle=float(p.angle[j]), order=0, reshape=False, mode="constant")
                want = [ndimage.rotate(a, cval=c, **rot) for a, c in zip(src, (0.0, UNLAB, 0))]
                agree.append(np.mean([(g == w).mean() for g, w in zip(got, want)]))
                continue
            for g, w in zip(got, want):
                assert np.array_equal(g, w), (it, j, mode)
    assert seen == {(k, a) for k in range(4) for a in range(2)}
    assert agree and min(agree) > 0.99 and np.mean(agree) > 0.999  # nearest rounding at ties only


def test_dihedral_matrices_are_integer():
    for k in range(4):
        for a in range(2):
            m = dihedral_matrix(k, a)
            assert set(np.unique(m)) <= {-1.0, 0.0, 1.0} and abs(np.linalg.det(m)) == 1.0


def test_image_scribble_label_stay_aligned():
    """Image == label everywhere and scribble == label wherever the scribble is labelled, over many batches."""
    ds = DeviceSlices.from_slices(_aligned(), SIZE, "cpu")
    for it in range(60):
        b = make_device_batch(ds, batch_size=4, seed=4, iteration=it)
        lab, scr = b["label"], b["scribble"]
        assert torch.equal(b["image"][:, 0], lab.float()), it
        assert torch.equal(scr[scr != UNLAB], lab[scr != UNLAB]), it


def test_out_of_slice_pixels_are_background_and_unlabelled():
    """On slices that are all class 1, label 0 appears only where a rotation brought pixels in from outside."""
    ones = np.ones((40, 40), np.uint8)
    ds = DeviceSlices.from_slices(_slice_set([ones.astype(np.float32)] * 3, [ones] * 3, [ones] * 3), SIZE, "cpu")
    rotated = 0
    for it in range(60):
        p = batch_params(3, batch_size=4, seed=5, iteration=it)
        b = make_device_batch(ds, batch_size=4, seed=5, iteration=it)
        outside = b["label"] == 0
        assert torch.equal(outside, b["scribble"] == UNLAB) and torch.equal(outside, b["image"][:, 0] == 0)
        for j in range(4):
            if int(p.mode[j]) == 2 and abs(float(p.angle[j])) > 3:
                rotated += 1
                centre = outside[j, SIZE // 2 - 4:SIZE // 2 + 4, SIZE // 2 - 4:SIZE // 2 + 4]
                assert outside[j].any() and not centre.any()
            elif int(p.mode[j]) != 2:
                assert not outside[j].any()
    assert rotated > 5


def test_values_stay_valid(phantom):
    ds = DeviceSlices.from_slices(phantom, SIZE, "cpu")
    for it in range(30):
        b = make_device_batch(ds, batch_size=4, seed=6, iteration=it)
        assert set(b["label"].unique().tolist()) <= {0, 1, 2, 3}
        assert set(b["scribble"].unique().tolist()) <= {0, 1, 2, 3, 4}


class _Recorder:
    """A numpy Generator that records which draws augment_slice made."""

    def __init__(self, seed: int) -> None:
        self.rng, self.calls = np.random.default_rng(seed), []

    def __getattr__(self, name):
        self.calls.append(name)
        return getattr(self.rng, name)


def test_augmentation_distribution_matches_augment_py():
    """Fractions of unchanged / rot90+flip / rotated slices, angle range, k and axis: as augment_slice."""
    tiny = np.zeros((6, 6), np.float32)
    counts = np.zeros(3)
    for s in range(1500):
        r = _Recorder(s)
        augment_slice(tiny, tiny.astype(np.uint8), tiny.astype(np.uint8), r)
        counts[1 if "integers" in r.calls else 2 if "uniform" in r.calls else 0] += 1
    cpu = counts / counts.sum()
    ps = [batch_params(100, batch_size=8, seed=7, iteration=it) for it in range(250)]
    mode = torch.cat([p.mode for p in ps])
    dev = np.array([(mode == m).float().mean().item() for m in range(3)])
    assert np.allclose(cpu, [0.25, 0.5, 0.25], atol=0.04) and np.allclose(dev, cpu, atol=0.05), (cpu, dev)
    angle = torch.cat([p.angle[p.mode == 2] for p in ps])
    assert angle.abs().max() <= 20 and angle.min() < -17 and angle.max() > 17
    k, axis = torch.cat([p.k[p.mode == 1] for p in ps]), torch.cat([p.axis[p.mode == 1] for p in ps])
    assert set(k.tolist()) == {0, 1, 2, 3} and set(axis.tolist()) == {0, 1}
    plain = batch_params(100, batch_size=8, seed=7, iteration=0, augment=False)
    assert (plain.mode == 0).all() and torch.equal(plain.theta[:, :, :2], torch.eye(2).expand(8, 2, 2))


def test_device_data_must_be_a_bool():
    with pytest.raises(ConfigError, match="device_data"):
        TrainConfig(dataset="phantom", device_data="yes").validate()
    assert make_config("smoke", dataset="phantom", device_data="true").device_data is True


def _losses(run_dir) -> dict[int, float]:
    recs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["iteration"]: r["loss"] for r in recs if "loss" in r}


def test_training_on_device_batches_resumes_exactly(tmp_path, smoke_overrides, monkeypatch):
    """--device-data trains from make_device_batch only; stop after 2 + resume = the uninterrupted run."""
    import scribcim.training.loop as tr

    def refuse(*args, **kwargs):
        raise AssertionError("make_batch called with device_data=True")
    monkeypatch.setattr(tr, "make_batch", refuse)
    over = {**smoke_overrides, "device_data": True}
    full = tr.train(make_config("smoke", method="cim", **{**over, "run_dir": str(tmp_path / "a")}))
    first = tr.train(make_config("smoke", method="cim", stop_after=2, **{**over, "run_dir": str(tmp_path / "b")}))
    assert first.iterations == 2 and not first.finished
    resumed = tr.train(make_config("smoke", method="cim", resume=True, **{**over, "run_dir": str(tmp_path / "b")}))
    assert full.finished and resumed.finished and resumed.iterations == 4
    a, b = _losses(full.run_dir), _losses(resumed.run_dir)
    assert sorted(a) == [1, 2, 3, 4] and all(np.isfinite(list(a.values())))
    assert a[3] == pytest.approx(b[3], abs=1e-6) and a[4] == pytest.approx(b[4], abs=1e-6)
    wa = torch.load(full.run_dir / "checkpoints" / "last.pt", weights_only=False)["model"]
    wb = torch.load(resumed.run_dir / "checkpoints" / "last.pt", weights_only=False)["model"]
    for k in wa:
        assert torch.allclose(wa[k].float(), wb[k].float(), atol=1e-5), k


def test_cpu_bench_reports_both_pipelines(tmp_path, capsys):
    from scribcim.cli import main
    out = tmp_path / "cpu.json"
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["bench", "--device", "cpu", "--mode", "steps", "--size", "32", "--batch", "2", "--steps", "2",
                     "--warmup", "1", "--pipeline-batches", "2", "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(n)
    assert "device" in capsys.readouterr().out
    r = json.loads(out.read_text())
    cpu, dev = r["pipeline"]["2"]["slices_per_s"], r["device_pipeline"]["2"]["slices_per_s"]
    assert cpu > 0 and dev > 0 and r["device_pipeline"]["2"]["build_s"] >= 0
    best = r["pipeline_best"]["2"]
    assert best == ("device" if dev > cpu else "make_batch")
    step = 2 / (r["medians_ms"]["cim"]["2"] / 1e3)
    assert r["ratios"]["pipeline_over_step"]["2"] == pytest.approx(max(cpu, dev) / step)
