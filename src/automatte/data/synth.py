"""Procedural matting data: composites with exact alpha for the three AIM image types (SO / STM / NS).

Every sample is built as a foreground layer (alpha, colours) over a background and composited with the
matting equation I = alpha * F + (1 - alpha) * B, so its ground truth is exact by construction. Types and
categories follow AIM-500 (Li et al., IJCAI 2021):

* SO, salient opaque: ``fur`` (animals, furry balls), ``hair`` (a head from behind, on shoulders),
  ``soft-edge`` (an opaque object partly out of focus). Opaque interior, soft band at the outline.
* STM, salient transparent / meticulous: ``glass``, ``bag`` (plastic), ``mesh`` (wire), ``lace``,
  ``web`` (spider web). Soft alpha inside the object, little or none at 1.
* NS, non-salient: ``smoke``, ``fog``, ``net``, ``rain``, ``snow``, ``fire``. Soft alpha spread over a large
  part of the frame, no closed object.

Decisions:

* Exactness through 8 bits: alpha, foreground and background are quantised to 8-bit levels *before*
  compositing, and the composite is quantised after, so the arrays of a ``Sample`` are exactly what the
  PNG files hold and ``image`` differs from ``composite(alpha, fg, bg)`` by at most half a level.
* Camera noise: one Gaussian noise field is added to both foreground and background (before
  quantisation), so the composite carries sensor noise and the matting equation still holds exactly.
* Lighting: the light direction, tint and level are estimated from the background (brightness centroid,
  mean colour) and the foreground is shaded, tinted and given a little colour spill to match.
* Foreground colours are defined everywhere (full H x W x 3), also where alpha is 0, as in real data.
* Files (``synthesize_dataset``): ``image/NAME.png`` (PNG, not JPEG, so the composite stays exact),
  ``alpha/NAME.png`` (8-bit grey), ``fg/NAME.png``, ``bg/NAME.png``, ``trimap/NAME.png`` (0 / 128 / 255),
  ``meta.csv`` (``name,type,category``) and ``contact.png``.
* Trimap: ``trimap_from_alpha`` with an elliptical kernel of ``trimap_kernel(size)`` =
  max(3, round(15 * size / 512)) pixels: 15 at 512 and 30 at 1024, the two sizes used by the papers.
* Determinism: sample ``i`` of a dataset uses ``numpy.random.default_rng([seed, i])`` and type
  ``types[i % len(types)]``, so it depends only on (seed, i): a dataset of 5 is the prefix of one of 10,
  and the same seed writes identical bytes.
"""

from __future__ import annotations

import csv
import io as _io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from automatte.io import atomic_write, list_images, read_alpha, read_image, read_trimap, write_alpha, write_image
from automatte.ops.composition import composite
from automatte.ops.trimap import trimap_from_alpha, trimap_to_uint8

from .procedural import nonsalient, opaque, transparent
from .procedural.backgrounds import estimate_light, photo_background, procedural_background
from .procedural.common import Layer, Light

__all__ = [
    "CATEGORIES",
    "IMAGE_TYPES",
    "Sample",
    "contact_sheet",
    "synthesize_dataset",
    "synthesize_sample",
    "trimap_kernel",
]

IMAGE_TYPES = ("SO", "STM", "NS")

_GENERATORS: dict[str, dict[str, Callable[[np.random.Generator, int, Light], Layer]]] = {
    "SO": {"fur": opaque.fur, "hair": opaque.hair, "soft-edge": opaque.soft_edge},
    "STM": {
        "glass": transparent.glass,
        "bag": transparent.bag,
        "mesh": transparent.mesh,
        "lace": transparent.lace,
        "web": transparent.web,
    },
    "NS": {
        "smoke": nonsalient.smoke,
        "fog": nonsalient.fog,
        "net": nonsalient.net,
        "rain": nonsalient.rain,
        "snow": nonsalient.snow,
        "fire": nonsalient.fire,
    },
}

CATEGORIES: dict[str, tuple[str, ...]] = {kind: tuple(gens) for kind, gens in _GENERATORS.items()}
"""The categories of each image type, e.g. ``CATEGORIES["STM"]`` -> ('glass', 'bag', 'mesh', 'lace', 'web')."""

_MIN_SIZE = 32


