"""Training datasets (``torch.utils.data.Dataset``) over the project's folder layouts and the generator.

* :class:`MattingDataset`: a :class:`~automatte.data.dataset.MattingFolder` (image/, alpha/, fg/, bg/,
  trimap/, meta.csv). Where a sample has ``fg/`` and there is a background pool (``backgrounds=`` or the
  folder's own ``bg/``), it is composited online onto a new background every time, I = alpha F + (1 - alpha) B;
  otherwise its image is cropped together with its alpha.
* :class:`CoarseDataset`: image/ + binary mask/ (e.g. ``../shared/data/coarse/ccp``). No alpha: the labels
  are random trimaps from the mask (DDC Sec. 4.1, erosion k in [1, 30]) for known / DDC losses, plus, on
  request, a synthesised coarse segmentation of the mask for a TGN (SPAMattNet Sec. IV-B1).
* :class:`SynthDataset`: the procedural generator as an endless source; item i is
  ``synthesize_sample(default_rng([seed, i]), types[i % len(types)])``, as in ``synthesize_dataset``.

The augmentations and their order are in :mod:`automatte.data.augment`; copy-paste composites of the coarse
sets in :mod:`automatte.data.copypaste`; mixing and collation in :mod:`automatte.data.loader`.

Items are dicts of float32 tensors (tensor contract, no batch axis): ``image`` (3, H, W) in [0, 1],
``alpha`` (1, H, W) when there is one, ``trimap`` (1, H, W) in {0, 0.5, 1}, ``fg`` / ``bg`` (3, H, W) when
known, ``mask`` (1, H, W) with ``coarse_mask=True``, ``classes`` (H, W) int64 (trimap classes, or AIM's
unified classes of the sample type with ``unified=True``), bool scalars ``has_alpha`` (alpha is an exact
label: alpha losses apply) and ``coarse`` (labels are approximate: use known / DDC losses), and strings
``type``, ``category``, ``name``, ``source``.

Determinism: item ``index`` in epoch ``epoch`` draws everything from ``item_rng(seed, epoch, index)``. A
dataset is indexed with ``ds[index]`` (epoch = ``ds.epoch``, see ``set_epoch``) or ``ds[index, epoch]``, which
is what the sampler of :func:`~automatte.data.loader.build_loader` passes, so no state has to reach workers.

Held-out validation: :func:`split_names` puts each name in train or val by a hash of (seed, name), so adding
files never moves existing ones; every folder dataset takes ``split="train" | "val"``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from automatte.io import list_images, read_alpha, read_image, read_trimap
from automatte.ops.coarse import BLUR_SIGMA_RANGE, MORPH_K_RANGE, TRIMAP_K_RANGE, synthesize_coarse_mask
from automatte.ops.composition import composite
from automatte.ops.semantics import normalize_image_type, unified_classes
from automatte.ops.trimap import quantize_trimap, random_trimap_from_alpha, random_trimap_from_mask, trimap_to_classes

from . import augment as A
from .augment import Augment
from .dataset import MattingFolder, index_by_stem
from .synth import synthesize_sample

__all__ = [
    "ENDLESS",
    "CoarseDataset",
    "MattingDataset",
    "SeededDataset",
    "SynthDataset",
    "DecodeCache",
    "coarse_pairs",
    "decode_cache",
    "list_backgrounds",
    "make_item",
    "read_mask",
    "split_names",
]

ENDLESS = 2**31 - 1
"""Default length of :class:`SynthDataset`: big enough to never repeat, small enough for int32 indices."""

PathLike = str | os.PathLike


def split_names(names: Sequence[str], val_fraction: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """Split names into (train, val) by a hash of (seed, name): stable when names are added or removed.

    A name goes to val when the first 8 bytes of ``sha1(f"{seed}:{name}")``, read as a fraction of 2^64, are
    below ``val_fraction``; it never depends on the other names, so a growing folder keeps its split.

    Args:
        names: sample names (e.g. file stems); order is kept in both outputs.
        val_fraction: expected fraction of names in val, in [0, 1].
        seed: changes the split.

    Returns:
        (train, val) lists.

    Example:
        >>> train, val = split_names([f"img{i}" for i in range(1000)], 0.1, seed=0)
        >>> len(train) + len(val), 60 < len(val) < 140
        (1000, True)
    """
    if not 0.0 <= float(val_fraction) <= 1.0:
        raise ValueError(f"split_names: val_fraction must be in [0, 1], got {val_fraction!r}")
    train, val = [], []
    for name in names:
        digest = hashlib.sha1(f"{int(seed)}:{name}".encode()).digest()
        (val if int.from_bytes(digest[:8], "big") / 2.0**64 < val_fraction else train).append(name)
    return train, val


def _select(names: list[str], subset, split, val_fraction, split_seed, where: str) -> list[str]:
    if subset is not None:
        wanted = set(subset)
        missing = sorted(wanted - set(names))
        if missing:
            raise ValueError(f"{where}: names not in the dataset: {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        names = [n for n in names if n in wanted]
    if split is None:
        return names
    if split not in ("train", "val"):
        raise ValueError(f"{where}: split must be 'train', 'val' or None, got {split!r}")
    train, val = split_names(names, val_fraction, split_seed)
    return train if split == "train" else val


def list_backgrounds(backgrounds: PathLike | Sequence[PathLike] | None) -> list[Path]:
    """Background image files from a folder (searched recursively), an image path, or a list of those.

    Raises:
        FileNotFoundError: a path that does not exist, or no image at all.

    Example:
        >>> list_backgrounds(None)
        []
    """
    if backgrounds is None:
        return []
    items = [backgrounds] if isinstance(backgrounds, (str, os.PathLike)) else list(backgrounds)
    files: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            files += list_images(path, recursive=True)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: background folder or image does not exist")
    if not files:
        raise FileNotFoundError(f"{items}: no background images (png, jpg, webp, tif, bmp) found")
    return files


def _t(array: np.ndarray) -> torch.Tensor:
    """(H, W) -> (1, H, W); (H, W, C) -> (C, H, W); float32, contiguous."""
    a = np.asarray(array, dtype=np.float32)
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(a))


def make_item(
    *,
    image: np.ndarray,
    trimap: np.ndarray,
    image_type: str,
    name: str,
    has_alpha: bool,
    coarse: bool,
    alpha: np.ndarray | None = None,
    fg: np.ndarray | None = None,
    bg: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    unified: bool = False,
    category: str = "",
    source: str = "",
) -> dict:
    """Build an item dict (tensor contract) from (H, W[, 3]) float arrays; see the module docstring.

    Example:
        >>> z = np.zeros((4, 4), np.float32)
        >>> item = make_item(image=np.zeros((4, 4, 3)), trimap=z + 0.5, image_type="NS", name="x",
        ...                  has_alpha=False, coarse=True, unified=True)
        >>> item["image"].shape, item["classes"].dtype, int(item["classes"].max())
        (torch.Size([3, 4, 4]), torch.int64, 1)
    """
    trimap = quantize_trimap(np.asarray(trimap, dtype=np.float32))
    classes = unified_classes(trimap, image_type) if unified else trimap_to_classes(trimap)
    item = {"image": _t(np.clip(image, 0.0, 1.0)), "trimap": _t(trimap)}
    for key, value in (("alpha", alpha), ("fg", fg), ("bg", bg), ("mask", mask)):
        if value is not None:
            item[key] = _t(np.clip(value, 0.0, 1.0))
    item["classes"] = torch.from_numpy(np.ascontiguousarray(classes, dtype=np.int64))
    item["has_alpha"] = torch.tensor(bool(has_alpha))
    item["coarse"] = torch.tensor(bool(coarse))
    item.update(type=image_type, category=category or "", name=name, source=source or "")
    return item


class SeededDataset(Dataset):
    """Base of the training datasets: ``(index, epoch)`` keys, per-item generators, the optional TGN mask.

    ``ds[index]`` uses ``ds.epoch``; ``ds[index, epoch]`` names the epoch. Either way the item's generator is
    ``item_rng(ds.seed, epoch, index)``. Subclasses implement ``__len__`` and ``__getitem__``.
    """

    def __init__(self, augment: Augment | None, seed: int, unified: bool, coarse_mask: bool, source: str):
        self.augment = augment if augment is not None else Augment()
        self.seed = int(seed)
        self.epoch = 0
        self.unified = bool(unified)
        self.coarse_mask = bool(coarse_mask)
        self.source = source

    def set_epoch(self, epoch: int) -> None:
        """Epoch used by plain ``ds[index]`` (in the main process, or workers started after this call)."""
        self.epoch = int(epoch)

    def _key(self, key) -> tuple[int, np.random.Generator]:
        index, epoch = key if isinstance(key, tuple) else (key, self.epoch)
        index, n = int(index), len(self)
        if not 0 <= index < n:
            raise IndexError(f"{type(self).__name__}: index {index} out of range for {n} items")
        return index, A.item_rng(self.seed, epoch, index)

    def _coarse(self, alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
        """TGN input (SPAMattNet IV-B1); the paper's pixel ranges are for 512, so they scale with the size."""
        if not self.coarse_mask:
            return None
        s = self.augment.size / 512
        scaled = [(max(1, round(lo * s)), max(1, round(hi * s))) for lo, hi in (TRIMAP_K_RANGE, MORPH_K_RANGE)]
        sigma = (BLUR_SIGMA_RANGE[0] * s, BLUR_SIGMA_RANGE[1] * s)
        return synthesize_coarse_mask(alpha, rng, scaled[0], scaled[1], sigma)


