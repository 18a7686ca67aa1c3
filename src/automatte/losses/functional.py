"""Matting losses as pure functions (STYLE habits 5 and 6): tensors in, a scalar tensor out.

Tensor contract: ``pred`` / ``alpha`` / ``target`` (B, 1, H, W) in [0, 1]; ``image`` / ``fg`` / ``bg``
(B, 3, H, W) in [0, 1]; ``trimap`` (B, 1, H, W) in {0, 0.5, 1}; 3-class ``logits`` (B, 3, H, W) and
``classes`` (B, H, W) int64 in {0 background, 1 transition, 2 foreground}.

Masks and reductions. Pixel-wise losses take an optional ``weight`` (B, 1, H, W), bool or float >= 0,
broadcast over channels. ``reduction="mean"`` is the weighted mean ``sum(w * l) / sum(w)`` pooled over the
whole batch (and over the channels of a multi-channel loss); a weight that is zero everywhere gives exactly
0 (never NaN, with zero gradients). ``"sum"`` returns ``sum(w * l)``, ``"none"`` the map ``w * l``.

Papers (text in ``shared/papers``): DIM (Xu et al. 2017: alpha and composition losses), Hou & Liu 2019
(Laplacian loss), PP-Matting eq. 4-12, AIM-Net sec. 3.2, SPAMattNet/TGN eq. 11-12, PPID eq. 11-17 and the
DDC paper (trimap-only training) eq. 3-4, 8, 9 and its Listing 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from automatte.ops.semantics import normalize_image_type

__all__ = [
    "safe_mean",
    "trimap_class_targets",
    "unified_class_targets",
    "l1_loss",
    "charbonnier_loss",
    "composition_loss",
    "image_gradients",
    "gradient_loss",
    "laplacian_pyramid",
    "laplacian_loss",
    "trimap_ce_loss",
    "unified_ce_loss",
    "hard_mining_loss",
    "regional_scaling_parts",
    "regional_scaling_loss",
    "known_loss",
    "neighbour_distances",
    "affinity_loss",
    "dc_loss",
    "ddc_loss",
]

_REDUCTIONS = ("mean", "sum", "none")


# ----------------------------------------------------------------------------------------------- helpers
def _check_shape(a: Tensor, b: Tensor, where: str, names: tuple[str, str] = ("pred", "target")) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{where}: {names[0]} {tuple(a.shape)} and {names[1]} {tuple(b.shape)} must have the same shape"
        )


def _check_4d(x: Tensor, where: str, name: str, channels: int | None = None) -> None:
    if x.dim() != 4 or (channels is not None and x.shape[1] != channels):
        want = f"(B, {channels}, H, W)" if channels is not None else "(B, C, H, W)"
        raise ValueError(f"{where}: {name} must have shape {want}, got {tuple(x.shape)}")


def _as_weight(weight: Tensor | None, like: Tensor, where: str) -> Tensor | None:
    """Validate a (B, 1, H, W) weight for a (B, C, H, W) loss map; return it as ``like``'s dtype."""
    if weight is None:
        return None
    want = (like.shape[0], 1, *like.shape[2:])
    if tuple(weight.shape) != want:
        raise ValueError(f"{where}: weight must have shape {want}, got {tuple(weight.shape)}")
    return weight.to(like.dtype)


def safe_mean(numerator: Tensor, denominator: Tensor) -> Tensor:
    """``numerator / denominator``, or 0 where ``denominator == 0`` (no NaN in the value or the gradient).

    Meant for masked means: when the mask is empty the numerator is a sum of zero-weighted terms, so the
    result is exactly 0 and its gradient is 0.

    Example:
        >>> safe_mean(torch.tensor(0.0), torch.tensor(0.0)).item()
        0.0
    """
    return numerator / torch.where(denominator > 0, denominator, torch.ones_like(denominator))


