"""Ablation switches of issue 12, item 4: each variant builds, runs forward on a tiny input and differs from the
default model where the paper's table row says it should (AIM table 3, PP-Matting tables 3-4, SPAMattNet
table IV)."""

from __future__ import annotations

import pytest
import torch

from automatte.losses.recipes import aimnet_losses
from automatte.models.output import MattingOutput
from automatte.registry import create_model

torch.set_num_threads(1)


def _params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def _pair(name: str, **switch):
    """The default model and the variant, sharing every weight both have (so differences are the switch's)."""
    torch.manual_seed(0)
    default = create_model(name).eval()
    variant = create_model(name, **switch).eval()
    own = variant.state_dict()
    shared = {k: v for k, v in default.state_dict().items() if k in own and own[k].shape == v.shape}
    variant.load_state_dict(shared, strict=False)
    return default, variant


# ------------------------------------------------------------------------------------- AIM table 3
@pytest.mark.parametrize("switch", [{"max_pool_indices": False}, {"se": False}, {"spatial_attention": False}])
def test_aimnet_table_3_switches(switch):
    default, variant = _pair("aimnet_test", **switch)
    image = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        a, b = default(image=image), variant(image=image)
    assert b.alpha.shape == b.detail.shape == (1, 1, 64, 64) and b.trimap_logits.shape == (1, 3, 64, 64)
    assert not torch.allclose(a.detail, b.detail)
    key = next(iter(switch))
    if key == "max_pool_indices":
        assert [f.shape[-1] for f in b.features] == [32, 16, 8, 4, 2]  # vanilla strides 2 .. 32
        assert [f.shape[-1] for f in a.features] == [64, 16, 8, 4, 2]  # AIM's stride-1 stem
        assert _params(variant) == _params(default)  # same layers, other strides and no indices
    elif key == "se":
        assert _params(variant) < _params(default) and not any("se." in n for n, _ in variant.named_parameters())
    else:
        assert variant.spa is None and _params(variant) == _params(default) - 2 * 7 * 7 - 1
        assert torch.allclose(a.trimap_logits, b.trimap_logits)  # SA touches the matting decoder only


def test_aimnet_without_max_pool_trains():
    net = create_model("aimnet_test", max_pool_indices=False).train()
    out = net(image=torch.rand(2, 3, 64, 64))
    out.detail.sum().backward()
    assert all(p.grad is not None for n, p in net.named_parameters() if n.startswith(("md", "encoder.layer")))


def test_aimnet_semantic_target_switch():
    trimap = torch.zeros(1, 1, 8, 8)
    trimap[..., 2:6, 2:6] = 1.0
    trimap[..., 2, 2:6] = 0.5
    batch = {
        "image": torch.rand(1, 3, 8, 8),
        "alpha": trimap.clone(),
        "fg": torch.rand(1, 3, 8, 8),
        "bg": torch.rand(1, 3, 8, 8),
        "trimap": trimap,
        "type": "NS",
    }  # NS: the unimap is all transition
    logits = torch.zeros(1, 3, 8, 8)
    logits[:, 1] = 4.0  # predicts transition everywhere: right for the unimap, wrong for the plain trimap
    out = MattingOutput(alpha=trimap.clone(), trimap_logits=logits, detail=trimap.clone())
    unified = aimnet_losses(out, batch)["semantic"].item()
    plain = aimnet_losses(out, batch, semantic_target="trimap")["semantic"].item()
    assert unified < 0.05 < plain
    with pytest.raises(ValueError, match="semantic_target"):
        aimnet_losses(out, batch, semantic_target="unimap")


# ------------------------------------------------------------------------------ PP-Matting tables 3-4
@pytest.mark.parametrize(
    "guides,places", [((), ()), ((4,), (0,)), ((0, 2, 4), (0, 1, 2)), ((0, 1, 2, 3, 4), (0, 0, 1, 1, 2))]
)
def test_ppmatting_table_3_guidance_flow(guides, places):
    default, variant = _pair("ppmatting_test", guide_blocks=guides)
    assert variant.hrdb.places == places and len(variant.hrdb.gates) == len(guides)
    image = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        a, b = default(image=image), variant(image=image)
    assert b.detail.shape == (1, 1, 64, 64)
    assert torch.allclose(a.trimap_logits, b.trimap_logits)  # the SCB is untouched
    if guides == (0, 2, 4):
        assert torch.equal(a.detail, b.detail)
    else:
        assert not torch.allclose(a.detail, b.detail)
    if not guides:  # w/o GF: the detail branch does not depend on the SCB at all
        variant.scb.blocks[4].convs[0][0].weight.data.normal_()
        with torch.no_grad():
            assert torch.equal(variant(image=image).detail, b.detail)


