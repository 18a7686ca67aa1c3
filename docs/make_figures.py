"""The pictures of the README and docs/: what the shipped models do on real photos.

* ``docs/readme_chelsea.jpg``: examples/chelsea.jpg (CC0) -> alpha, cutout (on a checkerboard), composite on
  a blurred copy: the README's main figure, made with the shipped default model.
* ``docs/examples_contact.jpg``: one row per photo of ``../shared/data/examples`` (the alphamatting.com test
  inputs: shown small, for judging results only) and of ``examples/``: input, then alpha and cutout of each
  pipeline given (default: the shipped default model and the two-stage pipeline).

* ``docs/stage_speed.png`` (``--speed``, matplotlib): warm per-stage latency of the default pipeline per size
  (stacked: segment, trimap, refine, foreground) beside pymatting's closed-form and foreground estimation on the
  same photo and trimap, from ``benchmarks/stage_speed.py --json docs/stage_speed.json``; with
  ``docs/batch_speed.json`` (``benchmarks/batch_speed.py --json``) a second panel: a folder's photos per second.

* ``docs/band_trimaps.jpg`` (``--band CKPT``): the learned band of a segmenter with a band head (issue 27, item 4;
  ``configs/deeplabv3plus_mnv2_band_synth.yaml``) on the same photos: input, the head's P(unknown), the fixed 2 %
  trimap, the learned trimap (``band_mode="learned"``), and the alpha of each.

Usage (from the repository root):
    .venv/bin/python docs/make_figures.py [--pipelines default,twostage] [--shared ../shared/data]
    .venv/bin/python docs/make_figures.py --speed docs/stage_speed.json [--batch docs/batch_speed.json]
    .venv/bin/python docs/make_figures.py --band runs/band/last.pt [--band-options band_threshold=0.7]
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
    from automatte.io import read_image

    rows = []
    for photo in photos:
        image = read_image(photo)
        tiles = [_label(_fit(np.clip(np.rint(image * 255), 0, 255).astype(np.uint8), height), photo.stem)]
        for name, pipeline in pipelines.items():
            alpha, cutout = _views(pipeline(image))
            tiles += [_label(_fit(alpha, height), f"{name} alpha"), _label(_fit(cutout, height), f"{name} cutout")]
        rows.append(_row(tiles, height))
        print(f"  {photo.name}", flush=True)
    _write_sheet(rows, out)


def _row(tiles: list[np.ndarray], height: int) -> np.ndarray:
    """Tiles of one height side by side, 4 white pixels apart."""
    gap = np.full((height, 4, 3), 255, np.uint8)
    return np.concatenate(sum(([t, gap] for t in tiles), [])[:-1], axis=1)


def _write_sheet(rows: list[np.ndarray], out: Path) -> None:
    """Rows of tiles one under another, padded white to the widest, as a JPEG."""
    from automatte.io import write_image

    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    write_image(out, np.concatenate(rows, axis=0), quality=85)


def band_sheet(fixed, learned, photos: list[Path], out: Path, height: int = 150) -> None:
    """One row per photo: input, P(unknown) of ``learned``'s band head, the fixed trimap, the learned one, and
    the alpha of each pipeline (both the default's options on the same segmenter; only ``band_mode`` differs)."""
    from automatte.io import read_image

    grey = lambda a: np.repeat(np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)[..., None], 3, axis=2)  # noqa: E731
    rows = []
    for photo in photos:
        image = read_image(photo)
        prob, unknown = learned._segment_band(image)
        views = {
            photo.stem: np.clip(np.rint(image * 255), 0, 255).astype(np.uint8),
            "P(unknown)": grey(unknown),
            "fixed trimap": grey(fixed._trimap_from_mask(prob, True)),
            "learned trimap": grey(learned._trimap_from_mask(prob, True, unknown)),
            "fixed alpha": grey(fixed(image).alpha),
            "learned alpha": grey(learned(image).alpha),
        }
        rows.append(_row([_label(_fit(v, height), k) for k, v in views.items()], height))
        print(f"  {photo.name}", flush=True)
    _write_sheet(rows, out)


def _example_photos(shared: str) -> list[Path]:
    photos = sorted((Path(shared) / "examples" / "alphamatting-test").glob("*.jpg"))
    return photos + sorted((ROOT / "examples").glob("*.jpg"))


STAGE_COLOURS = {"segment": "#4c72b0", "trimap": "#8c8c8c", "refine": "#dd8452", "foreground": "#55a868"}
PEER_COLOURS = {"pymatting-cf": "#c44e52", "pymatting-fg": "#937860", "total [torch]": "#8172b3"}


