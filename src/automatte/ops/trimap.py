"""Trimaps: from an alpha matte or a (coarse) mask by erosion / dilation, fixed or random kernel sizes,
plus conversions between the float, 8-bit and class-index encodings.

Trimap convention (STYLE tensor contract): float32 (H, W) with 0 = background, 0.5 = unknown, 1 = foreground.
Other encodings: uint8 {0, 128, 255} (files on disk) and int64 class indices {0, 1, 2} = (bg, unknown, fg),
i.e. ``index = 2 * T``, the target of a 3-class cross-entropy.

Kernels are OpenCV elliptical structuring elements of side k. For an odd k = 2r + 1 an axis-aligned edge moves
by r pixels, so the unknown band around a hard edge is 2r pixels wide (r inside, r outside); an even k is
anchored at k // 2 and moves the two sides of an edge by different amounts. The papers' kernel sizes:

* 15x15 ground-truth trimap for TGN training, 30x30 for P3M (SPAMattNet/TGN, Sec. IV-B1, IV-B6);
* random k in [1, 29] for the first step of coarse-mask synthesis (SPAMattNet/TGN, Sec. IV-B1);
* random erosion k in [1, 30] to simulate human trimap labels (DDC, Sec. 4.1), the default ``k_range`` here.

All ranges in this module are inclusive on both ends.
"""

from __future__ import annotations

import numpy as np

from automatte.ops._checks import (
    RngLike,
    as_alpha,
    as_rng,
    binarize_mask,
    check_k_range,
    check_kernel_size,
    dilate,
    erode,
)

# uint8 thresholds of quantize_trimap: < 85 -> 0, >= 170 -> 1 (thirds of the 8-bit range), else 0.5.
BG_BELOW, FG_FROM = 1.0 / 3.0, 2.0 / 3.0  # the trimap rule: below a third is background, from two thirds foreground
_U8_LOW, _U8_HIGH = 85, 170  # the same thirds of 0..255


def sample_kernel_size(rng: RngLike, k_range: tuple[int, int] = (1, 30)) -> int:
    """Draw a kernel size uniformly from the inclusive range ``k_range``.

    Args:
        rng: numpy Generator or int seed.
        k_range: (low, high), both included, 1 <= low <= high.

    Returns:
        An int k with low <= k <= high.

    Example:
        >>> 1 <= sample_kernel_size(0, (1, 30)) <= 30
        True
    """
    lo, hi = check_k_range(k_range, "sample_kernel_size")
    return int(as_rng(rng, "sample_kernel_size").integers(lo, hi, endpoint=True))


def _trimap_from_alpha(alpha: np.ndarray, k_fg: int, k_bg: int, iterations: int) -> np.ndarray:
    fg = erode((alpha >= 1.0 - 1e-6).astype(np.uint8), k_fg, iterations)
    bg = erode((alpha <= 1e-6).astype(np.uint8), k_bg, iterations)
    trimap = np.full(alpha.shape, 0.5, dtype=np.float32)
    trimap[fg.astype(bool)] = 1.0
    trimap[bg.astype(bool)] = 0.0
    return trimap


def trimap_from_alpha(alpha: np.ndarray, kernel_size: int = 15, iterations: int = 1) -> np.ndarray:
    """Trimap from a ground-truth alpha: fg = eroded(alpha == 1), bg = eroded(alpha == 0), the rest unknown.

    Eroding the background is the same as dilating the non-zero alpha, so this is the papers' "erosion and
    dilation on the alpha matte". Every 0 < alpha < 1 pixel is unknown whatever the kernel size.

    Args:
        alpha: (H, W) float in [0, 1].
        kernel_size: side k of the elliptical structuring element (15 or 30 in the papers; see the module
            docstring for the band width it gives).
        iterations: erosion iterations.

    Returns:
        (H, W) float32 trimap in {0, 0.5, 1}.

    Example:
        >>> import numpy as np
        >>> a = np.zeros((32, 32), np.float32); a[8:24, 8:24] = 1
        >>> t = trimap_from_alpha(a, kernel_size=3)
        >>> sorted(np.unique(t).tolist())
        [0.0, 0.5, 1.0]
    """
    alpha = as_alpha(alpha, "trimap_from_alpha")
    k = check_kernel_size(kernel_size, "trimap_from_alpha")
    iterations = check_kernel_size(iterations, "trimap_from_alpha", "iterations")
    return _trimap_from_alpha(alpha, k, k, iterations)


