"""Cold and warm latency and peak memory of the shipped pipelines at 0.5, 2 and 12 MP, beside closed-form matting.

Each (pipeline, size) runs in a fresh process with an empty numba cache (``NUMBA_CACHE_DIR`` a new folder: a
fresh install). **cold**: from the start of that process to the end of its first call on ``examples/chelsea.jpg``
resized to the size (3:2): imports, loading, any JIT compilation and the call, what ``automatte predict`` on
one photo pays. **warm**: the median of ``--repeats`` further calls. Peak memory is the process's peak RSS
(``ru_maxrss``) and its growth over the RSS before the first call on the photo.
The peers, measured the same way on an automatic trimap (the default two-stage pipeline's trimap at 0.5 MP,
resized; computed in this process before the cases, handed to them as a file): ``pymatting-cf``, pymatting's
``estimate_alpha_cf`` at full resolution (numba), and ``numpy-cf``, this package's
:func:`automatte.infer.closed_form.estimate_alpha_cf` at full resolution (NumPy + SciPy). A case that runs longer
than ``--timeout`` is reported as such.

Usage (from the repository root):
    .venv/bin/python benchmarks/predict_speed.py [--pipelines default,twostage,twostage-cf] [--sizes 0.5,2,12]
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()  # the cold figure counts from here (interpreter start-up itself is ~20 ms)

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "examples" / "chelsea.jpg"
PEERS = ("numpy-cf", "pymatting-cf")


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


def run_one(pipeline: str, megapixels: float, repeats: int, trimap_file: str | None = None) -> dict:
    image = _photo(megapixels)
    if pipeline in PEERS:
        import cv2

        trimap = np.load(trimap_file)
        trimap = cv2.resize(trimap, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
        if pipeline == "pymatting-cf":
            from pymatting import estimate_alpha_cf
        else:
            from automatte.infer.closed_form import estimate_alpha_cf

        def call():
            estimate_alpha_cf(image.astype(np.float64), trimap)
            return {}
    else:
        from automatte.api import load_model

        p = load_model(pipeline)

        def call():
            return {k: round(v, 3) for k, v in p(image).timings.items()}

    base = _rss_mb()
    stages = call()
    cold = time.perf_counter() - _T0
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        stages = call()
        times.append(time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "pipeline": pipeline,
        "MP": megapixels,
        "size": f"{image.shape[1]}x{image.shape[0]}",
        "cold_s": cold,
        "latency_s": float(np.median(times)),
        "peak_rss_mb": peak,
        "image_cost_mb": peak - base,
        "stages": stages,
    }


def _automatic_trimap_file(folder: str) -> str:
    import cv2

    from automatte.io import read_image

    path = os.path.join(folder, "trimap.npy")
    np.save(path, _automatic_trimap(cv2.resize(read_image(PHOTO), (866, 577), interpolation=cv2.INTER_AREA)))
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", default="default,twostage,twostage-cf")
    parser.add_argument("--sizes", default="0.5,2,12")
    parser.add_argument("--repeats", type=int, default=2, help="warm calls per case (median)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per case")
    parser.add_argument("--no-peer", action="store_true", help="skip the closed-form peers")
    parser.add_argument("--one", nargs=3, metavar=("PIPELINE", "MP", "TRIMAP"), help=argparse.SUPPRESS)
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one[0], float(args.one[1]), args.repeats, args.one[2])))
        return 0
    pipelines = [p for p in args.pipelines.split(",") if p] + ([] if args.no_peer else list(PEERS))
    if not pipelines:
        parser.error("nothing to measure")
    sizes = [float(s) for s in args.sizes.split(",")]
    print(
        f"{os.cpu_count()} CPU(s), torch threads default; photo {PHOTO.name} resized; empty numba cache per case;"
        f" warm: median of {args.repeats}"
    )
    print(
        f"{'pipeline':<14} {'MP':>5} {'size':>10} {'cold s':>7} {'warm s':>7} {'peak RSS MB':>12} {'image MB':>9}  stages"
    )
    rows = []
    work = tempfile.TemporaryDirectory()
    trimap_file = _automatic_trimap_file(work.name) if any(p in PEERS for p in pipelines) else "-"
    for pipeline in pipelines:
        for mp in sizes:
            cmd = [sys.executable, __file__, "--one", pipeline, str(mp), trimap_file, "--repeats", str(args.repeats)]
            try:
                numba_cache = tempfile.TemporaryDirectory()
                env = {**os.environ, "NUMBA_CACHE_DIR": numba_cache.name}
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env)
                row = (
                    json.loads(proc.stdout.strip().splitlines()[-1])
                    if proc.returncode == 0
                    else {"pipeline": pipeline, "MP": mp, "error": proc.stderr.strip().splitlines()[-1:]}
                )
            except subprocess.TimeoutExpired:
                row = {"pipeline": pipeline, "MP": mp, "error": f"timeout > {args.timeout} s"}
            numba_cache.cleanup()
            rows.append(row)
            if "error" in row:
                print(f"{pipeline:<14} {mp:>5} {'':>10} {row['error']}")
            else:
                print(
                    f"{pipeline:<14} {mp:>5} {row['size']:>10} {row['cold_s']:>7.2f} {row['latency_s']:>7.2f} {row['peak_rss_mb']:>12.0f} "
                    f"{row['image_cost_mb']:>9.0f}  {row['stages']}",
                    flush=True,
                )
    peer = {r["MP"]: r for r in rows if r["pipeline"] == "pymatting-cf" and "error" not in r}
    if peer:
        print("\nratio to pymatting-cf, cold / warm (lower is faster):")
        for r in rows:
            if r["pipeline"] != "pymatting-cf" and "error" not in r and r["MP"] in peer:
                p = peer[r["MP"]]
                print(
                    f"  {r['pipeline']:<14} {r['MP']:>5} MP: {r['cold_s'] / p['cold_s']:.2f}x / "
                    f"{r['latency_s'] / p['latency_s']:.2f}x"
                )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
