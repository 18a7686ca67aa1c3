"""Alpha compositing, I = alpha * F + (1 - alpha) * B."""

from __future__ import annotations

import numpy as np


def composite(alpha: np.ndarray, foreground: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Composite a foreground over a background with the matting equation I = aF + (1-a)B.

    Args:
        alpha: (H, W) or (H, W, 1) float in [0, 1].
        foreground: (H, W, 3) float in [0, 1].
        background: (H, W, 3) float in [0, 1], same size as ``foreground``.

    Returns:
        (H, W, 3) float32 image in [0, 1].

    Example:
        >>> import numpy as np
        >>> a = np.full((2, 2), 0.25, np.float32)
        >>> float(composite(a, np.ones((2, 2, 3)), np.zeros((2, 2, 3)))[0, 0, 0])
        0.25
    """
    alpha = np.asarray(alpha, dtype=np.float32)
    if alpha.ndim == 3:
        alpha = alpha[..., 0]
    fg = np.asarray(foreground, dtype=np.float32)
    bg = np.asarray(background, dtype=np.float32)
    if fg.shape != bg.shape or fg.shape[:2] != alpha.shape or fg.ndim != 3:
        raise ValueError(
            f"composite: shapes do not match: alpha {alpha.shape}, foreground {fg.shape}, background {bg.shape}"
        )
    a = alpha[..., None]
    return np.clip(a * fg + (1.0 - a) * bg, 0.0, 1.0).astype(np.float32)
