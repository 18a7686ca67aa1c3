"""PP-Matting: GCL (eq. 2-3) and the replacement fusion on hand tensors, shapes, variants, weight loading."""

from __future__ import annotations

import math

import pytest
import torch

from automatte.models.ppmatting import GatedConvLayer, replacement_fusion
from automatte.registry import create_model, list_models, model_info

BN = 1 / math.sqrt(1 + 1e-5)  # an eval BatchNorm with its initial statistics


def _hand_gcl() -> GatedConvLayer:
    """A GCL whose gate is g = sigmoid(BN * relu(BN * s)) (it reads the semantic channel only), w = [[1, 2], [0, 1]]."""
    gcl = GatedConvLayer(channels=2, semantic_channels=1).eval()
    with torch.no_grad():
        gcl.project.weight.fill_(1.0)
        gcl.project.bias.zero_()
        conv1, conv2 = gcl.gate[1], gcl.gate[3]
        conv1.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        conv1.bias.zero_()
        conv2.weight.copy_(torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1))  # channel 0 of (s || d) is s
        conv2.bias.zero_()
        gcl.weight.weight.copy_(torch.tensor([[1.0, 2.0], [0.0, 1.0]]).view(2, 2, 1, 1))
    return gcl


def test_gcl_eq2_eq3_on_hand_tensors():
    gcl = _hand_gcl()
    d = torch.tensor([[[[1.0, -2.0], [3.0, 0.5]], [[0.0, 1.0], [-1.0, 2.0]]]])  # (1, 2, 2, 2)
    s = torch.tensor([[[[0.0, 2.0], [-1.0, 10.0]]]])  # (1, 1, 2, 2): the ReLU zeroes the -1
    g = torch.sigmoid(BN * torch.relu(BN * s))  # eq. 2 with this C_1x1
    with torch.no_grad():
        assert torch.allclose(gcl.guidance(d, s), g, atol=1e-6)
        out = gcl(d, s)
    scaled = d * (1 + g)  # d . g + d
    expected = torch.stack([scaled[:, 0] + 2 * scaled[:, 1], scaled[:, 1]], dim=1)  # (.)^T w
    assert torch.allclose(out, expected, atol=1e-5)
    assert out[0, 1, 0, 0].item() == pytest.approx(0.0)  # d = 0 stays 0 whatever the gate
    assert out[0, 0, 0, 0].item() == pytest.approx(1.5, abs=1e-4)  # s = 0: g = 1/2, 1.5 * (1 + 2 * 0)


def test_gcl_resizes_the_semantic_feature():
    gcl = _hand_gcl()
    d = torch.rand(1, 2, 8, 8)
    with torch.no_grad():
        low = gcl.guidance(d, torch.full((1, 1, 2, 2), 3.0))
        same = gcl.guidance(d, torch.full((1, 1, 8, 8), 3.0))
    assert low.shape == (1, 1, 8, 8) and torch.allclose(low, same)


def test_replacement_fusion_on_hand_tensors():
    # pixels: background, transition, foreground, transition/foreground tie (argmax keeps the first: transition)
    logits = torch.tensor([[3.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 1.0], [1.0, 1.0, 5.0, 1.0]]).view(1, 3, 2, 2)
    detail = torch.tensor([0.2, 0.4, 0.6, 0.8]).view(1, 1, 2, 2).requires_grad_()
    alpha = replacement_fusion(logits, detail)
    assert torch.allclose(alpha.flatten(), torch.tensor([0.0, 0.4, 1.0, 0.8]))
    alpha.sum().backward()
    assert detail.grad.flatten().tolist() == [0.0, 1.0, 0.0, 1.0]  # the detail only matters in the transition


@pytest.mark.parametrize("size", [(64, 64), (96, 128)])
def test_shapes(size):
    torch.manual_seed(0)
    net = create_model("ppmatting_test").eval()
    h, w = size
    with torch.no_grad():
        out = net(image=torch.rand(2, 3, h, w))
    assert out.alpha.shape == out.detail.shape == (2, 1, h, w)
    assert out.trimap_logits.shape == (2, 3, h, w)
    assert [tuple(f.shape[-2:]) for f in out.features] == [(h // r, w // r) for r in (2, 4, 8, 16, 32)]
    assert [f.shape[1] for f in out.features] == net.encoder.channels
    assert 0 <= out.alpha.min() and out.alpha.max() <= 1
    assert torch.equal(out.alpha, replacement_fusion(out.trimap_logits, out.detail))


def test_registry_and_input_checks():
    assert {"ppmatting_hrnet48", "ppmatting_hrnet18"} <= set(list_models(family="ppmatting"))
    assert model_info("ppmatting_test").inputs == ("image",)
    net = create_model("ppmatting_test")
    assert sum(p.numel() for p in net.parameters()) < 500_000
    with pytest.raises(ValueError, match="multiples of 32"):
        net(image=torch.rand(1, 3, 70, 90))


@pytest.mark.parametrize("name, millions", [("ppmatting_hrnet18", 24.50), ("ppmatting_hrnet48", 86.19)])
def test_full_size_counts_on_meta(name, millions):
    with torch.device("meta"):
        net = create_model(name)
    # no count in the paper; the authors' PaddleSeg Matting README lists 24.5 M for the HRNet-W18 model
    assert sum(p.numel() for p in net.parameters()) / 1e6 == pytest.approx(millions, abs=0.01)


def test_pretrained_round_trip_and_encoder_only(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    src = create_model("ppmatting_test").eval()
    save_file(src.state_dict(), str(tmp_path / "pp.safetensors"))
    net = create_model("ppmatting_test", pretrained=tmp_path / "pp.safetensors").eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(net(image=x).alpha, src(image=x).alpha)
        assert torch.equal(net(image=x).trimap_logits, src(image=x).trimap_logits)

    # an HRNet checkpoint in the official names (no decoder keys) goes to the encoder only
    torch.save({"model": src.encoder.state_dict()}, tmp_path / "hrnet.pth")
    enc = create_model("ppmatting_test", pretrained=tmp_path / "hrnet.pth")
    assert torch.equal(enc.encoder.conv1.weight, src.encoder.conv1.weight)
    assert not torch.equal(enc.scb.head[-1].weight, src.scb.head[-1].weight)