def _reduce(loss_map: Tensor, weight: Tensor | None, reduction: str, where: str) -> Tensor:
    """Weighted reduction of a (B, C, H, W) loss map with a (B, 1, H, W) weight (see the module docstring)."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{where}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if weight is None:
        if reduction == "none":
            return loss_map
        return loss_map.mean() if reduction == "mean" else loss_map.sum()
    weighted = loss_map * weight
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    return safe_mean(weighted.sum(), weight.sum() * loss_map.shape[1])


def trimap_class_targets(trimap: Tensor) -> Tensor:
    """Trimap (B, 1, H, W) in {0, 0.5, 1} -> (B, H, W) int64 classes ``round(2 T)``: 0 bg, 1 transition, 2 fg.

    Values in between are rounded to the nearest class (0.25 and 0.75 go to the even class, torch.round).

    Example:
        >>> trimap_class_targets(torch.tensor([[[[0.0, 0.5, 1.0]]]])).tolist()
        [[[0, 1, 2]]]
    """
    _check_4d(trimap, "trimap_class_targets", "trimap", 1)
    return torch.round(trimap[:, 0].clamp(0, 1) * 2).long()


def unified_class_targets(trimap: Tensor, image_types: str | Sequence[str]) -> Tensor:
    """AIM-Net unified semantic representation (sec. 3.2, eq. 1) as 3-class targets, torch version of
    :func:`automatte.ops.unified_classes`.

    SO: trimap ``U = T`` (classes 0/1/2); STM: duomap ``U = 1.5T - T^2`` (0 stays 0, transition and
    foreground become 1); NS: unimap ``U = 0.5`` (all 1). Class = ``2 U``.

    Args:
        trimap: (B, 1, H, W) in {0, 0.5, 1}.
        image_types: one of 'SO' / 'STM' / 'NS' (case-insensitive) for the whole batch, or one per sample.

    Returns:
        (B, H, W) int64 in {0, 1, 2}.

    Example:
        >>> t = torch.tensor([[[[0.0, 0.5, 1.0]]]]).repeat(3, 1, 1, 1)
        >>> unified_class_targets(t, ["SO", "stm", "NS"]).tolist()
        [[[0, 1, 2]], [[0, 1, 1]], [[1, 1, 1]]]
    """
    classes = trimap_class_targets(trimap)
    b = classes.shape[0]
    types = [image_types] * b if isinstance(image_types, str) else list(image_types)
    if len(types) != b:
        raise ValueError(f"unified_class_targets: got {len(types)} image types for a batch of {b}")
    kinds = [normalize_image_type(t) for t in types]
    stm = torch.tensor([k == "STM" for k in kinds], device=classes.device).view(b, 1, 1)
    ns = torch.tensor([k == "NS" for k in kinds], device=classes.device).view(b, 1, 1)
    classes = torch.where(stm, classes.clamp(max=1), classes)  # eq. 1, STM: duomap {0, 0.5}
    return torch.where(ns, torch.ones_like(classes), classes)  # eq. 1, NS: unimap 0.5


# ------------------------------------------------------------------------------------------ alpha losses
def l1_loss(pred: Tensor, target: Tensor, weight: Tensor | None = None, reduction: str = "mean") -> Tensor:
    """Alpha L1 loss ``|pred - target|`` (SPAMattNet eq. 11 with ``weight`` = unknown region).

    Args:
        pred, target: (B, C, H, W), usually C = 1 alphas in [0, 1].
        weight: optional (B, 1, H, W) mask / weight.
        reduction: 'mean' (over the weighted pixels, pooled over the batch), 'sum' or 'none'.

    Example:
        >>> p, t = torch.tensor([[[[0.0, 1.0]]]]), torch.tensor([[[[0.5, 0.0]]]])
        >>> l1_loss(p, t).item(), l1_loss(p, t, weight=torch.tensor([[[[1.0, 0.0]]]])).item()
        (0.75, 0.5)
    """
    _check_shape(pred, target, "l1_loss")
    return _reduce((pred - target).abs(), _as_weight(weight, pred, "l1_loss"), reduction, "l1_loss")


def charbonnier_loss(
    pred: Tensor, target: Tensor, weight: Tensor | None = None, eps: float = 1e-6, reduction: str = "mean"
) -> Tensor:
    """Charbonnier ``sqrt((pred - target)^2 + eps^2)``: DIM's alpha-prediction loss, PP-Matting eq. 7.

    Args:
        pred, target: (B, C, H, W).
        weight: optional (B, 1, H, W) mask / weight.
        eps: smoothing constant (1e-6 in DIM and PP-Matting); the loss is >= eps.
        reduction: 'mean' | 'sum' | 'none' (module docstring).

    Example:
        >>> round(charbonnier_loss(torch.zeros(1, 1, 1, 1), torch.full((1, 1, 1, 1), 0.3)).item(), 6)
        0.3
    """
    _check_shape(pred, target, "charbonnier_loss")
    loss = torch.sqrt((pred - target) ** 2 + eps * eps)
    return _reduce(loss, _as_weight(weight, pred, "charbonnier_loss"), reduction, "charbonnier_loss")


def composition_loss(
    alpha: Tensor,
    fg: Tensor,
    bg: Tensor,
    image: Tensor,
    weight: Tensor | None = None,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Tensor:
    """DIM composition loss (PP-Matting eq. 10-11): Charbonnier of ``alpha F + (1 - alpha) B - I`` per channel.

    Args:
        alpha: (B, 1, H, W) predicted alpha in [0, 1].
        fg, bg: (B, 3, H, W) ground-truth foreground and background colours in [0, 1].
        image: (B, 3, H, W) the observed composite ``I`` in [0, 1].
        weight: optional (B, 1, H, W) mask / weight, shared by the three channels.
        eps: Charbonnier constant.
        reduction: 'mean' (over weighted pixels x 3 channels), 'sum' or 'none' ((B, 3, H, W) map).

    Example:
        >>> a = torch.full((1, 1, 1, 1), 0.5); f = torch.ones(1, 3, 1, 1); b = torch.zeros(1, 3, 1, 1)
        >>> round(composition_loss(a, f, b, torch.full((1, 3, 1, 1), 0.25)).item(), 6)
        0.25
    """
    _check_4d(alpha, "composition_loss", "alpha", 1)
    for name, t in (("fg", fg), ("bg", bg), ("image", image)):
        _check_4d(t, "composition_loss", name, 3)
        if t.shape[0] != alpha.shape[0] or t.shape[2:] != alpha.shape[2:]:
            raise ValueError(f"composition_loss: {name} {tuple(t.shape)} does not match alpha {tuple(alpha.shape)}")
    composite = alpha * fg + (1 - alpha) * bg  # PP-Matting eq. 11 / DIM
    loss = torch.sqrt((composite - image) ** 2 + eps * eps)  # PP-Matting eq. 10
    return _reduce(loss, _as_weight(weight, alpha, "composition_loss"), reduction, "composition_loss")


def image_gradients(x: Tensor, operator: str = "sobel") -> tuple[Tensor, Tensor]:
    """Horizontal and vertical derivatives of a (B, C, H, W) map, same size, replicated borders.

    ``operator="sobel"``: the 3x3 Sobel kernels divided by 8, so a unit ramp has derivative 1 (central
    difference smoothed across 1-2-1). ``"diff"``: central differences ``(x[i+1] - x[i-1]) / 2``. Replicated
    borders make a constant image have zero gradient everywhere, including the border.

    Returns:
        (gx, gy), each (B, C, H, W).

    Example:
        >>> ramp = torch.arange(4.0).view(1, 1, 1, 4).repeat(1, 1, 3, 1)
        >>> gx, gy = image_gradients(ramp)
        >>> gx[0, 0, 1].tolist(), gy.abs().max().item()
        ([0.5, 1.0, 1.0, 0.5], 0.0)
    """
    _check_4d(x, "image_gradients", "x")
    c = x.shape[1]
    if operator == "sobel":
        kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=x.dtype, device=x.device) / 8
    elif operator == "diff":
        kx = torch.tensor([[0.0, 0.0, 0.0], [-1.0, 0.0, 1.0], [0.0, 0.0, 0.0]], dtype=x.dtype, device=x.device) / 2
    else:
        raise ValueError(f"image_gradients: operator must be 'sobel' or 'diff', got {operator!r}")
    kernels = torch.stack([kx, kx.t()]).unsqueeze(1).repeat(c, 1, 1, 1)  # (2C, 1, 3, 3): gx, gy per channel
    g = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernels, groups=c)
    return g[:, 0::2], g[:, 1::2]


def gradient_loss(
    pred: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    operator: str = "sobel",
    mode: str = "magnitude",
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Tensor:
    """Gradient loss ``|grad pred - grad target|`` (PP-Matting eq. 8, PPID eq. 17).

    ``mode="magnitude"`` (default; both papers: "the calculation of the gradient magnitude"):
    ``| |grad p| - |grad t| |`` with ``|g| = sqrt(gx^2 + gy^2 + eps^2)`` (``eps`` keeps it differentiable at a
    flat pixel). ``mode="vector"``: ``|gx_p - gx_t| + |gy_p - gy_t|``. Derivatives from
    :func:`image_gradients` (Sobel / 8 by default, replicated borders).

    Args:
        pred, target: (B, C, H, W).
        weight: optional (B, 1, H, W) mask / weight, applied to the gradient-error map (the derivatives are
            taken on the whole image, so pixels next to the mask still contribute through their neighbours).
        operator: 'sobel' or 'diff'.
        mode: 'magnitude' or 'vector'.
        eps: smoothing constant of the magnitude.
        reduction: 'mean' | 'sum' | 'none'.

    Example:
        >>> ramp = torch.arange(4.0).view(1, 1, 1, 4).repeat(1, 1, 4, 1) / 3
        >>> round(gradient_loss(ramp, torch.zeros_like(ramp), eps=0.0).item(), 6)  # mean |g| of the ramp
        0.25
    """
    _check_shape(pred, target, "gradient_loss")
    gxp, gyp = image_gradients(pred, operator)
    gxt, gyt = image_gradients(target, operator)
    if mode == "magnitude":
        loss = (torch.sqrt(gxp**2 + gyp**2 + eps * eps) - torch.sqrt(gxt**2 + gyt**2 + eps * eps)).abs()
    elif mode == "vector":
        loss = (gxp - gxt).abs() + (gyp - gyt).abs()
    else:
        raise ValueError(f"gradient_loss: mode must be 'magnitude' or 'vector', got {mode!r}")
    return _reduce(loss, _as_weight(weight, pred, "gradient_loss"), reduction, "gradient_loss")


def _gauss_kernel(x: Tensor) -> Tensor:
    """(C, 1, 5, 5) binomial Gaussian ``[1 4 6 4 1]^T [1 4 6 4 1] / 256`` for a grouped conv of ``x``."""
    k1 = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=x.dtype, device=x.device) / 16
    return torch.outer(k1, k1).expand(x.shape[1], 1, 5, 5)


def _pyr_down(x: Tensor) -> Tensor:
    """Blur (replicated borders) and keep every other pixel: (H, W) -> (ceil(H/2), ceil(W/2))."""
    blurred = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), _gauss_kernel(x), groups=x.shape[1])
    return blurred[:, :, ::2, ::2]


def _pyr_up(x: Tensor, size: Sequence[int]) -> Tensor:
    """Expand (h, w) to ``size`` (<= (2h, 2w)): replicate-pad by one coarse pixel, insert zeros, blur with
    4 x the kernel, crop. A constant map stays exactly constant, borders included."""
    b, c, h, w = x.shape
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    up = x.new_zeros(b, c, 2 * (h + 2), 2 * (w + 2))
    up[:, :, ::2, ::2] = padded
    out = F.conv2d(up, 4 * _gauss_kernel(x), groups=c)  # valid: output (2h, 2w), index 0 = fine pixel 0
    return out[:, :, : size[0], : size[1]]


def laplacian_pyramid(x: Tensor, levels: int = 5) -> list[Tensor]:
    """Laplacian pyramid of a (B, C, H, W) map: ``levels`` band-pass levels, then the low-pass residual.

    ``G_0 = x``, ``G_{i+1} = down(G_i)`` (5x5 binomial Gaussian ``[1 4 6 4 1]/16`` in each direction,
    replicated borders, every other pixel: sizes ``ceil(n / 2)``), band ``L_i = G_i - up(G_{i+1})`` for
    ``i < levels``, residual ``G_levels``; ``up`` inserts zeros and blurs with 4 x the kernel (after
    replicating the coarse border, so a constant map has all-zero bands, borders included). The pyramid is
    complete: ``G_i = L_i + up(G_{i+1})`` rebuilds ``x`` exactly.

    Returns:
        ``levels + 1`` tensors, finest first; entry i has size ``ceil(H / 2^i) x ceil(W / 2^i)``.

    Example:
        >>> [tuple(p.shape[-2:]) for p in laplacian_pyramid(torch.rand(1, 1, 10, 7), levels=2)]
        [(10, 7), (5, 4), (3, 2)]
    """
    _check_4d(x, "laplacian_pyramid", "x")
    if levels < 0:
        raise ValueError(f"laplacian_pyramid: levels must be >= 0, got {levels}")
    pyramid, current = [], x
    for _ in range(levels):
        down = _pyr_down(current)
        pyramid.append(current - _pyr_up(down, current.shape[-2:]))
        current = down
    pyramid.append(current)
    return pyramid


def laplacian_loss(
    pred: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    levels: int = 5,
    level_weights: Sequence[float] | None = None,
    residual_weight: float = 0.0,
) -> Tensor:
    """Laplacian loss (Hou & Liu 2019, used by AIM-Net): ``sum_i w_i mean |L_i(pred) - L_i(target)|``.

    Choice (as MG Matting's / RVM's widely copied implementations): ``levels = 5`` band-pass levels of
    :func:`laplacian_pyramid` (5x5 Gaussian), weights ``w_i = 2^i`` (i = 0 finest) unless ``level_weights``
    is given, each level's L1 the mean over that level's pixels (pooled over the batch), no division by the
    number of levels. Band-pass levels ignore a constant offset between the maps, which is why it always
    comes with an alpha loss; ``residual_weight > 0`` adds ``residual_weight * mean |G_5(pred) - G_5(target)|``
    for the low-pass residual (then the loss is zero only for equal maps). ``weight`` masks the *inputs*
    (``L(w pred)`` vs ``L(w target)``, as GFM / AIM code restricts it to a region); it is not renormalised,
    so an empty mask gives 0.

    Args:
        pred, target: (B, C, H, W).
        weight: optional (B, 1, H, W) mask multiplied into both inputs.
        levels: number of band-pass levels (5).
        level_weights: one weight per band-pass level (default ``2^i``).
        residual_weight: weight of the low-pass residual (0: not used).

    Example:
        >>> x = torch.rand(2, 1, 16, 16, dtype=torch.float64)
        >>> round(laplacian_loss(x + 0.1, x).item(), 9), round(laplacian_loss(x + 0.1, x, residual_weight=1.0).item(), 9)
        (0.0, 0.1)
    """
    _check_shape(pred, target, "laplacian_loss")
    w = _as_weight(weight, pred, "laplacian_loss")
    if w is not None:
        pred, target = pred * w, target * w
    lw = [2.0**i for i in range(levels)] if level_weights is None else list(level_weights)
    if len(lw) != levels:
        raise ValueError(f"laplacian_loss: need {levels} level_weights, got {len(lw)}")
    lp, lt = laplacian_pyramid(pred, levels), laplacian_pyramid(target, levels)
    loss = sum((wi * (a - b).abs().mean() for wi, a, b in zip(lw, lp, lt)), pred.new_zeros(()))
    if residual_weight:
        loss = loss + residual_weight * (lp[-1] - lt[-1]).abs().mean()
    return loss


# ------------------------------------------------------------------------------------- classification
def trimap_ce_loss(
    logits: Tensor, classes: Tensor, weight: Tensor | None = None, class_weights: Tensor | None = None
) -> Tensor:
    """3-class cross-entropy (PP-Matting eq. 4, TGN's L_ce), mean over the (weighted) pixels.

    Args:
        logits: (B, 3, H, W) unnormalised scores (bg, transition, fg).
        classes: (B, H, W) int64 targets in {0, 1, 2} (see :func:`trimap_class_targets`).
        weight: optional (B, 1, H, W) pixel mask / weight.
        class_weights: optional (3,) per-class weights (plain weighted mean over pixels, not torch's
            class-weight normalisation).

    Example:
        >>> logits = torch.zeros(1, 3, 1, 2)  # uniform -> log 3 everywhere
        >>> round(trimap_ce_loss(logits, torch.tensor([[[0, 2]]])).item(), 4)
        1.0986
    """
    _check_4d(logits, "trimap_ce_loss", "logits")
    if classes.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(
            f"trimap_ce_loss: classes must have shape {(logits.shape[0], *logits.shape[2:])} to match logits "
            f"{tuple(logits.shape)}, got {tuple(classes.shape)}"
        )
    ce = F.cross_entropy(logits, classes.long(), reduction="none").unsqueeze(1)  # (B, 1, H, W)
    w = _as_weight(weight, ce, "trimap_ce_loss")
    if class_weights is not None:
        cw = class_weights.to(ce.dtype)[classes.long()].unsqueeze(1)
        w = cw if w is None else w * cw
    return _reduce(ce, w, "mean", "trimap_ce_loss")


def unified_ce_loss(
    logits: Tensor, trimap: Tensor, image_types: str | Sequence[str], weight: Tensor | None = None
) -> Tensor:
    """AIM-Net semantic loss (sec. 3.2): cross-entropy against the unified representation classes.

    Args:
        logits: (B, 3, H, W) semantic-decoder scores.
        trimap: (B, 1, H, W) traditional trimap in {0, 0.5, 1} at the logits' size.
        image_types: 'SO' / 'STM' / 'NS' for the batch or one per sample (:func:`unified_class_targets`).
        weight: optional (B, 1, H, W) pixel weight.

    Example:
        >>> t = torch.ones(1, 1, 2, 2)  # all foreground
        >>> logits = torch.tensor([0.0, 10.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)  # says "transition"
        >>> unified_ce_loss(logits, t, "NS").item() < 1e-3 < unified_ce_loss(logits, t, "SO").item()
        True
    """
    return trimap_ce_loss(logits, unified_class_targets(trimap, image_types), weight)


def hard_mining_loss(pred: Tensor, target: Tensor, mask: Tensor | None = None, percent: float = 50.0) -> Tensor:
    """SPAMattNet hard-mining loss (eq. 12): mean L1 over the top ``percent`` % largest errors.

    For each sample the ``k_b = ceil(percent / 100 * n_b)`` largest ``|pred - target|`` among its ``n_b``
    masked pixels are the hard set HM; the loss is their sum over the batch divided by ``sum_b k_b``
    (``1 / |HM| sum_{i in HM}``). Ties at the cut do not change the value. An empty mask gives 0.

    Args:
        pred, target: (B, 1, H, W).
        mask: optional (B, 1, H, W) bool / float; pixels with mask > 0 are candidates (SPAMattNet: the
            unknown region, same M as eq. 11). None: all pixels.
        percent: p in (0, 100] (50 in the paper).

    Example:
        >>> p = torch.tensor([0.1, 0.2, 0.3, 0.4]).view(1, 1, 2, 2)
        >>> round(hard_mining_loss(p, torch.zeros_like(p)).item(), 6)  # mean of 0.4 and 0.3
        0.35
    """
    _check_shape(pred, target, "hard_mining_loss")
    if not 0 < percent <= 100:
        raise ValueError(f"hard_mining_loss: percent must be in (0, 100], got {percent}")
    b = pred.shape[0]
    err = (pred - target).abs().reshape(b, -1)
    if mask is None:
        valid = torch.ones_like(err, dtype=torch.bool)
    else:
        valid = (_as_weight(mask, pred, "hard_mining_loss") > 0).reshape(b, -1)
    k = torch.ceil(valid.sum(dim=1).to(torch.float64) * percent / 100).long()  # k_b (n * p exact before / 100)
    order = torch.argsort(torch.where(valid, err.detach(), torch.full_like(err, -1.0)), dim=1, descending=True)
    ranks = torch.arange(err.shape[1], device=err.device).expand(b, -1)
    chosen = (ranks < k.unsqueeze(1)).to(err.dtype)  # the first k_b of each sorted row: HM
    return safe_mean((err.gather(1, order) * chosen).sum(), chosen.sum())


def _regions(trimap: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    classes = trimap_class_targets(trimap).unsqueeze(1)
    return classes == 2, classes == 0, classes == 1  # f, b, t


def _region_mean(loss: Tensor, region: Tensor) -> Tensor:
    """(B,) per-sample mean of ``loss`` over ``region`` (0 for an empty region): ``sum_i S_i L_i``, S = 1/N."""
    r = region.to(loss.dtype)
    return safe_mean((loss * r).flatten(1).sum(1), r.flatten(1).sum(1))


def regional_scaling_parts(
    pred: Tensor,
    target: Tensor,
    trimap: Tensor,
    l1_weights: tuple[float, float] = (1.0, 2.0),
    ce_weights: tuple[float, float] = (1.0, 0.5),
    eps: float = 1e-6,
    gradient_operator: str = "sobel",
) -> dict[str, Tensor]:
    """The three terms of PPID's regional-scaling alpha loss (eq. 12), each a scalar: ``l1``, ``ce``,
    ``grad``. See :func:`regional_scaling_loss` (their sum)."""
    _check_shape(pred, target, "regional_scaling_loss")
    _check_shape(pred, trimap, "regional_scaling_loss", ("pred", "trimap"))
    f, b, t = _regions(trimap)
    l1 = (pred - target).abs()  # eq. 15
    p = pred.clamp(eps, 1 - eps)
    ce = -(target * torch.log(p) + (1 - target) * torch.log(1 - p))  # eq. 16
    (wk1, wt1), (wkc, wtc) = l1_weights, ce_weights  # eq. 13, 14: (known f ∪ b, transition t)
    l1_term = wk1 * (_region_mean(l1, f) + _region_mean(l1, b)) + wt1 * _region_mean(l1, t)  # eq. 11-12
    ce_term = wkc * (_region_mean(ce, f) + _region_mean(ce, b)) + wtc * _region_mean(ce, t)
    grad = gradient_loss(pred, target, operator=gradient_operator, mode="magnitude", eps=eps, reduction="none")
    grad_term = grad.flatten(1).mean(1)  # eq. 12 third sum (eq. 17), per pixel mean (see reading)
    return {"l1": l1_term.mean(), "ce": ce_term.mean(), "grad": grad_term.mean()}


def regional_scaling_loss(
    pred: Tensor,
    target: Tensor,
    trimap: Tensor,
    l1_weights: tuple[float, float] = (1.0, 2.0),
    ce_weights: tuple[float, float] = (1.0, 0.5),
    eps: float = 1e-6,
    gradient_operator: str = "sobel",
) -> Tensor:
    """PPID regional-scaling alpha loss (eq. 11-17).

    Reading of eq. 12: with ``S = 1/N_f, 1/N_b, 1/N_t`` (eq. 11, the pixel counts of the sample's
    foreground, background and transition regions of the trimap) each ``sum_ij w S L`` becomes a sum of
    region means, so per sample::

        L = w1_k (mean_f L1 + mean_b L1) + w1_t mean_t L1          (eq. 13: w1 = 1 on f ∪ b, 2 on t)
          + wce_k (mean_f CE + mean_b CE) + wce_t mean_t CE         (eq. 14: wce = 1 on f ∪ b, 0.5 on t)
          + mean over all pixels of L_grad                         (eq. 17)

    L1 = |alpha - alpha*| (eq. 15), CE = binary cross-entropy of alpha against the soft alpha* (eq. 16,
    alpha clamped to [eps, 1 - eps]), L_grad = gradient-magnitude L1 (:func:`gradient_loss`). The
    gradient sum carries no S in eq. 12; we take its mean over the H_alpha x W_alpha pixels (a literal sum
    would grow with the image size and swamp the two region-normalised terms). An empty region contributes
    0. The per-sample losses are averaged over the batch.

    Args:
        pred: (B, 1, H, W) student alpha in [0, 1].
        target: (B, 1, H, W) ground-truth alpha in [0, 1].
        trimap: (B, 1, H, W) in {0, 0.5, 1} defining f (1), b (0), t (0.5).
        l1_weights: (known, transition) weights of eq. 13.
        ce_weights: (known, transition) weights of eq. 14.
        eps: clamp of eq. 16 and smoothing of the gradient magnitude.
        gradient_operator: 'sobel' or 'diff' (:func:`image_gradients`).

    Example:
        >>> t = torch.tensor([[[[0.0, 0.5, 1.0, 1.0]]]])
        >>> round(regional_scaling_loss(t, t, t).item(), 3)  # perfect prediction: only the CE of the 0.5 pixel
        0.347
    """
    parts = regional_scaling_parts(pred, target, trimap, l1_weights, ce_weights, eps, gradient_operator)
    return parts["l1"] + parts["ce"] + parts["grad"]


# ------------------------------------------------------------------------------------ trimap-only (DDC)
def known_loss(pred: Tensor, trimap: Tensor) -> Tensor:
    """DDC paper's known loss: L1 to the trimap on its known pixels, times ``s = N / N_known`` (sec. 4.1).

    ``(1/N) sum_{known} |alpha - T| * N / N_known`` is the mean of ``|alpha - T|`` over the known pixels
    (T in {0, 1}), counted over the whole batch. No known pixel: 0.

    Args:
        pred: (B, 1, H, W) alpha in [0, 1].
        trimap: (B, 1, H, W) in {0, 0.5, 1}; 0 and 1 are known.

    Example:
        >>> t = torch.tensor([[[[0.0, 0.5, 1.0, 1.0]]]]); a = torch.tensor([[[[0.2, 0.9, 1.0, 0.5]]]])
        >>> round(known_loss(a, t).item(), 6)  # (0.2 + 0 + 0.5) / 3
        0.233333
    """
    _check_shape(pred, trimap, "known_loss", ("pred", "trimap"))
    classes = trimap_class_targets(trimap).unsqueeze(1)
    known = classes != 1
    target = (classes == 2).to(pred.dtype)
    return l1_loss(pred, target, weight=known)


def _check_window(kernel_size: int, where: str) -> None:
    if not (isinstance(kernel_size, int) and kernel_size >= 1 and kernel_size % 2 == 1):
        raise ValueError(
            f"{where}: kernel_size must be a positive odd int (Listing 1 pads K // 2), got {kernel_size!r}"
        )


def neighbour_distances(
    image: Tensor, alpha: Tensor, kernel_size: int = 11, rows: tuple[int, int] | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Similar-pixel selection of the DDC paper (sec. 3.1, Fig. 3, Listing 1 lines 7-11).

    In the K x K window around each pixel i (zero padding outside the image, as Listing 1's ``F.unfold``),
    the K pixels j with the smallest ``||I_i - I_j||_2`` are kept (``torch.topk(..., largest=False)`` over
    the K^2 window positions in ``unfold`` order, so ties resolve exactly as in the Listing; i itself is
    always among them at distance 0). Memory: one (B, K^2, h, W) distance tensor, never the
    (B, 3, K^2, H, W) unfold.

    Args:
        image: (B, C, H, W), in [0, 1] for the DDC losses.
        alpha: (B, 1, H, W).
        kernel_size: K, odd.
        rows: optional (start, stop) range of output rows (for chunking); default all rows.

    Returns:
        ``image_dist`` (B, K, h, W): ``||I_i - I_j||``, ascending; ``alpha_dist`` (B, K, h, W):
        ``alpha_i - alpha_j`` (signed, Listing 1's ``alpha - unfold_alpha``); ``alpha_j`` (B, K, h, W).
    """
    _check_window(kernel_size, "neighbour_distances")
    _check_4d(image, "neighbour_distances", "image")
    _check_4d(alpha, "neighbour_distances", "alpha", 1)
    if image.shape[0] != alpha.shape[0] or image.shape[2:] != alpha.shape[2:]:
        raise ValueError(f"neighbour_distances: image {tuple(image.shape)} and alpha {tuple(alpha.shape)} do not match")
    b, _, h, w = image.shape
    k, p = kernel_size, kernel_size // 2
    r0, r1 = (0, h) if rows is None else rows
    img_pad = F.pad(image, (p, p, p, p))  # zero padding, as unfold's
    center = image[:, :, r0:r1]
    dists = torch.stack(
        [
            torch.linalg.vector_norm(center - img_pad[:, :, r0 + ki : r1 + ki, kj : kj + w], 2, dim=1)
            for ki in range(k)
            for kj in range(k)
        ],
        dim=1,
    )  # (B, K^2, h, W), Listing 1 line 8
    image_dist, indices = torch.topk(dists, k=k, dim=1, largest=False)  # line 9
    del dists
    wp = w + 2 * p
    ys = torch.arange(r0, r1, device=image.device).view(1, 1, -1, 1)
    xs = torch.arange(w, device=image.device).view(1, 1, 1, -1)
    flat = (ys + torch.div(indices, k, rounding_mode="floor")) * wp + xs + indices % k  # into the padded alpha
    alpha_pad = F.pad(alpha, (p, p, p, p)).flatten(1)  # (B, (H + 2p)(W + 2p))
    alpha_j = alpha_pad.gather(1, flat.flatten(1)).view_as(image_dist)
    alpha_dist = alpha[:, :, r0:r1] - alpha_j  # line 11: gather(alpha - unfold_alpha)
    return image_dist, alpha_dist, alpha_j


def _windowed_mean(
    image: Tensor, alpha: Tensor, kernel_size: int, chunk_rows: int | None, term, region: Tensor | None = None
) -> Tensor:
    """Mean of ``term(image_dist, alpha_dist, alpha_j, alpha_i)`` over all (b, j, y, x), row chunk by chunk;
    with ``region`` ((B, 1, H, W), bool or {0, 1}) only over the centre pixels i = (b, y, x) inside it (the
    neighbours j may lie anywhere); an empty region gives 0."""
    h = image.shape[2]
    step = h if chunk_rows is None else int(chunk_rows)
    if step < 1:
        raise ValueError(f"chunk_rows must be >= 1 or None, got {chunk_rows}")
    if region is not None and (region.shape[0] != alpha.shape[0] or region.shape[1:] != (1, *alpha.shape[2:])):
        raise ValueError(f"region must be (B, 1, H, W) like alpha {tuple(alpha.shape)}, got {tuple(region.shape)}")
    total, count = image.new_zeros(()), 0
    for r0 in range(0, h, step):
        r1 = min(h, r0 + step)
        d_img, d_alpha, a_j = neighbour_distances(image, alpha, kernel_size, (r0, r1))
        values = term(d_img, d_alpha, a_j, alpha[:, :, r0:r1])
        if region is None:
            total = total + values.sum()
            count += values.numel()
        else:
            w = region[:, :, r0:r1].to(values.dtype)  # (B, 1, h, W), broadcast over the neighbours
            total = total + (values * w).sum()
            count += int(region[:, :, r0:r1].count_nonzero()) * values.shape[1]
    return total / count if count else total * 0


def _neighbour_scale(neighbour_reduction: str, kernel_size: int, where: str) -> float:
    if neighbour_reduction == "mean":
        return 1.0
    if neighbour_reduction == "sum":
        return float(kernel_size)
    raise ValueError(
        f"{where}: neighbour_reduction must be 'mean' (Listing 1) or 'sum' (eq. 9), got {neighbour_reduction!r}"
    )


def ddc_loss(
    image: Tensor,
    alpha: Tensor,
    kernel_size: int = 11,
    neighbour_reduction: str = "mean",
    chunk_rows: int | None = None,
    region: Tensor | None = None,
) -> Tensor:
    """Directional distance consistency loss (DDC paper eq. 9, Listing 1).

    ``| (alpha_i - alpha_j) - ||I_i - I_j||_2 |`` over the K most similar pixels j of each pixel i in its
    K x K window (:func:`neighbour_distances`). Listing 1 returns ``F.l1_loss(image_dist, alpha_dist)``, the
    mean over all B x K x H x W pairs (``neighbour_reduction="mean"``, the default, equal to the Listing to
    rounding, ties included). Eq. 9's ``1/N sum_i sum_j`` sums over the K neighbours and averages over the
    pixels, i.e. K times the Listing: ``neighbour_reduction="sum"``. The sign is the Listing's: the signed
    alpha difference is compared with a non-negative distance, so the minimum over a symmetric pair is
    ``2 ||I_i - I_j||`` (eq. 10), reached when ``|alpha_i - alpha_j| <= ||I_i - I_j||``.

    Args:
        image: (B, 3, H, W) in [0, 1].
        alpha: (B, 1, H, W) predicted alpha.
        kernel_size: window size K and number of neighbours (11 in the paper), odd.
        neighbour_reduction: 'mean' (Listing 1) or 'sum' (eq. 9 as printed).
        chunk_rows: process this many rows at a time (peak memory ~ B * K^2 * chunk_rows * W values);
            None: all rows at once. The value does not depend on it.
        region: optional (B, 1, H, W) mask of the centre pixels i to supervise (DDC table 5's "Unknown" rows:
            the trimap's unknown region); None: the whole alpha matte (the paper's choice, eq. 11).

    Example:
        >>> img = torch.full((1, 3, 4, 4), 0.5); a = torch.full((1, 1, 4, 4), 0.3)  # flat image and alpha
        >>> ddc_loss(img, a, kernel_size=3).item()
        0.0
    """
    scale = _neighbour_scale(neighbour_reduction, kernel_size, "ddc_loss")
    loss = _windowed_mean(image, alpha, kernel_size, chunk_rows, lambda d, da, aj, ai: (d - da).abs(), region)  # eq. 9
    return loss * scale


def dc_loss(
    image: Tensor,
    alpha: Tensor,
    kernel_size: int = 11,
    neighbour_reduction: str = "mean",
    chunk_rows: int | None = None,
    region: Tensor | None = None,
) -> Tensor:
    """Distance consistency loss (DDC paper eq. 8): ``| |alpha_i - alpha_j| - ||I_i - I_j||_2 |``.

    Same neighbour selection and reductions as :func:`ddc_loss` (default: mean over B x K x H x W pairs,
    like Listing 1; ``neighbour_reduction="sum"``: eq. 8's sum over j, mean over i).

    Args:
        image: (B, 3, H, W) in [0, 1].
        alpha: (B, 1, H, W).
        kernel_size: K, odd.
        neighbour_reduction: 'mean' | 'sum'.
        chunk_rows: see :func:`ddc_loss`.
        region: see :func:`ddc_loss` (table 5).

    Example:
        >>> img = torch.zeros(1, 3, 4, 4); a = torch.zeros(1, 1, 4, 4)
        >>> dc_loss(img, a, kernel_size=3).item()
        0.0
    """
    scale = _neighbour_scale(neighbour_reduction, kernel_size, "dc_loss")
    term = lambda d, da, aj, ai: (da.abs() - d).abs()  # noqa: E731  eq. 8
    return _windowed_mean(image, alpha, kernel_size, chunk_rows, term, region) * scale


def affinity_loss(
    image: Tensor,
    alpha: Tensor,
    kernel_size: int = 11,
    c: float | None = None,
    chunk_rows: int | None = None,
    region: Tensor | None = None,
) -> Tensor:
    """Windowed KNN-matting affinity loss (DDC paper eq. 3-4): ``1/N ||A alpha - alpha||_1``.

    For each pixel i, its K most similar pixels j in the K x K window (:func:`neighbour_distances`, the
    Listing's selection with zero padding) get ``A(i, j) = 1 - ||I_i - I_j||_2 / C`` (eq. 3), row-normalised
    over the K; ``(A alpha)_i = sum_j A(i, j) alpha_j``. The mean of ``|(A alpha)_i - alpha_i|`` is taken over
    the B x H x W pixels (eq. 4).

    Args:
        image: (B, C_img, H, W) in [0, 1].
        alpha: (B, 1, H, W).
        kernel_size: K, odd.
        c: the constant C of eq. 3, "to make A(i, j) in [0, 1]"; default ``sqrt(C_img)``, the largest
            distance between two colours in [0, 1]^C_img.
        chunk_rows: see :func:`ddc_loss`.
        region: see :func:`ddc_loss`.

    Example:
        >>> img = torch.full((1, 3, 5, 5), 0.5); a = torch.full((1, 1, 5, 5), 0.3)  # flat: A alpha = alpha
        >>> affinity_loss(img, a, kernel_size=3, chunk_rows=2).item()
        0.0
    """
    cc = math.sqrt(image.shape[1]) if c is None else float(c)
    if not cc > 0:
        raise ValueError(f"affinity_loss: c must be > 0, got {c}")

    def term(d: Tensor, da: Tensor, aj: Tensor, ai: Tensor) -> Tensor:
        a = 1 - d / cc  # eq. 3 (the centre pixel has A = 1, so the row sum is >= 1)
        return ((a * aj).sum(1, keepdim=True) / a.sum(1, keepdim=True) - ai).abs()  # eq. 4

    return _windowed_mean(image, alpha, kernel_size, chunk_rows, term, region)
