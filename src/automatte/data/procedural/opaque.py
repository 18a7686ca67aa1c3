"""SO (salient opaque) foregrounds: furry animals, hair on a head and shoulders, soft-edged objects.

Strands are anti-aliased polylines on a 3x-4x supersampled canvas reduced with area averaging, so thin
strands give true partial coverage. The canvas has three channels: 0 = alpha (strand opacity), 1 =
strand brightness (128 = neutral), 2 = strand presence (for colour mixing between body and strands).
"""

from __future__ import annotations

import cv2
import numpy as np

from .common import (
    Canvas,
    Layer,
    Light,
    blur,
    contour_frame,
    draw_polylines,
    fbm,
    grid,
    hsv,
    jitter_colour,
    mask_shading,
    smoothstep,
    strand_layer,
    unpremultiply,
)

# ------------------------------------------------------------------------------------------------ strands


def grow(
    rng: np.random.Generator,
    roots: np.ndarray,
    angles: np.ndarray,
    lengths: np.ndarray,
    steps: int = 10,
    bend: float = 0.3,
    curl: float = 0.0,
    waves: float = 1.0,
    droop: float = 0.0,
    wander: float = 0.04,
) -> np.ndarray:
    """Grow N strands from ``roots`` (N, 2) at ``angles`` (N,) radians with ``lengths`` (N,) pixels.

    The direction along a strand is angle + bend * s + curl * sin(2 pi waves s + phase) + random walk,
    turned towards straight down by ``droop`` * s (gravity). Returns (N, steps + 1, 2) points.
    """
    n = len(roots)
    s = np.linspace(0.0, 1.0, steps + 1)[1:][None, :]
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    freq = waves * rng.uniform(0.7, 1.3, (n, 1))
    angle = (
        angles[:, None]
        + rng.normal(0, bend, (n, 1)) * s
        + curl * rng.uniform(0.5, 1.0, (n, 1)) * np.sin(2 * np.pi * freq * s + phase)
        + np.cumsum(rng.normal(0, wander, (n, steps)), axis=1)
    )
    if droop:
        # rotate towards +pi/2 (down) along the shorter way
        diff = np.angle(np.exp(1j * (np.pi / 2 - angle)))
        angle = angle + diff * np.clip(droop * s, 0, 1)
    step = (lengths / steps)[:, None, None]
    direction = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    pts = roots[:, None, :] + np.cumsum(direction * step, axis=1)
    return np.concatenate([roots[:, None, :], pts], axis=1).astype(np.float32)


def _sample_inside(rng: np.random.Generator, mask: np.ndarray, n: int) -> np.ndarray:
    """``n`` random points (N, 2) inside ``mask`` > 0.5 (sub-pixel jittered)."""
    ys, xs = np.nonzero(mask > 0.5)
    if len(xs) == 0:
        return np.zeros((0, 2), np.float32)
    pick = rng.integers(0, len(xs), n)
    return np.stack([xs[pick], ys[pick]], 1).astype(np.float32) + rng.uniform(-0.5, 0.5, (n, 2)).astype(np.float32)


def _eroded(mask: np.ndarray, distance: float) -> np.ndarray:
    """A smooth anti-aliased version of ``mask`` shrunk by ``distance`` pixels."""
    inside = cv2.distanceTransform((mask > 0.5).astype(np.uint8), cv2.DIST_L2, 5)
    outside = cv2.distanceTransform((mask <= 0.5).astype(np.uint8), cv2.DIST_L2, 5)
    signed = blur(inside - outside, 1.0)
    return np.clip(signed - distance + 0.5, 0.0, 1.0).astype(np.float32)


# ------------------------------------------------------------------------------------------------ shapes


