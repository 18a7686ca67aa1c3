"""Foreground colour estimation: given an image I and its alpha, recover F in I = alpha F + (1 - alpha) B.

Cutting out with the image itself (``rgba = [I, alpha]``) leaves the old background bleeding through wherever
0 < alpha < 1 (hair, motion blur, glass). Three estimators:

* ``"ml"``: multi-level foreground estimation (Germer et al. 2020), pymatting's ``estimate_foreground_ml``
  algorithm vectorised in NumPy (red-black Gauss-Seidel sweeps). The better of the two in quality. pymatting's
  own version is numba-compiled: 5-7 s of compilation in a fresh install (51 s for ``import pymatting``, which
  compiles all its kernels), which a one-shot ``automatte predict`` cannot afford; this one has none, and
  steady state it is within about 2x of pymatting's (which uses both cores).
* ``"ml_band"``: the same multi-level solve, but on every level where the pixels with 0 < alpha < 1 (dilated
  by ``band_reach`` = 4 px) are under half the level, only those pixels are swept; the rest keep F = I where
  alpha = 1 (eq. 9's solution there, up to the regulariser) and the coarser level's estimate where alpha = 0
  (which no composite shows). What a composite shows is the same as ``"ml"``'s: on the default pipeline's 1 MP
  alpha of examples/chelsea.jpg the two differ by at most 0.0006 levels of 8 bits in alpha F, at about a
  quarter of the time (175 vs 668 ms, blur fusion 121 ms, in one loaded run), because matting alphas are soft in
  a thin band (3.6 % of that photo); on exact-alpha composites its re-composite error equals ``"ml"``'s (held-out
  cutouts SAD 0.134 vs 0.135, synthetic hair / glass / smoke 1.823 vs 1.823; blur fusion 0.148 and 3.853).
  Measured with ``benchmarks/foreground_composites.py`` (its docstring has the table).
* ``"blur_fusion"``: Forte & Pitié, "Approximate Fast Foreground Colour Estimation" (ICIP 2021), implemented
  here from its formula with OpenCV box filters: no JIT, nothing to compile, two passes of three box filters each.
  Less accurate than ML where alpha is low over wide areas and the background is busy (its local means then
  mix in background colour).

Measured with ``python benchmarks/foreground_speed.py --repeats 3`` on a shared 2-core x86 VM (Python 3.11,
numpy 2.4, OpenCV 5.1, numba 0.68; a training run was using the cores, so timings vary up to ~2x). Synthetic
composite: smooth random F, busier random B, an opaque ellipse with a wide halo of soft strands. F error = mean
|F_est - F| over alpha > 0.05 in 8-bit levels (alpha-weighted in brackets, i.e. the error a re-composite shows);
pymatting-ml's first call includes ``import pymatting`` (which compiles all its kernels):

    size    method        1st call, no numba cache  1st call, cached  steady (best of 3)  F error       image as F
    0.5 MP  ml            0.29 s                    -                 190 ms              7.79 (1.86)   29.53 (7.44)
    0.5 MP  blur_fusion   0.07 s                    -                 23 ms               17.43 (4.36)  29.53 (7.44)
    0.5 MP  pymatting-ml  87.8 s                    0.88 s            404 ms              7.91 (1.91)   29.53 (7.44)
    2 MP    ml            1.27 s                    -                 839 ms              7.64 (1.81)   29.51 (7.44)
    2 MP    blur_fusion   0.36 s                    -                 95 ms               21.30 (5.23)  29.51 (7.44)
    2 MP    pymatting-ml  138.8 s                   2.94 s            556 ms              7.79 (1.86)   29.51 (7.44)

Rule of thumb: ML wherever colour quality matters (it has well under half the error of blur fusion here);
blur fusion for latency-bound paths and very large images.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from automatte.ops._checks import as_alpha, as_image

METHODS: tuple[str, ...] = ("ml", "ml_band", "blur_fusion")
BAND_REACH = 4  # "ml_band": px around the soft pixels that are swept (2 measured the same, 0 worse)
_EPS = 1e-5
_ML_OPTIONS = frozenset(
    {"regularization", "n_small_iterations", "n_big_iterations", "small_size", "gradient_weight", "band_reach"}
)
_BLUR_FUSION_OPTIONS = frozenset({"blur_sizes"})


def _check_pair(image: np.ndarray, alpha: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    im = as_image(image, where)
    a = as_alpha(alpha, where)
    if im.shape[:2] != a.shape:
        raise ValueError(f"{where}: image is {im.shape[:2]} but alpha is {a.shape}; they must match")
    return im, a


def _ml_level_grids(image: np.ndarray, a: np.ndarray, regularization: float, gradient_weight: float) -> list[dict]:
    """Per-pixel coefficients of one level's 2x2 systems, split into the four parity sub-grids.

    Sub-grid (py, px) holds the pixels of rows py::2 and columns px::2; in the 1-pixel padded frame its four
    neighbours (left, right, up, down) are strided views of the other parity. Germer et al. 2020, eq. 9: with
    ``d_n = regularization + gradient_weight |alpha - alpha_n|``, each pixel solves
    ``[[a^2 + sum d, a (1 - a)], [a (1 - a), (1 - a)^2 + sum d]] [F, B] = [a I + sum d F_n, (1 - a) I + sum d B_n]``.
    """
    h, w = a.shape
    ap = np.pad(a, 1, mode="edge")
    grids = []
    for py, px in ((0, 0), (1, 1), (0, 1), (1, 0)):  # red (0, 0), (1, 1) first, then black
        rows, cols = slice(1 + py, h + 1, 2), slice(1 + px, w + 1, 2)
        if rows.start > h or cols.start > w:
            grids.append(None)
            continue
        nbs = [
            (rows, slice(px, w, 2)),
            (rows, slice(2 + px, w + 2, 2)),
            (slice(py, h, 2), cols),
            (slice(2 + py, h + 2, 2), cols),
        ]
        a0 = ap[rows, cols]
        d = [regularization + gradient_weight * np.abs(a0 - ap[n]) for n in nbs]
        a1 = 1.0 - a0
        dsum = d[0] + d[1] + d[2] + d[3]
        a00, a11, a01 = a0 * a0 + dsum, a1 * a1 + dsum, a0 * a1
        inv = 1.0 / (a00 * a11 - a01 * a01)
        grids.append({
            "at": (rows, cols), "nbs": nbs, "d": [_rgb(x) for x in d], "b00": _rgb(inv * a11), "b01": _rgb(-inv * a01),
            "b11": _rgb(inv * a00), "rf": _rgb(a0) * image[py::2, px::2], "rb": _rgb(a1) * image[py::2, px::2],
        })  # fmt: skip
    return [g for g in grids if g is not None]


def _rgb(x: np.ndarray) -> np.ndarray:
    return np.repeat(x[..., None], 3, axis=2)  # same-shape operands: numpy broadcasting of (H, W, 1) is slower


def _replicate_border(p: np.ndarray) -> None:
    p[0, 1:-1], p[-1, 1:-1] = p[1, 1:-1], p[-2, 1:-1]
    p[:, 0], p[:, -1] = p[:, 1], p[:, -2]


def _resize_nearest(x: np.ndarray, h: int, w: int, pad: int = 0) -> np.ndarray:
    """pymatting's nearest-neighbour resize: source index ``dst * src_size // dst_size``; with ``pad``, the
    result is edge-padded by that many pixels on every side as well (one gather instead of a resize and a pad)."""
    sh, sw = x.shape[:2]
    if (sh, sw) == (h, w) and not pad:
        return x
    rows = np.arange(-pad, h + pad).clip(0, h - 1) * sh // h
    cols = np.arange(-pad, w + pad).clip(0, w - 1) * sw // w
    return x[rows].take(cols, axis=1)  # row gather, then a column take: ~6x faster than x[rows][:, cols]


def _active_band(a: np.ndarray, reach: int) -> np.ndarray | None:
    """The pixels a band-limited level updates: 0 < alpha < 1, dilated by ``reach`` px; None when that is over
    half the level (then a full sweep costs about the same and is exact)."""
    soft = ((a > 0) & (a < 1)).astype(np.uint8)
    if reach > 0:
        soft = cv2.dilate(soft, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * reach + 1, 2 * reach + 1)))
    active = soft.view(bool)
    return active if active.sum() * 2 < active.size else None


def _ml_band_sweeps(
    pf: np.ndarray,
    pb: np.ndarray,
    image: np.ndarray,
    a: np.ndarray,
    active: np.ndarray,
    n_iter: int,
    regularization: float,
    gradient_weight: float,
) -> None:
    """``n_iter`` red-black Gauss-Seidel sweeps of eq. 9 (see :func:`_ml_level_grids`) over the ``active``
    pixels only, in place on the 1-pixel padded (H + 2, W + 2, 3) planes ``pf`` and ``pb``."""
    h, w = a.shape
    row = w + 2
    ff, fb = pf.reshape(-1, 3), pb.reshape(-1, 3)
    ap = np.pad(a, 1, mode="edge").ravel()
    ys, xs = np.nonzero(active)
    groups = []
    for parity in (0, 1):  # red ((y + x) even) first, then black, as the full sweeps
        sel = ((ys + xs) & 1) == parity
        y, x = ys[sel], xs[sel]
        at = (y + 1) * row + (x + 1)
        nbs = (at - 1, at + 1, at - row, at + row)
        a0 = ap[at]
        d = [(regularization + gradient_weight * np.abs(a0 - ap[n]))[:, None] for n in nbs]
        a1 = 1.0 - a0
        dsum = d[0] + d[1] + d[2] + d[3]
        a00, a11, a01 = a0[:, None] ** 2 + dsum, a1[:, None] ** 2 + dsum, (a0 * a1)[:, None]
        inv = 1.0 / (a00 * a11 - a01 * a01)
        colour = image[y, x]
        groups.append((at, nbs, d, inv * a11, -inv * a01, inv * a00, a0[:, None] * colour, a1[:, None] * colour))
    for _ in range(n_iter):
        for at, nbs, d, b00, b01, b11, rf, rb in groups:
            acc_f, acc_b = rf.copy(), rb.copy()
            for dn, n in zip(d, nbs):
                acc_f += dn * ff[n]
                acc_b += dn * fb[n]
            ff[at] = np.clip(b00 * acc_f + b01 * acc_b, 0.0, 1.0)
            fb[at] = np.clip(b01 * acc_f + b11 * acc_b, 0.0, 1.0)
            _replicate_border(pf)
            _replicate_border(pb)


def estimate_foreground_ml(
    image: np.ndarray,
    alpha: np.ndarray,
    *,
    regularization: float = 1e-5,
    n_small_iterations: int = 10,
    n_big_iterations: int = 2,
    small_size: int = 32,
    gradient_weight: float = 1.0,
    band_reach: int | None = None,
) -> np.ndarray:
    """Multi-level foreground estimation (Germer et al. 2020), vectorised in NumPy (no JIT compilation).

    pymatting's algorithm and defaults: a coarse-to-fine pyramid of ``ceil(log2(long side)) + 1`` levels
    (level l has ``H ** (l / n)`` x ``W ** (l / n)`` pixels, nearest-neighbour resizes), F and B started at the mean
    colours of alpha > 0.9 and alpha < 0.1, ``n_small_iterations`` sweeps on levels up to ``small_size``,
    ``n_big_iterations`` above. The sweeps are red-black Gauss-Seidel (pymatting's are lexicographic
    Gauss-Seidel), so results differ from pymatting's by about 0.7 levels of 8 bits on average (see
    tests/test_ops_foreground.py); the error against a known F is the same or lower.

    Args:
        image: (H, W, 3) float in [0, 1].
        alpha: (H, W) float in [0, 1].
        regularization: smoothness strength epsilon (pymatting's default 1e-5).
        n_small_iterations: solver iterations on levels up to ``small_size``.
        n_big_iterations: solver iterations on the larger levels.
        small_size: side below which a level counts as small.
        gradient_weight: larger values give smoother foregrounds.
        band_reach: None (every pixel of every level, pymatting's algorithm) or a distance in pixels: on the
            levels above ``small_size`` where the pixels with 0 < alpha < 1 dilated by this many pixels are under
            half the level, only they are swept; pixels with alpha = 1 outside them get F = I, pixels with
            alpha = 0 outside keep the coarser level's F (they have no weight in any composite).

    Returns:
        (H, W, 3) float32 foreground in [0, 1].

    Example:
        >>> import numpy as np
        >>> F = estimate_foreground_ml(np.full((8, 8, 3), 0.5, np.float32), np.full((8, 8), 0.5, np.float32))
        >>> F.shape, F.dtype
        ((8, 8, 3), dtype('float32'))
    """
    im, a = _check_pair(image, alpha, "estimate_foreground_ml")
    im, a = np.asarray(im, np.float32), np.asarray(a, np.float32)
    h0, w0 = a.shape
    is_fg, is_bg = a > 0.9, a < 0.1
    pixels = im.reshape(-1, 3)
    f = (is_fg.ravel().astype(np.float32) @ pixels / (is_fg.sum() + 1e-5)).astype(np.float32).reshape(1, 1, 3)
    b = (is_bg.ravel().astype(np.float32) @ pixels / (is_bg.sum() + 1e-5)).astype(np.float32).reshape(1, 1, 3)
    n_levels = max(1, int(np.ceil(np.log2(max(h0, w0)))))
    for level in range(n_levels + 1):
        h, w = round(h0 ** (level / n_levels)), round(w0 ** (level / n_levels))
        im_l, a_l = _resize_nearest(im, h, w), _resize_nearest(a, h, w)
        pf, pb = _resize_nearest(f, h, w, pad=1), _resize_nearest(b, h, w, pad=1)
        n_iter = int(n_small_iterations) if max(h, w) <= small_size else int(n_big_iterations)
        active = None if band_reach is None or max(h, w) <= small_size else _active_band(a_l, int(band_reach))
        if active is not None:
            opaque = (a_l >= 1) & ~active
            np.copyto(pf[1:-1, 1:-1], im_l, where=opaque[..., None])  # eq. 9 at alpha = 1: F = I (+ O(eps))
            _replicate_border(pf)
            _ml_band_sweeps(pf, pb, im_l, a_l, active, n_iter, float(regularization), float(gradient_weight))
            f, b = pf[1:-1, 1:-1], pb[1:-1, 1:-1]
            continue
        grids = _ml_level_grids(im_l, a_l, float(regularization), float(gradient_weight))
        for _ in range(n_iter):
            for colour in (grids[:2], grids[2:]):
                for g in colour:
                    acc_f, acc_b = g["rf"].copy(), g["rb"].copy()
                    for d, nb in zip(g["d"], g["nbs"]):
                        acc_f += d * pf[nb]
                        acc_b += d * pb[nb]
                    new_f = g["b00"] * acc_f
                    new_f += g["b01"] * acc_b
                    new_b = g["b01"] * acc_f
                    new_b += g["b11"] * acc_b
                    pf[g["at"]], pb[g["at"]] = np.clip(new_f, 0.0, 1.0), np.clip(new_b, 0.0, 1.0)
                _replicate_border(pf)
                _replicate_border(pb)
        f, b = pf[1:-1, 1:-1], pb[1:-1, 1:-1]
    return np.ascontiguousarray(f, dtype=np.float32)


def _blur_fusion_pass(
    image: np.ndarray, fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """One blur-fusion pass; returns (F, B^). Arrays are (H, W, 3) float32 except alpha (H, W).

    Written with same-shape (H, W, 3) operands and in-place updates: broadcasting (H, W, 1) against
    (H, W, 3) is several times slower in numpy, and this function is the whole cost of the method.
    """
    box = (size, size)
    a = cv2.merge([alpha, alpha, alpha])
    one_minus_a = 1.0 - a
    a_mean = cv2.blur(alpha, box)
    a_mean = cv2.merge([a_mean, a_mean, a_mean])
    fg_hat = cv2.blur(fg * a, box)
    fg_hat /= a_mean + _EPS  # Forte & Pitie 2021: F^_i = sum_j a_j F_j / sum_j a_j (box window)
    bg_hat = cv2.blur(bg * one_minus_a, box)
    bg_hat /= (1.0 + _EPS) - a_mean  # B^_i = sum_j (1 - a_j) B_j / sum_j (1 - a_j)
    residual = image - a * fg_hat
    residual -= one_minus_a * bg_hat
    residual *= a
    residual += fg_hat  # F_i = F^_i + a_i (I_i - a_i F^_i - (1 - a_i) B^_i)
    np.clip(residual, 0.0, 1.0, out=residual)
    return residual, bg_hat


def estimate_foreground_blur_fusion(
    image: np.ndarray, alpha: np.ndarray, *, blur_sizes: Sequence[int] = (90, 6)
) -> np.ndarray:
    """Blur-fusion foreground estimation (Forte & Pitié, ICIP 2021): box-filter local means, no JIT.

    Each pass takes alpha-weighted local means F^ and (1 - alpha)-weighted local means B^ over a box window,
    then corrects F^ so that the pixel satisfies the compositing equation:
    F = F^ + alpha (I - alpha F^ - (1 - alpha) B^). The first pass starts from F = B = I; every later pass
    starts from the previous F and B^. The paper's recipe is a large window then a small one, r = 90 then 6;
    we use r as the side of the ``cv2.blur`` box (reading r as a radius would mean a box of side 2r + 1).

    Args:
        image: (H, W, 3) float in [0, 1].
        alpha: (H, W) float in [0, 1].
        blur_sizes: box side of each pass, in order (default (90, 6)).

    Returns:
        (H, W, 3) float32 foreground in [0, 1].

    Example:
        >>> import numpy as np
        >>> F = estimate_foreground_blur_fusion(np.full((8, 8, 3), 0.5, np.float32), np.ones((8, 8), np.float32))
        >>> round(float(F[4, 4, 0]), 3)
        0.5
    """
    where = "estimate_foreground_blur_fusion"
    im, a = _check_pair(image, alpha, where)
    sizes = list(blur_sizes) if not isinstance(blur_sizes, (int, np.integer)) else [blur_sizes]
    if not sizes or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in sizes):
        raise ValueError(f"{where}: blur_sizes must be a non-empty sequence of ints >= 1, got {blur_sizes!r}")
    fg, bg = im, im
    for size in sizes:
        fg, bg = _blur_fusion_pass(im, fg, bg, a, int(size))
    return fg.astype(np.float32, copy=False)


def estimate_foreground(image: np.ndarray, alpha: np.ndarray, method: str = "ml", **options) -> np.ndarray:
    """Estimate the foreground colours F of an image given its alpha (see the module docstring for the trade-off).

    Args:
        image: (H, W, 3) float in [0, 1].
        alpha: (H, W) float in [0, 1].
        method: ``"ml"`` (multi-level, Germer et al. 2020; best quality), ``"ml_band"`` (the same, swept only
            near the soft pixels on the fine levels: the same composites, several times faster on matting
            alphas) or ``"blur_fusion"`` (pure OpenCV; fastest, less accurate). Case-insensitive; "blur-fusion"
            and "ml-band" work too.
        **options: passed on: for "ml" and "ml_band" ``regularization``, ``n_small_iterations``,
            ``n_big_iterations``, ``small_size``, ``gradient_weight``, ``band_reach`` (see
            :func:`estimate_foreground_ml`; "ml_band" defaults it to ``BAND_REACH``); for "blur_fusion"
            ``blur_sizes`` (see :func:`estimate_foreground_blur_fusion`).

    Returns:
        (H, W, 3) float32 foreground in [0, 1].

    Example:
        >>> import numpy as np
        >>> im = np.full((16, 16, 3), 0.5, np.float32); a = np.full((16, 16), 0.5, np.float32)
        >>> estimate_foreground(im, a, method="blur_fusion").shape
        (16, 16, 3)
    """
    key = method.strip().lower().replace("-", "_") if isinstance(method, str) else None
    if key not in METHODS:
        raise ValueError(f"estimate_foreground: method must be one of {', '.join(METHODS)}, got {method!r}")
    allowed = _BLUR_FUSION_OPTIONS if key == "blur_fusion" else _ML_OPTIONS
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(
            f"estimate_foreground: unknown option(s) {unknown} for method {key!r}; expected some of {sorted(allowed)}"
        )
    if key == "ml":
        return estimate_foreground_ml(image, alpha, **options)
    if key == "ml_band":
        return estimate_foreground_ml(image, alpha, **{"band_reach": BAND_REACH, **options})
    return estimate_foreground_blur_fusion(image, alpha, **options)
