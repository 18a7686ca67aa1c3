"""Copy-paste compositing: the masked real objects of the coarse-label sets on the background pool.

The coarse sets (``../shared/data/coarse/{ccp,sod300,hsd}``) hold real photos with binary masks of their main
object. :class:`CopyPasteDataset` cuts the object out and composites it onto a random background, which gives
real object appearance on new backgrounds (AIM's point about composite-only training data) with a known F and
B. Per item, in this order from ``item_rng(seed, epoch, index)``:

1. Scale: the object's bounding box gets a long side of ``object_scale`` (a fraction drawn uniformly) times
   ``augment.size``, at most ``max_upscale`` times its source size. Sides where the mask touches the photo's
   border stay on the canvas border (the cut is the frame, not an object edge to learn); a mask that touches
   two opposite borders is scaled to cover that axis.
2. Place: uniformly where the box fits, or where the canvas fits in a larger box (or the border rules above; or
   ``bottom_cut``: the object cut by the bottom edge); flip with ``augment.flip_prob``.
3. F = the resized photo (edge pixels repeated outside it), alpha = the area-resized mask blurred with a
   Gaussian of ``feather`` pixels (default 0.7: a 10-90 % edge ramp of about 1.8 px).
4. Colour jitter on F, a background from the pool with AIM's type-wise bokeh, I = alpha F + (1 - alpha) B,
   then the degradations of :mod:`automatte.data.augment`; trimap = ``random_trimap_from_alpha`` with
   ``augment.trimap_k_range`` (every feathered pixel is unknown).

The alpha is approximate: a hand-drawn binary outline with a made-up soft edge, wrong at hair and other fine
structure by up to a few pixels. Items therefore carry it as ``alpha`` (the exact alpha *of this composite*,
useful for a composition check) but with ``has_alpha`` False and ``coarse`` True: train with the known / DDC
losses on the trimap, not with an alpha L1 on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from automatte.io import list_images
from automatte.ops.composition import composite
from automatte.ops.semantics import normalize_image_type
from automatte.ops.trimap import random_trimap_from_alpha

from . import augment as A
from .augment import Augment
from .datasets import PathLike, SeededDataset, _pick, _select, coarse_pairs, decode_cache, list_backgrounds, make_item

__all__ = ["CopyPasteDataset", "CutoutDataset", "paste_object"]


def _axis_offset(lo: float, hi: float, size: int, touch_lo: bool, touch_hi: bool, rng: np.random.Generator) -> float:
    """Offset t along one axis for an object spanning [lo, hi) (scaled pixels) on a canvas of ``size``."""
    if touch_lo and touch_hi:
        return float(rng.uniform(min(size - hi, -lo), max(size - hi, -lo)))
    if touch_lo:
        return -lo
    if touch_hi:
        return size - hi
    a, b = -lo, size - hi
    return float(rng.uniform(min(a, b), max(a, b)))  # fits: anywhere inside; larger: the frame crops it anywhere


def paste_object(
    photo: np.ndarray,
    mask: np.ndarray,
    size: int,
    rng: np.random.Generator,
    object_scale: tuple[float, float] = (0.4, 0.95),
    feather: float = 0.7,
    max_upscale: float = 2.0,
    bottom_cut: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut the masked object of ``photo`` and place it on a ``size`` x ``size`` canvas (steps 1-3 above).

    Args:
        photo: (H, W, 3) float RGB in [0, 1].
        mask: (H, W) binary {0, 1} mask of the object.
        size: canvas side.
        rng: the item's generator.
        object_scale: range of the object's long side as a fraction of ``size``.
        feather: Gaussian sigma of the soft edge in canvas pixels (0: only the resize's anti-aliasing).
        max_upscale: largest enlargement of the source.
        bottom_cut: fraction in [0, 1) of the object's height left below the canvas (framing: a toy or a person
            standing on the bottom edge, cut by it); the object is enlarged by ``1 / (1 - bottom_cut)`` so that
            its visible part keeps the drawn size. Ignored for a mask that already touches the bottom border.

    Returns:
        (fg, alpha): (size, size, 3) and (size, size) float32; fg is defined everywhere.

    Example:
        >>> m = np.zeros((40, 60), np.float32); m[10:30, 20:40] = 1
        >>> fg, alpha = paste_object(np.ones((40, 60, 3), np.float32), m, 32, np.random.default_rng(0))
        >>> fg.shape, alpha.shape, bool(0.99 < alpha.max() <= 1 and alpha.min() == 0)
        ((32, 32, 3), (32, 32), True)
    """
    h, w = mask.shape
    ys, xs = np.nonzero(mask >= 0.5)
    if len(ys) == 0:  # nothing to cut: the whole photo as F, alpha 0
        y0, y1, x0, x1 = 0, h, 0, w
    else:
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    touch = {"top": y0 == 0, "bottom": y1 == h, "left": x0 == 0, "right": x1 == w}
    if not 0.0 <= bottom_cut < 1.0:
        raise ValueError(f"paste_object: bottom_cut must be in [0, 1), got {bottom_cut}")
    cut = 0.0 if touch["bottom"] else bottom_cut
    scale = float(rng.uniform(*object_scale)) * size / max(y1 - y0, x1 - x0) / (1.0 - cut)
    if touch["top"] and touch["bottom"]:
        scale = max(scale, size / (y1 - y0))
    if touch["left"] and touch["right"]:
        scale = max(scale, size / (x1 - x0))
    scale = min(scale, max_upscale)
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    photo_s = cv2.resize(np.ascontiguousarray(photo[..., :3], np.float32), (sw, sh), interpolation=interp)
    mask_s = cv2.resize(np.ascontiguousarray(mask, np.float32), (sw, sh), interpolation=interp)
    fy, fx = sh / h, sw / w
    if cut > 0:  # the bottom `cut` of the object's (scaled) height lies below the canvas
        ty = round(size - y1 * fy + cut * (y1 - y0) * fy)
    else:
        ty = round(_axis_offset(y0 * fy, y1 * fy, size, touch["top"], touch["bottom"], rng))
    tx = round(_axis_offset(x0 * fx, x1 * fx, size, touch["left"], touch["right"], rng))
    shift = np.float32([[1, 0, tx], [0, 1, ty]])
    fg = cv2.warpAffine(photo_s, shift, (size, size), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(mask_s, shift, (size, size), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
    if feather > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), sigmaX=float(feather), borderType=cv2.BORDER_REPLICATE)
    return np.clip(fg, 0.0, 1.0), np.clip(alpha, 0.0, 1.0)