def speed_chart(stage_rows: list[dict], out: Path, batch_rows: list[dict] | None = None) -> None:
    """Bars of warm latency per size: the default's stages stacked, the peers beside (``stage_speed.py``'s rows);
    with ``batch_rows`` (``batch_speed.py``'s) a second panel of photos per second."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 if batch_rows else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.2 * panels, 4.2), gridspec_kw={"width_ratios": [3, 2][:panels]})
    ax = axes[0] if panels == 2 else axes
    peers = [k for k in PEER_COLOURS if all(k in r["median_s"] for r in stage_rows)]
    width = 0.8 / (1 + len(peers))
    for i, row in enumerate(stage_rows):
        med, bottom = row["median_s"], 0.0
        for stage, colour in STAGE_COLOURS.items():
            ax.bar(i, med[stage], width, bottom=bottom, color=colour, label=stage if i == 0 else None)
            bottom += med[stage]
        ax.text(i, bottom, f"{med['total']:.2f}", ha="center", va="bottom", fontsize=8)
        for j, peer in enumerate(peers, start=1):
            name = "default, segmenter on PyTorch" if peer == "total [torch]" else peer
            ax.bar(i + j * width, med[peer], width, color=PEER_COLOURS[peer], label=name if i == 0 else None)
            ax.text(i + j * width, med[peer], f"{med[peer]:.2f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks([i + width * len(peers) / 2 for i in range(len(stage_rows))])
    ax.set_xticklabels([f"{r['MP']:g} MP\n{r['size']}" for r in stage_rows])
    ax.set_ylabel("seconds per photo (warm, median)")
    ax.set_title("default pipeline's stages beside pymatting", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    if batch_rows:
        bx = axes[1]
        names = [r["case"] for r in batch_rows]
        rates = [r["photos_per_s"] for r in batch_rows]
        colours = ["#c44e52" if n.startswith("peer") else "#4c72b0" for n in names]
        bx.barh(range(len(names)), rates, color=colours)
        for k, rate in enumerate(rates):
            bx.text(rate, k, f" {rate:.2f}", va="center", fontsize=8)
        bx.set_xlim(0, max(rates) * 1.15)
        bx.set_yticks(range(len(names)))
        bx.set_yticklabels([n.replace("peer:u2netp+cf", "rembg U-2-Netp\n+ pymatting cf, fg") for n in names])
        bx.invert_yaxis()
        bx.set_xlabel("photos per second")
        first = batch_rows[0]
        bx.set_title(f"a folder of {first['photos']} photos of {first['MP']:.1f} MP", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", default="default,twostage")
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--speed", default=None, help="only the speed chart, from stage_speed.py's JSON")
    parser.add_argument("--batch", default=None, help="with --speed: batch_speed.py's JSON (second panel)")
    parser.add_argument("--band", default=None, help="only the band sheet, of this band-head segmenter checkpoint")
    parser.add_argument("--band-options", default="", help="with --band: KEY=VALUE,... for the learned pipeline")
    args = parser.parse_args(argv)
    if args.speed:
        import json

        batch = json.loads(Path(args.batch).read_text()) if args.batch else None
        out = ROOT / "docs" / "stage_speed.png"
        speed_chart(json.loads(Path(args.speed).read_text()), out, batch)
        print(f"wrote {out.relative_to(ROOT)}")
        return 0
    from automatte.api import load_model

    if args.band:
        import json

        extra = {k: json.loads(v) for k, _, v in (o.partition("=") for o in args.band_options.split(",") if o)}
        fixed = load_model("default", segmenter=args.band, foreground="none")
        learned = load_model("default", segmenter=args.band, foreground="none", band_mode="learned", **extra)
        out = ROOT / "docs" / "band_trimaps.jpg"
        band_sheet(fixed, learned, _example_photos(args.shared), out)
        print(f"wrote {out.relative_to(ROOT)}")
        return 0
    pipelines = {name: load_model(name) for name in args.pipelines.split(",") if name}
    readme_figure(pipelines[next(iter(pipelines))], ROOT / "docs" / "readme_chelsea.jpg")
    print("wrote docs/readme_chelsea.jpg")
    photos = _example_photos(args.shared)
    contact_sheet(pipelines, photos, ROOT / "docs" / "examples_contact.jpg")
    print(f"wrote docs/examples_contact.jpg ({len(photos)} photos x {', '.join(pipelines)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
