"""ViTDet-style ViT backbone (ViTMatte): window partition with padding, position tables, checkpoint loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from automatte.models.backbones.vit import (
    Block,
    ViT,
    get_rel_pos,
    load_vit_state_dict,
    resize_pos_embed,
    window_partition,
    window_unpartition,
)

TINY = dict(
    embed_dim=32,
    depth=2,
    num_heads=2,
    window_size=3,
    window_block_indexes=(0,),
    residual_block_indexes=(1,),
    img_size=64,
)


@pytest.mark.parametrize("hw", [(5, 7), (6, 9), (3, 3), (1, 4)])
def test_window_partition_round_trip_with_padding(hw):
    h, w = hw
    x = torch.randn(2, h, w, 8)
    windows, (hp, wp) = window_partition(x, 3)
    assert (hp, wp) == (-(-h // 3) * 3, -(-w // 3) * 3)
    assert windows.shape == (2 * (hp // 3) * (wp // 3), 3, 3, 8)
    first = torch.zeros(3, 3, 8)
    first[: min(h, 3), : min(w, 3)] = x[0, :3, :3]
    assert torch.equal(windows[0], first)
    padded = window_unpartition(windows, 3, (hp, wp), (hp, wp))
    assert torch.equal(padded[:, :h, :w], x)
    assert padded[:, h:].abs().sum() == 0 and padded[:, :, w:].abs().sum() == 0  # zero padding
    assert torch.equal(window_unpartition(windows, 3, (hp, wp), (h, w)), x)


def test_window_order_is_row_major_per_image():
    x = torch.arange(2 * 4 * 6, dtype=torch.float32).view(2, 4, 6, 1)
    windows, _ = window_partition(x, 2)
    assert windows.shape == (12, 2, 2, 1)
    assert torch.equal(windows[1, ..., 0], x[0, 0:2, 2:4, 0])  # second window of image 0: next to the right
    assert torch.equal(windows[3, ..., 0], x[0, 2:4, 0:2, 0])  # fourth: next row of windows
    assert torch.equal(windows[6, ..., 0], x[1, 0:2, 0:2, 0])  # image 1 starts after image 0's 6 windows


def test_get_rel_pos_indexes_offsets_and_resizes():
    table = torch.randn(2 * 5 - 1, 4)
    r = get_rel_pos(5, table)
    assert r.shape == (5, 5, 4)
    for i in range(5):
        for j in range(5):
            assert torch.allclose(r[i, j], table[i - j + 4])  # same size: an exact lookup (identity resize)
    other = get_rel_pos(8, table)  # 15 offsets from a table of 9
    assert other.shape == (8, 8, 4)
    expected = F.interpolate(table.t()[None], size=15, mode="linear", align_corners=False)[0].t()
    assert torch.allclose(other[7, 0], expected[14]) and torch.allclose(other[0, 7], expected[0])
    assert torch.allclose(get_rel_pos(6, torch.ones(9, 4)), torch.ones(6, 6, 4))


def test_resize_pos_embed_identity_and_interpolation():
    pos = torch.randn(1, 1 + 14 * 14, 8)
    same = resize_pos_embed(pos, (14, 14))
    assert same.shape == (1, 14, 14, 8)
    assert torch.allclose(same, pos[:, 1:].reshape(1, 14, 14, 8), atol=1e-6)  # the class token's entry is dropped
    small = resize_pos_embed(pos, (4, 6))
    ref = F.interpolate(pos[:, 1:].reshape(1, 14, 14, 8).permute(0, 3, 1, 2), size=(4, 6), mode="bicubic")
    assert torch.allclose(small, ref.permute(0, 2, 3, 1))
    const = resize_pos_embed(torch.full((1, 49, 3), 2.0), (5, 9), has_cls=False)
    assert const.shape == (1, 5, 9, 3) and torch.allclose(const, torch.full_like(const, 2.0))


def test_window_block_equals_global_block_when_one_window_covers_the_grid():
    torch.manual_seed(0)
    windowed = Block(16, 2, window_size=4, input_size=(4, 4))
    global_ = Block(16, 2, window_size=0, input_size=(4, 4))
    with torch.no_grad():
        for p in windowed.parameters():
            p.normal_(0, 0.3)
    global_.load_state_dict(windowed.state_dict())
    x = torch.randn(2, 4, 4, 16)
    assert torch.allclose(windowed(x), global_(x), atol=1e-5)


def test_vit_output_shape_any_multiple_of_16():
    vit = ViT(in_chans=4, **TINY)
    for h, w in [(64, 64), (96, 128), (48, 80)]:
        assert vit(torch.zeros(1, 4, h, w)).shape == (1, 32, h // 16, w // 16)


def test_dino_style_checkpoint_loads_with_patched_trimap_channel():
    torch.manual_seed(0)
    rgb = ViT(in_chans=3, **TINY)
    state = {
        **rgb.state_dict(),
        "cls_token": torch.zeros(1, 1, 32),
        "norm.weight": torch.ones(32),
        "norm.bias": torch.zeros(32),
        "head.weight": torch.zeros(10, 32),
    }
    vit = ViT(in_chans=4, **TINY)
    missing = load_vit_state_dict(vit, state)
    assert missing == []
    w = vit.patch_embed.proj.weight
    assert torch.equal(w[:, :3], rgb.patch_embed.proj.weight) and w[:, 3].abs().sum() == 0
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():  # the trimap channel starts with no effect
        assert torch.allclose(vit(torch.cat([x, torch.rand(1, 1, 64, 96)], 1)), rgb(x), atol=1e-5)


def test_checkpoint_position_tables_are_resized():
    vit = ViT(in_chans=4, **TINY)
    state = {
        "pos_embed": torch.randn(1, 16 * 16, 32),  # no class token, 16 x 16 grid (e.g. 256 px pre-training)
        "blocks.1.attn.rel_pos_h": torch.randn(15, 16),  # global block of an 8 x 8 grid, ours is 4 x 4
    }
    with pytest.warns(UserWarning, match="missing keys"):
        load_vit_state_dict(vit, state)
    assert vit.pos_embed.shape == (1, 1 + 14 * 14, 32) and vit.blocks[1].attn.rel_pos_h.shape == (7, 16)
    expected = resize_pos_embed(state["pos_embed"], (14, 14), has_cls=False).reshape(1, 196, 32)
    assert torch.allclose(vit.pos_embed[:, 1:], expected, atol=1e-6)
    with pytest.raises(ValueError, match="patch_embed.proj.weight"):
        load_vit_state_dict(vit, {"patch_embed.proj.weight": torch.zeros(32, 3, 14, 14)})


@pytest.mark.slow
def test_backbone_onnx_export_with_nonzero_relative_positions(tmp_path):
    """The generic ONNX test sees the zero-initialised relative tables; randomise them and compare features."""
    ort = pytest.importorskip("onnxruntime")
    from automatte.infer.export import export_onnx

    class Features(torch.nn.Module):
        model_inputs = ("image",)

        def __init__(self):
            super().__init__()
            self.vit = ViT(in_chans=3, **TINY)

        def forward(self, image):
            return type("Out", (), {"alpha": self.vit(image)})()

    torch.manual_seed(0)
    net = Features().eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "rel_pos" in name or "norm3" in name:
                p.normal_(0, 0.5)
    session = ort.InferenceSession(str(export_onnx(net, tmp_path / "vit.onnx")), providers=["CPUExecutionProvider"])
    for h, w in [(64, 64), (96, 128), (224, 160)]:
        x = torch.rand(1, 3, h, w)
        with torch.no_grad():
            expected = net(x).alpha.numpy()
        got = session.run(None, {"image": x.numpy()})[0]
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
