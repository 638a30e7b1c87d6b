"""Tests of scribcim.models: UNet / CIM shapes, gradients, the reference-set update and attention."""
from __future__ import annotations

import math

import pytest
import torch

from scribcim.models import CIM, CIMConfig, UNet
from scribcim.models.cim import attend

BUFFERS = ("bank_keys", "bank_values", "bank_ptr", "token_keys", "token_values", "bank_source")
UNLAB = 4


pytestmark = pytest.mark.usefixtures("one_thread")


def _cim(seed=0, **cfg):
    torch.manual_seed(seed)
    cfg.setdefault("bank_size", 8)
    return CIM(1, 4, cim=CIMConfig(**cfg))


def _snapshot(model):
    return {name: getattr(model, name).clone() for name in BUFFERS}


def _image(b=2, h=64, w=64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 1, h, w, generator=g)


def _scribble_class2_three_blocks(b=2, size=64):
    """Class 2 drawn inside bottleneck blocks (0,1), (2,3), (3,0) of a 64x64 input; rest unlabelled."""
    s = torch.full((b, size, size), UNLAB, dtype=torch.long)
    s[:, 3:6, 20:30] = 2      # block (0, 1): rows 0-15, cols 16-31
    s[:, 40, 50:60] = 2       # block (2, 3): rows 32-47, cols 48-63
    s[:, 60:63, 1] = 2        # block (3, 0): rows 48-63, cols 0-15
    return s, [(0, 1), (2, 3), (3, 0)]


# ---------------------------------------------------------------- shapes

SHAPES = [(2, 32, 32), (1, 48, 48), (2, 64, 64), (3, 64, 32)]


