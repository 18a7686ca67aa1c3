"""Coarse foreground segmentations for a Trimap Generation Network (SPAMattNet/TGN, Zhou et al., Sec. IV-B1).

Training (:func:`synthesize_coarse_mask`), following the paper's three steps:

1. a random trimap by erosion / dilation of the alpha with k uniform in [1, 29];
2. its unknown and foreground areas form the binary *initial segmentation*;
3. a random erosion *or* dilation (50 / 50) of it with k uniform in [1, 59], then a random Gaussian blur.

The paper leaves the blur to its supplementary material, which we do not have. Our choice: the blur is always
applied, with sigma uniform in [1, 10] pixels (``BLUR_SIGMA_RANGE``), so that the soft edge it makes (about
+-2 sigma) spans roughly the same widths as the morphological kernels of step 3; pass ``blur_sigma_range`` to
change it. All sizes are pixels at the alpha's resolution (the paper crops and resizes to 512x512 afterwards).

Test time (:func:`test_coarse_mask`): the initial segmentation of the 15x15 ground-truth trimap, eroded with a
20x20 kernel (30, 40, 50 in the robustness study, Tables II / VIII) and then Gaussian-blurred; the blur is again
unspecified, our default sigma is 5 px.

TGN input: "the concatenation of an RGB image and a two-channel foreground segmentation" (Sec. III-A). The paper
does not spell the two channels out; we read them as a 2-class segmentation, channel 0 = background probability
1 - S and channel 1 = foreground probability S (:func:`two_channel_segmentation`, :func:`tgn_input`).
The TGN's ground-truth trimap is ``trimap_from_alpha(alpha, TGN_TRIMAP_KERNEL)`` (15x15; 30x30 for P3M).
"""

from __future__ import annotations

import cv2
import numpy as np

from automatte.ops._checks import (
    RngLike,
    as_alpha,
    as_image,
    as_rng,
    check_k_range,
    check_kernel_size,
    dilate,
    erode,
)
from automatte.ops.trimap import _trimap_from_alpha, sample_kernel_size

TRIMAP_K_RANGE = (1, 29)  # SPAMattNet Sec. IV-B1 step 1
MORPH_K_RANGE = (1, 59)  # SPAMattNet Sec. IV-B1 step 3
BLUR_SIGMA_RANGE = (1.0, 10.0)  # our choice (paper: "a random Gaussian Blur")
TEST_BLUR_SIGMA = 5.0  # our choice (paper: "followed by a Gaussian Blur")
TGN_TRIMAP_KERNEL = 15  # SPAMattNet Sec. IV-B1: ground-truth trimap for TGN


def _blur(mask_u8: np.ndarray, sigma: float) -> np.ndarray:
    m = mask_u8.astype(np.float32)
    if sigma > 0:
        m = cv2.GaussianBlur(m, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
    return np.clip(m, 0.0, 1.0)


def _check_sigma_range(sigma_range: tuple[float, float]) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in sigma_range)
    except (TypeError, ValueError):
        raise ValueError(
            f"synthesize_coarse_mask: blur_sigma_range must be a pair (low, high), got {sigma_range!r}"
        ) from None
    if not 0.0 <= lo <= hi:
        raise ValueError(f"synthesize_coarse_mask: blur_sigma_range needs 0 <= low <= high, got {sigma_range!r}")
    return lo, hi