def _pick(files: list[Path], rng: np.random.Generator) -> Path:
    return files[int(rng.integers(len(files)))]


class MattingDataset(SeededDataset):
    """Alpha-labelled samples of a folder in the project's layout, with online compositing.

    Args:
        root: dataset folder (``MattingFolder`` layout).
        augment: :class:`Augment` settings (size, crops, probabilities); ``Augment.none()`` for validation.
        backgrounds: background pool (folder, searched recursively, files, or a list); default: the folder's
            own ``bg/`` images. Samples with ``fg/`` are composited onto a random pool image every time.
        composite: False to always use ``image/`` even when ``fg/`` exists.
        trimap: "random" (``random_trimap_from_alpha`` with ``augment.trimap_k_range``) or "file" (the
            folder's trimaps, cropped and resized with nearest interpolation).
        unified: ``classes`` are AIM's unified classes of the sample type instead of trimap classes.
        coarse_mask: add a synthesised coarse segmentation ``mask`` for a TGN.
        default_type: image type of samples without a type in ``meta.csv``.
        names: restrict to these names; split: "train" / "val" by :func:`split_names` (``val_fraction``,
            ``split_seed``).
        seed: augmentation seed.
        source: label copied into each item (default: the folder name).

    Example:
        >>> import tempfile
        >>> from automatte.data.synth import synthesize_dataset
        >>> root = tempfile.mkdtemp() + "/d"; _ = synthesize_dataset(root, 2, size=64, contact_limit=0)
        >>> ds = MattingDataset(root, Augment.none(size=32, crop_sizes=(48,)))
        >>> item = ds[0]
        >>> len(ds), item["image"].shape, item["alpha"].shape, bool(item["has_alpha"])
        (2, torch.Size([3, 32, 32]), torch.Size([1, 32, 32]), True)
    """

    def __init__(
        self,
        root: PathLike,
        augment: Augment | None = None,
        *,
        backgrounds: PathLike | Sequence[PathLike] | None = None,
        composite: bool = True,
        trimap: str = "random",
        unified: bool = False,
        coarse_mask: bool = False,
        default_type: str = "SO",
        names: Sequence[str] | None = None,
        split: str | None = None,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        seed: int = 0,
        source: str | None = None,
    ):
        self.folder = MattingFolder(root)
        super().__init__(augment, seed, unified, coarse_mask, source or self.folder.root.name)
        if trimap not in ("random", "file"):
            raise ValueError(f"MattingDataset: trimap must be 'random' or 'file', got {trimap!r}")
        self.trimap = trimap
        self.fgs, _ = index_by_stem(self.folder.root / "fg")
        own_bgs, _ = index_by_stem(self.folder.root / "bg")
        self.backgrounds = list_backgrounds(backgrounds) if backgrounds is not None else sorted(own_bgs.values())
        self.composite = bool(composite)
        self.names = _select(self.folder.names, names, split, val_fraction, split_seed, str(self.folder.root))
        self.types: dict[str, str] = {}
        default_type = normalize_image_type(default_type)
        for name in self.names:
            kind = self.folder.meta.get(name, (None, None))[0]
            try:
                self.types[name] = normalize_image_type(kind) if kind else default_type
            except ValueError:
                raise ValueError(f"{self.folder.root / 'meta.csv'}: type {kind!r} of {name!r} is not SO, STM or NS")
            if name not in self.folder.images and name not in self.fgs:
                raise FileNotFoundError(f"{self.folder.root}: {name!r} has an alpha but neither image/ nor fg/ file")
            if trimap == "file" and name not in self.folder.trimaps:
                raise FileNotFoundError(f"{self.folder.root / self.folder.trimap_dir}: no trimap for {name!r}")

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, key) -> dict:
        index, rng = self._key(key)
        name, cfg = self.names[index], self.augment
        kind = self.types[name]
        online = self.composite and name in self.fgs and bool(self.backgrounds)
        colour = read_image(self.fgs[name] if online else self.folder.images[name])
        alpha = read_alpha(self.folder.alphas[name], shape=colour.shape)
        box = A.choose_crop(alpha.shape, rng, cfg.crop_sizes, A.unknown_region(alpha), cfg.unknown_crop_prob,
                            cfg.scale_range)  # fmt: skip
        arrays = {"colour": A.apply_box(colour, box, cfg.size), "alpha": A.apply_box(alpha, box, cfg.size), "tri": None}
        if self.trimap == "file":
            tri = read_trimap(self.folder.trimaps[name], shape=alpha.shape)
            arrays["tri"] = quantize_trimap(A.apply_box(tri, box, cfg.size, nearest=True))
        if rng.random() < cfg.flip_prob:
            arrays = A.flip_arrays(arrays)
        colour, alpha = arrays["colour"], np.clip(arrays["alpha"], 0.0, 1.0)
        if rng.random() < cfg.jitter_prob:
            colour = A.colour_jitter(colour, rng, cfg.hue, cfg.saturation, cfg.brightness)
        fg = bg = None
        if online:
            fg = colour
            bg = A.random_background(read_image(_pick(self.backgrounds, rng)), rng, cfg.size, cfg.bg_max_upscale)
            bg = A.typewise_background(bg, kind, rng, cfg)
            colour = composite(alpha, fg, bg)
        image = A.degrade(colour, rng, cfg)
        trimap = arrays["tri"]
        if trimap is None:
            trimap = random_trimap_from_alpha(alpha, rng, cfg.trimap_k_range)
        category = self.folder.meta.get(name, (None, None))[1] or ""
        return make_item(image=image, alpha=alpha, fg=fg, bg=bg, trimap=trimap, mask=self._coarse(alpha, rng),
                         image_type=kind, name=name, has_alpha=True, coarse=False, unified=self.unified,
                         category=category, source=self.source)  # fmt: skip


