"""Regenerate the ONNX graphs shipped beside the segmenters' weights (what the light install runs).

``python tools/export_onnx.py`` rewrites ``src/automatte/weights/NAME.onnx`` for the default segmenter (the one
``automatte photo.jpg`` runs) from ``NAME.safetensors`` and records the safetensors' sha256 in the graph, then
checks the graph against PyTorch on the golden input (``examples/chelsea.jpg`` at 144 x 96) and at 512 px.
Run it after shipping new segmenter weights (after ``tools/ship_model.py``); a stale graph fails
``tests/test_light_install.py`` and is refused at load. ``--check`` only reports whether each graph is current
(exit status 1 if not). Names: shipped models (default: the default segmenter). Needs the full install
(PyTorch, onnx, onnxruntime: ``pip install '.[torch,export]'``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def parity(name: str) -> float:
    """Largest |ONNX - PyTorch| of the shipped model's output on the golden input and on chelsea at 512 px."""
    import cv2
    import torch

    from automatte.infer.runners import ShippedOnnxRunner
    from automatte.io import read_image
    from automatte.shipped import load_shipped

    sys.path.insert(0, str(ROOT / "tools"))
    from ship_model import golden_input

    net = load_shipped(name)
    runner = ShippedOnnxRunner(name)
    photo = read_image(ROOT / "examples" / "chelsea.jpg")
    worst = 0.0
    for image in (golden_input(), cv2.resize(photo, (512, 352), interpolation=cv2.INTER_AREA)):
        h, w = image.shape[:2]
        x = np.zeros((1, 3, -(-h // 32) * 32, -(-w // 32) * 32), np.float32)
        x[0, :, :h, :w] = image.transpose(2, 0, 1)
        with torch.inference_mode():
            expected = net(image=torch.from_numpy(x)).alpha.numpy()
        worst = max(worst, float(np.abs(runner.run_array(x) - expected).max()))
    return worst


def main(argv=None) -> int:
    """Regenerate (or --check) the shipped ONNX graphs."""
    import argparse

    from automatte.shipped import default_model_name, export_shipped_onnx, shipped_onnx

    parser = argparse.ArgumentParser(prog="python tools/export_onnx.py", description=main.__doc__)
    parser.add_argument("names", nargs="*", help="shipped models (default: the default segmenter)")
    parser.add_argument("--check", action="store_true", help="only report whether each graph is current")
    args = parser.parse_args(argv)
    names = args.names or [default_model_name("segmenter")]
    status = 0
    for name in names:
        if args.check:
            try:
                path = shipped_onnx(name)
                print(f"{name}: {'no ONNX graph' if path is None else f'{path.name} is current'}")
                status |= path is None
            except ValueError as exc:
                print(exc)
                status = 1
            continue
        t = time.perf_counter()
        path = export_shipped_onnx(name)
        worst = parity(name)
        size = path.stat().st_size / 2**20
        print(
            f"{name}: wrote {path} ({size:.1f} MiB) in {time.perf_counter() - t:.0f} s; |ONNX - torch| <= {worst:.2e}"
        )
        if worst > 1e-4:
            print(f"{name}: ONNX and PyTorch differ by {worst:.2e} (> 1e-4)", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
