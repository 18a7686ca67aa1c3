"""Mask metrics of a matte against a binary (coarse) label: IoU, boundary F-measure, MAE.

The real photos of ``../shared/data/coarse`` have binary masks, not alpha mattes, so the pipeline's matte is
judged as a segmentation there: ``iou`` of the matte thresholded at 0.5, ``boundary_f`` (the contour accuracy
of Perazzi et al., CVPR 2016, DAVIS: a 1-px boundary of each mask, precision = share of predicted boundary
pixels within ``tolerance`` px of a label boundary pixel, recall the other way round, F = 2PR / (P + R), with
the Euclidean distance transform) and ``mae`` of the soft matte against the {0, 1} label.

Conventions: two empty masks give IoU 1 and F 1; one empty boundary against a non-empty one gives F 0.

Example:
    >>> import numpy as np
    >>> gt = np.zeros((10, 10)); gt[2:8, 2:8] = 1
    >>> pred = np.zeros((10, 10)); pred[2:8, 3:8] = 1
    >>> round(iou(pred, gt), 4), round(boundary_f(pred, gt, tolerance=1), 4), round(mae(pred, gt), 4)
    (0.8333, 1.0, 0.06)
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["iou", "boundary_f", "mae", "mask_boundary"]


def _binary(x: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"expected an (H, W) map, got shape {x.shape}")
    return x >= threshold if x.dtype != bool else x


def iou(pred: np.ndarray, gt: np.ndarray, threshold: float = 0.5) -> float:
    """|P ∩ G| / |P ∪ G| of the maps thresholded at ``threshold`` (1.0 when both are empty)."""
    p, g = _binary(pred, threshold), _binary(gt, threshold)
    if p.shape != g.shape:
        raise ValueError(f"shapes differ: prediction {p.shape}, label {g.shape}")
    union = np.logical_or(p, g).sum()
    return 1.0 if union == 0 else float(np.logical_and(p, g).sum() / union)


def mask_boundary(mask: np.ndarray) -> np.ndarray:
    """The 1-px inner boundary of a binary mask: mask pixels with a 4-neighbour outside it (the image frame
    is not a boundary)."""
    m = _binary(mask)
    eroded = ndimage.binary_erosion(m, structure=ndimage.generate_binary_structure(2, 1), border_value=1)
    return m & ~eroded


def boundary_f(pred: np.ndarray, gt: np.ndarray, tolerance: float = 2.0, threshold: float = 0.5) -> float:
    """Boundary F-measure (module docstring) with a match distance of ``tolerance`` pixels (Euclidean)."""
    p, g = _binary(pred, threshold), _binary(gt, threshold)
    if p.shape != g.shape:
        raise ValueError(f"shapes differ: prediction {p.shape}, label {g.shape}")
    bp, bg = mask_boundary(p), mask_boundary(g)
    if not bp.any() and not bg.any():
        return 1.0
    if not bp.any() or not bg.any():
        return 0.0
    dist_to_g = ndimage.distance_transform_edt(~bg)
    dist_to_p = ndimage.distance_transform_edt(~bp)
    precision = float((dist_to_g[bp] <= tolerance).mean())
    recall = float((dist_to_p[bg] <= tolerance).mean())
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def mae(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean absolute difference of the soft prediction and the label (both in [0, 1])."""
    p, g = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if p.shape != g.shape:
        raise ValueError(f"shapes differ: prediction {p.shape}, label {g.shape}")
    return float(np.abs(p - g).mean())
