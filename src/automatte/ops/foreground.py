"""Foreground colour estimation: given an image I and its alpha, recover F in I = alpha F + (1 - alpha) B.

Cutting out with the image itself (``rgba = [I, alpha]``) leaves the old background bleeding through wherever
0 < alpha < 1 (hair, motion blur, glass). Two estimators:

* ``"ml"``: multi-level foreground estimation (Germer et al. 2020) through pymatting's ``estimate_foreground_ml``.
  The better of the two in quality, but numba-compiled. ``import pymatting`` compiles *all* of pymatting's
  numba kernels when nothing is cached (51 s on the machine below), so unless pymatting is already imported we
  load only its foreground module (three kernels, about 5-7 s of compile). numba caches the machine code on
  disk; later processes pay about 1-2 s (numba import and cache load). Steady state it is a few times slower
  than blur fusion.
* ``"blur_fusion"``: Forte & Pitié, "Approximate Fast Foreground Colour Estimation" (ICIP 2021), implemented
  here from its formula with OpenCV box filters: no JIT, nothing to compile, two passes of three box filters each.
  Less accurate than ML where alpha is low over wide areas and the background is busy (its local means then
  mix in background colour).

Measured with ``python benchmarks/foreground_speed.py --repeats 9`` on a shared 2-core x86 VM (Python 3.11,
numpy 2.4, OpenCV 5.0, numba 0.68; timings there vary up to ~2x between runs). Synthetic composite: smooth
random F, busier random B, an opaque ellipse with a wide halo of soft strands. F error = mean |F_est - F| over
alpha > 0.05 in 8-bit levels (alpha-weighted in brackets, i.e. the error a re-composite shows):

    size    method       1st call, no numba cache  1st call, cached  steady (best of 9)  F error       image as F
    0.5 MP  ml           6.88 s                    1.30 s            157 ms              7.91 (1.91)   29.53 (7.44)
    0.5 MP  blur_fusion  0.11 s                    -                 21 ms               17.43 (4.36)  29.53 (7.44)
    2 MP    ml           8.83 s                    2.18 s            250 ms              7.79 (1.86)   29.51 (7.44)
    2 MP    blur_fusion  0.35 s                    -                 89 ms               21.30 (5.23)  29.51 (7.44)

Rule of thumb: ML wherever colour quality matters (it has well under half the error of blur fusion here) and a
first call of a few seconds is acceptable; blur fusion for interactive or latency-bound paths and one-shot
processes, where no compile may be paid.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from automatte.ops._checks import as_alpha, as_image

METHODS: tuple[str, ...] = ("ml", "blur_fusion")
_EPS = 1e-5
_ML_OPTIONS = frozenset({"regularization", "n_small_iterations", "n_big_iterations", "small_size", "gradient_weight"})
_BLUR_FUSION_OPTIONS = frozenset({"blur_sizes"})
_ml_impl: Callable | None = None


def _check_pair(image: np.ndarray, alpha: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    im = as_image(image, where)
    a = as_alpha(alpha, where)
    if im.shape[:2] != a.shape:
        raise ValueError(f"{where}: image is {im.shape[:2]} but alpha is {a.shape}; they must match")
    return im, a


def _load_pymatting_ml_module() -> Callable | None:
    """Load pymatting/foreground/estimate_foreground_ml.py on its own, skipping pymatting/__init__.py.

    The package's __init__ imports every submodule, and their eagerly typed numba kernels compile at import;
    the foreground module alone needs three kernels. Returns None when the layout is not the expected one.
    """
    try:
        spec = importlib.util.find_spec("pymatting")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "foreground" / "estimate_foreground_ml.py"
    if not path.is_file():
        return None
    file_spec = importlib.util.spec_from_file_location("automatte.ops._pymatting_foreground_ml", path)
    if file_spec is None or file_spec.loader is None:
        return None
    module = importlib.util.module_from_spec(file_spec)
    try:
        file_spec.loader.exec_module(module)
    except Exception:  # any incompatibility: use the public import below instead
        return None
    return getattr(module, "estimate_foreground_ml", None)


def _pymatting_ml() -> Callable:
    global _ml_impl
    if _ml_impl is None:
        if "pymatting" in sys.modules:
            _ml_impl = sys.modules["pymatting"].estimate_foreground_ml
        else:
            _ml_impl = _load_pymatting_ml_module()
        if _ml_impl is None:
            from pymatting import estimate_foreground_ml as public_ml

            _ml_impl = public_ml
    return _ml_impl


def estimate_foreground_ml(
    image: np.ndarray,
    alpha: np.ndarray,
    *,
    regularization: float = 1e-5,
    n_small_iterations: int = 10,
    n_big_iterations: int = 2,
    small_size: int = 32,
    gradient_weight: float = 1.0,
) -> np.ndarray:
    """Multi-level foreground estimation (Germer et al. 2020) via pymatting; pays a numba compile once.

    Args:
        image: (H, W, 3) float in [0, 1].
        alpha: (H, W) float in [0, 1].
        regularization: smoothness strength epsilon (pymatting's default 1e-5).
        n_small_iterations: solver iterations on levels up to ``small_size``.
        n_big_iterations: solver iterations on the larger levels.
        small_size: side below which a level counts as small.
        gradient_weight: larger values give smoother foregrounds.

    Returns:
        (H, W, 3) float32 foreground in [0, 1].

    Example:
        >>> import numpy as np
        >>> F = estimate_foreground_ml(np.full((8, 8, 3), 0.5, np.float32), np.full((8, 8), 0.5, np.float32))
        >>> F.shape, F.dtype
        ((8, 8, 3), dtype('float32'))
    """
    im, a = _check_pair(image, alpha, "estimate_foreground_ml")
    fg = _pymatting_ml()(
        im,
        a,
        regularization=float(regularization),
        n_small_iterations=int(n_small_iterations),
        n_big_iterations=int(n_big_iterations),
        small_size=int(small_size),
        gradient_weight=float(gradient_weight),
    )
    return np.clip(fg, 0.0, 1.0).astype(np.float32, copy=False)


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
        method: ``"ml"`` (pymatting multi-level; best quality, numba compile on first use) or
            ``"blur_fusion"`` (pure OpenCV; fast, no compile). Case-insensitive; "blur-fusion" works too.
        **options: passed on: for "ml" ``regularization``, ``n_small_iterations``, ``n_big_iterations``,
            ``small_size``, ``gradient_weight`` (see :func:`estimate_foreground_ml`); for "blur_fusion"
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
    allowed = _ML_OPTIONS if key == "ml" else _BLUR_FUSION_OPTIONS
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(
            f"estimate_foreground: unknown option(s) {unknown} for method {key!r}; expected some of {sorted(allowed)}"
        )
    if key == "ml":
        return estimate_foreground_ml(image, alpha, **options)
    return estimate_foreground_blur_fusion(image, alpha, **options)
