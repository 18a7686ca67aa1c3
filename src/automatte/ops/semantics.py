"""Unified semantic representation of AIM-Net (Li, Zhang, Tao, IJCAI 2021, Sec. 3.2, eq. 1).

The image type decides what the semantic decoder is asked to predict from the traditional trimap T
(T in {0, 0.5, 1}, made by erosion / dilation of the ground-truth alpha):

* SO (salient opaque, e.g. people, animals): trimap, U = T, values {0 bg, 0.5 transition, 1 fg};
* STM (salient transparent / meticulous, e.g. glass, plastic bag): duomap, U = 1.5T - T^2, values {0, 0.5};
* NS (non-salient, e.g. smoke, grids, raindrops): unimap, U = 0.5 everywhere.

Checking the duomap pixel by pixel: T = 0 -> 0; T = 0.5 -> 0.75 - 0.25 = 0.5; T = 1 -> 1.5 - 1 = 0.5. So it keeps
the background and merges foreground *and* unknown into the transition class, exactly as the paper's text says
("no explicit foreground areas ... the foreground should be marked as a transition area"; "a 2-class map denoting
the background and transition areas"); with Figure 2's legend (white fg, black bg, grey transition) a duomap is
black and grey only. (Only the figure caption survives in our copy of the paper, not the image itself.)

All three live in the same 3-class index space (0 bg, 1 transition, 2 fg; ``index = 2 * U``), so one 3-way
cross-entropy head supervises every type: STM targets never use class 2 and NS targets are all class 1.
"""

from __future__ import annotations

import numpy as np

from automatte.ops.trimap import quantize_trimap, trimap_to_classes

IMAGE_TYPES: tuple[str, ...] = ("SO", "STM", "NS")


def normalize_image_type(image_type: str) -> str:
    """Canonical AIM-500 image type: 'SO', 'STM' or 'NS' (input is case-insensitive, surrounding spaces ignored).

    Args:
        image_type: 'so' | 'stm' | 'ns' in any case.

    Returns:
        The upper-case type.

    Example:
        >>> normalize_image_type("stm")
        'STM'
    """
    if isinstance(image_type, str):
        key = image_type.strip().upper()
        if key in IMAGE_TYPES:
            return key
    raise ValueError(f"image_type must be one of {', '.join(IMAGE_TYPES)} (case-insensitive), got {image_type!r}")


def unified_representation(trimap: np.ndarray, image_type: str) -> np.ndarray:
    """AIM-Net unified semantic representation U of a trimap for an image type (trimap / duomap / unimap).

    Args:
        trimap: (H, W) traditional trimap, float in {0, 0.5, 1} (other values are snapped with
            :func:`~automatte.ops.quantize_trimap`; uint8 {0, 128, 255} is accepted too).
        image_type: 'SO', 'STM' or 'NS', case-insensitive.

    Returns:
        (H, W) float32 map: the trimap for SO, the duomap {0, 0.5} for STM, 0.5 everywhere for NS.

    Example:
        >>> import numpy as np
        >>> t = np.array([[0.0, 0.5, 1.0]], np.float32)
        >>> unified_representation(t, "SO").tolist(), unified_representation(t, "stm").tolist()
        ([[0.0, 0.5, 1.0]], [[0.0, 0.5, 0.5]])
        >>> unified_representation(t, "NS").tolist()
        [[0.5, 0.5, 0.5]]
    """
    kind = normalize_image_type(image_type)
    t = np.asarray(trimap)
    if t.ndim != 2:
        raise ValueError(f"unified_representation: trimap must have shape (H, W), got {t.shape}")
    t = quantize_trimap(t)
    if kind == "SO":
        return t  # AIM eq. 1, SO: U = T
    if kind == "STM":
        return (1.5 * t - t * t).astype(np.float32)  # AIM eq. 1, STM: U = 1.5T - T^2 (duomap)
    return np.full(t.shape, 0.5, dtype=np.float32)  # AIM eq. 1, NS: U = 0.5 (unimap)


def unified_classes(trimap: np.ndarray, image_type: str) -> np.ndarray:
    """Class-index version of :func:`unified_representation` for a 3-class cross-entropy.

    Args:
        trimap: (H, W) traditional trimap in {0, 0.5, 1} (or uint8 {0, 128, 255}).
        image_type: 'SO', 'STM' or 'NS', case-insensitive.

    Returns:
        (H, W) int64 indices: 0 background, 1 transition, 2 foreground (``2 * U``). STM never yields 2; NS is
        all 1.

    Example:
        >>> import numpy as np
        >>> unified_classes(np.array([[0.0, 0.5, 1.0]]), "STM").tolist()
        [[0, 1, 1]]
    """
    return trimap_to_classes(unified_representation(trimap, image_type))
