"""SAD, MSE, MAD, Grad and Conn against hand-computed arrays, under the "dim" and "aim" protocols."""

from __future__ import annotations

import math
import warnings
from collections import deque

import numpy as np
import pytest

from automatte.metrics import (
    AIM_THRESHOLDS,
    DIM_THRESHOLDS,
    EmptyRegionWarning,
    compute_all,
    conn,
    gaussian_gradient_kernel,
    grad,
    mad,
    mse,
    sad,
)

# A 4x5 example. |pred - gt| is 0.25 at (0,2), (1,0), (2,1) and 0.5 at (2,4), 0 elsewhere.
GT = np.array(
    [
        [0.0, 0.0, 0.5, 1.0, 1.0],
        [0.0, 0.5, 1.0, 1.0, 1.0],
        [0.0, 0.5, 1.0, 1.0, 1.0],
        [0.0, 0.0, 0.5, 1.0, 1.0],
    ]
)
PRED = np.array(
    [
        [0.0, 0.0, 0.25, 1.0, 1.0],
        [0.25, 0.5, 1.0, 1.0, 1.0],
        [0.0, 0.75, 1.0, 1.0, 0.5],
        [0.0, 0.0, 0.5, 1.0, 1.0],
    ]
)
# bg: (0,0) (0,1) (1,0) (2,0) (3,0) (3,1) = 6 px; unknown: (0,2) (1,1) (1,2) (2,1) (2,2) (3,2) = 6 px;
# fg: columns 3 and 4 = 8 px.
TRIMAP = np.array(
    [
        [0, 0, 128, 255, 255],
        [0, 128, 128, 255, 255],
        [0, 128, 128, 255, 255],
        [0, 0, 128, 255, 255],
    ],
    dtype=np.uint8,
)

# region: (sum |e|, sum e^2, pixels)
#   whole:   0.25 * 3 + 0.5 = 1.25;  0.0625 * 3 + 0.25 = 0.4375;  20
#   unknown: (0,2) + (2,1) = 0.5;    0.125;                        6
#   fg:      (2,4) = 0.5;            0.25;                         8
#   bg:      (1,0) = 0.25;           0.0625;                       6
HAND = {"whole": (1.25, 0.4375, 20), "unknown": (0.5, 0.125, 6), "fg": (0.5, 0.25, 8), "bg": (0.25, 0.0625, 6)}


@pytest.mark.parametrize("region", ["whole", "unknown", "fg", "bg"])
@pytest.mark.parametrize("protocol", ["dim", "aim"])
def test_sad_mse_mad_per_region(region, protocol):
    abs_sum, sq_sum, n = HAND[region]
    # This gt agrees with the trimap (1 on fg, 0 on bg), so aim's forcing of pred changes nothing in the
    # unknown case: the forced pixels (1,0) and (2,4) become exact, the whole-image sum is the unknown sum.
    assert sad(PRED, GT, TRIMAP, region=region, protocol=protocol) == pytest.approx(abs_sum / 1000, rel=1e-12)
    assert mse(PRED, GT, TRIMAP, region=region, protocol=protocol) == pytest.approx(sq_sum / n, rel=1e-12)
    assert mad(PRED, GT, TRIMAP, region=region, protocol=protocol) == pytest.approx(abs_sum / n, rel=1e-12)


def test_float_trimap_uint8_alpha_and_bool_mask_agree():
    float_trimap = np.where(TRIMAP == 128, 0.5, TRIMAP / 255.0)
    assert sad(PRED, GT, float_trimap, region="unknown") == sad(PRED, GT, TRIMAP, region="unknown")
    assert sad(PRED, GT, TRIMAP / 255.0, region="unknown") == sad(PRED, GT, TRIMAP, region="unknown")  # 128/255
    # uint8 alphas are divided by 255: an error of 51/255 = 0.2 on one pixel
    a, b = np.zeros((3, 3), np.uint8), np.zeros((3, 3), np.uint8)
    a[1, 1] = 51
    assert sad(a, b) == pytest.approx(0.2 / 1000, rel=1e-12)
    assert mse(a, b) == pytest.approx(0.04 / 9, rel=1e-12)
    # a bool mask: the top row holds one error of 0.25 over 5 pixels
    top = np.zeros(GT.shape, bool)
    top[0] = True
    assert sad(PRED, GT, region=top) == pytest.approx(0.25 / 1000, rel=1e-12)
    assert mad(PRED, GT, region=top) == pytest.approx(0.25 / 5, rel=1e-12)


