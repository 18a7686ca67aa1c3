"""Whole-image network passes in NumPy, for networks that take and give arrays (ONNX Runtime) when PyTorch is
absent: the same resizing, padding and cropping as :func:`automatte.infer.highres.predict_whole`, so that the light
install (``pip install automatte``, no PyTorch) and the full one give the same segmenter probability (within about
1e-5: PIL's float resampling is the algorithm of ``F.interpolate(..., antialias=True)``).

Example:
    >>> import numpy as np
    >>> fn = lambda x: x.mean(1, keepdims=True)  # (B, 3, h, w) -> (B, 1, h, w)
    >>> predict_whole_np(fn, np.random.rand(150, 230, 3).astype(np.float32), long_side=64).shape
    (150, 230)
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

__all__ = ["resize_long_side", "resize_antialias", "pad_to_multiple_np", "predict_whole_np"]

ArrayFn = Callable[[np.ndarray], np.ndarray]


def resize_long_side(
    h: int, w: int, long_side: int, multiple: int = 32, allow_upscale: bool = False
) -> tuple[int, int]:
    """Size with the long side scaled to ``long_side``, aspect kept, each side a multiple of ``multiple``.

    Each side is rounded to the nearest multiple (at least ``multiple``), then capped so that the long side
    never exceeds ``long_side`` rounded down to a multiple, nor, unless ``allow_upscale``, the input's long
    side rounded down (sizes below ``multiple`` still become ``multiple``).

    Example:
        >>> resize_long_side(4000, 6000, 640), resize_long_side(150, 230, 1000), resize_long_side(1000, 1000, 500)
        ((416, 640), (160, 224), (480, 480))
    """
    if h < 1 or w < 1 or long_side < 1 or multiple < 1:
        raise ValueError(f"resize_long_side: all sizes must be >= 1, got {(h, w, long_side, multiple)}")
    scale = long_side / max(h, w)
    if not allow_upscale:
        scale = min(scale, 1.0)
    cap = max(multiple, (long_side if allow_upscale else min(long_side, max(h, w))) // multiple * multiple)
    h2, w2 = (min(cap, max(multiple, round(s * scale / multiple) * multiple)) for s in (h, w))
    return h2, w2


def resize_antialias(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) or (H, W, C) float32 resized to ``size`` = (h, w) by the triangle filter widened by the scale when
    shrinking (PIL's BILINEAR; PyTorch's ``F.interpolate(mode="bilinear", antialias=True)``); plain bilinear
    (half-pixel centres) along an axis that grows.

    Example:
        >>> import numpy as np
        >>> resize_antialias(np.arange(16, dtype=np.float32).reshape(4, 4), (2, 2)).astype(float).round(2).tolist()
        [[3.57, 5.14], [9.86, 11.43]]
    """
    from PIL import Image

    h, w = int(size[0]), int(size[1])
    arr = np.asarray(image, np.float32)
    planes = arr[..., None] if arr.ndim == 2 else arr
    out = np.empty((h, w, planes.shape[2]), np.float32)
    for c in range(planes.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(planes[..., c]), mode="F")
        out[..., c] = np.asarray(plane.resize((w, h), Image.Resampling.BILINEAR), np.float32)
    return out[..., 0] if arr.ndim == 2 else out


def pad_to_multiple_np(x: np.ndarray, multiple: int = 32) -> tuple[np.ndarray, tuple[int, int]]:
    """Pad (B, C, H, W) at the bottom and right to multiples of ``multiple`` by reflection (replication where the
    image is too small to reflect), as :func:`automatte.infer.padding.pad_to_multiple`; returns the padded array
    and ``(bottom, right)``.

    Example:
        >>> import numpy as np
        >>> y, pads = pad_to_multiple_np(np.zeros((1, 3, 70, 90), np.float32))
        >>> y.shape, pads
        ((1, 3, 96, 96), (26, 6))
    """
    h, w = x.shape[-2:]
    bottom, right = (-h) % multiple, (-w) % multiple
    if bottom == 0 and right == 0:
        return x, (0, 0)
    mode = "edge" if bottom >= h or right >= w else "reflect"
    return np.pad(x, ((0, 0), (0, 0), (0, bottom), (0, right)), mode=mode), (bottom, right)


def predict_whole_np(
    fn: ArrayFn, image: np.ndarray, *, long_side: int | None = None, upscale: bool = False, flip: bool = False
) -> np.ndarray:
    """Run an array network once on the whole image resized to ``long_side`` (as ``predict_whole``).

    Args:
        fn: ``fn(x) -> alpha``: x (B, 3, h, w) float32 with h, w multiples of 32; alpha (B, 1, h', w').
        image: (H, W, 3) float32 in [0, 1].
        long_side: processing size of the long side (rounded by :func:`resize_long_side`), or None: native size
            (also when ``long_side`` is at least the image's long side, unless ``upscale``).
        upscale: enlarge images whose long side is under ``long_side`` to it.
        flip: also run the mirrored image (test-time augmentation) and return the mean of the two alphas. The
            mirror is taken of the resized image and run in the same batch, and the two are averaged before the
            one resize back: the same mean as two calls on ``image`` and ``image[:, ::-1]`` (resizing and
            mirroring commute; bilinear resizing is linear) for one resize of the photo and one back instead
            of two each (issue 31).

    Returns:
        (H, W) float32 in [0, 1]: the network's alpha resized back bilinearly (no antialiasing, as PyTorch's).
    """
    img = np.asarray(image, np.float32)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3), got shape {img.shape}")
    H, W = img.shape[:2]
    if long_side is None or (long_side >= max(H, W) and not upscale):
        size = (H, W)
    else:
        size = resize_long_side(H, W, long_side, allow_upscale=upscale)
    x = img if size == (H, W) else resize_antialias(img, size)
    batch = [x, x[:, ::-1]] if flip else [x]
    xp, (bottom, right) = pad_to_multiple_np(np.ascontiguousarray(np.stack(batch).transpose(0, 3, 1, 2)), 32)
    alpha = np.asarray(fn(np.ascontiguousarray(xp)), np.float32)
    if alpha.ndim != 4 or alpha.shape[:2] != (len(batch), 1):
        raise ValueError(f"fn must return alpha of shape ({len(batch)}, 1, h, w), got {alpha.shape}")
    crops = []
    for a in alpha[:, 0]:
        if a.shape != xp.shape[-2:]:
            a = cv2.resize(a, (xp.shape[-1], xp.shape[-2]), interpolation=cv2.INTER_LINEAR)
        crops.append(a[: a.shape[0] - bottom, : a.shape[1] - right])
    a = crops[0] if len(crops) == 1 else (crops[0] + crops[1][:, ::-1]) * np.float32(0.5)
    if size != (H, W):
        a = cv2.resize(a, (W, H), interpolation=cv2.INTER_LINEAR)
    return np.clip(a, 0.0, 1.0).astype(np.float32)
