"""Cold first photo with and without closed-form's SciPy preload (issue 31), in interleaved fresh processes.

Each run is a new Python process that imports automatte, loads the default pipeline and mattes
examples/chelsea.jpg resized to 1 MP (as ``benchmarks/stage_speed.py``); the time counts from the process's first
statement to the end of that first call. With ``off``, :func:`automatte.infer.closed_form.preload` is replaced by a
no-op before the pipeline is built, so SciPy is imported inside the first call instead of beside the segmenter.

Usage (from the repository root):
    .venv/bin/python benchmarks/cold_preload.py [--pairs 4] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import time
T0 = time.perf_counter()
import sys
sys.path.insert(0, {bench!r})
import automatte.infer.closed_form as cf
if {off}:
    cf.preload = lambda: None
from stage_speed import photo
from automatte.api import load_model
image = photo(1.0)
load_model("default")(image)
print(time.perf_counter() - T0)
"""


def cold(off: bool, threads: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT / "src")}
    code = CHILD.format(bench=str(ROOT / "benchmarks"), off=off)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=4, help="interleaved on/off pairs")
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of the runs (ONNX Runtime's threads)")
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {"preload on": [], "preload off": []}
    for _ in range(args.pairs):
        times["preload on"].append(cold(False, args.threads))
        times["preload off"].append(cold(True, args.threads))
    for name, ts in times.items():
        print(f"{name:12} cold first photo (s): " + ", ".join(f"{t:.2f}" for t in ts)
              + f"; mean {statistics.mean(ts):.2f}, median {statistics.median(ts):.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