def test_aim_unknown_forces_pred_by_the_trimap():
    # gt disagrees with the trimap at (0,3): trimap says fg, gt is 0.75, and pred = gt there.
    gt, pred = GT.copy(), PRED.copy()
    gt[0, 3] = pred[0, 3] = 0.75
    # dim sums |pred - gt| over the unknown pixels only: 0.5 as before.
    assert sad(pred, gt, TRIMAP, region="unknown", protocol="dim") == pytest.approx(0.5 / 1000, rel=1e-12)
    # aim forces pred to 1 on fg (error 0.25 at (0,3)) and 0 on bg, then sums over the whole image:
    # 0.5 + 0.25 = 0.75; MSE = (0.125 + 0.0625) / 6 unknown pixels; MAD = 0.75 / 6.
    assert sad(pred, gt, TRIMAP, region="unknown", protocol="aim") == pytest.approx(0.75 / 1000, rel=1e-12)
    assert mse(pred, gt, TRIMAP, region="unknown", protocol="aim") == pytest.approx(0.1875 / 6, rel=1e-12)
    assert mad(pred, gt, TRIMAP, region="unknown", protocol="aim") == pytest.approx(0.75 / 6, rel=1e-12)
    # aim's fg SAD does not force: |0.75 - 0.75| + |0.5 - 1| = 0.5
    assert sad(pred, gt, TRIMAP, region="fg", protocol="aim") == pytest.approx(0.5 / 1000, rel=1e-12)


# ------------------------------------------------------------------------------------------------ Grad
def _explicit_kernel(sigma=1.4):
    half = math.ceil(sigma * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * sigma * 0.01)))
    size = 2 * half + 1

    def gauss(x):
        return math.exp(-(x**2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))

    k = [[gauss(i - half) * (-(j - half) * gauss(j - half) / sigma**2) for j in range(size)] for i in range(size)]
    norm = math.sqrt(sum(v * v for row in k for v in row))
    return [[v / norm for v in row] for row in k]


def _explicit_dim_grad_map(alpha):
    """Min-max normalise, correlate with the 9x9 kernels with replicated borders, per pixel in loops."""
    lo, hi = alpha.min(), alpha.max()
    a = (alpha - lo) / (hi - lo) if hi > lo else np.clip(alpha, 0, 1)
    k = _explicit_kernel()
    half = len(k) // 2
    h, w = a.shape
    mag = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            gx = gy = 0.0
            for i in range(-half, half + 1):
                for j in range(-half, half + 1):
                    v = a[min(max(y + i, 0), h - 1), min(max(x + j, 0), w - 1)]
                    gx += k[i + half][j + half] * v
                    gy += k[j + half][i + half] * v  # the y kernel is the transpose
            mag[y, x] = math.hypot(gx, gy)
    return mag


def test_gradient_kernel_values():
    k = gaussian_gradient_kernel()
    assert k.shape == (9, 9)  # halfsize = ceil(1.4 * sqrt(-2 ln(sqrt(2 pi) * 1.4 * 0.01))) = ceil(3.77) = 4
    assert float((k**2).sum()) == pytest.approx(1.0, abs=1e-14)
    np.testing.assert_array_equal(k, -k[:, ::-1])  # odd in x
    np.testing.assert_array_equal(k, k[::-1, :])  # even in y
    np.testing.assert_array_equal(k[:, 4], 0.0)
    np.testing.assert_allclose(k, np.array(_explicit_kernel()), rtol=1e-13, atol=1e-16)
    # the positive lobe is left of centre (dgauss(x) = -x gauss(x) / s^2), peaking at x = -1 on row 0
    assert k[4, 3] == k.max() > 0


def test_grad_dim_matches_explicit_loop_correlation():
    rng = np.random.default_rng(3)
    gt = rng.random((7, 11))
    pred = np.clip(gt + rng.normal(0, 0.2, gt.shape), 0, 1)
    error = (_explicit_dim_grad_map(pred) - _explicit_dim_grad_map(gt)) ** 2
    assert grad(pred, gt) == pytest.approx(error.sum() / 1000, rel=1e-12)
    trimap = np.zeros(gt.shape)
    trimap[2:5, 3:9] = 0.5
    assert grad(pred, gt, trimap, region="unknown") == pytest.approx(error[2:5, 3:9].sum() / 1000, rel=1e-12)


def test_grad_dim_min_max_normalises_each_alpha():
    gt = np.zeros((6, 6))
    gt[:, 3:] = 1.0
    # a scaled copy has the same normalised image, so no gradient error; a constant image has no gradient
    assert grad(gt * 0.5 + 0.25, gt) == 0.0
    flat = np.full(gt.shape, 0.3)
    assert grad(flat, gt) == pytest.approx((_explicit_dim_grad_map(gt) ** 2).sum() / 1000, rel=1e-12)


