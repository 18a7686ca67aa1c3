"""High-resolution inference: whole-image, tiled, band-tiled (global + tiled detail) and AIM's hybrid strategies.

The network is any callable ``fn(image, trimap=None) -> MattingOutput`` (a torch module wrapper or an ONNX
Runtime wrapper): it gets a float32 (B, 3, h, w) image in [0, 1] with h, w multiples of 32 (and, for
trimap-based refiners, a (B, 1, h, w) trimap in {0, 0.5, 1}); only ``.alpha`` and ``.trimap_logits``
(possibly None, possibly at a lower resolution) are read. Everything runs under ``torch.inference_mode()``
on the image's device, so the returned tensors are inference tensors (``.clone()`` them to edit in place).

Memory, for an H x W image (a "plane" is one float32/int32 H x W buffer; the input image is 3 planes and
is not copied when it is already float32):

* :func:`predict_whole`: O(H*W) for its outputs only: 1 plane (alpha) + 3 planes (trimap probabilities,
  when the net gives logits); the network runs at the reduced size.
* :func:`predict_tiled`: 2 planes (weighted alpha sum and weight sum, preallocated); the network, its
  activations and the tile batch are O(batch_size * tile^2).
* :func:`predict_aim_hybrid`: about 4 planes (the two passes' outputs resized to H x W, the trimap and the
  result); each network pass runs at 1/3 or 1/4 of the size.
* :func:`predict_band_tiled`: at most about 6 planes at peak (global alpha, trimap, transiently 3 probability
  planes or the 4 buffers of a separable box sum, then the fusion weight and the 2 tile accumulators),
  plus boolean masks (1 byte per pixel); the detail pass is O(tile^2) as above.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from automatte.infer.numpy_infer import resize_long_side  # one definition, shared with the NumPy path
from automatte.infer.padding import crop_to, pad_to_multiple
from automatte.models.output import MattingOutput

__all__ = ["resize_long_side", "predict_whole", "predict_tiled", "predict_band_tiled", "predict_aim_hybrid"]

MattingFn = Callable[..., MattingOutput]


def _check(image: Tensor, trimap: Tensor | None, single: bool = False) -> None:
    if not isinstance(image, Tensor) or image.ndim != 4 or image.shape[1] != 3:
        raise ValueError(f"image must be a (B, 3, H, W) tensor, got {getattr(image, 'shape', type(image))}")
    if not image.is_floating_point():
        raise ValueError(f"image must be float in [0, 1], got dtype {image.dtype}")
    if single and image.shape[0] != 1:
        raise ValueError(f"image must have batch size 1, got shape {tuple(image.shape)}")
    expected = (image.shape[0], 1, *image.shape[-2:])
    if trimap is not None and tuple(trimap.shape) != expected:
        raise ValueError(f"trimap must be (B, 1, H, W) = {expected}, got {tuple(trimap.shape)}")


def _run(fn: MattingFn, x: Tensor, trimap: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """Pad to 32, run, crop back: alpha (B, 1, h, w) float32 and softmax trimap probabilities or None."""
    xp, pads = pad_to_multiple(x, 32)
    out = fn(xp) if trimap is None else fn(xp, trimap=pad_to_multiple(trimap, 32)[0])
    alpha = out.alpha
    if not isinstance(alpha, Tensor) or alpha.ndim != 4 or alpha.shape[:2] != (x.shape[0], 1):
        got = getattr(alpha, "shape", type(alpha))
        raise ValueError(f"fn must return MattingOutput.alpha of shape ({x.shape[0]}, 1, h, w), got {got}")
    size = xp.shape[-2:]
    alpha = alpha.float()
    if alpha.shape[-2:] != size:
        alpha = F.interpolate(alpha, size=size, mode="bilinear", align_corners=False)
    probs = out.trimap_logits
    if probs is not None:  # logits may come at a lower resolution: resize to the (padded) alpha size first
        probs = probs.float()
        if probs.shape[-2:] != size:
            probs = F.interpolate(probs, size=size, mode="bilinear", align_corners=False)
        probs = torch.softmax(crop_to(probs, pads), dim=1)
    return crop_to(alpha, pads), probs


@torch.inference_mode()
def predict_whole(
    fn: MattingFn,
    image: Tensor,
    *,
    long_side: int | None = None,
    trimap: Tensor | None = None,
    upscale: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Run the network once on the whole image, resized so that its long side is ``long_side``.

    The image is resized bilinearly (antialiased when downscaling; ``long_side=None`` or, unless ``upscale``,
    a ``long_side`` at least the image's long side runs at the native size), padded to 32, run, cropped, and
    alpha and trimap probabilities are resized back bilinearly. A trimap input is resized with
    nearest-neighbour. ``upscale=True`` enlarges an image smaller than ``long_side`` to it (bilinear).

    Args:
        fn: ``fn(image, trimap=None) -> MattingOutput``.
        image: (B, 3, H, W) float in [0, 1].
        long_side: processing size of the long side (rounded by :func:`resize_long_side`), or None.
        trimap: optional (B, 1, H, W) in {0, 0.5, 1}, for trimap-based refiners.
        upscale: also enlarge images whose long side is under ``long_side``.

    Returns:
        alpha (B, 1, H, W) float32 in [0, 1], and the softmax trimap probabilities (B, 3, H, W)
        (background / transition / foreground) or None when the net gives no ``trimap_logits``.

    Example:
        >>> from automatte.models.output import MattingOutput
        >>> fn = lambda x, trimap=None: MattingOutput(alpha=x.mean(1, keepdim=True))
        >>> alpha, probs = predict_whole(fn, torch.rand(1, 3, 150, 230), long_side=64)
        >>> tuple(alpha.shape), probs
        ((1, 1, 150, 230), None)
    """
    _check(image, trimap)
    H, W = image.shape[-2:]
    x, t = image.float(), None if trimap is None else trimap.float()
    if long_side is None or (long_side >= max(H, W) and not upscale):
        size = (H, W)
    else:
        size = resize_long_side(H, W, long_side, allow_upscale=upscale)
    if size != (H, W):
        down = size[0] < H or size[1] < W
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=down)
        t = None if t is None else F.interpolate(t, size=size, mode="nearest-exact")
    alpha, probs = _run(fn, x, t)
    if size != (H, W):
        alpha = F.interpolate(alpha, size=(H, W), mode="bilinear", align_corners=False)
        probs = None if probs is None else F.interpolate(probs, size=(H, W), mode="bilinear", align_corners=False)
        return alpha.clamp_(0.0, 1.0), probs
    return alpha.clamp(0.0, 1.0), probs  # out of place: fn's alpha may alias the caller's image


