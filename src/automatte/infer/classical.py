"""Classical trimap-based alpha estimation: reference baselines and refiners.

These need a trimap (0 = background, 0.5 = unknown, 1 = foreground); they solve for alpha in the unknown
region only. ``cf`` is closed-form matting (Levin et al. 2008) in NumPy + SciPy (:mod:`automatte.infer.closed_form`:
no JIT compilation, the same answer as pymatting's); ``knn`` KNN matting (Chen et al. 2013) and ``lkm``
large-kernel matting (He et al. 2010) are pymatting's (numba: the first call in a fresh install compiles).
"""

from __future__ import annotations

import numpy as np

__all__ = ["CLASSICAL_METHODS", "classical_alpha"]

CLASSICAL_METHODS = ("cf", "knn", "lkm")


def classical_alpha(image: np.ndarray, trimap: np.ndarray, method: str = "cf") -> np.ndarray:
    """Estimate alpha from an image and a trimap with a classical method.

    Args:
        image: (H, W, 3) float in [0, 1].
        trimap: (H, W) float in {0, 0.5, 1}.
        method: one of ``CLASSICAL_METHODS``.

    Returns:
        (H, W) float32 alpha in [0, 1]; known pixels keep the trimap's value.

    Example:
        >>> import numpy as np
        >>> img = np.zeros((16, 16, 3)); img[:, 8:] = 1
        >>> tri = np.zeros((16, 16)); tri[:, 10:] = 1; tri[:, 6:10] = 0.5
        >>> a = classical_alpha(img, tri, "cf")
        >>> bool(a[:, :7].max() < 0.1 and a[:, 9:].min() > 0.9)
        True
    """
    image = np.asarray(image, dtype=np.float64)
    trimap = np.asarray(trimap, dtype=np.float64)
    if image.ndim != 3 or image.shape[2] != 3 or trimap.shape != image.shape[:2]:
        raise ValueError(f"classical_alpha: image {image.shape} and trimap {trimap.shape} do not match")
    fg, bg = trimap >= 1.0, trimap <= 0.0
    if not (trimap[~(fg | bg)]).size:
        return trimap.astype(np.float32)
    if not fg.any() or not bg.any():
        # The solvers need both constraints; with one of them absent the answer is that constant.
        return np.where(fg | bg, trimap, 1.0 if fg.any() else 0.0).astype(np.float32)
    if method == "cf":
        from automatte.infer.closed_form import estimate_alpha_cf

        alpha = estimate_alpha_cf(image, trimap)
    elif method in ("knn", "lkm"):
        try:  # imported lazily: numba-compiled kernels take seconds to load (a minute to compile)
            import pymatting
        except ImportError as exc:  # the light install has no pymatting
            raise ImportError(f"{method} matting needs pymatting: pip install 'automatte[classical]' ({exc})") from exc

        alpha = (
            pymatting.estimate_alpha_knn(image, trimap)
            if method == "knn"
            else pymatting.estimate_alpha_lkm(image, trimap)
        )
    else:
        raise ValueError(f"unknown classical method {method!r}; expected one of {', '.join(CLASSICAL_METHODS)}")
    return np.clip(alpha, 0.0, 1.0).astype(np.float32)
