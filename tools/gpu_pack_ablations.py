"""Build the pack a lent GPU machine needs to run AIM's table 3 and SPAMattNet's table VI at 256 px (issue 29).

Only the checkout travels there (64 MiB with what ``carry`` names; ``../shared`` and the ignored ``build/weights``
do not), so ``build/ablpack/`` (ignored by git) holds what ``benchmarks/ablations.py --size 256 --pretrained``
reads from outside the checkout:

* ``weights/vgg16_imagenet.fp16.safetensors``: the ImageNet VGG-16 of ``make weights-backbones`` (AIM-Net's
  substitute encoder, ``aimnet_vgg16``) in float16: 28 MiB, where the float32 file's 56 MiB would not fit beside
  the checkout. ``tools/gpu_ablations.py`` writes it back as float32 to ``build/weights/`` on the GPU machine; the
  largest relative rounding error of a weight is in the manifest (float16 keeps 11 bits: about 5e-4).
* ``data/backgrounds/<folder>/``: ``--per-folder`` photos of each folder of ``../shared/data/backgrounds`` (a
  stable subset: the first by a hash of the name), the long side at most ``--max-side``, as JPEG: the background
  pool of the procedural composites, for training and for the held-out set alike.
* ``MANIFEST.json``: the files, their sizes, the sources and their sha256.

SPAMattNet's ResNet-34 and TGN's ResNet-50 have no ImageNet weights offline (they start from random weights,
as in the local runs), so VGG-16 is the only encoder file. The pack must stay under ``--budget-mb`` (default:
62 MiB minus the checkout's tracked files, since both travel): the script fails otherwise.

    make gpu-pack-ablations    # make weights-backbones first when build/weights/vgg16_imagenet.safetensors is missing
    .venv/bin/python tools/gpu_pack_ablations.py [--per-folder 40] [--max-side 384] [--out build/ablpack]

Then, through the device tool: ``python3 tools/gpu_ablations.py --minutes 8.5`` with ``carry=["build/ablpack"]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
VGG = "vgg16_imagenet.safetensors"
PACKED_VGG = "vgg16_imagenet.fp16.safetensors"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pack_weights(src: Path, dst: Path) -> dict:
    """``src`` (float32 safetensors) as float16 at ``dst``, its metadata kept and the source's sha256 added;
    returns the manifest entry (with the largest relative rounding error over the weights)."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata() or {})
        state = {k: f.get_tensor(k) for k in f.keys()}
    half, worst = {}, 0.0
    for key, value in state.items():
        if value.is_floating_point():
            h = value.to(torch.float16)
            if not torch.isfinite(h).all():
                raise ValueError(f"{src}: {key} does not fit float16")
            big = value.abs() > 1e-4  # relative error where it means something (fp16 subnormals below)
            if big.any():
                rel = ((h.float() - value.float()).abs()[big] / value.abs()[big]).max().item()
                worst = max(worst, rel)
            half[key] = h.contiguous()
        else:
            half[key] = value
    meta.update({"packed_from": src.name, "packed_from_sha256": _sha256(src), "packed_dtype": "float16"})
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_file(half, str(dst), metadata=meta)
    return {"file": dst.name, "bytes": dst.stat().st_size, "source": src.name, "source_sha256": meta["packed_from_sha256"],
            "tensors": len(half), "max_relative_error": worst}  # fmt: skip


def unpack_weights(src: Path, dst: Path) -> Path:
    """The packed float16 file back to float32 (the metadata of the original file) at ``dst``."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(src), framework="pt") as f:
        meta = {k: v for k, v in (f.metadata() or {}).items() if not k.startswith("packed_")}
        state = {k: f.get_tensor(k) for k in f.keys()}
    state = {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in state.items()}
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".tmp")
    save_file(state, str(tmp), metadata=meta)
    tmp.replace(dst)
    return dst


def pick(names: list[str], n: int) -> list[str]:
    """A stable subset of ``n`` names: the first by the sha1 of the name (the same whatever the listing order)."""
    return sorted(names, key=lambda s: hashlib.sha1(s.encode()).hexdigest())[:n]


def pack_backgrounds(src: Path, dst: Path, per_folder: int, max_side: int, quality: int) -> dict:
    """``per_folder`` photos of each sub-folder of ``src`` (or of ``src`` itself when it has none) to ``dst``."""
    folders = sorted(p for p in src.iterdir() if p.is_dir()) or [src]
    counts, total = {}, 0
    for folder in folders:
        files = {p.name: p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        chosen = pick(list(files), per_folder)
        out = dst / folder.name if folder != src else dst
        out.mkdir(parents=True, exist_ok=True)
        for name in chosen:
            image = cv2.imread(str(files[name]), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"{files[name]}: not a readable image")
            h, w = image.shape[:2]
            s = max_side / max(h, w)
            if s < 1:
                image = cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
            ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not ok:
                raise RuntimeError(f"{files[name]}: could not encode")
            (out / (Path(name).stem + ".jpg")).write_bytes(data.tobytes())
            total += len(data)
        counts[folder.name] = {"packed": len(chosen), "of": len(files)}
    return {"folders": counts, "bytes": total, "max_side": max_side, "quality": quality}


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def checkout_mib() -> float:
    """The checkout's tracked files (MiB): they travel beside the pack."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return sum((ROOT / p).stat().st_size for p in tracked.decode().split("\0") if p and (ROOT / p).is_file()) / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data", help="../shared/data")
    parser.add_argument("--weights", type=Path, default=ROOT / "build" / "weights" / VGG,
                        help="the float32 VGG-16 of make weights-backbones")  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "ablpack")
    parser.add_argument("--per-folder", type=int, default=40, help="background photos per folder")
    parser.add_argument("--max-side", type=int, default=384, help="long side of the packed backgrounds (px)")
    parser.add_argument("--quality", type=int, default=88, help="JPEG quality of the backgrounds")
    parser.add_argument("--budget-mb", type=float, default=None, help="default: 62 MiB minus the checkout")
    args = parser.parse_args(argv)
    if not args.weights.is_file():
        print(f"{args.weights}: missing; build it with `make weights-backbones`", file=sys.stderr)
        return 2
    backgrounds = args.shared / "backgrounds"
    if not backgrounds.is_dir():
        print(f"{backgrounds}: no such folder (the background photos of ../shared/data)", file=sys.stderr)
        return 2
    if args.out.exists():
        shutil.rmtree(args.out)
    manifest = {
        "weights": pack_weights(args.weights, args.out / "weights" / PACKED_VGG),
    }
    manifest["backgrounds"] = pack_backgrounds(
        backgrounds, args.out / "data" / "backgrounds", args.per_folder, args.max_side, args.quality
    )
    manifest["backgrounds"]["source"] = "../shared/data/backgrounds"
    (args.out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    mib = tree_bytes(args.out) / 2**20
    checkout = checkout_mib()
    budget = 62 - checkout if args.budget_mb is None else args.budget_mb
    print(f"{args.out}: {mib:.1f} MiB (weights {manifest['weights']['bytes'] / 2**20:.1f} MiB, "
          f"{sum(c['packed'] for c in manifest['backgrounds']['folders'].values())} backgrounds "
          f"{manifest['backgrounds']['bytes'] / 2**20:.1f} MiB); checkout {checkout:.1f} MiB; budget {budget:.1f} MiB")  # fmt: skip
    if mib > budget:
        print(f"the pack is over its budget of {budget:.1f} MiB: lower --per-folder or --max-side", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