def _starts(n: int, tile: int, overlap: int) -> list[int]:
    """Tile origins along one axis: stride ``tile - overlap``, the last tile aligned to the border."""
    if n <= tile:
        return [0]
    return list(range(0, n - tile, tile - overlap)) + [n - tile]


def _axis_weights(n: int, overlap: int, ramp_start: bool, ramp_end: bool, device=None) -> Tensor:
    """(n,) feathering weights of one tile axis: raised-cosine ramps over ``overlap`` px on interior sides.

    Two tiles overlapping by exactly ``overlap`` get ramps summing to 1; weights are strictly positive, so
    the normalised blend (weights divided by their sum) is defined and continuous everywhere.
    """
    w = torch.ones(n, device=device)
    o = min(overlap, n)
    if o > 0:
        ramp = 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(o, device=device) + 0.5) / o)  # Hann half-window
        if ramp_start:
            w[:o] *= ramp
        if ramp_end:
            w[n - o :] *= ramp.flip(0)
    return w


@torch.inference_mode()
def predict_tiled(
    fn: MattingFn,
    image: Tensor,
    *,
    tile: int = 512,
    overlap: int = 64,
    trimap: Tensor | None = None,
    batch_size: int = 1,
    mask: Tensor | None = None,
) -> Tensor:
    """Run the network on overlapping full-resolution tiles and blend them without seams.

    Tiles are ``tile`` x ``tile`` (smaller sides when the image is smaller; a single-tile image is exactly
    :func:`predict_whole` at native size) at stride ``tile - overlap``, the last tile aligned to the border.
    Each tile's alpha is weighted by a separable raised-cosine ramp across the overlaps (weight 1 elsewhere
    and on image borders) and accumulated into two preallocated (H, W) float32 buffers; the result is their
    ratio. Memory of the network pass is bounded by ``batch_size * tile^2``.

    Args:
        fn: ``fn(image, trimap=None) -> MattingOutput``.
        image: (1, 3, H, W) float in [0, 1].
        tile: tile size, a multiple of 32.
        overlap: overlap between neighbouring tiles, ``0 <= overlap < tile``.
        trimap: optional (1, 1, H, W) in {0, 0.5, 1}, cropped with each tile.
        batch_size: tiles per forward call.
        mask: optional (1, 1, H, W) bool; tiles without a True pixel are skipped, and pixels covered by no
            run tile are 0.

    Returns:
        alpha (1, 1, H, W) float32 in [0, 1].

    Example:
        >>> from automatte.models.output import MattingOutput
        >>> fn = lambda x, trimap=None: MattingOutput(alpha=x.mean(1, keepdim=True))
        >>> img = torch.rand(1, 3, 100, 150)
        >>> alpha = predict_tiled(fn, img, tile=64, overlap=16)
        >>> bool(torch.allclose(alpha, img.mean(1, keepdim=True), atol=1e-5))
        True
    """
    _check(image, trimap, single=True)
    if tile < 32 or tile % 32:
        raise ValueError(f"tile must be a positive multiple of 32, got {tile}")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile={tile}), got {overlap}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    H, W = image.shape[-2:]
    if mask is not None and tuple(mask.shape) != (1, 1, H, W):
        raise ValueError(f"mask must be (1, 1, H, W) = {(1, 1, H, W)}, got {tuple(mask.shape)}")
    th, tw = min(tile, H), min(tile, W)
    x, t = image.float(), None if trimap is None else trimap.float()
    acc = torch.zeros(H, W, dtype=torch.float32, device=image.device)
    wsum = torch.zeros_like(acc)
    pending: list[tuple[int, int]] = []

    def flush() -> None:
        tb = None if t is None else torch.cat([t[..., y : y + th, c : c + tw] for y, c in pending])
        alpha = _run(fn, torch.cat([x[..., y : y + th, c : c + tw] for y, c in pending]), tb)[0]
        for i, (y, c) in enumerate(pending):
            wy = _axis_weights(th, overlap, y > 0, y + th < H, acc.device)
            wx = _axis_weights(tw, overlap, c > 0, c + tw < W, acc.device)
            w = wy[:, None] * wx[None, :]
            acc[y : y + th, c : c + tw].add_(alpha[i, 0] * w)
            wsum[y : y + th, c : c + tw].add_(w)
        pending.clear()

    for y in _starts(H, tile, overlap):
        for c in _starts(W, tile, overlap):
            if mask is not None and not bool(mask[..., y : y + th, c : c + tw].any()):
                continue
            pending.append((y, c))
            if len(pending) == batch_size:
                flush()
    if pending:
        flush()
    acc.div_(wsum.clamp_(min=1e-12)).clamp_(0.0, 1.0)  # pixels of no run tile: 0 / 1e-12 = 0
    return acc[None, None]


