"""`scribcim predict`: NIfTI/HDF5 I/O and orientation, normalisation, outputs, bad inputs."""
from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch

from scribcim.cli import main
from scribcim.config import make_config
from scribcim.data.phantom import phantom_volume, write_phantom
from scribcim.errors import ConfigError, DataError
from scribcim.evaluate.summary import evaluate
from scribcim.runs.load import load_model
from scribcim.evaluate.inference import predict_labels, predict_probs_at_scale
from scribcim.data.normalise import normalise
from scribcim.data.scans import read_scan
from scribcim.data.nifti import write_nifti
from scribcim.evaluate.predict import predict
from scribcim.training.loop import train

CASE = "patient001_frame01"  # a phantom fold-1 test case


@pytest.fixture(scope="module")
def run(phantom_run):
    """A few-iteration phantom cim run, evaluated with its predictions saved."""
    d = phantom_run("cim")
    summary = evaluate(d, checkpoints=("best",), progress=False, save_predictions=True)
    return d, summary


def rotated_affine(spacing_zyx, origin=(-120.5, 33.0, 71.25), angle=0.4):
    """An (x, y, z) affine with a rotation about z, anisotropic voxels and a non-trivial origin."""
    dz, dy, dx = spacing_zyx
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag([dx, dy, dz])
    aff[:3, 3] = origin
    return aff


def export_nifti(path, image_zyx, affine, scale=1.0):
    """Save an image (z, y, x) as a float32 NIfTI (x, y, z), intensities times ``scale``."""
    nib.save(nib.Nifti1Image((image_zyx * scale).astype(np.float32).transpose(2, 1, 0), affine), str(path))


def seg_of(path):
    return np.asarray(nib.load(str(path)).dataobj).transpose(2, 1, 0)


def test_nifti_round_trip_anisotropic_rotated(tmp_path):
    """write_nifti/read_scan keep shape, values, rotated affine and anisotropic (dz, dy, dx) spacing."""
    vol = np.random.default_rng(0).random((5, 7, 9)).astype(np.float32)
    aff = rotated_affine((8.0, 1.25, 0.7))
    write_nifti(tmp_path / "a.nii.gz", vol, aff, dtype=np.float32)
    scan = read_scan(tmp_path / "a.nii.gz")
    assert scan.image.shape == (5, 7, 9) and np.array_equal(scan.image, vol)
    assert np.allclose(scan.affine, aff, atol=1e-5) and np.allclose(scan.spacing, (8.0, 1.25, 0.7), atol=1e-6)
    assert nib.load(str(tmp_path / "a.nii.gz")).shape == (9, 7, 5)  # on disk (x, y, z)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_normalisation_scale_invariant_and_projection():
    """Raw units and [0, 1] give the same array; an already-normalised volume comes back unchanged."""
    img = phantom_volume(3).image
    n = normalise(img)
    assert np.array_equal(normalise(img.astype(np.float64) * 1000.0), n)  # exact in float64
    np.testing.assert_allclose(normalise(img * np.float32(1000.0)), n, rtol=0, atol=1e-6)  # float32 rounding
    assert np.array_equal(normalise(n), n)
    acdc_like = np.random.default_rng(1).random((4, 50, 50)).astype(np.float32) * 0.9
    acdc_like.flat[::100] = 1.0  # 1 % saturated at the clip level, minimum 0: as the ACDC HDF5 images
    acdc_like.flat[1] = 0.0
    assert np.array_equal(normalise(acdc_like), acdc_like)


def scaled_mask(run_dir, image, spacing):
    """The in-memory path predict takes: normalise, then inference at the run's recorded scale."""
    info = json.loads((run_dir / "run_info.json").read_text())
    model, _ = load_model(run_dir, "best")
    p = info["scale"]["mm_per_pixel"]
    return predict_probs_at_scale(model, normalise(image), spacing_yx=spacing[1:], mm_per_pixel=(p, p),
                                  input_size=info["input_size"]).argmax(0)