def _reflect_correlate(a, weights, axis):
    """scipy 'reflect' (d c b a | a b c d | d c b a) correlation along ``axis``, in loops."""
    r = len(weights) // 2
    out = np.zeros_like(a)
    n = a.shape[axis]
    for idx in np.ndindex(a.shape):
        total = 0.0
        for k, wk in enumerate(weights):
            j = idx[axis] + k - r
            while j < 0 or j >= n:
                j = -j - 1 if j < 0 else 2 * n - j - 1
            src = list(idx)
            src[axis] = j
            total += wk * a[tuple(src)]
        out[idx] = total
    return out


def test_grad_aim_is_scipy_gaussian_derivative_sum_over_ten():
    # scipy's sigma 1.4 kernels: radius int(4 * 1.4 + 0.5) = 6, g = exp(-x^2 / 2s^2) / sum, g' = -x g / s^2
    # as a correlation weight (so that order 1 estimates +d/dx); magnitudes only, no min-max.
    x = np.arange(-6, 7, dtype=float)
    g = np.exp(-(x**2) / (2 * 1.4**2))
    g /= g.sum()
    dg = (x / 1.4**2 * g)[::-1]

    def magnitude(a):
        gy = _reflect_correlate(_reflect_correlate(a, dg, 0), g, 1)
        gx = _reflect_correlate(_reflect_correlate(a, g, 0), dg, 1)
        return np.hypot(gx, gy)

    rng = np.random.default_rng(5)
    gt = rng.random((8, 9))
    pred = np.clip(gt + rng.normal(0, 0.2, gt.shape), 0, 1)
    expected = ((magnitude(pred) - magnitude(gt)) ** 2).sum() / 10  # divided by 10, not 1000
    assert grad(pred, gt, protocol="aim") == pytest.approx(expected, rel=1e-5)  # float32 filtering
    # the dim protocol differs: min-max normalisation, replicate borders, a 9x9 kernel, / 1000
    assert grad(pred, gt, protocol="dim") != pytest.approx(expected, rel=1e-2)


# ------------------------------------------------------------------------------------------------ Conn
def test_thresholds():
    # MATLAB 0:0.1:1 builds k*0.1 from the start and 1 - k*0.1 from the end
    assert DIM_THRESHOLDS.tolist() == [0.0, 0.1, 0.2, 0.1 * 3, 0.4, 0.5, 1 - 0.4, 1 - 0.3, 1 - 0.2, 1 - 0.1, 1.0]
    assert DIM_THRESHOLDS[3] == 0.30000000000000004 and DIM_THRESHOLDS[6] == 0.6
    assert AIM_THRESHOLDS[3] == 0.30000000000000004 and AIM_THRESHOLDS[6] == 0.6000000000000001
    assert AIM_THRESHOLDS[7] == 0.7000000000000001
    assert 153 / 255 >= DIM_THRESHOLDS[6] and not 153 / 255 >= AIM_THRESHOLDS[6]


def test_float64_decisions_equal_matlab_single_precision_for_8_bit_alphas():
    # MATLAB holds alpha as single(k) / 255; every alpha >= t and d >= 0.15 decision is the same in float64.
    f32 = np.float32
    for k in range(256):
        a64, a32 = k / 255, f32(k) / f32(255)
        for t in DIM_THRESHOLDS:
            assert (a64 >= t) == (a32 >= f32(t)) == (float(a32) >= t)
        for level in [*DIM_THRESHOLDS, 1.0]:
            assert (a64 - level >= 0.15) == (f32(a32 - f32(level)) >= f32(0.15))


