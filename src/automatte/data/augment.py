"""Training augmentation for matting data: crops, flips, colour jitter, degradations, type-wise bokeh.

Pure numpy / OpenCV functions on float32 arrays in [0, 1] (images (H, W, 3), mattes and masks (H, W)) that
take an explicit ``numpy.random.Generator``, plus the :class:`Augment` dataclass that the datasets of
:mod:`automatte.data.datasets` and :mod:`automatte.data.copypaste` read. The order in which a dataset applies
them, and what the papers say:

1. Crop: a square side drawn from ``crop_sizes`` (PP-Matting: 512 / 640 / 800; PPID: 512 / 640 / 960; AIM:
   640 / 960 / 1280), divided by a scale from ``scale_range`` (DDC: random scale 0.5-2 for AM-2K; 1 = off),
   centred with probability ``unknown_crop_prob`` on a random pixel of the unknown region (0 < alpha < 1, or
   the mask's edge) and clamped into the image, else placed uniformly. When the image is smaller than the
   side, the largest square that fits is taken (PP-Matting pads instead; padding would add borders that are
   in no real photo). Then the crop is resized to ``size`` (the papers' 512; AIM's 320): area interpolation
   when shrinking, bilinear when enlarging, the same for alpha, foreground and image. Deviation: the procedural
   source (:class:`~automatte.data.datasets.SynthDataset`) skips this step and renders at ``size``; its random
   object scale and placement stand in for the crop, because rendering at the crop sizes would multiply its cost.
2. Horizontal flip with probability ``flip_prob`` (DIM / PPID / DDC).
3. Colour jitter on the foreground *before* compositing (hue shift, saturation and brightness scaling in HSV),
   so I = alpha * F + (1 - alpha) * B keeps holding with the jittered F. Without a separate F (photos, coarse
   sets) it is applied to the image.
4. Background: a random square of a pool photo, resized to ``size`` and maybe mirrored. AIM's type-wise
   augmentation (Sec. 4.2): "NS images usually have a bokeh effect on the background ... for all NS images,
   we added the blur effect on the background as RSSN", so NS backgrounds are always defocused
   (``bokeh_prob_ns`` = 1). The RSSN route blurs backgrounds of the other types at random; its probability is
   not in our copy of the papers, so ``bokeh_prob`` = 0.5 for SO / STM is our choice. The defocus is a disc
   (pill-box) kernel, the shape of an out-of-focus lens, applied in a gamma-2.2 linear space so highlights
   bloom as in real bokeh; radius uniform in ``bokeh_radius`` pixels at 512, scaled with ``size``.
5. Composite, then degrade the composite only (the camera sees I, not F and B): Gaussian blur, Gaussian
   noise, JPEG re-compression at a random quality (``cv2.imencode``), each with its own probability. These
   break I = alpha F + (1 - alpha) B slightly on purpose; ``Augment.none()`` turns every random photometric
   step off (crops stay), so the equation holds to float precision.
6. Trimap: ``random_trimap_from_alpha`` / ``random_trimap_from_mask`` with k in ``trimap_k_range`` pixels at
   the output resolution (DDC Sec. 4.1: erosion k in [1, 30]).

Every size in pixels here (crop sides, bokeh radius, blur sigma, trimap k) is given for the training image as
the papers give it; only the bokeh radius and the blur sigma are rescaled with ``size / 512``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

__all__ = [
    "Augment",
    "apply_box",
    "bokeh_blur",
    "choose_crop",
    "colour_jitter",
    "degrade",
    "flip_arrays",
    "framed_crop",
    "gaussian_blur",
    "gaussian_noise",
    "item_rng",
    "jpeg_recompress",
    "random_background",
    "typewise_background",
    "unknown_region",
]

_REF = 512  # the papers' training size; bokeh radius and blur sigma are given at this size


@dataclass
class Augment:
    """Augmentation settings of a training dataset (defaults: PP-Matting crops, DDC trimaps, AIM bokeh).

    Attributes:
        size: side of the square training sample (output), pixels.
        crop_sizes: square crop sides in source pixels, one drawn per sample.
        scale_range: random source rescale (crop side = drawn side / scale); (1, 1) disables it.
        unknown_crop_prob: probability of centring the crop on the unknown region.
        flip_prob: probability of a horizontal flip.
        jitter_prob: probability of colour jitter (on F before compositing, else on the image).
        hue: largest hue shift as a fraction of the colour circle (0.05 = +-18 degrees).
        saturation: saturation scaled by a factor uniform in [1 - s, 1 + s].
        brightness: value (HSV) scaled by a factor uniform in [1 - b, 1 + b].
        bokeh_prob_ns: probability of a defocused background for NS samples (AIM: all).
        bokeh_prob: the same for SO / STM samples (RSSN's random background blur; 0.5 our choice).
        bokeh_radius: disc radius range in pixels at 512 (scaled with ``size``).
        blur_prob, blur_sigma: Gaussian blur of the composite; sigma range in pixels at 512.
        noise_prob, noise_sigma: additive Gaussian noise of the composite; sigma range on the [0, 1] scale.
        jpeg_prob, jpeg_quality: JPEG re-compression of the composite; inclusive quality range.
        trimap_k_range: inclusive erosion kernel range of the random trimap (DDC: [1, 30]).
        bg_max_upscale: when > 0, a background square is enlarged at most this many times into the sample
            (its side at least ``size / bg_max_upscale``, up to the photo's short side); 0 keeps every side of
            50-100 % of the short side. Our addition: on small background photos (the GPU pack's) the enlarged,
            blurred backgrounds let a model learn "blurred = background", which fails on sharp ones.
    """

    size: int = 512
    crop_sizes: tuple[int, ...] = (512, 640, 800)
    scale_range: tuple[float, float] = (1.0, 1.0)
    unknown_crop_prob: float = 0.5
    flip_prob: float = 0.5
    jitter_prob: float = 0.5
    hue: float = 0.05
    saturation: float = 0.3
    brightness: float = 0.3
    bokeh_prob_ns: float = 1.0
    bokeh_prob: float = 0.5
    bokeh_radius: tuple[float, float] = (4.0, 20.0)
    blur_prob: float = 0.2
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    noise_prob: float = 0.3
    noise_sigma: tuple[float, float] = (0.002, 0.03)
    jpeg_prob: float = 0.3
    jpeg_quality: tuple[int, int] = (40, 95)
    trimap_k_range: tuple[int, int] = (1, 30)
    bg_max_upscale: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.size, (int, np.integer)) or self.size < 8:
            raise ValueError(f"Augment.size must be an integer >= 8 pixels, got {self.size!r}")
        self.crop_sizes = tuple(int(s) for s in self.crop_sizes)
        if not self.crop_sizes or min(self.crop_sizes) < 1:
            raise ValueError(f"Augment.crop_sizes must be positive pixel sizes, got {self.crop_sizes!r}")
        for name in ("unknown_crop_prob", "flip_prob", "jitter_prob", "bokeh_prob_ns", "bokeh_prob",
                     "blur_prob", "noise_prob", "jpeg_prob"):  # fmt: skip
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"Augment.{name} must be a probability in [0, 1], got {p!r}")
        for name in ("scale_range", "bokeh_radius", "blur_sigma", "noise_sigma", "jpeg_quality", "trimap_k_range"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise ValueError(f"Augment.{name} must be a range (low, high) with 0 <= low <= high, got {(lo, hi)}")
        if self.scale_range[0] <= 0:
            raise ValueError(f"Augment.scale_range must be positive, got {self.scale_range}")
        if not self.bg_max_upscale >= 0:
            raise ValueError(f"Augment.bg_max_upscale must be >= 0 (0: off), got {self.bg_max_upscale!r}")

    @classmethod
    def none(cls, size: int = 512, crop_sizes: Sequence[int] = (512, 640, 800), **overrides) -> Augment:
        """Settings with every random photometric step off (no flip, jitter, bokeh, blur, noise, JPEG).

        Crops and random trimaps stay; use it for validation data and for checking the matting equation.

        Example:
            >>> Augment.none(size=64, crop_sizes=(64,)).jpeg_prob
            0.0
        """
        off = dict(flip_prob=0.0, jitter_prob=0.0, bokeh_prob_ns=0.0, bokeh_prob=0.0, blur_prob=0.0,
                   noise_prob=0.0, jpeg_prob=0.0)  # fmt: skip
        return cls(size=size, crop_sizes=tuple(crop_sizes), **{**off, **overrides})

    def replace(self, **changes) -> Augment:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return replace(self, **changes)


def item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The random generator of one item: ``numpy.random.default_rng([seed, epoch, index])``.

    It depends on nothing else (worker, process, order of access), which makes every dataset deterministic
    under a seed and safe in any number of DataLoader workers.

    Example:
        >>> float(item_rng(0, 1, 2).random()) == float(item_rng(0, 1, 2).random())
        True
    """
    return np.random.default_rng([int(seed), int(epoch), int(index)])


# ------------------------------------------------------------------------------------------------ geometry


def unknown_region(alpha: np.ndarray) -> np.ndarray:
    """Where a crop may be centred: 0 < alpha < 1 (with a 1/255 margin), or the edge of a hard matte.

    Args:
        alpha: (H, W) float matte or mask in [0, 1].

    Returns:
        (H, W) bool map; all False for an empty or full matte.

    Example:
        >>> a = np.zeros((8, 8), np.float32); a[2:6, 2:6] = 1
        >>> int(unknown_region(a).sum())  # the 1-pixel rings inside and outside the square's edge
        32
    """
    soft = (alpha > 1.0 / 255) & (alpha < 254.0 / 255)
    if soft.any():
        return soft
    hard = (alpha >= 0.5).astype(np.uint8)
    edge = cv2.morphologyEx(hard, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    return edge.astype(bool)


def _draw_side(rng: np.random.Generator, crop_sizes: Sequence[int], scale_range: tuple[float, float]) -> int:
    """A crop side: one of ``crop_sizes`` divided by a scale drawn from ``scale_range`` (none drawn at (s, s))."""
    side = int(crop_sizes[int(rng.integers(len(crop_sizes)))])
    lo, hi = scale_range
    if hi > lo:
        side = int(round(side / float(rng.uniform(lo, hi))))
    elif lo != 1.0:
        side = int(round(side / lo))
    return side


def choose_crop(
    shape: Sequence[int],
    rng: np.random.Generator,
    crop_sizes: Sequence[int],
    focus: np.ndarray | None = None,
    focus_prob: float = 0.5,
    scale_range: tuple[float, float] = (1.0, 1.0),
) -> tuple[int, int, int]:
    """Draw a square crop box (y, x, side) inside an image of ``shape``.

    Args:
        shape: (H, W, ...) of the source.
        rng: the item's generator.
        crop_sizes: candidate sides in pixels (one drawn uniformly).
        focus: optional (H, W) bool map (e.g. :func:`unknown_region`); with probability ``focus_prob`` the box
            is centred on one of its pixels (clamped into the image).
        focus_prob: probability of a focused crop.
        scale_range: a scale s drawn uniformly; the side becomes ``round(size / s)``.

    Returns:
        (y, x, side) with ``side <= min(H, W)`` (the largest square that fits when the drawn side is larger).

    Example:
        >>> choose_crop((100, 80), np.random.default_rng(0), [64])[2]
        64
    """
    h, w = int(shape[0]), int(shape[1])
    side = _draw_side(rng, crop_sizes, scale_range)
    side = max(1, min(side, h, w))
    if focus is not None and rng.random() < focus_prob:
        ys, xs = np.nonzero(focus)
        if len(ys):
            j = int(rng.integers(len(ys)))
            y = int(np.clip(ys[j] - side // 2, 0, h - side))
            x = int(np.clip(xs[j] - side // 2, 0, w - side))
            return y, x, side
    return int(rng.integers(h - side + 1)), int(rng.integers(w - side + 1)), side


def framed_crop(
    mask: np.ndarray,
    rng: np.random.Generator,
    crop_sizes: Sequence[int],
    keep_range: tuple[float, float] = (0.55, 0.9),
    scale_range: tuple[float, float] = (1.0, 1.0),
    min_fraction: float = 0.4,
) -> tuple[int, int, int] | None:
    """A square crop box (y, x, side) whose bottom edge cuts the object, as studio photos frame toys, plants and
    people: the box ends a fraction f (uniform in ``keep_range``) of the object's height below its top, so the
    object reaches the bottom of the sample. Our addition (issue 27): salient-object sets hold their objects
    inside the frame, and a segmenter trained on them alone cuts objects that meet the bottom edge.

    The side is drawn as in :func:`choose_crop`, then limited to what lies above the cut; the box is centred on
    the object horizontally (+-25 % of the side). ``None`` when the mask is empty or less than ``min_fraction``
    of the photo's short side lies above the cut (the caller takes an ordinary crop then).

    Example:
        >>> m = np.zeros((200, 300), np.float32); m[40:200, 100:200] = 1
        >>> y, x, side = framed_crop(m, np.random.default_rng(0), [160], keep_range=(0.75, 0.75))
        >>> y + side, side   # the cut: 40 + 0.75 * 160
        (160, 160)
    """
    ys, xs = np.nonzero(np.asarray(mask) >= 0.5)
    if not len(ys):
        return None
    h, w = int(mask.shape[0]), int(mask.shape[1])
    top, bottom = int(ys.min()), int(ys.max()) + 1
    cut = int(round(top + float(rng.uniform(*keep_range)) * (bottom - top)))
    side = _draw_side(rng, crop_sizes, scale_range)
    side = max(1, min(side, cut, w))
    if side < min_fraction * min(h, w):
        return None
    centre = (int(xs.min()) + int(xs.max()) + 1) / 2 + float(rng.uniform(-0.25, 0.25)) * side
    x = int(np.clip(round(centre - side / 2), 0, w - side))
    return cut - side, x, side


def apply_box(array: np.ndarray, box: tuple[int, int, int], size: int, nearest: bool = False) -> np.ndarray:
    """Crop ``box`` = (y, x, side) out of ``array`` and resize it to ``size`` x ``size``.

    Area interpolation when shrinking, bilinear when enlarging, nearest with ``nearest=True`` (label maps).

    Returns:
        float32 array of shape (size, size) + array.shape[2:].
    """
    y, x, side = box
    patch = np.ascontiguousarray(array[y : y + side, x : x + side], dtype=np.float32)
    if side == size:
        return patch
    interp = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if side > size else cv2.INTER_LINEAR)
    out = cv2.resize(patch, (size, size), interpolation=interp)
    return out.reshape((size, size) + array.shape[2:])


def flip_arrays(arrays: dict[str, np.ndarray | None]) -> dict[str, np.ndarray | None]:
    """Mirror every array of a dict left-right (None entries stay None)."""
    return {k: None if a is None else np.ascontiguousarray(a[:, ::-1]) for k, a in arrays.items()}


# ------------------------------------------------------------------------------------------------ photometric


def colour_jitter(
    image: np.ndarray, rng: np.random.Generator, hue: float, saturation: float, brightness: float
) -> np.ndarray:
    """Random hue shift and saturation / brightness (HSV value) scaling of an (H, W, 3) RGB image in [0, 1].

    Args:
        image: (H, W, 3) float RGB in [0, 1].
        rng: the item's generator.
        hue: largest shift as a fraction of the hue circle.
        saturation: factor uniform in [1 - saturation, 1 + saturation].
        brightness: factor uniform in [1 - brightness, 1 + brightness].

    Returns:
        (H, W, 3) float32 in [0, 1].

    Example:
        >>> grey = np.full((4, 4, 3), 0.5, np.float32)
        >>> bool(np.allclose(colour_jitter(grey, np.random.default_rng(0), 0.1, 0.3, 0.0), 0.5, atol=1e-6))
        True
    """
    dh = float(rng.uniform(-hue, hue)) * 360.0
    ds = float(rng.uniform(1.0 - saturation, 1.0 + saturation))
    dv = float(rng.uniform(1.0 - brightness, 1.0 + brightness))
    hsv = cv2.cvtColor(np.ascontiguousarray(image, dtype=np.float32), cv2.COLOR_RGB2HSV)  # H in [0, 360)
    hsv[..., 0] = np.mod(hsv[..., 0] + dh, 360.0)
    hsv[..., 1] = np.clip(hsv[..., 1] * ds, 0.0, 1.0)
    hsv[..., 2] = np.clip(hsv[..., 2] * dv, 0.0, 1.0)
    return np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), 0.0, 1.0)


def bokeh_blur(image: np.ndarray, radius: float) -> np.ndarray:
    """Defocus (bokeh) blur: a normalised disc kernel of ``radius`` pixels applied in gamma-2.2 linear light.

    Example:
        >>> im = np.zeros((32, 32, 3), np.float32); im[16, 16] = 1
        >>> out = bokeh_blur(im, 4)
        >>> out.shape, bool(out[16, 16, 0] < 1 and out[16, 19, 0] > 0)
        ((32, 32, 3), True)
    """
    r = max(0.5, float(radius))
    k = 2 * int(np.ceil(r)) + 1
    yy, xx = np.mgrid[:k, :k] - k // 2
    disc = np.clip(r + 0.5 - np.sqrt(yy * yy + xx * xx), 0.0, 1.0).astype(np.float32)  # anti-aliased rim
    disc /= disc.sum()
    linear = np.power(np.clip(image, 0.0, 1.0), 2.2).astype(np.float32)
    out = cv2.filter2D(linear, -1, disc, borderType=cv2.BORDER_REFLECT)
    return np.power(np.clip(out, 0.0, 1.0), 1.0 / 2.2).astype(np.float32)


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with ``sigma`` pixels (reflecting borders)."""
    return cv2.GaussianBlur(image, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_REFLECT)


def gaussian_noise(image: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Add N(0, sigma^2) noise per pixel and channel, clipped to [0, 1]."""
    noise = rng.normal(0.0, float(sigma), image.shape).astype(np.float32)
    return np.clip(image + noise, 0.0, 1.0)


def jpeg_recompress(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode an (H, W, 3) RGB image in [0, 1] as JPEG at ``quality`` (``cv2.imencode``) and decode it.

    Example:
        >>> im = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
        >>> out = jpeg_recompress(im, 50)
        >>> out.shape, out.dtype
        ((16, 16, 3), dtype('float32'))
    """
    u8 = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    ok, data = cv2.imencode(".jpg", u8[..., ::-1], [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
        raise ValueError(f"jpeg_recompress: OpenCV could not encode an image of shape {image.shape}")
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0


def degrade(image: np.ndarray, rng: np.random.Generator, cfg: Augment) -> np.ndarray:
    """Camera-like degradations of a composite, each with its probability: blur, then noise, then JPEG."""
    scale = cfg.size / _REF
    if rng.random() < cfg.blur_prob:
        image = gaussian_blur(image, float(rng.uniform(*cfg.blur_sigma)) * scale)
    if rng.random() < cfg.noise_prob:
        image = gaussian_noise(image, rng, float(rng.uniform(*cfg.noise_sigma)))
    if rng.random() < cfg.jpeg_prob:
        image = jpeg_recompress(image, int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1], endpoint=True)))
    return np.ascontiguousarray(image, dtype=np.float32)


# ------------------------------------------------------------------------------------------------ backgrounds


def random_background(photo: np.ndarray, rng: np.random.Generator, size: int, max_upscale: float = 0.0) -> np.ndarray:
    """A random square (side 50-100 % of the photo's short side) of ``photo``, resized to ``size``, maybe mirrored.

    ``max_upscale`` > 0 raises the smallest side to ``size / max_upscale`` (capped at the short side), so the
    square is enlarged at most that many times unless the whole photo is smaller (``Augment.bg_max_upscale``).

    Example:
        >>> random_background(np.zeros((40, 60, 3), np.float32), np.random.default_rng(0), 32).shape
        (32, 32, 3)
    """
    h, w = photo.shape[:2]
    short = min(h, w)
    lo = 0.5 if max_upscale <= 0 else min(1.0, max(0.5, size / max_upscale / short))
    side = max(1, int(round(short * float(rng.uniform(lo, 1.0)))))
    box = (int(rng.integers(h - side + 1)), int(rng.integers(w - side + 1)), side)
    out = apply_box(photo[..., :3], box, size)
    if rng.random() < 0.5:
        out = np.ascontiguousarray(out[:, ::-1])
    return out


def typewise_background(bg: np.ndarray, image_type: str, rng: np.random.Generator, cfg: Augment) -> np.ndarray:
    """AIM's type-wise augmentation: defocus the background, always for NS (``bokeh_prob_ns``), else at random."""
    p = cfg.bokeh_prob_ns if image_type == "NS" else cfg.bokeh_prob
    if p > 0 and rng.random() < p:
        return bokeh_blur(bg, float(rng.uniform(*cfg.bokeh_radius)) * cfg.size / _REF)
    return bg
