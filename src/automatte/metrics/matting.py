"""Alpha-matte errors SAD, MSE, MAD, Grad and Conn under two published evaluation protocols.

All functions take ``pred`` and ``gt`` as (H, W) float in [0, 1] (or uint8 0..255, divided by 255 in
float64), an optional (H, W) trimap (float {0, 0.5, 1} or uint8 {0, 128, 255}) and a keyword-only
``region``: ``"whole"``, ``"unknown"`` / ``"fg"`` / ``"bg"`` (these need the trimap) or a bool (H, W)
mask. Filtering and connected-component labelling always run on the whole image; ``region`` only
chooses the pixels that are summed. A region without pixels returns 0.0 and emits
:class:`EmptyRegionWarning` (never NaN).

protocol="dim" -- the Deep Image Matting MATLAB code (Xu et al. 2017, compute_*_loss.m, gaussgradient.m)
    * SAD = sum |p - g| / 1000; MSE and MAD = sum over the region / number of region pixels.
    * Grad: each alpha is min-max normalised like ``mat2gray`` (``a * d - min * d`` with
      ``d = 1 / (max - min)``; a constant image is only clipped to [0, 1]), filtered with replicated
      borders by the 9x9 first derivative of a Gaussian, sigma 1.4 (:func:`gaussian_gradient_kernel`:
      halfsize ``ceil(sigma * sqrt(-2 ln(sqrt(2 pi) sigma 0.01)))`` = 4, unit L2 norm). gaussgradient.m
      calls ``imfilter(..., 'replicate', 'conv')``: a convolution, which for this antisymmetric kernel is
      the negated correlation; only the magnitude enters the metric, so the two agree bit for bit.
      Grad = sum (|grad p| - |grad g|)^2 / 1000.
    * Conn: thresholds are MATLAB's ``0:0.1:1`` (the colon operator builds ``k * 0.1`` from the start
      and ``1 - k * 0.1`` from the end, so the 4th value is 0.30000000000000004 and the others are the
      doubles nearest i/10; alpha = 153/255 passes t = 0.6). For each t_i (i >= 1) omega is the largest
      4-connected component of ``(p >= t_i) & (g >= t_i)``; ties go to the component found first in
      column-major order (``bwconncomp`` numbering, ``max`` keeps the first); unassigned pixels outside
      omega get l = t_(i-1); an empty intersection gives an empty omega, so every unassigned pixel gets
      t_(i-1) (the project's reading of ``omega(cc.PixelIdxList{max_id}) = 1`` with an empty
      ``max_id``; not checked against MATLAB itself). Leftovers get l = 1. phi = 1 - d [d >= 0.15],
      d = alpha - l, with the shared l; Conn = sum |phi_p - phi_g| / 1000. (An empty intersection at
      t = 1 cannot change the result, as d <= 0.1 there; one at a lower t can, see protocol "aim".)
    * The MATLAB code holds alphas in single precision and returns Grad and Conn unscaled (the papers
      divide by 1000, as done here). We compute in float64: for 8-bit inputs every threshold decision is
      the same as MATLAB's (alpha = k/255 ties a threshold only at t = 0.2, 0.4, 0.6, 0.8, 1, where both
      pass, and d = 0.15 has no 8-bit tie), so sums differ from MATLAB's single-precision ones only in
      rounding (about 1e-7 relative).

protocol="aim" -- evaluate.py of AIM-500 / GFM / P3M (JizhiziLi/AIM, GFM, P3M), behaviour for behaviour
    * region="whole": SAD = sum |p - g| / 1000; MSE and MAD are plain means over the image.
    * region="unknown" (``calculate_sad_mse_mad``): pred is first forced to 1 where the trimap is
      foreground and to 0 where it is background, then the error is summed over the WHOLE image: SAD =
      sum / 1000, MSE and MAD = sum / number of unknown pixels. Errors of a gt that disagrees with the
      trimap therefore count. (The reference's fallback denominator for trimaps without a 128 pixel
      counts values outside {0, 255}; our trimaps cannot hold such values, and an empty region returns
      0.0 with a warning instead.)
    * region="fg" / "bg": SAD as ``calculate_sad_fgbg`` (no forcing, sum over the region / 1000). The
      reference has no MSE/MAD for these regions; we return the mean over the region (an extension).
    * Grad: ``scipy.ndimage.gaussian_filter(alpha, sigma=1.4, order=[1, 0] / [0, 1], output=float32)``
      on the [0, 1] alphas (no min-max; scipy's default 'reflect' border and 13-tap truncation), float32
      magnitudes, Grad = float32 sum (|grad p| - |grad g|)^2 / 10 -- divided by 10, not 1000.
    * Conn: thresholds ``np.arange(0, 1.1, 0.1)`` (0.30000000000000004, 0.6000000000000001,
      0.7000000000000001: alpha = 153/255 fails t = 0.6), l held in float32 (so l = float32(t)), a
      threshold whose intersection is empty is skipped (l untouched), ties go to the first component in
      row-major order (skimage ``label`` + ``regionprops`` + ``argmax``); then phi as above, sum / 1000.
    * The reference computes Grad and Conn on the whole image only; another region sums the same
      whole-image error map over its pixels (an extension, without forcing).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import cv2
import numpy as np
from scipy import ndimage

from automatte.metrics._inputs import BACKGROUND, FOREGROUND, EmptyRegionWarning, Inputs, prepare, warn_empty

__all__ = [
    "sad",
    "mse",
    "mad",
    "grad",
    "conn",
    "compute_all",
    "gaussian_gradient_kernel",
    "METRICS",
    "DIM_THRESHOLDS",
    "AIM_THRESHOLDS",
    "EmptyRegionWarning",
]

METRICS = ("SAD", "MSE", "MAD", "Grad", "Conn")
SUM_SCALE = 1000.0  # SAD, Grad (dim) and Conn are reported in thousands
AIM_GRAD_SCALE = 10.0  # compute_gradient_whole_image divides by 10
GRAD_SIGMA = 1.4
PHI_THETA = 0.15  # Rhemann et al. 2009: differences below 0.15 are not penalised


def _matlab_colon(start: float, step: float, stop: float) -> np.ndarray:
    """MATLAB's ``start:step:stop``: ``start + k*step`` in the first half, ``stop - k*step`` in the second."""
    n = int(round((stop - start) / step))
    values = np.empty(n + 1)
    for k in range(n + 1):
        if 2 * k < n:
            values[k] = start + k * step
        elif 2 * k > n:
            values[k] = stop - (n - k) * step
        else:
            values[k] = (start + stop) / 2
    return values


