"""DIM (Deep Image Matting): shapes, the refinement residual, parameter counts, VGG-16 checkpoint loading."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from automatte.models.backbones.vgg import VGG16_DEPTHS, VGG16Encoder, load_vgg16_state_dict
from automatte.models.dim import DIM
from automatte.registry import create_model, model_info

TEST_WIDTHS = (8, 16, 32, 64, 64)  # dim_test's encoder


def _inputs(h=64, w=64, b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g), torch.randint(0, 3, (b, 1, h, w), generator=g).float() / 2


def _params(name=None, **kw):
    with torch.device("meta"):
        net = create_model(name) if name else DIM(**kw)
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("hw", [(64, 64), (96, 128)])
def test_dim_shapes_and_ranges(hw):
    torch.manual_seed(0)
    net = create_model("dim_test").train()
    image, trimap = _inputs(*hw)
    out = net(image=image, trimap=trimap)
    assert out.alpha.shape == out.coarse_alpha.shape == (2, 1, *hw)
    assert 0 <= out.alpha.min() and out.alpha.max() <= 1 and 0 <= out.coarse_alpha.min() <= out.coarse_alpha.max() <= 1
    h, w = hw
    shapes = [tuple(f.shape) for f in out.features]
    assert shapes == [(2, c, h // s, w // s) for c, s in zip(TEST_WIDTHS, (2, 4, 8, 16, 32))]


def test_dim_free_takes_rgb_only_and_dim_needs_the_trimap():
    image, trimap = _inputs()
    free = create_model("dim_free_test").eval()
    assert free.model_inputs == ("image",) and free(image=image).alpha.shape == (2, 1, 64, 64)
    net = create_model("dim_test").train()
    with pytest.raises(ValueError, match="trimap"):
        net(image=image)
    with pytest.raises(ValueError, match="multiples of 32"):
        net(image=image[..., :48], trimap=trimap[..., :48])
    with torch.no_grad():  # the trimap channel is an input of the first convolution
        a = net(image=image, trimap=trimap).coarse_alpha
        b = net(image=image, trimap=1 - trimap).coarse_alpha
    assert (a - b).abs().max() > 1e-3


def test_refinement_adds_a_clamped_residual_to_the_coarse_alpha():
    torch.manual_seed(0)
    net = create_model("dim_test").eval()
    image, trimap = _inputs()
    last = net.refinement.residual
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(0.0)
        out = net(image=image, trimap=trimap)
        assert torch.equal(out.alpha, out.coarse_alpha)  # zero residual: refined == raw
        last.bias.fill_(-0.25)
        out = net(image=image, trimap=trimap)
        assert torch.allclose(out.alpha, (out.coarse_alpha - 0.25).clamp(min=0))
        last.bias.fill_(10.0)
        assert torch.equal(net(image=image, trimap=trimap).alpha, torch.ones(2, 1, 64, 64))  # clamped to 1
    raw = DIM(encoder_widths=TEST_WIDTHS, conv6_width=64, decoder_widths=(64, 32, 16, 8, 8), refine=False).eval()
    with torch.no_grad():
        out = raw(image=image, trimap=trimap)
    assert out.alpha is out.coarse_alpha and not any("refinement" in n for n, _ in raw.named_parameters())


def test_gradients_reach_both_stages():
    torch.manual_seed(0)
    net = create_model("dim_test").train()
    out = net(*_inputs())
    out.alpha.mean().backward()
    assert net.refinement.residual.weight.grad.abs().sum() > 0
    assert net.encoder.first_conv.weight.grad[:, 3].abs().sum() > 0  # the trimap channel learns


def test_parameter_counts_near_ppid_table_1():
    paper = model_info("dim").paper_params * 1e6
    assert model_info("dim").paper_source == "ppid table 1"
    full = _params("dim")
    assert abs(full - paper) / paper < 0.10
    assert full == 26_283_266  # DIM paper layout (conv6/deconv6, 5 decoder convs, refinement): +2.7%
    assert _params("dim") - _params("dim_free") == 64 * 9  # the trimap channel of conv1_1
    # PPID's 25.58M is exactly the encoder-decoder without conv6/deconv6/deconv1 and without refinement
    ppid = _params(conv6=False, decoder_widths=(512, 256, 128, 64), refine=False)
    assert ppid == 25_577_409 and round(ppid / 1e6, 2) == 25.58
    assert _params("dim_test") < 500_000


def _torchvision_vgg(widths, bn: bool) -> nn.Sequential:
    """A torchvision-layout VGG-16 ``features`` (conv[, bn], relu, ..., maxpool) with the given widths."""
    layers, cin = [], 3
    for width, depth in zip(widths, VGG16_DEPTHS):
        for _ in range(depth):
            layers += [nn.Conv2d(cin, width, 3, padding=1)] + ([nn.BatchNorm2d(width)] if bn else []) + [nn.ReLU()]
            cin = width
        layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers)


@pytest.mark.parametrize("bn", [True, False], ids=["vgg16_bn", "vgg16"])
def test_torchvision_vgg16_weights_load_into_the_4_channel_encoder(bn, tmp_path):
    torch.manual_seed(0)
    features = _torchvision_vgg(TEST_WIDTHS, bn)
    with torch.no_grad():
        for m in features.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_(1, 0.1)
                m.bias.normal_(0, 0.1)
    features.eval()
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(10, 10)  # ignored
    torch.save(state, tmp_path / "vgg16.pth")
    net = create_model("dim_test", pretrained=str(tmp_path / "vgg16.pth")).eval()
    conv = net.encoder.first_conv
    assert conv.in_channels == 4 and conv.weight[:, 3].abs().sum() == 0
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = features(x)
        got = net.encoder(torch.cat([x, torch.rand(1, 1, 64, 64)], 1))[0][-1]
    # without BN in the checkpoint our BN is set to the identity in eval mode (running_var = 1 - eps): exact too
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_own_checkpoint_round_trip_and_variant_mismatch(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = create_model("dim_test").eval()
    path = tmp_path / "dim_test.safetensors"
    save_file(net.state_dict(), str(path))
    again = create_model("dim_test", pretrained=str(path)).eval()
    image, trimap = _inputs()
    with torch.no_grad():
        assert torch.equal(again(image=image, trimap=trimap).alpha, net(image=image, trimap=trimap).alpha)
    with pytest.raises(ValueError, match="shape mismatch"):
        create_model("dim_free_test", pretrained=str(path))
    with pytest.raises(FileNotFoundError):
        create_model("dim_test", pretrained=str(tmp_path / "missing.pth"))


def test_load_vgg16_rejects_wrong_shapes():
    enc = VGG16Encoder(4, TEST_WIDTHS)
    with pytest.raises(ValueError, match="blocks.1.0.0.weight"):
        load_vgg16_state_dict(enc, {"blocks.1.0.0.weight": torch.zeros(3, 3, 3, 3)})
    with pytest.raises(ValueError, match="convolutions"):
        load_vgg16_state_dict(enc, {"features.0.weight": torch.zeros(8, 3, 3, 3)})