@dataclass
class Sample:
    """One synthetic matting sample; float32 arrays, all but the trimap on the 8-bit grid (k / 255).

    Attributes:
        image: (H, W, 3) composite, equal to ``composite(alpha, fg, bg)`` within half a level.
        alpha: (H, W) exact alpha matte.
        fg: (H, W, 3) foreground colours, defined everywhere.
        bg: (H, W, 3) background.
        trimap: (H, W) in {0, 0.5, 1}, from ``alpha`` with ``trimap_kernel(size)``.
        type: 'SO', 'STM' or 'NS'.
        category: e.g. 'fur', 'glass', 'smoke' (see ``CATEGORIES``).
    """

    image: np.ndarray
    alpha: np.ndarray
    fg: np.ndarray
    bg: np.ndarray
    trimap: np.ndarray
    type: str
    category: str


def trimap_kernel(size: int) -> int:
    """Trimap erosion kernel for a sample of side ``size``: max(3, round(15 * size / 512)) pixels.

    Example:
        >>> trimap_kernel(512), trimap_kernel(1024), trimap_kernel(64)
        (15, 30, 3)
    """
    return max(3, int(round(15 * size / 512)))


def _image_type(image_type: str) -> str:
    kind = str(image_type).upper()
    if kind not in IMAGE_TYPES:
        raise ValueError(f"image_type must be one of 'SO', 'STM', 'NS' (any case), got {image_type!r}")
    return kind


def _rng(rng_or_seed: int | np.random.Generator | np.random.SeedSequence | Sequence[int]) -> np.random.Generator:
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    if isinstance(rng_or_seed, (bool, float)):
        raise ValueError(f"rng_or_seed must be an int seed or a numpy Generator, got {rng_or_seed!r}")
    return np.random.default_rng(rng_or_seed)