def random_trimap_from_alpha(
    alpha: np.ndarray,
    rng: RngLike,
    k_range: tuple[int, int] = (1, 30),
    independent: bool = False,
) -> np.ndarray:
    """Trimap from alpha with a kernel size drawn uniformly from the inclusive ``k_range``.

    DDC Sec. 4.1 uses k in [1, 30] (the default); SPAMattNet/TGN Sec. IV-B1 uses [1, 29].

    Args:
        alpha: (H, W) float in [0, 1].
        rng: numpy Generator or int seed (same seed, same trimap).
        k_range: (low, high) kernel sizes, both included.
        independent: draw separate sizes for the foreground and the background erosion (the GCA / ViTMatte
            data pipelines do this) instead of one size for both.

    Returns:
        (H, W) float32 trimap in {0, 0.5, 1}.

    Example:
        >>> import numpy as np
        >>> a = np.zeros((32, 32), np.float32); a[8:24, 8:24] = 1
        >>> bool((random_trimap_from_alpha(a, 0) == random_trimap_from_alpha(a, 0)).all())
        True
    """
    alpha = as_alpha(alpha, "random_trimap_from_alpha")
    gen = as_rng(rng, "random_trimap_from_alpha")
    k_fg = sample_kernel_size(gen, k_range)
    k_bg = sample_kernel_size(gen, k_range) if independent else k_fg
    return _trimap_from_alpha(alpha, k_fg, k_bg, 1)


def trimap_from_mask(
    mask: np.ndarray, kernel_size: int = 15, threshold: float = 0.5, iterations: int = 1
) -> np.ndarray:
    """Trimap from a binary or coarse soft mask: unknown band = dilate(mask) XOR erode(mask).

    A soft mask (e.g. a segmentation probability) is first binarised with ``mask >= threshold``; bool masks
    are used as they are and integer masks as ``mask != 0``. For a 0/1 mask the result equals
    ``trimap_from_alpha(mask, kernel_size)``.

    Args:
        mask: (H, W) bool, integer, or float in [0, 1].
        kernel_size: side k of the elliptical structuring element.
        threshold: foreground threshold for float masks, in (0, 1].
        iterations: erosion / dilation iterations.

    Returns:
        (H, W) float32 trimap in {0, 0.5, 1}: 1 = erode(mask), 0.5 = dilate(mask) minus that, 0 elsewhere.

    Example:
        >>> import numpy as np
        >>> m = np.zeros((16, 16), bool); m[4:12, 4:12] = True
        >>> t = trimap_from_mask(m, kernel_size=3)
        >>> t[8, 2:6].tolist()  # bg, unknown band 2 px wide at the edge (col 3 out, col 4 in), fg
        [0.0, 0.5, 0.5, 1.0]
    """
    m = binarize_mask(mask, threshold, "trimap_from_mask")
    k = check_kernel_size(kernel_size, "trimap_from_mask")
    iterations = check_kernel_size(iterations, "trimap_from_mask", "iterations")
    return _trimap_from_binary(m, k, iterations)


def _trimap_from_binary(m: np.ndarray, k: int, iterations: int) -> np.ndarray:
    inner = erode(m, k, iterations).astype(bool)
    outer = dilate(m, k, iterations).astype(bool)
    trimap = np.zeros(m.shape, dtype=np.float32)
    trimap[outer ^ inner] = 0.5  # unknown = dilate(M) XOR erode(M); erode(M) is inside dilate(M)
    trimap[inner] = 1.0
    return trimap


