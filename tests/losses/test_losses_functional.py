"""automatte.losses.functional: hand-computed values, explicit reimplementations, masks, float64 gradchecks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck

from automatte.losses import functional as LF
from automatte.ops import unified_classes

torch.set_num_threads(1)


def t4(values, dtype=torch.float32):
    """A list of rows -> (1, 1, H, W) tensor."""
    return torch.tensor(values, dtype=dtype).view(1, 1, len(values), -1)


def rand(*shape, seed=0, dtype=torch.float64, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g, dtype=dtype).requires_grad_(requires_grad)


def random_trimap(shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 3, shape, generator=g).to(dtype) / 2


# ----------------------------------------------------------------------------------------- reductions
P = t4([[0.0, 1.0], [0.5, 0.25]])
T = t4([[0.5, 0.0], [0.5, 1.0]])
W = t4([[1.0, 0.0], [1.0, 1.0]])


def test_l1_reference_values():
    # |P - T| = [[0.5, 1], [0, 0.75]]
    assert LF.l1_loss(P, T).item() == pytest.approx(2.25 / 4)
    assert LF.l1_loss(P, T, W).item() == pytest.approx(1.25 / 3)
    assert LF.l1_loss(P, T, W.bool()).item() == pytest.approx(1.25 / 3)
    assert LF.l1_loss(P, T, 0.5 * W + 0.5 * (1 - W)).item() == pytest.approx(0.5 * 2.25 / 2)  # uniform 0.5
    assert LF.l1_loss(P, T, W, reduction="sum").item() == pytest.approx(1.25)
    assert torch.allclose(LF.l1_loss(P, T, W, reduction="none"), t4([[0.5, 0.0], [0.0, 0.75]]))


def test_mean_is_pooled_over_the_batch():
    p = torch.cat([P, torch.zeros_like(P)])
    t = torch.cat([T, torch.ones_like(T)])
    w = torch.cat([W, t4([[1.0, 0.0], [0.0, 0.0]])])
    # sample 0: 1.25 over 3 pixels, sample 1: 1 over 1 pixel -> 2.25 / 4 (not the mean of per-sample means)
    assert LF.l1_loss(p, t, w).item() == pytest.approx(2.25 / 4)


def test_charbonnier_reference_and_eps():
    p, t = torch.zeros(1, 1, 1, 2), t4([[0.3, 0.0]])
    # sqrt(0.09 + 0.01) and sqrt(0 + 0.01) with eps = 0.1
    assert LF.charbonnier_loss(p, t, eps=0.1).item() == pytest.approx((math.sqrt(0.1) + 0.1) / 2)
    assert LF.charbonnier_loss(p, t).item() == pytest.approx((0.3 + 1e-6) / 2, abs=1e-7)


def test_composition_reference():
    alpha = t4([[0.5, 1.0]])
    fg, bg = torch.ones(1, 3, 1, 2), torch.zeros(1, 3, 1, 2)
    fg[:, 1] = 0.5  # green foreground 0.5: composites (0.5, 0.25, 0.5) and (1, 0.5, 1)
    image = torch.full((1, 3, 1, 2), 0.25)
    # errors: pixel 0 -> 0.25, 0, 0.25; pixel 1 -> 0.75, 0.25, 0.75
    assert LF.composition_loss(alpha, fg, bg, image, eps=0).item() == pytest.approx(2.25 / 6)
    assert LF.composition_loss(alpha, fg, bg, image, t4([[0.0, 1.0]]), eps=0).item() == pytest.approx(1.75 / 3)
    assert LF.composition_loss(alpha, fg, bg, image, reduction="none").shape == (1, 3, 1, 2)


EMPTY_CASES = {
    "l1": lambda p, t, m: LF.l1_loss(p, t, m),
    "charbonnier": lambda p, t, m: LF.charbonnier_loss(p, t, m),
    "composition": lambda p, t, m: LF.composition_loss(
        p, t.expand(-1, 3, -1, -1), 1 - t.expand(-1, 3, -1, -1), t.repeat(1, 3, 1, 1), m
    ),
    "gradient": lambda p, t, m: LF.gradient_loss(p, t, m),
    "laplacian": lambda p, t, m: LF.laplacian_loss(p, t, m),
    "hard_mining": lambda p, t, m: LF.hard_mining_loss(p, t, m),
    "ce": lambda p, t, m: LF.trimap_ce_loss(torch.cat([p, 1 - p, p * t], 1), torch.ones_like(p[:, 0]).long(), m),
}


@pytest.mark.parametrize("name", sorted(EMPTY_CASES))
def test_empty_mask_gives_zero_without_nan(name):
    p = rand(2, 1, 6, 6, seed=1, requires_grad=True)
    t = rand(2, 1, 6, 6, seed=2)
    loss = EMPTY_CASES[name](p, t, torch.zeros(2, 1, 6, 6, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(p.grad).all() and p.grad.abs().max().item() == 0.0


def test_known_and_regional_losses_with_empty_regions():
    p = rand(1, 1, 4, 4, seed=3, requires_grad=True)
    unknown = torch.full((1, 1, 4, 4), 0.5, dtype=torch.float64)
    loss = LF.known_loss(p, unknown)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(p.grad).all()
    # only foreground: the b and t terms vanish, no NaN
    ones = torch.ones(1, 1, 4, 4, dtype=torch.float64)
    parts = LF.regional_scaling_parts(p, ones, ones)
    assert all(torch.isfinite(v) for v in parts.values())
    assert parts["l1"].item() == pytest.approx((1 - p).abs().mean().item())


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="same shape"):
        LF.l1_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 3))
    with pytest.raises(ValueError, match="reduction"):
        LF.l1_loss(P, T, reduction="avg")
    with pytest.raises(ValueError, match="weight"):
        LF.l1_loss(P, T, torch.ones(1, 2, 2, 2))
    with pytest.raises(ValueError, match="percent"):
        LF.hard_mining_loss(P, T, percent=0)
    with pytest.raises(ValueError, match="image types"):
        LF.unified_class_targets(torch.zeros(2, 1, 2, 2), ["SO"])
    with pytest.raises(ValueError, match="SO, STM, NS"):
        LF.unified_class_targets(torch.zeros(1, 1, 2, 2), "glass")


# ---------------------------------------------------------------------------------------- gradients
SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float64) / 8


def np_correlate_edge(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Plain loops: correlation of a 2-D array with a 3x3 kernel, edge-replicated borders."""
    pad = np.pad(a, 1, mode="edge")
    out = np.zeros_like(a)
    for y in range(a.shape[0]):
        for x in range(a.shape[1]):
            out[y, x] = (pad[y : y + 3, x : x + 3] * k).sum()
    return out