def coarse_pairs(root: PathLike) -> dict[str, tuple[Path, Path]]:
    """name -> (image, mask) for a coarse-label folder ``root/{image,mask}`` (files matched by stem).

    Raises:
        FileNotFoundError: ``root``, ``root/image`` or ``root/mask`` missing, or no pair at all.
    """
    root = Path(root)
    for sub in ("image", "mask"):
        if not (root / sub).is_dir():
            raise FileNotFoundError(f"{root / sub}: not a coarse-label dataset (expected image/ and mask/ folders)")
    images, _ = index_by_stem(root / "image")
    masks, _ = index_by_stem(root / "mask")
    pairs = {n: (images[n], masks[n]) for n in sorted(images) if n in masks}
    if not pairs:
        raise FileNotFoundError(f"{root}: no image/mask pairs with the same file stem")
    return pairs


def read_mask(path: Path, shape: Sequence[int]) -> np.ndarray:
    """A binary mask file (0/1 or 0/255 grey) as float32 {0, 1} (H, W)."""
    return (read_alpha(path, shape=shape) >= 0.5).astype(np.float32)


class DecodeCache:
    """Decoded training images kept in memory as 8-bit arrays (a JPEG decode per sample costs more than the
    crop and resize of it). ``read(path)`` returns what :func:`read_image` returns (float32 in [0, 1]; 16-bit
    sources are quantised to 8 bits: the training sets are 8-bit), ``read(path, "mask")`` a
    :func:`read_mask`. Bounded by ``max_mb`` (``AUTOMATTE_DECODE_CACHE_MB``, default 4096; 0 disables): past
    it, images are decoded every time. One cache per process (DataLoader workers each fill their own).

    Example:
        >>> import tempfile, pathlib
        >>> from automatte.io import write_image
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.png"
        >>> _ = write_image(path, np.full((4, 6, 3), 0.5, np.float32))
        >>> cache = DecodeCache(max_mb=1)
        >>> a = cache.read(path); b = cache.read(path)
        >>> a.shape, bool(np.array_equal(a, read_image(path))), cache.hits
        ((4, 6, 3), True, 1)
    """

    def __init__(self, max_mb: float | None = None):
        if max_mb is None:
            max_mb = float(os.environ.get("AUTOMATTE_DECODE_CACHE_MB", "4096"))
        self.max_bytes = int(max_mb * 2**20)
        self.bytes = self.hits = 0
        self._store: dict[tuple[str, str], np.ndarray] = {}

    def read(self, path: PathLike, kind: str = "image", shape: Sequence[int] | None = None) -> np.ndarray:
        key = (str(path), kind)
        stored = self._store.get(key)
        if stored is not None:
            self.hits += 1
            return stored.astype(np.float32) * np.float32(1 / 255) if kind != "mask" else stored.astype(np.float32)
        if kind == "mask":
            value = read_mask(Path(path), shape)
            packed = value.astype(np.uint8)
        else:
            value = read_image(path, keep_alpha=kind == "rgba")
            packed = np.round(value * 255).astype(np.uint8)
            value = packed.astype(np.float32) * np.float32(1 / 255)
        if self.bytes + packed.nbytes <= self.max_bytes:
            self._store[key] = packed
            self.bytes += packed.nbytes
        return value