def _blob(rng: np.random.Generator, size: int, radius: float, centre=None, wobble: float = 0.12) -> np.ndarray:
    """A smooth random closed polygon (K, 2): radius * (1 + sum of low harmonics)."""
    theta = np.linspace(0, 2 * np.pi, 240, endpoint=False)
    r = np.ones_like(theta)
    for k in range(2, 7):
        r += rng.normal(0, wobble / k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    c = np.array(centre if centre is not None else (size / 2, size / 2)) + rng.normal(0, size * 0.03, 2)
    ratio = rng.uniform(0.8, 1.2)
    return np.stack([c[0] + radius * r * np.cos(theta) * ratio, c[1] + radius * r * np.sin(theta) / ratio], 1)


def _animal(rng: np.random.Generator, size: int) -> np.ndarray:
    """Silhouette mask (size, size) of a furry ball, a sitting cat or a standing quadruped."""
    canvas = Canvas(size, 1)
    s = size
    kind = int(rng.integers(3))
    if kind == 0:
        canvas.fill_polygon(_blob(rng, size, s * rng.uniform(0.26, 0.34)), 255)
    elif kind == 1:  # sitting cat, seen from the front or back
        cx, flip = s * rng.uniform(0.42, 0.58), rng.choice([-1, 1])
        body_c, body_ax = (cx, s * 0.64), (s * rng.uniform(0.17, 0.22), s * rng.uniform(0.22, 0.27))
        canvas.ellipse(body_c, body_ax, rng.normal(0, 5), 255)
        head_r = s * rng.uniform(0.1, 0.13)
        head_c = (cx + flip * s * rng.uniform(-0.03, 0.05), body_c[1] - body_ax[1] - head_r * 0.55)
        canvas.ellipse(head_c, (head_r * 1.1, head_r), 0, 255)
        for side in (-1, 1):
            base = np.array(head_c) + (side * head_r * 0.55, -head_r * 0.55)
            tip = base + (side * head_r * rng.uniform(0.15, 0.4), -head_r * rng.uniform(0.75, 1.0))
            canvas.fill_polygon(
                np.array(
                    [base + (-side * head_r * 0.4, 0.2 * head_r), tip, base + (side * head_r * 0.45, 0.35 * head_r)]
                ),
                255,
            )
            canvas.ellipse((cx + side * body_ax[0] * 0.5, body_c[1] + body_ax[1] * 0.9), (s * 0.05, s * 0.035), 0, 255)
        t = np.linspace(0, 1, 20)[:, None]
        start = np.array([cx + flip * body_ax[0] * 0.8, body_c[1] + body_ax[1] * 0.7])
        tail = (
            start
            + t * (flip * s * 0.2, -s * 0.05)
            + np.sin(t * np.pi) * (0, s * 0.04)
            - t**3 * (0, s * rng.uniform(0.05, 0.25))
        )
        canvas.polylines([tail], 255, s * 0.045)
    else:  # quadruped from the side, standing on the lower edge of the frame
        flip = rng.choice([-1, 1])
        body_c = np.array([s * 0.5, s * rng.uniform(0.42, 0.5)])
        bax = (s * rng.uniform(0.24, 0.29), s * rng.uniform(0.12, 0.16))
        canvas.ellipse(body_c, bax, rng.normal(0, 4), 255)
        neck = body_c + (flip * bax[0] * 0.8, -bax[1] * 0.4)
        head_c = body_c + (flip * bax[0] * 1.1, -bax[1] * rng.uniform(0.9, 1.4))
        canvas.polylines([np.array([neck, head_c])], 255, s * 0.11)
        canvas.ellipse(head_c, (s * 0.085, s * 0.075), flip * 20, 255)
        canvas.ellipse(head_c + (flip * s * 0.08, s * 0.035), (s * 0.055, s * 0.04), 0, 255)
        for side in (-1, 1):
            ear = head_c + (side * s * 0.035 - flip * s * 0.02, -s * 0.065)
            canvas.ellipse(ear, (s * 0.022, s * 0.045), side * 20, 255)
        ground = s * rng.uniform(0.9, 0.97)
        for x in (-0.75, -0.5, 0.45, 0.72):
            top = body_c + (x * bax[0], bax[1] * 0.4)
            foot = np.array([top[0] + rng.normal(0, s * 0.02), ground])
            knee = (top + foot) / 2 + (rng.normal(0, s * 0.01), 0)
            canvas.polylines([np.array([top, knee])], 255, s * 0.05)
            canvas.polylines([np.array([knee, foot])], 255, s * 0.035)
            canvas.ellipse(foot, (s * 0.025, s * 0.015), 0, 255)
        tail = body_c - (flip * bax[0] * 0.95, bax[1] * 0.2)
        canvas.polylines([np.array([tail, tail - (flip * s * 0.08, -s * 0.12)])], 255, s * 0.03)
    return canvas.reduce()


def _fur_colour(rng: np.random.Generator, size: int) -> np.ndarray:
    """An animal coat (size, size, 3): base colour, patches or tabby stripes, fine variation."""
    palettes = [
        (hsv(0.07, 0.55, 0.55), hsv(0.07, 0.6, 0.25)),  # brown tabby
        (hsv(0.6, 0.05, 0.6), hsv(0.6, 0.05, 0.3)),  # grey
        (hsv(0.065, 0.7, 0.85), hsv(0.06, 0.7, 0.55)),  # ginger
        (hsv(0.1, 0.06, 0.92), hsv(0.09, 0.2, 0.7)),  # white / cream
        (hsv(0.6, 0.1, 0.12), hsv(0.07, 0.3, 0.3)),  # black
        (hsv(0.1, 0.5, 0.78), hsv(0.08, 0.55, 0.5)),  # golden
        (hsv(0.1, 0.06, 0.92), hsv(0.07, 0.6, 0.35)),  # white with brown patches
    ]
    a, b = (jitter_colour(rng, c, 0.01, 0.05, 0.05) for c in palettes[int(rng.integers(len(palettes)))])
    shape = (size, size)
    if rng.random() < 0.4:
        x, y = grid(shape)
        angle = rng.uniform(0, np.pi)
        coord = (x * np.cos(angle) + y * np.sin(angle)) / size + 0.03 * fbm(rng, shape, 3, 3)
        pattern = smoothstep(0.2, 0.8, 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(5, 10) * coord))
    else:
        pattern = smoothstep(0.3, 1.3, fbm(rng, shape, rng.uniform(2, 4), 4))
    coat = a * (1 - pattern[..., None]) + b * pattern[..., None]
    return (coat * (1 + 0.08 * fbm(rng, shape, 20, 3))[..., None]).astype(np.float32)