def test_image_gradients_match_loops():
    x = rand(1, 1, 5, 7, seed=4)
    gx, gy = LF.image_gradients(x)
    a = x[0, 0].numpy()
    np.testing.assert_allclose(gx[0, 0].numpy(), np_correlate_edge(a, SOBEL_X), atol=1e-12)
    np.testing.assert_allclose(gy[0, 0].numpy(), np_correlate_edge(a, SOBEL_X.T), atol=1e-12)
    dx, dy = LF.image_gradients(x, "diff")
    np.testing.assert_allclose(dx[0, 0, :, 1:-1].numpy(), (a[:, 2:] - a[:, :-2]) / 2, atol=1e-12)
    np.testing.assert_allclose(dy[0, 0, 1:-1].numpy(), (a[2:] - a[:-2]) / 2, atol=1e-12)
    const = torch.full((2, 3, 4, 4), 0.7)
    assert all(g.abs().max().item() < 1e-6 for g in LF.image_gradients(const))


def test_gradient_loss_matches_reference():
    p, t = rand(1, 1, 6, 5, seed=5), rand(1, 1, 6, 5, seed=6)
    eps = 1e-6
    mag = [
        np.sqrt(np_correlate_edge(a, SOBEL_X) ** 2 + np_correlate_edge(a, SOBEL_X.T) ** 2 + eps**2)
        for a in (p[0, 0].numpy(), t[0, 0].numpy())
    ]
    ref = np.abs(mag[0] - mag[1])
    np.testing.assert_allclose(LF.gradient_loss(p, t, reduction="none")[0, 0].numpy(), ref, atol=1e-12)
    assert LF.gradient_loss(p, t).item() == pytest.approx(ref.mean())
    vec = np.abs(np_correlate_edge(p[0, 0].numpy() - t[0, 0].numpy(), SOBEL_X)) + np.abs(
        np_correlate_edge(p[0, 0].numpy() - t[0, 0].numpy(), SOBEL_X.T)
    )
    assert LF.gradient_loss(p, t, mode="vector").item() == pytest.approx(vec.mean())


