"""The pictures of the README and docs/: what the shipped models do on real photos.

* ``docs/readme_chelsea.jpg``: examples/chelsea.jpg (CC0) -> alpha, cutout (on a checkerboard), composite on
  a blurred copy: the README's main figure, made with the shipped default model.
* ``docs/examples_contact.jpg``: one row per photo of ``../shared/data/examples`` (the alphamatting.com test
  inputs: shown small, for judging results only) and of ``examples/``: input, then alpha and cutout of each
  pipeline given (default: the shipped default model and the two-stage pipeline).

Usage (from the repository root):
    .venv/bin/python docs/make_figures.py [--pipelines default,twostage] [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    out = tile.copy()
    cv2.rectangle(out, (0, 0), (min(out.shape[1], 9 * len(text) + 8), 20), (255, 255, 255), -1)
    cv2.putText(out, text, (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def _fit(image: np.ndarray, height: int) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.resize(image, (max(1, round(w * height / h)), height), interpolation=cv2.INTER_AREA)


def _views(result) -> tuple[np.ndarray, np.ndarray]:
    alpha = np.repeat(np.clip(np.rint(result.alpha * 255), 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    return alpha, result.composite("checker")


def readme_figure(pipeline, out: Path, height: int = 300) -> None:
    from automatte.io import write_image

    result = pipeline(ROOT / "examples" / "chelsea.jpg")
    alpha, cutout = _views(result)
    photo = np.clip(np.rint(result.image * 255), 0, 255).astype(np.uint8)
    tiles = [
        _label(_fit(photo, height), "photo"),
        _label(_fit(alpha, height), "alpha"),
        _label(_fit(cutout, height), "cutout"),
        _label(_fit(result.composite("blur"), height), "on its blurred copy"),
    ]
    gap = np.full((height, 6, 3), 255, np.uint8)
    write_image(out, np.concatenate(sum(([t, gap] for t in tiles), [])[:-1], axis=1), quality=90)


def contact_sheet(pipelines: dict, photos: list[Path], out: Path, height: int = 150) -> None:
    from automatte.io import read_image, write_image

    rows = []
    for photo in photos:
        image = read_image(photo)
        tiles = [_label(_fit(np.clip(np.rint(image * 255), 0, 255).astype(np.uint8), height), photo.stem)]
        for name, pipeline in pipelines.items():
            alpha, cutout = _views(pipeline(image))
            tiles += [_label(_fit(alpha, height), f"{name} alpha"), _label(_fit(cutout, height), f"{name} cutout")]
        gap = np.full((height, 4, 3), 255, np.uint8)
        rows.append(np.concatenate(sum(([t, gap] for t in tiles), [])[:-1], axis=1))
        print(f"  {photo.name}", flush=True)
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    write_image(out, np.concatenate(rows, axis=0), quality=85)


def main(argv=None) -> int:
    from automatte.api import load_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", default="default,twostage")
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    args = parser.parse_args(argv)
    pipelines = {name: load_model(name) for name in args.pipelines.split(",") if name}
    readme_figure(pipelines[next(iter(pipelines))], ROOT / "docs" / "readme_chelsea.jpg")
    print("wrote docs/readme_chelsea.jpg")
    photos = sorted((Path(args.shared) / "examples" / "alphamatting-test").glob("*.jpg"))
    photos += sorted((ROOT / "examples").glob("*.jpg"))
    contact_sheet(pipelines, photos, ROOT / "docs" / "examples_contact.jpg")
    print(f"wrote docs/examples_contact.jpg ({len(photos)} photos x {', '.join(pipelines)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
