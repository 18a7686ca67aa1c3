"""Loss recipes on fake MattingOutputs: a 'total', finite parts, totals that add up, gradients, any size;
and the thin Module wrappers equal their functions."""

from __future__ import annotations

import math

import pytest
import torch

import automatte.losses as L
from automatte.models.output import MattingOutput

torch.set_num_threads(1)


def make_batch(b=2, h=16, w=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    alpha = torch.rand(b, 1, h, w, generator=g)
    trimap = torch.randint(0, 3, (b, 1, h, w), generator=g).float() / 2
    fg, bg = torch.rand(b, 3, h, w, generator=g), torch.rand(b, 3, h, w, generator=g)
    return {
        "image": alpha * fg + (1 - alpha) * bg,
        "alpha": alpha,
        "trimap": trimap,
        "fg": fg,
        "bg": bg,
        "type": ["SO", "STM", "NS", "SO"][:b],
        "pseudo_alpha": torch.rand(b, 1, h, w, generator=g),
        "pseudo_trimap": torch.randint(0, 3, (b, 1, h, w), generator=g).float() / 2,
    }


def make_output(b=2, h=16, w=12, seed=1, logits_scale=2):
    """A fake model output that requires grad: alphas in (0, 1), logits at 1/``logits_scale`` size."""
    g = torch.Generator().manual_seed(seed)

    def leaf(*shape):
        return torch.randn(*shape, generator=g).requires_grad_(True)

    raw = {"alpha": leaf(b, 1, h, w), "detail": leaf(b, 1, h, w), "coarse": leaf(b, 1, h, w)}
    logits = leaf(b, 3, math.ceil(h / logits_scale), math.ceil(w / logits_scale))
    out = MattingOutput(
        alpha=torch.sigmoid(raw["alpha"]),
        trimap_logits=logits,
        detail=torch.sigmoid(raw["detail"]),
        coarse_alpha=torch.sigmoid(raw["coarse"]),
    )
    return out, [*raw.values(), logits]


def check(result: dict, leaves) -> None:
    assert "total" in result
    assert all(isinstance(v, torch.Tensor) and v.dim() == 0 and torch.isfinite(v) for v in result.values()), result
    result["total"].backward()
    grads = [x.grad for x in leaves if x.grad is not None]
    assert grads and all(torch.isfinite(gr).all() for gr in grads)


@pytest.mark.parametrize("size", [(16, 12), (21, 9)])
def test_aimnet(size):
    batch, (out, leaves) = make_batch(h=size[0], w=size[1]), make_output(h=size[0], w=size[1])
    r = L.aimnet_losses(out, batch)
    check(r, leaves)
    total = (
        r["semantic"]
        + r["detail_alpha"]
        + r["detail_laplacian"]
        + r["fused_alpha"]
        + r["fused_laplacian"]
        + r["composition"]
    )
    assert r["total"].item() == pytest.approx(total.item(), rel=1e-6)
    r2 = L.aimnet_losses(*make_output(h=size[0], w=size[1])[:1], batch, detail_region="all", composition_weight=0)
    assert "composition" not in r2 and torch.isfinite(r2["total"])


def test_aimnet_semantic_targets_follow_image_types():
    batch = make_batch(b=2)
    out, _ = make_output(b=2, logits_scale=1)
    classes = L.unified_class_targets(batch["trimap"], batch["type"])
    assert L.aimnet_losses(out, batch)["semantic"].item() == pytest.approx(
        L.trimap_ce_loss(out.trimap_logits, classes).item()
    )


@pytest.mark.parametrize("size", [(16, 12), (19, 23)])
def test_ppmatting(size):
    batch, (out, leaves) = make_batch(h=size[0], w=size[1]), make_output(h=size[0], w=size[1])
    r = L.ppmatting_losses(out, batch)
    check(r, leaves)
    assert r["total"].item() == pytest.approx((r["semantic"] + r["detail"] + r["fusion"]).item(), rel=1e-6)
    assert r["detail"].item() == pytest.approx((r["detail_alpha"] + r["detail_grad"]).item(), rel=1e-6)


def test_spamattnet():
    batch, (out, leaves) = make_batch(), make_output()
    r = L.spamattnet_losses(out, batch)
    check(r, leaves)
    m = batch["trimap"] == 0.5
    a = batch["alpha"]
    ref = sum(L.l1_loss(p, a, m) + L.hard_mining_loss(p, a, m, 50) for p in (out.alpha, out.coarse_alpha))
    assert r["total"].item() == pytest.approx(ref.item(), rel=1e-6)
    no_rm = MattingOutput(alpha=out.alpha.detach())
    assert set(L.spamattnet_losses(no_rm, batch, region="all")) == {"total", "refined"}


def test_dim():
    batch, (out, leaves) = make_batch(), make_output()
    r = L.dim_losses(out, batch)
    check(r, leaves)
    assert r["total"].item() == pytest.approx((0.5 * (r["alpha"] + r["composition"]) + r["refined"]).item(), rel=1e-6)
    m = batch["trimap"] == 0.5
    assert r["alpha"].item() == pytest.approx(L.charbonnier_loss(out.coarse_alpha, batch["alpha"], m).item())
    assert r["refined"].item() == pytest.approx(L.charbonnier_loss(out.alpha, batch["alpha"], m).item())
    # no refinement stage (alpha is the coarse output): stage-1 terms only
    single = MattingOutput(alpha=out.coarse_alpha, coarse_alpha=out.coarse_alpha)
    assert set(L.dim_losses(single, batch)) == {"total", "alpha", "composition"}


def ppid_pair(b=2, h=16, w=12, seed=2):
    """Student / teacher outputs shaped like models.ppid.PPIDStudent's (3 levels, ALD on a shallow stage)."""
    g = torch.Generator().manual_seed(seed)
    sizes = [(8, h // 4, w // 4), (16, h // 8, w // 8), (16, h // 16 or 1, w // 16 or 1)]

    def feats():
        return [torch.randn(b, c, y, x, generator=g).requires_grad_(True) for c, y, x in sizes]

    s_feat, t_feat = feats(), feats()
    cross = {f"clsd_cross_{i}": torch.randn(b, *sizes[i], generator=g).requires_grad_(True) for i in (1, 2)}
    att = [torch.randn(b, 1, h // 2, w // 2, generator=g).requires_grad_(True) for _ in range(2)]
    ald = [torch.randn(b, 4, h // 2, w // 2, generator=g).requires_grad_(True) for _ in range(2)]
    student, leaves = make_output(b, h, w)
    student.features = tuple(s_feat)
    student.extras = {**cross, "ald_feature": ald[0], "attention": L.spatial_softmax(att[0])}
    teacher = MattingOutput(
        alpha=student.alpha.detach(),
        features=tuple(t_feat),
        extras={"ald_feature": ald[1], "attention": L.spatial_softmax(att[1])},
    )
    return student, teacher, leaves + s_feat + list(cross.values()) + att + ald


def test_ppid():
    batch = make_batch()
    student, teacher, leaves = ppid_pair()
    r = L.ppid_losses(student, batch, teacher, gamma=0.5)
    check(r, leaves)
    assert r["total"].item() == pytest.approx((r["alpha"] + 0.5 * (r["clsd"] + r["ald"])).item(), rel=1e-6)
    alpha_loss = L.regional_scaling_loss(student.alpha, batch["alpha"], batch["trimap"])
    assert r["alpha"].item() == pytest.approx(alpha_loss.item(), rel=1e-6)
    base = L.ppid_losses(student, batch, gamma=0)
    assert set(base) == {"total", "alpha", "alpha_l1", "alpha_ce", "alpha_grad"}
    with pytest.raises(ValueError, match="teacher"):
        L.ppid_losses(student, batch)
    with pytest.raises(ValueError, match="ald_feature"):
        L.ppid_losses(student, batch, MattingOutput(alpha=teacher.alpha, features=teacher.features))


@pytest.mark.parametrize("consistency", ["ddc", "dc", "affinity", None])
def test_ddc_recipe(consistency):
    batch, (out, leaves) = make_batch(h=13, w=15), make_output(h=13, w=15)
    del batch["alpha"]  # trimap-only training: no alpha label needed
    r = L.ddc_losses(out, batch, consistency=consistency, kernel_size=5)
    check(r, leaves)
    assert r["known"].item() == pytest.approx(L.known_loss(out.alpha, batch["trimap"]).item())
    if consistency is not None:
        assert r["total"].item() == pytest.approx((r["known"] + 10 * r[consistency]).item(), rel=1e-6)


def test_ddc_recipe_default_is_listing():
    batch, (out, _) = make_batch(h=12, w=12), make_output(h=12, w=12)
    r = L.ddc_losses(out, batch)
    assert r["ddc"].item() == pytest.approx(L.ddc_loss(batch["image"], out.alpha, 11).item())


def test_adaptation_generator():
    batch, (out, leaves) = make_batch(), make_output()
    d_fake = out.alpha.mean(dim=(1, 2, 3)) * 2  # a stand-in discriminator output
    lam = L.adaptation_lambda(15_000)
    r = L.adaptation_generator_losses(out, batch, d_fake, lam=lam)
    check(r, leaves)
    assert r["total"].item() == pytest.approx((r["adversarial"] + 0.25 * (r["ce"] + r["alpha"])).item(), rel=1e-6)


def test_missing_batch_keys_and_outputs_raise():
    batch, (out, _) = make_batch(), make_output()
    with pytest.raises(ValueError, match="'fg'"):
        L.ppmatting_losses(out, {k: v for k, v in batch.items() if k != "fg"})
    with pytest.raises(ValueError, match="'type'"):
        L.aimnet_losses(out, {k: v for k, v in batch.items() if k != "type"})
    with pytest.raises(ValueError, match="'detail'"):
        L.ppmatting_losses(MattingOutput(alpha=out.alpha, trimap_logits=out.trimap_logits), batch)
    assert set(L.RECIPES) == {
        "aimnet",
        "ppmatting",
        "spamattnet",
        "dim",
        "ppid",
        "ddc",
        "tgn",
        "vitmatte",
        "mixed",
        "segment",
    }


# ------------------------------------------------------------------------------------------ modules
def test_modules_equal_functions():
    batch, (out, _) = make_batch(), make_output()
    a, p, tri, img = batch["alpha"], out.alpha.detach(), batch["trimap"], batch["image"]
    m = tri == 0.5
    logits = torch.nn.functional.interpolate(out.trimap_logits.detach(), size=a.shape[-2:])
    classes = L.trimap_class_targets(tri)
    pairs = [
        (L.AlphaL1Loss()(p, a, m), L.l1_loss(p, a, m)),
        (L.CharbonnierLoss(eps=1e-3)(p, a), L.charbonnier_loss(p, a, eps=1e-3)),
        (
            L.CompositionLoss()(p, batch["fg"], batch["bg"], img, m),
            L.composition_loss(p, batch["fg"], batch["bg"], img, m),
        ),
        (L.GradientLoss(operator="diff", mode="vector")(p, a), L.gradient_loss(p, a, operator="diff", mode="vector")),
        (L.LaplacianLoss(levels=3, residual_weight=2.0)(p, a), L.laplacian_loss(p, a, levels=3, residual_weight=2.0)),
        (
            L.TrimapCELoss([1.0, 2.0, 1.0])(logits, classes),
            L.trimap_ce_loss(logits, classes, None, torch.tensor([1.0, 2.0, 1.0])),
        ),
        (L.UnifiedCELoss()(logits, tri, batch["type"]), L.unified_ce_loss(logits, tri, batch["type"])),
        (L.HardMiningLoss(percent=20)(p, a, m), L.hard_mining_loss(p, a, m, 20)),
        (L.RegionalScalingLoss()(p, a, tri), L.regional_scaling_loss(p, a, tri)),
        (L.KnownLoss()(p, tri), L.known_loss(p, tri)),
        (L.DDCLoss(kernel_size=5, chunk_rows=3)(img, p), L.ddc_loss(img, p, 5)),
        (L.DCLoss(kernel_size=3)(img, p), L.dc_loss(img, p, 3)),
        (L.AffinityLoss(kernel_size=3)(img, p), L.affinity_loss(img, p, 3)),
        (L.LSGANGeneratorLoss()(p), L.lsgan_generator_loss(p)),
        (L.LSGANDiscriminatorLoss()(p, a), L.lsgan_discriminator_loss(p, a)),
    ]
    for got, want in pairs:
        assert got.item() == pytest.approx(want.item(), rel=1e-6, abs=1e-7)
    student, teacher, _ = ppid_pair()
    feats = (teacher.features, student.features, [student.extras["clsd_cross_1"], student.extras["clsd_cross_2"]])
    assert L.CLSDLoss(0.1, 2.0)(*feats).item() == pytest.approx(L.clsd_loss(*feats, 0.1, 2.0).item())
    te, se = teacher.extras, student.extras
    ald_in = (te["ald_feature"], se["ald_feature"], te["attention"], se["attention"], tri)
    assert L.ALDLoss(0.1, 0.2)(*ald_in).item() == pytest.approx(L.ald_loss(*ald_in, 0.1, 0.2).item())
    with pytest.raises(ValueError, match="odd"):
        L.DDCLoss(kernel_size=4)


def test_public_names():
    assert all(hasattr(L, name) for name in L.__all__)
    assert len(set(L.__all__)) == len(L.__all__)


def test_mixed_recipe_splits_alpha_and_trimap_samples():
    import torch

    from automatte.losses.recipes import ddc_losses, dim_losses, mixed_losses
    from automatte.models.output import MattingOutput

    g = torch.Generator().manual_seed(0)
    b, h, w = 3, 8, 8
    batch = {
        "image": torch.rand(b, 3, h, w, generator=g),
        "alpha": torch.rand(b, 1, h, w, generator=g),
        "fg": torch.rand(b, 3, h, w, generator=g),
        "bg": torch.rand(b, 3, h, w, generator=g),
        "trimap": torch.randint(0, 3, (b, 1, h, w), generator=g).float() / 2,
        "has_alpha": torch.tensor([True, False, True]),
        "name": ["a", "b", "c"],
    }
    out = MattingOutput(alpha=torch.rand(b, 1, h, w, generator=g), features=(torch.rand(b, 4, 2, 2, generator=g),))
    parts = mixed_losses(out, batch, alpha_recipe="dim", trimap_weight=2.0, ddc={"kernel_size": 3})
    keep, drop = torch.tensor([0, 2]), torch.tensor([1])
    sub = lambda d, i: {k: (v[i] if torch.is_tensor(v) else v) for k, v in d.items()}  # noqa: E731
    a = dim_losses(MattingOutput(alpha=out.alpha[keep]), sub(batch, keep))["total"]
    t = ddc_losses(MattingOutput(alpha=out.alpha[drop]), sub(batch, drop), kernel_size=3)["total"]
    assert torch.allclose(parts["total"], 2 / 3 * a + 2.0 * 1 / 3 * t)
    assert "alpha/total" in parts and "trimap/known" in parts
    only_alpha = mixed_losses(out, {**batch, "has_alpha": torch.ones(b, dtype=torch.bool)}, alpha_recipe="dim")
    assert "trimap/total" not in only_alpha


def test_segment_recipe_targets_alpha_rows_and_known_pixels_of_trimap_rows():
    from automatte.losses.recipes import segment_losses

    h = w = 16
    trimap = torch.zeros(2, 1, h, w)
    trimap[..., 4:12, 4:12] = 1
    trimap[..., 3, :] = 0.5  # an unknown row: not supervised
    alpha = torch.zeros(2, 1, h, w)
    alpha[1, :, :, 8:] = 0.7  # row 1 has an exact (soft) alpha
    batch = {"trimap": trimap, "alpha": alpha, "has_alpha": torch.tensor([False, True])}
    target = torch.where(torch.tensor([False, True]).view(2, 1, 1, 1), alpha, (trimap > 0.75).float())
    logit = torch.logit(target.clamp(0.01, 0.99)).requires_grad_(True)
    out = MattingOutput(alpha=torch.sigmoid(logit), extras={"fg_logit": logit})
    best = segment_losses(out, batch, iou_weight=0.0)["bce"]
    worse = segment_losses(MattingOutput(alpha=out.alpha, extras={"fg_logit": logit + 0.5}), batch, iou_weight=0)["bce"]
    assert best < worse
    # the unknown row of row 0 gets no gradient; every pixel of the exact-alpha row does
    segment_losses(out, batch)["total"].backward()
    assert logit.grad[0, 0, 3].abs().max() == 0
    assert (logit.grad[1, 0] != 0).float().mean() > 0.9
    # without fg_logit the recipe uses logit(alpha)
    parts = segment_losses(MattingOutput(alpha=torch.full((2, 1, h, w), 0.5)), batch)
    assert set(parts) == {"total", "bce", "iou"} and all(torch.isfinite(v) for v in parts.values())
    assert parts["bce"].item() == pytest.approx(math.log(2), rel=1e-4)
