"""Fusion of a refiner's alpha with the trimap it was given (two-stage pipelines, NumPy planes).

* :func:`hard_fusion`: replacement. The trimap's known regions keep 0 / 1, the refiner's alpha fills the unknown
  band (the rule every trimap-based refiner result passes through).
* :func:`soft_fusion`: TGN + SPAMattNet (Zhou et al., TCSVT 2023) eq. 15, ``alpha = F + U alpha_hat``, with U a
  feathered unknown band (Gaussian, sigma = a quarter of the band's kernel, at least the band itself) and
  ``F = (1 - U) p`` from the segmenter's probability p: the segmenter's soft edge survives outside the band.
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
    return np.where(trimap == 0.5, alpha, trimap).astype(np.float32)


def soft_fusion(alpha: np.ndarray, trimap: np.ndarray, prob: np.ndarray, band_kernel: int) -> np.ndarray:
    """(H, W) float32 in [0, 1]: ``(1 - U) prob + U alpha`` with U the feathered unknown band (eq. 15).

    Args:
        alpha: (H, W) the refiner's alpha. trimap: (H, W) in {0, 0.5, 1}. prob: (H, W) the segmenter's
            probability. band_kernel: the kernel size the band was made with (sets the feathering).
    """
    band = (trimap == 0.5).astype(np.float32)
    u = np.maximum(cv2.GaussianBlur(band, (0, 0), sigmaX=band_kernel / 4.0), band)
    return np.clip((1.0 - u) * prob + u * alpha, 0.0, 1.0).astype(np.float32)  # eq. 15: F + U alpha_hat
