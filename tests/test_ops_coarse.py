"""Tests for automatte.ops.coarse: SPAMattNet/TGN coarse-segmentation synthesis and the TGN input."""

from __future__ import annotations

import numpy as np
import pytest

from automatte.ops import (
    synthesize_coarse_mask,
    test_coarse_mask,
    tgn_input,
    trimap_from_alpha,
    two_channel_segmentation,
)


def _disc(size: int = 256, radius: float = 70.0, ramp: float = 6.0) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    d = np.hypot(xx - size / 2, yy - size / 2)
    return np.clip((radius - d) / ramp + 0.5, 0.0, 1.0).astype(np.float32)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_synthesize_is_deterministic_soft_and_in_range():
    alpha = _disc(128, 35)
    s = synthesize_coarse_mask(alpha, 7)
    np.testing.assert_array_equal(s, synthesize_coarse_mask(alpha, np.random.default_rng(7)))
    assert s.shape == alpha.shape and s.dtype == np.float32
    assert s.min() >= 0.0 and s.max() <= 1.0
    assert ((s > 0.01) & (s < 0.99)).any()  # the blur makes it soft
    assert not np.array_equal(s, synthesize_coarse_mask(alpha, 8))


def test_synthesize_mostly_covers_the_foreground():
    alpha = _disc()
    fg = alpha > 0.5
    ious = [_iou(synthesize_coarse_mask(alpha, seed) >= 0.5, fg) for seed in range(24)]
    # k up to 59 can shrink the radius-70 disc by 29 px or grow it by 43 px: individual masks are coarse,
    # but on average they overlap the foreground well.
    assert np.mean(ious) > 0.55
    assert min(ious) > 0.3


def test_synthesize_without_blur_and_fixed_kernels_is_exact():
    alpha = _disc(128, 35, ramp=1e-3)
    s = synthesize_coarse_mask(alpha, 0, trimap_k_range=(1, 1), morph_k_range=(1, 1), blur_sigma_range=(0, 0))
    np.testing.assert_array_equal(s, (alpha > 0).astype(np.float32))


def test_test_coarse_mask_shrinks_with_erosion():
    alpha = _disc()
    initial = trimap_from_alpha(alpha, 15) > 0
    areas = [int((test_coarse_mask(alpha, erosion=e) >= 0.5).sum()) for e in (20, 30, 40, 50)]
    assert areas[0] < initial.sum()
    assert areas == sorted(areas, reverse=True) and len(set(areas)) == 4
    assert areas[1] < (alpha > 0.5).sum()  # from 30 on, smaller than the object itself
    m = test_coarse_mask(alpha, 20)
    assert m.dtype == np.float32 and 0.0 <= m.min() and m.max() <= 1.0
    np.testing.assert_array_equal(m, test_coarse_mask(alpha, 20))


def test_test_coarse_mask_is_not_collected_as_a_test():
    assert test_coarse_mask.__test__ is False


def test_two_channel_segmentation_and_tgn_input():
    s = np.array([[0.0, 0.25], [0.5, 1.0]], np.float32)
    two = two_channel_segmentation(s)
    assert two.shape == (2, 2, 2) and two.dtype == np.float32
    np.testing.assert_allclose(two[..., 1], s)
    np.testing.assert_allclose(two.sum(-1), 1.0)
    image = np.full((2, 2, 3), 0.3, np.float32)
    x = tgn_input(image, s)
    assert x.shape == (2, 2, 5)
    np.testing.assert_allclose(x[..., :3], image)
    np.testing.assert_allclose(x[..., 3:], two)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: synthesize_coarse_mask(np.zeros((8, 8)), rng="seed"), "rng"),
        (lambda: synthesize_coarse_mask(np.zeros((8, 8)), 0, morph_k_range=(0, 5)), "morph_k_range"),
        (lambda: synthesize_coarse_mask(np.zeros((8, 8)), 0, blur_sigma_range=(3, 1)), "blur_sigma_range"),
        (lambda: test_coarse_mask(np.zeros((8, 8)), erosion=0), "erosion"),
        (lambda: test_coarse_mask(np.zeros((8, 8)), blur_sigma=-1), "blur_sigma"),
        (lambda: tgn_input(np.zeros((4, 4, 3)), np.zeros((5, 5))), "coarse_mask"),
    ],
)
def test_user_errors_are_value_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_clean_segmentation_drops_islands_fills_enclosed_holes_only():
    from automatte.ops.coarse import clean_segmentation

    p = np.zeros((100, 100), np.float32)
    p[10:60, 10:60] = 0.8  # the object
    p[30:34, 30:34] = 0.1  # a small enclosed hole (16 px)
    p[20:40, 40:45] = 0.2  # a larger enclosed hole (100 px)
    p[80:84, 80:84] = 0.7  # a small island (16 of 2500 px)
    p[70:100, 0:30] = 0.9  # a second object (900 px), kept
    p[0:3, 70:80] = 0.3  # background touching the border, never a hole
    q = clean_segmentation(p, islands=0.1, holes=0.005)  # holes under 50 px
    assert (q[30:34, 30:34] == 1).all() and (q[20:40, 40:45] == 0.2).all()  # only the small hole is filled
    assert (q[80:84, 80:84] == 0).all() and (q[70:100, 0:30] == 0.9).all()
    assert (q[0:3, 70:80] == 0.3).all() and (q[10:30, 10:30] == 0.8).all()  # the rest untouched
    np.testing.assert_array_equal(clean_segmentation(p), p)  # both off: unchanged
    assert p[30, 30] == np.float32(0.1)  # the input is not modified
    q2 = clean_segmentation(p, islands=0.5)  # 900 / 2500 < 0.5: the second object goes too
    assert (q2[70:100, 0:30] == 0).all()
    with pytest.raises(ValueError, match="islands and holes"):
        clean_segmentation(p, holes=1.5)
