"""Robust image reading and atomic writing.

Errors are one line, naming the file and the problem (``ImageError`` is a ``ValueError``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

__all__ = ["ImageError", "atomic_write", "write_image", "write_alpha"]


class ImageError(ValueError):
    """An image file that cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path`` (atomic on POSIX).

    If the block raises, or the process dies, ``path`` is untouched and the temporary file is removed
    (or left as a hidden ``.tmp`` file that never carries the final name).

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> with atomic_write(d / "x.txt") as tmp:
        ...     _ = tmp.write_text("done")
        >>> (d / "x.txt").read_text()
        'done'
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsError(f"{path}: exists (use overwrite to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _to_uint(array: np.ndarray, bits: int) -> np.ndarray:
    array = np.asarray(array)
    top = (1 << bits) - 1
    dtype = np.uint8 if bits == 8 else np.uint16
    if array.dtype == dtype:
        return array
    if np.issubdtype(array.dtype, np.floating):
        return np.round(np.clip(array, 0.0, 1.0) * top).astype(dtype)
    if array.dtype == np.bool_:
        return (array.astype(dtype) * top).astype(dtype)
    if array.dtype == np.uint8 and bits == 16:
        return array.astype(np.uint16) * 257
    raise ValueError(f"cannot write an array of dtype {array.dtype} as a {bits}-bit image")


def write_image(
    path: str | os.PathLike, image: np.ndarray, *, bits: int = 8, quality: int = 95, overwrite: bool = True
) -> Path:
    """Write an image atomically; the format follows the suffix (png, jpg, webp, tif, bmp).

    Args:
        path: output file.
        image: (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA; float in [0, 1], uint8 or bool.
        bits: 8, or 16 (PNG and TIFF only).
        quality: JPEG / WebP quality.
        overwrite: if False, an existing file raises FileExistsError.

    Returns:
        The written path.
    """
    path = Path(path)
    if bits not in (8, 16):
        raise ValueError(f"{path}: bits must be 8 or 16, got {bits}")
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ValueError(f"{path}: cannot write an array of shape {arr.shape} as an image")
    suffix = path.suffix.lower()
    if bits == 16 and suffix not in (".png", ".tif", ".tiff"):
        raise ValueError(f"{path}: 16-bit output needs .png or .tif, not {suffix!r}")
    data = _to_uint(arr, bits)
    params: dict = {}
    if suffix in (".jpg", ".jpeg"):
        if data.ndim == 3 and data.shape[2] == 4:
            raise ValueError(f"{path}: JPEG has no alpha channel; write RGBA as .png or .webp")
        params = {"quality": quality}
    elif suffix == ".webp":
        params = {"quality": quality}
    elif suffix not in (".png", ".tif", ".tiff", ".bmp"):
        raise ValueError(f"{path}: unsupported output format {suffix!r} (png, jpg, webp, tif, bmp)")
    if bits == 16:
        import cv2  # Pillow cannot write 16-bit RGB; OpenCV can (BGR order).

        out = data if data.ndim == 2 else cv2.cvtColor(data, cv2.COLOR_RGB2BGR if data.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
        with atomic_write(path, overwrite=overwrite) as tmp:
            if not cv2.imwrite(str(tmp), out):
                raise ImageError(path, "OpenCV could not write the 16-bit image")
        return path
    pil = Image.fromarray(data)
    with atomic_write(path, overwrite=overwrite) as tmp:
        fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP"}[suffix]
        pil.save(tmp, format=fmt, **params)
    return path


def write_alpha(path: str | os.PathLike, alpha: np.ndarray, *, bits: int = 8, overwrite: bool = True) -> Path:
    """Write an alpha matte (H, W) float in [0, 1] as a grey PNG (8- or 16-bit), atomically."""
    alpha = np.asarray(alpha)
    if alpha.ndim == 3 and alpha.shape[2] == 1:
        alpha = alpha[..., 0]
    if alpha.ndim != 2:
        raise ValueError(f"{path}: an alpha matte must be (H, W), got shape {alpha.shape}")
    return write_image(path, alpha, bits=bits, overwrite=overwrite)
