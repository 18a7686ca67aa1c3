"""STM (salient transparent / meticulous) foregrounds: glass, plastic bags, wire mesh, lace, spider webs.

Glass and bags are computed analytically on a 2x grid and area-reduced (premultiplied); thin structures
(mesh wires, web threads) are anti-aliased polylines on the 4x strand canvas; lace is an analytic
distance-field pattern with one-pixel anti-aliasing.
"""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
from scipy.interpolate import PchipInterpolator

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
    ridged,
    shade,
    smoothstep,
    strand_layer,
    unpremultiply,
    warp,
)

_PROFILES = {  # (t from top to bottom, radius) in units of the object height
    "wine": (
        [0, 0.08, 0.25, 0.42, 0.5, 0.53, 0.93, 0.97, 1.0],
        [0.16, 0.17, 0.165, 0.11, 0.025, 0.014, 0.014, 0.12, 0.15],
    ),
    "bottle": ([0, 0.04, 0.25, 0.38, 0.46, 0.96, 1.0], [0.045, 0.04, 0.042, 0.1, 0.125, 0.125, 0.12]),
    "tumbler": ([0, 0.5, 1.0], [0.22, 0.2, 0.18]),
    "vase": ([0, 0.05, 0.22, 0.55, 0.85, 1.0], [0.11, 0.095, 0.07, 0.19, 0.16, 0.1]),
    "jar": ([0, 0.06, 0.12, 0.9, 1.0], [0.17, 0.17, 0.2, 0.2, 0.19]),
}