# --------------------------------------------------------------------------------------- Laplacian
K1 = np.array([1, 4, 6, 4, 1], np.float64) / 16
K5 = np.outer(K1, K1)


def np_blur(a: np.ndarray) -> np.ndarray:
    pad = np.pad(a, 2, mode="edge")
    return np.array([[(pad[y : y + 5, x : x + 5] * K5).sum() for x in range(a.shape[1])] for y in range(a.shape[0])])


def np_up(a: np.ndarray, shape) -> np.ndarray:
    """Zero insertion after a one-pixel edge pad of the coarse map, 4 x blur, crop: pixel by pixel."""
    pad = np.pad(a, 1, mode="edge")
    out = np.zeros(shape)
    for y in range(shape[0]):
        for x in range(shape[1]):
            for dy in range(-2, 3):
                for dx in range(-2, 3):
                    yy, xx = y + 2 + dy, x + 2 + dx  # position in the zero-inserted padded grid
                    if yy % 2 == 0 and xx % 2 == 0:
                        out[y, x] += 4 * K5[dy + 2, dx + 2] * pad[yy // 2, xx // 2]
    return out


def np_pyramid(a: np.ndarray, levels: int) -> list[np.ndarray]:
    out = []
    for _ in range(levels):
        down = np_blur(a)[::2, ::2]
        out.append(a - np_up(down, a.shape))
        a = down
    return out + [a]


def test_laplacian_pyramid_matches_reference_and_reconstructs():
    x = rand(1, 1, 11, 8, seed=7)
    ours = LF.laplacian_pyramid(x, 4)
    ref = np_pyramid(x[0, 0].numpy(), 4)
    assert [tuple(o.shape[-2:]) for o in ours] == [(11, 8), (6, 4), (3, 2), (2, 1), (1, 1)]
    for o, r in zip(ours, ref):
        np.testing.assert_allclose(o[0, 0].numpy(), r, atol=1e-12)
    rebuilt = ours[-1]
    for band in reversed(ours[:-1]):
        rebuilt = band + LF._pyr_up(rebuilt, band.shape[-2:])
    assert torch.allclose(rebuilt, x, atol=1e-12)
    # a constant map has zero bands everywhere, borders included
    bands = LF.laplacian_pyramid(torch.full((1, 1, 9, 6), 0.3, dtype=torch.float64))[:-1]
    assert max(b.abs().max().item() for b in bands) < 1e-15


def test_laplacian_loss_reference_values():
    x = rand(2, 1, 16, 12, seed=8)
    # a constant offset is invisible to the band-pass levels and seen by the residual only
    assert LF.laplacian_loss(x + 0.1, x).item() == pytest.approx(0.0, abs=1e-12)
    assert LF.laplacian_loss(x + 0.1, x, residual_weight=3.0).item() == pytest.approx(0.3)
    y = rand(2, 1, 16, 12, seed=9)
    pp, pt = LF.laplacian_pyramid(x, 5), LF.laplacian_pyramid(y, 5)
    ref = sum(2**i * (pp[i] - pt[i]).abs().mean() for i in range(5))  # 1, 2, 4, 8, 16 on the 5 bands
    assert LF.laplacian_loss(x, y).item() == pytest.approx(ref.item())
    first = (pp[0] - pt[0]).abs().mean().item()
    assert LF.laplacian_loss(x, y, level_weights=[1, 0, 0, 0, 0]).item() == pytest.approx(first)
    m = (rand(2, 1, 16, 12, seed=10) > 0.5).double()
    assert LF.laplacian_loss(x, y, m).item() == pytest.approx(LF.laplacian_loss(x * m, y * m).item())


# ---------------------------------------------------------------------------------- classification
def test_trimap_targets_and_ce_reference():
    assert LF.trimap_class_targets(t4([[0.0, 0.5, 1.0, 0.49]])).tolist() == [[[0, 1, 2, 1]]]
    logits = torch.tensor([2.0, 0.0, 0.0]).view(1, 3, 1, 1)
    assert LF.trimap_ce_loss(logits, torch.tensor([[[0]]])).item() == pytest.approx(math.log(1 + 2 * math.exp(-2)))
    assert LF.trimap_ce_loss(logits, torch.tensor([[[1]]])).item() == pytest.approx(math.log(math.exp(2) + 2))
    two = logits.expand(1, 3, 1, 2)
    w = torch.tensor([1.0, 3.0, 1.0])  # class 1 three times as heavy
    ref = (math.log(1 + 2 * math.exp(-2)) + 3 * math.log(math.exp(2) + 2)) / 4
    assert LF.trimap_ce_loss(two, torch.tensor([[[0, 1]]]), class_weights=w).item() == pytest.approx(ref)


def test_unified_targets_match_numpy_ops():
    trimap = random_trimap((3, 1, 7, 9), seed=11, dtype=torch.float32)
    types = ["so", "STM", " ns "]
    ours = LF.unified_class_targets(trimap, types)
    for i, kind in enumerate(types):
        np.testing.assert_array_equal(ours[i].numpy(), unified_classes(trimap[i, 0].numpy(), kind))
    logits = rand(3, 3, 7, 9, seed=12, dtype=torch.float32)
    assert LF.unified_ce_loss(logits, trimap, types).item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits, ours).item(), rel=1e-6
    )