_CACHE: DecodeCache | None = None


def decode_cache() -> DecodeCache:
    """The process's :class:`DecodeCache` (created on first use)."""
    global _CACHE
    if _CACHE is None:
        _CACHE = DecodeCache()
    return _CACHE


class CoarseDataset(SeededDataset):
    """Image + binary mask pairs for the trimap-only (DDC) paradigm: no alpha, random trimaps as labels.

    Per item: crop (centred on the mask's edge with ``augment.unknown_crop_prob``), resize, flip, colour jitter
    and degradations on the image, then ``random_trimap_from_mask`` with k in ``augment.trimap_k_range`` at the
    training resolution (DDC Sec. 4.1: [1, 30]); with ``coarse_mask=True`` also ``mask`` =
    ``synthesize_coarse_mask`` of the binary mask (TGN input). Items have ``has_alpha`` False, ``coarse`` True.

    Args:
        root: folder with ``image/`` and ``mask/`` (files matched by stem).
        augment: :class:`Augment`; image_type: type of every sample (people and salient objects: "SO").
        frame_prob: probability of a framed crop (:func:`~automatte.data.augment.framed_crop`: the bottom edge
            cuts the object at a fraction ``frame_range`` of its height; 0 draws nothing, so seeds keep their
            samples).
        Others as in :class:`MattingDataset`.
    """

    def __init__(
        self,
        root: PathLike,
        augment: Augment | None = None,
        *,
        image_type: str = "SO",
        unified: bool = False,
        coarse_mask: bool = False,
        names: Sequence[str] | None = None,
        split: str | None = None,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        seed: int = 0,
        source: str | None = None,
        frame_prob: float = 0.0,
        frame_range: Sequence[float] = (0.55, 0.9),
    ):
        root = Path(root)
        super().__init__(augment, seed, unified, coarse_mask, source or root.name)
        if not (0.0 <= frame_prob <= 1.0 and 0.0 < frame_range[0] <= frame_range[1] <= 1.0):
            raise ValueError(
                f"{root}: need 0 <= frame_prob <= 1 and 0 < low <= high <= 1 for frame_range, "
                f"got {frame_prob}, {tuple(frame_range)!r}"
            )
        self.frame_prob, self.frame_range = float(frame_prob), (float(frame_range[0]), float(frame_range[1]))
        self.root = root
        self.pairs = coarse_pairs(root)
        self.image_type = normalize_image_type(image_type)
        self.names = _select(list(self.pairs), names, split, val_fraction, split_seed, str(root))

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, key) -> dict:
        index, rng = self._key(key)
        name, cfg = self.names[index], self.augment
        image_path, mask_path = self.pairs[name]
        image = decode_cache().read(image_path)
        mask = decode_cache().read(mask_path, "mask", image.shape)
        box = None
        if self.frame_prob > 0 and rng.random() < self.frame_prob:  # no draw at 0: old seeds unchanged
            box = A.framed_crop(mask, rng, cfg.crop_sizes, self.frame_range, cfg.scale_range)
        if box is None:
            box = A.choose_crop(mask.shape, rng, cfg.crop_sizes, A.unknown_region(mask), cfg.unknown_crop_prob,
                                cfg.scale_range)  # fmt: skip
        arrays = {"image": A.apply_box(image, box, cfg.size), "mask": A.apply_box(mask, box, cfg.size)}
        if rng.random() < cfg.flip_prob:
            arrays = A.flip_arrays(arrays)
        image, mask = arrays["image"], (arrays["mask"] >= 0.5).astype(np.float32)
        if rng.random() < cfg.jitter_prob:
            image = A.colour_jitter(image, rng, cfg.hue, cfg.saturation, cfg.brightness)
        image = A.degrade(image, rng, cfg)
        trimap = random_trimap_from_mask(mask, rng, cfg.trimap_k_range)  # DDC Sec. 4.1
        return make_item(image=image, trimap=trimap, mask=self._coarse(mask, rng), image_type=self.image_type,
                         name=name, has_alpha=False, coarse=True, unified=self.unified, source=self.source)  # fmt: skip


