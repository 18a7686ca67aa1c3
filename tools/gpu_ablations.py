"""Run AIM-Net's table 3 and SPAMattNet's table VI at 256 px with pretrained encoders on a lent GPU, in a budget.

Issue 29. Built here by ``make gpu-pack-ablations`` (``build/ablpack``: the ImageNet VGG-16 in float16 and a
subset of the background photos; ``tools/gpu_pack_ablations.py``), run there through the device tool:

    run(command="set -o pipefail; PYTHONUNBUFFERED=1 python3 tools/gpu_ablations.py --minutes 8.5 2>&1 | tee $OUT/log.txt",
        carry=["build/ablpack"], timeout_s=600)

(1) The VGG-16 goes back to float32 at ``build/weights/vgg16_imagenet.safetensors`` (where ``--pretrained`` reads
it). (2) ``benchmarks/ablations.py --paper aim,spamattnet --size 256 --pretrained --device cuda --data
build/ablpack/data --fit-minutes M`` with bf16 autocast and ``--workers`` loader processes: every job is probed
for ``--probe-steps`` steps, then each paper gets the steps that fit the time left (the same for every row of a
paper; :func:`ablations.fit_steps`), AIM first, its report written before SPAMattNet starts. (3) ``$OUT`` gets
``ablations256.json`` (the results: per seed and row every metric, the commands, the timings),
``ablations256.md`` and ``.png`` (the report), and ``log.txt`` (from ``tee``); the run folders (checkpoints) stay in
``build/abl256`` there. ``M`` is ``--minutes`` less the time already spent when ablations.py starts.

Back here, the docs are rendered from the JSON alone (no training):

    cp FILES_AT/ablations256.json docs/ablations256.json
    .venv/bin/python benchmarks/ablations.py --report-only --results docs/ablations256.json --report docs/ablations256.md

Here on the CPU it runs as a check of the whole path with tiny settings (a copy of the checkout plus the pack is
enough: nothing is read from ../shared or build/weights):

    OUT=/tmp/ablout .venv/bin/python tools/gpu_ablations.py --device cpu --size 64 --steps 2 --probe-steps 1 \\
        --eval-n 4
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", type=Path, default=ROOT / "build" / "ablpack")
    parser.add_argument("--minutes", type=float, default=8.5, help="wall budget of the whole command")
    parser.add_argument("--papers", default="aim,spamattnet", help="in this order (each one's report is written "
                        "when it finishes)")  # fmt: skip
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=None, help="fixed steps per run instead of fitting --minutes")
    parser.add_argument("--probe-steps", type=int, default=8)
    parser.add_argument("--eval-n", type=int, default=96)
    parser.add_argument("--workers", type=int, default=None, help="loader processes (default: CPUs - 2, 0 on cpu)")
    parser.add_argument("--amp", default=None, help="bf16 on CUDA by default, off on the CPU")
    parser.add_argument("--threads", type=int, default=4, help="torch threads of the main process")
    parser.add_argument("--run-dir", type=Path, default=ROOT / "build" / "abl256", help="the run folders")
    parser.add_argument("--name", default="ablations256", help="stem of the files in $OUT")
    args = parser.parse_args(argv)
    out = _load("gpu_train", ROOT / "tools" / "gpu_train.py").device_out("the results")
    if out is None:
        return 2
    os.chdir(ROOT)  # the pack's and the weights' paths are relative to the checkout

    pack = _load("gpu_pack_ablations", ROOT / "tools" / "gpu_pack_ablations.py")
    packed = args.pack / "weights" / pack.PACKED_VGG
    if not packed.is_file() or not (args.pack / "data" / "backgrounds").is_dir():
        print(f"{args.pack}: no pack (build it with `make gpu-pack-ablations`; carry it)", file=sys.stderr)
        return 2
    weights = ROOT / "build" / "weights" / pack.VGG
    if not weights.is_file():
        pack.unpack_weights(packed, weights)
    print(f"weights: {weights} (float32 from {packed}); {time.perf_counter() - started:.1f} s", flush=True)

    on_cuda = args.device.startswith("cuda")
    workers = args.workers if args.workers is not None else (max(0, (os.cpu_count() or 2) - 2) if on_cuda else 0)
    amp = args.amp or ("bf16" if on_cuda else "off")
    abl = _load("ablations", ROOT / "benchmarks" / "ablations.py")
    cmd = ["--paper", args.papers, "--seeds", args.seeds, "--size", str(args.size), "--pretrained",
           "--device", args.device, "--data", str(Path(os.path.relpath(args.pack, ROOT)) / "data"),
           "--workers", str(workers), "--amp", amp, "--threads", str(args.threads), "--probe-steps",
           str(args.probe_steps), "--eval-n", str(args.eval_n), "--out", str(args.run_dir),
           "--report", str(out / f"{args.name}.md")]  # fmt: skip
    if args.steps is not None:
        cmd += ["--budget-steps", str(args.steps)]
    else:
        left = args.minutes - (time.perf_counter() - started) / 60
        cmd += ["--fit-minutes", f"{left:.2f}"]
    print("python benchmarks/ablations.py " + " ".join(cmd), flush=True)
    rc = abl.main(cmd)
    print(f"done in {(time.perf_counter() - started) / 60:.1f} min; results in {out}", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
