"""Building blocks shared by the procedural generators: noise, warps, supersampled drawing, light.

Conventions: images are float32 in [0, 1]; coordinates are (x, y) in output pixels with pixel centres on
integers; every random draw comes from the ``numpy.random.Generator`` passed in, so a generator is a pure
function of its rng state.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import cv2
import numpy as np

SUPERSAMPLE = 4
"""Supersampling factor of the line-drawing canvases (4 x 4 samples per output pixel)."""

_SHIFT = 4  # fractional bits of the fixed-point coordinates handed to cv2 drawing functions


@dataclass(frozen=True)
class Light:
    """The scene light, estimated from the background so that foreground shading agrees with it.

    Attributes:
        direction: unit (dx, dy) in image coordinates pointing towards the light (y grows downwards).
        tint: RGB multipliers with mean 1 (colour of the light).
        level: mean luminance of the background in [0, 1].
    """

    direction: tuple[float, float] = (-0.6, -0.8)
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    level: float = 0.5


@dataclass
class Layer:
    """A generated foreground: alpha (H, W) and colours (H, W, 3), both float32 in [0, 1].

    ``emissive`` layers (fire) keep their colours under the scene light.
    """

    alpha: np.ndarray
    fg: np.ndarray
    emissive: bool = False


# ------------------------------------------------------------------------------------------------ noise


def value_noise(rng: np.random.Generator, shape: tuple[int, int], cells: float | tuple[float, float]) -> np.ndarray:
    """Smooth random field: a Gaussian lattice of about ``cells`` cells across, bicubically upsampled.

    ``cells`` may be (cells_y, cells_x) for anisotropic (stretched) noise. Returns (H, W) float32 with
    roughly zero mean and unit variance.
    """
    h, w = shape
    cy, cx = (cells, cells) if np.isscalar(cells) else cells
    gh = int(min(max(2, round(cy)), h)) + 1
    gw = int(min(max(2, round(cx)), w)) + 1
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def fbm(
    rng: np.random.Generator,
    shape: tuple[int, int],
    cells: float | tuple[float, float] = 3.0,
    octaves: int = 5,
    gain: float = 0.5,
) -> np.ndarray:
    """Fractal (multi-octave) noise, standardised to zero mean and unit standard deviation.

    Each octave doubles the lattice density and multiplies the amplitude by ``gain``; octaves finer than
    two pixels per cell are skipped (but their random numbers are still drawn, for stable streams).
    """
    h, w = shape
    cy, cx = (float(cells), float(cells)) if np.isscalar(cells) else (float(cells[0]), float(cells[1]))
    total = np.zeros(shape, np.float32)
    amplitude = 1.0
    for _ in range(octaves):
        layer = value_noise(rng, shape, (cy, cx))
        if max(cy, cx) <= max(h, w) / 2:
            total += amplitude * layer
        amplitude *= gain
        cy, cx = cy * 2, cx * 2
    return standardise(total)


def ridged(
    rng: np.random.Generator, shape: tuple[int, int], cells: float | tuple[float, float] = 3.0, octaves: int = 5
) -> np.ndarray:
    """Ridged fractal noise in [0, 1]: thin bright filaments (smoke sheets, creases)."""
    n = fbm(rng, shape, cells, octaves)
    return np.exp(-2.0 * n * n).astype(np.float32)


def standardise(field: np.ndarray) -> np.ndarray:
    """Zero mean, unit standard deviation (a constant field stays zero)."""
    field = field - field.mean()
    std = float(field.std())
    return (field / std if std > 1e-12 else field).astype(np.float32)


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """Hermite step from 0 at ``edge0`` to 1 at ``edge1``."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinate arrays (x, y), float32, each (H, W)."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return x, y


