"""Build the project's data folder (ignored by git, never committed) from public datasets.

Today: **DUTS** (Wang et al., "Learning to Detect Salient Objects with Image-Level Supervision", CVPR 2017):
DUTS-TR (10,553 photos) and DUTS-TE (5,019), binary salient-object masks, about 400 px, as published in the
GitHub repository ``Nithurshen/salient-object-detection`` at commit ``80fe2211`` (``data/DUTS-TR/DUTS-TR-{Image,Mask}``,
``data/DUTS-TE/DUTS-TE-{Image,Mask}``). DUTS is research data: its photos come from ImageNet DET and SUN under
their terms (non-commercial research); rembg's U-2-Net weights were trained on it the same way.

The source is a folder that holds ``data/DUTS-TR`` (a ``git clone`` of that repository: a user with internet gets it
with ``git clone https://github.com/Nithurshen/salient-object-detection``) or a bare git directory (what the
project's ``fetch`` tool brings under ``../.mirror``), read with ``git archive`` at ``--commit``. The output has the
layout of ``../shared/data/coarse``, so every coarse-set reader and the trainer take it as is::

    data/coarse/duts-tr/image/NAME.jpg   data/coarse/duts-tr/mask/NAME.png   data/coarse/duts-tr/SOURCE.json
    data/coarse/duts-te/...

**Every file is checked here, not at training step N**: each photo must decode, each mask must decode and have the
photo's size, and is written as 8-bit grey 0 / 255 (DUTS's masks are binary with a few anti-aliased values;
two DUTS-TR masks are saved in colour, ``ILSVRC2014_train_00023530.png`` and ``n04442312_17818.png``, and are
converted to grey by their largest channel). A pair that fails is left out and listed with its reason in
``SOURCE.json`` and on stderr; empty masks (no object) are left out too. Files are written atomically; a second run
keeps what is there unless ``--overwrite``.

    .venv/bin/python tools/get_data.py --source ../.mirror/Nithurshen+salient-object-detection/repo
    .venv/bin/python tools/get_data.py --source ~/salient-object-detection --out data      # a clone
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DUTS_COMMIT = "80fe22116f44ff0f568740296582ed4007302564"
DUTS_REPO = "https://github.com/Nithurshen/salient-object-detection"
# output set -> (folder in the repository, image subfolder, mask subfolder)
DUTS_SETS = {
    "duts-tr": ("data/DUTS-TR", "DUTS-TR-Image", "DUTS-TR-Mask"),
    "duts-te": ("data/DUTS-TE", "DUTS-TE-Image", "DUTS-TE-Mask"),
}
TERMS = (
    "DUTS (Wang et al., CVPR 2017), research data: photos from ImageNet DET and SUN under their terms "
    "(non-commercial research use); masks by the DUTS authors."
)


def _is_bare_git(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and not (path / "data").is_dir()


def _materialise(source: Path, commit: str, folders: list[str], scratch: Path) -> Path:
    """A folder holding ``folders`` from ``source``: itself for a working tree, a ``git archive`` of ``commit``
    extracted into ``scratch`` for a bare git directory."""
    if not _is_bare_git(source):
        for folder in folders:
            if not (source / folder).is_dir():
                raise FileNotFoundError(f"{source / folder}: not found (expected a clone of {DUTS_REPO})")
        return source
    archive = subprocess.Popen(["git", f"--git-dir={source}", "archive", commit, *folders], stdout=subprocess.PIPE)
    untar = subprocess.run(["tar", "-x", "-C", str(scratch)], stdin=archive.stdout, capture_output=True)
    if archive.wait() != 0 or untar.returncode != 0:
        raise RuntimeError(f"{source}: git archive {commit} {' '.join(folders)} failed: {untar.stderr.decode()[:200]}")
    return scratch


def _grey_mask(path: Path) -> np.ndarray:
    """A mask file as uint8 (H, W) 0 / 255; colour masks by their largest channel."""
    with Image.open(path) as im:
        im.load()
        if im.mode in ("P", "PA", "LA", "RGBA", "RGB", "I", "I;16", "F", "1"):
            im = im.convert("RGB") if im.mode in ("P", "PA", "RGBA", "LA") else im
        array = np.asarray(im)
    if array.ndim == 3:
        array = array[..., :3].max(axis=2)
    array = array.astype(np.float64)
    top = 65535.0 if array.max() > 255 else 255.0
    return np.where(array / top >= 0.5, 255, 0).astype(np.uint8)


def _atomic_copy(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copyfile(src, tmp)
    tmp.replace(dst)


def _atomic_png(array: np.ndarray, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.tmp")
    Image.fromarray(array, "L").save(tmp, format="PNG", optimize=True)
    tmp.replace(dst)


def convert_pair(args: tuple[str, str, str, str, bool]) -> tuple[str, str | None]:
    """Check and write one (photo, mask) pair; returns (name, None) or (name, reason it was left out)."""
    name, image_src, mask_src, out, overwrite = args
    image_src, mask_src, out = Path(image_src), Path(mask_src), Path(out)
    image_dst, mask_dst = out / "image" / f"{name}.jpg", out / "mask" / f"{name}.png"
    if not overwrite and image_dst.is_file() and mask_dst.is_file():
        return name, None
    try:
        with Image.open(image_src) as im:
            im.load()
            size = im.size
            fmt = im.format
    except Exception as exc:  # noqa: BLE001 - any decoder error leaves the pair out, with its reason
        return name, f"{image_src.name}: photo does not decode ({exc})"
    try:
        mask = _grey_mask(mask_src)
    except Exception as exc:  # noqa: BLE001
        return name, f"{mask_src.name}: mask does not decode ({exc})"
    if (mask.shape[1], mask.shape[0]) != size:
        return name, f"{mask_src.name}: mask {mask.shape[1]}x{mask.shape[0]} != photo {size[0]}x{size[1]}"
    if not mask.any():
        return name, f"{mask_src.name}: empty mask (no object)"
    if fmt == "JPEG":
        _atomic_copy(image_src, image_dst)
    else:
        with Image.open(image_src) as im:
            tmp = image_dst.with_name(f".{image_dst.name}.tmp")
            im.convert("RGB").save(tmp, format="JPEG", quality=95)
            tmp.replace(image_dst)
    _atomic_png(mask, mask_dst)
    return name, None


def build_set(name: str, tree: Path, out: Path, overwrite: bool, jobs: int, source_label: str, commit: str) -> dict:
    folder, image_sub, mask_sub = DUTS_SETS[name]
    images = {p.stem: p for p in sorted((tree / folder / image_sub).iterdir()) if not p.name.startswith(".")}
    masks = {p.stem: p for p in sorted((tree / folder / mask_sub).iterdir()) if not p.name.startswith(".")}
    dst = out / "coarse" / name
    (dst / "image").mkdir(parents=True, exist_ok=True)
    (dst / "mask").mkdir(parents=True, exist_ok=True)
    left_out = {n: "no mask" for n in sorted(set(images) - set(masks))}
    left_out.update({n: "no photo" for n in sorted(set(masks) - set(images))})
    work = [(n, str(images[n]), str(masks[n]), str(dst), overwrite) for n in sorted(set(images) & set(masks))]
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(convert_pair, work, chunksize=64))
    else:
        results = [convert_pair(item) for item in work]
    left_out.update({pair: reason for pair, reason in results if reason})
    for pair, reason in sorted(left_out.items()):
        print(f"{name}: left out {pair}: {reason}", file=sys.stderr)
        for stale in (dst / "image" / f"{pair}.jpg", dst / "mask" / f"{pair}.png"):
            stale.unlink(missing_ok=True)
    kept = sum(1 for w in work if w[0] not in left_out)
    record = {
        "set": name,
        "source": f"{DUTS_REPO} @ {commit}: {folder}",
        "read_from": source_label,
        "terms": TERMS,
        "pairs": kept,
        "left_out": left_out,
    }
    tmp = dst / ".SOURCE.json.tmp"
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(dst / "SOURCE.json")
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", required=True, help="a clone of the DUTS repository or its bare git directory")
    parser.add_argument("--commit", default=DUTS_COMMIT, help="commit to read from a bare git directory")
    parser.add_argument("--out", default=str(ROOT / "data"), help="the data folder to build (default: data/)")
    parser.add_argument("--sets", default=",".join(DUTS_SETS), help="sets to build (comma-separated)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--overwrite", action="store_true", help="rewrite pairs already in the data folder")
    args = parser.parse_args(argv)
    source, out = Path(args.source).expanduser().resolve(), Path(args.out).resolve()
    if not source.exists():
        parser.error(f"{source}: no such folder")
    sets = [s for s in args.sets.split(",") if s]
    unknown = sorted(set(sets) - set(DUTS_SETS))
    if unknown:
        parser.error(f"--sets: unknown {unknown}; expected some of {sorted(DUTS_SETS)}")
    with tempfile.TemporaryDirectory(prefix="automatte-data-") as scratch:
        try:
            tree = _materialise(source, args.commit, [DUTS_SETS[s][0] for s in sets], Path(scratch))
        except (FileNotFoundError, RuntimeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for name in sets:
            record = build_set(name, tree, out, args.overwrite, args.jobs, str(source), args.commit)
            print(f"{name}: {record['pairs']} pairs in {out / 'coarse' / name} ({len(record['left_out'])} left out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