# ------------------------------------------------------------------------------------------------ generators


def fur(rng: np.random.Generator, size: int, light: Light) -> Layer:
    """An opaque furry animal or ball with thousands of sub-pixel strands rooted on its outline."""
    shape_mask = _animal(rng, size)
    colour = _fur_colour(rng, size)
    s = size / 512.0
    length = size * rng.uniform(0.018, 0.05)
    comb = rng.uniform(-0.6, 0.6)
    flow_angle = np.pi / 2 + rng.uniform(-1.0, 1.0)
    lay = rng.uniform(0.2, 1.2)
    curly = rng.random() < 0.2
    canvas = Canvas(size, 3, (0, 128, 0))
    body = _eroded(shape_mask, length * 0.3)

    # interior coat: short strands following a smooth flow field, for texture (and edge fuzz)
    n_in = int(np.clip(shape_mask.sum() / (14.0 * s), 300, 6000 * s))
    roots = _sample_inside(rng, shape_mask, n_in)
    n_in = len(roots)
    flow = flow_angle + comb + 0.6 * fbm(rng, (size, size), 3, 3)
    ri = np.clip(roots.round().astype(int), 0, size - 1)
    pts_in = grow(
        rng, roots, flow[ri[:, 1], ri[:, 0]], length * rng.uniform(0.4, 0.9, n_in), 6, bend=0.3, curl=0.5 * curly
    )

    # outline: strands along the normal, combed and drooping a little
    pts, normals = contour_frame(shape_mask)
    n_out = int(np.clip(len(pts) * rng.uniform(2.5, 4.0), 0, 10000 * s))
    if len(pts) and n_out:
        pick = rng.integers(0, len(pts), n_out)
        variation = np.clip(1 + 0.3 * fbm(rng, (1, len(pts)), (1, 12), 3)[0], 0.6, 1.5)
        lengths = length * variation[pick] * rng.uniform(0.5, 1.25, n_out)
        guard = rng.random(n_out) < 0.04
        lengths[guard] *= rng.uniform(1.5, 2.5, int(guard.sum()))
        # fur lies down along the coat's flow direction (normal + lay * flow), with scatter
        direction = normals[pick] + lay * np.array([np.cos(flow_angle), np.sin(flow_angle)], np.float32)
        angles = np.arctan2(direction[:, 1], direction[:, 0]) + rng.normal(0, 0.3, n_out)
        roots_out = pts[pick] - normals[pick] * (lengths * rng.uniform(0.1, 0.5, n_out))[:, None]
        pts_out = grow(
            rng,
            roots_out,
            angles,
            lengths,
            8,
            bend=0.5,
            curl=(0.9 if curly else 0.15),
            waves=1.2,
            droop=rng.uniform(0, 0.4),
        )
    else:
        pts_out = np.zeros((0, 9, 2), np.float32)
        guard = np.zeros(0, bool)

    for strands, is_guard in ((pts_in, np.zeros(n_in, bool)), (pts_out, guard)):
        count = len(strands)
        width = np.where(is_guard, 0.25, rng.uniform(0.25, 0.7, count) * s**0.5)
        opacity = rng.uniform(0.5, 1.0, count)
        lum = np.clip(rng.normal(1.0, 0.15, count), 0.55, 1.45)
        draw_polylines(canvas, strands, width, opacity, lum)
    alpha, fg, _ = strand_layer(canvas, body, colour, colour)
    fg *= mask_shading(np.maximum(shape_mask, alpha), light, size * 0.08, 0.5)[..., None]
    return _defocus_some(rng, alpha, np.clip(fg, 0, 1), colour, probability=0.3)