def test_nifti_x1000_matches_in_memory_path(run, tmp_path):
    """Acceptance on the phantom: a test case exported (x, y, z) x1000 with a rotated, shifted affine keeps
    shape and affine, and its mask equals the in-memory inference at the run's scale on the (z, y, x) array."""
    run_dir, _ = run
    v = phantom_volume(1, 1)
    aff = rotated_affine(v.spacing)
    (tmp_path / "in").mkdir()
    export_nifti(tmp_path / "in" / f"{CASE}.nii.gz", v.image, aff, scale=1000.0)
    res = predict(run_dir, tmp_path / "in", tmp_path / "out", progress=False, save_probs=True)
    out = nib.load(str(res.outputs[0]))
    assert res.outputs[0].name == f"{CASE}_seg.nii.gz" and not res.failed and not res.assumed
    assert out.shape == (v.image.shape[2], v.image.shape[1], v.image.shape[0]) and out.get_data_dtype() == np.uint8
    assert np.allclose(out.affine, aff, atol=1e-5) and np.allclose(out.header.get_zooms(), v.spacing[::-1])
    mask = seg_of(res.outputs[0])
    assert set(np.unique(mask)) <= {0, 1, 2, 3}
    assert (mask == scaled_mask(run_dir, v.image, v.spacing)).mean() > 0.9999
    probs = nib.load(str(tmp_path / "out" / f"{CASE}_prob.nii.gz"))
    assert probs.shape == (*out.shape, 4) and np.allclose(np.asarray(probs.dataobj).sum(-1), 1, atol=1e-4)
    labels = json.loads((tmp_path / "out" / "labels.json").read_text())
    assert labels["labels"] == {"0": "background", "1": "RV", "2": "MYO", "3": "LV"}
    assert labels["mm_per_model_pixel"] == pytest.approx(
        json.loads((run_dir / "run_info.json").read_text())["scale"]["mm_per_pixel"])


def test_slice_axis_first_is_moved_last_and_put_back(run, tmp_path, caplog):
    """A NIfTI whose slices lie along its first axis (the same scan, axes (z, x, y) on disk, the affine's columns
    permuted to match): the mask is the conventional export's, in the input's own layout and affine, with a
    warning; the conventional export is not touched."""
    run_dir, _ = run
    v = phantom_volume(1, 1)
    aff = rotated_affine(v.spacing)
    export_nifti(tmp_path / "last.nii.gz", v.image, aff)
    first_aff = aff.copy()
    first_aff[:, :3] = aff[:, [2, 0, 1]]
    xyz = v.image.transpose(2, 1, 0)
    nib.save(nib.Nifti1Image(xyz.transpose(2, 0, 1).astype(np.float32), first_aff), str(tmp_path / "first.nii.gz"))
    with caplog.at_level("WARNING", logger="scribcim.evaluate.predict"):
        a = predict(run_dir, tmp_path / "last.nii.gz", tmp_path / "a", progress=False, save_probs=True)
        assert not a.reoriented and not caplog.records
        b = predict(run_dir, tmp_path / "first.nii.gz", tmp_path / "b", progress=False, save_probs=True)
    assert len(b.reoriented) == 1 and "slices lie along NIfTI axis 0" in caplog.text and "put back" in caplog.text
    out = nib.load(str(b.outputs[0]))
    assert out.shape == (xyz.shape[2], xyz.shape[0], xyz.shape[1]) and np.allclose(out.affine, first_aff, atol=1e-5)
    want = np.asarray(nib.load(str(a.outputs[0])).dataobj)
    assert want.any() and np.array_equal(np.asarray(out.dataobj), want.transpose(2, 0, 1))
    probs = [np.asarray(nib.load(str(d / f"{n}_prob.nii.gz")).dataobj) for d, n in ((tmp_path / "a", "last"),
                                                                                  (tmp_path / "b", "first"))]
    np.testing.assert_array_equal(probs[1], probs[0].transpose(2, 0, 1, 3))


