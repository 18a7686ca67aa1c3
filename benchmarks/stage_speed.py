"""Warm per-stage latency of the default pipeline at 0.5 / 1 / 2 MP beside pymatting's closed-form and
foreground estimation on the same inputs, as ratios measured in the same run.

One process, everything warm (a first call of each is made and not timed: loading, numba compilation). Per
size, examples/chelsea.jpg resized to that many megapixels (3:2); per repeat, interleaved so that a busy
machine slows every peer alike:

* ``default``: one call of ``load_model("default")``; its stages from ``Matte.timings``: ``segment`` (the
  segmenter's test-time-augmentation passes and the island clean-up), ``trimap`` (the unknown band),
  ``refine`` (closed-form, at most 1 MP, then fusion), ``foreground`` (the foreground colours) and ``total``;
* ``pymatting-cf``: pymatting's ``estimate_alpha_cf`` at full resolution on the default's own trimap of this
  photo (numba, both cores; in a worker process, see :class:`PeerWorker`);
* ``pymatting-fg``: pymatting's ``estimate_foreground_ml`` on the photo and the default's alpha (numba, the
  same worker);
* ``fg ml``: this package's ``estimate_foreground(method="ml")`` on the same (the default's estimator before
  issue 31; the default now uses ``ml_band``).

``--backends default,torch,onnx``: the default pipeline loaded once per segmenter backend (``load_model("default",
backend=...)``), called in turn in every repeat; the first gives the stage columns, each further one its
``segment`` and ``total`` (``segment [onnx]``, ...) and the largest alpha difference from the first.
``--segmenters A.safetensors,...`` adds the default pipeline with each of those segmenters on the first backend, in
the same loop (a candidate segmenter's latency beside the shipped one's: ``--backends torch``). ``--threads``
sets torch's threads and ONNX Runtime's intra-op threads alike.

Printed: the median of ``--repeats`` per figure, and the ratios that the issue's acceptance reads (default
total / pymatting-cf, refine / pymatting-cf, foreground / pymatting-fg, foreground / fg ml). ``--tta`` also
costs the segmenter's four test-time-augmentation passes one by one (512 px, its mirror, 320 px, its mirror).

Usage (from the repository root):
    .venv/bin/python benchmarks/stage_speed.py [--sizes 0.5,1,2] [--repeats 5] [--tta] [--threads 1] \
        [--backends torch,onnx] [--segmenters OLD.safetensors]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
PHOTO = ROOT / "examples" / "chelsea.jpg"
STAGES = ("segment", "trimap", "refine", "foreground", "total")


def photo(megapixels: float) -> np.ndarray:
    import cv2

    from automatte.io import read_image

    w = int(round((megapixels * 1e6 * 1.5) ** 0.5))
    image = cv2.resize(read_image(PHOTO), (w, int(round(w / 1.5))), interpolation=cv2.INTER_CUBIC)
    return image.clip(0, 1).astype(np.float32)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def tta_passes(pipeline, image: np.ndarray, repeats: int) -> dict:
    """Median seconds of each segmenter pass of the pipeline's test-time augmentation (scale x mirror)."""
    from automatte.infer.highres import predict_whole
    from automatte.infer.runners import to_tensor

    x = to_tensor(image)
    out = {}
    for side in (pipeline.segment_long_side, *pipeline.segment_scales):
        for mirrored in (False, True) if pipeline.segment_flip else (False,):
            xi = x.flip(-1) if mirrored else x

            def one(xi=xi, side=side):
                predict_whole(pipeline.segmenter, xi, long_side=side, upscale=pipeline.segment_upscale)

            one()
            out[f"{side} px{' mirror' if mirrored else ''}"] = float(np.median([_timed(one) for _ in range(repeats)]))
    return out


