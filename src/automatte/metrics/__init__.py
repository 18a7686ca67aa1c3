"""Matting metrics (SAD, MSE, MAD, Grad, Conn) under the DIM and AIM protocols, trimap metrics, reports.

Pure numpy / scipy / OpenCV functions on (H, W) arrays; see :mod:`automatte.metrics.matting` for the
two protocols and every quirk they reproduce.

Example:
    >>> import numpy as np
    >>> from automatte.metrics import compute_all
    >>> gt = np.zeros((8, 8)); gt[2:6, 2:6] = 1
    >>> compute_all(gt, gt)["SAD"]
    0.0
"""

from automatte.metrics._inputs import EmptyRegionWarning
from automatte.metrics.matting import (
    AIM_THRESHOLDS,
    DIM_THRESHOLDS,
    METRICS,
    compute_all,
    conn,
    gaussian_gradient_kernel,
    grad,
    mad,
    mse,
    sad,
)
from automatte.metrics.report import Report
from automatte.metrics.trimap import trimap_iou, trimap_miou, trimap_pixel_accuracy

__all__ = [
    "sad",
    "mse",
    "mad",
    "grad",
    "conn",
    "compute_all",
    "METRICS",
    "EmptyRegionWarning",
    "gaussian_gradient_kernel",
    "DIM_THRESHOLDS",
    "AIM_THRESHOLDS",
    "trimap_pixel_accuracy",
    "trimap_iou",
    "trimap_miou",
    "Report",
]
