"""Backgrounds: procedural photo-like scenes, random crops of real photos, and the light they imply."""

from __future__ import annotations

import cv2
import numpy as np

from .common import Light, blur, fbm, grid, hsv, jitter_colour, ramp, shade, smoothstep

STYLES = ("outdoor", "indoor", "bokeh", "texture")


def procedural_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A photo-like background (size, size, 3) float32: gradients, fractal textures, blurred shapes, bokeh.

    One of four styles is drawn (outdoor scene, interior, night bokeh, close-up texture), then lit from a
    random side, vignetted and slightly defocused, as out-of-focus backgrounds behind a subject are.
    """
    style = STYLES[int(rng.integers(len(STYLES)))]
    s = size / 512.0
    light_angle = rng.uniform(-np.pi, 0.0)  # the light comes from somewhere above the horizon
    direction = (float(np.cos(light_angle)), float(np.sin(light_angle)))
    image = {"outdoor": _outdoor, "indoor": _indoor, "bokeh": _bokeh, "texture": _texture}[style](rng, size)
    x, y = grid((size, size))
    u, v = (x - size / 2) / size, (y - size / 2) / size
    gradient = 1.0 + rng.uniform(0.1, 0.3) * (u * direction[0] + v * direction[1]) * 2
    vignette = 1.0 - rng.uniform(0.1, 0.35) * (u * u + v * v) * 2
    image = image * (gradient * vignette)[..., None]
    image = blur(image, rng.uniform(0.4, 2.5) * s)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def _outdoor(rng: np.random.Generator, size: int) -> np.ndarray:
    shape = (size, size)
    x, y = grid(shape)
    horizon = size * rng.uniform(0.3, 0.7)
    sunset = rng.random() < 0.3
    top = hsv(rng.uniform(0.55, 0.62), rng.uniform(0.35, 0.7), rng.uniform(0.6, 0.9))
    low = (
        hsv(rng.uniform(0.03, 0.1), 0.45, 0.95)
        if sunset
        else hsv(rng.uniform(0.52, 0.6), rng.uniform(0.05, 0.25), 0.95)
    )
    t = np.clip(y / max(horizon, 1.0), 0, 1)[..., None]
    sky = top * (1 - t) + low * t
    clouds = smoothstep(0.2, 1.6, fbm(rng, shape, (3, 6), 6)) * rng.uniform(0.3, 0.9)
    sky = sky * (1 - clouds[..., None]) + (0.95 * low + 0.05) * clouds[..., None]
    ground_col = [hsv(0.25, 0.55, 0.45), hsv(0.09, 0.45, 0.45), hsv(0.1, 0.1, 0.5), hsv(0.3, 0.5, 0.3)][
        int(rng.integers(4))
    ]
    ground_col = jitter_colour(rng, ground_col)
    tex = fbm(rng, shape, (12, 4), 6)
    ground = ground_col * (0.8 + 0.12 * tex)[..., None] * (1 - 0.35 * np.clip((y - horizon) / size, 0, 1))[..., None]
    image = np.where((y < horizon)[..., None], sky, ground)
    # tree line / hills: a noisy band above the horizon
    foliage_col = jitter_colour(rng, hsv(rng.uniform(0.2, 0.35), 0.5, rng.uniform(0.2, 0.4)))
    height = size * rng.uniform(0.03, 0.25) * (1 + 0.6 * fbm(rng, (1, size), (1, 8), 4)[0])
    band = smoothstep(-2.0, 2.0, y - (horizon - height[None, :]))
    leaves = fbm(rng, shape, 40, 3)
    foliage = foliage_col * (0.8 + 0.25 * leaves)[..., None]
    band = band * (y < horizon + size * 0.02)
    image = image * (1 - band[..., None]) + foliage * band[..., None]
    return image


def _indoor(rng: np.random.Generator, size: int) -> np.ndarray:
    shape = (size, size)
    x, y = grid(shape)
    wall = jitter_colour(rng, hsv(rng.uniform(0.05, 0.15), rng.uniform(0.05, 0.35), rng.uniform(0.55, 0.9)), 0.1)
    image = np.empty((size, size, 3), np.float32)
    image[...] = wall
    image *= (0.92 + 0.04 * fbm(rng, shape, 60, 2))[..., None]
    # blurred furniture, frames and a window
    layer = np.zeros_like(image)
    cover = np.zeros(shape, np.float32)
    for _ in range(int(rng.integers(2, 6))):
        x0, y0 = rng.uniform(-0.1, 0.9, 2) * size
        w, h = rng.uniform(0.1, 0.5, 2) * size
        bright = rng.random() < 0.25
        col = (
            hsv(0.58, 0.15, 1.0)
            if bright
            else jitter_colour(rng, hsv(rng.uniform(0, 1), rng.uniform(0.1, 0.6), rng.uniform(0.1, 0.6)), 0.05)
        )
        m = np.zeros(shape, np.float32)
        cv2.rectangle(m, (int(x0), int(y0)), (int(x0 + w), int(y0 + h)), 1.0, -1)
        layer = layer * (1 - m[..., None]) + col * m[..., None]
        cover = np.maximum(cover, m)
    image = image * (1 - cover[..., None]) + layer
    floor_y = size * rng.uniform(0.6, 0.9)
    wood = jitter_colour(rng, hsv(rng.uniform(0.05, 0.1), rng.uniform(0.4, 0.7), rng.uniform(0.3, 0.6)))
    grain = fbm(rng, shape, (40, 3), 4)
    floor = wood * (0.85 + 0.12 * grain)[..., None]
    image = np.where((y > floor_y)[..., None], floor, image)
    return blur(image, size * rng.uniform(0.004, 0.02))


def _bokeh(rng: np.random.Generator, size: int) -> np.ndarray:
    shape = (size, size)
    base_a = hsv(rng.uniform(0, 1), rng.uniform(0.3, 0.8), rng.uniform(0.05, 0.3))
    base_b = hsv(rng.uniform(0, 1), rng.uniform(0.3, 0.8), rng.uniform(0.2, 0.5))
    t = np.clip(0.5 + 0.3 * fbm(rng, shape, 2, 3), 0, 1)
    image = ramp(t, [(0.0, base_a), (1.0, base_b)])
    image = blur(image, size * 0.02)
    lights = np.zeros_like(image)
    hue = rng.uniform(0, 1)
    for _ in range(int(rng.integers(15, 60))):
        c = rng.uniform(0, size, 2)
        r = size * rng.uniform(0.01, 0.07)
        col = hsv(hue + rng.normal(0, 0.08), rng.uniform(0.2, 0.8), 1.0) * rng.uniform(0.2, 0.7)
        # draw the disc (with a brighter rim, as out-of-focus highlights have) on a patch around it
        x0, y0 = max(0, int(c[0] - r) - 2), max(0, int(c[1] - r) - 2)
        x1, y1 = min(size, int(c[0] + r) + 3), min(size, int(c[1] + r) + 3)
        if x1 <= x0 or y1 <= y0:
            continue
        centre = (int((c[0] - x0) * 16), int((c[1] - y0) * 16))
        disc = np.zeros((y1 - y0, x1 - x0), np.float32)
        rim = np.zeros_like(disc)
        cv2.circle(disc, centre, int(r * 16), 1.0, -1, cv2.LINE_AA, shift=4)
        cv2.circle(rim, centre, int(r * 16), 1.0, max(1, int(r * 0.15)), cv2.LINE_AA, shift=4)
        lights[y0:y1, x0:x1] += (0.7 * disc + 0.3 * rim)[..., None] * col
    return image + blur(lights, size * 0.003)


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    shape = (size, size)
    palettes = [
        [hsv(0.08, 0.3, 0.35), hsv(0.09, 0.25, 0.6), hsv(0.1, 0.15, 0.8)],  # stone
        [hsv(0.25, 0.6, 0.2), hsv(0.28, 0.55, 0.45), hsv(0.2, 0.5, 0.65)],  # foliage
        [hsv(0.1, 0.5, 0.5), hsv(0.11, 0.35, 0.75), hsv(0.12, 0.2, 0.9)],  # sand
        [hsv(0.6, 0.3, 0.3), hsv(0.55, 0.3, 0.55), hsv(0.5, 0.15, 0.8)],  # water / slate
    ]
    cols = [jitter_colour(rng, c) for c in palettes[int(rng.integers(len(palettes)))]]
    height = fbm(rng, shape, rng.uniform(3, 8), 7, gain=0.55)
    t = np.clip(0.5 + 0.25 * height, 0, 1)
    image = ramp(t, [(0.0, cols[0]), (0.5, cols[1]), (1.0, cols[2])])
    image *= shade(height * size * 0.004, Light(direction=(-0.7, -0.7)), relief=1.0, ambient=0.6)[..., None]
    return blur(image, size * rng.uniform(0.002, 0.01))


def photo_background(rng: np.random.Generator, photo: np.ndarray, size: int) -> np.ndarray:
    """A random square crop of ``photo`` (H, W, 3 float in [0, 1]) resized to ``size``, maybe mirrored."""
    h, w = photo.shape[:2]
    side = int(min(h, w) * rng.uniform(0.55, 1.0))
    side = max(side, 1)
    y0 = int(rng.integers(0, h - side + 1))
    x0 = int(rng.integers(0, w - side + 1))
    crop = np.ascontiguousarray(photo[y0 : y0 + side, x0 : x0 + side, :3], dtype=np.float32)
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    out = cv2.resize(crop, (size, size), interpolation=interp)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return np.clip(np.ascontiguousarray(out), 0.0, 1.0).astype(np.float32)


def estimate_light(background: np.ndarray) -> Light:
    """The light a background implies: brightness centroid direction, mean colour and mean luminance."""
    small = cv2.resize(background, (32, 32), interpolation=cv2.INTER_AREA)
    lum = small.mean(axis=2)
    x, y = grid((32, 32))
    weight = lum - lum.mean()
    vx = float(((x - 15.5) * weight).sum())
    vy = float(((y - 15.5) * weight).sum()) - 0.05 * float(np.abs(weight).sum())  # prior: light from above
    norm = np.hypot(vx, vy)
    direction = (vx / norm, vy / norm) if norm > 1e-6 else (-0.6, -0.8)
    mean = small.reshape(-1, 3).mean(axis=0) + 1e-3
    tint = 1.0 + 0.2 * (mean / mean.mean() - 1.0)
    tint = tint / tint.mean()
    return Light(direction=direction, tint=tuple(float(t) for t in tint), level=float(lum.mean()))
