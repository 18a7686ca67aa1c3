"""Ship a trained checkpoint as a model of the package, and the golden test pair of every shipped model.

``python tools/ship_model.py CHECKPOINT NAME ROLE [--default] [--card extra.json] [--inference k=v ...]`` writes
``src/automatte/weights/NAME.safetensors`` + ``NAME.json`` (:func:`automatte.shipped.ship_checkpoint`) and the
golden output ``tests/golden/NAME.png`` (16-bit) that ``tests/test_shipped.py`` compares against. The golden input
is ``examples/chelsea.jpg`` (CC0) at 144 x 96; the library itself never reads ``tests/`` or ``examples/``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_DIR = ROOT / "tests" / "golden"
GOLDEN_SIZE = (96, 144)  # (H, W) of the golden input: examples/chelsea.jpg resized (area)


def golden_input() -> np.ndarray:
    """The golden input of every shipped model: examples/chelsea.jpg (CC0) at 144 x 96, float32 in [0, 1]."""
    import cv2

    from automatte.io import read_image

    image = read_image(ROOT / "examples" / "chelsea.jpg")
    return cv2.resize(image, GOLDEN_SIZE[::-1], interpolation=cv2.INTER_AREA).astype("float32")


def golden_output(name: str) -> np.ndarray:
    """What a shipped model gives on :func:`golden_input` (network output, (H, W) float32): the segmenter's
    probability, the refiner's alpha on a trimap from a centred ellipse, the one-stage model's alpha."""
    import torch

    from automatte.infer.padding import crop_to, pad_to_multiple
    from automatte.shipped import load_shipped

    net = load_shipped(name)
    image = torch.from_numpy(golden_input().transpose(2, 0, 1))[None]
    x, pads = pad_to_multiple(image, 32)
    feeds = {"image": x}
    if "trimap" in net.model_inputs:
        h, w = GOLDEN_SIZE
        yy, xx = np.mgrid[0:h, 0:w]
        r = ((yy - h / 2) / (0.4 * h)) ** 2 + ((xx - w / 2) / (0.4 * w)) ** 2
        tri = np.where(r < 0.6, 1.0, np.where(r < 1.2, 0.5, 0.0)).astype("float32")
        feeds["trimap"] = pad_to_multiple(torch.from_numpy(tri)[None, None], 32)[0]
    with torch.inference_mode():
        alpha = crop_to(net(**feeds).alpha, pads)[0, 0].numpy()
    return alpha.astype("float32")


def main(argv=None) -> int:
    """Ship a checkpoint and write its golden output (tests/golden/NAME.png, 16-bit)."""
    import argparse

    from automatte.io import write_alpha
    from automatte.shipped import ROLES, ship_checkpoint

    parser = argparse.ArgumentParser(prog="python tools/ship_model.py", description=main.__doc__)
    parser.add_argument("checkpoint")
    parser.add_argument("name")
    parser.add_argument("role", choices=ROLES)
    parser.add_argument("--default", action="store_true")
    parser.add_argument("--card", default=None, help="JSON file of card fields (data, recipe, command, metrics...)")
    parser.add_argument("--inference", nargs="*", default=[], help="pipeline defaults, key=value (ints / floats)")
    parser.add_argument("--kwargs", default="{}", help="factory keyword arguments as JSON (no paths)")
    args = parser.parse_args(argv)
    card = json.loads(Path(args.card).read_text()) if args.card else {}
    inference = {}
    for item in args.inference:
        key, value = item.split("=", 1)
        inference[key] = json.loads(value) if value[:1].isdigit() or value in ("null", "true", "false") else value
    model = ship_checkpoint(
        args.checkpoint,
        args.name,
        args.role,
        default=args.default,
        inference=inference,
        card=card,
        kwargs=json.loads(args.kwargs),
    )
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    write_alpha(GOLDEN_DIR / f"{model.name}.png", golden_output(model.name), bits=16)
    print(
        f"shipped {model.name} ({model.arch}, {model.role}) sha256 {model.sha256}; golden {GOLDEN_DIR / model.name}.png"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