class PeerWorker:
    """pymatting's peers in a process of their own: numba's OpenMP thread pool in the pipeline's process makes
    torch 5-10x slower on 2 cores (measured: a segmenter pass 1.0 s before a pymatting call, 5-13 s after).
    Its idle threads sleep (``OMP_WAIT_POLICY=PASSIVE``), so it takes no CPU between its calls."""

    def __init__(self, image: np.ndarray, trimap: np.ndarray, alpha: np.ndarray, folder: str):
        import subprocess

        for name, arr in (("image", image), ("trimap", trimap), ("alpha", alpha)):
            np.save(os.path.join(folder, f"{name}.npy"), arr.astype(np.float64))
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT / "src")}
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", folder],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.ask("warm")  # imports and compiles (numba) outside the timings

    def ask(self, what: str) -> float:
        self.proc.stdin.write(what + "\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def _worker(folder: str) -> None:
    import pymatting

    image, trimap, alpha = (np.load(os.path.join(folder, f"{n}.npy")) for n in ("image", "trimap", "alpha"))
    calls = {
        "pymatting-cf": lambda: pymatting.estimate_alpha_cf(image, trimap),
        "pymatting-fg": lambda: pymatting.estimate_foreground_ml(image, alpha),
    }
    for line in sys.stdin:
        what = line.strip()
        seconds = sum(_timed(fn) for fn in calls.values()) if what == "warm" else _timed(calls[what])
        print(seconds, flush=True)


def load_default(backend: str, threads: int | None, segmenter: str | None = None):
    """``load_model("default")`` with the segmenter on ``backend`` ("default": the pipeline's own choice), another
    ``segmenter`` (a weights file) if given, and ONNX Runtime sessions made with ``threads`` intra-op threads (its
    runners read ``OMP_NUM_THREADS``)."""
    from automatte.api import load_model

    saved = os.environ.get("OMP_NUM_THREADS")
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    kw = {} if backend == "default" else {"backend": backend}
    try:
        return load_model("default", segmenter=segmenter, **kw)
    finally:  # the peers' worker process must not inherit it
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved


def measure(megapixels: float, repeats: int, tta: bool, backends=("default",), threads: int | None = None,
            segmenters: tuple[str, ...] = ()) -> dict:  # fmt: skip
    import tempfile

    from automatte.ops import estimate_foreground

    image = photo(megapixels)
    pipes = {b: load_default(b, threads) for b in backends}
    for path in segmenters:  # the default pipeline with another segmenter, on the first backend
        pipes[f"{backends[0]} {Path(path).stem}"] = load_default(backends[0], threads, path)
    backends = tuple(pipes)
    pipe = pipes[backends[0]]
    first = pipe(image)  # warm-up; its trimap and alpha feed the peers
    others = {b: pipes[b](image) for b in backends[1:]}  # warm-up of the other backends
    alpha_diff = {b: float(np.abs(m.alpha - first.alpha).max()) for b, m in others.items()}
    folder = tempfile.TemporaryDirectory()
    worker = PeerWorker(image, first.trimap, first.alpha, folder.name)
    estimate_foreground(image, first.alpha, method="ml")
    peers = ("pymatting-cf", "pymatting-fg", "fg ml")
    extra = [f"{k} [{b}]" for b in backends[1:] for k in ("segment", "total")]
    rows: dict[str, list[float]] = {k: [] for k in (*STAGES, *peers, *extra)}
    for _ in range(repeats):
        timings = pipe(image).timings
        for k in STAGES:
            rows[k].append(timings.get(k, 0.0))
        for b in backends[1:]:
            other = pipes[b](image).timings
            rows[f"segment [{b}]"].append(other["segment"])
            rows[f"total [{b}]"].append(other["total"])
        rows["pymatting-cf"].append(worker.ask("pymatting-cf"))
        rows["pymatting-fg"].append(worker.ask("pymatting-fg"))
        rows["fg ml"].append(_timed(lambda: estimate_foreground(image, first.alpha, method="ml")))
    worker.close()
    folder.cleanup()
    med = {k: float(np.median(v)) for k, v in rows.items()}
    result = {"MP": megapixels, "size": f"{image.shape[1]}x{image.shape[0]}", "median_s": med}
    result["unknown_fraction"] = float((first.trimap == 0.5).mean())
    result["backends"] = list(backends)
    result["alpha_max_diff"] = alpha_diff
    result["ratios"] = {
        "default total / pymatting-cf": med["total"] / med["pymatting-cf"],
        "refine / pymatting-cf": med["refine"] / med["pymatting-cf"],
        "foreground / pymatting-fg": med["foreground"] / med["pymatting-fg"],
        "foreground / fg ml": med["foreground"] / med["fg ml"],
    }
    for b in backends[1:]:
        result["ratios"][f"segment [{b}] / segment [{backends[0]}]"] = med[f"segment [{b}]"] / med["segment"]
        result["ratios"][f"total [{b}] / pymatting-cf"] = med[f"total [{b}]"] / med["pymatting-cf"]
        result["ratios"][f"total [{backends[0]}] / total [{b}]"] = med["total"] / med[f"total [{b}]"]
    if tta:
        result["tta_s"] = tta_passes(pipe, image, repeats)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0.5,1,2", help="megapixels, comma-separated")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per figure (median)")
    parser.add_argument("--tta", action="store_true", help="also cost each segmenter pass")
    parser.add_argument("--json", default=None, help="also write the rows here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--threads",
        "--torch-threads",
        type=int,
        default=1,
        help="torch and ONNX Runtime threads (default 1: on a busy 2-core machine 2 stall)",
    )
    parser.add_argument(
        "--backends", default="default", help="segmenter backends of the default pipeline: default, torch, onnx"
    )
    parser.add_argument(
        "--segmenters",
        default="",
        help="weights files of other segmenters, comma-separated: the default pipeline with each, on the first "
        "backend, in the same loop (e.g. a candidate's latency against the shipped one's: --backends torch)",
    )
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker)
        return 0
    import torch

    torch.set_num_threads(args.threads)
    backends = tuple(b for b in args.backends.split(",") if b)
    if not backends or set(backends) - {"default", "torch", "onnx"}:
        parser.error(f"--backends: default, torch or onnx, got {args.backends!r}")

    print(
        f"{os.cpu_count()} CPU(s), torch {torch.get_num_threads()} / ONNX Runtime {args.threads} threads, numba "
        f"{os.environ.get('NUMBA_NUM_THREADS', 'default')} threads; {PHOTO.name} resized; "
        f"load average {os.getloadavg()[0]:.1f}; warm medians of {args.repeats}, interleaved"
    )
    segmenters = tuple(p for p in args.segmenters.split(",") if p)
    variants = (*backends, *(f"{backends[0]} {Path(p).stem}" for p in segmenters))
    cols = (*STAGES, "pymatting-cf", "pymatting-fg", "fg ml")
    cols += tuple(f"{k} [{b}]" for b in variants[1:] for k in ("segment", "total"))
    print(f"{'MP':>4} {'size':>10} " + " ".join(f"{c:>{max(12, len(c))}}" for c in cols) + "  (ms)")
    rows = []
    for mp in (float(s) for s in args.sizes.split(",") if s):
        row = measure(mp, args.repeats, args.tta, backends, args.threads, segmenters)
        rows.append(row)
        med = row["median_s"]
        print(
            f"{mp:>4} {row['size']:>10} " + " ".join(f"{med[c] * 1000:>{max(12, len(c))}.0f}" for c in cols), flush=True
        )
    print()
    for row in rows:
        ratios = ", ".join(f"{k} {v:.2f}x" for k, v in row["ratios"].items())
        print(f"{row['MP']:>4} MP (unknown band {row['unknown_fraction']:.1%}): {ratios}")
        for b, d in row["alpha_max_diff"].items():
            print(f"      alpha [{b}] - alpha [{backends[0]}]: max {d:.2e} ({d * 255:.2f}/255)")
        if "tta_s" in row:
            passes = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in row["tta_s"].items())
            print(f"      segmenter passes: {passes} (segment stage {row['median_s']['segment'] * 1000:.0f} ms)")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
