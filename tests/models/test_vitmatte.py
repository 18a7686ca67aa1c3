"""ViTMatte: shapes, trimap use, gradients through the conv necks, parameter counts, checkpoint loading."""

from __future__ import annotations

import re

import pytest
import torch

from automatte.models.backbones.vit import ViT
from automatte.models.vitmatte import TEST_CONFIG, ViTMatte
from automatte.registry import create_model, model_info


def _inputs(h=64, w=64, b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g), torch.randint(0, 3, (b, 1, h, w), generator=g).float() / 2


def _params(name):
    with torch.device("meta"):
        net = create_model(name)
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("name", ["vitmatte_test", "vitmatte_free_test"])
@pytest.mark.parametrize("hw", [(64, 64), (96, 128)])
def test_shapes(name, hw):
    torch.manual_seed(0)
    net = create_model(name).train()
    image, trimap = _inputs(*hw)
    out = net(image=image, trimap=trimap) if "free" not in name else net(image=image)
    h, w = hw
    assert out.alpha.shape == (2, 1, h, w) and 0 <= out.alpha.min() and out.alpha.max() <= 1
    widths = (*TEST_CONFIG["convstream_widths"], TEST_CONFIG["embed_dim"])
    assert [tuple(f.shape) for f in out.features] == [(2, c, h // s, w // s) for c, s in zip(widths, (2, 4, 8, 16))]


def test_trimap_is_an_input_and_sizes_are_checked():
    torch.manual_seed(0)
    net = create_model("vitmatte_test").eval()
    image, trimap = _inputs()
    with torch.no_grad():
        assert (net(image=image, trimap=trimap).alpha - net(image=image, trimap=1 - trimap).alpha).abs().max() > 1e-4
    with pytest.raises(ValueError, match="trimap"):
        net(image=image)
    with pytest.raises(ValueError, match="multiples of 32"):
        net(image=image[..., :48], trimap=trimap[..., :48])


def test_every_parameter_learns_in_the_test_variant():
    """The test variants start the conv necks off the identity, so gradients reach every weight."""
    torch.manual_seed(0)
    net = create_model("vitmatte_test").train()
    out = net(*_inputs())
    (out.alpha * torch.randn_like(out.alpha)).mean().backward()
    dead = [n for n, p in net.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert dead == []


def test_full_variant_necks_start_as_identity():
    with torch.device("meta"):
        net = create_model("vitmatte_s")
    assert [i for i, b in enumerate(net.backbone.blocks) if b.residual is not None] == [2, 5, 8, 11]
    assert [i for i, b in enumerate(net.backbone.blocks) if b.window_size == 0] == [2, 5, 8, 11]
    assert {b.window_size for b in net.backbone.blocks} == {0, 14}
    small = ViTMatte(**{**TEST_CONFIG, "zero_init_residual": True})
    neck = small.backbone.blocks[1].residual
    x = torch.randn(1, TEST_CONFIG["embed_dim"], 4, 4)
    assert torch.equal(neck(x), x)


def test_parameter_counts():
    assert model_info("vitmatte_s").paper_params is None  # neither the DDC paper nor our papers give one
    full = _params("vitmatte_s")
    assert 0.9 * 25.8e6 < full < 1.1 * 25.8e6 and full == 25_814_753
    with torch.device("meta"):
        vit = ViT()
    assert sum(p.numel() for p in vit.parameters()) == 23_745_792  # ViT-S/16 (4 in) + rel. tables + 4 necks
    # the trimap channel: patch embedding, first ConvStream conv, last fusion block (D0)
    assert full - _params("vitmatte_s_free") == 384 * 16 * 16 + 48 * 9 + 32 * 9
    assert _params("vitmatte_test") < 500_000 and _params("vitmatte_free_test") < 500_000


def test_dino_backbone_checkpoint(tmp_path):
    torch.manual_seed(0)
    dino = ViT(
        in_chans=3,
        **{
            k: TEST_CONFIG[k]
            for k in (
                "embed_dim",
                "depth",
                "num_heads",
                "window_size",
                "window_block_indexes",
                "residual_block_indexes",
            )
        },
        use_rel_pos=False,
    )
    state = {k: v for k, v in dino.state_dict().items() if not k.startswith("blocks.1.residual")}
    state.update({"cls_token": torch.zeros(1, 1, 32), "norm.weight": torch.ones(32), "norm.bias": torch.zeros(32)})
    torch.save({"model": state}, tmp_path / "dino.pth")
    with pytest.warns(UserWarning, match="missing keys"):  # rel. tables and necks are not in DINO
        net = create_model("vitmatte_test", pretrained=str(tmp_path / "dino.pth"))
    w = net.backbone.patch_embed.proj.weight
    assert torch.equal(w[:, :3], dino.patch_embed.proj.weight) and w[:, 3].abs().sum() == 0
    assert torch.equal(net.backbone.blocks[0].attn.qkv.weight, dino.blocks[0].attn.qkv.weight)
    assert torch.equal(net.backbone.pos_embed, dino.pos_embed)


def test_official_layout_checkpoint_maps_onto_our_decoder(tmp_path):
    torch.manual_seed(0)
    net = create_model("vitmatte_test").eval()
    official = {}
    for k, v in net.state_dict().items():  # our Conv-BN ``.0.`` / ``.1.`` -> detectron2's ``.conv.`` / ``.bn.``
        k = re.sub(r"(convs\.\d+|fusion_blks\.\d+\.conv)\.0\.", r"\1.conv.", k)
        official[re.sub(r"(convs\.\d+|fusion_blks\.\d+\.conv)\.1\.", r"\1.bn.", k)] = v
    assert "decoder.fusion_blks.0.conv.conv.weight" in official and "decoder.convstream.convs.2.bn.bias" in official
    torch.save(official, tmp_path / "vitmatte.pth")
    torch.manual_seed(1)
    again = create_model("vitmatte_test", pretrained=str(tmp_path / "vitmatte.pth")).eval()
    image, trimap = _inputs()
    with torch.no_grad():
        assert torch.equal(again(image=image, trimap=trimap).alpha, net(image=image, trimap=trimap).alpha)
    with pytest.raises(ValueError, match="shape"):
        create_model("vitmatte_free_test", pretrained=str(tmp_path / "vitmatte.pth"))
