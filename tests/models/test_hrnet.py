"""HRNet backbone: strides, channels, the exchange unit on hand tensors, official key names, weight loading."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from automatte.models.backbones.hrnet import HighResolutionModule, HRNet, hrnet_w18, hrnet_w48

TINY = dict(stem_channels=8, stage1_planes=4, num_modules=(1, 1, 1, 1), num_blocks=(1, 1, 1, 1))


@pytest.mark.parametrize("size", [(64, 64), (96, 128)])
def test_strides_and_channels(size):
    torch.manual_seed(0)
    net = HRNet(4, **TINY).eval()
    feats = net(torch.rand(1, 3, *size))
    assert net.channels == [8, 4, 8, 16, 32]
    assert [f.shape[1] for f in feats] == net.channels
    assert [tuple(f.shape[-2:]) for f in feats] == [(size[0] // r, size[1] // r) for r in net.reductions]
    assert net.reductions == (2, 4, 8, 16, 32)


def test_full_size_counts_on_meta():
    with torch.device("meta"):
        w18, w48 = hrnet_w18(), hrnet_w48()
    count = lambda m: sum(p.numel() for p in m.parameters()) / 1e6  # noqa: E731
    assert w18.channels == [64, 18, 36, 72, 144] and w48.channels == [64, 48, 96, 192, 384]
    # HRNetV2 paper: 9.6 M (W18) and 65.9 M (W48) with the ~0.5 M segmentation head; ours has no head
    assert abs(count(w18) - 9.56) < 0.01 and abs(count(w48) - 65.33) < 0.01
    assert len(w48.stage2) == 1 and len(w48.stage3) == 4 and len(w48.stage4) == 3 and len(w48.layer1) == 4


def test_exchange_unit_on_hand_tensors():
    """Branch i output = ReLU(sum_j f_ij(x_j)); identity branches (0 blocks), unit convs, eval BN (identity)."""
    unit = HighResolutionModule([1, 1], num_blocks=0).eval()
    with torch.no_grad():
        unit.fuse_layers[0][1][0].weight.fill_(2.0)  # 1x1 conv from the low-res branch, then bilinear up
        unit.fuse_layers[1][0][0][0].weight.fill_(1.0 / 9)  # 3x3 stride-2 conv: the mean of the window
    x0 = torch.arange(16.0).view(1, 1, 4, 4) - 8
    x1 = torch.tensor([[[[1.0, 1.0], [-20.0, 1.0]]]])
    y0, y1 = unit([x0, x1])
    bn = 1 / (1 + 1e-5) ** 0.5  # eval BatchNorm with its initial statistics
    up = torch.nn.functional.interpolate(2 * x1, size=(4, 4), mode="bilinear", align_corners=False)
    assert torch.allclose(y0, torch.relu(x0 + bn * up), atol=1e-5)
    # window means with zero padding, by hand: rows/cols {-1,0,1} and {1,2,3} of x0
    pad = torch.nn.functional.pad(x0, (1, 1, 1, 1))[0, 0]
    means = torch.tensor([[pad[r : r + 3, c : c + 3].sum() / 9 for c in (0, 2)] for r in (0, 2)])
    assert torch.allclose(y1[0, 0], torch.relu(x1[0, 0] + bn * means), atol=1e-5)
    assert y1[0, 0, 1, 0] == 0  # the ReLU after the sum


def test_official_key_names():
    keys = set(HRNet(4, **TINY).state_dict())
    for k in (
        "conv1.weight",
        "bn2.running_var",
        "layer1.0.conv3.weight",
        "layer1.0.downsample.0.weight",
        "transition1.0.0.weight",
        "transition1.1.0.0.weight",
        "transition3.3.0.1.bias",
        "stage2.0.branches.1.0.conv2.weight",
        "stage4.0.fuse_layers.0.3.0.weight",
        "stage4.0.fuse_layers.3.0.2.0.weight",
    ):
        assert k in keys, k


def test_load_official_checkpoint(tmp_path):
    torch.manual_seed(0)
    src = HRNet(4, **TINY)
    state = {f"model.{k}": v for k, v in src.state_dict().items()}
    state["classifier.weight"] = torch.zeros(10, 4)  # heads are ignored
    state["incre_modules.0.0.conv1.weight"] = torch.zeros(1)
    torch.save({"state_dict": state}, tmp_path / "hrnet.pth")
    net = HRNet(4, in_channels=4, pretrained=tmp_path / "hrnet.pth", **TINY)
    assert torch.equal(net.conv1.weight[:, :3], src.conv1.weight) and not net.conv1.weight[:, 3].any()
    assert torch.equal(net.stage4[0].fuse_layers[3][0][2][0].weight, src.stage4[0].fuse_layers[3][0][2][0].weight)

    bad = {k: v for k, v in src.state_dict().items()}
    bad["conv2.weight"] = torch.zeros(1, 1, 3, 3)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="conv2.weight"):
        HRNet(4, pretrained=tmp_path / "bad.pth", **TINY)
    with pytest.raises(FileNotFoundError):
        HRNet(4, pretrained=tmp_path / "missing.pth", **TINY)


def test_bad_config():
    with pytest.raises(ValueError, match="stage 1"):
        HRNet(4, num_modules=(2, 1, 1, 1))
    assert isinstance(HRNet(4, **TINY).layer1[0].downsample, nn.Sequential)