def _hair_body(rng, size, cx, cy, a, b, hair_col, cloth_col, skin_col) -> tuple[dict, np.ndarray, np.ndarray]:
    """Head, neck and shoulders running out of the frame: (regions, body coverage, body colour)."""
    shoulders_y = cy + b * rng.uniform(1.35, 1.6)
    half = size * rng.uniform(0.3, 0.44)
    x = np.linspace(-1, 1, 41)
    top = shoulders_y + (np.abs(x) ** 2.5) * b * 0.6
    shoulder_poly = np.concatenate(
        [np.stack([cx + x * half, top], 1), [[cx + half * 1.25, size + 5], [cx - half * 1.25, size + 5]]]
    )
    neck_poly = np.array(
        [
            [cx - a * 0.45, cy + b * 0.5],
            [cx + a * 0.45, cy + b * 0.5],
            [cx + a * 0.55, shoulders_y + 5],
            [cx - a * 0.55, shoulders_y + 5],
        ]
    )
    regions = {}
    for name, draw in (
        ("shoulders", lambda c: c.fill_polygon(shoulder_poly, 255)),
        ("neck", lambda c: c.fill_polygon(neck_poly, 255)),
        ("head", lambda c: c.ellipse((cx, cy), (a * 0.97, b * 0.97), 0, 255)),
    ):
        c = Canvas(size, 1, factor=2)
        draw(c)
        regions[name] = c.reduce()
    body = np.maximum.reduce(list(regions.values()))
    folds = 1 + 0.12 * fbm(rng, (size, size), (3, 6), 3)
    body_colour = np.empty((size, size, 3), np.float32)
    body_colour[...] = hair_col
    for name, col in (("neck", skin_col), ("shoulders", cloth_col * folds[..., None])):
        m = blur(regions[name], 1.0)[..., None] * (1 - regions["head"][..., None])
        body_colour = body_colour * (1 - m) + col * m
    return regions, body, body_colour