class SynthDataset(SeededDataset):
    """The procedural generator as an endless, index-deterministic source of exact-alpha samples.

    Item i is ``synthesize_sample(default_rng([seed, i]), types[i % len(types)], augment.size, background)``
    (the background drawn from the pool with that generator first, as ``synthesize_dataset`` does, so item i
    equals sample i of ``synthesize_dataset(n, types, size, seed, backgrounds)``). The content of an index never
    changes; the augmentations on top (flip, jitter of F, AIM's type-wise bokeh of B, degradations, random
    trimap) use ``item_rng(seed, epoch, i)`` and are recomposited with I = alpha F + (1 - alpha) B. For
    validation use another seed. Crops are not used: samples are generated at the training size, with a random
    object scale and placement (a deviation from the papers' crop-and-resize, which would render at up to 4x the
    side and so up to 16x the cost per sample).

    Args:
        length: number of items (default :data:`ENDLESS`; give the loader an ``epoch_length``).
        augment: :class:`Augment`; its ``size`` is the generated size (>= 32).
        types: image types cycled over the index.
        backgrounds: background pool (folder, files or list); None for procedural backgrounds.
        seed, unified, coarse_mask, source: as in :class:`MattingDataset`.

    Example:
        >>> ds = SynthDataset(augment=Augment.none(size=32))
        >>> item = ds[2]
        >>> item["type"], item["fg"].shape, bool(torch.equal(item["alpha"], ds[2]["alpha"]))
        ('NS', torch.Size([3, 32, 32]), True)
    """

    def __init__(
        self,
        length: int = ENDLESS,
        augment: Augment | None = None,
        *,
        types: Sequence[str] = ("SO", "STM", "NS"),
        backgrounds: PathLike | Sequence[PathLike] | None = None,
        seed: int = 0,
        unified: bool = False,
        coarse_mask: bool = False,
        source: str = "synth",
    ):
        super().__init__(augment, seed, unified, coarse_mask, source)
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or not 0 < length <= ENDLESS:
            raise ValueError(f"SynthDataset: length must be an integer in [1, {ENDLESS}], got {length!r}")
        if self.augment.size < 32:
            raise ValueError(f"SynthDataset: augment.size must be >= 32 (generator minimum), got {self.augment.size}")
        self.length = int(length)
        self.types = tuple(normalize_image_type(t) for t in ([types] if isinstance(types, str) else types))
        if not self.types:
            raise ValueError("SynthDataset: types is empty; give some of 'SO', 'STM', 'NS'")
        self.backgrounds = list_backgrounds(backgrounds)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key) -> dict:
        index, rng = self._key(key)
        cfg, kind = self.augment, self.types[index % len(self.types)]
        gen = np.random.default_rng([self.seed, index])
        photo = read_image(_pick(self.backgrounds, gen)) if self.backgrounds else None
        sample = synthesize_sample(gen, kind, cfg.size, photo)
        arrays = {"fg": sample.fg, "bg": sample.bg, "alpha": sample.alpha}
        if rng.random() < cfg.flip_prob:
            arrays = A.flip_arrays(arrays)
        fg, bg, alpha = arrays["fg"], arrays["bg"], arrays["alpha"]
        if rng.random() < cfg.jitter_prob:
            fg = A.colour_jitter(fg, rng, cfg.hue, cfg.saturation, cfg.brightness)
        bg = A.typewise_background(bg, kind, rng, cfg)
        image = A.degrade(composite(alpha, fg, bg), rng, cfg)
        trimap = random_trimap_from_alpha(alpha, rng, cfg.trimap_k_range)
        return make_item(image=image, alpha=alpha, fg=fg, bg=bg, trimap=trimap, mask=self._coarse(alpha, rng),
                         image_type=kind, name=f"{kind.lower()}_{index:06d}_{sample.category}", has_alpha=True,
                         coarse=False, unified=self.unified, category=sample.category, source=self.source)  # fmt: skip