DIM_THRESHOLDS = _matlab_colon(0.0, 0.1, 1.0)
AIM_THRESHOLDS = np.arange(0, 1.1, 0.1)


# ------------------------------------------------------------------------------------------- gradient
def gaussian_gradient_kernel(sigma: float = GRAD_SIGMA, epsilon: float = 1e-2) -> np.ndarray:
    """The x-derivative-of-Gaussian kernel of gaussgradient.m; its transpose is the y kernel.

    ``h[y, x] = gauss(y) * dgauss(x)`` with ``gauss(u) = exp(-u^2 / (2 s^2)) / (s sqrt(2 pi))`` and
    ``dgauss(u) = -u gauss(u) / s^2``, on ``u = -half..half``, ``half = ceil(s sqrt(-2 ln(sqrt(2 pi) s
    epsilon)))``, scaled to unit L2 norm.

    Returns:
        (2 half + 1, 2 half + 1) float64; 9x9 for sigma 1.4.

    Example:
        >>> k = gaussian_gradient_kernel()
        >>> k.shape, round(float((k ** 2).sum()), 12)
        ((9, 9), 1.0)
    """
    half = math.ceil(sigma * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * sigma * epsilon)))
    u = np.arange(-half, half + 1, dtype=np.float64)
    gauss = np.exp(-(u**2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))
    dgauss = -u * gauss / sigma**2
    kernel = gauss[:, None] * dgauss[None, :]
    return kernel / math.sqrt(float((kernel * kernel).sum()))


