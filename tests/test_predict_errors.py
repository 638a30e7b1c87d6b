"""`scribcim predict` as users meet it: each mistake gets one line with its cause and fix, no traceback,
and a failed call leaves no output folder."""
from __future__ import annotations

import json
import shutil

import h5py
import nibabel as nib
import numpy as np
import pytest
import torch

from scribcim.cli import main
from scribcim.data.phantom import phantom_volume
from scribcim.errors import ConfigError
from scribcim.runs.log import load_checkpoint


@pytest.fixture(scope="module")
def run(phantom_run):
    return phantom_run("pce")


@pytest.fixture
def scan(tmp_path):
    path = tmp_path / "scan.nii.gz"
    v = phantom_volume(1, 1)
    dz, dy, dx = v.spacing
    nib.save(nib.Nifti1Image(v.image.T.copy(), np.diag([dx, dy, dz, 1.0])), str(path))
    return path


def cli_error(capsys, *args):
    """Run `scribcim predict ARGS`: exit code 2 and the single stderr line."""
    code = main(["predict", "--no-progress", *map(str, args)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "Traceback" not in err, err
    return err


def test_output_folder_holding_files_is_refused_unless_overwrite(run, scan, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "scan_seg.nii.gz").write_bytes(b"an earlier mask")
    err = cli_error(capsys, "--run", run, "--input", scan, "--output", out)
    assert "already holds 1 file(s)" in err and "--overwrite" in err
    assert (out / "scan_seg.nii.gz").read_bytes() == b"an earlier mask"
    assert main(["predict", "--no-progress", "--run", str(run), "--input", str(scan), "--output", str(out),
                 "--overwrite"]) == 0
    assert nib.load(str(out / "scan_seg.nii.gz")).shape == nib.load(str(scan)).shape


def test_output_naming_a_file(run, scan, tmp_path, capsys):
    (tmp_path / "masks.nii.gz").write_bytes(b"x")
    err = cli_error(capsys, "--run", run, "--input", scan, "--output", tmp_path / "masks.nii.gz")
    assert "is a file" in err and "pass a folder" in err


@pytest.mark.parametrize("name, text, match", [
    ("run_info.json", "{not json", "run_info.json is not valid JSON"),
    ("run_info.json", '{"format": 1}', "run_info.json lacks"),
    ("config.json", "[1, 2", "config.json is not valid JSON"),
])
def test_broken_run_folder_files(run, scan, tmp_path, capsys, name, text, match):
    bad = tmp_path / "run"
    shutil.copytree(run, bad)
    (bad / name).write_text(text)
    err = cli_error(capsys, "--run", bad, "--input", scan, "--output", tmp_path / "out")
    assert match in err and "copy the run folder again" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("size", ["0", "-3"])
def test_batch_size_below_one(run, scan, tmp_path, capsys, size):
    err = cli_error(capsys, "--run", run, "--input", scan, "--output", tmp_path / "out", "--batch-size", size)
    assert "batch size must be a whole number >= 1" in err and "--batch-size 16" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_cuda_without_cuda_names_the_device_not_the_checkpoint(run, scan, tmp_path, capsys):
    for device in ("cuda", "cuda:1"):
        err = cli_error(capsys, "--run", run, "--input", scan, "--output", tmp_path / "out", "--device", device)
        assert f"--device {device}: no CUDA GPU is available" in err and "--device cpu" in err
        assert "corrupt" not in err and "delete" not in err
    err = cli_error(capsys, "--run", run, "--input", scan, "--output", tmp_path / "out", "--device", "gpu")
    assert "--device must be cpu, cuda or cuda:N" in err


def test_checkpoint_called_corrupt_only_when_the_cpu_cannot_read_it(run, tmp_path, monkeypatch):
    real_load = torch.load

    def load_on_cpu_only(path, map_location=None, **kw):
        if str(map_location) != "cpu":
            raise RuntimeError("Attempting to deserialize object on a CUDA device")
        return real_load(path, map_location=map_location, **kw)

    monkeypatch.setattr(torch, "load", load_on_cpu_only)
    with pytest.raises(ConfigError, match="is fine but cannot be loaded onto cuda") as info:
        load_checkpoint(run / "checkpoints" / "best.pt", "cuda")
    assert "corrupt" not in str(info.value)
    broken = tmp_path / "best.pt"
    broken.write_bytes((run / "checkpoints" / "best.pt").read_bytes()[:100])
    with pytest.raises(ConfigError, match="corrupt or truncated"):
        load_checkpoint(broken, "cuda")


def test_missing_checkpoint_names_predicts_flag(run, scan, tmp_path, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(run / "config.json", bare / "config.json")
    err = cli_error(capsys, "--run", bare, "--input", scan, "--output", tmp_path / "out")
    assert "no checkpoint" in err and "(--run)" in err and "--run-dir" not in err


def test_folder_of_only_bad_files(run, tmp_path, capsys, caplog):
    """Each refusal logged once; one summary line, no 'nan s per volume', no output folder left."""
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "a.nii.gz").write_bytes(b"not a nifti")
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random((8, 8, 10)).astype(np.float32), np.eye(4)),
             str(inp / "tiny.nii.gz"))
    err = cli_error(capsys, "--run", run, "--input", inp, "--output", tmp_path / "out")
    assert "2 of 2 input(s) refused" in err and "nothing was written" in err and "nan" not in err
    logged = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(logged) == 2 and any("tiny.nii.gz has 8x8 pixels" in m for m in logged)
    assert not (tmp_path / "out").exists()