def _quantise(array: np.ndarray) -> np.ndarray:
    return (np.round(np.clip(array, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)


def _background(rng: np.random.Generator, background, size: int) -> np.ndarray:
    if background is None:
        return procedural_background(rng, size)
    if isinstance(background, (str, os.PathLike)):
        background = read_image(background)
    photo = np.asarray(background)
    if not np.issubdtype(photo.dtype, np.floating):
        raise ValueError(
            f"background array must be float in [0, 1], got dtype {photo.dtype} (divide uint8 images by 255)"
        )
    if photo.ndim == 2:
        photo = np.repeat(photo[..., None], 3, axis=2)
    if photo.ndim != 3 or photo.shape[2] < 3 or min(photo.shape[:2]) < 2:
        raise ValueError(
            f"background must be an (H, W, 3) image in [0, 1] or a path, got an array of shape {photo.shape}"
        )
    if not np.isfinite(photo).all() or photo.min() < -1e-6 or photo.max() > 1.0 + 1e-6:
        raise ValueError("background array must hold finite values in [0, 1]")
    return photo_background(rng, photo[..., :3].astype(np.float32), size)


def synthesize_sample(
    rng_or_seed: int | np.random.Generator,
    image_type: str,
    size: int = 512,
    background: np.ndarray | str | os.PathLike | None = None,
    *,
    category: str | None = None,
) -> Sample:
    """Synthesise one matting sample of the given AIM image type.

    Args:
        rng_or_seed: an int seed or a ``numpy.random.Generator`` (consumed).
        image_type: 'SO', 'STM' or 'NS' (any case).
        size: side of the square sample in pixels (>= 32).
        background: None for a procedural photo-like background; an (H, W, 3) float image in [0, 1] or an
            image path for a random crop of that photo (resized to ``size``, maybe mirrored).
        category: force one of ``CATEGORIES[type]``; by default drawn uniformly.

    Returns:
        A ``Sample``: float32 arrays, all but the trimap on the 8-bit grid.

    Raises:
        ValueError: unknown type or category, a size below 32, or a background that is not an image.

    Example:
        >>> s = synthesize_sample(0, "so", size=64)
        >>> s.image.shape, s.alpha.shape, s.type in ("SO",), s.category in CATEGORIES["SO"]
        ((64, 64, 3), (64, 64), True, True)
    """
    kind = _image_type(image_type)
    if not isinstance(size, (int, np.integer)) or size < _MIN_SIZE:
        raise ValueError(f"size must be an integer >= {_MIN_SIZE}, got {size!r}")
    size = int(size)
    if category is not None and category not in CATEGORIES[kind]:
        raise ValueError(f"category {category!r} is not one of {kind}'s categories {CATEGORIES[kind]}")
    rng = _rng(rng_or_seed)
    choice = CATEGORIES[kind][int(rng.integers(len(CATEGORIES[kind])))]
    category = category or choice

    bg = _background(rng, background, size)
    if rng.random() < (0.7 if kind == "NS" else 0.35):  # depth of field (NS photos are mostly bokeh)
        bg = cv2.GaussianBlur(
            bg, (0, 0), sigmaX=float(rng.uniform(0.8, 4.0) * size / 512), borderType=cv2.BORDER_REFLECT
        )
    light = estimate_light(bg)
    layer = _GENERATORS[kind][category](rng, size, light)
    alpha, fg = layer.alpha, layer.fg
    if not layer.emissive:
        exposure = float(np.clip(0.8 + 0.45 * light.level, 0.85, 1.1))
        spill = bg.reshape(-1, 3).mean(axis=0)
        spill = 0.92 + 0.08 * spill / max(float(spill.mean()), 1e-3)
        fg = fg * (np.asarray(light.tint, np.float32) * exposure * spill)
    noise = rng.normal(0.0, rng.uniform(0.002, 0.01), (size, size, 1)).astype(np.float32)
    noise = noise + rng.normal(0.0, 0.002, (size, size, 3)).astype(np.float32)
    alpha = _quantise(alpha)
    fg = _quantise(fg + noise)
    bg = _quantise(bg + noise)
    image = _quantise(composite(alpha, fg, bg))
    trimap = trimap_from_alpha(alpha, kernel_size=trimap_kernel(size))
    return Sample(image=image, alpha=alpha, fg=fg, bg=bg, trimap=trimap, type=kind, category=category)


# ------------------------------------------------------------------------------------------------ datasets

_FOLDERS = ("image", "alpha", "fg", "bg", "trimap")


def _background_files(backgrounds) -> list[Path]:
    if isinstance(backgrounds, (str, os.PathLike)):
        folder = Path(backgrounds)
        files = list_images(folder)
        if not files:
            raise FileNotFoundError(f"{folder}: no background images (png, jpg, webp, tif, bmp) in this folder")
        return files
    files = [Path(p) for p in backgrounds]
    if not files:
        raise ValueError("backgrounds is an empty list; give a folder, a list of image paths, or None")
    return files


def _check_dataset_args(out: Path, n, types, size, overwrite: bool) -> list[str]:
    """:func:`synthesize_dataset`'s argument checks; returns the image types in their canonical case."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if isinstance(types, str):
        types = (types,)
    kinds = [_image_type(t) for t in types]
    if not kinds:
        raise ValueError("types is empty; give some of 'so', 'stm', 'ns'")
    if not isinstance(size, (int, np.integer)) or size < _MIN_SIZE:
        raise ValueError(f"size must be an integer >= {_MIN_SIZE}, got {size!r}")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out}: folder exists and is not empty; pass overwrite=True to write into it")
    return kinds


def _write_sample(out: Path, name: str, sample) -> dict[str, Path]:
    """A sample's image, alpha, fg, bg and trimap files (atomically); returns their paths."""
    paths = {folder: out / folder / f"{name}.png" for folder in _FOLDERS}
    write_image(paths["image"], sample.image)
    write_alpha(paths["alpha"], sample.alpha)
    write_image(paths["fg"], sample.fg)
    write_image(paths["bg"], sample.bg)
    write_image(paths["trimap"], _trimap_uint8(sample.trimap))
    return paths


def _write_meta(path: Path, rows: list[dict]) -> None:
    buffer = _io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "type", "category"])
    writer.writerows([[r["name"], r["type"], r["category"]] for r in rows])
    with atomic_write(path) as tmp:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")


