"""Input normalisation shared by the metrics: alphas, trimaps and regions.

Alphas: float in [0, 1] (any float dtype, used as float64), uint8 0..255 (divided by 255 in float64, so
an 8-bit value k becomes exactly the double nearest to k/255), uint16 0..65535 (divided by 65535) or bool.
Trimaps: float {0, 0.5, 1} (0.5 may also be 128/255, the value of an 8-bit trimap divided by 255) or
integer {0, 128, 255}; they become class maps with the constants below.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["EmptyRegionWarning", "BACKGROUND", "UNKNOWN", "FOREGROUND", "as_alpha", "as_trimap_classes"]

BACKGROUND, UNKNOWN, FOREGROUND = 0, 1, 2
REGIONS = ("whole", "unknown", "fg", "bg")
PROTOCOLS = ("dim", "aim")
_TRIMAP_REGION = {"unknown": UNKNOWN, "fg": FOREGROUND, "bg": BACKGROUND}
_RANGE_TOL = 1e-6


class EmptyRegionWarning(UserWarning):
    """A metric was asked for a region without pixels; it returned 0.0 instead of NaN."""


def as_alpha(alpha, what: str = "alpha") -> np.ndarray:
    """An (H, W) alpha as float64 in [0, 1]; raises ValueError naming ``what`` on bad input."""
    a = np.asarray(alpha)
    if a.ndim != 2:
        raise ValueError(f"{what} must be a 2-D (H, W) array, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{what} is empty (shape {a.shape})")
    if a.dtype == np.uint8:
        return np.true_divide(a, 255.0, dtype=np.float64)
    if a.dtype == np.uint16:
        return np.true_divide(a, 65535.0, dtype=np.float64)
    if a.dtype == np.bool_:
        return a.astype(np.float64)
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{what} has dtype {a.dtype}; expected float in [0, 1], uint8 0..255 or uint16")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    lo, hi = float(a.min()), float(a.max())
    if lo < -_RANGE_TOL or hi > 1.0 + _RANGE_TOL:
        hint = " (0..255 floats? divide by 255)" if hi > 1.5 else " (clip it to [0, 1])"
        raise ValueError(f"{what} has values in [{lo:g}, {hi:g}]; expected [0, 1]{hint}")
    return a


def as_trimap_classes(trimap, what: str = "trimap") -> np.ndarray:
    """An (H, W) trimap as uint8 classes BACKGROUND / UNKNOWN / FOREGROUND (0 / 1 / 2)."""
    t = np.asarray(trimap)
    if t.ndim != 2:
        raise ValueError(f"{what} must be a 2-D (H, W) array, got shape {t.shape}")
    if t.size == 0:
        raise ValueError(f"{what} is empty (shape {t.shape})")
    if np.issubdtype(t.dtype, np.integer):
        bg, unknown, fg = t == 0, t == 128, t == 255
    elif np.issubdtype(t.dtype, np.floating):
        if np.any(t > 1.0):  # a float copy of an 8-bit trimap
            bg, unknown, fg = t == 0, t == 128, t == 255
        else:
            bg, fg = t == 0, t == 1
            unknown = (t == 0.5) | (np.abs(t - 128 / 255) < 1e-6)
    else:
        raise ValueError(f"{what} has dtype {t.dtype}; expected float {{0, 0.5, 1}} or uint8 {{0, 128, 255}}")
    valid = bg | unknown | fg
    if not valid.all():
        odd = np.unique(t[~valid])[:5].tolist()
        raise ValueError(
            f"{what} has values {odd} outside the expected {{0, 0.5, 1}} (float) or {{0, 128, 255}} (uint8)"
        )
    classes = np.full(t.shape, UNKNOWN, dtype=np.uint8)
    classes[bg] = BACKGROUND
    classes[fg] = FOREGROUND
    return classes


@dataclass(frozen=True)
class Inputs:
    """Validated metric inputs; ``mask`` is None for the whole image, ``count`` the region's pixels."""

    pred: np.ndarray
    gt: np.ndarray
    classes: np.ndarray | None
    region: str
    mask: np.ndarray | None
    count: int
    protocol: str


def prepare(pred, gt, trimap, region, protocol: str, caller: str) -> Inputs:
    """Validate and normalise the arguments of a metric function."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"{caller}: unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    p, g = as_alpha(pred, "pred"), as_alpha(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"{caller}: pred has shape {p.shape} but gt has shape {g.shape}")
    classes = None
    if trimap is not None:
        classes = as_trimap_classes(trimap)
        if classes.shape != g.shape:
            raise ValueError(f"{caller}: trimap has shape {classes.shape} but gt has shape {g.shape}")
    if isinstance(region, str):
        if region not in REGIONS:
            raise ValueError(
                f"{caller}: unknown region {region!r}; expected one of {', '.join(REGIONS)} or a bool (H, W) mask"
            )
        if region == "whole":
            return Inputs(p, g, classes, "whole", None, p.size, protocol)
        if classes is None:
            raise ValueError(f"{caller}: region={region!r} needs a trimap (got trimap=None)")
        mask = classes == _TRIMAP_REGION[region]
        return Inputs(p, g, classes, region, mask, int(mask.sum()), protocol)
    mask = np.asarray(region)
    if mask.dtype != np.bool_ or mask.shape != g.shape:
        raise ValueError(
            f"{caller}: region must be one of {', '.join(REGIONS)} or a bool mask of shape {g.shape}, "
            f"got an array of dtype {mask.dtype} and shape {mask.shape}"
        )
    return Inputs(p, g, classes, "mask", mask, int(mask.sum()), protocol)


def warn_empty(caller: str, inputs: Inputs) -> None:
    """Warn that ``inputs`` selects no pixels (the metric then returns 0.0)."""
    warnings.warn(f"{caller}: region {inputs.region!r} has no pixels; returning 0.0", EmptyRegionWarning, stacklevel=3)