def warp(field: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Sample ``field`` at (x + dx, y + dy) (bilinear, reflected borders): domain warping."""
    x, y = grid(field.shape[:2])
    return cv2.remap(field, x + dx, y + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma`` pixels (identity below 0.3)."""
    if sigma < 0.3:
        return image
    return cv2.GaussianBlur(image, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_REFLECT)


# ------------------------------------------------------------------------------------------------ colour


def hsv(h: float, s: float, v: float) -> np.ndarray:
    """An RGB colour (3,) float32 from hue, saturation, value in [0, 1] (hue wraps)."""
    return np.array(colorsys.hsv_to_rgb(h % 1.0, float(np.clip(s, 0, 1)), float(np.clip(v, 0, 1))), np.float32)


def jitter_colour(
    rng: np.random.Generator, colour: np.ndarray, hue: float = 0.02, sat: float = 0.08, val: float = 0.08
) -> np.ndarray:
    """A random nearby colour (hue, saturation and value perturbed)."""
    h, s, v = colorsys.rgb_to_hsv(*[float(c) for c in colour])
    return hsv(h + rng.normal(0, hue), s + rng.normal(0, sat), v + rng.normal(0, val))


def ramp(t: np.ndarray, stops: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """Map a scalar field (H, W) through colour stops [(position, rgb), ...] to (H, W, 3)."""
    pos = np.array([p for p, _ in stops], np.float32)
    out = np.empty(t.shape + (3,), np.float32)
    for c in range(3):
        out[..., c] = np.interp(t, pos, np.array([col[c] for _, col in stops], np.float32))
    return out


def shade(height: np.ndarray, light: Light, relief: float, ambient: float = 0.45) -> np.ndarray:
    """Lambertian shading (H, W) of a height field lit from ``light.direction`` (and the viewer side).

    ``relief`` scales the slopes; ambient + (1 - ambient) * max(0, n . l), normalised so a flat surface
    gives 1.
    """
    gy, gx = np.gradient(height.astype(np.float32))
    nx, ny, nz = -gx * relief, -gy * relief, np.ones_like(gx)
    norm = np.sqrt(nx * nx + ny * ny + 1.0)
    lx, ly = light.direction
    lz = 0.9
    ln = np.sqrt(lx * lx + ly * ly + lz * lz)
    lambert = np.clip((nx * lx + ny * ly + nz * lz) / (norm * ln), 0.0, 1.0)
    flat = lz / ln
    return ((ambient + (1 - ambient) * lambert) / (ambient + (1 - ambient) * flat)).astype(np.float32)


def mask_shading(mask: np.ndarray, light: Light, sigma: float, strength: float = 0.6) -> np.ndarray:
    """Shading (H, W) of a rounded (pillow-like) body given its silhouette ``mask`` in [0, 1]."""
    height = blur(mask.astype(np.float32), sigma)
    height = np.sqrt(np.clip(height, 0, 1))
    return shade(height, light, relief=strength * sigma * 2.0)


def unpremultiply(premult: np.ndarray, alpha: np.ndarray, fallback: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """Colours from premultiplied colours: (P + eps F0) / (a + eps), blending to ``fallback`` where a -> 0."""
    a = alpha[..., None]
    return np.clip((premult + eps * fallback) / (a + eps), 0.0, 1.0).astype(np.float32)


# ------------------------------------------------------------------------------------------------ drawing


class Canvas:
    """A supersampled uint8 canvas for anti-aliased drawing in output-pixel coordinates.

    Lines drawn with ``cv2.LINE_AA`` at ``factor`` x resolution and reduced with ``INTER_AREA`` give
    true sub-pixel coverage (a 0.25 px wide strand covers a quarter of a pixel). Colours blend as
    ``c = c + (value - c) * coverage``, so drawing 255 accumulates union coverage exactly.
    """

    def __init__(self, size: int, channels: int = 1, fill: tuple[int, ...] | int = 0, factor: int = SUPERSAMPLE):
        self.size = size
        self.factor = factor
        side = size * factor
        self.image = np.empty((side, side, channels) if channels > 1 else (side, side), np.uint8)
        self.image[...] = fill

    def fixed(self, points: np.ndarray) -> np.ndarray:
        """Output-pixel coordinates (..., 2) -> int32 fixed-point canvas coordinates for cv2 (shift=4)."""
        scaled = (np.asarray(points, np.float64) + 0.5) * self.factor - 0.5
        return np.round(scaled * (1 << _SHIFT)).astype(np.int32)

    def thickness(self, width: float) -> int:
        """Canvas line thickness for a strand ``width`` output pixels wide (at least one canvas pixel)."""
        return max(1, int(round(width * self.factor)))

    def polylines(self, polylines: np.ndarray | list, value, width: float) -> None:
        """Draw open polylines ((N, K, 2) array or list of (K, 2)) ``width`` output pixels wide."""
        if len(polylines) == 0:
            return
        pts = [self.fixed(p).reshape(-1, 1, 2) for p in polylines]
        cv2.polylines(self.image, pts, False, value, self.thickness(width), cv2.LINE_AA, shift=_SHIFT)

    def fill_polygon(self, polygon: np.ndarray, value) -> None:
        """Fill a polygon (K, 2) given in output pixels."""
        pts = self.fixed(polygon).reshape(-1, 1, 2)
        cv2.fillPoly(self.image, [pts], value, cv2.LINE_AA, shift=_SHIFT)

    def ellipse(self, centre, axes, angle_deg: float, value, width: float = -1) -> None:
        """Draw an ellipse (filled when ``width`` < 0), in output pixels."""
        c = tuple(int(v) for v in self.fixed(np.array(centre)))
        ax = tuple(int(round(a * self.factor * (1 << _SHIFT))) for a in axes)
        thick = -1 if width < 0 else self.thickness(width)
        cv2.ellipse(self.image, c, ax, float(angle_deg), 0.0, 360.0, value, thick, cv2.LINE_AA, shift=_SHIFT)

    def circles(self, centres: np.ndarray, radii: np.ndarray, value, width: float = -1) -> None:
        """Draw circles (filled when ``width`` < 0); ``centres`` (N, 2), ``radii`` (N,) in output pixels."""
        thick = -1 if width < 0 else self.thickness(width)
        fc = self.fixed(centres)
        fr = np.round(np.asarray(radii) * self.factor * (1 << _SHIFT)).astype(np.int64)
        for (x, y), r in zip(fc.tolist(), fr.tolist(), strict=True):
            cv2.circle(self.image, (x, y), max(int(r), 1), value, thick, cv2.LINE_AA, shift=_SHIFT)

    def reduce(self) -> np.ndarray:
        """Area-average down to output size; float32 in [0, 1] (channel axis kept if any)."""
        small = cv2.resize(self.image, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return small.astype(np.float32) / 255.0


_OPACITY = np.array([0.45, 0.7, 0.88, 1.0])
_LUM = np.linspace(0.55, 1.45, 7)


def draw_polylines(
    canvas: Canvas, pts: np.ndarray, width: np.ndarray, opacity: np.ndarray, lum: np.ndarray, tip: float = 0.35
) -> None:
    """Draw strands (N, K, 2) on a 3-channel canvas; the last ``tip`` of each is thinner and lighter.

    Channels: 0 = opacity * 255, 1 = brightness * 128, 2 = 255 (presence); see ``strand_layer``.
    Strands are grouped by quantised opacity (drawn from faint to opaque, so the alpha channel composes
    like a max), canvas thickness and brightness: one cv2 call per group.
    """
    if len(pts) == 0:
        return
    fixed = canvas.fixed(pts)
    k = pts.shape[1]
    if tip > 0 and k >= 4:
        cut = max(1, min(k - 2, int(round((k - 1) * (1 - tip)))))
        parts = ((fixed[:, : cut + 1], 1.0, 0), (fixed[:, cut:], 1.12, 1))
    else:
        parts = ((fixed, 1.0, 0),)
    o_idx = np.abs(opacity[:, None] - _OPACITY[None]).argmin(1)
    l_idx = np.abs(lum[:, None] - _LUM[None]).argmin(1)
    thick = np.maximum(1, np.round(np.asarray(width) * canvas.factor)).astype(int)
    keys = (o_idx * 64 + np.minimum(thick, 63)) * 16 + l_idx
    for key in np.unique(keys):
        members = np.flatnonzero(keys == key)
        o, t, li = _OPACITY[key // 1024], int(key // 16 % 64), int(key % 16)
        for part, lum_gain, thinner in parts:
            value = (int(round(255 * o)), int(round(128 * min(_LUM[li] * lum_gain, 1.9))), 255)
            cv2.polylines(
                canvas.image, list(part[members]), False, value, max(1, t - thinner), cv2.LINE_AA, shift=_SHIFT
            )


def strand_layer(
    canvas: Canvas, body: np.ndarray, body_colour: np.ndarray, strand_colour: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Alpha, colours and strand presence of strands (drawn on a 3-channel canvas) over an opaque ``body`` mask.

    alpha = 1 - (1 - body)(1 - strands); colours mix the strand colour (times the strand brightness)
    and the body colour by strand presence.
    """
    small = canvas.reduce()
    strands = small[..., 0]
    presence = small[..., 2]
    alpha = 1.0 - (1.0 - body) * (1.0 - strands)
    lum = 1.0 + (small[..., 1] * (255.0 / 128.0) - 1.0) / np.maximum(presence, 0.3)
    lum = np.clip(lum, 0.4, 1.7)[..., None]
    p = presence[..., None]
    fg = (p * strand_colour * lum + (1 - p) * body_colour).astype(np.float32)
    return alpha.astype(np.float32), fg, presence


def contour_frame(mask: np.ndarray, smooth: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Outer boundary of a binary-ish mask as points (M, 2) and outward normals (M, 2), about 1 px apart.

    Points touching the image border are dropped (a silhouette cut by the frame grows no hair there).
    """
    binary = (mask > 0.5).astype(np.uint8)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    empty = np.zeros((0, 2), np.float32)
    if not contours:
        return empty, empty
    pts_all, nrm_all = [], []
    h, w = mask.shape
    for contour in contours:
        pts = contour[:, 0, :].astype(np.float32)
        if len(pts) < 8:
            continue
        k = max(1, int(3 * smooth))
        kernel = np.exp(-0.5 * (np.arange(-k, k + 1) / smooth) ** 2)
        kernel /= kernel.sum()
        padded = np.concatenate([pts[-k:], pts, pts[:k]])
        sm = np.stack([np.convolve(padded[:, i], kernel, mode="valid") for i in range(2)], 1)
        tangent = np.roll(sm, -1, 0) - np.roll(sm, 1, 0)
        tangent /= np.linalg.norm(tangent, axis=1, keepdims=True) + 1e-9
        # OpenCV outer contours run clockwise on screen (y down): the outward normal is (t_y, -t_x)
        normal = np.stack([tangent[:, 1], -tangent[:, 0]], 1)
        inner = pts + 2.0 * normal
        inside = binary[
            np.clip(inner[:, 1].round().astype(int), 0, h - 1), np.clip(inner[:, 0].round().astype(int), 0, w - 1)
        ]
        if inside.mean() > 0.5:  # orientation guard
            normal = -normal
        keep = (pts[:, 0] > 1) & (pts[:, 1] > 1) & (pts[:, 0] < w - 2) & (pts[:, 1] < h - 2)
        pts_all.append(sm[keep])
        nrm_all.append(normal[keep])
    if not pts_all:
        return empty, empty
    return np.concatenate(pts_all).astype(np.float32), np.concatenate(nrm_all).astype(np.float32)
