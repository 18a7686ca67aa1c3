"""ResNet backbones: stage shapes and strides, AIM stem indices, torchvision-style pretrained loading."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from automatte.models.backbones.resnet import load_resnet_state_dict, resnet34, resnet50

TINY = dict(width=8, layers=(1, 1, 1, 1))


@pytest.mark.parametrize("factory, expansion", [(resnet34, 1), (resnet50, 4)])
@pytest.mark.parametrize(
    "output_stride, strides", [(32, [2, 4, 8, 16, 32]), (16, [2, 4, 8, 16, 16]), (8, [2, 4, 8, 8, 8])]
)
def test_stage_shapes(factory, expansion, output_stride, strides):
    net = factory(output_stride=output_stride, **TINY).eval()
    feats = net(torch.rand(2, 3, 64, 96))
    assert net.strides == strides
    assert net.channels == [8, 8 * expansion, 16 * expansion, 32 * expansion, 64 * expansion]
    assert [tuple(f.shape) for f in feats] == [(2, c, 64 // s, 96 // s) for c, s in zip(net.channels, strides)]


def test_dilation_replaces_stride():
    net = resnet34(output_stride=8, **TINY)
    assert net.layer3[0].conv1.stride == (1, 1) and net.layer3[0].conv1.dilation == (1, 1)
    assert net.layer4[0].conv1.dilation == (2, 2) and net.layer4[0].conv2.dilation == (4, 4)


def test_full_size_param_counts():
    with torch.device("meta"):
        assert sum(p.numel() for p in resnet34().parameters()) == 21_284_672  # torchvision minus fc
        assert sum(p.numel() for p in resnet50().parameters()) == 23_508_032


def test_aim_stem_shapes_and_indices_round_trip():
    net = resnet34(aim_stem=True, **TINY).eval()
    x = torch.rand(1, 3, 64, 64)
    feats, indices = net.forward_with_indices(x)
    assert net.conv1.stride == (1, 1) and net.layer2[0].conv1.stride == (1, 1)
    assert net.layer2[0].downsample[0].stride == (1, 1)
    assert [f.shape[-1] for f in feats] == [64, 16, 8, 4, 2] and net.strides == [1, 4, 8, 16, 32]
    assert [i.shape[-1] for i in indices] == [32, 16, 8, 4, 2]
    assert torch.equal(net(x)[4], feats[4])
    # every index tensor un-pools its max-pool: the pooled maxima land back where they came from
    stem = feats[0]
    pooled, idx = F.max_pool2d(stem, 3, 2, 1, return_indices=True)
    assert torch.equal(idx, indices[0])
    up = F.max_unpool2d(pooled, idx, 2, 2, output_size=stem.shape[-2:])
    hit = up != 0
    assert torch.equal(up[hit], stem[hit])
    assert torch.equal(F.max_pool2d(up, 3, 2, 1), pooled)


def test_aim_stem_rejects_dilation():
    with pytest.raises(ValueError, match="aim_stem"):
        resnet34(aim_stem=True, output_stride=16)


def _torchvision_like_state(net) -> dict[str, torch.Tensor]:
    state = {k: torch.randn_like(v.float()).to(v.dtype) for k, v in net.state_dict().items()}
    state["fc.weight"] = torch.randn(10, net.channels[-1])  # a classifier head, to be ignored
    state["fc.bias"] = torch.randn(10)
    return state


def test_pretrained_torchvision_keys(tmp_path):
    ref = resnet50(**TINY)
    state = _torchvision_like_state(ref)
    # torchvision naming, checked literally
    for key in (
        "conv1.weight",
        "bn1.running_var",
        "layer1.0.conv3.weight",
        "layer2.0.downsample.0.weight",
        "layer2.0.downsample.1.bias",
        "layer4.0.bn2.weight",
    ):
        assert key in state
    path = tmp_path / "resnet50.pth"
    torch.save({"state_dict": state}, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing missing, fc silently ignored
        net = resnet50(pretrained=path, **TINY)
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_pretrained_four_channels_keeps_rgb(tmp_path):
    state = _torchvision_like_state(resnet34(**TINY))
    path = tmp_path / "resnet34.pth"
    torch.save(state, path)
    net = resnet34(in_channels=4, pretrained=path, **TINY)
    w = net.conv1.weight
    assert w.shape[1] == 4
    assert torch.equal(w[:, :3], state["conv1.weight"]) and torch.all(w[:, 3] == 0)
    assert torch.equal(net.layer3[0].conv2.weight, state["layer3.0.conv2.weight"])


def test_pretrained_reports_missing_and_shape_errors(tmp_path):
    state = _torchvision_like_state(resnet34(**TINY))
    del state["layer4.0.conv1.weight"]
    net = resnet34(**TINY)
    with pytest.warns(UserWarning, match="layer4.0.conv1.weight"):
        assert load_resnet_state_dict(net, state) == ["layer4.0.conv1.weight"]
    with pytest.raises(ValueError, match="conv1.weight"):
        load_resnet_state_dict(resnet34(width=16, layers=(1, 1, 1, 1)), state)
    with pytest.raises(FileNotFoundError):
        resnet34(pretrained=tmp_path / "absent.pth", **TINY)
