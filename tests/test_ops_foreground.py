"""Tests for automatte.ops.foreground: both estimators recover F on a synthetic composite with known F, B, alpha."""

from __future__ import annotations

import doctest

import cv2
import numpy as np
import pytest

import automatte.ops
from automatte.ops import composite, estimate_foreground, estimate_foreground_blur_fusion
from automatte.ops.foreground import _blur_fusion_pass, _resize_nearest, estimate_foreground_ml


def _synthetic(h: int = 64, w: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smooth, distinct F and B; a soft disc whose outer ring is cut into semi-transparent strands."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = xx / (w - 1), yy / (h - 1)
    fg = np.stack([0.85 - 0.3 * u, 0.25 + 0.4 * v, 0.15 + 0.3 * u * v], -1).astype(np.float32)
    bg = np.stack([0.1 + 0.3 * v, 0.5 + 0.3 * np.sin(6.0 * u), 0.9 - 0.5 * u], -1).astype(np.float32)
    d = np.hypot(xx - w / 2, yy - h / 2)
    size = min(h, w)
    alpha = np.clip((0.3 * size - d) / (0.12 * size) + 0.5, 0.0, 1.0)
    alpha = np.where(d > 0.25 * size, alpha * (0.5 + 0.5 * np.sin(1.3 * xx)), alpha).astype(np.float32)
    return composite(alpha, fg, bg), fg, alpha


IMAGE, FG, ALPHA = _synthetic()
REGION = ALPHA > 0.05


def _error(estimate: np.ndarray) -> float:
    return float(np.abs(estimate - FG)[REGION].mean())


@pytest.mark.parametrize("method, margin", [("blur_fusion", 3.0), ("ml", 10.0), ("ml_band", 10.0)])
def test_recovers_foreground_much_better_than_the_image(method, margin):
    estimate = estimate_foreground(IMAGE, ALPHA, method=method)
    assert estimate.shape == IMAGE.shape and estimate.dtype == np.float32
    assert estimate.min() >= 0.0 and estimate.max() <= 1.0
    baseline = _error(IMAGE)  # about 0.11 (28 levels of 255)
    assert _error(estimate) * margin < baseline, (method, _error(estimate), baseline)


def test_blur_fusion_is_exact_on_opaque_pixels_and_constant_layers():
    image = np.empty((32, 32, 3), np.float32)
    image[:] = (0.2, 0.6, 0.4)
    alpha = np.ones((32, 32), np.float32)
    np.testing.assert_allclose(estimate_foreground_blur_fusion(image, alpha), image, atol=1e-5)


def test_blur_fusion_pass_has_the_true_layers_as_fixed_point():
    # constant F over constant B: starting from the true layers, the local means are the layers themselves and
    # the correction term I - aF - (1 - a)B vanishes, so one pass returns F exactly.
    fg, bg = np.array([0.9, 0.2, 0.1], np.float32), np.array([0.1, 0.3, 0.8], np.float32)
    alpha = np.tile(np.linspace(0.0, 1.0, 32, dtype=np.float32), (32, 1))
    f_full, b_full = np.broadcast_to(fg, (32, 32, 3)), np.broadcast_to(bg, (32, 32, 3))
    image = composite(alpha, f_full, b_full)
    f_est, b_est = _blur_fusion_pass(image, f_full, b_full, alpha, 9)
    np.testing.assert_allclose(f_est[:, 1:], f_full[:, 1:], atol=5e-4)  # eps of the divisions
    np.testing.assert_allclose(b_est[:, :-1], b_full[:, :-1], atol=5e-4)


def _thin_band(h: int = 128, w: int = 160, constant: bool = False):
    """A disc with a 3-px soft edge (a few % of the pixels soft, as matting alphas are) over a busy background."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = xx / (w - 1), yy / (h - 1)
    if constant:
        fg, bg = np.full((h, w, 3), (0.9, 0.3, 0.2), np.float32), np.full((h, w, 3), (0.1, 0.4, 0.8), np.float32)
    else:
        fg = np.stack([0.85 - 0.3 * u, 0.25 + 0.4 * v, 0.15 + 0.3 * u * v], -1).astype(np.float32)
        bg = np.stack([0.5 + 0.4 * np.sin(9 * u), 0.5 + 0.4 * np.cos(7 * v), 0.9 - 0.5 * u], -1).astype(np.float32)
    alpha = np.clip((0.3 * h - np.hypot(xx - w / 2, yy - h / 2)) / 3.0 + 0.5, 0.0, 1.0).astype(np.float32)
    return composite(alpha, fg, bg), fg, alpha


def test_ml_band_gives_ml_composites_on_a_thin_band():
    image, _, alpha = _thin_band()
    soft = (alpha > 0) & (alpha < 1)
    assert soft.mean() < 0.1
    full = estimate_foreground(image, alpha, method="ml")
    band = estimate_foreground(image, alpha, method="ml-band")
    assert float((alpha[..., None] * np.abs(band - full)).max()) < 1.0 / 255
    far = (alpha >= 1) & (cv2.dilate(soft.astype(np.uint8), np.ones((9, 9), np.uint8)) == 0)
    np.testing.assert_array_equal(band[far], image[far])  # F = I where alpha = 1, away from the band
    # with no reach the sweeps miss the soft pixels' neighbours: a different (worse) answer, so the option counts
    narrow = estimate_foreground(image, alpha, method="ml_band", band_reach=0)
    assert float((alpha[..., None] * np.abs(narrow - full)).max()) > 1.0 / 255


def test_ml_band_is_exact_on_a_constant_colour_composite():
    image, fg, alpha = _thin_band(constant=True)
    estimate = estimate_foreground_ml(image, alpha, band_reach=2)
    np.testing.assert_allclose(estimate[alpha > 0.01], fg[alpha > 0.01], atol=1e-5)


def test_resize_nearest_with_pad_is_resize_then_edge_pad():
    x = np.random.default_rng(0).random((7, 11, 3)).astype(np.float32)
    for h, w in ((7, 11), (13, 20), (3, 4)):
        expected = np.pad(_resize_nearest(x, h, w), ((1, 1), (1, 1), (0, 0)), mode="edge")
        np.testing.assert_array_equal(_resize_nearest(x, h, w, pad=1), expected)


def test_ml_accepts_its_options():
    estimate = estimate_foreground(IMAGE, ALPHA, method="ml", n_big_iterations=1, regularization=1e-4)
    assert _error(estimate) * 5 < _error(IMAGE)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "closed_form"}, "method must be one of"),
        ({"method": "ml", "blur_sizes": (90, 6)}, "unknown option"),
        ({"method": "blur_fusion", "blur_sizes": ()}, "blur_sizes"),
        ({"method": "blur_fusion", "blur_sizes": (0,)}, "blur_sizes"),
    ],
)
def test_user_errors_are_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        estimate_foreground(IMAGE, ALPHA, **kwargs)


def test_shape_and_range_errors():
    with pytest.raises(ValueError, match="must match"):
        estimate_foreground(IMAGE, ALPHA[:32], method="blur_fusion")
    with pytest.raises(ValueError, match="dtype"):
        estimate_foreground((IMAGE * 255).astype(np.uint8), ALPHA, method="blur_fusion")


@pytest.mark.parametrize("module", ["trimap", "semantics", "coarse", "foreground", "composition"])
def test_docstring_examples_run(module):
    mod = getattr(automatte.ops, module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (3, 50), (33, 17)])
def test_ml_odd_shapes(shape):
    image = np.full((*shape, 3), 0.4, np.float32)
    alpha = np.linspace(0, 1, shape[0] * shape[1], dtype=np.float32).reshape(shape)
    estimate = estimate_foreground(image, alpha, method="ml")
    assert estimate.shape == image.shape and np.isfinite(estimate).all()


@pytest.mark.slow  # compiles pymatting's foreground kernels (numba) without a cache
def test_ml_agrees_with_pymatting():
    from pymatting import estimate_foreground_ml as pymatting_ml

    ours = estimate_foreground(IMAGE, ALPHA, method="ml")
    ref = pymatting_ml(IMAGE, ALPHA)
    # Red-black vs lexicographic Gauss-Seidel: measured 0.08 levels of 255 on average here, 0.7 on a 0.5 MP composite.
    assert float(np.abs(ours - ref)[REGION].mean()) * 255 < 1.5
    assert _error(ours) <= _error(ref) * 1.1  # 0.00425 vs 0.00422 here
