"""IndexNet: index blocks (shapes, normalisation, sub-network layout), index pooling / unpooling, the network's
shapes and errors, ImageNet initialisation of the BN encoder from BN-folded weights, parameter count."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from automatte.models.backbones.mobilenetv2 import MobileNetV2
from automatte.models.indexnet import IndexBlock, IndexNet, index_pool, index_unpool
from automatte.registry import create_model


@pytest.mark.parametrize("mode", ["m2o", "o2o", "holistic"])
@pytest.mark.parametrize("nonlinear,context", [(True, True), (False, False)])
def test_index_block_shapes_and_normalisation(mode, nonlinear, context):
    block = IndexBlock(6, mode, nonlinear, context).eval()
    x = torch.randn(2, 6, 16, 12)
    enc, dec = block(x)
    channels = 1 if mode == "holistic" else 6
    assert enc.shape == dec.shape == (2, channels, 16, 12)
    assert torch.all((dec > 0) & (dec < 1))
    torch.testing.assert_close(4 * F.avg_pool2d(enc, 2), torch.ones(2, channels, 8, 6))  # E sums to 1 per window


def test_m2o_fused_block_equals_four_subnetworks():
    torch.manual_seed(0)
    c = 3
    block = IndexBlock(c, "m2o").eval()
    conv1, bn, _, conv2 = block.index_net
    bn.running_mean.normal_()
    x = torch.randn(1, c, 8, 8)
    _, dec = block(x)
    for k in range(4):  # sub-network k: conv rows k*C..(k+1)*C, its BN channels, its 1x1 group
        rows = slice(k * c, (k + 1) * c)
        h = F.conv2d(x, conv1.weight[rows], stride=2, padding=1)
        h = F.batch_norm(h, bn.running_mean[rows], bn.running_var[rows], bn.weight[rows], bn.bias[rows], eps=bn.eps)
        h = F.conv2d(F.relu6(h), conv2.weight[rows])
        torch.testing.assert_close(dec[:, :, k // 2 :: 2, k % 2 :: 2], torch.sigmoid(h))


def test_o2o_is_channelwise():
    torch.manual_seed(0)
    block = IndexBlock(4, "o2o").eval()
    x = torch.randn(1, 4, 8, 8)
    y = x.clone()
    y[:, 0] += 1
    (_, d1), (_, d2) = block(x), block(y)
    torch.testing.assert_close(d1[:, 1:], d2[:, 1:])
    assert not torch.allclose(d1[:, 0], d2[:, 0])


def test_index_pooling_and_unpooling():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    uniform = torch.full_like(x, 0.25)
    torch.testing.assert_close(index_pool(x, uniform), F.avg_pool2d(x, 2))
    top_left = torch.zeros_like(x)
    top_left[..., ::2, ::2] = 1
    assert index_pool(x, top_left)[0, 0].tolist() == [[0.0, 2.0], [8.0, 10.0]]  # selects like a max-pool index
    low = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    up = index_unpool(low, top_left)
    assert up.shape == (1, 1, 4, 4)
    assert up[0, 0].tolist() == [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]
    torch.testing.assert_close(index_unpool(low, torch.ones(1, 1, 4, 4)), F.interpolate(low, scale_factor=2.0))


@pytest.mark.parametrize("name,channels", [("indexnet_test", 4), ("indexnet_free_test", 3)])
def test_network_shapes(name, channels):
    net = create_model(name).eval()
    assert net.encoder.features[0][0].in_channels == channels
    inputs = {"image": torch.rand(1, 3, 64, 96)}
    if channels == 4:
        inputs["trimap"] = torch.randint(0, 3, (1, 1, 64, 96)).float() / 2
    with torch.no_grad():
        out = net(**inputs)
    assert out.alpha.shape == out.extras["alpha_raw"].shape == (1, 1, 64, 96)
    assert out.alpha.min() >= 0 and out.alpha.max() <= 1
    assert [tuple(f.shape[-2:]) for f in out.features] == [(32, 48), (16, 24), (8, 12), (4, 6), (2, 3)]
    assert len(net.index_blocks) == 5  # after the stem, layers 2, 3, 4, 6


def test_errors():
    net = create_model("indexnet_test")
    with pytest.raises(ValueError, match="multiples of 32"):
        net(image=torch.rand(1, 3, 48, 64), trimap=torch.rand(1, 1, 48, 64))
    with pytest.raises(ValueError, match="trimap missing"):
        net(image=torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match="mode"):
        IndexBlock(4, "m2m")


def test_encoder_from_folded_imagenet_weights(tmp_path):
    """Folded (converted) weights initialise the BN encoder exactly in eval mode; the trimap filters are zero."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    folded = MobileNetV2(width_mult=0.25, folded=True, strided=False).eval()
    for m in folded.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.bias.data.normal_(0, 0.1)
    folded.set_normalization(((1.99, 1.99, 1.99), (-1.0, -1.0, -1.0)))  # a converted file's input map
    save_file({k: v.contiguous() for k, v in folded.state_dict().items()}, str(tmp_path / "mnv2.safetensors"))
    net = IndexNet(4, width_mult=0.25, aspp_channels=16, pretrained=tmp_path / "mnv2.safetensors").eval()
    assert torch.all(net.encoder.features[0][0].weight[:, 3] == 0)
    assert torch.allclose(net.encoder.input_mul, torch.full((3,), 1.99))
    bn = net.encoder.features[5].conv[1][1]
    assert torch.all(bn.weight == 1) and torch.all(bn.running_mean == 0)
    image, trimap = torch.rand(1, 3, 32, 32), torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        ours = net.encoder(torch.cat([image, trimap], 1))
        ref = folded(image)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_full_state_dict_round_trip(tmp_path):
    net = create_model("indexnet_free_test").eval()
    torch.save(net.state_dict(), tmp_path / "net.pth")
    again = create_model("indexnet_free_test", pretrained=tmp_path / "net.pth").eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(net(image=x).alpha, again(image=x).alpha)