def _scalp_paths(rng, size, cx, cy, a, b, vol, frizz) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Strands over the head: (paths resampled to 14 points (n, 14, 2), alive, outer layer, crown)."""
    s = size / 512.0
    # roots: over the visible scalp (inside the head outline, above the ears), and an outer layer on the
    # upper outline that gives the silhouette its volume and fuzz
    n_in, n_out = int(5200 * s), int(1500 * s)
    q = rng.uniform((-1.0, -1.0), (1.0, 0.3), (3 * n_in, 2))
    q = q[np.hypot(q[:, 0], q[:, 1]) < 0.97][:n_in]
    psi = rng.uniform(-np.pi + 0.15, -0.15, n_out)
    rho_out = 1 + vol * rng.random(n_out) ** 0.7 + frizz * rng.random(n_out) ** 3
    q_out = np.stack([np.cos(psi), np.sin(psi)], 1) * rho_out[:, None]
    layer = np.concatenate([0.95 + (1 + vol - 0.95) * rng.random(len(q)) ** 0.5, rho_out])
    q = np.concatenate([q, q_out])
    n = len(q)
    outer = np.arange(n) >= n - n_out
    crown = np.array([rng.normal(0, 0.08), -rng.uniform(0.4, 0.6)])
    pos = np.stack([cx + q[:, 0] * a, cy + q[:, 1] * b], 1)
    # streamlines over the head: away from the crown, turning downwards; strands slide along the outline
    # of their layer, and those that reach the top of the outline go over it (out of view) and stop
    steps, h = 40, b * 0.075
    jitter = rng.normal(0, 0.25, n)
    side = np.sign(q[:, 0] - crown[0] + 1e-6)
    alive = np.ones(n, bool)
    end = np.full(n, steps)
    path = np.empty((n, steps + 1, 2), np.float32)
    path[:, 0] = pos
    for k in range(steps):
        qx, qy = (pos[:, 0] - cx) / a, (pos[:, 1] - cy) / b
        rx, ry = qx - crown[0], qy - crown[1]
        rn = np.hypot(rx, ry) + 1e-6
        w = 0.1 + 0.8 * smoothstep(0.2, 1.0, rn)
        ang = np.arctan2(ry / rn * (1 - w) + w, rx / rn * (1 - w)) + jitter * (1 - w)
        dx_, dy_ = np.cos(ang), np.sin(ang)
        nx, ny = qx / a, qy / b  # outward normal of the head ellipse
        nn = np.hypot(nx, ny) + 1e-9
        nx, ny = nx / nn, ny / nn
        if k == 0:  # the outer layer starts along the outline, away from the crown
            dx_ = np.where(outer, -side * ny, dx_)
            dy_ = np.where(outer, side * nx, dy_)
        outward = dx_ * nx + dy_ * ny
        at_edge = (np.hypot(qx, qy) >= layer - 0.01) & (outward > 0)
        alive &= ~(at_edge & (qy < -0.55) & ~outer)
        slide = np.where(at_edge, outward, 0)
        dx_, dy_ = dx_ - slide * nx, dy_ - slide * ny
        norm = np.hypot(dx_, dy_) + 1e-9
        moving = alive & (pos[:, 1] < cy)
        end = np.where((end == steps) & ~moving, k, end)
        pos = pos + np.stack([dx_ / norm, dy_ / norm], 1) * (moving[:, None] * h)
        path[:, k + 1] = pos
    # resample the part over the head to a fixed number of points
    frac = np.linspace(0, 1, 14)[None, :] * end[:, None]
    lo = np.floor(frac).astype(int)
    hi = np.minimum(lo + 1, steps)
    wgt = (frac - lo)[..., None]
    rows = np.arange(n)[:, None]
    return path[rows, lo] * (1 - wgt) + path[rows, hi] * wgt, alive, outer, crown


def _falling_lengths(rng, size, cx, a, head_part, alive, style: dict) -> tuple[np.ndarray, np.ndarray]:
    """The lengths below the head, in clumps that end in points: (strands (n, 36, 2), clump of each strand)."""
    n, k_fall, fall = len(head_part), 22, style["fall"]
    clump_w, vol = style["clump_w"], style["vol"]
    start = head_part[:, -1]
    lateral = np.clip((start[:, 0] - cx) / (a * (1 + vol)), -1.2, 1.2)
    clump = (np.floor(lateral / clump_w) + 0.5) * clump_w
    clump_noise = fbm(rng, (1, 256), (1, 10), 3)[0]
    ci = np.clip(((clump + 1.2) / 2.4 * 255).astype(int), 0, 255)
    pointy = 1 - rng.uniform(0.2, 0.5) * np.abs(lateral - clump) / (clump_w / 2)  # clumps end in points
    length = (
        fall * (1 + style["ends"] * clump**2 + 0.15 * clump_noise[ci]) * pointy * (1 - 0.35 * rng.random(n) ** 4)
        + size * 0.01
    )
    length = np.where(alive, np.maximum(length, size * 0.01), 0.0)
    d = np.linspace(0, 1, k_fall + 1)[None, 1:] * length[:, None]
    phase = rng.uniform(0, 2 * np.pi, 4096)[np.clip(((clump + 1.2) / clump_w).astype(int), 0, 4095)][
        :, None
    ] + rng.normal(0, 0.3, (n, 1))
    fx = start[:, :1] + style["flare"] * lateral[:, None] * a * smoothstep(0, 1, d / max(fall, 1.0))
    fx = fx + style["wave_amp"] * np.sin(2 * np.pi * d / style["wavelength"] + phase) * smoothstep(
        0, 0.3, d / max(fall, 1.0)
    )
    fx = fx + (clump - lateral)[:, None] * a * style["converge"] * smoothstep(
        0.35, 1.0, d / np.maximum(length[:, None], 1e-6)
    )
    fall_part = np.stack([fx, start[:, 1:] + d], -1)
    return np.concatenate([head_part, fall_part], axis=1).astype(np.float32), clump


def _flyaways(rng, head: np.ndarray, size: int, cy: float, b: float) -> np.ndarray:
    """Strands leaving the head's upper outline: (m, 25, 2)."""
    s = size / 512.0
    edge_pts, normals = contour_frame(head)
    n_c = int(rng.uniform(30, 120) * s)
    upper = np.flatnonzero(edge_pts[:, 1] < cy + b * 0.2) if len(edge_pts) else np.zeros(0, int)
    if not (len(upper) and n_c):
        return np.zeros((0, 25, 2), np.float32)
    pick = rng.choice(upper, n_c)
    ang = np.arctan2(normals[pick, 1], normals[pick, 0]) + rng.normal(0, 0.5, n_c)
    return grow(
        rng,
        edge_pts[pick] - normals[pick] * 3,
        ang,
        size * rng.uniform(0.03, 0.12, n_c),
        24,
        bend=1.2,
        curl=0.3,
        waves=1.0,
        droop=0.5,
    )


