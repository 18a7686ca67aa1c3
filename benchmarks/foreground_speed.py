"""Foreground colour estimation: speed and accuracy of "ml" (NumPy), "blur_fusion" (OpenCV) and the peer
"pymatting-ml" (pymatting's numba ``estimate_foreground_ml``, the algorithm "ml" reimplements).

For 0.5 MP and 2 MP synthetic composites with known F, B and alpha this prints, per method:

* first call: a fresh Python process with ``automatte.ops`` imported, timing the first ``estimate_foreground``
  call (so pymatting's loading and numba compilation count). For "ml" twice: with an empty numba cache
  (``NUMBA_CACHE_DIR`` pointed at a new temporary folder, so everything is compiled) and with the on-disk cache
  that an earlier run left behind;
* steady state: best of ``--repeats`` calls in this process after a warm-up (the minimum, as ``timeit`` does:
  on a shared machine it is the least noisy figure);
* F error: mean |F_est - F| over alpha > 0.05, in 8-bit levels, next to the error of using the image as F;
  and the same error weighted by alpha (mean of alpha |F_est - F|), which is what a re-composite onto a new
  background shows.

Usage:
    python benchmarks/foreground_speed.py [--repeats 5] [--with-package-import]

``--with-package-import`` adds the cost of a plain ``import pymatting`` with an empty numba cache (all of
pymatting's kernels compile at import; slow, about a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from automatte.ops import composite, estimate_foreground  # noqa: E402

SIZES = {"0.5 MP": (612, 816), "2 MP": (1224, 1632)}
METHODS = ("ml", "blur_fusion", "pymatting-ml")


def estimate(method: str, image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    if method == "pymatting-ml":
        from pymatting import estimate_foreground_ml

        return estimate_foreground_ml(image, alpha)
    return estimate_foreground(image, alpha, method=method)


def synthetic_composite(h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, F, alpha): smooth random F, busier random B, an opaque ellipse with a halo of soft radial strands."""
    rng = np.random.default_rng(seed)

    def field(cells: int, lo: float, hi: float) -> np.ndarray:
        small = rng.uniform(lo, hi, (cells, cells, 3)).astype(np.float32)
        return np.clip(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)

    fg, bg = field(6, 0.3, 1.0), field(24, 0.0, 0.7)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    size = min(h, w)
    d = np.hypot(xx - w / 2, (yy - h / 2) * 1.2)
    body = np.clip((0.3 * size - d) / (0.01 * size) + 0.5, 0.0, 1.0)
    strands = 0.5 + 0.5 * np.sin(60.0 * np.arctan2(yy - h / 2, xx - w / 2) + 0.05 * d)
    halo = np.clip((0.45 * size - d) / (0.15 * size), 0.0, 1.0) * strands
    alpha = np.maximum(body, halo).astype(np.float32)
    return composite(alpha, fg, bg), fg, alpha


def f_error(estimate: np.ndarray, fg: np.ndarray, alpha: np.ndarray, weighted: bool = False) -> float:
    """Mean |F_est - F| (times alpha if ``weighted``) over alpha > 0.05, in 8-bit levels."""
    err = np.abs(estimate - fg).mean(axis=-1)
    if weighted:
        err = err * alpha
    return float(err[alpha > 0.05].mean() * 255.0)


def _first_call_child(method: str, h: int, w: int) -> None:
    image, _, alpha = synthetic_composite(h, w)
    start = time.perf_counter()
    estimate(method, image, alpha)
    print(json.dumps({"seconds": time.perf_counter() - start}))


def _package_import_child() -> None:
    start = time.perf_counter()
    import pymatting  # noqa: F401

    print(json.dumps({"seconds": time.perf_counter() - start}))


def _run_child(args: list[str], empty_numba_cache: bool) -> float:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    with tempfile.TemporaryDirectory() as cache:
        if empty_numba_cache:
            env["NUMBA_CACHE_DIR"] = cache
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), *args], env=env, capture_output=True, text=True, check=True
        )
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def _steady(method: str, image: np.ndarray, alpha: np.ndarray, repeats: int) -> tuple[float, np.ndarray]:
    result = estimate(method, image, alpha)  # warm-up (compiles if needed)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = estimate(method, image, alpha)
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per steady-state figure")
    parser.add_argument("--with-package-import", action="store_true", help="also time a cold `import pymatting`")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "package-import":
            _package_import_child()
        else:
            _first_call_child(args.child[0], int(args.child[1]), int(args.child[2]))
        return

    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, opencv {cv2.__version__}, {os.cpu_count()} CPUs")
    rows = []
    for label, (h, w) in SIZES.items():
        image, fg, alpha = synthetic_composite(h, w)
        baseline = f_error(image, fg, alpha)
        baseline_weighted = f_error(image, fg, alpha, weighted=True)
        for method in METHODS:
            child = ["--child", method, str(h), str(w)]
            cold = _run_child(child, empty_numba_cache=True)
            cached = _run_child(child, empty_numba_cache=False) if method == "pymatting-ml" else None
            steady, result = _steady(method, image, alpha, args.repeats)
            errors = (f_error(result, fg, alpha), f_error(result, fg, alpha, weighted=True))
            rows.append((label, method, cold, cached, steady, errors, (baseline, baseline_weighted)))

    print()
    print(
        "| size   | method      | first call, empty numba cache | first call, cached | steady (best) "
        "| F error (a-weighted) | image as F (a-weighted) |"
    )
    print(
        "|--------|-------------|-------------------------------|--------------------|---------------"
        "|----------------------|-------------------------|"
    )
    for label, method, cold, cached, steady, (err, err_w), (base, base_w) in rows:
        cached_s = f"{cached:.2f} s" if cached is not None else "n/a"
        print(
            f"| {label:<6} | {method:<12} | {cold:>27.2f} s | {cached_s:>18} | {steady * 1000:>10.0f} ms "
            f"| {err:>11.2f} ({err_w:>5.2f}) | {base:>14.2f} ({base_w:>5.2f}) |"
        )
    print("F error: mean |F_est - F| over alpha > 0.05 in 8-bit levels; in brackets weighted by alpha.")
    print("Steady state: best of", args.repeats, "calls after a warm-up; first calls: one fresh process each.")
    if args.with_package_import:
        seconds = _run_child(["--child", "package-import"], empty_numba_cache=True)
        print(f"`import pymatting` with an empty numba cache (compiles all its kernels): {seconds:.1f} s")


if __name__ == "__main__":
    main()