def test_at_its_own_scale_predict_is_evaluate(run):
    """A slice whose own field of view / input size is the target scale is mapped exactly as evaluate maps
    it: the scale-aware inference gives evaluate's saved mask for every phantom test case."""
    run_dir, summary = run
    model, _ = load_model(run_dir, "best")
    size = json.loads((run_dir / "run_info.json").read_text())["input_size"]
    for case in summary["checkpoints"]["best"]["cases"]:
        v = phantom_volume(int(case["case"][7:10]), int(case["case"][-2:]))
        h, w = v.image.shape[1:]
        own = (h * v.spacing[1] / size, w * v.spacing[2] / size)
        mask = predict_probs_at_scale(model, normalise(v.image), spacing_yx=v.spacing[1:], mm_per_pixel=own,
                                      input_size=size).argmax(0)
        saved = seg_of(run_dir / "predictions" / "best" / f"{case['case']}_seg.nii.gz")
        assert (mask == saved).mean() > 0.9999
        assert (mask == predict_labels(model, normalise(v.image), input_size=size)).mean() > 0.9999


def test_h5_and_nifti_give_same_mask(run, tmp_path):
    """The HDF5 (z, y, x) file and its NIfTI (x, y, z) export segment identically; h5 spacing is joined."""
    run_dir, _ = run
    root = write_phantom(tmp_path / "data", num_patients=1)
    h5 = root / "ACDC" / "ACDC_training_volumes" / f"{CASE}.h5"
    v = phantom_volume(1, 1)
    export_nifti(tmp_path / "x.nii", v.image, rotated_affine(v.spacing))
    a = predict(run_dir, h5, tmp_path / "a", progress=False).outputs[0]
    b = predict(run_dir, tmp_path / "x.nii", tmp_path / "b", progress=False).outputs[0]
    assert np.array_equal(seg_of(a), seg_of(b))
    assert np.allclose(nib.load(str(a)).header.get_zooms(), v.spacing[::-1])