def trimap_from_probability(
    prob: np.ndarray,
    kernel_size: int = 7,
    low: float = 0.1,
    high: float = 0.9,
    threshold: float = 0.5,
    reach: int | None = None,
) -> np.ndarray:
    """Trimap from a segmenter's foreground probability whose unknown band follows the segmenter's doubt.

    ``trimap_from_mask(prob >= threshold, kernel_size)`` (a thin band of ``kernel_size`` around the decided
    edge), then every pixel the segmenter is unsure of (``low < prob < high``) is unknown as well: the band is
    thin where the edge is certain and widens over hair, fur and other fine or blurred parts. With ``reach``,
    only the unsure pixels within the band of that kernel size around the decided edge join the unknown band:
    the fringe of hair or leaves next to the object does, a whole doubtful region far from it (a building the
    segmenter half believes in) keeps its decision.

    Args:
        prob: (H, W) float in [0, 1].
        kernel_size: side of the minimum band's structuring element.
        low, high: the probabilities between which a pixel counts as unsure (0 <= low < threshold < high <= 1).
        threshold: foreground threshold of the decided mask.
        reach: None (every unsure pixel) or the side of the structuring element around the decided edge
            within which unsure pixels join the band.

    Returns:
        (H, W) float32 trimap in {0, 0.5, 1}.

    Example:
        >>> import numpy as np
        >>> p = np.zeros((1, 12), np.float32); p[0, 6:] = 1; p[0, 2:6] = [0.2, 0.4, 0.6, 0.8]
        >>> trimap_from_probability(p, kernel_size=1).tolist()[0]
        [0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
        >>> trimap_from_probability(p, kernel_size=1, reach=3).tolist()[0]
        [0.0, 0.0, 0.0, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    """
    if not 0 <= low < threshold < high <= 1:
        raise ValueError(
            f"trimap_from_probability: need 0 <= low < threshold < high <= 1, got {low}, {threshold}, {high}"
        )
    p = np.asarray(prob, dtype=np.float32)
    if p.ndim != 2:
        raise ValueError(f"trimap_from_probability: expected an (H, W) probability, got shape {p.shape}")
    k = check_kernel_size(kernel_size, "trimap_from_probability")
    decided = p >= threshold
    trimap = _trimap_from_binary(decided, k, 1)
    unsure = (p > low) & (p < high)
    if reach is not None:  # only the doubt next to the decided edge
        unsure &= _trimap_from_binary(decided, check_kernel_size(reach, "trimap_from_probability"), 1) == 0.5
    trimap[unsure] = 0.5
    return trimap


def widen_trimap(
    trimap: np.ndarray, unknown: np.ndarray, prob: np.ndarray | None = None, reach: int | None = None,
    threshold: float = 0.5,
) -> np.ndarray:  # fmt: skip
    """``trimap`` with every pixel of the bool ``unknown`` set to unknown: a learned band (a band head's
    P(unknown) above a threshold, issue 27 item 4) added to a fixed one; the band only grows. With ``reach`` (and
    the ``prob`` the trimap was drawn from), only the pixels within the band of that kernel size around the
    decided edge (``prob >= threshold``) join, as in :func:`trimap_from_probability`.

    Example:
        >>> import numpy as np
        >>> t = np.array([[0, 0, 0, 0.5, 1, 1]], np.float32)
        >>> widen_trimap(t, np.array([[1, 0, 1, 0, 1, 0]], bool)).tolist()[0]
        [0.5, 0.0, 0.5, 0.5, 0.5, 1.0]
        >>> p = np.array([[0, 0, 0, 0.6, 1, 1]], np.float32)
        >>> widen_trimap(t, np.array([[1, 0, 1, 0, 1, 0]], bool), p, reach=3).tolist()[0]
        [0.0, 0.0, 0.5, 0.5, 1.0, 1.0]
    """
    out = np.array(trimap, dtype=np.float32, copy=True)
    extra = np.asarray(unknown, dtype=bool)
    if extra.shape != out.shape:
        raise ValueError(f"widen_trimap: unknown {extra.shape} and trimap {out.shape} differ in shape")
    if reach is not None:
        if prob is None:
            raise ValueError("widen_trimap: reach needs the probability the trimap was drawn from")
        decided = np.asarray(prob, dtype=np.float32) >= threshold
        extra = extra & (_trimap_from_binary(decided, check_kernel_size(reach, "widen_trimap"), 1) == 0.5)
    out[extra] = 0.5
    return out