def _draw_hair(rng, size, strands, strands_c, outer, clump) -> Canvas:
    """Every strand drawn on a 3x canvas: strays thin and faint, clumps a little lighter or darker."""
    s, n = size / 512.0, len(strands)
    canvas = Canvas(size, 3, (0, 128, 0), factor=3)
    stray = outer | (rng.random(n) < 0.04)
    walk = np.where(stray, rng.uniform(0.3, 0.9, n), rng.uniform(0.05, 0.2, n)) * s
    strands += np.cumsum(rng.normal(0, 1, strands.shape), axis=1).astype(np.float32) * walk[:, None, None]  # float32
    clump_lum = 1 + 0.08 * np.sin(clump * 37.0 + rng.uniform(0, 6.3))
    lum = np.clip(clump_lum * rng.normal(1.0, 0.08, n), 0.55, 1.45)
    width = np.where(stray, 0.25, rng.uniform(0.25, 0.55, n) * s**0.5)
    opacity = np.where(stray, rng.uniform(0.35, 0.8, n), rng.uniform(0.75, 1.0, n))
    draw_polylines(canvas, strands, width, opacity, lum, tip=0.2)
    nc = len(strands_c)
    draw_polylines(
        canvas, strands_c, np.full(nc, 0.25), rng.uniform(0.4, 0.85, nc), np.clip(rng.normal(1.15, 0.1, nc), 0.55, 1.45)
    )
    return canvas


