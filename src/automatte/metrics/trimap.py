"""Trimap segmentation metrics: pixel accuracy and per-class / mean IoU (as in the SPAMatt-TGN paper).

Both maps are (H, W) trimaps, float {0, 0.5, 1} or uint8 {0, 128, 255}, compared as three classes:
background, unknown and foreground. A class absent from both maps has no IoU (NaN in
:func:`trimap_iou`) and is left out of the mean in :func:`trimap_miou`.
"""

from __future__ import annotations

import numpy as np

from automatte.metrics._inputs import BACKGROUND, FOREGROUND, UNKNOWN, as_trimap_classes

__all__ = ["TRIMAP_CLASSES", "trimap_pixel_accuracy", "trimap_iou", "trimap_miou"]

TRIMAP_CLASSES = {"background": BACKGROUND, "unknown": UNKNOWN, "foreground": FOREGROUND}


def _classes(pred_trimap, gt_trimap) -> tuple[np.ndarray, np.ndarray]:
    p, g = as_trimap_classes(pred_trimap, "pred_trimap"), as_trimap_classes(gt_trimap, "gt_trimap")
    if p.shape != g.shape:
        raise ValueError(f"pred_trimap has shape {p.shape} but gt_trimap has shape {g.shape}")
    return p, g


def trimap_pixel_accuracy(pred_trimap, gt_trimap) -> float:
    """Fraction of pixels whose class (background / unknown / foreground) is right.

    Example:
        >>> import numpy as np
        >>> pred = np.array([[0, 128], [255, 255]], np.uint8)
        >>> trimap_pixel_accuracy(pred, np.array([[0, 128], [128, 255]], np.uint8))
        0.75
    """
    p, g = _classes(pred_trimap, gt_trimap)
    return float(np.count_nonzero(p == g) / p.size)


def trimap_iou(pred_trimap, gt_trimap) -> dict[str, float]:
    """Intersection over union of each class: ``{"background": ..., "unknown": ..., "foreground": ...}``.

    A class absent from both maps gets NaN (no IoU is defined); :func:`trimap_miou` skips it.

    Example:
        >>> import numpy as np
        >>> trimap_iou(np.array([[0, 0.5]]), np.array([[0, 0]]))
        {'background': 0.5, 'unknown': 0.0, 'foreground': nan}
    """
    p, g = _classes(pred_trimap, gt_trimap)
    out = {}
    for name, c in TRIMAP_CLASSES.items():
        pc, gc = p == c, g == c
        union = np.count_nonzero(pc | gc)
        out[name] = float(np.count_nonzero(pc & gc) / union) if union else float("nan")
    return out


def trimap_miou(pred_trimap, gt_trimap) -> float:
    """Mean IoU over the classes present in either map.

    Example:
        >>> import numpy as np
        >>> trimap_miou(np.array([[0, 0.5]]), np.array([[0, 0]]))
        0.25
    """
    present = [v for v in trimap_iou(pred_trimap, gt_trimap).values() if not np.isnan(v)]
    return float(np.mean(present))
