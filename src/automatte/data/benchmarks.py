"""Readers for the public matting benchmarks, each in the layout its authors distribute.

Every reader returns a :class:`Benchmark`: the same ``root`` / ``names`` / ``images`` / ``alphas`` /
``trimaps`` / ``meta`` / ``problems`` that :class:`automatte.data.dataset.MattingFolder` offers, so the
evaluation runner and ``automatte eval`` / ``automatte benchmark`` take either. A folder that does not match
raises FileNotFoundError in one line naming the folder and the layout that was expected; single odd files
(an image without alpha, a type that is not SO / STM / NS) are listed in ``problems``.

Layouts (checked against the authors' code and READMEs):

* **AIM-500** (JizhiziLi/AIM ``core/config.py``, ``core/test.py``): ``original/*.jpg``, ``mask/*.png``
  (alpha), ``trimap/*.png``, ``usr/`` (the unified semantic representations), and
  ``aim_category_type.json`` mapping each stem to ``{"type": SO|STM|NS, "category": animal|fruit|furniture|
  plant|portrait|toy|transparent}``; the folders may also sit under ``validation/`` as in the code's config.
* **AM-2k** (JizhiziLi/GFM ``core/config.py``): ``validation/original``, ``validation/mask``,
  ``validation/trimap`` (the root, or its ``validation/`` folder).
* **P3M-500-P / P3M-500-NP** (JizhiziLi/P3M config): ``validation/P3M-500-P/blurred_image`` (face-blurred)
  or ``validation/P3M-500-NP/original_image``, with ``mask/`` and ``trimap/`` (and ``facemask/`` for -P).
* **PPM-100** (ZHKKKe/PPM): ``image/`` and ``matte/``.
* **alphamatting.com** (Rhemann et al. 2009): ``input_training_lowres/``, ``gt_training_lowres/``,
  ``trimap_training_lowres/Trimap1|2/``; the test split ``input_lowres/`` + ``trimap_lowres/Trimap1|2|3/``
  has no public ground truth (its images can be predicted, not scored).
* **Composition-1k** (Xu et al. 2017, DIM): not distributed composited; :func:`compose_composition1k` builds
  it by the DIM rules from ``Combined_Dataset/Test_set`` and the PASCAL VOC backgrounds.

Example:
    >>> data = read_benchmark("aim500", "AIM-500")  # doctest: +SKIP
    >>> data.names[:2], data.meta[data.names[0]]  # doctest: +SKIP
    (['o_0a4f8b3c', 'o_0b7228ec'], ('SO', 'animal'))
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from automatte.data.dataset import index_by_stem
from automatte.ops.semantics import IMAGE_TYPES

__all__ = [
    "Benchmark",
    "BENCHMARKS",
    "AIM500_CATEGORIES",
    "read_benchmark",
    "detect_benchmark",
    "read_aim500",
    "read_am2k",
    "read_p3m500",
    "read_ppm100",
    "read_alphamatting",
    "compose_composition1k",
    "COMPOSITION1K_BGS_PER_FG",
]

AIM500_CATEGORIES = ("animal", "fruit", "furniture", "plant", "portrait", "toy", "transparent")  # AIM config.py
COMPOSITION1K_BGS_PER_FG = 20  # DIM sec. 4: each test foreground on 20 PASCAL VOC backgrounds


@dataclass
class Benchmark:
    """A public benchmark read in its authors' layout (duck-compatible with ``MattingFolder``).

    Attributes:
        name: the reader's key (``"aim500"``, ``"am2k"``, ...).
        root: the folder given to the reader.
        images, alphas, trimaps: stem -> file.
        meta: stem -> (type SO / STM / NS or None, category or None).
        extras: further per-sample folders, e.g. ``{"usr": {stem: file}}`` (AIM-500's unified semantic
            representations) or ``{"facemask": ...}`` (P3M-500-P).
        problems: files that could not be paired or described.
    """

    name: str
    root: Path
    images: dict[str, Path]
    alphas: dict[str, Path]
    trimaps: dict[str, Path] = field(default_factory=dict)
    meta: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    extras: dict[str, dict[str, Path]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """Sorted stems that have both a ground-truth alpha and an image."""
        return sorted(n for n in self.alphas if n in self.images)

    def __len__(self) -> int:
        return len(self.names)


def _layout_error(root: Path, benchmark: str, expected: str) -> FileNotFoundError:
    return FileNotFoundError(f"{root}: not {benchmark} in its authors' layout (expected {expected})")


def _base(root: Path, candidates: list[Path], marker: str) -> Path | None:
    """The first candidate folder holding ``marker`` (a sub-folder name)."""
    for base in candidates:
        if (base / marker).is_dir():
            return base
    return None


def _pair(name: str, root: Path, images_dir: Path, alphas_dir: Path, trimap_dir: Path | None) -> Benchmark:
    images, p1 = index_by_stem(images_dir)
    alphas, p2 = index_by_stem(alphas_dir)
    trimaps, p3 = index_by_stem(trimap_dir) if trimap_dir is not None else ({}, [])
    data = Benchmark(name, Path(root), images, alphas, trimaps, problems=p1 + p2 + p3)
    for stem in sorted(set(images) - set(alphas)):
        data.problems.append(f"{images[stem]}: no alpha {stem}.png in {alphas_dir}; skipped")
    for stem in sorted(set(alphas) - set(images)):
        data.problems.append(f"{alphas[stem]}: no image {stem}.* in {images_dir}; skipped")
    if not data.names:
        raise FileNotFoundError(
            f"{root}: {name} has no image with an alpha of the same name ({images_dir}, {alphas_dir})"
        )
    return data


def _read_aim_json(path: Path, data: Benchmark) -> None:
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(table, dict):
        raise ValueError(f"{path}: expected an object mapping names to {{'type', 'category'}}")
    for key, entry in table.items():
        stem = Path(str(key)).stem
        if not isinstance(entry, dict):
            data.problems.append(f"{path}: entry {key!r} is not an object with 'type' and 'category'; ignored")
            continue
        kind = str(entry.get("type") or "").strip().upper() or None
        category = str(entry.get("category") or "").strip().lower() or None
        if kind is not None and kind not in IMAGE_TYPES:
            data.problems.append(f"{path}: {key!r} has type {kind!r}, not one of {', '.join(IMAGE_TYPES)}; kept")
        if category is not None and category not in AIM500_CATEGORIES:
            data.problems.append(f"{path}: {key!r} has category {category!r}, not an AIM-500 category; kept")
        data.meta[stem] = (kind, category)
    for stem in data.names:
        if stem not in data.meta:
            data.problems.append(f"{path}: no type / category for {stem!r}")


def read_aim500(root: str | os.PathLike) -> Benchmark:
    """AIM-500 (Li et al. 2021) as distributed: ``original/``, ``mask/``, ``trimap/``, ``usr/`` and
    ``aim_category_type.json`` (see the module docstring); SO / STM / NS types and categories in ``meta``.

    Example:
        >>> data = read_aim500("AIM-500")  # doctest: +SKIP
        >>> data.meta["o_0b7228ec"]  # doctest: +SKIP
        ('SO', 'animal')
    """
    root = Path(root)
    expected = "original/*.jpg, mask/*.png, trimap/*.png and aim_category_type.json, or validation/ holding them"
    base = _base(root, [root, root / "validation"], "original")
    if not root.is_dir() or base is None or not (base / "mask").is_dir():
        raise _layout_error(root, "AIM-500", expected)
    data = _pair("aim500", root, base / "original", base / "mask", base / "trimap")
    if (base / "usr").is_dir():
        data.extras["usr"] = index_by_stem(base / "usr")[0]
    json_path = next(
        (p / "aim_category_type.json" for p in (base, root) if (p / "aim_category_type.json").is_file()), None
    )
    if json_path is None:
        data.problems.append(f"{root}: no aim_category_type.json; SO / STM / NS types and categories are unknown")
    else:
        _read_aim_json(json_path, data)
    return data


def read_am2k(root: str | os.PathLike) -> Benchmark:
    """AM-2k's validation set (Li et al., GFM): ``validation/original``, ``validation/mask``, ``validation/trimap``.

    Example:
        >>> len(read_am2k("AM-2k"))  # doctest: +SKIP
        200
    """
    root = Path(root)
    base = _base(root, [root / "validation", root], "original")
    if not root.is_dir() or base is None or not (base / "mask").is_dir():
        raise _layout_error(root, "AM-2k", "validation/original/*.jpg and validation/mask/*.png (validation/trimap/)")
    return _pair("am2k", root, base / "original", base / "mask", base / "trimap")


def read_p3m500(root: str | os.PathLike, variant: str = "P") -> Benchmark:
    """P3M-500-P (face-blurred ``blurred_image/``) or P3M-500-NP (``original_image/``), with ``mask/`` and
    ``trimap/``; ``root`` is P3M-10k, its ``validation/`` or the P3M-500-* folder itself.

    Example:
        >>> read_p3m500("P3M-10k", "NP").name  # doctest: +SKIP
        'p3m500-np'
    """
    variant = variant.upper()
    if variant not in ("P", "NP"):
        raise ValueError(f"P3M-500 variant must be 'P' or 'NP', got {variant!r}")
    root = Path(root)
    folder, images = f"P3M-500-{variant}", "blurred_image" if variant == "P" else "original_image"
    base = _base(root, [root / "validation" / folder, root / folder, root], images)
    if not root.is_dir() or base is None or not (base / "mask").is_dir():
        raise _layout_error(root, folder, f"validation/{folder}/{images}/*.jpg and validation/{folder}/mask/*.png")
    data = _pair(f"p3m500-{variant.lower()}", root, base / images, base / "mask", base / "trimap")
    if (base / "facemask").is_dir():
        data.extras["facemask"] = index_by_stem(base / "facemask")[0]
    return data


def read_ppm100(root: str | os.PathLike) -> Benchmark:
    """PPM-100 (Ke et al., MODNet): ``image/`` and ``matte/`` (no trimaps).

    Example:
        >>> len(read_ppm100("PPM-100"))  # doctest: +SKIP
        100
    """
    root = Path(root)
    if not (root / "image").is_dir() or not (root / "matte").is_dir():
        raise _layout_error(root, "PPM-100", "image/*.jpg and matte/*.png")
    return _pair("ppm100", root, root / "image", root / "matte", None)


def read_alphamatting(root: str | os.PathLike, *, trimap: int = 1, split: str = "training") -> Benchmark:
    """alphamatting.com's low-resolution set: the 27 training images with ground truth (``split="training"``:
    ``input_training_lowres``, ``gt_training_lowres``, ``trimap_training_lowres/Trimap{trimap}``) or the
    8 test images without (``split="test"``: ``input_lowres``, ``trimap_lowres/Trimap{trimap}``; nothing to score).

    Example:
        >>> read_alphamatting("alphamatting", trimap=2).trimaps["GT01"].parent.name  # doctest: +SKIP
        'Trimap2'
    """
    root = Path(root)
    if split not in ("training", "test"):
        raise ValueError(f"alphamatting.com split must be 'training' or 'test', got {split!r}")
    infix = "_training" if split == "training" else ""
    images_dir, trimap_dir = root / f"input{infix}_lowres", root / f"trimap{infix}_lowres" / f"Trimap{trimap}"
    gt_dir = root / "gt_training_lowres"
    if not images_dir.is_dir() or not trimap_dir.is_dir() or (split == "training" and not gt_dir.is_dir()):
        gt = ", gt_training_lowres/" if split == "training" else ""
        raise _layout_error(
            root, "alphamatting.com", f"{images_dir.name}/, {trimap_dir.parent.name}/Trimap{trimap}/{gt}"
        )
    images, problems = index_by_stem(images_dir)
    trimaps, more = index_by_stem(trimap_dir)
    alphas, more2 = index_by_stem(gt_dir) if split == "training" else ({}, [])
    data = Benchmark("alphamatting", root, images, alphas, trimaps, problems=problems + more + more2)
    if split == "test":
        data.problems.append(f"{root}: the test split has no public ground truth; its images can be predicted only")
    return data


READERS: dict[str, Callable[..., Benchmark]] = {
    "aim500": read_aim500,
    "am2k": read_am2k,
    "p3m500-p": lambda root: read_p3m500(root, "P"),
    "p3m500-np": lambda root: read_p3m500(root, "NP"),
    "ppm100": read_ppm100,
    "alphamatting": read_alphamatting,
}
BENCHMARKS = tuple(READERS)


def read_benchmark(name: str, root: str | os.PathLike) -> Benchmark:
    """Read benchmark ``name`` (one of ``BENCHMARKS``) from ``root`` in its authors' layout.

    Example:
        >>> read_benchmark("nope", ".")
        Traceback (most recent call last):
        ...
        ValueError: unknown benchmark 'nope'; expected one of aim500, am2k, p3m500-p, p3m500-np, ppm100, alphamatting
    """
    if name not in READERS:
        raise ValueError(f"unknown benchmark {name!r}; expected one of {', '.join(BENCHMARKS)}")
    return READERS[name](root)


def detect_benchmark(root: str | os.PathLike) -> str | None:
    """The benchmark whose authors' layout ``root`` has, or None (the project's own layout is not one).

    Example:
        >>> detect_benchmark("/nonexistent") is None
        True
    """
    root = Path(root)
    if not root.is_dir():
        return None
    if any((p / "aim_category_type.json").is_file() for p in (root, root / "validation")):
        return "aim500"
    for name in ("p3m500-p", "p3m500-np", "ppm100", "alphamatting", "am2k", "aim500"):
        try:
            READERS[name](root)
        except (FileNotFoundError, ValueError):
            continue
        return name
    return None


# ----------------------------------------------------------------------------------- Composition-1k
def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    with Image.open(path) as im:
        im.load()
        return np.asarray(im.convert("RGB") if im.mode != "RGB" else im)


def _dim_background(path: Path, w: int, h: int) -> np.ndarray:
    """DIM's background: enlarged bicubically (ceil sizes) when smaller than the foreground, cropped at (0, 0)."""
    from PIL import Image

    if not path.is_file():
        raise FileNotFoundError(f"{path}: background named in test_bg_names.txt not found")
    with Image.open(path) as bg:
        bg = bg.convert("RGB") if bg.mode != "RGB" else bg.copy()
    bw, bh = bg.size
    ratio = max(w / bw, h / bh)
    if ratio > 1:
        bg = bg.resize((math.ceil(bw * ratio), math.ceil(bh * ratio)), Image.BICUBIC)
    return np.asarray(bg)[:h, :w]