@pytest.mark.parametrize("b,h,w", SHAPES)
def test_unet_output_shapes(b, h, w):
    """UNet returns (B,4,H,W) logits, (B,256,H/16,W/16) bottleneck and (B,16,H,W) decoder features."""
    net = UNet(1, 4).eval()
    with torch.no_grad():
        logits, f = net(torch.randn(b, 1, h, w))
    assert tuple(logits.shape) == (b, 4, h, w)
    assert tuple(f["bottleneck"].shape) == (b, 256, h // 16, w // 16)
    assert tuple(f["decoder"].shape) == (b, 16, h, w)


@pytest.mark.parametrize("b,h,w", SHAPES)
def test_cim_output_shapes(b, h, w):
    """CIM returns logits, bottleneck/decoder and the four head features plus fused at the right shapes."""
    net = _cim().eval()
    with torch.no_grad():
        logits, f = net(torch.randn(b, 1, h, w))
    hh, ww = h // 16, w // 16
    assert tuple(logits.shape) == (b, 4, h, w)
    assert tuple(f["bottleneck"].shape) == (b, 256, hh, ww)
    assert tuple(f["decoder"].shape) == (b, 16, h, w)
    assert tuple(f["pixel_key"].shape) == (b, 32, hh, ww)
    assert tuple(f["pixel_value"].shape) == (b, 128, hh, ww)
    assert tuple(f["token_key"].shape) == (b, 32, hh, ww)
    assert tuple(f["token_value"].shape) == (b, 128, hh, ww)
    assert tuple(f["fused"].shape) == (b, 256, hh, ww)


# ---------------------------------------------------------------- gradients

def test_unet_gradients_reach_all_parameters():
    """A backward of logits.sum() gives every UNet parameter a finite gradient."""
    torch.manual_seed(0)
    net = UNet(1, 4).train()
    logits, _ = net(_image(2, 32, 32))
    logits.sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name


def test_cim_gradients_reach_all_parameters_and_key_heads():
    """With soft matching every CIM parameter gets a finite grad, and the key heads a nonzero one."""
    net = _cim(matching="soft").train()
    x = _image(2, 32, 32)
    s = torch.full((2, 32, 32), UNLAB, dtype=torch.long)
    s[:, 2, 2] = 1
    logits, _ = net(x, s)
    logits.sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    for head in (net.pixel_key, net.token_key, net.pixel_value, net.token_value):
        assert any(p.grad.abs().sum() > 0 for p in head.parameters())
    assert net.pixel_key[0].weight.grad.abs().sum() > 0
    assert net.token_key[0].weight.grad.abs().sum() > 0


# ---------------------------------------------------------------- reference-set update

def _assert_buffers_equal(model, before):
    for name in BUFFERS:
        assert torch.equal(getattr(model, name), before[name]), name


def test_buffers_unchanged_in_eval_with_scribble():
    """In eval mode a scribble never touches the banks, pointers or tokens."""
    net = _cim().eval()
    before = _snapshot(net)
    s, _ = _scribble_class2_three_blocks()
    with torch.no_grad():
        net(_image(), s)
    _assert_buffers_equal(net, before)


def test_buffers_unchanged_in_train_without_scribble():
    """In train mode without a scribble the reference set is left alone."""
    net = _cim().train()
    before = _snapshot(net)
    net(_image())
    _assert_buffers_equal(net, before)


def test_buffers_unchanged_in_train_with_all_unlabelled_scribble():
    """In corrected mode an all-4 scribble selects nothing and updates nothing."""
    net = _cim(faithful=False).train()
    before = _snapshot(net)
    net(_image(), torch.full((2, 64, 64), UNLAB, dtype=torch.long))
    _assert_buffers_equal(net, before)


def test_faithful_absent_class_tokens_decay():
    """faithful=True: classes absent from the scribble get tokens = momentum * old, banks untouched."""
    mom = 0.9
    net = _cim(faithful=True, momentum=mom).train()
    before = _snapshot(net)
    net(_image(), torch.full((2, 64, 64), UNLAB, dtype=torch.long))
    assert torch.equal(net.token_keys, mom * before["token_keys"])
    assert torch.equal(net.token_values, mom * before["token_values"])
    for name in ("bank_keys", "bank_values", "bank_ptr"):
        assert torch.equal(getattr(net, name), before[name]), name
    assert not torch.equal(net.token_keys, before["token_keys"])


def test_faithful_present_class_updates_and_absent_decay():
    """faithful=True with class 2 at a grid point: token 2 moves to the EMA, the others decay."""
    mom = 0.9
    net = _cim(faithful=True, momentum=mom).train()
    before = _snapshot(net)
    s = torch.full((2, 64, 64), UNLAB, dtype=torch.long)
    s[:, 21, 42] = 2   # 64 -> 4 with align_corners: grid points at 0, 21, 42, 63 -> cell (1, 2)
    _, f = net(_image(), s)
    kp = f["pixel_key"].detach()
    mean_k = kp[:, :, 1, 2].mean(0)
    assert torch.allclose(net.token_keys[2], mom * before["token_keys"][2] + (1 - mom) * mean_k, atol=1e-6)
    for c in (0, 1, 3):
        assert torch.equal(net.token_keys[c], mom * before["token_keys"][c])
        assert torch.equal(net.token_values[c], mom * before["token_values"][c])
    assert net.bank_ptr.tolist() == [0, 0, 2, 0]


def test_train_update_class2_only():
    """A class-2 scribble in 3 blocks pushes exactly those cells' (Kp, Vp) into bank 2 and EMAs token 2."""
    mom, b, m = 0.9, 2, 16
    net = _cim(bank_size=m, momentum=mom).train()
    before = _snapshot(net)
    s, cells = _scribble_class2_three_blocks(b)
    _, f = net(_image(b), s)
    kp, vp = f["pixel_key"].detach(), f["pixel_value"].detach()

    n = len(cells) * b
    assert net.bank_ptr.tolist() == [0, 0, n, 0]
    exp_k = torch.stack([kp[i, :, r, c] for i in range(b) for r, c in cells])
    exp_v = torch.stack([vp[i, :, r, c] for i in range(b) for r, c in cells])
    assert torch.equal(net.bank_keys[2, :n], exp_k)
    assert torch.equal(net.bank_values[2, :n], exp_v)
    assert torch.equal(net.bank_keys[2, n:], before["bank_keys"][2, n:])
    assert torch.equal(net.bank_values[2, n:], before["bank_values"][2, n:])
    for c in (0, 1, 3):
        assert torch.equal(net.bank_keys[c], before["bank_keys"][c])
        assert torch.equal(net.bank_values[c], before["bank_values"][c])
        assert torch.equal(net.token_keys[c], before["token_keys"][c])
        assert torch.equal(net.token_values[c], before["token_values"][c])
    assert torch.allclose(net.token_keys[2], mom * before["token_keys"][2] + (1 - mom) * exp_k.mean(0), atol=1e-6)
    assert torch.allclose(net.token_values[2], mom * before["token_values"][2] + (1 - mom) * exp_v.mean(0),
                          atol=1e-6)
    assert not torch.allclose(net.token_keys[2], before["token_keys"][2])


def test_train_update_token_source_token():
    """token_source='token' moves the class token with the token-head (Kt, Vt) features, banks still use Kp."""
    mom, b = 0.9, 2
    net = _cim(bank_size=16, momentum=mom, token_source="token").train()
    before = _snapshot(net)
    s, cells = _scribble_class2_three_blocks(b)
    _, f = net(_image(b), s)
    kt, kp = f["token_key"].detach(), f["pixel_key"].detach()
    mean_kt = torch.stack([kt[i, :, r, c] for i in range(b) for r, c in cells]).mean(0)
    assert torch.allclose(net.token_keys[2], mom * before["token_keys"][2] + (1 - mom) * mean_kt, atol=1e-6)
    assert torch.equal(net.bank_keys[2, 0], kp[0, :, 0, 1])


def test_fifo_wraps_pointer():
    """Two pushes of 6 into a bank of 8 wrap: entries land at 6,7,0..3 and ptr ends at 4."""
    b, m = 2, 8
    net = _cim(bank_size=m).train()
    s, cells = _scribble_class2_three_blocks(b)
    net(_image(b, seed=1), s)
    assert net.bank_ptr[2].item() == 6
    _, f = net(_image(b, seed=2), s)
    kp = f["pixel_key"].detach()
    second = torch.stack([kp[i, :, r, c] for i in range(b) for r, c in cells])
    assert net.bank_ptr[2].item() == (6 + 6) % m
    assert torch.equal(net.bank_keys[2, [6, 7, 0, 1, 2, 3]], second)


def test_fifo_keeps_last_entries_when_overfull():
    """With more selected cells than bank_size the bank holds the last bank_size entries."""
    b, m = 2, 4
    net = _cim(bank_size=m).train()
    before_ptr = net.bank_ptr.clone()
    s, cells = _scribble_class2_three_blocks(b)       # 6 selected cells > 4
    _, f = net(_image(b), s)
    kp = f["pixel_key"].detach()
    entries = torch.stack([kp[i, :, r, c] for i in range(b) for r, c in cells])
    assert torch.equal(net.bank_keys[2], entries[-m:])
    assert net.bank_ptr[2].item() == (before_ptr[2].item() + m) % m
    # now push 6 more from a different image starting at ptr 0: wraps modulo m again
    _, f2 = net(_image(b, seed=5), s)
    kp2 = f2["pixel_key"].detach()
    entries2 = torch.stack([kp2[i, :, r, c] for i in range(b) for r, c in cells])
    assert torch.equal(net.bank_keys[2], entries2[-m:])
    assert 0 <= net.bank_ptr[2].item() < m


# ---------------------------------------------------------------- sampling modes

def _onehot_block_scribble():
    s = torch.full((1, 256, 256), UNLAB, dtype=torch.long)
    # inside cell (3, 5) = rows 48..63, cols 80..95, avoiding its grid point (51, 85)
    s[0, 52:64, 86:96] = 1
    return s


def test_corrected_sampling_selects_cell_without_grid_point():
    """Corrected (max-pool) sampling selects a cell scribbled anywhere, and only that cell."""
    net = _cim(faithful=False)
    mask = net.scribble_mask(_onehot_block_scribble(), (16, 16))
    assert mask.shape == (1, 4, 16, 16)
    assert mask[0, 1, 3, 5]
    assert mask.sum().item() == 1


def test_faithful_sampling_misses_off_grid_scribble():
    """Faithful (bilinear ==1) sampling ignores a scribble that misses the stride-17 grid."""
    net = _cim(faithful=True)
    mask = net.scribble_mask(_onehot_block_scribble(), (16, 16))
    assert mask.sum().item() == 0


def test_faithful_sampling_selects_grid_point():
    """Faithful sampling selects cell (3,5) for a single scribbled pixel at (17*3, 17*5)."""
    s = torch.full((1, 256, 256), UNLAB, dtype=torch.long)
    s[0, 17 * 3, 17 * 5] = 1
    faithful = _cim(faithful=True).scribble_mask(s, (16, 16))
    assert faithful[0, 1, 3, 5]
    assert faithful.sum().item() == 1
    corrected = _cim(faithful=False).scribble_mask(s, (16, 16))
    assert corrected[0, 1, 3, 5] and corrected.sum().item() == 1


def test_scribble_mask_per_class():
    """Corrected mask puts each scribbled class in its own channel and ignores 4."""
    s = torch.full((1, 64, 64), UNLAB, dtype=torch.long)
    s[0, 0, 0] = 0
    s[0, 63, 63] = 3
    mask = _cim().scribble_mask(s, (4, 4))
    assert mask[0, 0, 0, 0] and mask[0, 3, 3, 3]
    assert mask.sum().item() == 2


# ---------------------------------------------------------------- attention

@pytest.mark.parametrize("b,h,w", [(2, 32, 32), (1, 64, 32)])
def test_attention_weights_sum_to_one(b, h, w):
    """Soft attention weights have shape (B, h*w, 4M) / (B, h*w, 4), are >= 0 and rows sum to 1."""
    m = 8
    net = _cim(bank_size=m).eval()
    with torch.no_grad():
        _, f = net(torch.randn(b, 1, h, w), return_attention=True)
    n = (h // 16) * (w // 16)
    pa, ta = f["pixel_attention"], f["token_attention"]
    assert tuple(pa.shape) == (b, n, 4 * m)
    assert tuple(ta.shape) == (b, n, 4)
    for a in (pa, ta):
        assert (a >= 0).all()
        assert torch.allclose(a.sum(-1), torch.ones(a.shape[:-1]), atol=1e-5)


def test_hard_attention_is_one_hot():
    """matching='hard' gives one-hot attention rows."""
    net = _cim(matching="hard").eval()
    with torch.no_grad():
        _, f = net(torch.randn(2, 1, 32, 32), return_attention=True)
    for a in (f["pixel_attention"], f["token_attention"]):
        assert ((a == 0) | (a == 1)).all()
        assert torch.equal(a.sum(-1), torch.ones(a.shape[:-1]))


def test_no_attention_unless_requested():
    """Attention maps are only returned when return_attention=True."""
    net = _cim().eval()
    with torch.no_grad():
        _, f = net(torch.randn(2, 1, 32, 32))
    assert "pixel_attention" not in f and "token_attention" not in f


def test_attend_matches_hand_computation():
    """attend is a softmax over query-key dot products applied to the values."""
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]]).t().reshape(1, 2, 1, 2)   # locations (1,0) and (0,2)
    keys = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    values = torch.tensor([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    out, wts = attend(q, keys, values)
    s = [[1.0, 0.0, 1.0], [0.0, 2.0, 2.0]]
    exp_w = torch.tensor([[math.exp(x) / sum(math.exp(y) for y in row) for x in row] for row in s])
    assert wts.shape == (1, 2, 3)
    assert torch.allclose(wts[0], exp_w, atol=1e-6)
    exp_out = exp_w @ values                     # (2 locations, 2 dims)
    assert out.shape == (1, 2, 1, 2)
    assert torch.allclose(out[0, :, 0, :].t(), exp_out, atol=1e-5)


def test_attend_hard_picks_argmax_value():
    """attend(hard=True) returns the value of the best-matching key."""
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]]).t().reshape(1, 2, 1, 2)
    keys = torch.tensor([[3.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    values = torch.tensor([[1.0], [2.0], [3.0]])
    out, wts = attend(q, keys, values, hard=True)
    assert torch.equal(wts[0], torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    assert out.flatten().tolist() == [1.0, 2.0]


# ---------------------------------------------------------------- ablations

@pytest.mark.parametrize("off,absent,present", [("use_banks", "pixel_attention", "token_attention"),
                                                 ("use_tokens", "token_attention", "pixel_attention")])
def test_one_matching_off(off, absent, present):
    """One matching off: its attention is absent even when requested, the other's is there, shapes right."""
    net = _cim(**{off: False}).eval()
    with torch.no_grad():
        logits, f = net(torch.randn(2, 1, 32, 32), return_attention=True)
    assert absent not in f and present in f
    assert tuple(logits.shape) == (2, 4, 32, 32)
    assert tuple(f["fused"].shape) == (2, 256, 2, 2)


def test_no_banks_no_tokens_fused_is_bottleneck():
    """Both matchings off: the decoder gets the plain bottleneck."""
    net = _cim(use_banks=False, use_tokens=False).eval()
    with torch.no_grad():
        logits, f = net(torch.randn(2, 1, 32, 32), return_attention=True)
    assert "pixel_attention" not in f and "token_attention" not in f
    assert torch.equal(f["fused"], f["bottleneck"])
    assert tuple(logits.shape) == (2, 4, 32, 32)


def test_fused_is_sum_of_branches():
    """With both branches, fused = concat(Vp, S) + concat(Vt, R)."""
    net = _cim().eval()
    with torch.no_grad():
        _, f = net(torch.randn(2, 1, 32, 32))
        s, _ = attend(f["pixel_key"], net.bank_keys.flatten(0, 1), net.bank_values.flatten(0, 1))
        r, _ = attend(f["token_key"], net.token_keys, net.token_values)
    exp = torch.cat([f["pixel_value"], s], 1) + torch.cat([f["token_value"], r], 1)
    assert torch.allclose(f["fused"], exp, atol=1e-5)


# ---------------------------------------------------------------- checkpoints and config

def test_state_dict_round_trip():
    """The five buffers are in the state_dict and reloading reproduces eval logits exactly."""
    net = _cim(seed=0).train()
    s, _ = _scribble_class2_three_blocks()
    net(_image(), s)                    # move the buffers off their initial values
    sd = net.state_dict()
    for name in BUFFERS:
        assert name in sd
    assert sd["bank_ptr"][2].item() == 6
    fresh = _cim(seed=123)
    fresh.load_state_dict(sd)
    for name in BUFFERS:
        assert torch.equal(getattr(fresh, name), getattr(net, name)), name
    net.eval()
    fresh.eval()
    x = _image(seed=9)
    with torch.no_grad():
        a, _ = net(x)
        b, _ = fresh(x)
    assert torch.equal(a, b)


@pytest.mark.parametrize("kwargs", [dict(matching="x"), dict(bank_size=0), dict(token_source="y"),
                                    dict(momentum=1.0)])
def test_invalid_cim_config(kwargs):
    """Bad CIMConfig values raise ValueError."""
    with pytest.raises(ValueError):
        CIMConfig(**kwargs)


def test_cim_rejects_value_dim_mismatch():
    """2 * value_dim must equal the bottleneck width."""
    with pytest.raises(ValueError):
        CIM(1, 4, cim=CIMConfig(bank_size=4, value_dim=64))


def test_bank_source_records_origin_of_each_entry():
    """With an origin, every pushed entry records (iteration, batch position, slice, row, col); wraps with the FIFO."""
    b, m = 2, 8
    net = _cim(bank_size=m).train()
    s, cells = _scribble_class2_three_blocks(b)
    net(_image(b), s, origin=torch.tensor([[7, 30], [7, 41]]))
    exp = [[7, i, (30, 41)[i], r, c] for i in range(b) for r, c in cells]
    assert net.bank_source[2, :6].tolist() == exp
    assert (net.bank_source[2, 6:] == -1).all() and (net.bank_source[[0, 1, 3]] == -1).all()
    net(_image(b, seed=2), s, origin=torch.tensor([[8, 5], [8, 6]]))
    assert net.bank_source[2, [6, 7, 0, 1, 2, 3], 0].tolist() == [8] * 6
    assert net.bank_source[2, 4:6, 0].tolist() == [7, 7]   # not overwritten yet
    net(_image(b, seed=3), s)                              # no origin: sources unknown
    assert net.bank_source[2, [4, 5, 6, 7, 0, 1], 0].tolist() == [-1] * 6


def test_checkpoint_without_bank_source_loads():
    """State dicts written before bank_source existed still load; their sources read as unknown (-1)."""
    net = _cim(seed=0)
    sd = {k: v for k, v in net.state_dict().items() if k != "bank_source"}
    fresh = _cim(seed=1)
    fresh.bank_source.fill_(3)
    fresh.load_state_dict(sd)
    assert (fresh.bank_source == -1).all()
