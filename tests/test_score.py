"""`scribcim score`: equals `evaluate` on its own saved predictions, names missing cases, refuses bad files."""
from __future__ import annotations

import csv
import json
import shutil

import nibabel as nib
import numpy as np
import pytest

from scribcim.cli import main
from scribcim.errors import DataError
from scribcim.evaluate.summary import evaluate
from scribcim.evaluate.score import score


@pytest.fixture(scope="module")
def evaluated(phantom_run):
    """A few-iteration phantom run evaluated on fold 1's test part with its predictions saved."""
    d = phantom_run("pce")
    evaluate(d, progress=False, save_predictions=True)
    return d


@pytest.mark.parametrize("ckpt", ["best", "last"])
def test_score_equals_evaluate(evaluated, tmp_path, ckpt):
    """score on evaluate's saved NIfTI predictions reproduces evaluate's per-case and aggregate numbers exactly."""
    pred = evaluated / "predictions" / ckpt
    assert sorted(p.name for p in pred.iterdir())[0] == "labels.json"
    score(pred, "phantom", fold=1, out_dir=tmp_path, progress=False)
    got = json.loads((tmp_path / "score.json").read_text())
    want = json.loads((evaluated / "summary.json").read_text())["checkpoints"][ckpt]
    for key in ("classes", "foreground_mean", "num_cases", "cases"):
        assert got[key] == want[key], key
    assert got["missing_predictions"] == [] and got["unmatched_predictions"] == []
    rows = list(csv.DictReader((tmp_path / "score.csv").open()))
    assert len(rows) == 4 * got["num_cases"] and {r["class"] for r in rows} == {"RV", "MYO", "LV", "foreground_mean"}


def test_score_names_missing_and_unmatched(evaluated, tmp_path, caplog):
    """A reference case without a prediction and a prediction without a case are both named."""
    pred = tmp_path / "pred"
    shutil.copytree(evaluated / "predictions" / "best", pred)
    (pred / "patient002_frame02_seg.nii.gz").unlink()
    shutil.copy(pred / "patient001_frame01_seg.nii.gz", pred / "someone_else.nii.gz")
    r = score(pred, "phantom", fold=1, progress=False)
    assert r["missing_predictions"] == ["patient002_frame02"] and r["unmatched_predictions"] == ["someone_else"]
    assert r["num_cases"] == 3 and (pred / "score.json").is_file()
    assert "patient002_frame02" in caplog.text and "someone_else" in caplog.text


def test_score_refuses_bad_predictions(evaluated, tmp_path, capsys):
    """Probabilities, a wrong grid, an empty folder, an unreadable file: one-line errors naming the file."""
    src = evaluated / "predictions" / "best" / "patient001_frame01_seg.nii.gz"
    img = nib.load(str(src))
    for name, data, match in [("probs", np.asarray(img.dataobj) + 0.5, "not a label volume"),
                              ("grid", np.asarray(img.dataobj)[:-1], "original grid")]:
        d = tmp_path / name
        d.mkdir()
        nib.save(nib.Nifti1Image(data.astype(np.float32), img.affine), str(d / "patient001_frame01.nii.gz"))
        with pytest.raises(DataError, match=match):
            score(d, "phantom", fold=1, progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .nii"):
        score(tmp_path / "empty", "phantom", progress=False)
    (tmp_path / "trunc").mkdir()
    (tmp_path / "trunc" / "patient001_frame01.nii.gz").write_bytes(src.read_bytes()[:100])
    assert main(["score", "--pred", str(tmp_path / "trunc"), "--dataset", "phantom", "--fold", "1"]) == 2
    errors = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "patient001_frame01.nii.gz" in errors[0] and "truncated" in errors[0]
    with pytest.raises(DataError, match="MSCMR"):  # no MSCMR data under this root
        score(evaluated / "predictions" / "best", "mscmr", data_root=str(tmp_path / "none"), progress=False)


def test_score_refuses_a_prediction_off_its_references_affine(evaluated, tmp_path, monkeypatch):
    """Same shape but another affine (flipped, or another voxel size): refused, naming both files and the fix;
    the reference's own affine (within 1e-3) is accepted."""
    import dataclasses

    from scribcim.evaluate import score as score_module
    src = evaluated / "predictions" / "best" / "patient001_frame01_seg.nii.gz"
    img = nib.load(str(src))
    data = np.asarray(img.dataobj).astype(np.uint8)

    def one(name: str, affine: np.ndarray):
        d = tmp_path / name
        d.mkdir()
        nib.save(nib.Nifti1Image(data, affine), str(d / "patient001_frame01_seg.nii.gz"))
        return d

    coarse = img.affine.copy()
    coarse[0, 0] *= 2  # x voxels twice as wide
    with pytest.raises(DataError, match=r"patient001_frame01_seg.nii.gz has voxel sizes .*scribcim predict"):
        score(one("coarse", coarse), "phantom", fold=1, progress=False)
    refs = score_module.reference_volumes("phantom", None, 1, "test")
    ref_affine = img.affine.copy()
    ref_affine[:3, 3] = (-40.0, 12.5, 7.0)
    scanned = [dataclasses.replace(v, affine=ref_affine, source=f"/scans/{v.case}.nii.gz") for v in refs]
    monkeypatch.setattr(score_module, "reference_volumes", lambda *a: scanned)
    ok = score(one("same", ref_affine + 1e-4), "phantom", fold=1, progress=False)
    assert ok["num_cases"] == 1
    flipped = ref_affine.copy()
    flipped[:3, 0] *= -1
    with pytest.raises(DataError, match=r"patient001_frame01_seg.nii.gz has affine .*/scans/patient001_frame01"
                                        r".nii.gz has .*flipped against its reference; write the prediction"):
        score(one("flipped", flipped), "phantom", fold=1, progress=False)


def test_score_cli(evaluated, tmp_path, capsys):
    """`scribcim score` prints the foreground summary and writes score.json/score.csv to --out."""
    assert main(["score", "--pred", str(evaluated / "predictions" / "last"), "--dataset", "phantom",
                 "--fold", "1", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "4 case(s): foreground Dice" in out and (tmp_path / "score.csv").is_file()