def _dim_composite(fg: np.ndarray, bg: np.ndarray, a: np.ndarray) -> np.ndarray:
    """DIM's per-pixel rule: alpha = a / 255; 1 -> fg, 0 -> bg, else int(alpha fg + (1 - alpha) bg) (truncated)."""
    alpha = (a.astype(np.float64) / 255.0)[..., None]
    mixed = np.trunc(alpha * fg.astype(np.float64) + (1.0 - alpha) * bg.astype(np.float64)).astype(np.uint8)
    return np.where(alpha >= 1, fg, np.where(alpha > 0, mixed, bg)).astype(np.uint8)


def compose_composition1k(
    root: str | os.PathLike,
    backgrounds: str | os.PathLike,
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Composite DIM's Composition-1k test set into the project's layout (``image/``, ``alpha/``, ``trimap/``).

    DIM's rules: foreground ``i`` of ``Test_set/test_fg_names.txt`` goes on backgrounds ``20 i .. 20 i + 19`` of
    ``Test_set/test_bg_names.txt`` (PASCAL VOC images, found in ``backgrounds``); a background smaller than the
    foreground is enlarged bicubically by the larger of the two ratios (sizes rounded up) and cropped at the
    top-left corner; pixels are ``int(alpha fg + (1 - alpha) bg)``. Sample ``{fg stem}_{k}`` gets the
    foreground's alpha and the trimap ``trimaps/{fg stem}_{k}.png`` when present, else ``trimaps/{fg name}``.

    Args:
        root: ``Combined_Dataset`` (or its ``Test_set``).
        backgrounds: folder of the background images named in ``test_bg_names.txt``.
        out: the folder to write; an existing non-empty one needs ``overwrite``.
        limit: composite only the first ``limit`` foregrounds (tests, quick looks).
        progress: ``progress(done, total)`` after each sample.

    Returns:
        ``out``. Every file is written atomically.

    Example:
        >>> compose_composition1k("Combined_Dataset", "VOCdevkit/VOC2012/JPEGImages", "comp1k")  # doctest: +SKIP
        PosixPath('comp1k')
    """
    from PIL import Image

    from automatte.io import write_alpha, write_image

    root, backgrounds, out = Path(root), Path(backgrounds), Path(out)
    test = root / "Test_set" if (root / "Test_set").is_dir() else root
    fg_list, bg_list = test / "test_fg_names.txt", test / "test_bg_names.txt"
    licensed = test / "Adobe-licensed images"
    if not fg_list.is_file() or not bg_list.is_file() or not (licensed / "fg").is_dir():
        raise _layout_error(
            root,
            "Composition-1k",
            "Test_set/test_fg_names.txt, test_bg_names.txt and 'Adobe-licensed images'/fg, alpha",
        )
    if not backgrounds.is_dir():
        raise FileNotFoundError(f"{backgrounds}: background folder does not exist (PASCAL VOC JPEGImages expected)")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out}: exists and is not empty (use overwrite)")
    fg_names = [line.strip() for line in fg_list.read_text(encoding="utf-8").splitlines() if line.strip()]
    bg_names = [line.strip() for line in bg_list.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(bg_names) != COMPOSITION1K_BGS_PER_FG * len(fg_names):
        raise ValueError(
            f"{bg_list}: {len(bg_names)} backgrounds for {len(fg_names)} foregrounds; "
            f"expected {COMPOSITION1K_BGS_PER_FG} per foreground"
        )
    fg_names = fg_names[:limit] if limit is not None else fg_names
    total = COMPOSITION1K_BGS_PER_FG * len(fg_names)
    for i, fg_name in enumerate(fg_names):
        fg = _read_rgb(licensed / "fg" / fg_name)
        alpha_path = licensed / "alpha" / fg_name
        if not alpha_path.is_file():
            raise FileNotFoundError(f"{alpha_path}: alpha of foreground {fg_name!r} not found")
        with Image.open(alpha_path) as im:
            a = np.asarray(im.convert("L"))
        if a.shape != fg.shape[:2]:
            raise ValueError(f"{alpha_path}: size {a.shape} differs from its foreground's {fg.shape[:2]}")
        stem = Path(fg_name).stem
        for k in range(COMPOSITION1K_BGS_PER_FG):
            bg = _dim_background(backgrounds / bg_names[i * COMPOSITION1K_BGS_PER_FG + k], fg.shape[1], fg.shape[0])
            name = f"{stem}_{k}"
            write_image(out / "image" / f"{name}.png", _dim_composite(fg, bg, a))
            write_alpha(out / "alpha" / f"{name}.png", a)
            for candidate in (licensed / "trimaps" / f"{name}.png", licensed / "trimaps" / fg_name):
                if candidate.is_file():
                    with Image.open(candidate) as im:
                        write_alpha(out / "trimap" / f"{name}.png", np.asarray(im.convert("L")))
                    break
            if progress is not None:
                progress(i * COMPOSITION1K_BGS_PER_FG + k + 1, total)
    return out
