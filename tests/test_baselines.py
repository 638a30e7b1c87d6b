"""Baselines: their losses and networks, and the dense-label guard."""
from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from scribcim.config import make_config
from scribcim.errors import ConfigError
from scribcim.training.losses import dense_ce_dice, mixed_pseudo_label_dice, partial_dice, soft_dice_loss
from scribcim.training.methods import METHODS, get_method
from scribcim.models.dual import DualDecoderUNet


def _scribble():
    s = torch.full((2, 8, 8), 4, dtype=torch.long)
    s[:, 2, 1:6], s[:, 5, 2:7], s[0, 7, :] = 1, 3, 0
    return s


def test_partial_dice_ignores_unlabelled_pixels():
    """Partial Dice gives zero gradient at unlabelled pixels and is ~0 for a perfect labelled fit."""
    s = _scribble()
    logits = torch.randn(2, 4, 8, 8, requires_grad=True)
    partial_dice(logits, s).backward()
    unl = (s == 4).unsqueeze(1).expand_as(logits)
    assert logits.grad[unl].abs().max() == 0 and logits.grad[~unl].abs().max() > 0
    perfect = F.one_hot(s.clamp(max=3), 4).permute(0, 3, 1, 2).float() * 50
    assert partial_dice(perfect, s) < 0.3  # classes absent from the scribble (2) count as 1 - smooth/smooth = 0


def test_dense_ce_dice_values():
    """Full supervision loss: near 0 for confident correct logits, large for confident wrong ones."""
    label = torch.randint(0, 4, (2, 8, 8))
    good = F.one_hot(label, 4).permute(0, 3, 1, 2).float() * 30
    assert dense_ce_dice(good, label) < 1e-3
    assert dense_ce_dice(good, (label + 1) % 4) > 5


def test_mixed_pseudo_label_dice_uses_the_mix():
    """beta=1 takes the main branch's argmax as the pseudo-label, beta=0 the auxiliary one's."""
    a, b = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    pa, pb = a.softmax(1), b.softmax(1)
    ta = F.one_hot(pa.argmax(1), 4).permute(0, 3, 1, 2).float()
    tb = F.one_hot(pb.argmax(1), 4).permute(0, 3, 1, 2).float()
    assert torch.isclose(mixed_pseudo_label_dice(a, b, 1.0), 0.5 * (soft_dice_loss(pa, ta) + soft_dice_loss(pb, ta)))
    assert torch.isclose(mixed_pseudo_label_dice(a, b, 0.0), 0.5 * (soft_dice_loss(pa, tb) + soft_dice_loss(pb, tb)))


def test_dual_decoder_aux_only_in_training():
    """The auxiliary branch runs in training (on dropped-out features) and is absent at evaluation."""
    net = DualDecoderUNet(1, 4)
    x = torch.randn(2, 1, 32, 32)
    logits, f = net(x)
    assert f["aux_logits"].shape == logits.shape == (2, 4, 32, 32)
    net.eval()
    _, f = net(x)
    assert "aux_logits" not in f


@pytest.mark.parametrize("name", ["pce_dice", "pce_selfdice", "full", "dmpls"])
def test_baseline_loss_backward(name):
    """Each baseline builds its network and its loss back-propagates to every parameter it uses."""
    cfg = make_config("smoke", dataset="phantom", method=name)
    method = get_method(name)(cfg)
    model = method.build_model().train()
    batch = {"image": torch.randn(2, 1, 32, 32), "scribble": torch.nn.functional.pad(_scribble(), (12, 12, 12, 12),
                                                                                       value=4),
             "label": torch.randint(0, 4, (2, 32, 32))}
    loss, parts = method.loss(model, batch)
    loss.backward()
    assert torch.isfinite(loss) and parts
    assert all(p.grad is not None for p in model.parameters())
    assert METHODS[name].name == name


def test_full_refused_without_dense_labels(tmp_path, monkeypatch):
    """`full` on a dataset without dense training labels stops with a config error."""
    import scribcim.training.run_setup as rs
    import scribcim.training.loop as tr
    real = rs.load_part
    monkeypatch.setattr(rs, "load_part", lambda *a: [dataclasses.replace(v, label=None) for v in real(*a)])
    with pytest.raises(ConfigError, match="dense training labels"):
        tr.train(make_config("smoke", dataset="phantom", method="full", run_dir=str(tmp_path / "r"), progress=False))
    assert not (tmp_path / "r").exists()  # refused while loading: the folder this call made is removed