def test_tiny_volume_alone_is_refused_by_name(run, tmp_path, capsys):
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random((8, 8, 10)).astype(np.float32), np.eye(4)),
             str(tmp_path / "tiny.nii.gz"))
    err = cli_error(capsys, "--run", run, "--input", tmp_path / "tiny.nii.gz", "--output", tmp_path / "out")
    assert "tiny.nii.gz has 8x8 pixels per slice, fewer than 32" in err


def test_h5_without_spacing_warns_what_it_assumed(run, tmp_path, caplog):
    """An HDF5 scan outside the data layout is segmented at the training median spacing, with a warning
    naming it; a 'spacing' attribute is used as given."""
    from scribcim.evaluate.predict import predict
    v = phantom_volume(1, 1)
    with h5py.File(tmp_path / "loose.h5", "w") as f:
        f["image"] = v.image
    res = predict(run, tmp_path / "loose.h5", tmp_path / "a", progress=False)
    median = json.loads((run / "run_info.json").read_text())["scale"]["spacing_mm"]
    assert len(res.assumed) == 1 and "assumed the training data's median spacing" in res.assumed[0][1]
    assert any("loose.h5" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
    assert np.allclose(nib.load(str(res.outputs[0])).header.get_zooms(), median[::-1])
    with h5py.File(tmp_path / "given.h5", "w") as f:
        f["image"] = v.image
        f["image"].attrs["spacing"] = v.spacing
    res = predict(run, tmp_path / "given.h5", tmp_path / "b", progress=False)
    assert not res.assumed and np.allclose(nib.load(str(res.outputs[0])).header.get_zooms(), v.spacing[::-1])


def test_run_without_recorded_scale_falls_back_with_a_warning(run, scan, tmp_path, caplog):
    from scribcim.evaluate.predict import predict
    old = tmp_path / "old"
    shutil.copytree(run, old)
    info = json.loads((old / "run_info.json").read_text())
    info.pop("scale")
    (old / "run_info.json").write_text(json.dumps(info))
    assert predict(old, scan, tmp_path / "out", progress=False).outputs
    assert any("records no input scale" in r.getMessage() and "typical phantom values" in r.getMessage()
               for r in caplog.records)
