"""Robust image reading and atomic writing.

Every reader returns float32 arrays in [0, 1] following the tensor contract of the package (image RGB,
alpha and trimap without a channel axis) and every problem with a file is a one-line ``ImageError`` (a
``ValueError``) whose message starts with the file name. Decisions taken here:

* Formats: PNG, JPEG (MPO included), WebP, TIFF, BMP and GIF, decoded by Pillow with ``formats=`` restricted
  to those, so a text file named ``.png`` is "not a recognised image". Multi-frame files (animated GIF,
  WebP, multi-page TIFF) give their first frame.
* Bit depth: 8-bit data is divided by 255 and 16-bit data by 65535. Pillow reads 16-bit grey losslessly
  (mode ``I;16``) but reduces 16-bit colour PNG/TIFF to 8 bits, so for 16-bit colour the samples come from
  ``cv2.imdecode(..., IMREAD_UNCHANGED)`` (BGR order, converted) after Pillow has validated the file and
  read its metadata (such files are decoded twice; they are rare).
* EXIF orientation is applied (values 1-8, including XMP orientation as Pillow reports it), with numpy
  flips so that 8- and 16-bit paths agree with ``PIL.ImageOps.exif_transpose``. Colour profiles are not
  applied: values are returned as stored. CMYK JPEGs (Adobe-inverted or not) are converted by Pillow.
* Pixel guard: ``DEFAULT_MAX_PIXELS`` = 178,956,970 (about 179 MP, 13,377 x 13,377), the size at which
  Pillow itself refuses to decode (twice its ``MAX_IMAGE_PIXELS`` warning level). It passes every camera
  up to 150 MP medium format while bounding one float32 RGB result to about 2.1 GB. The guard reads only
  the header, so an oversized file fails before any pixel is decoded. Pillow's own
  ``DecompressionBombWarning`` is silenced (this guard is the one that applies) and its
  ``DecompressionBombError`` becomes an ``ImageError``.
* Truncation: pixels are decoded eagerly (``Image.load``), so a JPEG or PNG cut short raises
  "truncated or corrupt image data" instead of being grey-filled. This relies on Pillow's global
  ``ImageFile.LOAD_TRUNCATED_IMAGES`` being False (its default); a program that sets it True has asked
  Pillow to fill truncated files and that choice is respected.
* Alpha files (``read_alpha``): grey is used as is. A file with an alpha channel that is not fully opaque
  is taken to be a cutout and its alpha channel is the matte; otherwise the colour channels are used and
  must be grey (R, G and B within ``GREY_TOLERANCE`` of each other, to survive JPEG), or the file is
  refused as "colour (channels differ)".
* Trimaps (``read_trimap``): levels within ``tolerance`` (default 16 of 255) of 0 / 128 / 255 snap to
  0 / 0.5 / 1, which absorbs JPEG noise and the common 127 for unknown. Other levels become unknown (0.5)
  with an ``ImageWarning`` naming the file and the pixel count, or raise with ``strict=True``.
* Writers are atomic: a hidden temporary file next to the destination (created with the usual umask
  permissions), renamed onto it only when complete; on any error the destination is untouched and the
  temporary file is removed. ``overwrite=False`` refuses an existing destination without a race.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import struct
import warnings
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "GREY_TOLERANCE",
    "IMAGE_EXTENSIONS",
    "ImageError",
    "ImageNotFoundError",
    "ImageWarning",
    "atomic_write",
    "encode_png",
    "list_images",
    "read_alpha",
    "read_image",
    "read_trimap",
    "write_alpha",
    "write_image",
]

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif")
"""Lower-case suffixes that ``list_images`` picks up (compared case-insensitively)."""

DEFAULT_MAX_PIXELS = 178_956_970
"""Largest width x height that the readers decode by default (Pillow's own hard limit, about 179 MP)."""

GREY_TOLERANCE = 2 / 255
"""Largest difference between R, G and B for which an alpha file still counts as grey (JPEG rounding)."""

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]

_PIL_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")  # JPEG also opens MPO (multi-picture) files
_NOT_AN_IMAGE = "not a recognised image (PNG/JPEG/WebP/TIFF/BMP/GIF)"
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, struct.error, zlib.error)
_GREY16_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