# ------------------------------------------------------------------------------------- hard mining
def test_hard_mining_reference_values():
    p = t4([[0.1, 0.2], [0.3, 0.4]])
    z = torch.zeros_like(p)
    assert LF.hard_mining_loss(p, z).item() == pytest.approx(0.35)
    assert LF.hard_mining_loss(p, z, percent=25).item() == pytest.approx(0.4)
    assert LF.hard_mining_loss(p, z, percent=60).item() == pytest.approx(0.3)  # ceil(2.4) = 3: (0.4+0.3+0.2)/3
    assert LF.hard_mining_loss(p, z, percent=100).item() == pytest.approx(0.25)
    ten = torch.arange(1.0, 11.0).view(1, 1, 2, 5)  # 30 % of 10 is exactly 3 pixels (not ceil(3.0000000000000004))
    assert LF.hard_mining_loss(ten, torch.zeros_like(ten), percent=30).item() == pytest.approx(9.0)
    mask = t4([[1.0, 1.0], [1.0, 0.0]])  # 0.4 excluded: top ceil(1.5) = 2 of (0.1, 0.2, 0.3)
    assert LF.hard_mining_loss(p, z, mask).item() == pytest.approx(0.25)


def test_hard_mining_matches_per_sample_sort():
    p, t = rand(3, 1, 5, 5, seed=13), rand(3, 1, 5, 5, seed=14)
    mask = rand(3, 1, 5, 5, seed=15) > 0.4
    selected = []
    for b in range(3):
        e = sorted((p[b] - t[b]).abs()[mask[b]].tolist(), reverse=True)
        selected += e[: math.ceil(0.5 * len(e))]
    assert LF.hard_mining_loss(p, t, mask).item() == pytest.approx(sum(selected) / len(selected))


