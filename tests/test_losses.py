"""Tests of scribcim.training.losses against hand computations."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from scribcim.training.losses import partial_ce, self_dice, soft_dice_loss

UNLAB = 4


def _logits(b=2, c=4, h=5, w=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, c, h, w, generator=g, requires_grad=True)


def _scribble(b=2, h=5, w=6):
    s = torch.full((b, h, w), UNLAB, dtype=torch.long)
    s[0, 1, 1:4] = 1
    s[0, 3, 2] = 3
    s[1, 0, 0] = 0
    s[1, 4, 5] = 2
    return s


def test_partial_ce_gradient_only_at_labelled_pixels():
    """partial_ce gives exactly zero gradient at unlabelled pixels and nonzero at scribbled ones."""
    logits, s = _logits(), _scribble()
    partial_ce(logits, s).backward()
    g = logits.grad
    unl = (s == UNLAB).unsqueeze(1).expand_as(g)
    assert torch.equal(g[unl], torch.zeros_like(g[unl]))
    per_pixel = g.abs().sum(1)
    assert (per_pixel[s != UNLAB] > 0).all()


def test_partial_ce_equals_ce_on_labelled_pixels():
    """partial_ce equals the mean cross-entropy over the labelled pixels only."""
    logits, s = _logits(), _scribble()
    keep = s != UNLAB
    flat = logits.permute(0, 2, 3, 1)[keep]          # (N, C)
    expected = F.cross_entropy(flat, s[keep])
    manual = -(flat.log_softmax(1).gather(1, s[keep][:, None])).mean()
    got = partial_ce(logits, s)
    assert torch.allclose(got, expected, atol=1e-6)
    assert torch.allclose(got, manual, atol=1e-6)


def test_partial_ce_custom_ignore_index():
    """ignore_index selects which value is unlabelled."""
    logits = _logits()
    s = torch.zeros(2, 5, 6, dtype=torch.long)
    s[0, 0, 0] = 2
    keep = s != 0
    expected = F.cross_entropy(logits.permute(0, 2, 3, 1)[keep], s[keep])
    assert torch.allclose(partial_ce(logits, s, ignore_index=0), expected, atol=1e-6)


def test_partial_ce_all_unlabelled_is_zero_with_backward():
    """An all-unlabelled batch gives loss 0 and a working backward with zero gradient."""
    logits = _logits()
    loss = partial_ce(logits, torch.full((2, 5, 6), UNLAB, dtype=torch.long))
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None
    assert torch.equal(logits.grad, torch.zeros_like(logits.grad))


def _onehot(lab, c=4):
    return F.one_hot(lab, c).permute(0, 3, 1, 2).float()


def test_soft_dice_perfect_prediction_is_zero():
    """A prediction equal to the one-hot target has dice loss ~0."""
    lab = torch.tensor([[[0, 1, 2], [3, 3, 0]]])
    t = _onehot(lab)
    assert soft_dice_loss(t, t).item() == pytest.approx(0.0, abs=1e-6)


def test_soft_dice_disjoint_prediction_is_one():
    """A prediction disjoint from the target in every class has loss ~1."""
    lab = torch.tensor([[[0, 1, 2], [3, 3, 0]]])
    t = _onehot(lab)
    p = _onehot((lab + 1) % 4)
    assert soft_dice_loss(p, t).item() == pytest.approx(1.0, abs=1e-4)


def test_soft_dice_hand_computed():
    """Two classes, three pixels: loss = mean_c 1 - (2 I_c + s) / (|P_c|^2 + |T_c|^2 + s)."""
    p = torch.tensor([[[[0.8, 0.4, 0.0]], [[0.2, 0.6, 1.0]]]])   # (1, 2, 1, 3)
    t = torch.tensor([[[[1.0, 0.0, 0.0]], [[0.0, 1.0, 1.0]]]])
    s = 1e-5
    d0 = 1 - (2 * 0.8 + s) / ((0.64 + 0.16) + 1.0 + s)
    d1 = 1 - (2 * 1.6 + s) / ((0.04 + 0.36 + 1.0) + 2.0 + s)
    assert soft_dice_loss(p, t).item() == pytest.approx((d0 + d1) / 2, abs=1e-6)


def test_soft_dice_sums_over_batch():
    """Intersections and norms are summed over the batch before the ratio (not a per-image mean)."""
    p = torch.tensor([[[[1.0]]], [[[0.0]]]])     # (2, 1, 1, 1)
    t = torch.tensor([[[[1.0]]], [[[1.0]]]])
    s = 1e-5
    assert soft_dice_loss(p, t).item() == pytest.approx(1 - (2 + s) / (1 + 2 + s), abs=1e-6)


def test_self_dice_value_and_detached_pseudo_label():
    """self_dice equals soft_dice(softmax, onehot(argmax)) and its gradient treats the label as constant."""
    logits = _logits()
    loss = self_dice(logits)
    probs = logits.softmax(1)
    pseudo = _onehot(probs.argmax(1))
    assert torch.allclose(loss, soft_dice_loss(probs, pseudo), atol=1e-6)
    loss.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    assert torch.isfinite(logits.grad).all()
    ref = logits.detach().clone().requires_grad_(True)
    soft_dice_loss(ref.softmax(1), pseudo).backward()
    assert torch.allclose(logits.grad, ref.grad, atol=1e-7)


def test_self_dice_confident_logits_near_zero():
    """Very confident logits give a self-dice close to 0; uniform ones a clearly larger value."""
    lab = torch.tensor([[[0, 1, 2, 3], [3, 2, 1, 0]]])
    confident = 50.0 * _onehot(lab)
    assert self_dice(confident).item() == pytest.approx(0.0, abs=1e-4)
    assert self_dice(torch.zeros(1, 4, 2, 4)).item() > 0.5


def test_partial_ce_equals_mean_over_scribbled_pixels_and_zero_without():
    """The sync-free form equals torch's mean over non-ignored pixels; no scribble gives 0 with a graph."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 8, 8, generator=g, requires_grad=True)
    scribble = torch.full((2, 8, 8), 4, dtype=torch.long)
    scribble[0, 2:4, 2:6] = 1
    scribble[1, 5, :] = 0
    ref = torch.nn.functional.cross_entropy(logits, scribble, ignore_index=4)
    assert torch.allclose(partial_ce(logits, scribble), ref, rtol=1e-6, atol=1e-7)
    none = partial_ce(logits, torch.full_like(scribble, 4))
    assert none.item() == 0.0 and none.requires_grad