def test_conn_hand_worked():
    gt = np.array([[0.92, 0.92, 0.33], [0.92, 0.57, 0.00], [0.00, 0.00, 0.92]])
    pred = np.array([[0.92, 0.57, 0.33], [0.92, 0.92, 0.00], [0.00, 0.00, 0.18]])
    # min(pred, gt) = [[.92 .57 .33] [.92 .57 0] [0 0 .18]]; omega per threshold:
    #   t=0.1: {(0,0) (0,1) (0,2) (1,0) (1,1)} (the island (2,2) is smaller) -> (1,2) (2,0) (2,1) (2,2): l = 0
    #   t=0.2, 0.3: the same 5; t=0.4, 0.5: {(0,0) (0,1) (1,0) (1,1)} -> (0,2): l = 0.3
    #   t=0.6..0.9: {(0,0) (1,0)} -> (0,1) (1,1): l = 0.5; t=1: empty -> (0,0) (1,0): l = 0.9 (dim)
    # phi = 1 - d [d >= 0.15], d = alpha - l:
    #   gt:   (0,1) 0.92 - 0.5 = 0.42 -> 0.58;  (2,2) 0.92 - 0 -> 0.08;  all others 1
    #   pred: (1,1) 0.92 - 0.5 = 0.42 -> 0.58;  (2,2) 0.18 - 0 -> 0.82;  all others 1
    # sum |phi_pred - phi_gt| = 0.42 + 0.42 + 0.74 = 1.58
    assert conn(pred, gt) == pytest.approx(1.58 / 1000, rel=1e-12)
    # aim: t=1 is skipped, so (0,0) and (1,0) keep l = 1 -> d < 0 -> phi 1, the same sum
    assert conn(pred, gt, protocol="aim") == pytest.approx(1.58 / 1000, rel=1e-6)
    trimap = np.full(gt.shape, 0.5)
    trimap[2, 2] = 1.0  # leave out the island: 0.84
    assert conn(pred, gt, trimap, region="unknown") == pytest.approx(0.84 / 1000, rel=1e-12)


def test_conn_tie_goes_to_the_first_component_in_column_major_order():
    # Two components of 2 pixels at t = 0.1..0.5: A = {(0,1), (0,2)} (first in row-major order) and
    # B = {(2,0), (3,0)} (first in column-major order, which MATLAB's bwconncomp numbers first).
    gt = np.zeros((4, 3))
    gt[0, 1:] = 0.92
    gt[2:, 0] = 0.92
    pred = gt.copy()
    pred[0, 2] = 0.52
    # dim picks B at t = 0.1, so A gets l = 0: phi at (0,2) is 1 - 0.52 = 0.48 (pred) vs 0.08 (gt): 0.40.
    # (B stays omega up to 0.9; at t = 1 the empty intersection gives it l = 0.9, d = 0.02, phi = 1.)
    assert conn(pred, gt) == pytest.approx(0.40 / 1000, rel=1e-12)
    # Transposed, B comes first in row-major order and A in column-major order: A wins the ties up to
    # t = 0.5, shrinks to 1 pixel at t = 0.6 and B wins; A's pixels get l = 0.5: phi at the 0.52 / 0.92
    # pixel is 1 (d = 0.02) vs 1 - 0.42 = 0.58: 0.42.
    assert conn(pred.T, gt.T) == pytest.approx(0.42 / 1000, rel=1e-12)
    # aim breaks ties in row-major order (skimage regionprops): the same path as the transposed case.
    assert conn(pred, gt, protocol="aim") == pytest.approx(0.42 / 1000, rel=1e-6)


def test_conn_153_over_255_passes_0_6_in_dim_only():
    gt = np.array([[153, 153, 153, 250]], np.uint8)
    pred = np.array([[153, 153, 250, 250]], np.uint8)
    # dim: min = [.6 .6 .6 .98] passes t = 0.6 everywhere; at t = 0.7 omega = {3}, so pixels 0..2 get
    # l = 0.6; phi_pred(2) = 1 - (250/255 - 0.6), phi_gt(2) = 1 (d = 0); pixel 3 ends with l = 0.9, phi = 1.
    assert conn(pred, gt) == pytest.approx((250 / 255 - 0.6) / 1000, rel=1e-12)
    # aim: 153/255 < 0.6000000000000001, so pixels 0..2 leave omega one step earlier with l = 0.5.
    assert conn(pred, gt, protocol="aim") == pytest.approx((250 / 255 - 0.5) / 1000, rel=1e-12)


def test_conn_empty_intersection_dim_assigns_aim_skips():
    pred = np.array([[0.95, 0.52, 0.0], [0.52, 0.52, 0.0]])
    gt = np.array([[0.52, 0.95, 0.0], [0.52, 0.52, 0.0]])
    # min = [[.52 .52 0] [.52 .52 0]]: the 2x2 block is omega for t = 0.1..0.5 (column 2 gets l = 0);
    # at t = 0.6 the intersection is empty.
    # dim: the block gets l = 0.5: phi_pred(0,0) = 1 - 0.45, phi_gt(0,1) = 1 - 0.45, others 1 -> 0.9.
    assert conn(pred, gt) == pytest.approx(0.9 / 1000, rel=1e-12)
    # aim: every later threshold is skipped, the block keeps l = -1 and ends at 1: d < 0, phi = 1 -> 0.
    assert conn(pred, gt, protocol="aim") == 0.0