def test_bad_inputs_skipped_good_written(run, tmp_path, capsys, caplog):
    """Truncated, 2D, 4D and non-finite files are refused by name; the good file is still written."""
    run_dir, _ = run
    inp = tmp_path / "in"
    inp.mkdir()
    v = phantom_volume(1, 1)
    export_nifti(inp / "good.nii.gz", v.image, np.eye(4))
    raw = (inp / "good.nii.gz").read_bytes()
    (inp / "truncated.nii.gz").write_bytes(raw[: len(raw) // 2])
    nib.save(nib.Nifti1Image(v.image[0], np.eye(4)), str(inp / "flat.nii.gz"))
    nib.save(nib.Nifti1Image(np.stack([v.image.T] * 2, -1), np.eye(4)), str(inp / "cine.nii.gz"))
    bad = v.image.T.copy()
    bad[0, 0, 0] = np.nan
    nib.save(nib.Nifti1Image(bad, np.eye(4)), str(inp / "nan.nii.gz"))
    res = predict(run_dir, inp, tmp_path / "out", progress=False)
    assert [p.name for p in res.outputs] == ["good_seg.nii.gz"]
    assert sorted(p.name for p, _ in res.failed) == ["cine.nii.gz", "flat.nii.gz", "nan.nii.gz",
                                                     "truncated.nii.gz"]
    reasons = dict((p.name, r) for p, r in res.failed)
    assert "truncated" in reasons["truncated.nii.gz"] and "2D" in reasons["flat.nii.gz"]
    assert "4D" in reasons["cine.nii.gz"] and "non-finite" in reasons["nan.nii.gz"]
    assert all("\n" not in r and str(inp) in r for r in reasons.values())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good_seg.nii.gz", "labels.json"]
    caplog.clear()
    code = main(["predict", "--run", str(run_dir), "--input", str(inp), "--output", str(tmp_path / "o2"),
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("error: ") == 1 and "4 of 5 input(s) refused" in err
    logged = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    for name in ("cine", "flat", "nan", "truncated"):  # each reason printed once, not twice
        assert sum(f"{name}.nii.gz" in m for m in logged) == 1, logged
    assert (tmp_path / "o2" / "good_seg.nii.gz").is_file()
    with pytest.raises(DataError, match="truncated.nii.gz"):  # a single bad file: its own error
        predict(run_dir, inp / "truncated.nii.gz", tmp_path / "o3", progress=False)
    assert not list((tmp_path / "o3").glob("*.nii*"))


def test_bad_folders_and_runs(run, tmp_path, capsys):
    """Empty input folder, run folder without checkpoints and an old-format checkpoint: one-line errors."""
    run_dir, _ = run
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .nii"):
        predict(run_dir, tmp_path / "empty", tmp_path / "out", progress=False)
    export_nifti(tmp_path / "x.nii.gz", phantom_volume(1, 1).image, np.eye(4))
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text((run_dir / "config.json").read_text())
    assert main(["predict", "--run", str(bare), "--input", str(tmp_path / "x.nii.gz"),
                 "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no checkpoint" in err and "best.pt" in err
    (bare / "checkpoints").mkdir()
    torch.save({"format": 0, "model": {}}, bare / "checkpoints" / "best.pt")
    with pytest.raises(ConfigError, match="format"):
        predict(bare, tmp_path / "x.nii.gz", tmp_path / "o", progress=False)
    assert main(["predict", "--run", str(tmp_path / "nowhere"), "--input", str(tmp_path / "x.nii.gz"),
                 "--output", str(tmp_path / "o")]) == 2


def test_cli_help_names_orientation(capsys):
    """`scribcim predict --help` states the (x, y, z) / (z, y, x) convention."""
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(x, y, z)" in out and "last axis" in out and "(z, y, x)" in out


@pytest.mark.realdata
def test_normalisation_is_identity_on_acdc(real_root):
    """Every ACDC HDF5 image comes back bit-identical from the normalisation (train = evaluate = predict)."""
    import h5py
    files = sorted((real_root / "ACDC" / "ACDC_training_volumes").glob("*.h5"))
    assert len(files) == 200
    for f in files:
        with h5py.File(f, "r") as h:
            img = h["image"][()]
        assert np.array_equal(normalise(img), img), f.name


@pytest.mark.realdata
def test_real_acdc_nifti_x1000_matches_in_memory_path(real_root, tmp_path):
    """Real ACDC test volume exported (x, y, z) x1000 with a rotated affine: predict's mask equals the
    in-memory path (load_model + inference at the run's recorded scale on the HDF5 volume)."""
    from scribcim.data import load_acdc
    d = tmp_path / "run"
    train(make_config("smoke", dataset="acdc", method="cim", run_dir=str(d), data_root=str(real_root),
                      max_iterations=2, input_size=64, val_patients=1, progress=False, num_threads=1))
    scale = json.loads((d / "run_info.json").read_text())["scale"]
    assert 300 < scale["fov_mm"] < 380 and scale["mm_per_pixel"] == pytest.approx(scale["fov_mm"] / 64)
    assert scale["spacing_mm"][1] == pytest.approx(1.5625, abs=0.2) and scale["slices"] > 1000
    v = load_acdc(real_root, cases=["patient001_frame01"])[0]
    aff = rotated_affine(v.spacing)
    export_nifti(tmp_path / "p.nii.gz", v.image, aff, scale=1000.0)
    out = predict(d, tmp_path / "p.nii.gz", tmp_path / "out", progress=False).outputs[0]
    img = nib.load(str(out))
    assert img.shape == v.image.shape[::-1] and np.allclose(img.affine, aff, atol=1e-5)
    assert (seg_of(out) == scaled_mask(d, v.image, v.spacing)).mean() > 0.9999