# ---------------------------------------------------------------------------------- PPID, known loss
def test_regional_scaling_matches_explicit_sums():
    p, a = rand(2, 1, 6, 6, seed=16), rand(2, 1, 6, 6, seed=17)
    tri = random_trimap((2, 1, 6, 6), seed=18)
    grad = LF.gradient_loss(p, a, reduction="none")
    total = 0.0
    for b in range(2):
        per = 0.0
        for value, w1, wce in ((1.0, 1.0, 1.0), (0.0, 1.0, 1.0), (0.5, 2.0, 0.5)):  # f, b, t (eq. 13-14)
            region = tri[b, 0] == value
            n = int(region.sum())
            pi, ai = p[b, 0][region], a[b, 0][region]
            l1 = (pi - ai).abs().sum() / n  # S = 1 / N (eq. 11)
            ce = -(ai * torch.log(pi) + (1 - ai) * torch.log(1 - pi)).sum() / n
            per += w1 * l1 + wce * ce
        total += per + grad[b].mean()
    assert LF.regional_scaling_loss(p, a, tri).item() == pytest.approx(total.item() / 2)


def test_known_loss_reference():
    tri = t4([[0.0, 0.5], [1.0, 1.0]])
    a = t4([[0.2, 0.9], [1.0, 0.5]])
    # (1/N) * (0.2 + 0 + 0.5) * N / N_known with N_known = 3
    assert LF.known_loss(a, tri).item() == pytest.approx(0.7 / 3)


# ---------------------------------------------------------------------------------------- gradcheck
def _gc(fn, *inputs):
    assert gradcheck(fn, inputs, eps=1e-6, atol=1e-5)


def test_gradcheck_pixel_losses():
    p = rand(1, 1, 6, 6, seed=20, requires_grad=True)
    t = rand(1, 1, 6, 6, seed=21)
    w = rand(1, 1, 6, 6, seed=22)
    _gc(lambda x: LF.l1_loss(x, t, w), p)
    _gc(lambda x: LF.charbonnier_loss(x, t, w), p)
    _gc(lambda x: LF.charbonnier_loss(x, t, eps=1e-3), p)
    fg, bg, img = rand(1, 3, 6, 6, seed=23), rand(1, 3, 6, 6, seed=24), rand(1, 3, 6, 6, seed=25)
    _gc(lambda x: LF.composition_loss(x, fg, bg, img, w), p)
    for operator in ("sobel", "diff"):
        for mode in ("magnitude", "vector"):
            _gc(lambda x: LF.gradient_loss(x, t, w, operator, mode), p)
    _gc(lambda x: LF.laplacian_loss(x, t), p)
    _gc(lambda x: LF.laplacian_loss(x, t, w > 0.5, residual_weight=1.0), p)


def test_gradcheck_classification_and_paper_losses():
    logits = rand(1, 3, 6, 6, seed=26, requires_grad=True)
    tri = random_trimap((1, 1, 6, 6), seed=27)
    _gc(lambda x: LF.trimap_ce_loss(x, LF.trimap_class_targets(tri)), logits)
    _gc(lambda x: LF.unified_ce_loss(x, tri, "STM"), logits)
    # hard mining: distinct errors, so the top-k set is stable under the finite-difference step
    t = torch.zeros(1, 1, 6, 6, dtype=torch.float64)
    p = (torch.randperm(36, generator=torch.Generator().manual_seed(28)).double() / 40 + 0.05).view(1, 1, 6, 6)
    p.requires_grad_(True)
    _gc(lambda x: LF.hard_mining_loss(x, t), p)
    _gc(lambda x: LF.hard_mining_loss(x, t, tri == 0.5, percent=30), p)
    a = rand(1, 1, 6, 6, seed=29) * 0.9 + 0.05
    q = (rand(1, 1, 6, 6, seed=30) * 0.9 + 0.05).requires_grad_(True)
    _gc(lambda x: LF.regional_scaling_loss(x, a, tri), q)
    _gc(lambda x: LF.known_loss(x, tri), q)