def _bfs_dim_conn(pred, gt):
    """Per-pixel reference: flood fill in column-major scan order, first largest component wins."""
    h, w = pred.shape
    level = [[-1.0] * w for _ in range(h)]
    for i in range(1, 11):
        t = DIM_THRESHOLDS[i]
        seen = [[False] * w for _ in range(h)]
        best: list = []
        for x in range(w):
            for y in range(h):
                if seen[y][x] or not (pred[y, x] >= t and gt[y, x] >= t):
                    continue
                comp, queue = [], deque([(y, x)])
                seen[y][x] = True
                while queue:
                    cy, cx = queue.popleft()
                    comp.append((cy, cx))
                    for ny, nx in ((cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)):
                        if 0 <= ny < h and 0 <= nx < w and not seen[ny][nx] and pred[ny, nx] >= t and gt[ny, nx] >= t:
                            seen[ny][nx] = True
                            queue.append((ny, nx))
                if len(comp) > len(best):
                    best = comp
        omega = set(best)
        for y in range(h):
            for x in range(w):
                if level[y][x] == -1 and (y, x) not in omega:
                    level[y][x] = DIM_THRESHOLDS[i - 1]
    total = 0.0
    for y in range(h):
        for x in range(w):
            lv = 1.0 if level[y][x] == -1 else level[y][x]
            dp, dg = pred[y, x] - lv, gt[y, x] - lv
            total += abs((1 - dp * (dp >= 0.15)) - (1 - dg * (dg >= 0.15)))
    return total / 1000


def test_conn_dim_matches_flood_fill_reference():
    rng = np.random.default_rng(11)
    for _ in range(6):
        gt = np.round(rng.random((9, 12)) ** 0.5 * 4) / 4  # few levels: many equal-size components
        pred = np.round(np.clip(gt + rng.normal(0, 0.3, gt.shape), 0, 1) * 255).astype(np.uint8)
        assert conn(pred, gt) == pytest.approx(_bfs_dim_conn(pred / 255.0, gt), rel=1e-12, abs=1e-15)


# ------------------------------------------------------------------------------------- empty regions
@pytest.mark.parametrize("protocol", ["dim", "aim"])
@pytest.mark.parametrize("metric", [sad, mse, mad, grad, conn])
def test_region_without_pixels_is_zero_with_a_warning(metric, protocol):
    trimap = np.where(GT > 0.5, 255, 0).astype(np.uint8)  # no unknown pixels
    with pytest.warns(EmptyRegionWarning, match="no pixels"):
        assert metric(PRED, GT, trimap, region="unknown", protocol=protocol) == 0.0


def test_compute_all_warns_once_and_returns_all_names():
    trimap = np.full(GT.shape, 255, np.uint8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = compute_all(PRED, GT, trimap, region="bg")
    assert out == {"SAD": 0.0, "MSE": 0.0, "MAD": 0.0, "Grad": 0.0, "Conn": 0.0}
    assert [w.category for w in caught] == [EmptyRegionWarning]
    values = compute_all(PRED, GT, TRIMAP, region="unknown", protocol="aim")
    assert list(values) == ["SAD", "MSE", "MAD", "Grad", "Conn"]
    assert values["SAD"] == sad(PRED, GT, TRIMAP, region="unknown", protocol="aim")
    assert compute_all(PRED, GT, metrics=["sad", "Conn"]) == {"SAD": sad(PRED, GT), "Conn": conn(PRED, GT)}


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"region": "unknown"}, "needs a trimap"),
        ({"region": "fg"}, "needs a trimap"),
        ({"region": "middle"}, "unknown region"),
        ({"region": np.ones((2, 2), bool)}, "bool mask"),
        ({"region": np.ones(GT.shape, int)}, "bool mask"),
        ({"protocol": "matlab"}, "unknown protocol"),
        ({"trimap": np.full(GT.shape, 0.3)}, "outside the expected"),
        ({"trimap": np.zeros((2, 2))}, "trimap has shape"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sad(PRED, GT, **kwargs)


def test_bad_alphas_raise_value_error():
    with pytest.raises(ValueError, match="divide by 255"):
        sad(PRED * 255, GT)
    with pytest.raises(ValueError, match="shape"):
        mse(PRED, GT[:3])
    with pytest.raises(ValueError, match="NaN"):
        mad(np.full(GT.shape, np.nan), GT)
    with pytest.raises(ValueError, match="dtype"):
        conn(PRED.astype(np.int64), GT)
    with pytest.raises(ValueError, match="unknown metric"):
        compute_all(PRED, GT, metrics=["PSNR"])