def test_ppmatting_guide_blocks_checked():
    with pytest.raises(ValueError, match="guide_blocks"):
        create_model("ppmatting_test", guide_blocks=(2, 0))
    with pytest.raises(ValueError, match="guide_blocks"):
        create_model("ppmatting_test", guide_blocks=(5,))
    with pytest.raises(ValueError, match="fusion"):
        create_model("ppmatting_test", fusion="sum")


@pytest.mark.parametrize("fusion", ["none", "conv"])
def test_ppmatting_table_4_fusion(fusion):
    default, variant = _pair("ppmatting_test", fusion=fusion)
    image = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        a, b = default(image=image), variant(image=image)
    assert torch.allclose(a.detail, b.detail)
    assert b.alpha.shape == (1, 1, 64, 64) and not torch.allclose(a.alpha, b.alpha)
    if fusion == "none":
        assert torch.equal(b.alpha, b.detail)
    else:  # starts as w/o FM, and learns from the semantic logits too
        assert torch.allclose(b.alpha, b.detail, atol=1e-6)
        net = variant.train()
        net(image=torch.rand(2, 3, 64, 64)).alpha.sum().backward()
        assert net.fusion_conv.weight.grad[0, 1:].abs().sum() > 0


# ---------------------------------------------------------------------------- SPAMattNet table IV
SPA_ROWS = {  # Table IV rows (GPA, LSPA, CFC, RM) other than the full model
    "row1_unet": dict(gpa=False, lspa=False),
    "row2_no_gpa": dict(gpa=False),
    "row3_gpa_only": dict(lspa=False),
    "row4_no_cfc": dict(cfc=False),
    "row5_no_rm": dict(refinement=False),
}


@pytest.mark.parametrize("row", sorted(SPA_ROWS))
def test_spamattnet_table_iv_rows(row):
    switch = SPA_ROWS[row]
    default, variant = _pair("spamattnet_test", **switch)
    image, trimap = torch.rand(2, 3, 64, 64), torch.full((2, 1, 64, 64), 0.5)
    trimap[..., :16, :] = 0.0
    trimap[..., 48:, :] = 1.0
    with torch.no_grad():
        a, b = default(image=image, trimap=trimap), variant(image=image, trimap=trimap)
    assert b.alpha.shape == (2, 1, 64, 64) and torch.isfinite(b.alpha).all()
    assert _params(variant) < _params(default) or row == "row4_no_cfc"
    names = {n.split(".")[0] for n, _ in variant.named_parameters()}
    if row == "row5_no_rm":
        assert b.coarse_alpha is None and torch.allclose(b.alpha, a.coarse_alpha) and "refine" not in names
        return
    assert not torch.allclose(a.coarse_alpha, b.coarse_alpha)
    assert ("gpa" in names) == switch.get("gpa", True) and ("lspa" in names) == switch.get("lspa", True)
    assert ("cfc" in names) == (row not in ("row1_unet", "row2_no_gpa", "row3_gpa_only", "row4_no_cfc"))
    if row == "row4_no_cfc":
        assert variant.lspa.fuse is None and "concat" in names
    if row == "row2_no_gpa":
        assert variant.lspa.fuse is not None  # the 1D CFC inside LSPA stays (row 2 ticks CFC)


def test_spamattnet_without_rm_trains_with_its_recipe():
    from automatte.losses.recipes import spamattnet_losses

    net = create_model("spamattnet_test", refinement=False).train()
    trimap = torch.full((2, 1, 64, 64), 0.5)
    out = net(image=torch.rand(2, 3, 64, 64), trimap=trimap)
    parts = spamattnet_losses(out, {"alpha": torch.rand(2, 1, 64, 64), "trimap": trimap})
    assert set(parts) == {"total", "refined"}
    parts["total"].backward()
    assert net.head.weight.grad is not None
