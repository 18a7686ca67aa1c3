"""MobileNetV2 backbone: TF 'SAME' padding, torchvision layout, stride schedules, BN folding and unfolding."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from automatte.models.backbones.mobilenetv2 import (
    MobileNetV2,
    MobileNetV2Classifier,
    TFConv2d,
    load_mobilenetv2_state,
    make_divisible,
    tf_same_padding,
)


def _randomize_bn(net: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = torch.rand(n, generator=g) + 0.5
            m.bias.data = torch.randn(n, generator=g) * 0.1
            m.running_mean = torch.randn(n, generator=g) * 0.1
            m.running_var = torch.rand(n, generator=g) + 0.5


@pytest.mark.parametrize(
    "size,kernel,stride,dilation,expected",
    [
        (224, 3, 2, 1, (0, 1)),  # even input: (112 - 1) * 2 + 3 - 224 = 1 -> 0 before, 1 after
        (513, 3, 2, 1, (1, 1)),  # odd input: (257 - 1) * 2 + 3 - 513 = 2 -> symmetric
        (7, 3, 2, 1, (1, 1)),  # (4 - 1) * 2 + 3 - 7 = 2
        (8, 5, 2, 1, (1, 2)),  # (4 - 1) * 2 + 5 - 8 = 3
        (8, 3, 1, 2, (2, 2)),  # stride 1, dilation 2: (8 - 1) + 5 - 8 = 4
        (8, 1, 2, 1, (0, 0)),  # (4 - 1) * 2 + 1 - 8 = -1 -> 0
    ],
)
def test_tf_same_padding_matches_hand_computation(size, kernel, stride, dilation, expected):
    left, right, top, bottom = tf_same_padding(size, size, kernel, stride, dilation)
    assert (top, bottom) == expected and (left, right) == expected


def test_tf_same_conv_pads_bottom_right_on_even_input():
    conv = TFConv2d(1, 1, 3, stride=2, tf_same=True)
    conv.weight.data.fill_(1.0)
    x = torch.arange(16.0).view(1, 1, 4, 4)
    # windows rows/cols {0,1,2} and {2,3,pad}: hand sums of the 4x4 ramp
    assert conv(x)[0, 0].tolist() == [[45.0, 39.0], [66.0, 50.0]]
    symmetric = TFConv2d(1, 1, 3, stride=2, tf_same=False)
    symmetric.weight.data.fill_(1.0)
    assert symmetric(x)[0, 0].tolist() != [[45.0, 39.0], [66.0, 50.0]]  # PyTorch pads 1 on every side


def test_torchvision_layout_and_parameter_count():
    net = MobileNetV2Classifier(1000)
    keys = set(net.state_dict())
    for key in (
        "features.0.0.weight",
        "features.0.1.running_var",
        "features.1.conv.0.0.weight",
        "features.1.conv.1.weight",
        "features.2.conv.0.0.weight",
        "features.2.conv.1.0.weight",
        "features.2.conv.3.running_var",
        "features.17.conv.2.weight",
        "features.18.0.weight",
        "classifier.1.weight",
    ):
        assert key in keys, key
    assert sum(p.numel() for p in net.parameters()) == 3_504_872  # torchvision's mobilenet_v2


def test_folded_build_has_conv_bias_and_no_bn():
    net = MobileNetV2(folded=True)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert net.features[0][0].bias is not None and isinstance(net.features[0][1], torch.nn.Identity)


@pytest.mark.parametrize(
    "output_stride,sizes", [(32, [32, 16, 8, 4, 2]), (16, [32, 16, 8, 4, 4]), (8, [32, 16, 8, 8, 8])]
)
def test_output_stride_schedule(output_stride, sizes):
    net = MobileNetV2(width_mult=0.25, output_stride=output_stride).eval()
    feats = net(torch.rand(1, 3, 64, 64))
    assert [f.shape[-1] for f in feats] == sizes
    assert [f.shape[1] for f in feats] == net.channels == [8, 8, 8, 24, 80]
    dilations = [m.dilation[0] for m in net.modules() if isinstance(m, TFConv2d) and m.groups > 1]
    assert max(dilations) == {32: 1, 16: 2, 8: 4}[output_stride]


def test_not_strided_keeps_resolution():
    net = MobileNetV2(width_mult=0.25, strided=False)
    assert all(f.shape[-1] == 16 for f in net(torch.rand(1, 3, 16, 16)))


def test_make_divisible():
    assert [make_divisible(v) for v in (32, 4, 12, 20, 40, 1280)] == [32, 8, 16, 24, 40, 1280]


def test_normalization_modes():
    x = torch.tensor([0.0, 0.5, 1.0]).view(1, 3, 1, 1).expand(1, 3, 1, 3)
    tf = MobileNetV2(width_mult=0.25).normalize(x)
    assert torch.allclose(tf[0, :, 0, 0], torch.tensor([-1.0, 0.0, 1.0]))
    imagenet = MobileNetV2(width_mult=0.25, normalize="imagenet").normalize(torch.full((1, 3, 1, 1), 0.485))
    assert abs(imagenet[0, 0].item()) < 1e-6
    four = MobileNetV2(in_channels=4, width_mult=0.25).normalize(torch.full((1, 4, 1, 1), 0.5))
    assert four[0, 3].item() == 0.5  # extra planes pass through


def test_bn_state_folds_into_folded_build():
    torch.manual_seed(0)
    bn_net = MobileNetV2(width_mult=0.5).eval()
    _randomize_bn(bn_net)
    folded = MobileNetV2(width_mult=0.5, folded=True).eval()
    load_mobilenetv2_state(folded, bn_net.state_dict())
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(bn_net(x), folded(x)):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_folded_state_initialises_bn_build_as_identity_bn():
    torch.manual_seed(0)
    folded = MobileNetV2(width_mult=0.5, folded=True).eval()
    for m in folded.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.bias.data.normal_(0, 0.1)
    bn_net = MobileNetV2(width_mult=0.5).eval()
    load_mobilenetv2_state(bn_net, folded.state_dict())
    bn = bn_net.features[3].conv[0][1]
    assert torch.all(bn.weight == 1) and torch.all(bn.running_mean == 0)
    torch.testing.assert_close(bn.bias, folded.features[3].conv[0][0].bias)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(folded(x), bn_net(x)):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_extra_input_channel_gets_zero_filters():
    torch.manual_seed(0)
    rgb = MobileNetV2(width_mult=0.25).eval()
    _randomize_bn(rgb)
    rgbt = MobileNetV2(in_channels=4, width_mult=0.25).eval()
    ignored = load_mobilenetv2_state(rgbt, rgb.state_dict())
    assert ignored == []
    assert torch.all(rgbt.features[0][0].weight[:, 3] == 0)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(rgb(x)[-1], rgbt(torch.cat([x, torch.rand(1, 1, 32, 32)], 1))[-1])


def test_classifier_keys_ignored_by_backbone_and_shape_errors_named():
    head = MobileNetV2Classifier(10, width_mult=0.25)
    ignored = load_mobilenetv2_state(MobileNetV2(width_mult=0.25), head.state_dict())
    assert any(k.startswith("features.18") for k in ignored) and "classifier.1.weight" in ignored
    with pytest.raises(ValueError, match="features.0.0.weight"):
        load_mobilenetv2_state(MobileNetV2(width_mult=0.5), head.state_dict())


def test_pretrained_path_round_trip(tmp_path):
    from safetensors.torch import save_file

    net = MobileNetV2Classifier(5, width_mult=0.25, folded=True, tf_same_padding=True).eval()
    net.set_normalization(((1.5, 1.5, 1.5), (-0.5, -0.5, -0.5)))
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "w.safetensors"))
    again = MobileNetV2Classifier(
        5, width_mult=0.25, folded=True, tf_same_padding=True, pretrained=tmp_path / "w.safetensors"
    ).eval()
    assert again.input_mul.tolist() == [1.5] * 3
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(net(x), again(x))
    with pytest.raises(FileNotFoundError):
        MobileNetV2(pretrained=tmp_path / "missing.pth")


def test_tf_same_conv_matches_explicit_pad():
    conv = TFConv2d(3, 4, 3, stride=2, tf_same=True)
    x = torch.rand(1, 3, 10, 12)
    ref = F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.weight, None, 2)
    torch.testing.assert_close(conv(x), ref)