def random_trimap_from_mask(
    mask: np.ndarray, rng: RngLike, k_range: tuple[int, int] = (1, 30), threshold: float = 0.5
) -> np.ndarray:
    """Trimap from a (coarse) mask with a kernel size drawn uniformly from the inclusive ``k_range``.

    DDC Sec. 4.1: trimap labels from coarse labels by random erosion with k in [1, 30].

    Args:
        mask: (H, W) bool, integer, or float in [0, 1] (binarised as in :func:`trimap_from_mask`).
        rng: numpy Generator or int seed.
        k_range: (low, high) kernel sizes, both included.
        threshold: foreground threshold for float masks.

    Returns:
        (H, W) float32 trimap in {0, 0.5, 1}.

    Example:
        >>> import numpy as np
        >>> m = np.zeros((32, 32), bool); m[8:24, 8:24] = True
        >>> t = random_trimap_from_mask(m, rng=3, k_range=(3, 9))
        >>> float(t[16, 16]), float(t[0, 0])
        (1.0, 0.0)
    """
    m = binarize_mask(mask, threshold, "random_trimap_from_mask")
    k = sample_kernel_size(as_rng(rng, "random_trimap_from_mask"), k_range)
    return _trimap_from_binary(m, k, 1)


def quantize_trimap(trimap: np.ndarray) -> np.ndarray:
    """Snap a trimap to {0, 0.5, 1}: below 1/3 -> 0, from 2/3 up -> 1, else 0.5 (e.g. after resizing).

    Integer input is read as 8-bit (0..255) with the same thirds: < 85 -> 0, >= 170 -> 1, else 0.5, so
    {0, 128, 255} and {0, 127, 255} files both work.

    Args:
        trimap: any shape, float in [0, 1] or integer in [0, 255].

    Returns:
        float32 array of the same shape with values in {0, 0.5, 1}.

    Example:
        >>> import numpy as np
        >>> quantize_trimap(np.array([0.1, 0.4, 0.6, 0.9])).tolist()
        [0.0, 0.5, 0.5, 1.0]
    """
    t = np.asarray(trimap)
    if t.size == 0:
        raise ValueError(f"quantize_trimap: trimap is empty (shape {t.shape})")
    out = np.full(t.shape, 0.5, dtype=np.float32)
    if np.issubdtype(t.dtype, np.integer) and t.dtype != bool:
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or hi > 255:
            raise ValueError(f"quantize_trimap: integer trimap must be in [0, 255], got values in [{lo}, {hi}]")
        out[t < _U8_LOW] = 0.0
        out[t >= _U8_HIGH] = 1.0
        return out
    if not (np.issubdtype(t.dtype, np.floating) or t.dtype == bool):
        raise ValueError(f"quantize_trimap: trimap must be float or integer, got dtype {t.dtype}")
    t = t.astype(np.float32, copy=False)
    lo, hi = float(t.min()), float(t.max())
    if not (lo >= -1e-6 and hi <= 1.0 + 1e-6):
        raise ValueError(f"quantize_trimap: float trimap must be in [0, 1], got values in [{lo:g}, {hi:g}]")
    bg, _, fg = trimap_masks(t)
    out[bg] = 0.0
    out[fg] = 1.0
    return out


def trimap_masks(trimap):
    """``(background, unknown, foreground)`` boolean masks of a float trimap in [0, 1] by the thirds rule
    (:data:`BG_BELOW`, :data:`FG_FROM`): the one reading of a trimap for every model, loss and tool. Works on
    NumPy arrays and torch tensors alike (the masks have the input's type and shape).

    Example:
        >>> import numpy as np
        >>> [m.tolist() for m in trimap_masks(np.array([0.0, 0.3, 0.5, 0.7, 1.0]))]
        [[True, True, False, False, False], [False, False, True, False, False], [False, False, False, True, True]]
    """
    bg, fg = trimap < BG_BELOW, trimap >= FG_FROM
    return bg, ~(bg | fg), fg