def _composite_item(ds: SeededDataset, fg: np.ndarray, alpha: np.ndarray, rng: np.random.Generator, name: str,
                    exact: bool) -> dict:  # fmt: skip
    """The shared tail of the pasting datasets: flip, colour jitter on F, a background from ``ds.backgrounds``
    with the type-wise bokeh, ``I = alpha F + (1 - alpha) B``, degradations, a random trimap of alpha, the item
    (``has_alpha`` = ``exact``; ``coarse`` otherwise)."""
    cfg = ds.augment
    if rng.random() < cfg.flip_prob:
        fg, alpha = np.ascontiguousarray(fg[:, ::-1]), np.ascontiguousarray(alpha[:, ::-1])
    if rng.random() < cfg.jitter_prob:
        fg = A.colour_jitter(fg, rng, cfg.hue, cfg.saturation, cfg.brightness)
    bg = A.random_background(decode_cache().read(_pick(ds.backgrounds, rng)), rng, cfg.size, cfg.bg_max_upscale)
    bg = A.typewise_background(bg, ds.image_type, rng, cfg)
    image = A.degrade(composite(alpha, fg, bg), rng, cfg)
    trimap = random_trimap_from_alpha(alpha, rng, cfg.trimap_k_range)
    return make_item(image=image, alpha=alpha, fg=fg, bg=bg, trimap=trimap, mask=ds._coarse(alpha, rng),
                     image_type=ds.image_type, name=name, has_alpha=exact, coarse=not exact, unified=ds.unified,
                     source=ds.source)  # fmt: skip


class CopyPasteDataset(SeededDataset):
    """Objects of a coarse-label folder (``image/`` + ``mask/``) pasted onto random backgrounds (module docstring).

    Args:
        root: coarse-label folder.
        backgrounds: the background pool (folder searched recursively, files, or a list).
        augment: :class:`Augment` (``size``, flip, jitter, bokeh, degradations, trimap range; crops unused).
        object_scale, feather, max_upscale: see :func:`paste_object`.
        image_type: type of every sample ("SO" for people and salient objects).
        unified, coarse_mask, names, split, val_fraction, split_seed, seed, source: as in
            :class:`~automatte.data.datasets.CoarseDataset` (split by the photo's name, so a val photo is never
            pasted into training).
    """

    def __init__(
        self,
        root: PathLike,
        backgrounds: PathLike | Sequence[PathLike],
        augment: Augment | None = None,
        *,
        object_scale: tuple[float, float] = (0.4, 0.95),
        feather: float = 0.7,
        max_upscale: float = 2.0,
        image_type: str = "SO",
        unified: bool = False,
        coarse_mask: bool = False,
        names: Sequence[str] | None = None,
        split: str | None = None,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        seed: int = 0,
        source: str | None = None,
    ):
        self.pairs = coarse_pairs(root)
        root_name = str(root).rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
        super().__init__(augment, seed, unified, coarse_mask, source or f"copypaste-{root_name}")
        if not 0 < object_scale[0] <= object_scale[1]:
            raise ValueError(f"CopyPasteDataset: object_scale must be 0 < low <= high, got {object_scale!r}")
        if feather < 0 or max_upscale <= 0:
            raise ValueError(f"CopyPasteDataset: need feather >= 0 and max_upscale > 0, got {feather}, {max_upscale}")
        self.backgrounds = list_backgrounds(backgrounds)
        self.object_scale, self.feather, self.max_upscale = tuple(object_scale), float(feather), float(max_upscale)
        self.image_type = normalize_image_type(image_type)
        self.names = _select(list(self.pairs), names, split, val_fraction, split_seed, str(root))

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, key) -> dict:
        index, rng = self._key(key)
        name, cfg = self.names[index], self.augment
        image_path, mask_path = self.pairs[name]
        photo = decode_cache().read(image_path)
        mask = decode_cache().read(mask_path, "mask", photo.shape)
        fg, alpha = paste_object(photo, mask, cfg.size, rng, self.object_scale, self.feather, self.max_upscale)
        return _composite_item(self, fg, alpha, rng, name, exact=False)


