"""Inputs of the engine: images (path, bytes, PIL, array) as float RGB, user trimaps / masks, backgrounds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

__all__ = ["as_image", "as_map", "parse_background"]


def as_image(image: Any, name: str | None = None) -> np.ndarray:
    """(H, W, 3) float32 RGB in [0, 1] from a path, bytes, PIL image or array (uint8, uint16, float, grey, RGBA)."""
    from automatte.io import read_image

    if isinstance(image, (str, os.PathLike, bytes, bytearray)) or hasattr(image, "read"):
        return read_image(image if not isinstance(image, bytearray) else bytes(image), name=name).astype(np.float32)
    if hasattr(image, "convert") and hasattr(image, "size"):  # PIL
        image = np.asarray(image.convert("RGB"))
    arr = np.asarray(image)
    label = name or "image"
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or min(arr.shape[:2]) < 1:
        raise ValueError(f"{label}: expected an (H, W, 3) image, got shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    arr = arr[..., :3]
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{label}: unsupported dtype {arr.dtype} (expected uint8, uint16 or float in [0, 1])")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all() or arr.min() < -1e-3 or arr.max() > 1 + 1e-3:
        raise ValueError(f"{label}: float images must be finite and in [0, 1]")
    return np.clip(arr, 0.0, 1.0)


def as_map(value: Any, shape: tuple[int, int] | None, kind: str) -> np.ndarray:
    """A user trimap ({0, 0.5, 1}) or mask ([0, 1]) as (H, W) float32 at the image's size."""
    from automatte.io import read_alpha, read_trimap
    from automatte.ops.trimap import quantize_trimap

    if isinstance(value, (str, os.PathLike, bytes)):
        arr = read_trimap(value) if kind == "trimap" else read_alpha(value)
        label = str(value) if not isinstance(value, bytes) else f"<{kind}>"
    else:
        arr, label = np.asarray(value), kind
        if arr.ndim == 3:
            arr = arr[..., 0]
        if arr.dtype == np.uint8:
            arr = arr.astype(np.float32) / 255.0
        elif arr.dtype == bool:
            arr = arr.astype(np.float32)
        arr = arr.astype(np.float32)
        if arr.ndim != 2 or not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
            raise ValueError(f"{kind}: expected an (H, W) map in [0, 1], got shape {arr.shape}")
        if kind == "trimap":
            arr = quantize_trimap(arr)
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{label}: {kind} is {arr.shape[1]}x{arr.shape[0]} but the image is {shape[1]}x{shape[0]}")
    return arr.astype(np.float32)


_COLOURS = {"green": (0, 177, 64)}  # chroma-key green; other names follow PIL's ImageColor


def parse_background(background: Any, shape: tuple[int, int], image: np.ndarray | None = None) -> np.ndarray:
    """A background as (H, W, 3) float32 in [0, 1] for :meth:`Matte.composite`.

    ``background``: a colour (name, ``"#rrggbb"``, ``"rgb(r,g,b)"``, an (r, g, b) tuple of 0-255 ints or 0-1
    floats), ``"blur"`` (the photo itself, strongly blurred: a portrait-mode look), ``"checker"`` (the
    transparency checkerboard), or an image (path or array) fitted to cover the frame (scaled, centre-cropped).
    """
    h, w = shape
    if isinstance(background, str) and background.lower() == "blur":
        if image is None:
            raise ValueError("background 'blur' needs the image")
        sigma = max(h, w) / 60.0
        return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
    if isinstance(background, str) and background.lower() == "checker":
        cell = max(8, max(h, w) // 64)
        yy, xx = np.mgrid[0:h, 0:w]
        board = (((yy // cell) + (xx // cell)) % 2).astype(np.float32) * 0.2 + 0.7
        return np.repeat(board[..., None], 3, axis=2)
    if isinstance(background, str) and not Path(background).suffix:
        from PIL import ImageColor

        try:
            rgb = _COLOURS.get(background.lower()) or ImageColor.getrgb(background)[:3]
        except ValueError:
            raise ValueError(
                f"background {background!r}: not a colour name, #rrggbb, 'blur', 'checker' or an image file"
            ) from None
        return np.broadcast_to(np.asarray(rgb, np.float32) / 255.0, (h, w, 3)).copy()
    if isinstance(background, (tuple, list)) and len(background) == 3:
        rgb = np.asarray(background, np.float32)
        rgb = rgb / 255.0 if rgb.max() > 1 else rgb
        return np.broadcast_to(np.clip(rgb, 0, 1), (h, w, 3)).copy()
    bg = as_image(background, name=str(background) if isinstance(background, (str, os.PathLike)) else None)
    bh, bw = bg.shape[:2]
    scale = max(h / bh, w / bw)  # cover the frame
    nh, nw = max(h, round(bh * scale)), max(w, round(bw * scale))
    bg = cv2.resize(bg, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    y0, x0 = (nh - h) // 2, (nw - w) // 2
    return np.ascontiguousarray(bg[y0 : y0 + h, x0 : x0 + w])
