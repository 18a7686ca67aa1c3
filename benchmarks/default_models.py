"""Held-out figures of the default models (issue 5): the numbers of the model cards and the closing note.

For each model (a shipped name, a pipeline such as ``twostage-cf``, or a training checkpoint ``.pt``):

* **synthetic held-out split**: the 64 procedural samples of the experiments' validation source (512 x 512,
  SO / STM / NS in turn, seed ``VAL_SEED_OFFSET``: the training stream never draws them), whole-image
  SAD / MSE / Grad / Conn with the DIM protocol (``automatte.metrics``), overall and per type;
* **coarse held-out split**: the 10 % validation split (hash split, seed 0) of each coarse set (CCP, SOD300,
  HSD): IoU of the binarised alpha (>= 0.5) with the binary mask, mean per set and over all images;
* **CPU latency at 1 MP** (1155 x 866, median of 3 after a warm-up; foreground estimation excluded) and the
  parameter count.

Usage (from the repository root, needs ../shared/data):
    .venv/bin/python benchmarks/default_models.py --model runs/x/last.pt --model twostage-cf --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _pipeline(spec: str, **options):
    from automatte.api import load_model

    return load_model(spec, foreground="none", **options)


def _params(pipeline) -> float:
    total = 0
    for part in (pipeline.matting, pipeline.refiner, pipeline.segmenter, pipeline.guided):
        net = getattr(part, "net", None)
        if net is not None:
            total += sum(p.numel() for p in net.parameters())
    return total / 1e6


def synthetic_metrics(pipeline, shared: Path, n: int) -> dict:
    from automatte.data.augment import Augment
    from automatte.data.datasets import SynthDataset
    from automatte.metrics import conn, grad, mse, sad
    from automatte.train.data import VAL_SEED_OFFSET

    ds = SynthDataset(n, Augment.none(size=512), backgrounds=shared / "backgrounds", seed=VAL_SEED_OFFSET)
    rows = []
    for i in range(n):
        item = ds[i]
        image = item["image"].numpy().transpose(1, 2, 0)
        gt = item["alpha"][0].numpy().astype(np.float64)
        pred = pipeline(image).alpha.astype(np.float64)
        pred = np.round(pred * 255) / 255  # what a saved 8-bit PNG holds, as the evaluation of files sees it
        rows.append({"type": item["type"], "SAD": sad(pred, gt), "MSE": mse(pred, gt), "Grad": grad(pred, gt),
                     "Conn": conn(pred, gt)})
    out = {k: float(np.mean([r[k] for r in rows])) for k in ("SAD", "MSE", "Grad", "Conn")}
    for t in ("SO", "STM", "NS"):
        sel = [r for r in rows if r["type"] == t]
        if sel:
            out[f"{t}/SAD"] = float(np.mean([r["SAD"] for r in sel]))
    return out


def coarse_iou(pipeline, shared: Path, limit: int | None) -> dict:
    from automatte.data.datasets import coarse_pairs, read_mask, split_names
    from automatte.io import read_image

    out, every = {}, []
    for name in ("ccp", "sod300", "hsd"):
        pairs = coarse_pairs(shared / "coarse" / name)
        _, val = split_names(sorted(pairs), 0.1, seed=0)
        ious = []
        for stem in val[:limit]:
            image = read_image(pairs[stem][0])
            mask = read_mask(pairs[stem][1], image.shape[:2]) >= 0.5
            pred = pipeline(image).alpha >= 0.5
            union = np.logical_or(pred, mask).sum()
            ious.append(1.0 if union == 0 else float(np.logical_and(pred, mask).sum() / union))
        out[f"IoU/{name}"] = float(np.mean(ious))
        out[f"n/{name}"] = len(ious)
        every.extend(ious)
    out["IoU"] = float(np.mean(every))
    return out


def latency(pipeline, repeats: int = 3) -> float:
    rng = np.random.default_rng(0)
    image = rng.random((866, 1155, 3), dtype=np.float32)
    image[200:700, 300:850] *= 0.3  # something to segment
    pipeline(image)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        pipeline(image)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="shipped name, pipeline or checkpoint (repeat)")
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--n", type=int, default=64, help="synthetic held-out samples (default 64, the validation set)")
    parser.add_argument("--coarse-limit", type=int, default=None, help="at most this many images per coarse set")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    shared = Path(args.shared)
    if not shared.is_dir():
        print(f"{shared}: shared data not found", file=sys.stderr)
        return 2
    results = {}
    for spec in args.model:
        pipeline = _pipeline(spec)
        row = {"params (M)": round(_params(pipeline), 2)}
        t = time.perf_counter()
        row.update(synthetic_metrics(pipeline, shared, args.n))
        row.update(coarse_iou(pipeline, shared, args.coarse_limit))
        row["latency 1MP (s)"] = latency(pipeline)
        row["eval time (s)"] = time.perf_counter() - t
        results[spec] = row
        print(f"{spec}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)
    keys = list(dict.fromkeys(k for r in results.values() for k in r))
    print("\n| model | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for spec, row in results.items():
        print(f"| {spec} | " + " | ".join(f"{row[k]:.4g}" if isinstance(row.get(k), float) else str(row.get(k, "")) for k in keys) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