def test_full_size_parameter_count():
    with torch.device("meta"):
        net = create_model("indexnet")
    count = sum(p.numel() for p in net.parameters())
    assert abs(count / 5.95e6 - 1) < 0.01, count  # ppid table 1: 5.95M


@pytest.mark.data
def test_indexnet_from_converted_imagenet_file(shared_data, tmp_path):
    from automatte.models.backbones.tflite_convert import convert_tflite

    path = tmp_path / "mnv2.safetensors"
    convert_tflite(shared_data / "weights" / "tf2_mobilenet_v2_1.0_224_ptq.tflite", path, "mobilenet_v2")
    net = IndexNet(4)
    ignored = net.load_pretrained(path)
    assert ignored and all(k.startswith(("features.18", "classifier")) for k in ignored)
    assert abs(net.encoder.input_add[0].item() + 127 / 127.5) < 1e-5  # the file's uint8 input quantisation
    with torch.no_grad():
        out = net.eval()(image=torch.rand(1, 3, 64, 64), trimap=torch.full((1, 1, 64, 64), 0.5))
    assert torch.isfinite(out.alpha).all()


def test_alpha_is_clamped_but_trains_like_the_raw_output():
    """Straight-through clamp: values in [0, 1], gradients even where the raw prediction is out of range."""
    import torch

    from automatte.registry import create_model

    net = create_model("indexnet_free_test").train()
    with torch.no_grad():
        net.pred[-1].weight.fill_(-1.0)  # ReLU6 output >= 0 times negative weights: raw <= 0 everywhere
    out = net(image=torch.rand(2, 3, 64, 64))
    assert out.alpha.min() >= 0 and out.alpha.max() <= 1 and (out.extras["alpha_raw"] <= 0).all()
    (out.alpha - 0.5).abs().mean().backward()
    assert net.pred[-1].weight.grad.abs().sum().item() > 0  # a plain clamp would give exactly 0
