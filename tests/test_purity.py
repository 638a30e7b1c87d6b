"""Which cells feed CIM's banks (any / majority / released), matching at the 1/8 level, and bank purity."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from scribcim.config import make_config
from scribcim.errors import ConfigError
from scribcim.models import CIM, CIMConfig
from scribcim.models.reference import bank_purity, cell_info, scribble_mask

U = 4  # unlabelled
pytestmark = pytest.mark.usefixtures("one_thread")


def _phantom():
    """A 32x32 image on a 2x2 grid (16x16 cells) with known cell contents.

    dense label: cell (0,0) all RV (1); cell (0,1) all MYO (2); cell (1,0) all LV (3); cell (1,1) background.
    scribbles:  (0,0) 10 px RV;  (0,1) 10 px RV + 2 px MYO (RV scribbled on myocardium: impure, shared);
                (1,0) 6 px LV + 5 px MYO;  (1,1) 3 px background.
    """
    label = torch.zeros(1, 32, 32, dtype=torch.long)
    label[0, :16, :16], label[0, :16, 16:], label[0, 16:, :16] = 1, 2, 3
    s = torch.full((1, 32, 32), U, dtype=torch.long)
    s[0, 2, 2:12] = 1
    s[0, 4, 18:28], s[0, 8, 20:22] = 1, 2
    s[0, 20, 2:8], s[0, 24, 2:7] = 3, 2
    s[0, 28, 20:23] = 0
    return s, label


def test_any_rule_puts_a_cell_in_every_scribbled_class_bank():
    s, _ = _phantom()
    m = scribble_mask(s, (2, 2), 4, "any")[0]
    assert m[1].tolist() == [[True, True], [False, False]]
    assert m[2].tolist() == [[False, True], [True, False]]
    assert m[3].tolist() == [[False, False], [True, False]]
    assert m[0].tolist() == [[False, False], [False, True]]


def test_majority_rule_keeps_only_the_majority_class():
    """More than half of the cell's scribbled pixels: RV 10/12 and LV 6/11 win; MYO never does here."""
    s, _ = _phantom()
    m = scribble_mask(s, (2, 2), 4, "majority")[0]
    assert m[1].tolist() == [[True, True], [False, False]]
    assert m[3].tolist() == [[False, False], [True, False]]
    assert not m[2].any()
    assert int(m.sum(0).max()) == 1


def test_majority_needs_more_than_half():
    """A 50/50 cell goes to no bank."""
    s = torch.full((1, 16, 16), U, dtype=torch.long)
    s[0, 0, :4], s[0, 1, :4] = 1, 2
    assert not scribble_mask(s, (1, 1), 4, "majority").any()
    assert scribble_mask(s, (1, 1), 4, "any")[0, 1:3].all()


def test_cell_info_majority_label_and_shared():
    s, label = _phantom()
    info = cell_info(scribble_mask(s, (2, 2), 4, "any"), label, 4)[0]
    assert info[..., 0].tolist() == [[1, 2], [3, 0]]
    assert info[..., 1].tolist() == [[0, 1], [1, 0]]
    assert (cell_info(scribble_mask(s, (2, 2), 4, "any"), None, 4)[..., 0] == -1).all()


@pytest.mark.parametrize("rule,purity,shared", [
    ("any", {"RV": 0.5, "MYO": 0.5, "LV": 1.0}, {"RV": 0.5, "MYO": 1.0, "LV": 1.0}),
    ("majority", {"RV": 0.5, "MYO": math.nan, "LV": 1.0}, {"RV": 0.0, "MYO": math.nan, "LV": 0.0}),
])
def test_bank_purity_of_a_trained_step_on_the_phantom(rule, purity, shared):
    """One training forward of CIM on the phantom: the banks' purity and sharing are the known ones.

    RV bank: cells (0,0) (RV, pure) and (0,1) (MYO under an RV scribble) -> purity 1/2; MYO bank (any):
    cells (0,1) (MYO) and (1,0) (LV) -> 1/2; LV bank: cell (1,0), LV -> 1. Majority: no MYO entry.
    """
    s, label = _phantom()
    torch.manual_seed(0)
    net = CIM(1, 4, cim=CIMConfig(bank_size=16, sampling=rule)).train()
    net(torch.randn(1, 1, 32, 32), s, label=label)
    p, sh = net.bank_purity()
    for k in ("RV", "MYO", "LV"):
        assert (math.isnan(p[k]) and math.isnan(purity[k])) or p[k] == purity[k], (k, p)
        assert (math.isnan(sh[k]) and math.isnan(shared[k])) or sh[k] == shared[k], (k, sh)