def synthesize_coarse_mask(
    alpha: np.ndarray,
    rng: RngLike,
    trimap_k_range: tuple[int, int] = TRIMAP_K_RANGE,
    morph_k_range: tuple[int, int] = MORPH_K_RANGE,
    blur_sigma_range: tuple[float, float] = BLUR_SIGMA_RANGE,
) -> np.ndarray:
    """Random soft coarse segmentation of an alpha matte, for training a TGN (SPAMattNet Sec. IV-B1).

    Random draws, in this order from ``rng``: trimap k, erode-or-dilate, morphology k, blur sigma.

    Args:
        alpha: (H, W) float in [0, 1].
        rng: numpy Generator or int seed (same seed, same mask).
        trimap_k_range: inclusive kernel-size range of the random trimap (step 1).
        morph_k_range: inclusive kernel-size range of the random erosion / dilation (step 3).
        blur_sigma_range: Gaussian sigma range in pixels (uniform; 0 disables the blur).

    Returns:
        (H, W) float32 soft mask in [0, 1].

    Example:
        >>> import numpy as np
        >>> a = np.zeros((64, 64), np.float32); a[16:48, 16:48] = 1
        >>> s = synthesize_coarse_mask(a, rng=0)
        >>> s.shape, s.dtype, bool((s >= 0).all() and (s <= 1).all())
        ((64, 64), dtype('float32'), True)
    """
    where = "synthesize_coarse_mask"
    alpha = as_alpha(alpha, where)
    gen = as_rng(rng, where)
    check_k_range(trimap_k_range, where, "trimap_k_range")
    check_k_range(morph_k_range, where, "morph_k_range")
    s_lo, s_hi = _check_sigma_range(blur_sigma_range)

    k_tri = sample_kernel_size(gen, trimap_k_range)
    trimap = _trimap_from_alpha(alpha, k_tri, k_tri, 1)  # IV-B1 (1): random trimap, k in [1, 29]
    initial = (trimap > 0).astype(np.uint8)  # IV-B1 (2): unknown U foreground
    grow = bool(gen.random() < 0.5)
    k_morph = sample_kernel_size(gen, morph_k_range)
    coarse = (dilate if grow else erode)(initial, k_morph)  # IV-B1 (3): random erosion / dilation, k in [1, 59]
    sigma = float(gen.uniform(s_lo, s_hi))
    return _blur(coarse, sigma)  # IV-B1 (3): random Gaussian blur


def test_coarse_mask(
    alpha: np.ndarray,
    erosion: int = 20,
    blur_sigma: float = TEST_BLUR_SIGMA,
    trimap_kernel_size: int = TGN_TRIMAP_KERNEL,
) -> np.ndarray:
    """Deterministic test-time coarse segmentation (SPAMattNet Sec. IV-B1, "TGN-20 ... TGN-50").

    Initial segmentation = unknown U foreground of ``trimap_from_alpha(alpha, trimap_kernel_size)``, eroded
    with an ``erosion`` x ``erosion`` elliptical kernel, then Gaussian-blurred.

    Args:
        alpha: (H, W) float in [0, 1].
        erosion: erosion kernel size; the paper evaluates 20 (default), 30, 40 and 50.
        blur_sigma: Gaussian sigma in pixels (our choice, the paper does not give one); 0 disables the blur.
        trimap_kernel_size: kernel of the ground-truth trimap the segmentation is derived from (15 in the paper).

    Returns:
        (H, W) float32 soft mask in [0, 1].

    Example:
        >>> import numpy as np
        >>> a = np.zeros((64, 64), np.float32); a[16:48, 16:48] = 1
        >>> bool((test_coarse_mask(a, 20) >= 0.5).sum() < (a > 0.5).sum())
        True
    """
    where = "test_coarse_mask"
    alpha = as_alpha(alpha, where)
    k_ero = check_kernel_size(erosion, where, "erosion")
    k_tri = check_kernel_size(trimap_kernel_size, where, "trimap_kernel_size")
    if not float(blur_sigma) >= 0.0:
        raise ValueError(f"{where}: blur_sigma must be >= 0, got {blur_sigma!r}")
    initial = (_trimap_from_alpha(alpha, k_tri, k_tri, 1) > 0).astype(np.uint8)  # IV-B1: unknown U fg of GT trimap
    return _blur(erode(initial, k_ero), float(blur_sigma))  # IV-B1: erosion k x k, then Gaussian blur


test_coarse_mask.__test__ = False  # a library function, not a pytest test, even when imported into a test module


