"""Build the compact training pack a lent GPU machine needs (only the checkout travels there, 64 MiB with
what ``carry`` names; ``../shared`` does not) and the experiment that reads it.

For an experiment (default: the segmenter's latest round, ``configs/deeplabv3plus_mnv2_salient_scenery.yaml``) every
data source under ``../shared/data`` is copied into ``build/gpupack/`` (ignored by git): photos of the
``train`` split only (the held-out split never travels) as JPEG with the long side at most ``--max-side``,
at most ``--max-per-set`` per set (``--max-for NAME=N`` for one set; a stable hash subset; sets that no source
reads with ``split: train``, such as DUTS-TR, are packed whole), masks as 1-bit PNG, RGBA cutouts as WebP at most
``--cutout-side`` (lossy colour, lossless alpha: a quarter of the PNG's size), background photos as JPEG. Then
``build/gpupack/experiment.yaml`` is written: the experiment with its paths moved into the pack, ``split``
dropped (the pack holds the training split alone), crop sizes scaled with the photos, and the GPU settings
(``--batch``, bf16, ``--workers`` loader processes), and ``augment.bg_max_upscale: 1`` on every source with
backgrounds: the packed background photos are small, and squares cut from them and enlarged into the crops
are blurred where the cutouts are sharp (a GPU round on such a pack learned "blurred = background" and lost on
composites with sharp backgrounds). The pack must stay under ``--budget-mb`` (default: 62 MiB minus the
checkout's tracked files, since both travel): the script fails otherwise. ``tools/gpu_train.sh`` runs the experiment on the GPU machine.

    .venv/bin/python tools/gpu_pack.py [--config configs/...yaml] [--max-side 448] [--budget-mb 48]
    .venv/bin/python tools/gpu_pack.py --config configs/deeplabv3plus_mnv2_salient_duts.yaml --max-side 320 \
        --max-per-set 120 --max-for duts-tr=1300 --out build/gpupack-duts   # the DUTS variant: 31.8 MiB
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _resize(image: np.ndarray, max_side: int) -> np.ndarray:
    h, w = image.shape[:2]
    s = max_side / max(h, w)
    if s >= 1:
        return image
    return cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def _write(path: Path, image: np.ndarray, params: list[int]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(path.suffix, image, params)
    if not ok:
        raise RuntimeError(f"{path}: could not encode")
    path.write_bytes(data.tobytes())
    return len(data)


def pack_coarse(
    src: Path, dst: Path, max_side: int, quality: int, max_count: int, split: bool = True, scales: list | None = None
) -> int:
    """Pack a coarse set's photos (its ``train`` split, or all of them with ``split=False``: DUTS-TR, whose held-out
    set is DUTS-TE) and masks; ``scales`` collects each photo's resize factor."""
    from automatte.data.datasets import coarse_pairs, split_names

    pairs = coarse_pairs(src)
    train = split_names(sorted(pairs), 0.1, seed=0)[0] if split else sorted(pairs)
    if len(train) > max_count:  # a stable subset of exactly max_count: the first names in a hash order
        keep = set(sorted(train, key=lambda n: hashlib.sha1(f"1:{n}".encode()).digest())[:max_count])
        train = [n for n in train if n in keep]
    size = 0
    for name in train:
        image = cv2.imread(str(pairs[name][0]), cv2.IMREAD_COLOR)
        mask = cv2.imread(str(pairs[name][1]), cv2.IMREAD_GRAYSCALE)
        if image is None or mask is None:
            raise RuntimeError(f"{src}: cannot read {name}")
        if scales is not None:
            scales.append(min(1.0, max_side / max(image.shape[:2])))
        image = _resize(image, max_side)
        mask = cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_AREA)
        mask = np.where(mask >= 128 if mask.max() > 1 else mask >= 1, 255, 0).astype(np.uint8)
        size += _write(dst / "image" / f"{name}.jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        size += _write(dst / "mask" / f"{name}.png", mask, [cv2.IMWRITE_PNG_COMPRESSION, 9, cv2.IMWRITE_PNG_BILEVEL, 1])
    return size


def pack_cutouts(src: Path, dst: Path, max_side: int) -> int:
    from automatte.data.datasets import split_names

    files = {p.stem: p for p in sorted(src.glob("*.png"))}
    train, _ = split_names(sorted(files), 0.1, seed=0)
    size = 0
    for name in train:
        rgba = cv2.imread(str(files[name]), cv2.IMREAD_UNCHANGED)
        if rgba is None or rgba.ndim != 3 or rgba.shape[2] != 4:
            continue
        size += _write(dst / f"{name}.webp", _resize(rgba, max_side), [cv2.IMWRITE_WEBP_QUALITY, 90])
    return size


def pack_backgrounds(src: Path, dst: Path, max_side: int, quality: int) -> int:
    from automatte.io import list_images

    size = 0
    for i, path in enumerate(list_images(src, recursive=True)):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is not None:
            size += _write(dst / f"{path.parent.name}_{path.stem}.jpg", _resize(image, max_side),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])  # fmt: skip
    return size


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "deeplabv3plus_mnv2_salient_scenery.yaml"))
    parser.add_argument("--out", default=str(ROOT / "build" / "gpupack"))
    parser.add_argument("--max-side", type=int, default=448, help="long side of packed photos")
    parser.add_argument("--cutout-side", type=int, default=320)
    parser.add_argument("--bg-side", type=int, default=560)
    parser.add_argument("--quality", type=int, default=68)
    parser.add_argument("--max-per-set", type=int, default=300, help="photos per coarse set at most")
    parser.add_argument(
        "--max-for",
        action="append",
        default=[],
        metavar="NAME=N",
        help="photos at most for the coarse set NAME (a folder name, e.g. duts-tr=2500); repeatable",
    )
    parser.add_argument("--batch", type=int, default=32, help="global batch on the GPU")
    parser.add_argument("--workers", type=int, default=14)
    parser.add_argument(
        "--budget-mb",
        type=float,
        default=None,
        help="pack size limit (default: 62 MiB minus the checkout's tracked files, which travel too)",
    )
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    if out.exists():
        shutil.rmtree(out)
    config = Path(args.config).resolve()
    from automatte.train.config import DataConfig, read_experiment

    cfg = read_experiment(config)  # its `base:` chain resolved: the pack's experiment stands alone
    try:
        max_for = {k: int(v) for k, _, v in (item.partition("=") for item in args.max_for)}
    except ValueError:
        parser.error(f"--max-for: expected NAME=N, got {args.max_for}")
    # a set is packed once: its train split when any source reads it with `split: train`, else all of it
    split_paths = {
        str((ROOT / s["path"]).resolve())
        for s in cfg["data"]["train"]
        if s.get("path") and (s.get("kwargs") or {}).get("split") == "train"
    }
    total, packed_paths, scales = 0, {}, {}
    for source in cfg["data"]["train"]:
        original = source.get("path")
        kwargs = source.setdefault("kwargs", {}) or {}
        for key in ("path", "backgrounds"):
            value = source.get(key) if key == "path" else kwargs.get(key)
            if not value:
                continue
            # a background pool may be a list of folders: each is packed under backgrounds/<its name>
            values = list(value) if isinstance(value, (list, tuple)) else [value]
            moved = []
            for one in values:
                src = (ROOT / one).resolve()
                if key == "path":
                    dst = out / ("cutouts" if source["kind"] == "cutouts" else "coarse") / Path(one).name
                else:
                    dst = out / "backgrounds" / (Path(one).name if len(values) > 1 else "")
                if str(src) not in packed_paths:
                    if key == "backgrounds":
                        total += pack_backgrounds(src, dst, args.bg_side, args.quality)
                    elif source["kind"] == "cutouts":
                        total += pack_cutouts(src, dst, args.cutout_side)
                    else:
                        count = max_for.get(Path(one).name, args.max_per_set)
                        factors = scales.setdefault(str(src), [])
                        total += pack_coarse(src, dst, args.max_side, args.quality, count, str(src) in split_paths,
                                             factors)  # fmt: skip
                    packed_paths[str(src)] = dst
                    print(f"{one} -> {dst.relative_to(ROOT)}  ({total / 2**20:.1f} MiB so far)", flush=True)
                moved.append(str(packed_paths[str(src)].relative_to(ROOT)))
            if key == "path":
                source["path"] = moved[0]
            else:
                kwargs[key] = moved if len(values) > 1 else moved[0]
        kwargs.pop("split", None)
        own = (kwargs.get("augment") or {}).get("crop_sizes")
        factors = scales.get(str((ROOT / original).resolve())) if original else None
        if own and factors:  # a source's own crop sides follow its photos' resize
            kwargs["augment"]["crop_sizes"] = sorted({max(32, round(c * float(np.mean(factors)))) for c in own})
        if kwargs.get("backgrounds"):  # no blurred (enlarged) background squares from the small packed photos
            kwargs.setdefault("augment", {})["bg_max_upscale"] = 1.0
    scale = args.max_side / 800  # the shared photos' long sides are about 500-900 px
    data = cfg["data"]
    data.setdefault("crop_size", DataConfig.crop_size)
    sides = data.get("crop_sizes") or DataConfig().crop_sizes
    data["crop_sizes"] = sorted({max(data["crop_size"], round(c * scale / 32) * 32) for c in sides})
    data["batch_size"], data["workers"] = args.batch, args.workers
    cfg["train"].update({"device": "cuda", "amp": "bf16", "channels_last": True, "progress": False})
    with open(out / "experiment.yaml", "w", encoding="utf-8") as f:
        origin = config.relative_to(ROOT) if config.is_relative_to(ROOT) else config
        f.write(f"# made by tools/gpu_pack.py from {origin}\n")
        yaml.safe_dump(cfg, f, sort_keys=False)
    mib = total / 2**20
    if args.budget_mb is None:
        import subprocess

        tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
        tree = sum((ROOT / f).stat().st_size for f in tracked.decode().split("\0") if f and (ROOT / f).is_file())
        args.budget_mb = 62 - tree / 2**20
    print(f"pack: {mib:.1f} MiB in {out.relative_to(ROOT)}; experiment {out.relative_to(ROOT) / 'experiment.yaml'}")
    if mib > args.budget_mb:
        print(f"the pack is over its budget of {args.budget_mb} MiB: lower --max-side or --quality", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
