"""Trimap-only losses of the DDC paper: DDC equals the paper's Listing 1, DC / affinity against plain
unfold-based reimplementations, hand values, chunking, float64 gradchecks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

from automatte.losses import functional as LF

torch.set_num_threads(1)


def listing1_ddc_loss(image, alpha, kernel_size):
    """The paper's Listing 1, verbatim (the reference)."""
    # each value in image is in [0,1]
    b, c, h, w = image.shape
    unfold_image = F.unfold(image, kernel_size=kernel_size, padding=kernel_size // 2).view(b, c, kernel_size**2, h, w)
    image_dist = torch.norm(image.view(b, c, 1, h, w) - unfold_image, 2, dim=1)
    image_dist, indices = torch.topk(image_dist, k=kernel_size, dim=1, largest=False)
    unfold_alpha = F.unfold(alpha, kernel_size=kernel_size, padding=kernel_size // 2).view(b, kernel_size**2, h, w)
    alpha_dist = torch.gather(alpha - unfold_alpha, dim=1, index=indices)
    return F.l1_loss(image_dist, alpha_dist)


def unfold_selection(image, alpha, k):
    """Listing 1's selection, returning (image_dist, alpha_j, alpha_i) for the reference DC / affinity."""
    b, c, h, w = image.shape
    ui = F.unfold(image, k, padding=k // 2).view(b, c, k * k, h, w)
    dist = torch.norm(image.view(b, c, 1, h, w) - ui, 2, dim=1)
    dist, idx = torch.topk(dist, k=k, dim=1, largest=False)
    ua = F.unfold(alpha, k, padding=k // 2).view(b, k * k, h, w)
    return dist, torch.gather(ua, 1, idx), alpha


def reference_dc(image, alpha, k):
    d, aj, ai = unfold_selection(image, alpha, k)
    return ((ai - aj).abs() - d).abs().mean()  # eq. 8, Listing-style mean


def reference_affinity(image, alpha, k):
    d, aj, ai = unfold_selection(image, alpha, k)
    a = 1 - d / math.sqrt(image.shape[1])  # eq. 3
    return ((a * aj).sum(1, keepdim=True) / a.sum(1, keepdim=True) - ai).abs().mean()  # eq. 4


def make_inputs(seed, shape=(2, 3, 13, 11), levels=None, grey=False, dtype=torch.float32):
    """Random image in [0, 1] (quantised to ``levels`` values for ties) and alpha."""
    g = torch.Generator().manual_seed(seed)
    if levels is None:
        image = torch.rand(shape, generator=g, dtype=dtype)
    else:
        image = torch.randint(0, levels, shape, generator=g).to(dtype) / (levels - 1)
    if grey:
        image = image[:, :1].expand(shape).contiguous()
    alpha = torch.rand((shape[0], 1, *shape[2:]), generator=g, dtype=dtype)
    return image, alpha


CASES = [
    dict(levels=None),  # continuous: no ties
    dict(levels=2),  # binary colours: massive ties, and ties with the zero padding (black)
    dict(levels=3, grey=True),
    dict(levels=5),
]


@pytest.mark.parametrize("kernel_size", [3, 5, 11])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_ddc_equals_listing1(kernel_size, case):
    image, alpha = make_inputs(100 + case, **CASES[case])
    ref = listing1_ddc_loss(image, alpha, kernel_size)
    assert abs(LF.ddc_loss(image, alpha, kernel_size).item() - ref.item()) < 1e-6
    assert abs(LF.ddc_loss(image, alpha, kernel_size, chunk_rows=4).item() - ref.item()) < 1e-6
    # eq. 9 as printed sums over the K neighbours: K times the Listing's mean
    assert LF.ddc_loss(image, alpha, kernel_size, "sum").item() == pytest.approx(kernel_size * ref.item(), rel=1e-5)


def test_ddc_ties_flat_regions_and_gradients_equal_listing1():
    # a picture of flat patches: every window has many exactly equal distances
    image = torch.zeros(2, 3, 12, 12)
    image[:, 0, :6] = 1.0
    image[:, 1, :, 4:9] = 0.5
    image[1, 2] = 0.25
    for seed in range(3):
        alpha = torch.rand(2, 1, 12, 12, generator=torch.Generator().manual_seed(seed)).requires_grad_(True)
        img = image.clone().requires_grad_(True)
        ref = listing1_ddc_loss(img, alpha, 5)
        ref_grads = torch.autograd.grad(ref, (img, alpha))
        ours = LF.ddc_loss(img, alpha, 5, chunk_rows=5)
        grads = torch.autograd.grad(ours, (img, alpha))
        assert abs(ours.item() - ref.item()) < 1e-6
        for g, r in zip(grads, ref_grads):
            assert torch.allclose(g, r, atol=1e-6)


def test_ddc_hand_value_single_pixel():
    # 1x1 grey pixel, K = 3: the centre (distance 0, alpha difference 0) and two zero-padded neighbours at
    # distance ||(0.5, 0.5, 0.5)|| = sqrt(0.75) whose alpha is 0: |sqrt(.75) - (0.2 - 0)| twice, over 3 pairs
    image, alpha = torch.full((1, 3, 1, 1), 0.5), torch.full((1, 1, 1, 1), 0.2)
    expected = 2 * (math.sqrt(0.75) - 0.2) / 3
    assert LF.ddc_loss(image, alpha, 3).item() == pytest.approx(expected, rel=1e-6)
    assert listing1_ddc_loss(image, alpha, 3).item() == pytest.approx(expected, rel=1e-6)
    # DC: | |0.2| - sqrt(.75) | the same; affinity: A = 1 - sqrt(.75)/sqrt(3) = 0.5 for the padded pair
    assert LF.dc_loss(image, alpha, 3).item() == pytest.approx(expected, rel=1e-6)
    assert LF.affinity_loss(image, alpha, 3).item() == pytest.approx(abs((1 * 0.2 + 2 * 0.5 * 0) / 2 - 0.2), rel=1e-6)


def test_ddc_sign_is_directional():
    # colours in [0.6, 1]: the black zero padding (distance >= 0.6 sqrt 3) is never among the K = 3 nearest,
    # so DC, which ignores the sign of alpha_i - alpha_j, cannot tell alpha from 1 - alpha; DDC can
    image, alpha = make_inputs(500, shape=(1, 3, 7, 7))
    image = 0.6 + 0.4 * image
    assert LF.dc_loss(image, alpha, 3).item() == pytest.approx(LF.dc_loss(image, 1 - alpha, 3).item(), abs=1e-6)
    assert abs(LF.ddc_loss(image, alpha, 3).item() - LF.ddc_loss(image, 1 - alpha, 3).item()) > 1e-3


@pytest.mark.parametrize("case", range(len(CASES)))
def test_dc_and_affinity_match_unfold_references(case):
    image, alpha = make_inputs(200 + case, **CASES[case])
    for k in (3, 5):
        assert abs(LF.dc_loss(image, alpha, k).item() - reference_dc(image, alpha, k).item()) < 1e-6
        assert abs(LF.dc_loss(image, alpha, k, chunk_rows=3).item() - reference_dc(image, alpha, k).item()) < 1e-6
        assert abs(LF.affinity_loss(image, alpha, k).item() - reference_affinity(image, alpha, k).item()) < 1e-6
        assert (
            abs(LF.affinity_loss(image, alpha, k, chunk_rows=6).item() - reference_affinity(image, alpha, k).item())
            < 1e-6
        )


def test_neighbour_distances_shapes_and_centre():
    image, alpha = make_inputs(300)
    d, da, aj = LF.neighbour_distances(image, alpha, 5)
    assert d.shape == da.shape == aj.shape == (2, 5, 13, 11)
    assert (d[:, 0] == 0).all() and (da[:, 0] == 0).all()  # the pixel itself is nearest, at distance 0
    assert (d[:, 1:] >= d[:, :-1]).all()  # ascending
    with pytest.raises(ValueError, match="odd"):
        LF.ddc_loss(image, alpha, 4)
    with pytest.raises(ValueError, match="neighbour_reduction"):
        LF.ddc_loss(image, alpha, 3, "max")


def test_gradcheck_windowed_losses():
    # continuous random colours: the top-K selection does not change under the finite-difference step
    image, alpha = make_inputs(400, shape=(1, 3, 6, 6), dtype=torch.float64)
    alpha.requires_grad_(True)
    assert gradcheck(lambda a: LF.ddc_loss(image, a, 3), (alpha,), eps=1e-6, atol=1e-5)
    assert gradcheck(lambda a: LF.dc_loss(image, a, 3, chunk_rows=2), (alpha,), eps=1e-6, atol=1e-5)
    assert gradcheck(lambda a: LF.affinity_loss(image, a, 3), (alpha,), eps=1e-6, atol=1e-5)
    # through the image too (the Listing's image_dist is differentiable), on a smaller input
    image, alpha = make_inputs(401, shape=(1, 3, 4, 4), dtype=torch.float64)
    image.requires_grad_(True)
    alpha.requires_grad_(True)
    assert gradcheck(lambda i, a: LF.ddc_loss(i, a, 3), (image, alpha), eps=1e-6, atol=1e-5)
    assert gradcheck(lambda i, a: LF.affinity_loss(i, a, 3), (image, alpha), eps=1e-6, atol=1e-5)
