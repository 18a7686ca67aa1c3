"""The project's matting dataset folder layout.

::

    DATASET/
      image/NAME.(png|jpg|...)     the photo or composite
      alpha/NAME.png               ground-truth alpha (8- or 16-bit grey)
      trimap/NAME.png              optional, 0 / 128 / 255 (another folder name can be chosen)
      fg/NAME.png, bg/NAME.png     optional foreground colours and background
      meta.csv                     optional: name,type,category (type in SO / STM / NS)

Files match by stem; any of the image extensions of :mod:`automatte.io` is accepted.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from automatte.io import IMAGE_EXTENSIONS
from automatte.ops.semantics import IMAGE_TYPES

__all__ = ["MattingFolder", "index_by_stem", "IMAGE_TYPES"]


def index_by_stem(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Map stem -> file for the images directly in ``folder``.

    Returns:
        (index, problems): problems lists stems that occur with more than one extension (the first in
        sorted order is kept).
    """
    index: dict[str, Path] = {}
    problems: list[str] = []
    if not folder.is_dir():
        return index, problems
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        if path.stem in index:
            problems.append(f"{path}: duplicate of {index[path.stem].name} (same name, other extension); ignored")
            continue
        index[path.stem] = path
    return index, problems


@dataclass
class MattingFolder:
    """A dataset in the project's folder layout (see module docstring).

    Args:
        root: the dataset folder.
        trimap_dir: name of the trimap folder inside ``root``.

    Example:
        >>> ds = MattingFolder("demo-out/data")  # doctest: +SKIP
        >>> ds.names[:2], ds.meta[ds.names[0]]  # doctest: +SKIP
    """

    root: Path
    trimap_dir: str = "trimap"
    images: dict[str, Path] = field(init=False)
    alphas: dict[str, Path] = field(init=False)
    trimaps: dict[str, Path] = field(init=False)
    meta: dict[str, tuple[str | None, str | None]] = field(init=False)
    problems: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: dataset folder does not exist")
        if not (self.root / "alpha").is_dir():
            raise FileNotFoundError(f"{self.root}: not a matting dataset (no alpha/ folder inside)")
        self.problems = []
        self.images, p1 = index_by_stem(self.root / "image")
        self.alphas, p2 = index_by_stem(self.root / "alpha")
        self.trimaps, p3 = index_by_stem(self.root / self.trimap_dir)
        self.problems += p1 + p2 + p3
        if self.trimap_dir != "trimap" and not (self.root / self.trimap_dir).is_dir():
            raise FileNotFoundError(f"{self.root / self.trimap_dir}: trimap folder does not exist")
        self.meta = self._read_meta(self.root / "meta.csv")

    @property
    def names(self) -> list[str]:
        """Sorted names of the samples that have a ground-truth alpha."""
        return sorted(self.alphas)

    def _read_meta(self, path: Path) -> dict[str, tuple[str | None, str | None]]:
        meta: dict[str, tuple[str | None, str | None]] = {}
        if not path.is_file():
            return meta
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or "name" not in reader.fieldnames:
                self.problems.append(f"{path}: no 'name' column in the header; meta.csv ignored")
                return meta
            for line, row in enumerate(reader, start=2):
                name = (row.get("name") or "").strip()
                if not name:
                    self.problems.append(f"{path}:{line}: empty name; row ignored")
                    continue
                kind = (row.get("type") or "").strip().upper() or None
                if kind is not None and kind not in IMAGE_TYPES:
                    self.problems.append(f"{path}:{line}: type {kind!r} is not one of SO, STM, NS; kept as is")
                category = (row.get("category") or "").strip() or None
                meta[Path(name).stem] = (kind, category)
        return meta
