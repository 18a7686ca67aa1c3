"""Seconds per image of the five matting metrics (dim protocol), library vs a per-pixel reference.

The library (``automatte.metrics``) runs on ``--images`` synthetic 800x600 pairs: a ground truth of
blurred blobs and hair-like strands (8-bit, with a 15 px trimap band) and a prediction with smooth,
edge-concentrated errors and an occasional false-positive blob. The reference below is the plain
per-pixel formulation -- Python loops over pixels, the explicit 9x9 correlation per pixel for Grad,
a breadth-first flood fill per threshold for Conn -- timed on ``--ref-images`` of the same pairs and
reported per image. Both must agree to 1e-9 relative; the script exits non-zero otherwise.

    .venv/bin/python benchmarks/metrics_speed.py [--images 100] [--ref-images 2]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import deque

import cv2
import numpy as np

from automatte.metrics import DIM_THRESHOLDS, conn, gaussian_gradient_kernel, grad, mad, mse, sad

METRICS = {"SAD": sad, "MSE": mse, "MAD": mad, "Grad": grad, "Conn": conn}
REGIONS = ("whole", "unknown")
TOLERANCE = 1e-9


# ----------------------------------------------------------------------------------------------- data
def make_pair(rng: np.random.Generator, h: int = 600, w: int = 800) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pred, gt, trimap) as uint8 (H, W) arrays."""
    canvas = np.zeros((h, w), np.float32)
    for _ in range(rng.integers(2, 6)):
        center = (int(rng.integers(w // 5, 4 * w // 5)), int(rng.integers(h // 5, 4 * h // 5)))
        axes = (int(rng.integers(w // 20, w // 4)), int(rng.integers(h // 20, h // 4)))
        cv2.ellipse(canvas, center, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    for _ in range(rng.integers(10, 40)):  # strands leaving the blobs
        steps = np.cumsum(rng.normal(0, 6, (40, 2)), axis=0) + [rng.integers(0, w), rng.integers(0, h)]
        cv2.polylines(canvas, [steps.astype(np.int32)], False, float(rng.uniform(0.3, 1.0)), 1)
    gt = np.clip(cv2.GaussianBlur(canvas, (0, 0), float(rng.uniform(1.5, 5.0))) * 1.4, 0, 1)
    gt8 = np.round(gt * 255).astype(np.uint8)

    band = cv2.GaussianBlur(((gt8 > 0) & (gt8 < 255)).astype(np.float32), (0, 0), 6.0)
    band /= max(float(band.max()), 1e-6)
    low = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 10.0)
    low /= max(float(low.std()), 1e-6)
    pred = gt + 0.15 * low * band + 0.03 * rng.normal(0, 1, (h, w)).astype(np.float32) * band
    if rng.random() < 0.5:  # a false-positive blob in the background
        blob = np.zeros((h, w), np.float32)
        cv2.circle(blob, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(10, 60)), 0.4, -1)
        pred += cv2.GaussianBlur(blob, (0, 0), 4.0)
    pred8 = np.round(np.clip(cv2.GaussianBlur(pred, (0, 0), 0.8), 0, 1) * 255).astype(np.uint8)

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15))
    fg = cv2.erode((gt8 == 255).astype(np.uint8), kernel, borderType=cv2.BORDER_REPLICATE).astype(bool)
    bg = cv2.erode((gt8 == 0).astype(np.uint8), kernel, borderType=cv2.BORDER_REPLICATE).astype(bool)
    trimap = np.full((h, w), 128, np.uint8)
    trimap[fg], trimap[bg] = 255, 0
    return pred8, gt8, trimap


# ------------------------------------------------------------------------------------------ reference
def _region_sum(error: list[list[float]], mask: list[list[bool]] | None) -> float:
    total = 0.0
    for y, row in enumerate(error):
        for x, v in enumerate(row):
            if mask is None or mask[y][x]:
                total += v
    return total


def ref_abs_sq(pred: list, gt: list) -> tuple[list, list]:
    """Per-pixel |p - g| and (p - g)^2."""
    ab, sq = [], []
    for prow, grow in zip(pred, gt):
        ab.append([abs(p - g) for p, g in zip(prow, grow)])
        sq.append([(p - g) * (p - g) for p, g in zip(prow, grow)])
    return ab, sq


def _ref_gradient_magnitude(alpha: np.ndarray, kernel: np.ndarray) -> list[list[float]]:
    h, w = alpha.shape
    lo, hi = min(min(r) for r in alpha.tolist()), max(max(r) for r in alpha.tolist())
    norm = [[(v - lo) / (hi - lo) if hi > lo else min(max(v, 0.0), 1.0) for v in row] for row in alpha.tolist()]
    half = kernel.shape[0] // 2
    padded = np.pad(np.array(norm), half, mode="edge")  # replicate borders
    ky = np.ascontiguousarray(kernel.T)
    out = []
    for y in range(h):
        row = []
        for x in range(w):
            patch = padded[y : y + 2 * half + 1, x : x + 2 * half + 1]  # explicit 9x9 correlation
            gx, gy = float(np.sum(patch * kernel)), float(np.sum(patch * ky))
            row.append(math.sqrt(gx * gx + gy * gy))
        out.append(row)
    return out


def ref_grad_error(pred: np.ndarray, gt: np.ndarray) -> list[list[float]]:
    kernel = gaussian_gradient_kernel()
    mp, mg = _ref_gradient_magnitude(pred, kernel), _ref_gradient_magnitude(gt, kernel)
    return [[(a - b) ** 2 for a, b in zip(ra, rb)] for ra, rb in zip(mp, mg)]


def ref_conn_error(pred: list, gt: list) -> list[list[float]]:
    """Flood fill per threshold in column-major scan order; the first largest component is omega."""
    h, w = len(pred), len(pred[0])
    level = [[-1.0] * w for _ in range(h)]
    for i in range(1, len(DIM_THRESHOLDS)):
        t = float(DIM_THRESHOLDS[i])
        inside = [[p >= t and g >= t for p, g in zip(pr, gr)] for pr, gr in zip(pred, gt)]
        seen = [[False] * w for _ in range(h)]
        best: list[tuple[int, int]] = []
        for x in range(w):
            for y in range(h):
                if seen[y][x] or not inside[y][x]:
                    continue
                seen[y][x] = True
                component, queue = [], deque([(y, x)])
                while queue:
                    cy, cx = queue.popleft()
                    component.append((cy, cx))
                    for ny, nx in ((cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)):
                        if 0 <= ny < h and 0 <= nx < w and inside[ny][nx] and not seen[ny][nx]:
                            seen[ny][nx] = True
                            queue.append((ny, nx))
                if len(component) > len(best):
                    best = component
        omega = [[False] * w for _ in range(h)]
        for y, x in best:
            omega[y][x] = True
        previous = float(DIM_THRESHOLDS[i - 1])
        for y in range(h):
            for x in range(w):
                if level[y][x] == -1.0 and not omega[y][x]:
                    level[y][x] = previous
    error = []
    for y in range(h):
        row = []
        for x in range(w):
            lv = 1.0 if level[y][x] == -1.0 else level[y][x]
            dp, dg = pred[y][x] - lv, gt[y][x] - lv
            phi_p = 1.0 - dp if dp >= 0.15 else 1.0
            phi_g = 1.0 - dg if dg >= 0.15 else 1.0
            row.append(abs(phi_p - phi_g))
        error.append(row)
    return error


def reference(pred8: np.ndarray, gt8: np.ndarray, trimap: np.ndarray) -> tuple[dict, dict]:
    """Reference values and seconds per (metric, region): error-map time plus region-sum time."""
    pred, gt = pred8 / 255.0, gt8 / 255.0
    plist, glist = pred.tolist(), gt.tolist()
    masks = {"whole": None, "unknown": (trimap == 128).tolist()}
    counts = {"whole": pred.size, "unknown": int((trimap == 128).sum())}
    values, seconds = {}, {}

    start = time.perf_counter()
    ab, sq = ref_abs_sq(plist, glist)
    maps = {"SAD": (ab, time.perf_counter() - start)}
    maps["MSE"] = maps["MAD"] = maps["SAD"]  # the same loop makes both maps; charged to each metric
    start = time.perf_counter()
    maps["Grad"] = (ref_grad_error(pred, gt), time.perf_counter() - start)
    start = time.perf_counter()
    maps["Conn"] = (ref_conn_error(plist, glist), time.perf_counter() - start)

    for name in METRICS:
        error, map_seconds = maps[name]
        if name == "MSE":
            error = sq
        for region in REGIONS:
            start = time.perf_counter()
            total = _region_sum(error, masks[region])
            value = total / counts[region] if name in ("MSE", "MAD") else total / 1000
            seconds[name, region] = map_seconds + time.perf_counter() - start
            values[name, region] = value
    return values, seconds


# ----------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--ref-images", type=int, default=2)
    parser.add_argument("--height", type=int, default=600)
    parser.add_argument("--width", type=int, default=800)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    pairs = [make_pair(rng, args.height, args.width) for _ in range(max(args.images, args.ref_images))]
    unknown = np.mean([(t == 128).mean() for _, _, t in pairs])
    print(f"{len(pairs)} pairs of {args.width}x{args.height}, unknown region {unknown:.1%} of the pixels")

    lib_seconds = {}
    lib_values = {}
    for name, fn in METRICS.items():
        for region in REGIONS:
            start = time.perf_counter()
            for i, (pred, gt, trimap) in enumerate(pairs[: args.images]):
                lib_values[name, region, i] = fn(pred, gt, trimap, region=region)
            lib_seconds[name, region] = (time.perf_counter() - start) / args.images

    ref_seconds: dict = {}
    worst = 0.0
    for i, (pred, gt, trimap) in enumerate(pairs[: args.ref_images]):
        values, seconds = reference(pred, gt, trimap)
        for key, s in seconds.items():
            ref_seconds[key] = ref_seconds.get(key, 0.0) + s / args.ref_images
        for (name, region), ref in values.items():
            lib = lib_values.get((name, region, i))
            if lib is None:
                lib = METRICS[name](pred, gt, trimap, region=region)
            worst = max(worst, abs(lib - ref) / max(abs(ref), 1e-300))

    header = f"{'metric':<6} {'region':<8} {'library s/img':>14} {'reference s/img':>16} {'speed-up':>10}"
    print(header)
    print("-" * len(header))
    for name in METRICS:
        for region in REGIONS:
            lib, ref = lib_seconds[name, region], ref_seconds.get((name, region), float("nan"))
            print(f"{name:<6} {region:<8} {lib:>14.5f} {ref:>16.3f} {ref / lib:>9.0f}x")
    lib_total, ref_total = sum(lib_seconds.values()), sum(ref_seconds.values())
    print(f"{'all 10':<15} {lib_total:>14.5f} {ref_total:>16.3f} {ref_total / lib_total:>9.0f}x")
    print(
        f"library on {args.images} images, reference on {args.ref_images} (per image); "
        f"largest relative difference {worst:.2e} (tolerance {TOLERANCE:g})"
    )
    if worst > TOLERANCE:
        print("FAIL: library and reference disagree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
