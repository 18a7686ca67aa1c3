"""Write the starting weights of a segmenter whose backbone is swapped for an ImageNet one (issue 27, item 3).

The heads (ASPP, 21-logit classifier, stride-4 decoder) come from a trained DeepLabv3+ (the shipped segmenter by
default); the backbone from an ImageNet file of ``make weights``. The two arms of the backbone comparison start the
same way, so what they learn differs only by the backbone:

    python tools/init_segmenter.py --arch deeplabv3plus_effl0 \\
        --backbone build/weights/efficientnet_lite0_imagenet.safetensors --out build/init/effl0.pt
    python tools/init_segmenter.py --arch deeplabv3plus_mnv2 \\
        --backbone build/weights/mobilenet_v2_imagenet.safetensors --out build/init/mnv2.pt

The output is a plain state dict for ``model.init_from`` (written atomically).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from automatte.models.backbones.mobilenetv2 import load_mobilenetv2_state
from automatte.models.deeplab import lite_segmenter_state
from automatte.models.registry import create_model
from automatte.models.weights import model_state_from_file, read_state_dict

SHIPPED = "src/automatte/weights/salient-segmenter.safetensors"


def initial_state(arch: str, backbone: str | Path, heads: str | Path | None = SHIPPED) -> dict:
    """The state dict of ``arch`` with an ImageNet ``backbone`` and the heads of ``heads`` (None: at random)."""
    net = create_model(arch)
    if arch.startswith("deeplabv3plus_effl"):
        return lite_segmenter_state(net, backbone, heads)
    if arch == "deeplabv3plus_mnv2":
        if heads is not None:
            state, _ = model_state_from_file(heads)
            net.load_state_dict(state)  # strict: the same architecture; the backbone is replaced next
        load_mobilenetv2_state(net.backbone, read_state_dict(backbone))
        return net.state_dict()
    raise ValueError(f"init_segmenter: arch must be deeplabv3plus_effl0 or deeplabv3plus_mnv2, got {arch!r}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", required=True, help="deeplabv3plus_effl0 or deeplabv3plus_mnv2")
    ap.add_argument("--backbone", required=True, help="ImageNet backbone weights (make weights)")
    ap.add_argument("--heads", default=SHIPPED, help="a trained DeepLabv3+ whose heads are kept ('none': at random)")
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)
    for p in (args.backbone, None if args.heads == "none" else args.heads):
        if p is not None and not Path(p).is_file():
            print(f"init_segmenter: {p}: no such file", file=sys.stderr)
            return 2
    state = initial_state(args.arch, args.backbone, None if args.heads == "none" else args.heads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, args.out)
    print(f"wrote {args.out} ({args.arch}: {sum(v.numel() for v in state.values()):,} values)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