def _hair_sheen(rng, size, light, cx, cy, a, b, crown, fall, fg, hair_col) -> np.ndarray:
    """Anisotropic sheen: highlights run across the strands, so a ring around the crown on the skull and a
    band across the falling lengths, both stronger on the lit side. Returns the factor (size, size)."""
    xx, yy = grid((size, size))
    ring = np.hypot((xx - cx) / a - crown[0], (yy - cy) / b - crown[1])
    facing = np.clip(((xx - cx) * light.direction[0] + (yy - cy) * light.direction[1]) / (a + b) + 0.7, 0, 1)
    band = np.exp(-(((ring - rng.uniform(0.35, 0.6)) / 0.12) ** 2)) * facing * smoothstep(cy + b * 0.4, cy, yy)
    band = band + 0.5 * np.exp(-(((yy - cy - fall * rng.uniform(0.2, 0.6)) / (0.05 * size)) ** 2)) * smoothstep(
        cy, cy + b * 0.3, yy
    )
    return 1 + rng.uniform(0.12, 0.35) * band * (0.4 + 0.6 * fg.mean(axis=2) / max(float(hair_col.mean()), 0.05))


def hair(rng: np.random.Generator, size: int, light: Light) -> Layer:
    """A head of hair seen from behind, on shoulders: clumped strands, waves, sheen and flyaways."""
    cx, cy = size * rng.uniform(0.42, 0.58), size * rng.uniform(0.3, 0.4)
    a = size * rng.uniform(0.12, 0.15)
    b = a * rng.uniform(1.1, 1.25)
    palettes = [
        hsv(0.07, 0.45, 0.12),
        hsv(0.07, 0.6, 0.25),
        hsv(0.07, 0.55, 0.4),
        hsv(0.03, 0.65, 0.45),
        hsv(0.11, 0.45, 0.75),
        hsv(0.1, 0.08, 0.72),
    ]
    hair_col = jitter_colour(rng, palettes[int(rng.integers(len(palettes)))], 0.01, 0.05, 0.04)
    cloth_col = hsv(rng.uniform(0, 1), rng.uniform(0.1, 0.7), rng.uniform(0.2, 0.85))
    skin_col = jitter_colour(rng, hsv(0.07, 0.4, 0.8), 0.01, 0.08, 0.1)
    regions, body, body_colour = _hair_body(rng, size, cx, cy, a, b, hair_col, cloth_col, skin_col)
    style = {"vol": rng.uniform(0.04, 0.12)}
    style["fall"] = size * rng.uniform(0.06, 0.45)  # hair length below the widest point of the head
    style["wave_amp"] = size * rng.choice([0.0, 0.003, 0.008, 0.015])
    style["wavelength"] = size * rng.uniform(0.05, 0.12)
    style["flare"] = rng.uniform(0.0, 0.3)
    style["clump_w"] = rng.uniform(0.04, 0.1)
    style["converge"] = rng.uniform(0.4, 0.9)
    style["ends"] = rng.uniform(-0.4, 0.3)  # U (< 0) or V (> 0) shaped ends
    frizz = rng.uniform(0.02, 0.1)
    head_part, alive, outer, crown = _scalp_paths(rng, size, cx, cy, a, b, style["vol"], frizz)
    strands, clump = _falling_lengths(rng, size, cx, a, head_part, alive, style)
    strands_c = _flyaways(rng, regions["head"], size, cy, b)  # C: flyaways leaving the outline
    canvas = _draw_hair(rng, size, strands, strands_c, outer, clump)
    alpha, fg, presence = strand_layer(canvas, body, body_colour, hair_col)
    sheen = _hair_sheen(rng, size, light, cx, cy, a, b, crown, style["fall"], fg, hair_col)
    hairy = 1.0 - np.clip(regions["shoulders"] + regions["neck"], 0, 1) * (1 - presence)
    fg *= (1 + (sheen - 1) * hairy)[..., None]
    fg *= mask_shading(np.maximum(body, alpha), light, size * 0.06, 0.4)[..., None]
    return _defocus_some(rng, alpha, np.clip(fg, 0, 1), body_colour, probability=0.2)