def synthesize_dataset(
    out_dir: str | os.PathLike,
    n: int,
    types: Sequence[str] = ("so", "stm", "ns"),
    size: int = 512,
    seed: int = 0,
    backgrounds: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    *,
    contact_limit: int = 60,
) -> list[dict]:
    """Write ``n`` synthetic samples in the project's dataset layout (see ``automatte.data.dataset``).

    Layout: ``image/NAME.png``, ``alpha/NAME.png``, ``fg/NAME.png``, ``bg/NAME.png``, ``trimap/NAME.png``
    (0 / 128 / 255), ``meta.csv`` (``name,type,category``) and ``contact.png`` (image | alpha | trimap of
    the first ``contact_limit`` samples). Names are ``{type}_{index:04d}_{category}``, e.g. ``so_0000_fur``.
    Every file is written atomically. Sample ``i`` has type ``types[i % len(types)]`` and depends only on
    (seed, i).

    Args:
        out_dir: output folder; created if missing.
        n: number of samples (>= 0).
        types: image types to cycle through ('so', 'stm', 'ns', any case).
        size: side of the square samples.
        seed: dataset seed.
        backgrounds: a folder of photos, or a list of image paths, to crop backgrounds from (one drawn per
            sample); None for procedural backgrounds.
        overwrite: write into an existing non-empty folder, replacing files of the same names (other files
            are left alone).
        progress: called as ``progress(done, n)`` after each sample.
        contact_limit: most samples shown on ``contact.png``.

    Returns:
        One dict per sample: name, type, category and the paths of its image, alpha, fg, bg and trimap.

    Raises:
        FileExistsError: ``out_dir`` exists, is not empty and ``overwrite`` is False.
        FileNotFoundError: a backgrounds folder without images.
        ValueError: bad ``n``, ``types`` or ``size``.

    Example:
        >>> import tempfile
        >>> rows = synthesize_dataset(tempfile.mkdtemp() + "/synth", n=3, size=64)
        >>> [r["name"].split("_")[0] for r in rows]
        ['so', 'stm', 'ns']
    """
    out = Path(out_dir)
    kinds = _check_dataset_args(out, n, types, size, overwrite)
    files = _background_files(backgrounds) if backgrounds is not None else None
    for folder in _FOLDERS:
        (out / folder).mkdir(parents=True, exist_ok=True)

    width = max(4, len(str(max(n - 1, 0))))
    rows: list[dict] = []
    cells: list[tuple[np.ndarray, np.ndarray, np.ndarray, str]] = []
    thumb = min(128, int(size))
    for i in range(n):
        rng = np.random.default_rng([int(seed), i])
        kind = kinds[i % len(kinds)]
        background = None
        if files is not None:
            background = read_image(files[int(rng.integers(len(files)))])
        sample = synthesize_sample(rng, kind, size, background)
        name = f"{kind.lower()}_{i:0{width}d}_{sample.category}"
        paths = _write_sample(out, name, sample)
        rows.append({"name": name, "type": kind, "category": sample.category, **{k: str(v) for k, v in paths.items()}})
        if i < contact_limit:
            cells.append((*_thumbs(sample.image, sample.alpha, sample.trimap, thumb), name))
        if progress is not None:
            progress(i + 1, n)

    _write_meta(out / "meta.csv", rows)
    write_image(out / "contact.png", _sheet(cells, thumb, columns=3))
    return rows


def _trimap_uint8(trimap: np.ndarray) -> np.ndarray:
    return trimap_to_uint8(trimap)


# ------------------------------------------------------------------------------------------------ contact sheets


