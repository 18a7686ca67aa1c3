"""AIM-Net specifics: fusion rule (eq. 2), output layout, checkpoint key mapping."""

from __future__ import annotations

import torch

from automatte.models.aimnet import AimNet, map_official_aim_keys, unified_fusion
from automatte.registry import create_model


def test_unified_fusion_rule():
    # classes per pixel: bg, transition, fg, transition, fg, bg
    cls = torch.tensor([0, 1, 2, 1, 2, 0])
    logits = torch.nn.functional.one_hot(cls, 3).T.float().reshape(1, 3, 2, 3) * 5 - 1
    detail = torch.tensor([0.9, 0.25, 0.1, 0.7, 0.0, 0.6]).reshape(1, 1, 2, 3)
    alpha = unified_fusion(logits, detail)
    assert torch.allclose(alpha.flatten(), torch.tensor([0.0, 0.25, 1.0, 0.7, 1.0, 0.0]))
    # gradients flow to the detail on transition pixels only
    detail.requires_grad_(True)
    unified_fusion(logits, detail).sum().backward()
    assert detail.grad.flatten().tolist() == [0.0, 1.0, 0.0, 1.0, 0.0, 0.0]


def test_forward_layout_and_fusion_in_model():
    torch.manual_seed(0)
    net = create_model("aimnet_test").eval()
    out = net(image=torch.rand(2, 3, 64, 96))
    assert out.alpha.shape == out.detail.shape == (2, 1, 64, 96)
    assert out.trimap_logits.shape == (2, 3, 64, 96)
    assert [f.shape[-1] for f in out.features] == [96, 24, 12, 6, 3]  # strides 1, 4, 8, 16, 32
    cls = out.trimap_logits.argmax(1, keepdim=True)
    assert torch.equal(out.alpha[cls == 1], out.detail[cls == 1])
    assert torch.all(out.alpha[cls == 0] == 0) and torch.all(out.alpha[cls == 2] == 1)


def test_rejects_sizes_not_multiple_of_32():
    net = create_model("aimnet_test").eval()
    try:
        net(image=torch.rand(1, 3, 70, 64))
    except ValueError as err:
        assert "multiples of 32" in str(err)
    else:
        raise AssertionError("expected a ValueError")


def _to_official(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our names -> the authors' (written independently of map_official_aim_keys, for the round trip)."""
    out = {}
    for k, v in state.items():
        head, _, rest = k.partition(".")
        if head == "encoder":
            out["resnet." + rest] = v
            if rest.startswith("layer1."):
                out["encoder1.0." + rest[len("layer1.") :]] = v  # the authors' alias of resnet.layer1
        elif head == "ppm":
            out["psp_module." + (rest.replace(".weight", ".1.weight") if rest.startswith("stages.") else rest)] = v
        elif head == "ppm_up":
            i, _, tail = rest.partition(".")
            out[f"psp{4 - int(i)}.{tail}"] = v
        elif head.startswith("sd") and head != "sd_final":
            out[f"decoder{head[2]}_g.{rest}"] = v
        elif head.startswith("md") and head not in ("md_final", "md5"):
            out[f"decoder{head[2]}_l.{rest}"] = v
        elif head == "md5":
            out["bridge_block." + rest] = v
        elif head == "se":
            i, _, tail = rest.partition(".")
            if tail.endswith("weight"):
                out[f"decoder{4 - int(i)}_g_se.{tail}"] = v[:, :, 0, 0]  # Linear, no bias
        else:
            out[
                {"sd_final": "decoder_final_g", "md_final": "decoder_final_l", "spa": "decoder0_g_spatial"}[head]
                + "."
                + rest.removeprefix("conv.")
            ] = v
    out["resnet.fc.weight"] = torch.zeros(10, 48)
    out["resnet.fc.bias"] = torch.zeros(10)
    return out


def test_official_checkpoint_keys_round_trip(tmp_path):
    torch.manual_seed(0)
    src = create_model("aimnet_test")
    with torch.no_grad():
        for p in src.parameters():
            p.normal_()
        for se in src.se:  # the authors' SE linears have no bias
            se.fc[0].bias.zero_()
            se.fc[2].bias.zero_()
    official = _to_official(src.state_dict())
    assert "decoder4_g.0.weight" in official and "psp_module.stages.2.1.weight" in official
    path = tmp_path / "aim_official.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in official.items()}}, path)
    dst = create_model("aimnet_test", pretrained=path)
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k
    assert set(map_official_aim_keys(official)) == set(src.state_dict())


def test_imagenet_encoder_weights(tmp_path):
    enc = AimNet(width=6, layers=(1, 1, 1, 1)).encoder
    state = {k: torch.randn_like(v.float()).to(v.dtype) for k, v in enc.state_dict().items()}
    torch.save(state, tmp_path / "r34.pth")
    net = create_model("aimnet_test", pretrained=tmp_path / "r34.pth")
    assert torch.equal(net.encoder.layer2[0].conv1.weight, state["layer2.0.conv1.weight"])
