"""MSCMR (CycleMix layout): the fixed split, NIfTI loading, class order, and scoring against it."""
from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from scribcim.data import load_part, split_for
from scribcim.data.mscmr import PARTS, mscmr_subjects
from scribcim.errors import ConfigError, DataError
from scribcim.evaluate.score import score


def _write(path, arr_zyx, zooms=(0.75, 0.75, 5.0)):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(arr_zyx.transpose(2, 1, 0), np.diag([*zooms, 1.0]))
    nib.save(img, str(path))


@pytest.fixture
def fake_root(tmp_path):
    """One tiny subject per part in the CycleMix layout (ids from the packaged manifest)."""
    subs = mscmr_subjects()
    rng = np.random.default_rng(0)
    for part, (folder, suffix) in PARTS.items():
        sid = subs[part][0]
        lab = np.zeros((3, 20, 24), np.int16)
        lab[:, 5:15, 6:16], lab[:, 8:12, 9:13] = 2, 3
        lab[:, 5:15, 2:5] = 1
        if part == "train":
            lab = np.where(rng.random(lab.shape) < 0.9, 4, lab).astype(np.int16)
        base = tmp_path / "MSCMR_dataset" / folder
        _write(base / "images" / f"subject{sid}_DE.nii.gz", (rng.random((3, 20, 24)) * 3000).astype(np.int16))
        _write(base / "labels" / f"subject{sid}{suffix}.nii.gz", lab)
    return tmp_path


def test_split_is_fixed():
    """25 / 5 / 15 disjoint subjects; only fold 1 exists; the validation size cannot be changed."""
    s = split_for("mscmr", 1)
    assert (len(s.train), len(s.val), len(s.test)) == (25, 5, 15)
    assert not (set(s.train) & set(s.val) or set(s.train) & set(s.test) or set(s.val) & set(s.test))
    with pytest.raises(ConfigError):
        split_for("mscmr", 2)
    with pytest.raises(ConfigError):
        split_for("mscmr", 1, val_patients=3)


def test_loader_on_fake_layout(fake_root):
    """Train subjects carry scribbles and no label; val/test carry dense labels; arrays are (z, y, x)."""
    subs = mscmr_subjects()
    s = split_for("mscmr", 1)
    s1 = type(s)(fold=1, train=(subs["train"][0],), val=(subs["val"][0],), test=(subs["test"][0],))
    (tr,), (va,), (te,) = (load_part("mscmr", fake_root, s1, p) for p in ("train", "val", "test"))
    assert tr.label is None and set(np.unique(tr.scribble)) <= {0, 1, 2, 3, 4} and (tr.scribble == 4).any()
    assert te.image.shape == te.label.shape == (3, 20, 24) and te.spacing == (5.0, 0.75, 0.75)
    assert (te.scribble == 4).all() and va.label is not None and te.case == f"subject{subs['test'][0]}"


def test_missing_layout_is_clear(tmp_path):
    """No MSCMR folder: a one-line error naming it and the fetch command."""
    with pytest.raises(DataError, match="scribcim fetch mscmr"):
        load_part("mscmr", tmp_path, split_for("mscmr", 1), "test")


@pytest.mark.realdata
def test_real_mscmr_all_subjects_and_class_order(real_root):
    """All 45 subjects load with header spacing; LV (3) is enclosed by MYO (2); RV (1) never touches LV."""
    if not (real_root / "MSCMR_dataset").is_dir():
        pytest.skip("no MSCMR_dataset under SCRIBCIM_DATA")
    s = split_for("mscmr", 1)
    vols = {p: load_part("mscmr", real_root, s, p) for p in ("train", "val", "test")}
    assert [len(vols[p]) for p in ("train", "val", "test")] == [25, 5, 15]
    border = np.zeros(4)
    for v in vols["val"] + vols["test"]:
        assert 0.6 < v.spacing[1] < 1.0 and 4.0 < v.spacing[0] < 6.0 and set(np.unique(v.label)) == {0, 1, 2, 3}
        lv = v.label == 3
        ring = ndimage.binary_dilation(lv, structure=np.ones((1, 3, 3))) & ~lv
        border += np.bincount(v.label[ring], minlength=4)
    assert border[2] / border.sum() > 0.95 and border[1] == 0
    for v in vols["train"]:
        assert v.label is None and (v.scribble != 4).mean() < 0.1 and set(np.unique(v.scribble)) <= {0, 1, 2, 3, 4}


@pytest.mark.realdata
def test_score_mscmr_ground_truth_is_perfect(real_root, tmp_path):
    """Scoring the expert labels themselves against MSCMR's test set gives Dice 1 and HD95 0."""
    if not (real_root / "MSCMR_dataset").is_dir():
        pytest.skip("no MSCMR_dataset under SCRIBCIM_DATA")
    src = real_root / "MSCMR_dataset" / "TestSet" / "labels"
    for sid in mscmr_subjects()["test"][:2]:
        img = nib.load(str(src / f"subject{sid}_DE_manual.nii.gz"))
        nib.save(img, str(tmp_path / f"subject{sid}_seg.nii.gz"))
    r = score(tmp_path, "mscmr", data_root=str(real_root), fold=1, part="test", progress=False)
    assert r["num_cases"] == 2 and len(r["missing_predictions"]) == 13
    assert r["foreground_mean"]["dice"]["mean"] == pytest.approx(1.0)
    assert r["foreground_mean"]["hd95"]["mean"] == pytest.approx(0.0)


def test_manifest_lists_every_file():
    """The packaged manifest names 90 files: image and label of each of the 45 subjects."""
    from scribcim.data.fetch import load_manifest
    m = load_manifest("mscmr")
    assert len(m) == 90 and all(rel.startswith("MSCMR_dataset/") for rel in m)
    assert sum(len(v) for v in mscmr_subjects().values()) == 45


@pytest.mark.realdata
def test_real_mscmr_checksums(real_root):
    """The data root's MSCMR files verify against the packaged SHA-256 sums."""
    from scribcim.data.fetch import verify
    if not (real_root / "MSCMR_dataset").is_dir():
        pytest.skip("no MSCMR_dataset under SCRIBCIM_DATA")
    verify("mscmr", real_root)
