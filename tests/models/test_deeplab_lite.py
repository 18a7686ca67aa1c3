"""DeepLabv3+ on EfficientNet-Lite (issue 27, item 3) and the backbone's output stride."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from automatte.models.backbones.efficientnet_lite import EfficientNetLite
from automatte.models.deeplab import DeepLabV3Plus, lite_segmenter_state
from automatte.registry import create_model

ROOT = Path(__file__).resolve().parents[2]


def test_output_stride_dilates_only_the_stages_past_it_and_keeps_the_earlier_ones_exact():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 64, 64)
    nets = {os_: EfficientNetLite("lite0", output_stride=os_).eval() for os_ in (32, 16, 8)}
    state = nets[32].state_dict()
    with torch.no_grad():
        feats = {}
        for os_, net in nets.items():
            net.load_state_dict(state)  # same weights: dilation changes no parameter
            feats[os_] = net(x)
    assert [tuple(f.shape[-2:]) for f in feats[16]] == [(32, 32), (16, 16), (8, 8), (4, 4), (4, 4)]
    assert [tuple(f.shape[-2:]) for f in feats[8]] == [(32, 32), (16, 16), (8, 8), (8, 8), (8, 8)]
    assert nets[16].taps == nets[32].taps and nets[16].channels == nets[32].channels
    for k in range(4):  # strides 2..16 are untouched at output stride 16
        torch.testing.assert_close(feats[16][k], feats[32][k])
    dilations = [b.depthwise[0].dilation[0] for b in nets[16].blocks]
    assert dilations[: nets[16].taps[3] + 2] == [1] * (nets[16].taps[3] + 2) and dilations[-1] == 2
    with pytest.raises(ValueError, match="output_stride"):
        EfficientNetLite("lite0", output_stride=4)


def test_lite_segmenter_takes_a_trained_deeplabv3plus_heads_and_its_imagenet_backbone(tmp_path):
    torch.manual_seed(0)
    mnv2 = DeepLabV3Plus(head_channels=32, decoder_channels=16, folded=True, output_stride=16)
    for p in mnv2.decoder.out.parameters():  # a trained decoder: not the zero start
        torch.nn.init.normal_(p, std=0.1)
    heads = tmp_path / "heads.pt"
    torch.save(mnv2.state_dict(), heads)
    backbone = tmp_path / "lite0.safetensors"
    save_file({k: v.contiguous() for k, v in EfficientNetLite("lite0").state_dict().items()}, backbone)

    net = create_model("deeplabv3plus_effl0_test")
    state = lite_segmenter_state(net, backbone, heads)
    for key, value in mnv2.state_dict().items():
        if not key.startswith("backbone."):
            torch.testing.assert_close(state[key], value)
    ref = EfficientNetLite("lite0").state_dict()
    from safetensors.torch import load_file

    for key, value in load_file(backbone).items():
        torch.testing.assert_close(state[f"backbone.{key}"], value)
    assert set(ref) == {k.removeprefix("backbone.") for k in state if k.startswith("backbone.")}
    out = net.eval()(image=torch.rand(1, 3, 64, 64))
    assert out.alpha.shape == (1, 1, 64, 64) and out.extras["fg_logit"].shape == (1, 1, 64, 64)

    narrow = tmp_path / "narrow.pt"  # a width-0.25 MobileNetV2's features are narrower: its heads cannot load
    torch.save(DeepLabV3Plus(width_mult=0.25, head_channels=32, decoder_channels=16, folded=True).state_dict(), narrow)
    with pytest.raises(ValueError, match="does not fit DeepLabV3PlusLite"):
        lite_segmenter_state(create_model("deeplabv3plus_effl0_test"), backbone, narrow)


def test_init_segmenter_tool_writes_a_state_the_trainer_loads_strictly(tmp_path):
    spec = importlib.util.spec_from_file_location("init_segmenter", ROOT / "tools" / "init_segmenter.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    backbone = tmp_path / "lite0.safetensors"
    save_file({k: v.contiguous() for k, v in EfficientNetLite("lite0").state_dict().items()}, backbone)
    out = tmp_path / "init" / "effl0.pt"
    assert tool.main(["--arch", "deeplabv3plus_effl0", "--backbone", str(backbone), "--heads", "none",
                      "--out", str(out)]) == 0  # fmt: skip
    create_model("deeplabv3plus_effl0").load_state_dict(torch.load(out, weights_only=True))
    assert not list(out.parent.glob("*.tmp"))
    assert tool.main(["--arch", "deeplabv3plus_effl0", "--backbone", str(tmp_path / "none.safetensors"),
                      "--out", str(out)]) == 2  # fmt: skip
    with pytest.raises(ValueError, match="arch must be"):
        tool.initial_state("dim_test", backbone, None)