def test_bank_purity_unknown_without_labels_and_fast_path_agrees():
    """No dense label: entries are unknown (NaN purity). The sync-free update records the same cells."""
    s, label = _phantom()
    torch.manual_seed(0)
    ref = CIM(1, 4, cim=CIMConfig(bank_size=3, sync_free=False)).train()
    fast = copy.deepcopy(ref)
    fast.cfg = CIMConfig(bank_size=3, sync_free=True)
    x = torch.randn(1, 1, 32, 32)
    for _ in range(3):
        ref(x, s, label=label)
        fast(x, s, label=label)
    assert torch.equal(ref.bank_cell, fast.bank_cell) and torch.equal(ref.bank_source, fast.bank_source)
    bare = CIM(1, 4, cim=CIMConfig(bank_size=4)).train()
    bare(x, s)
    assert all(math.isnan(v) for v in bare.bank_purity()[0].values())


def test_matching_at_level_1_uses_the_1_8_grid():
    """level 1: keys on the 1/8 grid, values half of 128 channels; logits keep the input size; cells 8x8 px."""
    net = CIM(1, 4, cim=CIMConfig(bank_size=8, level=1, sampling="majority")).train()
    assert net.bank_values.shape[-1] == 64
    s, label = _phantom()
    logits, f = net(torch.randn(1, 1, 32, 32), s, label=label)
    assert tuple(logits.shape) == (1, 4, 32, 32)
    assert tuple(f["pixel_key"].shape) == (1, 32, 4, 4) and tuple(f["matched"].shape) == (1, 128, 4, 4)
    assert int(net.bank_ptr.sum()) > 0
    logits.square().mean().backward()
    assert net.pixel_key[0].weight.grad is not None


@pytest.mark.parametrize("bad", [dict(sampling="most"), dict(cim_level=4), dict(faithful=True, cim_level=1),
                                 dict(faithful=True, sampling="majority")])
def test_bad_matching_settings_are_refused(bad):
    with pytest.raises(ConfigError, match="CIM setting"):
        make_config("smoke", method="cim", **bad)


def test_bank_purity_handles_empty_and_background_only_banks():
    cell = torch.full((4, 5, 2), -1, dtype=torch.long)
    cell[1, :2] = torch.tensor([[1, 0], [0, 1]])
    p, s = bank_purity(cell)
    assert p["RV"] == 0.5 and s["RV"] == 0.5 and math.isnan(p["LV"])


def test_bank_after_streams_training_batches_on_phantom_volumes():
    """The survey's bank: majority never shares a cell, any does on overlapping scribbles; values are fractions."""
    from scribcim.data.phantom import phantom_volumes
    from scribcim.data.slices import SliceSet
    from scribcim.analysis.purity import bank_after
    slices = SliceSet.from_volumes(phantom_volumes(3))
    for rule in ("any", "majority"):
        bank, per_step = bank_after(slices, size=64, stride=8, rule=rule, batches=5, batch_size=4, seed=0,
                                    bank_size=50)
        p, s = bank_purity(bank)
        assert all(0.0 <= v <= 1.0 for v in p.values() if v == v) and set(per_step) == {0, 1, 2, 3}
        if rule == "majority":
            assert all(v == 0.0 for v in s.values() if v == v)