class CutoutDataset(SeededDataset):
    """Photographic RGBA cutouts (e.g. ``../shared/data/cutouts/tuxpaint``: animals, plants, food, objects with
    real anti-aliased edges) pasted onto random backgrounds: general objects with an exact alpha at the edge.

    Per item, from ``item_rng(seed, epoch, index)``: :func:`paste_object` with the cutout's own alpha
    (``feather=0``: no made-up edge; with probability ``bottom_cut_prob`` the object stands cut by the bottom
    edge, a fraction uniform in ``bottom_cut_range`` of its height below the frame, as toys, plants and people
    are framed in studio matting photos), flip, colour jitter on F, a background from the pool with the type-wise
    bokeh, ``I = alpha F + (1 - alpha) B``, the degradations, ``trimap = random_trimap_from_alpha``. The alpha
    is exact for the composite, so items have ``has_alpha`` True and ``coarse`` False.

    Args:
        root: a folder of RGBA images (PNG / WebP / TIFF; files without transparency are skipped).
        backgrounds: the background pool.
        augment, object_scale, max_upscale, image_type, unified, coarse_mask, names, split, val_fraction,
            split_seed, seed, source: as in :class:`CopyPasteDataset` (split by file stem).
        bottom_cut_prob: probability of the bottom-edge framing above (0: every object wholly inside).
        bottom_cut_range: (low, high) fraction of the object's height below the frame, 0 <= low <= high < 1.

    Raises:
        FileNotFoundError: ``root`` missing or without images.
    """

    def __init__(
        self,
        root: PathLike,
        backgrounds: PathLike | Sequence[PathLike],
        augment: Augment | None = None,
        *,
        object_scale: tuple[float, float] = (0.35, 0.9),
        max_upscale: float = 2.5,
        bottom_cut_prob: float = 0.0,
        bottom_cut_range: tuple[float, float] = (0.1, 0.4),
        image_type: str = "SO",
        unified: bool = False,
        coarse_mask: bool = False,
        names: Sequence[str] | None = None,
        split: str | None = None,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        seed: int = 0,
        source: str | None = None,
    ):
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such folder of RGBA cutouts")
        self.files = {p.stem: p for p in list_images(root)}
        if not self.files:
            raise FileNotFoundError(f"{root}: no images")
        super().__init__(augment, seed, unified, coarse_mask, source or f"cutouts-{root.name}")
        if not 0 < object_scale[0] <= object_scale[1]:
            raise ValueError(f"CutoutDataset: object_scale must be 0 < low <= high, got {object_scale!r}")
        self.backgrounds = list_backgrounds(backgrounds)
        if not (0.0 <= bottom_cut_prob <= 1.0 and 0.0 <= bottom_cut_range[0] <= bottom_cut_range[1] < 1.0):
            raise ValueError(
                f"CutoutDataset: need 0 <= bottom_cut_prob <= 1 and 0 <= low <= high < 1 for bottom_cut_range, "
                f"got {bottom_cut_prob}, {bottom_cut_range!r}"
            )
        self.object_scale, self.max_upscale = tuple(object_scale), float(max_upscale)
        self.bottom_cut_prob, self.bottom_cut_range = float(bottom_cut_prob), tuple(bottom_cut_range)
        self.image_type = normalize_image_type(image_type)
        self.names = _select(sorted(self.files), names, split, val_fraction, split_seed, str(root))

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, key) -> dict:
        index, rng = self._key(key)
        name, cfg = self.names[index], self.augment
        rgba = decode_cache().read(self.files[name], "rgba")
        cut = 0.0
        if self.bottom_cut_prob > 0 and rng.random() < self.bottom_cut_prob:  # no draw at 0: old seeds unchanged
            cut = float(rng.uniform(*self.bottom_cut_range))
        fg, alpha = paste_object(
            rgba[..., :3], rgba[..., 3], cfg.size, rng, self.object_scale, 0.0, self.max_upscale, bottom_cut=cut
        )
        return _composite_item(self, fg, alpha, rng, name, exact=True)