def _glass_shape(rng: np.random.Generator, n: int, ss: int) -> SimpleNamespace:
    """The object's silhouette on the supersampled canvas (side ``n``), worked on its bounding box only:
    profile, coordinates, horizontal position u across the object, coverage and the rim ellipses."""
    g = SimpleNamespace(ss=ss)
    g.kind = list(_PROFILES)[int(rng.integers(len(_PROFILES)))]
    ts, rs = _PROFILES[g.kind]
    g.profile = PchipInterpolator(ts, rs)
    g.height = n * rng.uniform(0.62, 0.85)
    g.width = rng.uniform(0.8, 1.25) * g.height
    cx = n * rng.uniform(0.4, 0.6)
    g.y0 = (n - g.height) / 2 + rng.normal(0, n * 0.03)
    tilt = rng.uniform(0.08, 0.22)
    # work on the object's bounding box only (aligned to the supersampling factor)
    r_max = float(g.profile(np.linspace(0, 1, 201)).max()) * g.width
    margin = 4 * ss + r_max * tilt
    g.xa, g.xb = (max(0, int(cx - r_max - 4 * ss)) // ss) * ss, min(n, -(-int(cx + r_max + 4 * ss) // ss) * ss)
    g.ya, g.yb = (max(0, int(g.y0 - margin)) // ss) * ss, min(n, -(-int(g.y0 + g.height + margin) // ss) * ss)
    g.crop = (g.yb - g.ya, g.xb - g.xa)
    x = np.arange(g.xa, g.xb, dtype=np.float32)[None, :]
    g.y = np.arange(g.ya, g.yb, dtype=np.float32)[:, None]
    g.t = (g.y - g.y0) / g.height
    g.radius = g.profile(np.clip(g.t, 0, 1)).astype(np.float32) * g.width
    dx = x - cx
    u = dx / np.maximum(g.radius, 1e-3)
    g.inside_rows = (g.t >= 0) & (g.t <= 1)
    cover = np.clip(g.radius - np.abs(dx) + 0.5, 0, 1) * g.inside_rows

    def ellipse(cy_: float, ax: float) -> tuple[np.ndarray, np.ndarray]:
        rho = np.sqrt((dx / ax) ** 2 + ((g.y - cy_) / (ax * tilt)) ** 2)
        grad = np.sqrt((dx / ax**2) ** 2 + ((g.y - cy_) / (ax * tilt) ** 2) ** 2) / np.maximum(rho, 1e-6) + 1e-6
        return rho, (rho - 1) / grad  # normalised radius and approximate signed distance

    g.ellipse = ellipse
    r_top, r_bot = float(g.profile(0)) * g.width, float(g.profile(1)) * g.width
    g.rho_t, g.d_t = ellipse(g.y0, r_top)
    _, g.d_b = ellipse(g.y0 + g.height, r_bot)
    cover = np.maximum(cover, np.clip(0.5 - g.d_t, 0, 1) * (g.y <= g.y0))
    g.cover = np.maximum(cover, np.clip(0.5 - g.d_b, 0, 1) * (g.y >= g.y0 + g.height))
    g.u = np.clip(np.where(g.inside_rows, u, dx / np.where(g.y < g.y0, r_top, r_bot)), -1, 1)
    return g


def _glass_wall(rng: np.random.Generator, g: SimpleNamespace) -> np.ndarray:
    """Wall opacity: 1 - (1 - a_in) ** path, the path through the wall 1 / sqrt(1 - u^2) from a low interior
    value to a high rim; solid stems and bottoms, the rim ring and the base. Sets ``g.solid``."""
    u, ss = g.u, g.ss
    a_in, a_rim = rng.uniform(0.03, 0.12), rng.uniform(0.45, 0.8)
    eps = (np.log1p(-a_in) / np.log1p(-a_rim)) ** 2
    path = 1 / np.sqrt(np.maximum(1 - u * u, eps))
    wall = 1 - (1 - a_in) ** path
    g.solid = (g.radius < 0.035 * g.width) & g.inside_rows  # stems and thick bottoms are solid glass
    wall = np.where(g.solid, 0.25 + 0.35 * (np.abs(u) ** 2), wall)
    rim_ring = np.exp(-((g.d_t / (1.2 * ss)) ** 2)) * (g.rho_t < 1.3)
    base = (g.t > 0.96) | ((g.y >= g.y0 + g.height) & (g.d_b < 0))
    wall = np.maximum(wall, rim_ring * rng.uniform(0.6, 0.9))
    return np.where(base & (g.kind != "wine"), np.maximum(wall, 0.35), wall)


def _glass_liquid(rng, g: SimpleNamespace, alpha: np.ndarray, premult: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A tinted liquid behind the front wall (half of the wine glasses, 40 % of the others)."""
    if not rng.random() < (0.5 if g.kind == "wine" else 0.4):
        return alpha, premult
    liquids = [
        (hsv(0.97, 0.9, 0.35), 0.85),
        (hsv(0.1, 0.85, 0.75), 0.5),
        (hsv(0.55, 0.25, 0.85), 0.12),
        (hsv(0.08, 0.9, 0.9), 0.7),
    ]
    liq_col, liq_a = liquids[int(rng.integers(len(liquids)))]
    t_top, t_bottom = (rng.uniform(0.15, 0.35), 0.46) if g.kind == "wine" else (rng.uniform(0.3, 0.7), 0.95)
    level = g.y0 + t_top * g.height
    _, d_l = g.ellipse(level, float(g.profile(t_top)) * g.width * 0.95)
    u, t = g.u, g.t
    region = (((t > t_top) & (t < t_bottom)) | (d_l < 0)) & (np.abs(u) < 0.95) & ~g.solid
    surface = np.exp(-((d_l / (1.0 * g.ss)) ** 2)) * (np.abs(u) < 0.95)
    la = np.clip(region * liq_a * (0.85 + 0.3 * np.abs(u)) + 0.5 * surface, 0, 0.95) * g.cover
    lc = liq_col * (1 + 0.4 * surface)[..., None]
    premult = premult + (1 - alpha)[..., None] * lc * la[..., None]
    return 1 - (1 - alpha) * (1 - la), premult


def _glass_highlights(rng, g: SimpleNamespace, light: Light, dtype) -> np.ndarray:
    """Reflections of the light: two soft vertical bands on the lit side and the other, broken along the height."""
    side = -1.0 if light.direction[0] < 0 else 1.0
    highlight = np.zeros(g.crop, dtype)
    for centre, strength, half in (
        (0.55 * side, rng.uniform(0.5, 0.9), rng.uniform(0.04, 0.1)),
        (-0.75 * side, rng.uniform(0.15, 0.4), rng.uniform(0.02, 0.04)),
    ):
        c = centre + rng.normal(0, 0.05)
        band = smoothstep(half + 0.03, half, np.abs(g.u - c))
        along = (
            smoothstep(-0.5, 0.3, fbm(rng, (g.crop[0], 1), (6, 1), 2))
            * smoothstep(0.0, 0.06, g.t)
            * smoothstep(1.0, 0.9, g.t)
        )
        highlight = np.maximum(highlight, band * along * strength)
    return blur(highlight * g.cover, g.ss * 0.7)


def glass(rng: np.random.Generator, size: int, light: Light) -> Layer:
    """A glass object (wine glass, bottle, tumbler, vase, jar): thin walls with strong rims, highlights.

    Wall opacity grows with the path length through the wall, 1 / sqrt(1 - u^2) for the horizontal
    position u across the object, from a low interior value to a high rim; two vertical reflections of
    the light and an optional tinted liquid. No refraction (the background is not distorted).
    """
    ss = 2
    g = _glass_shape(rng, size * ss, ss)
    wall = _glass_wall(rng, g)
    tint = [
        hsv(0.3, 0.05, 0.92),
        hsv(0.35, 0.35, 0.75),
        hsv(0.55, 0.3, 0.85),
        hsv(0.08, 0.7, 0.6),
        hsv(0.5, 0.12, 0.9),
    ][int(rng.integers(5))]
    tint = jitter_colour(rng, tint, 0.01, 0.03, 0.03)
    edge = smoothstep(0.55, 1.0, np.abs(g.u))
    env = 1 + 0.12 * fbm(rng, g.crop, (2, 6), 3)
    colour = tint * ((1 - 0.55 * edge) * env)[..., None]
    if rng.random() < 0.5:  # bright rims instead of dark ones (glass against a light surround)
        colour = tint * ((1 + 0.3 * edge) * env)[..., None]
    alpha, premult = _glass_liquid(rng, g, wall * g.cover, colour * (wall * g.cover)[..., None])
    highlight = _glass_highlights(rng, g, light, alpha.dtype)
    white = np.array([1.0, 1.0, 1.0], np.float32)
    premult = highlight[..., None] * white + (1 - highlight)[..., None] * premult
    alpha = 1 - (1 - highlight) * (1 - alpha)

    box = (slice(g.ya // ss, g.yb // ss), slice(g.xa // ss, g.xb // ss))
    small = (g.crop[1] // ss, g.crop[0] // ss)
    alpha_s = np.zeros((size, size), np.float32)
    premult_s = np.zeros((size, size, 3), np.float32)
    fallback = np.empty((size, size, 3), np.float32)
    fallback[...] = tint
    alpha_s[box] = cv2.resize(alpha.astype(np.float32), small, interpolation=cv2.INTER_AREA)
    premult_s[box] = cv2.resize(premult.astype(np.float32), small, interpolation=cv2.INTER_AREA)
    return Layer(np.clip(alpha_s, 0, 1), unpremultiply(premult_s, alpha_s, fallback))


def bag(rng: np.random.Generator, size: int, light: Light) -> Layer:
    """A translucent plastic bag: thin film with creases, denser folded edges and handles, glossy."""
    s = size
    canvas = Canvas(size, 1)
    w, h = s * rng.uniform(0.35, 0.55), s * rng.uniform(0.4, 0.6)
    cx, cy = s * rng.uniform(0.4, 0.6), s * rng.uniform(0.5, 0.6)
    k = 60
    edge_t = np.linspace(0, 1, k)
    wobble = lambda: s * 0.015 * fbm(rng, (1, k), (1, 5), 3)[0]  # noqa: E731
    top = np.stack([cx - w / 2 + w * edge_t, cy - h / 2 + wobble()], 1)
    right = np.stack([cx + w / 2 + wobble() + w * 0.06 * edge_t, cy - h / 2 + h * edge_t], 1)
    bottom = np.stack([cx + w / 2 * 1.06 - w * 1.06 * edge_t, cy + h / 2 + wobble()], 1)
    left = np.stack([cx - w / 2 * 1.06 + wobble() + w * 0.06 * edge_t, cy + h / 2 - h * edge_t], 1)
    poly = np.concatenate([top, right, bottom, left])
    angle = rng.normal(0, 0.25)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    poly = (poly - (cx, cy)) @ rot.T + (cx, cy)
    canvas.fill_polygon(poly, 255)
    handles = Canvas(size, 1)
    for side in (-1, 1):
        hx = cx + side * w * rng.uniform(0.22, 0.32)
        arc = np.linspace(np.pi, 2 * np.pi, 30)
        hw, hh = w * rng.uniform(0.1, 0.16), h * rng.uniform(0.25, 0.4)
        pts = np.stack([hx + hw * np.cos(arc), cy - h / 2 + hh * np.sin(arc) + s * 0.01], 1)
        pts = (pts - (cx, cy)) @ rot.T + (cx, cy)
        handles.polylines([pts], 255, s * rng.uniform(0.025, 0.045))
    mask = canvas.reduce()
    hmask = handles.reduce()
    shape = np.maximum(mask, hmask)
    x, y = grid((size, size))
    dxw, dyw = fbm(rng, (size, size), 3, 3) * s * 0.03, fbm(rng, (size, size), 3, 3) * s * 0.03
    creases = warp(ridged(rng, (size, size), (rng.uniform(2, 5), rng.uniform(4, 9)), 5), dxw, dyw) ** 3
    height = fbm(rng, (size, size), 3, 4) * 0.3 + creases * 0.6
    inside = cv2.distanceTransform((mask > 0.5).astype(np.uint8), cv2.DIST_L2, 5)
    folded = np.exp(-inside / (s * rng.uniform(0.008, 0.02)))
    film = rng.uniform(0.18, 0.45) * (1 + 0.15 * fbm(rng, (size, size), 2, 2))
    a = film + 0.3 * creases + 0.35 * folded
    a = np.maximum(a * mask, hmask * rng.uniform(0.55, 0.8))
    colour = [
        hsv(0.1, 0.02, 0.97),
        hsv(0.58, 0.35, 0.9),
        hsv(0.14, 0.5, 0.95),
        hsv(0.95, 0.25, 0.95),
        hsv(0.6, 0.05, 0.25),
    ][int(rng.integers(5))]
    shading = shade(height, light, relief=s * 0.03, ambient=0.55)
    spec = smoothstep(1.05, 1.25, shading)
    fg = colour * np.clip(shading, 0, 1.2)[..., None]
    fg = fg * (1 - spec[..., None]) + spec[..., None]
    a = np.clip(a + 0.4 * spec * shape, 0, 0.95) * shape
    return Layer(a.astype(np.float32), np.clip(fg, 0, 1).astype(np.float32))


def lattice_segments(kind: str, cells: int, rng: np.random.Generator) -> np.ndarray:
    """Wire segments (M, 2, 2) of a lattice on the unit square: 'square', 'diamond' or 'hex'."""
    c = np.arange(cells + 1) / cells
    if kind == "square":
        v = np.stack([np.stack([c, np.zeros_like(c)], 1), np.stack([c, np.ones_like(c)], 1)], 1)
        return np.concatenate([v, v[:, :, ::-1]])
    if kind == "diamond":
        cs = np.arange(-cells, 2 * cells + 1) / cells
        segs = []
        for sign in (1, -1):
            for k in cs:  # u - sign * v = k clipped to the unit square
                v0, v1 = (max(0.0, -k), min(1.0, 1 - k)) if sign == 1 else (max(0.0, k - 1), min(1.0, k))
                if v1 - v0 <= 1e-9:
                    continue
                segs.append([[k + sign * v0, v0], [k + sign * v1, v1]])
        return np.array(segs, np.float64)
    # hex (chicken wire): a honeycomb of pointy-top hexagons; three edges per cell cover every edge once
    r = 1.0 / cells / np.sqrt(3.0)
    dx, dy = 1.0 / cells, 1.5 * r
    corners = [np.array([np.cos(a), np.sin(a)]) * r for a in np.deg2rad(30 + 60 * np.arange(4))]
    segs = []
    for j in range(-1, int(1 / dy) + 2):
        for i in range(-1, cells + 2):
            centre = np.array([i * dx + (j % 2) * dx / 2, j * dy])
            for e in range(3):
                segs.append([centre + corners[e], centre + corners[e + 1]])
                if e == 2:  # vertical edges are twisted pairs of wire
                    segs.append([centre + corners[e] + (r * 0.08, 0), centre + corners[e + 1] + (r * 0.08, 0)])
    segs = np.array(segs, np.float64)
    inside = np.all((segs >= 0) & (segs <= 1), axis=(1, 2))
    return segs[inside]


def draw_lattice(
    canvas: Canvas,
    segments: np.ndarray,
    homography: np.ndarray,
    width: float,
    opacity: float,
    light: Light,
    rng: np.random.Generator,
    sag: np.ndarray | None = None,
) -> None:
    """Draw unit-square lattice segments mapped by a homography, shaded by their angle to the light."""
    m = len(segments)
    sub = 6
    t = np.linspace(0, 1, sub + 1)[None, :, None]
    pts = segments[:, :1] + (segments[:, 1:] - segments[:, :1]) * t  # (M, sub + 1, 2) unit coords
    flat = cv2.perspectiveTransform(pts.reshape(1, -1, 2), homography).reshape(m, sub + 1, 2)
    if sag is not None:
        flat = flat + sag(pts)
    d = flat[:, -1] - flat[:, 0]
    ang = np.arctan2(d[:, 1], d[:, 0])
    la = np.arctan2(light.direction[1], light.direction[0])
    lum = 0.65 + 0.7 * np.abs(np.sin(ang - la)) ** 3 + rng.normal(0, 0.08, m)
    draw_polylines(canvas, flat.astype(np.float32), np.full(m, width), np.full(m, opacity), np.clip(lum, 0.55, 1.45))


def _random_quad(rng: np.random.Generator, size: int, margin: float, jitter: float) -> np.ndarray:
    lo, hi = size * margin, size * (1 - margin)
    quad = np.array([[lo, lo], [hi, lo], [hi, hi], [lo, hi]], np.float32)
    return quad + rng.uniform(-jitter, jitter, (4, 2)).astype(np.float32) * size


def mesh(rng: np.random.Generator, size: int, light: Light) -> Layer:
    """A panel of wire mesh (square, chain-link or chicken wire) in perspective, maybe in a frame."""
    quad = _random_quad(rng, size, rng.uniform(0.1, 0.22), 0.08)
    unit = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    homography = cv2.getPerspectiveTransform(unit, quad)
    kind = ["square", "diamond", "hex"][int(rng.integers(3))]
    cells = int(rng.uniform(10, 34) * (1.0 if kind != "hex" else 0.7))
    canvas = Canvas(size, 3, (0, 128, 0))
    width = rng.uniform(0.5, 1.4) * (size / 512) ** 0.5
    draw_lattice(canvas, lattice_segments(kind, cells, rng), homography, width, 1.0, light, rng)
    if rng.random() < 0.6:
        frame = np.array([[[0, 0], [1, 0]], [[1, 0], [1, 1]], [[1, 1], [0, 1]], [[0, 1], [0, 0]]], np.float64)
        draw_lattice(canvas, frame, homography, width * rng.uniform(2.5, 5), 1.0, light, rng)
    colour = [
        hsv(0.58, 0.05, 0.7),
        hsv(0.58, 0.08, 0.55),
        hsv(0.35, 0.5, 0.45),
        hsv(0.0, 0.0, 0.12),
        hsv(0.08, 0.4, 0.5),
    ][int(rng.integers(5))]
    field = colour * (1 + 0.15 * fbm(rng, (size, size), 3, 3))[..., None]
    alpha, fg, _ = strand_layer(canvas, np.zeros((size, size), np.float32), field, field)
    return Layer(alpha, np.clip(fg, 0, 1).astype(np.float32))


def lace(rng: np.random.Generator, size: int, light: Light) -> Layer:
    """A piece of lace: a fine hexagonal net with flower motifs, corded scalloped edges, cloth folds."""
    shape = (size, size)
    x, y = grid(shape)
    amp = size * rng.uniform(0.004, 0.015)
    fold = fbm(rng, shape, 2, 3)
    dxw, dyw = fold * amp, fbm(rng, shape, 2, 3) * amp
    angle = rng.uniform(0, np.pi)
    ca, sa = np.cos(angle), np.sin(angle)
    px = (x + dxw - size / 2) * ca + (y + dyw - size / 2) * sa
    py = -(x + dxw - size / 2) * sa + (y + dyw - size / 2) * ca
    s = size / 512.0
    # region: a band with scalloped edges, or a round doily
    period_m = size * rng.uniform(0.07, 0.12)
    doily = rng.random() < 0.35
    if doily:
        r = np.hypot(px, py)
        theta = np.arctan2(py, px)
        lobes = int(round(2 * np.pi * size * 0.38 / period_m))
        outer = size * 0.38 + size * 0.025 * np.abs(np.cos(lobes * theta / 2))
        edge_d = r - outer
    else:
        half = size * rng.uniform(0.18, 0.3)
        scallop = size * 0.025 * np.abs(np.sin(np.pi * px / (period_m / 2)))
        edge_d = np.abs(py) - (half + scallop)
    region = np.clip(0.5 - edge_d, 0, 1)

    def thread(distance: np.ndarray, width: float) -> np.ndarray:
        return np.clip(width / 2 - distance + 0.5, 0, 1)

    # hexagonal net: three line families
    period_n = rng.uniform(3.5, 7.0) * s**0.5
    width_n = rng.uniform(0.4, 0.8)
    net = np.zeros(shape, np.float32)
    for k in range(3):
        proj = (px * np.cos(k * np.pi / 3) + py * np.sin(k * np.pi / 3)) / period_n
        net = np.maximum(net, thread(np.abs(proj - np.round(proj)) * period_n, width_n))
    net *= rng.uniform(0.7, 0.95)
    # motifs on a brick lattice
    row = np.round(py / period_m)
    qx = px - period_m * np.round((px - (row % 2) * period_m / 2) / period_m) - (row % 2) * period_m / 2
    qy = py - period_m * row
    r = np.hypot(qx, qy)
    theta = np.arctan2(qy, qx)
    petals = int(rng.choice([5, 6, 8]))
    r0 = period_m * rng.uniform(0.3, 0.42)
    petal_r = r0 * (0.55 + 0.45 * np.abs(np.cos(petals * theta / 2)))
    outline = thread(np.abs(r - petal_r), rng.uniform(1.0, 2.0) * s**0.5)
    fill = (r < petal_r) * rng.uniform(0.45, 0.8) * (0.8 + 0.2 * np.sin(r * 2.0))
    centre = thread(r - r0 * 0.12, r0 * 0.24)
    ring = thread(np.abs(r - r0 * 1.12), rng.uniform(0.6, 1.2))
    motif = np.maximum.reduce([outline, fill, centre, ring])
    cord = thread(np.abs(edge_d + size * 0.006), rng.uniform(1.5, 3.0) * s**0.5)
    lace_a = 1 - (1 - net) * (1 - motif) * (1 - cord)
    alpha = np.clip(lace_a * region, 0, 1)
    colour = [
        hsv(0.12, 0.04, 0.96),
        hsv(0.11, 0.15, 0.92),
        hsv(0.0, 0.0, 0.08),
        hsv(0.98, 0.7, 0.55),
        hsv(0.6, 0.1, 0.85),
    ][int(rng.integers(5))]
    shading = shade(fold * size * 0.02, light, relief=1.0, ambient=0.55)
    fg = colour * (shading * (1 + 0.06 * fbm(rng, shape, 60, 2)))[..., None]
    return Layer(alpha.astype(np.float32), np.clip(fg, 0, 1).astype(np.float32))


def web(rng: np.random.Generator, size: int, light: Light) -> Layer:
    """An orb spider web: radial spokes, a sagging spiral, a frame, mooring lines, maybe dew drops."""
    s = size / 512.0
    c = np.array([size * rng.uniform(0.35, 0.65), size * rng.uniform(0.35, 0.65)])
    radius = size * rng.uniform(0.3, 0.42)
    n_spokes = int(rng.integers(18, 34))
    theta = np.sort(
        np.linspace(0, 2 * np.pi, n_spokes, endpoint=False) + rng.normal(0, 0.5 / n_spokes * np.pi, n_spokes)
    )
    reach = radius * (0.8 + 0.35 * rng.random(n_spokes))
    ends = c + np.stack([np.cos(theta), np.sin(theta)], 1) * reach[:, None]
    lines = [np.stack([c, e]) for e in ends]
    frame = [np.stack([ends[i], ends[(i + 1) % n_spokes]]) for i in range(n_spokes)]
    moor = []
    for i in rng.choice(n_spokes, 4, replace=False):
        direction = (ends[i] - c) / np.linalg.norm(ends[i] - c)
        moor.append(np.stack([ends[i], ends[i] + direction * size]))
    spiral = []
    dr = radius * rng.uniform(0.025, 0.045)
    r_in = radius * rng.uniform(0.1, 0.18)
    turn = 0
    while True:
        rr = r_in + dr * (turn + np.arange(n_spokes + 1) / n_spokes)
        if rr[0] > reach.min() * 0.97:
            break
        for j in range(n_spokes):
            k = (j + 1) % n_spokes
            if rr[j + 1] > reach[k] * 0.97 or rr[j] > reach[j] * 0.97 or rng.random() < 0.04:
                continue
            p0 = c + rr[j] * np.array([np.cos(theta[j]), np.sin(theta[j])])
            p1 = c + rr[j + 1] * np.array([np.cos(theta[k]), np.sin(theta[k])])
            mid = (p0 + p1) / 2
            mid = mid + (c - mid) * rng.uniform(0.02, 0.06)  # the thread sags towards the hub
            spiral.append(np.stack([p0, mid, p1]))
        turn += 1
    hub = [c + rng.normal(0, r_in * 0.5, (2, 2)) for _ in range(int(30 * s) + 10)]
    straight = [np.stack([p[0], (p[0] + p[1]) / 2, p[1]]) for p in lines + frame + moor + hub]
    strands = np.array(straight + spiral, np.float32)
    n = len(strands)
    d = strands[:, -1] - strands[:, 0]
    ang = np.arctan2(d[:, 1], d[:, 0])
    la = np.arctan2(light.direction[1], light.direction[0])
    lum = 0.6 + 0.85 * np.abs(np.sin(ang - la)) ** 4 + rng.normal(0, 0.05, n)
    canvas = Canvas(size, 3, (0, 128, 0))
    width = rng.uniform(0.25, 0.5) * s**0.5
    draw_polylines(canvas, strands, np.full(n, width), rng.uniform(0.5, 1.0, n), np.clip(lum, 0.55, 1.45))
    if rng.random() < 0.4:  # dew drops along the spiral
        picks = rng.choice(len(spiral), min(len(spiral), int(rng.uniform(50, 250))), replace=False)
        drops = np.array([spiral[i][1] for i in picks], np.float32)
        canvas.circles(drops, rng.uniform(0.5, 1.8, len(drops)) * s, (230, 230, 255))
    colour = hsv(0.6, 0.03, rng.uniform(0.82, 0.95))
    field = np.empty((size, size, 3), np.float32)
    field[...] = colour
    alpha, fg, _ = strand_layer(canvas, np.zeros((size, size), np.float32), field, field)
    return Layer(alpha, np.clip(fg, 0, 1).astype(np.float32))
