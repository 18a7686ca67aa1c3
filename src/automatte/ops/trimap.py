"""Trimaps: from an alpha matte by erosion / dilation, and from binary or coarse masks.

Trimap convention (STYLE tensor contract): float32 (H, W) with 0 = background, 0.5 = unknown, 1 = foreground.
"""

from __future__ import annotations

import cv2
import numpy as np


def _ellipse(kernel_size: int) -> np.ndarray:
    if kernel_size < 1:
        raise ValueError(f"kernel_size must be >= 1, got {kernel_size}")
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel_size, kernel_size))


def trimap_from_alpha(alpha: np.ndarray, kernel_size: int = 15, iterations: int = 1) -> np.ndarray:
    """Trimap from a ground-truth alpha: fg = eroded(alpha == 1), bg = eroded(alpha == 0), the rest unknown.

    Args:
        alpha: (H, W) float in [0, 1].
        kernel_size: side of the elliptical structuring element (the papers use 15x15, 30x30, or random k).
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
    alpha = np.asarray(alpha, dtype=np.float32)
    if alpha.ndim != 2:
        raise ValueError(f"alpha must be (H, W), got shape {alpha.shape}")
    kernel = _ellipse(kernel_size)
    fg = (alpha >= 1.0 - 1e-6).astype(np.uint8)
    bg = (alpha <= 1e-6).astype(np.uint8)
    fg = cv2.erode(fg, kernel, iterations=iterations, borderType=cv2.BORDER_REPLICATE)
    bg = cv2.erode(bg, kernel, iterations=iterations, borderType=cv2.BORDER_REPLICATE)
    trimap = np.full(alpha.shape, 0.5, dtype=np.float32)
    trimap[fg.astype(bool)] = 1.0
    trimap[bg.astype(bool)] = 0.0
    return trimap
