"""Fusion of a refiner's alpha with the trimap it was given (two-stage pipelines, NumPy planes), by the two rules
of :mod:`automatte.models.fusion` (defined there once):

* :func:`hard_fusion`: replacement. The trimap's known regions keep 0 / 1, the refiner's alpha fills the unknown
  band (the rule every trimap-based refiner result passes through).
* :func:`soft_fusion`: TGN + SPAMattNet eq. 15, ``alpha = F + U alpha_hat``, applied to a feathered unknown band U
  (Gaussian, sigma = a quarter of the band's kernel, at least the band itself) and ``F = (1 - U) p`` from the
  segmenter's probability p (the class probabilities of eq. 13-14 built from the band instead of a TGN): the
  segmenter's soft edge survives outside the band.

Both are written here in NumPy (the light install has no PyTorch), term for term as the rules of
:mod:`automatte.models.fusion`; ``tests/test_light_install.py`` checks that they give the same planes.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["hard_fusion", "soft_fusion"]


def hard_fusion(alpha: np.ndarray, trimap: np.ndarray) -> np.ndarray:
    """(H, W) float32: ``alpha`` inside the trimap's unknown band (0.5), the trimap's 0 / 1 elsewhere.

    Example:
        >>> import numpy as np
        >>> hard_fusion(np.full((1, 3), 0.3), np.array([[0.0, 0.5, 1.0]])).tolist()
        [[0.0, 0.30000001192092896, 1.0]]
    """
    t = np.asarray(trimap, np.float32)
    a = np.asarray(alpha, np.float32)
    # the one-hot (bg, transition, fg) classes' argmax: a value that is none of 0 / 0.5 / 1 falls to background
    fused = (t == 1.0).astype(np.float32) + (t == 0.5).astype(np.float32) * a
    return fused.astype(np.float32)


def soft_fusion(alpha: np.ndarray, trimap: np.ndarray, prob: np.ndarray, band_kernel: int) -> np.ndarray:
    """(H, W) float32 in [0, 1]: ``(1 - U) prob + U alpha`` with U the feathered unknown band (eq. 15).

    Args:
        alpha: (H, W) the refiner's alpha. trimap: (H, W) in {0, 0.5, 1}. prob: (H, W) the segmenter's
            probability. band_kernel: the kernel size the band was made with (sets the feathering).

    Example:
        >>> import numpy as np
        >>> t = np.array([[0.0, 0.5, 1.0]], np.float32)
        >>> [round(float(v), 2) for v in soft_fusion(np.full((1, 3), 0.3), t, np.array([[0.1, 0.5, 0.9]]), 1)[0]]
        [0.1, 0.3, 0.9]
    """
    band = (np.asarray(trimap) == 0.5).astype(np.float32)
    u = np.maximum(cv2.GaussianBlur(band, (0, 0), sigmaX=max(band_kernel, 1) / 4.0), band)
    p = np.asarray(prob, np.float32)
    fg = (1 - u) * p  # F of eq. 13-14 from the band (B = (1 - u) (1 - p) does not enter eq. 15)
    fused = fg + u * np.asarray(alpha, np.float32)  # eq. 15: F + U alpha_hat
    return np.clip(fused, 0.0, 1.0).astype(np.float32)
