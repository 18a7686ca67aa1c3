"""Mask metrics against hand-computed values (automatte.metrics.segmentation)."""

from __future__ import annotations

import numpy as np
import pytest

from automatte.metrics.segmentation import boundary_f, iou, mae, mask_boundary


def left(cols: int) -> np.ndarray:
    m = np.zeros((10, 10), bool)
    m[:, :cols] = True
    return m


def test_boundary_is_inner_and_ignores_the_frame():
    b = mask_boundary(left(5))
    assert b.sum() == 10 and b[:, 4].all()  # only column 4: the frame is not an edge


def test_boundary_f_tolerance_hand_computed():
    gt, pred = left(5), left(8)  # edges 3 px apart
    assert boundary_f(pred, gt, tolerance=2) == 0.0
    assert boundary_f(pred, gt, tolerance=3) == 1.0
    blob = left(5)
    blob[0:2, 9] = True  # 2 extra boundary pixels, far from the label's edge
    assert boundary_f(blob, gt, tolerance=2) == pytest.approx(20 / 22)  # P = 10/12, R = 1
    assert boundary_f(gt, blob, tolerance=2) == pytest.approx(20 / 22)  # symmetric


def test_iou_mae_and_empty_conventions():
    gt, pred = left(5), left(8)
    assert iou(pred, gt) == pytest.approx(50 / 80)
    assert mae(pred.astype(float) * 0.5, gt.astype(float)) == pytest.approx((50 * 0.5 + 30 * 0.5) / 100)
    empty = np.zeros((10, 10))
    assert iou(empty, empty) == 1.0 and boundary_f(empty, empty) == 1.0
    assert boundary_f(empty, gt) == 0.0 and iou(empty, gt) == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        iou(np.zeros((3, 3)), np.zeros((3, 4)))