def _box_sum(x: Tensor, r: int) -> Tensor:
    """(H, W) int32 sums of ``x`` over (2r+1)^2 windows clipped to the image (separable cumsums, O(H*W))."""
    out = x.to(torch.int32)
    for dim in (1, 0):
        n = out.shape[dim]
        csum = F.pad(torch.cumsum(out, dim, dtype=torch.int32), (1, 0) if dim == 1 else (0, 0, 1, 0))
        i = torch.arange(n, device=x.device)
        out = csum.index_select(dim, (i + r + 1).clamp(max=n))
        out.sub_(csum.index_select(dim, (i - r).clamp(min=0)))
        del csum
    return out


@torch.inference_mode()
def predict_band_tiled(
    fn: MattingFn,
    image: Tensor,
    *,
    global_long_side: int | None = 640,
    detail_long_side: int | None = None,
    tile: int = 512,
    overlap: int = 64,
    band: int | None = None,
    trimap_threshold: float = 0.02,
    batch_size: int = 1,
) -> tuple[Tensor, Tensor]:
    """Band-tiled strategy (the project's): a global pass at a reduced size, tiled native-size detail in the band.

    Not the paper's test: AIM-Net's hybrid test (two whole-image passes at 1/3 and 1/4 scale) is
    :func:`predict_aim_hybrid`. This one keeps the detail pass at full resolution, where a 1/4-scale pass
    would lose hair-level detail on multi-megapixel photos:

    1. Global pass: :func:`predict_whole` at ``global_long_side``.
    2. Trimap from the global pass: argmax of the trimap probabilities when the net gives them, else from the
       global alpha: background where alpha <= ``trimap_threshold`` (eps, default 0.02, i.e. ~5/255 of
       noise tolerated), foreground where alpha >= 1 - eps, transition otherwise.
    3. Band: the transition region dilated by ``band`` px (square window; default 1% of the long side, at
       least 3 px) so the detail pass covers the whole soft edge.
    4. Detail pass: :func:`predict_tiled` at ``detail_long_side`` (None: full resolution), running only the
       tiles that meet the band (plus its feather), a large saving on photos with a compact subject.
    5. Fusion: ``alpha = m * detail + (1 - m) * global`` with ``m`` the band mask box-blurred over
       ``max(1, band // 2)`` px, so the switch between passes is feathered and shows no step.

    Args:
        fn: ``fn(image, trimap=None) -> MattingOutput`` (trimap-free; it is never given a trimap).
        image: (1, 3, H, W) float in [0, 1].
        global_long_side: long side of the global pass (None: native size).
        detail_long_side: long side of the detail pass (None: native size).
        tile, overlap, batch_size: tiling of the detail pass, see :func:`predict_tiled`.
        band: band half-width in full-resolution pixels, or None for ``max(3, round(0.01 * max(H, W)))``.
        trimap_threshold: eps of step 2, in [0, 0.5).

    Returns:
        alpha (1, 1, H, W) float32 in [0, 1], and the global pass's trimap (1, 1, H, W) in {0, 0.5, 1}.

    Example:
        >>> from automatte.models.output import MattingOutput
        >>> fn = lambda x, trimap=None: MattingOutput(alpha=x[:, :1])
        >>> img = torch.zeros(1, 3, 120, 200); img[..., 30:90, 50:150] = 1
        >>> alpha, trimap = predict_band_tiled(fn, img, global_long_side=64, tile=64, overlap=16)
        >>> float((alpha - img[:, :1]).abs().max()) < 0.02, sorted(trimap.unique().tolist())
        (True, [0.0, 0.5, 1.0])
    """
    _check(image, None, single=True)
    if band is not None and band < 0:
        raise ValueError(f"band must be >= 0 pixels or None, got {band}")
    if not 0.0 <= trimap_threshold < 0.5:
        raise ValueError(f"trimap_threshold must be in [0, 0.5), got {trimap_threshold}")
    H, W = image.shape[-2:]
    band = max(3, round(0.01 * max(H, W))) if band is None else band
    feather = max(1, band // 2)

    alpha_g, probs = predict_whole(fn, image, long_side=global_long_side)
    if probs is not None:
        trimap = torch.empty_like(alpha_g)
        for r in range(0, H, 256):  # row chunks: the int64 argmax never spans the whole image
            trimap[..., r : r + 256, :] = probs[..., r : r + 256, :].argmax(1, keepdim=True).float() * 0.5
        del probs
    else:
        trimap = torch.full_like(alpha_g, 0.5)
        trimap[alpha_g <= trimap_threshold] = 0.0
        trimap[alpha_g >= 1.0 - trimap_threshold] = 1.0

    in_band = _box_sum(trimap[0, 0] == 0.5, band) > 0
    cy, cx = (_box_sum(torch.ones(1, n, device=image.device), feather)[0].float() for n in (H, W))
    m = _box_sum(in_band, feather).float().div_(cy[:, None]).div_(cx[None, :])  # mean over in-image pixels
    del in_band
    need = (m > 0)[None, None]
    if not bool(need.any()):
        return alpha_g, trimap

    native = detail_long_side is None or detail_long_side >= max(H, W)
    size = (H, W) if native else resize_long_side(H, W, detail_long_side)
    if size == (H, W):
        detail = predict_tiled(fn, image, tile=tile, overlap=overlap, batch_size=batch_size, mask=need)
    else:  # conservative mask at the detail size (max-pooled, 1 px dilated) so upsampling reads run tiles only
        small = F.interpolate(image.float(), size=size, mode="bilinear", align_corners=False, antialias=True)
        need_s = F.max_pool2d(F.adaptive_max_pool2d(need.float(), size), 3, stride=1, padding=1) > 0
        detail = predict_tiled(fn, small, tile=tile, overlap=overlap, batch_size=batch_size, mask=need_s)
        del small, need_s
        detail = F.interpolate(detail, size=(H, W), mode="bilinear", align_corners=False)
    del need
    alpha = detail.sub_(alpha_g).mul_(m).add_(alpha_g).clamp_(0.0, 1.0)
    return alpha, trimap


def _scaled_size(h: int, w: int, scale: float, max_side: int) -> tuple[int, int]:
    """GFM/AIM test sizes: each side times ``scale``, floored to a multiple of 32, capped at ``max_side``."""
    cap = max_side // 32 * 32
    return max(32, min(cap, int(h * scale) // 32 * 32)), max(32, min(cap, int(w * scale) // 32 * 32))


@torch.inference_mode()
def predict_aim_hybrid(
    fn: MattingFn,
    image: Tensor,
    *,
    global_scale: float = 1 / 3,
    local_scale: float = 1 / 4,
    max_side: int = 1600,
    trimap_threshold: float = 0.02,
) -> tuple[Tensor, Tensor]:
    """AIM-Net's hybrid test strategy (AIM sec. 4.2, adopted from GFM, Li et al. 2020), scale factors 1/3, 1/4.

    1. Global pass on the whole image resized by ``global_scale`` (each side floored to a multiple of 32 and
       capped at ``max_side``, as in the GFM/AIM test code): its trimap (argmax of ``trimap_logits``: the
       semantic, unified representation) is resized bilinearly to the input size.
    2. Local pass on the whole image resized by ``local_scale``: its detail alpha (``MattingOutput.detail``,
       AIM's matting decoder; ``alpha`` when the net has no detail output) resized bilinearly.
    3. Fusion (GFM's test fusion): where the resized global trimap is exactly background (0) or foreground
       (1) the result is that value, elsewhere the local pass's alpha. Bilinear resizing turns the pixels
       where background and foreground meet into transition, as the reference's resize-then-compare does.

    "with the scale factors 1/3 and 1/4, respectively" is read in the order the strategy lists its passes:
    1/3 for the global (semantic) pass, 1/4 for the local (detail) pass; both are arguments. A net without
    ``trimap_logits`` gets its global trimap from the global alpha (``trimap_threshold``, as in
    :func:`predict_band_tiled`).

    Args:
        fn: ``fn(image) -> MattingOutput`` (trimap-free).
        image: (1, 3, H, W) float in [0, 1].
        global_scale, local_scale: scale factors of the two passes, in (0, 1].
        max_side: cap on each side of a pass (the reference's MAX_SIZE, 1600).
        trimap_threshold: eps of the alpha-derived trimap for nets without trimap logits, in [0, 0.5).

    Returns:
        alpha (1, 1, H, W) float32 in [0, 1], and the fused trimap (1, 1, H, W) in {0, 0.5, 1}.

    Example:
        >>> from automatte.models.output import MattingOutput
        >>> fn = lambda x, trimap=None: MattingOutput(alpha=x[:, :1])
        >>> img = torch.zeros(1, 3, 384, 384); img[..., 96:288, 96:288] = 1
        >>> alpha, trimap = predict_aim_hybrid(fn, img)
        >>> float((alpha - img[:, :1]).abs().mean()) < 0.01, sorted(trimap.unique().tolist())
        (True, [0.0, 0.5, 1.0])
    """
    _check(image, None, single=True)
    for name, value in (("global_scale", global_scale), ("local_scale", local_scale)):
        if not 0.0 < value <= 1.0:
            raise ValueError(f"{name} must be in (0, 1], got {value}")
    if max_side < 32:
        raise ValueError(f"max_side must be >= 32, got {max_side}")
    if not 0.0 <= trimap_threshold < 0.5:
        raise ValueError(f"trimap_threshold must be in [0, 0.5), got {trimap_threshold}")
    H, W = image.shape[-2:]
    x = image.float()

    def scaled_pass(scale: float) -> MattingOutput:
        size = _scaled_size(H, W, scale, max_side)
        return fn(F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True))

    out = scaled_pass(global_scale)
    if out.trimap_logits is not None:
        trimap = out.trimap_logits.float().argmax(1, keepdim=True).float() * 0.5
    else:
        a = out.alpha.float()
        trimap = torch.full_like(a, 0.5)
        trimap[a <= trimap_threshold] = 0.0
        trimap[a >= 1.0 - trimap_threshold] = 1.0
    trimap = F.interpolate(trimap, size=(H, W), mode="bilinear", align_corners=False)
    known = (trimap <= 1e-6) | (trimap >= 1.0 - 1e-6)
    trimap = torch.where(known, trimap.round(), torch.full_like(trimap, 0.5))
    del out

    out = scaled_pass(local_scale)
    local = (out.detail if out.detail is not None else out.alpha).float()
    local = F.interpolate(local, size=(H, W), mode="bilinear", align_corners=False)
    alpha = torch.where(known, trimap, local).clamp_(0.0, 1.0)
    return alpha, trimap
