"""NS (non-salient) foregrounds: smoke, fog, nets over the frame, rain, snow, fire.

These cover large parts of the frame with soft alpha and are not closed objects; few or no pixels are
fully opaque.
"""

from __future__ import annotations

import cv2
import numpy as np

from .common import (
    Canvas,
    Layer,
    Light,
    blur,
    draw_polylines,
    fbm,
    grid,
    hsv,
    jitter_colour,
    ramp,
    shade,
    smoothstep,
    strand_layer,
    unpremultiply,
    warp,
)
from .transparent import draw_lattice, lattice_segments


def _haze(rng: np.random.Generator, size: int, strength: float) -> np.ndarray:
    """A faint, large-scale veil (H, W) in [0, strength]: the mist that comes with rain and snow."""
    return (strength * smoothstep(-2.0, 2.0, fbm(rng, (size, size), 2, 4) + 0.5)).astype(np.float32)


def _over(top_a: np.ndarray, top_c: np.ndarray, a: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Porter-Duff over of two (alpha, colour) layers; returns (alpha, premultiplied colour)."""
    alpha = top_a + a * (1 - top_a)
    premult = top_a[..., None] * top_c + ((1 - top_a) * a)[..., None] * c
    return alpha, premult


def smoke(rng: np.random.Generator, size: int, light: Light) -> Layer:
    """A rising, spreading plume of smoke: domain-warped ridged noise inside a widening envelope."""
    shape = (size, size)
    x, y = grid(shape)
    # plume: source below or at the lower edge, drifting sideways as it rises
    sx = size * rng.uniform(0.2, 0.8)
    sy = size * rng.uniform(0.9, 1.2)
    drift = rng.uniform(-0.6, 0.6)
    rise = np.clip(sy - y, 0, None)
    meander = size * 0.08 * fbm(rng, (size, 1), (3, 1), 3)
    centre = sx + drift * rise + meander
    width = size * rng.uniform(0.08, 0.16) + rise * rng.uniform(0.35, 0.8)
    envelope = np.exp(-(((x - centre) / width) ** 2)) * smoothstep(0.0, size * 0.15, rise)
    if rng.random() < 0.35:  # a broad bank of smoke instead of a single plume
        envelope = np.maximum(envelope, smoothstep(-1.8, 1.2, fbm(rng, shape, 1.5, 3)) * 0.9)
    # soft billows (isotropic fractal noise) and rising curtains (noise stretched along the plume),
    # both bent by a gentle low-frequency warp; a last small blur keeps every edge vaporous
    amp = size * rng.uniform(0.03, 0.07)
    qx, qy = fbm(rng, shape, 2, 3) * amp, fbm(rng, shape, 2, 3) * amp
    billow = warp(fbm(rng, shape, rng.uniform(2.5, 4), 6, gain=0.55), qx, qy)
    streak_x = rng.uniform(6, 12)
    curtains = warp(fbm(rng, shape, (rng.uniform(1.5, 3), streak_x), 5, gain=0.6), qx * 2, qy)
    density = 0.7 * smoothstep(-1.4, 1.6, billow) + 0.5 * smoothstep(0.0, 2.2, curtains) * smoothstep(-1.2, 0.5, billow)
    alpha = np.clip(blur(envelope * density, size * 0.002) * rng.uniform(0.7, 1.1), 0, 0.9)
    colour = [hsv(0.6, 0.03, 0.9), hsv(0.6, 0.05, 0.6), hsv(0.1, 0.05, 0.8), hsv(rng.uniform(0, 1), 0.6, 0.85)][
        int(rng.integers(4))
    ]
    thick = blur(alpha, size * 0.015)
    lit = shade(thick, light, relief=size * 0.08, ambient=0.7) * (1 - 0.25 * thick)
    fg = colour * (lit * (0.97 + 0.06 * curtains))[..., None]
    return Layer(alpha.astype(np.float32), np.clip(fg, 0, 1).astype(np.float32))


def fog(rng: np.random.Generator, size: int, light: Light) -> Layer:
    """Fog or mist over the whole frame: thicker towards the ground, drifting wisps."""
    shape = (size, size)
    x, y = grid(shape)
    ground = size * rng.uniform(0.5, 1.0)
    layered = smoothstep(-size * 0.6, size * 0.2, y - ground)
    amp = size * 0.05
    wisps = warp(
        fbm(rng, shape, (rng.uniform(2, 4), rng.uniform(4, 8)), 6),
        fbm(rng, shape, 2, 3) * amp,
        fbm(rng, shape, 2, 3) * amp,
    )
    base = rng.uniform(0.15, 0.4)
    alpha = base + rng.uniform(0.2, 0.45) * layered + 0.15 * wisps
    alpha = np.clip(alpha, 0.02, 0.85)
    colour = jitter_colour(
        rng, hsv(rng.uniform(0.55, 0.62), rng.uniform(0.02, 0.12), rng.uniform(0.75, 0.95)), 0.02, 0.03, 0.05
    )
    glow = 1 + 0.15 * ((x / size - 0.5) * light.direction[0] + (y / size - 0.5) * light.direction[1])
    fg = colour * (glow * (1 + 0.04 * wisps))[..., None]
    return Layer(alpha.astype(np.float32), np.clip(fg, 0, 1).astype(np.float32))


def net(rng: np.random.Generator, size: int, light: Light) -> Layer:
    """A knotted net (fishing net, sports net) across the whole frame, sagging, maybe out of focus."""
    margin = -rng.uniform(0.05, 0.3)
    lo, hi = size * margin, size * (1 - margin)
    quad = (
        np.array([[lo, lo], [hi, lo], [hi, hi], [lo, hi]], np.float32)
        + rng.uniform(-0.15, 0.15, (4, 2)).astype(np.float32) * size
    )
    unit = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    homography = cv2.getPerspectiveTransform(unit, quad)
    cells = int(rng.uniform(8, 28))
    kind = "diamond" if rng.random() < 0.6 else "square"
    sag_amp = size * rng.uniform(0.0, 0.04)
    phase = rng.uniform(0, 2 * np.pi, 2)

    def sag(pts: np.ndarray) -> np.ndarray:
        u, v = pts[..., 0], pts[..., 1]
        return (
            np.stack([0.3 * np.sin(3 * v + phase[0]), np.sin(np.pi * u) * 0.7 + 0.3 * np.sin(4 * u + phase[1])], -1)
            * sag_amp
        )

    canvas = Canvas(size, 3, (0, 128, 0))
    width = rng.uniform(0.5, 1.3) * (size / 512) ** 0.5
    draw_lattice(
        canvas, lattice_segments(kind, cells, rng), homography, width, rng.uniform(0.75, 0.95), light, rng, sag=sag
    )
    knots = np.array([[i, j] for i in range(cells + 1) for j in range(cells + 1)], np.float32) / cells
    if kind == "diamond":
        knots = np.array(
            [[i, j] for i in range(2 * cells + 1) for j in range(2 * cells + 1) if (i + j) % 2 == 0], np.float32
        ) / (2 * cells)
    knot_xy = cv2.perspectiveTransform(knots.reshape(1, -1, 2), homography).reshape(-1, 2) + sag(knots)
    keep = np.all((knot_xy > -5) & (knot_xy < size + 5), axis=1)
    canvas.circles(knot_xy[keep], np.full(int(keep.sum()), width * 0.9), (int(255 * 0.9), 110, 255))
    colour = [
        hsv(0.33, 0.4, 0.4),
        hsv(0.58, 0.5, 0.5),
        hsv(0.1, 0.05, 0.9),
        hsv(0.0, 0.0, 0.1),
        hsv(0.07, 0.8, 0.8),
        hsv(0.12, 0.3, 0.6),
    ][int(rng.integers(6))]
    field = colour * (1 + 0.1 * fbm(rng, (size, size), 3, 3))[..., None]
    alpha, fg, _ = strand_layer(canvas, np.zeros((size, size), np.float32), field, field)
    sigma = rng.uniform(0.0, 1.6) * size / 512 if rng.random() < 0.5 else 0.0
    if sigma > 0.3:  # a net close to the lens is out of focus
        premult = blur(fg * alpha[..., None], sigma)
        alpha = blur(alpha, sigma)
        fg = unpremultiply(premult, alpha, field)
    return Layer(np.clip(alpha, 0, 0.97).astype(np.float32), np.clip(fg, 0, 1).astype(np.float32))


def rain(rng: np.random.Generator, size: int, light: Light) -> Layer:
    """Falling rain: motion-blurred streaks in three depth layers over a faint mist."""
    s = size / 512.0
    angle = np.pi / 2 + rng.normal(0, 0.2)
    haze = _haze(rng, size, rng.uniform(0.05, 0.25))
    alpha = haze
    colour = jitter_colour(rng, hsv(0.58, 0.08, 0.92), 0.02, 0.03, 0.03)
    premult = haze[..., None] * colour
    for count, length, width, opacity, sigma in (
        (int(rng.uniform(800, 2000) * s * s), 12 * s, 0.3, (0.15, 0.4), 0.0),
        (int(rng.uniform(250, 700) * s * s), 30 * s, 0.5, (0.2, 0.5), 0.5),
        (int(rng.uniform(30, 120) * s * s), 90 * s, 1.2, (0.15, 0.35), 2.5),
    ):
        start = rng.uniform(-0.1 * size, 1.1 * size, (count, 2))
        lengths = length * rng.uniform(0.6, 1.4, count)
        ang = angle + rng.normal(0, 0.03, count)
        end = start + np.stack([np.cos(ang), np.sin(ang)], 1) * lengths[:, None]
        pts = np.stack([start, end], 1).astype(np.float32)
        canvas = Canvas(size, 3, (0, 128, 0), factor=2)
        draw_polylines(
            canvas,
            pts,
            np.full(count, width * s**0.5),
            rng.uniform(*opacity, count),
            np.clip(rng.normal(1.1, 0.1, count), 0.55, 1.45),
        )
        field = np.empty((size, size, 3), np.float32)
        field[...] = colour
        a, c, _ = strand_layer(canvas, np.zeros((size, size), np.float32), field, field)
        if sigma * s > 0.3:
            c = unpremultiply(blur(c * a[..., None], sigma * s), blur(a, sigma * s), field)
            a = blur(a, sigma * s)
        alpha, premult = a + alpha * (1 - a), a[..., None] * c + (1 - a)[..., None] * premult
    return Layer(
        np.clip(alpha, 0, 0.95).astype(np.float32),
        unpremultiply(premult, alpha, np.broadcast_to(colour, premult.shape)),
    )


def snow(rng: np.random.Generator, size: int, light: Light) -> Layer:
    """Falling snow: small sharp flakes far away, large soft out-of-focus flakes near, faint mist."""
    s = size / 512.0
    haze = _haze(rng, size, rng.uniform(0.05, 0.3))
    colour = jitter_colour(rng, hsv(0.6, 0.04, 0.97), 0.02, 0.02, 0.02)
    alpha = haze
    for count, radius, opacity, sigma in (
        (int(rng.uniform(400, 1500) * s * s), (0.4, 1.2), (0.5, 0.9), 0.0),
        (int(rng.uniform(80, 300) * s * s), (1.2, 3.0), (0.6, 0.9), 0.6),
        (int(rng.uniform(5, 40) * s * s), (5.0, 14.0), (0.35, 0.7), 4.0),
    ):
        canvas = Canvas(size, 1, factor=2)
        centres = rng.uniform(-10, size + 10, (count, 2)).astype(np.float32)
        radii = rng.uniform(*radius, count) * s
        levels = rng.uniform(*opacity, count)
        for level in np.linspace(opacity[0], opacity[1], 4):  # a few opacity groups, faint to dense
            pick = np.abs(levels - level) <= (opacity[1] - opacity[0]) / 6 + 1e-6
            canvas.circles(centres[pick], radii[pick], int(255 * level))
        a = canvas.reduce()
        a = blur(a, sigma * s)
        alpha = a + alpha * (1 - a)
    fg = np.empty((size, size, 3), np.float32)
    fg[...] = colour
    return Layer(np.clip(alpha, 0, 0.95).astype(np.float32), fg)


def fire(rng: np.random.Generator, size: int, light: Light) -> Layer:
    """Flames and wisps rising from the bottom: stretched, warped noise through a temperature ramp."""
    shape = (size, size)
    x, y = grid(shape)
    base = size * rng.uniform(0.85, 1.05)
    height = size * rng.uniform(0.35, 0.8) * (1 + 0.4 * fbm(rng, (1, size), (1, 5), 3))
    rise = (base - y) / np.maximum(height, 1)
    amp = size * rng.uniform(0.02, 0.05)
    dx = fbm(rng, shape, (4, 3), 4) * amp * (1 + 2 * np.clip(rise, 0, 1))
    dy = fbm(rng, shape, (4, 3), 4) * amp
    tongues = warp(fbm(rng, shape, (rng.uniform(2, 4), rng.uniform(8, 16)), 6), dx, dy)
    heat = np.clip(1.2 - rise, 0, 1.2) + 0.45 * tongues - 0.3
    heat = heat * smoothstep(-0.05, 0.1, rise) * smoothstep(1.4, 0.7, rise)
    temperature = np.clip(heat, 0, 1)
    alpha = np.clip(smoothstep(0.05, 0.75, temperature) * 0.96, 0, 0.96)
    stops = [
        (0.0, hsv(0.0, 0.95, 0.35)),
        (0.35, hsv(0.02, 0.95, 0.8)),
        (0.6, hsv(0.07, 0.9, 1.0)),
        (0.85, hsv(0.12, 0.7, 1.0)),
        (1.0, hsv(0.14, 0.25, 1.0)),
    ]
    fg = ramp(temperature, stops)
    if rng.random() < 0.6:  # sparks
        canvas = Canvas(size, 1, factor=2)
        n = int(rng.uniform(20, 120) * size / 512)
        centres = np.stack([rng.uniform(0, size, n), base - rng.uniform(0.2, 1.3, n) * height.mean()], 1).astype(
            np.float32
        )
        canvas.circles(centres, rng.uniform(0.4, 1.2, n) * size / 512, 230)
        sparks = canvas.reduce()
        alpha = sparks + alpha * (1 - sparks)
        fg = fg * (1 - sparks[..., None]) + hsv(0.1, 0.6, 1.0) * sparks[..., None]
    return Layer(alpha.astype(np.float32), np.clip(fg, 0, 1).astype(np.float32), emissive=True)