def two_channel_segmentation(mask: np.ndarray) -> np.ndarray:
    """Two-channel form of a soft segmentation S for the TGN input: (1 - S, S) = (background, foreground).

    Args:
        mask: (H, W) float in [0, 1] (a coarse mask from this module or a segmentation network).

    Returns:
        (H, W, 2) float32, channel 0 = 1 - S (background), channel 1 = S (foreground); channels sum to 1.

    Example:
        >>> import numpy as np
        >>> two_channel_segmentation(np.array([[0.25]], np.float32)).tolist()
        [[[0.75, 0.25]]]
    """
    s = as_alpha(mask, "two_channel_segmentation", name="mask")
    return np.stack([1.0 - s, s], axis=-1).astype(np.float32)  # SPAMattNet Sec. III-A: two-channel segmentation


def tgn_input(image: np.ndarray, coarse_mask: np.ndarray) -> np.ndarray:
    """TGN input: RGB image concatenated with the two-channel segmentation (SPAMattNet Sec. III-A, Fig. 3).

    Args:
        image: (H, W, 3) float in [0, 1].
        coarse_mask: (H, W) float in [0, 1], same size.

    Returns:
        (H, W, 5) float32: R, G, B, 1 - S, S. Normalise the RGB channels in data/ or infer/ as usual.

    Example:
        >>> import numpy as np
        >>> tgn_input(np.zeros((4, 4, 3), np.float32), np.ones((4, 4), np.float32)).shape
        (4, 4, 5)
    """
    im = as_image(image, "tgn_input")
    seg = two_channel_segmentation(coarse_mask)
    if seg.shape[:2] != im.shape[:2]:
        raise ValueError(f"tgn_input: image is {im.shape[:2]} but coarse_mask is {seg.shape[:2]}")
    return np.concatenate([im, seg], axis=-1)


def clean_segmentation(prob: np.ndarray, islands: float = 0.0, holes: float = 0.0) -> np.ndarray:
    """A segmenter's probability with stray foreground islands dropped and small enclosed holes filled.

    Connected components (8-connectivity) of ``prob >= 0.5``: a foreground component smaller than ``islands``
    times the largest one is set to 0; a background component that does not touch the image border and is
    smaller than ``holes`` times the image area is set to 1. Zero turns either step off. The probability is
    kept everywhere else (the trimap band is still drawn around its 0.5 contour).

    Args:
        prob: (H, W) float in [0, 1]. islands: fraction of the largest foreground component, in [0, 1).
        holes: fraction of the image area, in [0, 1).

    Returns:
        (H, W) float32.

    Example:
        >>> import numpy as np
        >>> p = np.zeros((9, 9), np.float32); p[1:7, 1:7] = 1; p[3, 3] = 0; p[8, 8] = 0.9
        >>> q = clean_segmentation(p, islands=0.1, holes=0.05)
        >>> float(q[3, 3]), float(q[8, 8]), float(q.sum())
        (1.0, 0.0, 36.0)
    """
    p = as_alpha(prob, "clean_segmentation", name="prob").copy()
    if not (0 <= islands < 1 and 0 <= holes < 1):
        raise ValueError(f"clean_segmentation: islands and holes must be in [0, 1), got {islands}, {holes}")
    fg = (p >= 0.5).astype(np.uint8)
    if islands > 0:
        n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
        if n > 2:
            area = stats[1:, cv2.CC_STAT_AREA]
            small = 1 + np.flatnonzero(area < islands * area.max())
            p[np.isin(labels, small)] = 0.0
            fg = (p >= 0.5).astype(np.uint8)
    if holes > 0:
        n, labels, stats, _ = cv2.connectedComponentsWithStats(1 - fg, connectivity=8)
        h, w = p.shape
        x, y, bw, bh, area = (stats[1:, i] for i in range(5))
        inside = (x > 0) & (y > 0) & (x + bw < w) & (y + bh < h)
        small = 1 + np.flatnonzero(inside & (area < holes * h * w))
        p[np.isin(labels, small)] = 1.0
    return p