class ImageError(ValueError):
    """An image file that cannot be used; the message names the file and the problem, on one line."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = " ".join(str(problem).split())
        super().__init__(f"{self.path}: {self.problem}")


class ImageNotFoundError(ImageError, FileNotFoundError):
    """A missing image file; both an ``ImageError`` and a ``FileNotFoundError``."""


class ImageWarning(UserWarning):
    """A file that was read, but with a repair the caller should know about (e.g. off-grid trimap values)."""


# --------------------------------------------------------------------------------------------- listing


def list_images(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """List the image files of a folder, sorted by path.

    A file counts when its suffix is in ``IMAGE_EXTENSIONS`` (any case). Hidden files and folders (name
    starting with ".") are skipped: they are editor, macOS ``._*`` or unfinished ``atomic_write`` files.

    Args:
        folder: the folder to list.
        recursive: also list sub-folders.

    Returns:
        The image paths (each ``folder / relative``), sorted.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        NotADirectoryError: ``folder`` is a file.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "b.PNG").write_bytes(b""), (d / "a.jpg").write_bytes(b""), (d / "c.txt").write_bytes(b"")
        >>> [p.name for p in list_images(d)]
        ['a.jpg', 'b.PNG']
    """
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: not a folder")
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    found = []
    for path in candidates:
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file():
            found.append(path)
    return sorted(found)


# --------------------------------------------------------------------------------------------- reading


def _read_source(source: Source, name: str | None) -> tuple[bytes, str]:
    """Return the encoded bytes of ``source`` and the name to use in messages."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = name if name is not None else str(path)
        if path.is_dir():
            raise ImageError(label, "is a directory, not an image file")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ImageNotFoundError(label, "no such file") from None
        except OSError as exc:
            raise ImageError(label, f"cannot read the file ({exc.strerror or exc})") from None
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data, label = bytes(source), name if name is not None else "<bytes>"
    elif hasattr(source, "read"):
        file_name = getattr(source, "name", None)
        label = name if name is not None else (file_name if isinstance(file_name, str) else "<bytes>")
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"{label}: the file object must be opened in binary mode")
        data = bytes(data)
    else:
        raise TypeError(f"an image source must be a path, bytes or a binary file object, not {type(source).__name__}")
    if not data:
        raise ImageError(label, "empty file")
    return data, label