def _thumbs(
    image: np.ndarray, alpha: np.ndarray, trimap: np.ndarray, thumb: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    def fit(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, np.float32)
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=2)
        h, w = a.shape[:2]
        scale = thumb / max(h, w)
        small = cv2.resize(a, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        canvas = np.zeros((thumb, thumb, 3), np.float32)
        y0, x0 = (thumb - small.shape[0]) // 2, (thumb - small.shape[1]) // 2
        canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small.reshape(small.shape[0], small.shape[1], -1)[
            ..., :3
        ]
        return (np.clip(canvas, 0, 1) * 255).round().astype(np.uint8)

    return fit(image), fit(alpha), fit(trimap)


def _sheet(cells: list[tuple[np.ndarray, np.ndarray, np.ndarray, str]], thumb: int, columns: int) -> np.ndarray:
    """Grid of (image | alpha | trimap) triplets with a label strip under each; uint8 RGB."""
    gap, label_h = 4, max(14, thumb // 8)
    cell_w, cell_h = 3 * thumb + 2 * gap, thumb + label_h
    step_x, step_y = cell_w + 4 * gap, cell_h + gap
    columns = max(1, min(columns, len(cells) or 1))
    rows = max(1, -(-len(cells) // columns))
    sheet = np.full((rows * step_y + gap, (columns - 1) * step_x + cell_w + 2 * gap, 3), 24, np.uint8)
    scale = label_h / 30.0
    for k, (img, alp, tri, label) in enumerate(cells):
        r, c = divmod(k, columns)
        y, x = gap + r * step_y, gap + c * step_x
        for j, t in enumerate((img, alp, tri)):
            sheet[y : y + thumb, x + j * (thumb + gap) : x + j * (thumb + gap) + thumb] = t
        cv2.putText(
            sheet,
            label,
            (x + 2, y + thumb + int(label_h * 0.75)),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (235, 235, 235),
            1,
            cv2.LINE_AA,
        )
    return sheet


def contact_sheet(
    samples_or_paths: Sequence[Sample | dict | str | os.PathLike] | str | os.PathLike,
    *,
    thumb: int = 128,
    columns: int = 3,
    labels: Sequence[str] | None = None,
) -> np.ndarray:
    """A contact sheet showing image | alpha | trimap per sample with a label, as uint8 RGB (H, W, 3).

    Args:
        samples_or_paths: ``Sample`` objects; row dicts returned by ``synthesize_dataset``; paths of files
            in ``image/`` of a dataset (alpha and trimap found beside it by name); or one dataset folder
            (all of its ``meta.csv`` rows, else all of its images).
        thumb: side of each thumbnail in pixels.
        columns: samples per row.
        labels: one label per sample; default: the name, or "TYPE/category" for ``Sample`` objects.

    Returns:
        (H, W, 3) uint8 RGB.

    Example:
        >>> sheet = contact_sheet([synthesize_sample(i, "ns", size=64) for i in range(2)], thumb=32)
        >>> sheet.dtype, sheet.shape[2]
        (dtype('uint8'), 3)
    """
    if thumb < 8:
        raise ValueError(f"thumb must be >= 8 pixels, got {thumb}")
    items: list = _expand(samples_or_paths)
    if labels is not None and len(labels) != len(items):
        raise ValueError(f"labels has {len(labels)} entries for {len(items)} samples")
    cells = []
    for k, item in enumerate(items):
        if isinstance(item, Sample):
            image, alpha, trimap = item.image, item.alpha, item.trimap
            label = f"{item.type}/{item.category}"
        else:
            paths = _dataset_paths(item)
            image = read_image(paths["image"])
            alpha = read_alpha(paths["alpha"], shape=image.shape)
            if paths["trimap"] is not None and paths["trimap"].exists():
                trimap = read_trimap(paths["trimap"], shape=image.shape)
            else:
                trimap = trimap_from_alpha(alpha, trimap_kernel(max(alpha.shape)))
            label = paths["image"].stem
        cells.append((*_thumbs(image, alpha, trimap, thumb), labels[k] if labels is not None else label))
    return _sheet(cells, thumb, columns)


def _expand(samples_or_paths) -> list:
    if isinstance(samples_or_paths, (str, os.PathLike)):
        root = Path(samples_or_paths)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: not a dataset folder")
        meta = root / "meta.csv"
        if meta.exists():
            with open(meta, newline="", encoding="utf-8") as f:
                return [root / "image" / f"{row['name']}.png" for row in csv.DictReader(f)]
        return list_images(root / "image") if (root / "image").is_dir() else []
    return list(samples_or_paths)


def _dataset_paths(item) -> dict[str, Path | None]:
    if isinstance(item, dict):
        trimap = item.get("trimap")
        return {"image": Path(item["image"]), "alpha": Path(item["alpha"]), "trimap": Path(trimap) if trimap else None}
    image = Path(item)
    root = image.parent.parent

    def beside(folder: str) -> Path | None:
        found = [p for p in list_images(root / folder) if p.stem == image.stem] if (root / folder).is_dir() else []
        return found[0] if found else None

    alpha = beside("alpha")
    if alpha is None:
        raise FileNotFoundError(f"{image}: no alpha matte named {image.stem}.* in {root / 'alpha'}")
    return {"image": image, "alpha": alpha, "trimap": beside("trimap")}
