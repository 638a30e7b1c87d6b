"""Checks on the real ACDC files; they run when SCRIBCIM_DATA points at the data (CI sets it)."""
from __future__ import annotations

import numpy as np
import pytest

from scribcim.data import load_acdc, split_for
from scribcim.data.fetch import verify
from scribcim.data.volumes import list_acdc_cases, read_spacing

pytestmark = pytest.mark.realdata


def test_acdc_loader_all_volumes(real_root):
    """All 200 volumes load with consistent shapes, value ranges and their spacing joined."""
    vols = load_acdc(real_root)
    assert len(vols) == 200 and len({v.patient for v in vols}) == 100
    spacing = read_spacing(real_root / "ACDC" / "spacing.csv")
    for v in vols:
        assert v.image.shape == v.label.shape == v.scribble.shape and 6 <= v.num_slices <= 18
        assert v.spacing == spacing[v.case] and 0.6 < v.spacing[1] < 2.0 and 4.9 < v.spacing[0] <= 10.0
        assert set(np.unique(v.label)) <= {0, 1, 2, 3} and set(np.unique(v.scribble)) <= {0, 1, 2, 3, 4}
        assert 0.0 <= v.image.min() and v.image.max() <= 1.0
        lab = v.scribble != 4
        # expert scribbles overwhelmingly agree with the dense label (a few border pixels may not)
        assert (v.scribble[lab] == v.label[lab]).mean() > 0.9


def test_acdc_checksums(real_root):
    """The data root verifies against the packaged SHA-256 sums."""
    verify("acdc", real_root)


def test_fold1_split_on_disk(real_root):
    """Fold 1: 40 test volumes (patients 1-20), disjoint from the 16 validation and 144 training volumes."""
    cases = list_acdc_cases(real_root)
    s = split_for("acdc", 1)
    by_part = {p: [c for c in cases if int(c[7:10]) in getattr(s, p)] for p in ("train", "val", "test")}
    assert [len(by_part[p]) for p in ("train", "val", "test")] == [144, 16, 40]
    assert not set(by_part["test"]) & (set(by_part["train"]) | set(by_part["val"]))
