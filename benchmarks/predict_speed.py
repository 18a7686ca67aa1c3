"""Latency and peak memory of the shipped pipelines at 0.5, 2 and 12 MP, beside pymatting closed-form.

Each (pipeline, size) runs in a fresh process: load the pipeline, one warm-up call on a small image, then the
timed call(s) on ``examples/chelsea.jpg`` resized to the size (3:2). Peak memory is the process's peak RSS
(``ru_maxrss``) and its growth over the RSS after loading and warming up (what the image itself costs).
The peer, measured the same way: pymatting's closed-form matting (``estimate_alpha_cf``) at full resolution
on an automatic trimap (the default two-stage pipeline's trimap at 0.5 MP, resized: computed before timing) — the classical pipeline a user would otherwise run. A case that
runs longer than ``--timeout`` is reported as such.

Usage (from the repository root):
    .venv/bin/python benchmarks/predict_speed.py [--pipelines default,twostage,twostage-cf] [--sizes 0.5,2,12]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "examples" / "chelsea.jpg"


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _photo(megapixels: float) -> np.ndarray:
    import cv2

    from automatte.io import read_image

    w = int(round((megapixels * 1e6 * 1.5) ** 0.5))
    h = int(round(w / 1.5))
    return cv2.resize(read_image(PHOTO), (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def _automatic_trimap(image: np.ndarray) -> np.ndarray:
    """The default pipeline's own trimap (segmenter mask -> band), made at 0.5 MP and resized (nearest)."""
    import cv2

    from automatte.api import load_model

    h, w = image.shape[:2]
    small = cv2.resize(image, (866, 577), interpolation=cv2.INTER_AREA)
    trimap = load_model("default", foreground="none")(small).trimap
    if trimap is None:
        raise ValueError("the default pipeline gives no trimap to hand to closed-form matting")
    return cv2.resize(trimap, (w, h), interpolation=cv2.INTER_NEAREST).astype(np.float64)


def run_one(pipeline: str, megapixels: float, repeats: int) -> dict:
    image = _photo(megapixels)
    if pipeline == "pymatting-cf":
        import pymatting

        trimap = _automatic_trimap(image)
        warm = np.zeros((32, 32)); warm[:, 12:20] = 0.5; warm[:, 20:] = 1.0
        pymatting.estimate_alpha_cf(image[:32, :32].astype(np.float64), warm)  # compile / warm up
        base = _rss_mb()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            pymatting.estimate_alpha_cf(image.astype(np.float64), trimap)
            times.append(time.perf_counter() - t)
        stages = {}
    else:
        from automatte.api import load_model

        p = load_model(pipeline)
        p(_photo(0.05))  # warm-up (numba, allocator)
        base = _rss_mb()
        times, stages = [], {}
        for _ in range(repeats):
            t = time.perf_counter()
            result = p(image)
            times.append(time.perf_counter() - t)
            stages = {k: round(v, 3) for k, v in result.timings.items()}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"pipeline": pipeline, "MP": megapixels, "size": f"{image.shape[1]}x{image.shape[0]}",
            "latency_s": float(np.median(times)), "peak_rss_mb": peak, "image_cost_mb": peak - base, "stages": stages}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", default="default,twostage,twostage-cf")
    parser.add_argument("--sizes", default="0.5,2,12")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--timeout", type=int, default=900, help="seconds per case")
    parser.add_argument("--no-peer", action="store_true", help="skip pymatting closed-form")
    parser.add_argument("--one", nargs=2, metavar=("PIPELINE", "MP"), help=argparse.SUPPRESS)
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one[0], float(args.one[1]), args.repeats)))
        return 0
    pipelines = [p for p in args.pipelines.split(",") if p] + ([] if args.no_peer else ["pymatting-cf"])
    if not pipelines:
        parser.error("nothing to measure")
    sizes = [float(s) for s in args.sizes.split(",")]
    print(f"{os.cpu_count()} CPU(s), torch threads default; photo {PHOTO.name} resized; median of {args.repeats}")
    print(f"{'pipeline':<14} {'MP':>5} {'size':>10} {'latency s':>10} {'peak RSS MB':>12} {'image MB':>9}  stages")
    rows = []
    for pipeline in pipelines:
        for mp in sizes:
            cmd = [sys.executable, __file__, "--one", pipeline, str(mp), "--repeats", str(args.repeats)]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
                row = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else \
                    {"pipeline": pipeline, "MP": mp, "error": proc.stderr.strip().splitlines()[-1:]}
            except subprocess.TimeoutExpired:
                row = {"pipeline": pipeline, "MP": mp, "error": f"timeout > {args.timeout} s"}
            rows.append(row)
            if "error" in row:
                print(f"{pipeline:<14} {mp:>5} {'':>10} {row['error']}")
            else:
                print(f"{pipeline:<14} {mp:>5} {row['size']:>10} {row['latency_s']:>10.2f} {row['peak_rss_mb']:>12.0f} "
                      f"{row['image_cost_mb']:>9.0f}  {row['stages']}", flush=True)
    peer = {r["MP"]: r for r in rows if r["pipeline"] == "pymatting-cf" and "error" not in r}
    if peer:
        print("\nlatency ratio to pymatting-cf (lower is faster):")
        for r in rows:
            if r["pipeline"] != "pymatting-cf" and "error" not in r and r["MP"] in peer:
                print(f"  {r['pipeline']:<14} {r['MP']:>5} MP: {r['latency_s'] / peer[r['MP']]['latency_s']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
