"""Argument checks and small helpers shared by the ``automatte.ops`` modules (private)."""

from __future__ import annotations

from typing import Union

import cv2
import numpy as np

RngLike = Union[np.random.Generator, int, np.integer]

_TOL = 1e-6


def as_rng(rng: RngLike, where: str) -> np.random.Generator:
    """Return ``rng`` if it is a Generator, or a new Generator seeded with the int ``rng``.

    ``None`` is refused on purpose: every random op in ``automatte.ops`` must be reproducible.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ValueError(f"{where}: rng must be a numpy.random.Generator or an int seed, got {type(rng).__name__}")


def check_unit_range(x: np.ndarray, name: str, where: str) -> None:
    """Raise ValueError unless every value of ``x`` is in [0, 1] (NaN fails too)."""
    if x.size == 0:
        raise ValueError(f"{where}: {name} is empty (shape {x.shape})")
    lo, hi = float(np.min(x)), float(np.max(x))
    if not (lo >= -_TOL and hi <= 1.0 + _TOL):
        raise ValueError(
            f"{where}: {name} must be float in [0, 1], got values in [{lo:g}, {hi:g}]"
            + (" (divide 8-bit data by 255 first)" if hi > 1.0 else "")
        )


def as_alpha(alpha: np.ndarray, where: str, name: str = "alpha") -> np.ndarray:
    """Validate an (H, W) or (H, W, 1) matte in [0, 1]; return it as (H, W) float32."""
    a = np.asarray(alpha)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim != 2:
        raise ValueError(f"{where}: {name} must have shape (H, W), got {a.shape}")
    if not (np.issubdtype(a.dtype, np.floating) or a.dtype == bool):
        raise ValueError(f"{where}: {name} must be float in [0, 1], got dtype {a.dtype} (divide 8-bit data by 255)")
    a = a.astype(np.float32, copy=False)
    check_unit_range(a, name, where)
    return a


def as_image(image: np.ndarray, where: str) -> np.ndarray:
    """Validate an (H, W, 3) float image in [0, 1]; return it as float32."""
    im = np.asarray(image)
    if im.ndim != 3 or im.shape[2] != 3:
        raise ValueError(f"{where}: image must have shape (H, W, 3), got {im.shape}")
    if not np.issubdtype(im.dtype, np.floating):
        raise ValueError(f"{where}: image must be float in [0, 1], got dtype {im.dtype} (divide 8-bit data by 255)")
    im = im.astype(np.float32, copy=False)
    check_unit_range(im, "image", where)
    return im


def binarize_mask(mask: np.ndarray, threshold: float, where: str) -> np.ndarray:
    """(H, W) mask -> uint8 {0, 1}: bool as is, integers ``!= 0``, floats in [0, 1] ``>= threshold``."""
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[..., 0]
    if m.ndim != 2:
        raise ValueError(f"{where}: mask must have shape (H, W), got {m.shape}")
    if m.dtype == bool:
        return m.astype(np.uint8)
    if np.issubdtype(m.dtype, np.integer):
        return (m != 0).astype(np.uint8)
    if not np.issubdtype(m.dtype, np.floating):
        raise ValueError(f"{where}: mask must be bool, integer or float, got dtype {m.dtype}")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"{where}: threshold must be in (0, 1], got {threshold}")
    check_unit_range(m, "mask", where)
    return (m >= threshold).astype(np.uint8)


def check_kernel_size(kernel_size: int, where: str, name: str = "kernel_size") -> int:
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, (int, np.integer)) or kernel_size < 1:
        raise ValueError(f"{where}: {name} must be an int >= 1, got {kernel_size!r}")
    return int(kernel_size)


def check_k_range(k_range: tuple[int, int], where: str, name: str = "k_range") -> tuple[int, int]:
    """Validate an inclusive (low, high) kernel-size range with 1 <= low <= high."""
    try:
        lo, hi = k_range
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {name} must be a pair (low, high), got {k_range!r}") from None
    lo = check_kernel_size(lo, where, f"{name}[0]")
    hi = check_kernel_size(hi, where, f"{name}[1]")
    if lo > hi:
        raise ValueError(f"{where}: {name} must have low <= high, got {k_range!r}")
    return lo, hi


def ellipse(kernel_size: int) -> np.ndarray:
    """Elliptical structuring element of side ``kernel_size`` (OpenCV anchor: the centre, k // 2)."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel_size, kernel_size))


def erode(mask_u8: np.ndarray, kernel_size: int, iterations: int = 1) -> np.ndarray:
    return cv2.erode(mask_u8, ellipse(kernel_size), iterations=iterations, borderType=cv2.BORDER_REPLICATE)


def dilate(mask_u8: np.ndarray, kernel_size: int, iterations: int = 1) -> np.ndarray:
    return cv2.dilate(mask_u8, ellipse(kernel_size), iterations=iterations, borderType=cv2.BORDER_REPLICATE)
