"""Trimap pixel accuracy and IoU against hand-counted arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from automatte.metrics import trimap_iou, trimap_miou, trimap_pixel_accuracy

PRED = np.array([[0, 0, 128, 255], [0, 128, 128, 255]], np.uint8)
GT = np.array([[0, 128, 128, 255], [0, 0, 255, 255]], np.uint8)
# agreement: (0,0) (0,2) (0,3) (1,0) (1,3) = 5 of 8
# background: pred {(0,0) (0,1) (1,0)}, gt {(0,0) (1,0) (1,1)}: 2 / 4
# unknown:    pred {(0,2) (1,1) (1,2)}, gt {(0,1) (0,2)}:       1 / 4
# foreground: pred {(0,3) (1,3)},       gt {(0,3) (1,2) (1,3)}: 2 / 3


def test_pixel_accuracy():
    assert trimap_pixel_accuracy(PRED, GT) == 5 / 8
    assert trimap_pixel_accuracy(GT, GT) == 1.0


def test_iou_and_miou():
    assert trimap_iou(PRED, GT) == pytest.approx({"background": 0.5, "unknown": 0.25, "foreground": 2 / 3})
    assert trimap_miou(PRED, GT) == pytest.approx((0.5 + 0.25 + 2 / 3) / 3)


def test_float_trimaps_give_the_same_numbers():
    as_float = {0: 0.0, 128: 0.5, 255: 1.0}
    pf, gf = np.vectorize(as_float.get)(PRED), np.vectorize(as_float.get)(GT)
    assert trimap_pixel_accuracy(pf, gf) == 5 / 8
    assert trimap_iou(pf, GT) == trimap_iou(PRED, GT)


def test_class_absent_from_both_is_left_out_of_the_mean():
    pred = np.array([[0, 128], [128, 128]], np.uint8)
    gt = np.array([[0, 0], [128, 128]], np.uint8)
    # no foreground anywhere: background 1/2, unknown 2/3, foreground undefined
    iou = trimap_iou(pred, gt)
    assert iou["background"] == 0.5 and iou["unknown"] == pytest.approx(2 / 3) and math.isnan(iou["foreground"])
    assert trimap_miou(pred, gt) == pytest.approx((0.5 + 2 / 3) / 2)
    # a class in one map only counts, with IoU 0
    assert trimap_iou(pred, np.zeros((2, 2), np.uint8))["unknown"] == 0.0


def test_bad_trimaps_raise():
    with pytest.raises(ValueError, match="shape"):
        trimap_pixel_accuracy(PRED, GT[:, :2])
    with pytest.raises(ValueError, match="outside the expected"):
        trimap_iou(PRED, np.full(GT.shape, 7, np.uint8))
