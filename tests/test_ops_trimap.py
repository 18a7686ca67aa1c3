"""Tests for automatte.ops.trimap: band widths on hand-made squares, seeded randomness, encodings."""

from __future__ import annotations

import numpy as np
import pytest

from automatte.ops import (
    classes_to_trimap,
    quantize_trimap,
    random_trimap_from_alpha,
    random_trimap_from_mask,
    sample_kernel_size,
    trimap_from_alpha,
    trimap_from_mask,
    trimap_from_uint8,
    trimap_to_classes,
    trimap_to_uint8,
)


def _square(size: int = 64, lo: int = 16, hi: int = 48) -> np.ndarray:
    a = np.zeros((size, size), np.float32)
    a[lo:hi, lo:hi] = 1.0
    return a


def _unknown_band(trimap: np.ndarray, row: int) -> list[int]:
    return np.flatnonzero(trimap[row] == 0.5).tolist()


@pytest.mark.parametrize("k", [3, 7, 15])
def test_trimap_from_alpha_band_is_r_inside_and_r_outside_for_odd_kernel(k):
    r = k // 2
    t = trimap_from_alpha(_square(), kernel_size=k)
    # the middle row crosses the left edge at column 16 and the right one after column 47
    expected = list(range(16 - r, 16 + r)) + list(range(48 - r, 48 + r))
    assert _unknown_band(t, 32) == expected
    assert t[32, 16 + r] == 1.0 and t[32, 16 - r - 1] == 0.0
    assert t.dtype == np.float32 and set(np.unique(t)) <= {0.0, 0.5, 1.0}


def test_trimap_from_alpha_kernel_1_has_no_band_on_hard_edges_but_keeps_soft_pixels():
    a = _square()
    assert not (trimap_from_alpha(a, kernel_size=1) == 0.5).any()
    a[0, 0] = 0.3
    t = trimap_from_alpha(a, kernel_size=1)
    assert t[0, 0] == 0.5 and (t == 0.5).sum() == 1


def test_trimap_from_alpha_keeps_legacy_signature():
    a = _square()
    np.testing.assert_array_equal(trimap_from_alpha(a, 7, 2), trimap_from_alpha(a, kernel_size=7, iterations=2))
    # two iterations of a 7x7 ellipse move a straight edge by 2 * 3 pixels
    assert len(_unknown_band(trimap_from_alpha(a, 7, 2), 32)) == 2 * 12


def test_trimap_from_mask_band_and_equivalence_with_alpha():
    m = _square() > 0.5
    t = trimap_from_mask(m, kernel_size=9)
    assert _unknown_band(t, 32) == list(range(12, 20)) + list(range(44, 52))
    np.testing.assert_array_equal(t, trimap_from_alpha(m.astype(np.float32), kernel_size=9))
    # float, integer and bool masks agree
    np.testing.assert_array_equal(t, trimap_from_mask(m.astype(np.uint8) * 255, kernel_size=9))
    np.testing.assert_array_equal(t, trimap_from_mask(m.astype(np.float32), kernel_size=9))


def test_trimap_from_soft_mask_thresholds_at_half():
    soft = _square() * 0.6  # 0.6 >= 0.5: foreground
    np.testing.assert_array_equal(trimap_from_mask(soft, 5), trimap_from_mask(_square() > 0, 5))
    assert not trimap_from_mask(_square() * 0.4, 5).any()  # 0.4 < 0.5: all background
    assert (trimap_from_mask(_square() * 0.4, 5, threshold=0.3) == 1.0).any()


def test_sample_kernel_size_is_inclusive_and_seeded():
    rng = np.random.default_rng(0)
    ks = [sample_kernel_size(rng, (1, 3)) for _ in range(300)]
    assert set(ks) == {1, 2, 3}
    assert sample_kernel_size(5, (1, 30)) == sample_kernel_size(np.random.default_rng(5), (1, 30))
    assert sample_kernel_size(0, (7, 7)) == 7


@pytest.mark.parametrize("fn", [random_trimap_from_alpha, random_trimap_from_mask])
def test_random_trimaps_are_deterministic_and_within_range(fn):
    a = _square()
    np.testing.assert_array_equal(fn(a, 123), fn(a, np.random.default_rng(123)))
    widths = set()
    for seed in range(40):
        t = fn(a, seed, k_range=(3, 11))
        w = len(_unknown_band(t, 32)) // 2  # 2r for odd k, 2r or 2r - 1 for even k
        assert 2 <= w <= 10
        widths.add(w)
    assert len(widths) > 3  # the kernel really varies


def test_random_trimap_from_alpha_independent_sizes():
    t = random_trimap_from_alpha(_square(), rng=1, k_range=(1, 30), independent=True)
    band = _unknown_band(t, 32)
    inside = sum(1 for c in band if 16 <= c < 48)
    outside = len(band) - inside
    assert inside != outside  # seed 1 draws different fg / bg kernels
    np.testing.assert_array_equal(t, random_trimap_from_alpha(_square(), 1, (1, 30), independent=True))


def test_quantize_and_encodings_round_trip():
    t = np.array([[0.0, 0.2, 0.34, 0.5, 0.66, 0.7, 1.0]], np.float32)
    assert quantize_trimap(t).tolist() == [[0.0, 0.0, 0.5, 0.5, 0.5, 1.0, 1.0]]
    assert quantize_trimap(np.array([0, 84, 85, 127, 128, 169, 170, 255], np.uint8)).tolist() == [
        0.0,
        0.0,
        0.5,
        0.5,
        0.5,
        0.5,
        1.0,
        1.0,
    ]
    exact = np.array([[0.0, 0.5, 1.0]], np.float32)
    assert trimap_to_uint8(exact).tolist() == [[0, 128, 255]] and trimap_to_uint8(exact).dtype == np.uint8
    np.testing.assert_array_equal(trimap_from_uint8(trimap_to_uint8(exact)), exact)
    classes = trimap_to_classes(exact)
    assert classes.tolist() == [[0, 1, 2]] and classes.dtype == np.int64
    np.testing.assert_array_equal(classes_to_trimap(classes), exact)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: trimap_from_alpha(np.zeros((4, 4, 3))), "shape"),
        (lambda: trimap_from_alpha(np.full((4, 4), 2.0)), "in \\[0, 1\\]"),
        (lambda: trimap_from_alpha(np.zeros((4, 4), np.uint8)), "dtype"),
        (lambda: trimap_from_alpha(np.zeros((4, 4)), kernel_size=0), "kernel_size"),
        (lambda: random_trimap_from_alpha(np.zeros((4, 4)), rng=None), "rng"),
        (lambda: random_trimap_from_alpha(np.zeros((4, 4)), 0, k_range=(5, 2)), "low <= high"),
        (lambda: random_trimap_from_mask(np.zeros((4, 4)), 0, k_range=(0, 2)), "k_range"),
        (lambda: trimap_from_mask(np.zeros((4, 4)), threshold=0.0), "threshold"),
        (lambda: quantize_trimap(np.array([0, 300])), "\\[0, 255\\]"),
        (lambda: trimap_from_uint8(np.array([0.5])), "integer"),
        (lambda: classes_to_trimap(np.array([0, 3])), "\\{0, 1, 2\\}"),
    ],
)
def test_user_errors_are_value_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