def soft_edge(rng: np.random.Generator, size: int, light: Light) -> Layer:
    """An opaque rounded object (pebble, fruit, toy) with an edge partly out of focus."""
    canvas = Canvas(size, 1)
    canvas.fill_polygon(_blob(rng, size, size * rng.uniform(0.22, 0.33), wobble=rng.uniform(0.05, 0.25)), 255)
    if rng.random() < 0.4:
        canvas.fill_polygon(
            _blob(rng, size, size * rng.uniform(0.1, 0.16), centre=rng.uniform(0.3, 0.7, 2) * size), 255
        )
    mask = canvas.reduce()
    base = hsv(rng.uniform(0, 1), rng.uniform(0.1, 0.8), rng.uniform(0.3, 0.9))
    other = jitter_colour(rng, base, 0.05, 0.15, 0.2)
    pattern = smoothstep(-0.5, 1.5, fbm(rng, (size, size), rng.uniform(2, 6), 5))
    colour = base * (1 - pattern[..., None]) + other * pattern[..., None]
    colour = colour * (1 + 0.06 * fbm(rng, (size, size), 40, 3))[..., None]
    colour = colour * mask_shading(mask, light, size * 0.1, 0.8)[..., None]
    return _defocus_some(rng, mask, np.clip(colour, 0, 1).astype(np.float32), colour, probability=1.0, strength=2.5)


def _defocus_some(
    rng: np.random.Generator,
    alpha: np.ndarray,
    fg: np.ndarray,
    fallback: np.ndarray,
    probability: float,
    strength: float = 1.0,
) -> Layer:
    """With ``probability``, defocus the part of the layer on one side (depth of field), premultiplied."""
    if rng.random() >= probability:
        return Layer(alpha.astype(np.float32), fg.astype(np.float32))
    size = alpha.shape[0]
    sigma = size * rng.uniform(0.004, 0.012) * strength
    x, y = grid(alpha.shape)
    angle = rng.uniform(0, 2 * np.pi)
    ramp_ = ((x - size / 2) * np.cos(angle) + (y - size / 2) * np.sin(angle)) / size
    weight = smoothstep(-0.15, 0.35, ramp_ + 0.1 * fbm(rng, alpha.shape, 2, 2))[..., None]
    premult = fg * alpha[..., None]
    soft_a = blur(alpha, sigma)
    soft_p = blur(premult, sigma)
    out_a = alpha * (1 - weight[..., 0]) + soft_a * weight[..., 0]
    out_p = premult * (1 - weight) + soft_p * weight
    return Layer(np.clip(out_a, 0, 1).astype(np.float32), unpremultiply(out_p, out_a, fallback))