def _separable_factors(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(smoothing, derivative) 1-D factors whose outer product is :func:`gaussian_gradient_kernel`."""
    half = gaussian_gradient_kernel(sigma).shape[0] // 2
    u = np.arange(-half, half + 1, dtype=np.float64)
    gauss = np.exp(-(u**2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))
    dgauss = -u * gauss / sigma**2
    return gauss / np.linalg.norm(gauss), dgauss / np.linalg.norm(dgauss)


def _mat2gray(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    if hi == lo:  # constant image: MATLAB keeps the values, then clips
        return np.clip(a, 0.0, 1.0)
    delta = 1.0 / (hi - lo)
    return np.clip(a * delta + (-lo * delta), 0.0, 1.0)


def _dim_gradient_magnitude(alpha: np.ndarray, sigma: float = GRAD_SIGMA) -> np.ndarray:
    smooth, deriv = _separable_factors(sigma)
    a = _mat2gray(alpha)
    # imfilter(..., 'conv') flips the kernel: convolving with h is correlating with -h (h is odd in x).
    gx = cv2.sepFilter2D(a, cv2.CV_64F, kernelX=-deriv, kernelY=smooth, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.sepFilter2D(a, cv2.CV_64F, kernelX=smooth, kernelY=-deriv, borderType=cv2.BORDER_REPLICATE)
    return _hypot_inplace(gx, gy)


def _hypot_inplace(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """sqrt(gx^2 + gy^2) (the same roundings as the expression), overwriting ``gx`` and ``gy``."""
    np.multiply(gx, gx, out=gx)
    np.multiply(gy, gy, out=gy)
    np.add(gx, gy, out=gx)
    return np.sqrt(gx, out=gx)


def _aim_gradient_magnitude(alpha: np.ndarray) -> np.ndarray:
    gx = ndimage.gaussian_filter(alpha, sigma=GRAD_SIGMA, order=[1, 0], output=np.float32)
    gy = ndimage.gaussian_filter(alpha, sigma=GRAD_SIGMA, order=[0, 1], output=np.float32)
    return _hypot_inplace(gx, gy)


# --------------------------------------------------------------------------------------- connectivity
def _largest_component(mask: np.ndarray) -> np.ndarray | None:
    """The largest 4-connected component of ``mask``, the first in raster order on ties; None if empty."""
    n, labels = cv2.connectedComponents(mask.view(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    if n <= 1:
        return None
    sizes = np.bincount(labels.ravel(), minlength=n)
    sizes[0] = 0  # background
    best = np.flatnonzero(sizes == sizes.max())
    if best.size > 1:  # OpenCV's numbering is not a scan order: take the tied label seen first
        flat = labels.ravel()
        best = min(best.tolist(), key=lambda c: int(np.argmax(flat == c)))
    else:
        best = int(best[0])
    return labels == best


def _levels(p, g, thresholds, *, skip_empty: bool, dtype) -> np.ndarray:
    """The level map l of the connectivity error, ties broken in the raster order of ``p``'s layout.

    ``skip_empty`` leaves l untouched at a threshold without a common pixel (aim); otherwise every
    unassigned pixel gets the previous threshold (dim). The intersections shrink as t grows, so the
    first empty one ends the loop either way.
    """
    lowest = np.minimum(p, g)  # p >= t and g >= t  <=>  min(p, g) >= t
    level = np.full(p.shape, -1, dtype=dtype)
    unassigned = np.ones(p.shape, dtype=bool)
    for i in range(1, len(thresholds)):
        omega = _largest_component(lowest >= thresholds[i])
        if omega is None:
            if not skip_empty:
                np.copyto(level, thresholds[i - 1], where=unassigned)
                unassigned[:] = False
            break
        flag = unassigned & ~omega
        np.copyto(level, thresholds[i - 1], where=flag)
        unassigned &= omega
    level[unassigned] = 1
    return level


def _phi_inplace(alpha: np.ndarray, level: np.ndarray) -> np.ndarray:
    """phi = 1 - d [d >= 0.15] with d = alpha - level (float64; the expression's roundings)."""
    d = np.subtract(alpha, level, dtype=np.float64)
    np.multiply(d, d >= PHI_THETA, out=d)
    return np.subtract(1.0, d, out=d)


def _conn_error(x: Inputs) -> np.ndarray:
    if x.protocol == "dim":
        # Work on the transposed images, whose raster order is MATLAB's column-major bwconncomp order.
        p, g = np.ascontiguousarray(x.pred.T), np.ascontiguousarray(x.gt.T)
        level = _levels(p, g, DIM_THRESHOLDS, skip_empty=False, dtype=np.float64)
    else:
        p, g = x.pred, x.gt
        level = _levels(p, g, AIM_THRESHOLDS, skip_empty=True, dtype=np.float32)
    phi_p = _phi_inplace(p, level)
    error = np.abs(np.subtract(phi_p, _phi_inplace(g, level), out=phi_p), out=phi_p)
    return error.T if x.protocol == "dim" else error


# ------------------------------------------------------------------------------------ metric kernels
def _region_sum(error: np.ndarray, x: Inputs) -> float:
    if x.mask is None:
        return float(np.sum(error))
    return float(np.sum(error[x.mask], dtype=np.float64))


def _aim_forced_pred(x: Inputs) -> np.ndarray:
    pred = np.copy(x.pred)
    pred[x.classes == FOREGROUND] = 1.0
    pred[x.classes == BACKGROUND] = 0.0
    return pred


def _error_map(x: Inputs, power: int, forced: bool = False) -> np.ndarray:
    """|pred - gt| (power 1) or (pred - gt)^2 (power 2), computed in place in one new array."""
    error = np.subtract(_aim_forced_pred(x) if forced else x.pred, x.gt)
    return np.multiply(error, error, out=error) if power == 2 else np.abs(error, out=error)


def _sad(x: Inputs) -> float:
    if x.protocol == "aim" and x.region == "unknown":
        return float(np.sum(_error_map(x, 1, forced=True)) / SUM_SCALE)
    if x.protocol == "aim" and x.region in ("fg", "bg"):  # calculate_sad_fgbg: a 0/1 weight map
        return float(np.sum(_error_map(x, 1) * x.mask.astype(np.float64)) / SUM_SCALE)
    return _region_sum(_error_map(x, 1), x) / SUM_SCALE


def _mean_error(x: Inputs, power: int) -> float:
    if x.protocol == "aim" and x.region == "unknown":
        return float(np.sum(_error_map(x, power, forced=True)) / float(x.count))
    return _region_sum(_error_map(x, power), x) / x.count


def _mse(x: Inputs) -> float:
    return _mean_error(x, 2)


def _mad(x: Inputs) -> float:
    return _mean_error(x, 1)


def _grad(x: Inputs) -> float:
    magnitude = _dim_gradient_magnitude if x.protocol == "dim" else _aim_gradient_magnitude  # float64 / 32
    error = magnitude(x.pred)
    np.subtract(error, magnitude(x.gt), out=error)
    np.multiply(error, error, out=error)
    if x.protocol == "dim":
        return _region_sum(error, x) / SUM_SCALE
    if x.mask is None:
        return float(np.sum(error) / AIM_GRAD_SCALE)  # a float32 sum and quotient, as in the reference
    return _region_sum(error, x) / AIM_GRAD_SCALE


def _conn(x: Inputs) -> float:
    return _region_sum(_conn_error(x), x) / SUM_SCALE


_KERNELS: dict[str, Callable[[Inputs], float]] = {"SAD": _sad, "MSE": _mse, "MAD": _mad, "Grad": _grad, "Conn": _conn}


def _run(name: str, caller: str, pred, gt, trimap, region, protocol) -> float:
    x = prepare(pred, gt, trimap, region, protocol, caller)
    if x.count == 0:
        warn_empty(caller, x)
        return 0.0
    return _KERNELS[name](x)


# -------------------------------------------------------------------------------------------- public
def sad(pred, gt, trimap=None, *, region="whole", protocol: str = "dim") -> float:
    """Sum of absolute differences over ``region``, in thousands.

    Args:
        pred: (H, W) predicted alpha, float in [0, 1] or uint8.
        gt: (H, W) ground-truth alpha, same form.
        trimap: (H, W) float {0, 0.5, 1} or uint8 {0, 128, 255}; needed for "unknown", "fg", "bg".
        region: "whole", "unknown", "fg", "bg" or a bool (H, W) mask.
        protocol: "dim" or "aim" (see the module docstring; "aim" + "unknown" forces pred by the trimap).

    Returns:
        sum |pred - gt| / 1000 over the region (0.0 with :class:`EmptyRegionWarning` for an empty one).

    Example:
        >>> import numpy as np
        >>> sad(np.full((10, 10), 0.5), np.zeros((10, 10)))
        0.05
    """
    return _run("SAD", "sad", pred, gt, trimap, region, protocol)


def mse(pred, gt, trimap=None, *, region="whole", protocol: str = "dim") -> float:
    """Mean squared error over ``region`` (arguments as :func:`sad`); not scaled.

    Example:
        >>> import numpy as np
        >>> mse(np.full((2, 2), 0.5), np.zeros((2, 2)))
        0.25
    """
    return _run("MSE", "mse", pred, gt, trimap, region, protocol)


def mad(pred, gt, trimap=None, *, region="whole", protocol: str = "dim") -> float:
    """Mean absolute difference over ``region`` (arguments as :func:`sad`); not scaled.

    Example:
        >>> import numpy as np
        >>> mad(np.full((2, 2), 0.5), np.zeros((2, 2)))
        0.5
    """
    return _run("MAD", "mad", pred, gt, trimap, region, protocol)


def grad(pred, gt, trimap=None, *, region="whole", protocol: str = "dim") -> float:
    """Gradient error: sum (|grad pred| - |grad gt|)^2 over ``region`` / 1000 ("dim") or / 10 ("aim").

    The gradients use a derivative-of-Gaussian filter of sigma 1.4 over the whole image (see the module
    docstring for each protocol's filter and borders). Arguments as :func:`sad`.

    Example:
        >>> import numpy as np
        >>> a = np.zeros((16, 16)); a[:, 8:] = 1
        >>> grad(a, a)
        0.0
    """
    return _run("Grad", "grad", pred, gt, trimap, region, protocol)


def conn(pred, gt, trimap=None, *, region="whole", protocol: str = "dim") -> float:
    """Connectivity error (Rhemann et al. 2009): sum |phi_pred - phi_gt| over ``region`` / 1000.

    Labelling runs on the whole image; see the module docstring for each protocol's thresholds, tie
    order and empty-threshold rule. Arguments as :func:`sad`.

    Example:
        >>> import numpy as np
        >>> a = np.zeros((8, 8)); a[2:6, 2:6] = 1
        >>> conn(a, a)
        0.0
    """
    return _run("Conn", "conn", pred, gt, trimap, region, protocol)


def compute_all(
    pred, gt, trimap=None, *, region="whole", protocol: str = "dim", metrics: Sequence[str] | None = None
) -> dict[str, float]:
    """Several metrics at once, validating the inputs (and warning about an empty region) once.

    Args:
        pred, gt, trimap, region, protocol: as :func:`sad`.
        metrics: names from :data:`METRICS` (case-insensitive); default all five.

    Returns:
        ``{"SAD": ..., "MSE": ..., "MAD": ..., "Grad": ..., "Conn": ...}`` (requested names only).

    Example:
        >>> import numpy as np
        >>> a = np.zeros((8, 8)); a[2:6, 2:6] = 1
        >>> compute_all(a, a)
        {'SAD': 0.0, 'MSE': 0.0, 'MAD': 0.0, 'Grad': 0.0, 'Conn': 0.0}
    """
    lookup = {m.lower(): m for m in METRICS}
    names = list(METRICS) if metrics is None else [lookup.get(str(m).lower()) for m in metrics]
    if None in names:
        raise ValueError(f"compute_all: unknown metric in {list(metrics)}; expected names from {METRICS}")
    x = prepare(pred, gt, trimap, region, protocol, "compute_all")
    if x.count == 0:
        warn_empty("compute_all", x)
        return {name: 0.0 for name in names}
    return {name: _KERNELS[name](x) for name in names}