def trimap_from_soft_alpha(alpha: np.ndarray, low: float = 0.01, high: float = 0.99) -> np.ndarray:
    """The trimap a predicted alpha implies: 0 below ``low``, 1 above ``high``, unknown between (the trimap
    shown for pipelines that predict none, e.g. one-stage networks without a trimap head).

    Example:
        >>> import numpy as np
        >>> trimap_from_soft_alpha(np.array([[0.0, 0.005, 0.5, 0.995]])).tolist()
        [[0.0, 0.0, 0.5, 1.0]]
    """
    a = as_alpha(alpha, "trimap_from_soft_alpha")
    return np.where(a < low, 0.0, np.where(a > high, 1.0, 0.5)).astype(np.float32)


def trimap_to_uint8(trimap: np.ndarray) -> np.ndarray:
    """Float trimap -> uint8 {0, 128, 255} (quantised first).

    Args:
        trimap: (H, W) float in [0, 1].

    Returns:
        (H, W) uint8 with values in {0, 128, 255}.

    Example:
        >>> import numpy as np
        >>> trimap_to_uint8(np.array([0.0, 0.5, 1.0])).tolist()
        [0, 128, 255]
    """
    t = quantize_trimap(trimap)
    return np.where(t == 0.5, 128, t * 255).astype(np.uint8)


def trimap_from_uint8(trimap: np.ndarray) -> np.ndarray:
    """uint8 trimap (0 / ~128 / 255) -> float32 {0, 0.5, 1}, using the thirds of :func:`quantize_trimap`.

    Args:
        trimap: (H, W) integer array in [0, 255].

    Returns:
        (H, W) float32 trimap in {0, 0.5, 1}.

    Example:
        >>> import numpy as np
        >>> trimap_from_uint8(np.array([0, 127, 128, 255], np.uint8)).tolist()
        [0.0, 0.5, 0.5, 1.0]
    """
    t = np.asarray(trimap)
    if not np.issubdtype(t.dtype, np.integer) or t.dtype == bool:
        raise ValueError(f"trimap_from_uint8: expected an integer (uint8) trimap, got dtype {t.dtype}")
    return quantize_trimap(t)


def trimap_to_classes(trimap: np.ndarray) -> np.ndarray:
    """Trimap -> class indices {0: background, 1: unknown, 2: foreground} (``2 * T``, quantised first).

    Args:
        trimap: (H, W) float in [0, 1] or uint8 in [0, 255].

    Returns:
        (H, W) int64 class map, ready for a 3-class cross-entropy.

    Example:
        >>> import numpy as np
        >>> trimap_to_classes(np.array([0.0, 0.5, 1.0])).tolist()
        [0, 1, 2]
    """
    return (quantize_trimap(trimap) * 2).astype(np.int64)


def classes_to_trimap(classes: np.ndarray) -> np.ndarray:
    """Class indices {0: background, 1: unknown, 2: foreground} -> float32 trimap {0, 0.5, 1}.

    Args:
        classes: (H, W) integer array with values in {0, 1, 2} (e.g. the argmax of a 3-class head).

    Returns:
        (H, W) float32 trimap.

    Example:
        >>> import numpy as np
        >>> classes_to_trimap(np.array([0, 1, 2])).tolist()
        [0.0, 0.5, 1.0]
    """
    c = np.asarray(classes)
    if not np.issubdtype(c.dtype, np.integer) or c.dtype == bool:
        raise ValueError(f"classes_to_trimap: classes must be integers in {{0, 1, 2}}, got dtype {c.dtype}")
    bad = (c < 0) | (c > 2)
    if bad.any():
        raise ValueError(f"classes_to_trimap: classes must be in {{0, 1, 2}}, got {np.unique(c[bad])[:5].tolist()}")
    return (c.astype(np.float32) * 0.5).astype(np.float32)