def _bit_depth(im: Image.Image, data: bytes) -> int:
    """Bits per sample stored in the file header (only PNG and TIFF can hold 16)."""
    if im.format == "PNG" and len(data) > 24:
        return data[24]  # IHDR bit depth: 8-byte signature, 4-byte length, "IHDR", width, height, depth.
    if im.format == "TIFF":
        bits = getattr(im, "tag_v2", {}).get(258, 8)  # BitsPerSample, one value per sample.
        return max(bits) if isinstance(bits, tuple) else int(bits)
    return 8


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an (H, W) or (H, W, C) array, like ``ImageOps.exif_transpose``."""
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:
        return array.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(array, k=-1)
    if orientation == 7:
        return array.swapaxes(0, 1)[::-1, ::-1]
    if orientation == 8:
        return np.rot90(array, k=1)
    return array


def _pillow_channels(im: Image.Image, label: str) -> np.ndarray:
    """Pixels of a loaded 8-bit (or 16-bit grey) Pillow image as (H, W, C) float32 in [0, 1], C in 1..4."""
    mode = im.mode
    transparent = "transparency" in im.info
    if mode in _GREY16_MODES:
        array = np.asarray(im).astype(np.float32) / np.float32(65535)
        return array[..., None]
    if mode == "P":
        palette_alpha = im.palette is not None and im.palette.mode.endswith("A")
        im = im.convert("RGBA" if transparent or palette_alpha else "RGB")
    elif mode in ("1", "L"):
        im = im.convert("LA" if transparent else "L")
    elif mode in ("LA", "La"):
        im = im.convert("LA")
    elif mode in ("PA", "RGBA", "RGBa"):
        im = im.convert("RGBA")
    elif mode in ("RGB", "RGBX", "YCbCr", "CMYK"):
        im = im.convert("RGBA" if transparent and mode == "RGB" else "RGB")
    else:
        raise ImageError(
            label, f"unsupported pixel mode {mode!r}; expected 8- or 16-bit grey, RGB, RGBA, palette or CMYK"
        )
    array = np.asarray(im).astype(np.float32) / np.float32(255)
    return array[..., None] if array.ndim == 2 else array


def _cv2_channels(data: bytes, label: str) -> np.ndarray:
    """Pixels of a 16-bit colour PNG/TIFF as (H, W, C) float32 in [0, 1], RGB(A) order."""
    import cv2

    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None or array.dtype != np.uint16:
        raise ImageError(label, "truncated or corrupt image data: OpenCV could not decode the 16-bit pixels")
    if array.ndim == 3 and array.shape[2] >= 3:
        array = array[..., [2, 1, 0, 3][: array.shape[2]]]  # BGR(A) -> RGB(A)
    array = array.astype(np.float32) / np.float32(65535)
    return array[..., None] if array.ndim == 2 else array


def _decode(source: Source, name: str | None, max_pixels: int | None) -> tuple[np.ndarray, str]:
    """Decode ``source`` to its own channels: (H, W, C) float32 in [0, 1], C = 1 grey, 2 grey+alpha, 3, 4."""
    if max_pixels is not None and (not isinstance(max_pixels, (int, np.integer)) or max_pixels < 1):
        raise ValueError(f"max_pixels must be a positive integer or None, got {max_pixels!r}")
    data, label = _read_source(source, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=_PIL_FORMATS)
        except Image.UnidentifiedImageError:
            raise ImageError(label, _NOT_AN_IMAGE) from None
        except Image.DecompressionBombError as exc:
            raise ImageError(label, f"{exc} (Pillow's limit; raise PIL.Image.MAX_IMAGE_PIXELS to read it)") from None
        except _DECODE_ERRORS as exc:
            raise ImageError(label, f"corrupt image header: {exc}") from None
    with im:
        width, height = im.size
        if max_pixels is not None and width * height > max_pixels:
            raise ImageError(
                label,
                f"has {width} x {height} = {width * height:,} pixels, over the limit of {max_pixels:,} (max_pixels)",
            )
        try:
            im.load()
            orientation = im.getexif().get(0x0112, 1)
            bits = _bit_depth(im, data)
            if bits == 16 and im.mode not in _GREY16_MODES:
                array = _cv2_channels(data, label)
            elif bits not in (1, 2, 4, 8, 16) or (bits != 16 and im.mode in _GREY16_MODES):
                raise ImageError(label, f"unsupported {bits}-bit {im.mode!r} data; expected 8- or 16-bit samples")
            else:
                array = _pillow_channels(im, label)
        except ImageError:
            raise
        except _DECODE_ERRORS as exc:
            raise ImageError(label, f"truncated or corrupt image data: {exc}") from None
    return np.ascontiguousarray(_orient(array, orientation)), label


def read_image(
    source: Source, *, max_pixels: int | None = DEFAULT_MAX_PIXELS, keep_alpha: bool = False, name: str | None = None
) -> np.ndarray:
    """Read a PNG, JPEG, WebP, TIFF or BMP image as float RGB (or RGBA) in [0, 1].

    8-bit data is divided by 255 and 16-bit data by 65535 (precision kept). Grey, grey+alpha, palette
    (with transparency), 1-bit and CMYK images are converted to RGB; EXIF orientation is applied.

    Args:
        source: a path, the encoded bytes, or a binary file object.
        max_pixels: refuse images with more than this many pixels (width x height), checked on the header
            before decoding; None disables the guard (Pillow's own limit still applies).
        keep_alpha: return RGBA; images without alpha get an opaque channel. Otherwise an alpha channel
            is dropped (colours are returned as stored, not composited).
        name: the name used in error messages; defaults to the path, the file object's ``name`` or
            ``"<bytes>"``.

    Returns:
        (H, W, 3) float32 RGB, or (H, W, 4) RGBA with ``keep_alpha``, C-contiguous.

    Raises:
        ImageNotFoundError: no such file (also a ``FileNotFoundError``).
        ImageError: a directory, an empty file, not an image, truncated or corrupt data, an unsupported
            pixel mode, or more than ``max_pixels`` pixels.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "grey.png"
        >>> _ = write_image(path, np.full((4, 6), 0.5, np.float32))
        >>> image = read_image(path)
        >>> image.shape, image.dtype, round(float(image[0, 0, 0]), 3)
        ((4, 6, 3), dtype('float32'), 0.502)
    """
    array, _ = _decode(source, name, max_pixels)
    channels = array.shape[2]
    colour = np.repeat(array[..., :1], 3, axis=2) if channels <= 2 else array[..., :3]
    if not keep_alpha:
        return np.ascontiguousarray(colour)
    alpha = array[..., -1:] if channels in (2, 4) else np.ones_like(array[..., :1])
    return np.ascontiguousarray(np.concatenate([colour, alpha], axis=2))


def _grey_channel(colour: np.ndarray, tolerance: float, label: str, what: str) -> np.ndarray:
    """The first channel of (H, W, 3) ``colour`` if its channels agree within ``tolerance``, else raise."""
    spread = float(np.max(colour.max(axis=2) - colour.min(axis=2))) if colour.size else 0.0
    if spread > tolerance:
        raise ImageError(
            label, f"{what} file is colour (channels differ by up to {round(spread * 255)} levels); expected grey"
        )
    return colour[..., 0]


def _check_shape(array: np.ndarray, shape: Sequence[int] | None, label: str) -> None:
    """Raise unless ``array`` (H, W) has the height and width of ``shape`` ((H, W) or (H, W, C))."""
    if shape is None:
        return
    if len(shape) < 2:
        raise ValueError(f"shape must be (H, W) or (H, W, C), got {tuple(shape)}")
    want_h, want_w = int(shape[0]), int(shape[1])
    height, width = array.shape[:2]
    if (height, width) != (want_h, want_w):
        raise ImageError(label, f"size {width}x{height} does not match the image {want_w}x{want_h}")


def read_alpha(
    source: Source,
    *,
    shape: Sequence[int] | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    name: str | None = None,
) -> np.ndarray:
    """Read an alpha matte as float (H, W) in [0, 1] (8-bit / 255, 16-bit / 65535).

    Grey files are used as is. A file with an alpha channel that is not fully opaque is a cutout: its
    alpha channel is the matte. Otherwise the colour channels are used and must be grey (R, G, B within
    ``GREY_TOLERANCE``); the first channel is returned.

    Args:
        source: a path, the encoded bytes, or a binary file object.
        shape: the (H, W) (or (H, W, C)) of the image this matte belongs to; a different size raises.
        max_pixels: pixel guard, as in ``read_image``.
        name: the name used in error messages (see ``read_image``).

    Returns:
        (H, W) float32 alpha in [0, 1].

    Raises:
        ImageError: any ``read_image`` error, a colour file ("alpha file is colour (channels differ ...)"),
            or a size that does not match ``shape``.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "alpha.png"
        >>> _ = write_alpha(path, np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4), bits=16)
        >>> read_alpha(path, shape=(3, 4)).shape
        (3, 4)
    """
    array, label = _decode(source, name, max_pixels)
    channels = array.shape[2]
    if channels in (2, 4) and np.any(array[..., -1] < 1.0):
        alpha = array[..., -1]
    elif channels <= 2:
        alpha = array[..., 0]
    else:
        alpha = _grey_channel(array[..., :3], GREY_TOLERANCE, label, "alpha")
    _check_shape(alpha, shape, label)
    return np.ascontiguousarray(alpha)


def read_trimap(
    source: Source,
    *,
    shape: Sequence[int] | None = None,
    tolerance: int = 16,
    strict: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    name: str | None = None,
) -> np.ndarray:
    """Read a trimap as float (H, W) in {0, 0.5, 1} (background, unknown, foreground).

    The file is grey (or grey stored as RGB, or with a fully opaque alpha channel). Levels, on the 0-255
    scale, within ``tolerance`` of 0, 128 and 255 snap to 0, 0.5 and 1, which absorbs JPEG noise and the
    common 127 for unknown. Any other level is off-grid: with ``strict=False`` it becomes unknown (0.5)
    and an ``ImageWarning`` names the file and the number of such pixels; with ``strict=True`` an
    ``ImageError`` names the count and a few of the values.

    Args:
        source: a path, the encoded bytes, or a binary file object.
        shape: the (H, W) (or (H, W, C)) of the image this trimap belongs to; a different size raises.
        tolerance: snapping distance in levels of 255, from 0 to 63 (the three zones must not overlap).
        strict: raise on off-grid levels instead of treating them as unknown.
        max_pixels: pixel guard, as in ``read_image``.
        name: the name used in error messages (see ``read_image``).

    Returns:
        (H, W) float32 trimap with values in {0, 0.5, 1}.

    Raises:
        ImageError: any ``read_image`` error, a colour or partly transparent file, off-grid levels with
            ``strict=True``, or a size that does not match ``shape``.
        ValueError: ``tolerance`` outside 0..63.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "trimap.png"
        >>> _ = write_image(path, np.array([[0, 128, 255]], np.uint8))
        >>> read_trimap(path).tolist()
        [[0.0, 0.5, 1.0]]
    """
    if not 0 <= tolerance <= 63:
        raise ValueError(f"tolerance must be between 0 and 63 levels (zones must not overlap), got {tolerance}")
    array, label = _decode(source, name, max_pixels)
    channels = array.shape[2]
    if channels in (2, 4) and np.any(array[..., -1] < 1.0):
        raise ImageError(label, "trimap has transparent pixels (alpha channel); expected grey 0/128/255")
    if channels >= 3:
        levels = _grey_channel(array[..., :3], tolerance / 255, label, "trimap") * 255
    else:
        levels = array[..., 0] * 255
    _check_shape(levels, shape, label)
    background = np.abs(levels) <= tolerance
    foreground = np.abs(levels - 255) <= tolerance
    unknown = np.abs(levels - 128) <= tolerance
    trimap = np.full(levels.shape, 0.5, dtype=np.float32)
    trimap[background] = 0.0
    trimap[foreground] = 1.0
    off_grid = ~(background | foreground | unknown)
    count = int(off_grid.sum())
    if count:
        examples = ", ".join(str(v) for v in np.unique(np.round(levels[off_grid]).astype(int))[:5])
        problem = (
            f"{count} of {levels.size} trimap pixels are not within {tolerance} levels of 0/128/255 (e.g. {examples})"
        )
        if strict:
            raise ImageError(label, f"{problem}; use strict=False to treat them as unknown")
        warnings.warn(f"{label}: {problem}; treated as unknown (0.5)", ImageWarning, stacklevel=2)
    return trimap


# --------------------------------------------------------------------------------------------- writing


def _temporary_path(path: Path) -> Path:
    """Create an empty hidden file next to ``path`` with the same suffix, mode 0o666 less the umask."""
    for _ in range(100):
        candidate = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}")
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"{path}: could not create a temporary file next to it")


def _commit(tmp: Path, path: Path, overwrite: bool) -> None:
    """Move the finished ``tmp`` onto ``path``; without ``overwrite`` an existing ``path`` raises."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic create-if-absent; ``tmp`` is then removed by the caller
    except FileExistsError:
        raise FileExistsError(f"{path}: exists (use overwrite to replace it)") from None
    except OSError:  # no hard links on this file system: check, then rename
        if path.exists():
            raise FileExistsError(f"{path}: exists (use overwrite to replace it)") from None
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; when the block succeeds, rename it onto ``path``.

    The temporary file is hidden (leading ".") and ends with the suffix of ``path``, so writers that pick
    the format from the suffix work. If the block raises, ``path`` is untouched and the temporary file is
    removed; if the process dies, only a hidden ``.tmp`` file can remain, never a partial ``path``. The
    data is not fsync-ed.

    Args:
        path: the destination; its folder is created if needed.
        overwrite: if False, an existing ``path`` raises FileExistsError (before and at the rename).

    Yields:
        The temporary path to write to (it exists, empty).

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
    tmp = _temporary_path(path)
    try:
        yield tmp
        _commit(tmp, path, overwrite)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _to_uint(array: np.ndarray, bits: int) -> np.ndarray:
    """Convert float [0, 1], bool, uint8 (or uint16 for 16 bits) to unsigned integers of ``bits``."""
    array = np.asarray(array)
    top = (1 << bits) - 1
    dtype = np.uint8 if bits == 8 else np.uint16
    if array.dtype == dtype:
        return array
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise ValueError("cannot write an image containing NaN or infinity")
        return np.round(np.clip(array, 0.0, 1.0) * top).astype(dtype)
    if array.dtype == np.bool_:
        return (array.astype(dtype) * top).astype(dtype)
    if array.dtype == np.uint8 and bits == 16:
        return array.astype(np.uint16) * 257
    raise ValueError(f"cannot write an array of dtype {array.dtype} as a {bits}-bit image")


