"""Tests for automatte.ops.semantics: AIM-Net eq. 1 values per image type and its class-index form."""

from __future__ import annotations

import numpy as np
import pytest

from automatte.ops import IMAGE_TYPES, normalize_image_type, unified_classes, unified_representation

TRIMAP = np.array([[0.0, 0.5, 1.0], [1.0, 0.5, 0.0]], np.float32)


@pytest.mark.parametrize(
    "image_type, expected",
    [
        ("SO", [[0.0, 0.5, 1.0], [1.0, 0.5, 0.0]]),  # trimap: U = T
        ("STM", [[0.0, 0.5, 0.5], [0.5, 0.5, 0.0]]),  # duomap: 1.5T - T^2 merges fg into transition
        ("NS", [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]),  # unimap
    ],
)
def test_unified_representation_values(image_type, expected):
    for spelling in (image_type, image_type.lower(), f" {image_type.title()} "):
        u = unified_representation(TRIMAP, spelling)
        assert u.dtype == np.float32 and u.shape == TRIMAP.shape
        assert u.tolist() == expected


def test_duomap_matches_the_formula_on_every_trimap_value():
    t = np.array([[0.0, 0.5, 1.0]], np.float32)
    np.testing.assert_allclose(unified_representation(t, "STM"), 1.5 * t - t**2)


def test_unified_classes_share_one_three_class_space():
    assert unified_classes(TRIMAP, "so").tolist() == [[0, 1, 2], [2, 1, 0]]
    assert unified_classes(TRIMAP, "stm").tolist() == [[0, 1, 1], [1, 1, 0]]
    assert unified_classes(TRIMAP, "ns").tolist() == [[1, 1, 1], [1, 1, 1]]
    assert unified_classes(TRIMAP, "SO").dtype == np.int64


def test_uint8_trimap_is_accepted():
    u8 = np.array([[0, 128, 255]], np.uint8)
    assert unified_representation(u8, "STM").tolist() == [[0.0, 0.5, 0.5]]


def test_image_types():
    assert IMAGE_TYPES == ("SO", "STM", "NS")
    assert normalize_image_type("stm") == "STM"


@pytest.mark.parametrize("bad", ["ST", "salient", "", None, 1])
def test_invalid_image_type_is_a_value_error(bad):
    with pytest.raises(ValueError, match="SO, STM, NS"):
        unified_representation(TRIMAP, bad)


def test_trimap_must_be_2d():
    with pytest.raises(ValueError, match="shape"):
        unified_representation(np.zeros((2, 2, 3)), "SO")
