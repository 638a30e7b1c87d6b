"""The released decoder (1x1 conv + bilinear x2), the transposed-conv option, and format-free dropout."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from scribcim.config import LEGACY, TrainConfig, make_config
from scribcim.training.methods import get_method
from scribcim.models import CIM, CIMConfig, UNet
from scribcim.models.unet import Dropout, UpBlock, dropout

pytestmark = pytest.mark.usefixtures("one_thread")


def test_default_decoder_is_the_released_one():
    """Every up block holds a 1x1 conv (in -> skip width) and no transposed conv, as in the released weights."""
    net = UNet(1, 4)
    keys = set(net.state_dict())
    widths = [(256, 128), (128, 64), (64, 32), (32, 16)]
    for i, (cin, cskip) in enumerate(widths):
        w = net.state_dict()[f"decoder.ups.{i}.conv1x1.weight"]
        assert tuple(w.shape) == (cskip, cin, 1, 1)
        assert f"decoder.ups.{i}.up.weight" not in keys
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in net.modules())


def test_up_block_is_conv1x1_then_bilinear_align_corners():
    """UpBlock = conv block of cat(skip, bilinear_x2(conv1x1(x)), align_corners=True), skip first."""
    torch.manual_seed(0)
    up = UpBlock(8, 4, 4).eval()
    x, skip = torch.randn(2, 8, 5, 7), torch.randn(2, 4, 10, 14)
    manual = up.conv(torch.cat([skip, F.interpolate(up.conv1x1(x), size=(10, 14), mode="bilinear",
                                                    align_corners=True)], 1))
    assert torch.equal(up(x, skip), manual)
    # align_corners=True keeps the corner values of the 1x1 conv's output exactly
    y = F.interpolate(up.conv1x1(x), scale_factor=2, mode="bilinear", align_corners=True)
    assert torch.allclose(y[..., 0, 0], up.conv1x1(x)[..., 0, 0]) and torch.allclose(
        y[..., -1, -1], up.conv1x1(x)[..., -1, -1])


@pytest.mark.parametrize("method", ["pce", "cim", "dmpls", "full"])
def test_every_method_builds_the_released_decoder_and_transposed_on_request(method):
    """upsample follows the config for every method (the auxiliary DMPLS decoder too)."""
    for mode, module in (("bilinear", torch.nn.Conv2d), ("transposed", torch.nn.ConvTranspose2d)):
        net = get_method(method)(make_config("smoke", method=method, upsample=mode)).build_model()
        ups = [m for m in net.modules() if isinstance(m, UpBlock)]
        assert ups and all(u.mode == mode for u in ups)
        assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in net.modules()) == (mode == "transposed")
        logits, _ = net.eval()(torch.zeros(1, 1, 32, 32))
        assert tuple(logits.shape) == (1, 4, 32, 32)


def test_bad_upsample_is_refused():
    from scribcim.errors import ConfigError
    with pytest.raises(ConfigError, match="upsample"):
        make_config("smoke", upsample="nearest")


def test_runs_stored_before_the_decoder_fix_read_as_transposed():
    """A stored config without ``upsample`` was made with the transposed conv (LEGACY), not today's default."""
    stored = make_config("smoke").to_dict()
    stored.pop("upsample")
    assert LEGACY["upsample"] == "transposed"
    assert TrainConfig.from_dict(stored).upsample == "transposed"
    assert TrainConfig().upsample == "bilinear"


def test_cim_gradients_flow_through_bilinear_decoder():
    net = CIM(1, 4, cim=CIMConfig(bank_size=8))
    logits, _ = net(torch.randn(2, 1, 32, 32))
    logits.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for n, p in net.named_parameters()
               if "conv1x1" in n)


@pytest.mark.parametrize("p", [0.05, 0.5])
def test_dropout_mask_does_not_depend_on_memory_format(p):
    """Same generator state, same elements dropped, for a channels_last and a contiguous tensor."""
    x = torch.randn(3, 8, 6, 5) + 3.0
    torch.manual_seed(11)
    a = dropout(x, p)
    torch.manual_seed(11)
    b = dropout(x.contiguous(memory_format=torch.channels_last), p)
    assert torch.equal(a, b)
    assert torch.equal(a == 0, b == 0) and 0 < int((a == 0).sum()) < x.numel()
    kept = a != 0
    assert torch.allclose(a[kept], x[kept] / (1 - p))


def test_dropout_is_identity_in_eval_and_at_zero():
    x = torch.randn(2, 3, 4, 4)
    assert Dropout(0.5).eval()(x) is x and dropout(x, 0.0) is x
    with pytest.raises(ValueError):
        dropout(x, 1.0)


def test_train_mode_logits_same_with_channels_last():
    """One seed, one network in train mode (dropout on): channels_last gives the same logits up to rounding
    (nn.Dropout drew other masks: the logits differed by ~1)."""
    torch.manual_seed(0)
    net = UNet(1, 4).train()
    x = torch.randn(2, 1, 64, 64)
    torch.manual_seed(5)
    a, _ = net(x)
    torch.manual_seed(5)
    b, _ = net.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    assert (a - b).abs().max() < 1e-4