_PIL_SAVE_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
}


def write_image(
    path: str | os.PathLike, image: np.ndarray, *, bits: int = 8, quality: int = 95, overwrite: bool = True
) -> Path:
    """Write an image atomically; the format follows the suffix (png, jpg, webp, tif, bmp).

    Args:
        path: output file.
        image: (H, W) grey, (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA; float in [0, 1] (clipped), uint8,
            bool, or uint16 with ``bits=16``.
        bits: 8, or 16 (PNG and TIFF only).
        quality: JPEG / WebP quality.
        overwrite: if False, an existing file raises FileExistsError.

    Returns:
        The written path.

    Raises:
        ValueError: an unsupported suffix, shape, dtype, bit depth, NaN values, or RGBA to JPEG.
        FileExistsError: ``path`` exists and ``overwrite`` is False.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "red.png"
        >>> write_image(path, np.tile(np.array([1.0, 0.0, 0.0]), (2, 3, 1))).name
        'red.png'
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
    if suffix not in _PIL_SAVE_FORMATS:
        raise ValueError(f"{path}: unsupported output format {suffix!r} (png, jpg, webp, tif, bmp)")
    if bits == 16 and suffix not in (".png", ".tif", ".tiff"):
        raise ValueError(f"{path}: 16-bit output needs .png or .tif, not {suffix!r}")
    try:
        data = _to_uint(arr, bits)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    params: dict = {}
    if suffix in (".jpg", ".jpeg"):
        if data.ndim == 3 and data.shape[2] == 4:
            raise ValueError(f"{path}: JPEG has no alpha channel; write RGBA as .png or .webp")
        params = {"quality": quality}
    elif suffix == ".webp":
        params = {"quality": quality}
    if bits == 16:
        import cv2  # Pillow cannot write 16-bit RGB; OpenCV can (BGR order).

        out = data if data.ndim == 2 else np.ascontiguousarray(data[..., [2, 1, 0, 3][: data.shape[2]]])
        with atomic_write(path, overwrite=overwrite) as tmp:
            if not cv2.imwrite(str(tmp), out):
                raise ImageError(path, "OpenCV could not write the 16-bit image")
        return path
    pil = Image.fromarray(data)
    with atomic_write(path, overwrite=overwrite) as tmp:
        pil.save(tmp, format=_PIL_SAVE_FORMATS[suffix], **params)
    return path


def encode_png(array: np.ndarray, level: int = 3) -> bytes:
    """PNG bytes of an (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA uint8 array (encoded in memory).

    Example:
        >>> png = encode_png(np.zeros((2, 3, 4), np.uint8))
        >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
        True
    """
    import cv2

    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(f"encode_png: expected (H, W), (H, W, 3) or (H, W, 4) uint8, got {array.shape} {array.dtype}")
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR if array.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, int(level)])
    if not ok:
        raise ValueError(f"encode_png: OpenCV could not encode a {array.shape} image")
    return buf.tobytes()


def write_alpha(path: str | os.PathLike, alpha: np.ndarray, *, bits: int = 8, overwrite: bool = True) -> Path:
    """Write an alpha matte as a grey image (8- or 16-bit PNG by suffix), atomically.

    Args:
        path: output file (.png, or .tif for 16 bits; 8 bits also .jpg, .webp, .bmp).
        alpha: (H, W) or (H, W, 1) float in [0, 1] (or uint8 / bool).
        bits: 8 or 16.
        overwrite: if False, an existing file raises FileExistsError.

    Returns:
        The written path.
    """
    alpha = np.asarray(alpha)
    if alpha.ndim == 3 and alpha.shape[2] == 1:
        alpha = alpha[..., 0]
    if alpha.ndim != 2:
        raise ValueError(f"{path}: an alpha matte must be (H, W), got shape {alpha.shape}")
    return write_image(path, alpha, bits=bits, overwrite=overwrite)
