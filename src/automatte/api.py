"""Image in, :class:`Matte` out: the Python API behind ``automatte predict`` and ``automatte serve``.

``automatte.matte(photo)`` runs the shipped default model; ``automatte.load_model(name)`` keeps a pipeline
loaded for many calls. A pipeline is made of up to three parts, chosen by the model name:

* a **one-stage** trimap-free network (shipped default, AIM-Net, PP-Matting, PPID students): image -> alpha,
  at high resolution with AIM's hybrid strategy (:mod:`automatte.infer.highres`);
* a **refiner**: a trimap-based network (IndexNet, DIM, GCA, ViTMatte-S, SPAMattNet) or a classical solver
  (``cf`` closed-form, ``knn``, ``lkm``: pymatting) that turns image + trimap into alpha;
* a **segmenter**: image -> salient-foreground probability, the first stage of the two-stage pipeline.

What runs for one call:

1. a user ``trimap`` -> the refiner (the shipped refiner network when the pipeline has none);
2. a user ``mask`` -> trimap (unknown band of ``band`` x the long side around the mask's edge) -> the refiner;
3. a one-stage network -> alpha (``strategy``: ``"whole"``, ``"hybrid"``, ``"tiled"``, ``"auto"``);
4. otherwise the two-stage pipeline: segmenter -> mask -> trimap -> refiner -> fusion: ``"hard"`` (the trimap's
   known regions are 0 / 1, the refiner's alpha in the band) or ``"soft"`` (TGN paper eq. 15,
   ``alpha = F + U alpha_hat``, with U a feathered band and F = (1 - U) x the segmenter's probability).

Names ``load_model`` accepts: ``"default"`` (or None), a shipped model (``automatte models``), ``"twostage"``
(shipped segmenter -> shipped refiner network), ``"twostage-cf"`` / ``"-knn"`` / ``"-lkm"`` (classical refiner),
``"cf"`` / ``"knn"`` / ``"lkm"`` (classical refiner; the segmenter supplies the mask when no hint is given), a
training checkpoint or weights file (``.pt``, ``.pth``, ``.safetensors``; the architecture is read from it or
given as ``arch=``), an ``.onnx`` file, or a registry architecture (untrained weights, with a warning: for
plumbing tests only). ``backend="onnx"`` runs the networks through ONNX Runtime.

Example:
    >>> import numpy as np, automatte
    >>> img = np.zeros((40, 60, 3), np.float32); img[:, 30:] = 1
    >>> tri = np.zeros((40, 60), np.float32); tri[:, 26:34] = 0.5; tri[:, 34:] = 1
    >>> m = automatte.matte(img, model="cf", trimap=tri, foreground="blur_fusion")
    >>> m.alpha.shape, m.rgba().shape, bool(m.alpha[:, :20].max() < 0.05)
    ((40, 60), (40, 60, 4), True)
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import cv2
import numpy as np

__all__ = ["Matte", "Pipeline", "matte", "load_model", "list_pipelines", "parse_background", "as_image"]

CLASSICAL = ("cf", "knn", "lkm")
STRATEGIES = ("auto", "whole", "hybrid", "tiled")
FUSIONS = ("hard", "soft")
BAND_MODES = ("fixed", "uncertainty")
ML_FOREGROUND_MAX_PIXELS = 4_000_000  # above this, "auto" foreground uses blur fusion (memory, time)
CLASSICAL_MAX_PIXELS = 1_000_000  # classical refiners solve at most this many pixels (then upsample)
WHOLE_MAX_SIDE = 1024  # networks run in one pass up to this long side, in tiles above


# --------------------------------------------------------------------------------------------- inputs


def as_image(image: Any, name: str | None = None) -> np.ndarray:
    """(H, W, 3) float32 RGB in [0, 1] from a path, bytes, PIL image or array (uint8, uint16, float, grey, RGBA)."""
    from automatte.io import read_image

    if isinstance(image, (str, os.PathLike, bytes, bytearray)) or hasattr(image, "read"):
        return read_image(image if not isinstance(image, bytearray) else bytes(image), name=name).astype(np.float32)
    if hasattr(image, "convert") and hasattr(image, "size"):  # PIL
        image = np.asarray(image.convert("RGB"))
    arr = np.asarray(image)
    label = name or "image"
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or min(arr.shape[:2]) < 1:
        raise ValueError(f"{label}: expected an (H, W, 3) image, got shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    arr = arr[..., :3]
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{label}: unsupported dtype {arr.dtype} (expected uint8, uint16 or float in [0, 1])")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all() or arr.min() < -1e-3 or arr.max() > 1 + 1e-3:
        raise ValueError(f"{label}: float images must be finite and in [0, 1]")
    return np.clip(arr, 0.0, 1.0)


def _as_map(value: Any, shape: tuple[int, int] | None, kind: str) -> np.ndarray:
    """A user trimap ({0, 0.5, 1}) or mask ([0, 1]) as (H, W) float32 at the image's size."""
    from automatte.io import read_alpha, read_trimap
    from automatte.ops.trimap import quantize_trimap

    if isinstance(value, (str, os.PathLike, bytes)):
        arr = read_trimap(value) if kind == "trimap" else read_alpha(value)
        label = str(value) if not isinstance(value, bytes) else f"<{kind}>"
    else:
        arr, label = np.asarray(value), kind
        if arr.ndim == 3:
            arr = arr[..., 0]
        if arr.dtype == np.uint8:
            arr = arr.astype(np.float32) / 255.0
        elif arr.dtype == bool:
            arr = arr.astype(np.float32)
        arr = arr.astype(np.float32)
        if arr.ndim != 2 or not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
            raise ValueError(f"{kind}: expected an (H, W) map in [0, 1], got shape {arr.shape}")
        if kind == "trimap":
            arr = quantize_trimap(arr)
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{label}: {kind} is {arr.shape[1]}x{arr.shape[0]} but the image is {shape[1]}x{shape[0]}")
    return arr.astype(np.float32)


_COLOURS = {"green": (0, 177, 64)}  # chroma-key green; other names follow PIL's ImageColor


def parse_background(background: Any, shape: tuple[int, int], image: np.ndarray | None = None) -> np.ndarray:
    """A background as (H, W, 3) float32 in [0, 1] for :meth:`Matte.composite`.

    ``background``: a colour (name, ``"#rrggbb"``, ``"rgb(r,g,b)"``, an (r, g, b) tuple of 0-255 ints or 0-1
    floats), ``"blur"`` (the photo itself, strongly blurred: a portrait-mode look), ``"checker"`` (the
    transparency checkerboard), or an image (path or array) fitted to cover the frame (scaled, centre-cropped).
    """
    h, w = shape
    if isinstance(background, str) and background.lower() == "blur":
        if image is None:
            raise ValueError("background 'blur' needs the image")
        sigma = max(h, w) / 60.0
        return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
    if isinstance(background, str) and background.lower() == "checker":
        cell = max(8, max(h, w) // 64)
        yy, xx = np.mgrid[0:h, 0:w]
        board = (((yy // cell) + (xx // cell)) % 2).astype(np.float32) * 0.2 + 0.7
        return np.repeat(board[..., None], 3, axis=2)
    if isinstance(background, str) and not Path(background).suffix:
        from PIL import ImageColor

        try:
            rgb = _COLOURS.get(background.lower()) or ImageColor.getrgb(background)[:3]
        except ValueError:
            raise ValueError(f"background {background!r}: not a colour name, #rrggbb, 'blur', 'checker' or an image file") from None
        return np.broadcast_to(np.asarray(rgb, np.float32) / 255.0, (h, w, 3)).copy()
    if isinstance(background, (tuple, list)) and len(background) == 3:
        rgb = np.asarray(background, np.float32)
        rgb = rgb / 255.0 if rgb.max() > 1 else rgb
        return np.broadcast_to(np.clip(rgb, 0, 1), (h, w, 3)).copy()
    bg = as_image(background, name=str(background) if isinstance(background, (str, os.PathLike)) else None)
    bh, bw = bg.shape[:2]
    scale = max(h / bh, w / bw)  # cover the frame
    nh, nw = max(h, round(bh * scale)), max(w, round(bw * scale))
    bg = cv2.resize(bg, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    y0, x0 = (nh - h) // 2, (nw - w) // 2
    return np.ascontiguousarray(bg[y0 : y0 + h, x0 : x0 + w])


# --------------------------------------------------------------------------------------------- result


@dataclass
class Matte:
    """The result of one image.

    Attributes:
        alpha: (H, W) float32 in [0, 1].
        foreground: (H, W, 3) float32 in [0, 1]: estimated foreground colours (None with ``foreground="none"``).
        image: (H, W, 3) float32: the input (for composites).
        trimap: (H, W) float32 in {0, 0.5, 1}: the trimap the pipeline used or predicted, when it has one.
        model: the pipeline's name.
        timings: seconds per stage (``read``, ``segment``, ``matting``, ``refine``, ``foreground``, ``total``).
    """

    alpha: np.ndarray
    foreground: np.ndarray | None
    image: np.ndarray
    trimap: np.ndarray | None = None
    model: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    def _colours(self) -> np.ndarray:
        return self.foreground if self.foreground is not None else self.image

    def rgba(self) -> np.ndarray:
        """(H, W, 4) uint8 cutout: the foreground colours with alpha as the fourth channel."""
        rgba = np.concatenate([self._colours(), self.alpha[..., None]], axis=2)
        return np.clip(np.rint(rgba * 255.0), 0, 255).astype(np.uint8)

    def composite(self, background: Any = "white") -> np.ndarray:
        """(H, W, 3) uint8: ``alpha F + (1 - alpha) B`` over a colour, an image (fitted), 'blur' or 'checker'."""
        bg = parse_background(background, self.alpha.shape, self.image)
        a = self.alpha[..., None]
        out = a * self._colours() + (1.0 - a) * bg
        return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------- runners


class TorchRunner:
    """Calls a registry network under inference mode: ``runner(image, trimap=None, mask=None) -> MattingOutput``."""

    def __init__(self, net, device: str = "cpu"):
        import torch

        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.inputs = tuple(getattr(net, "model_inputs", ("image",)))
        self.name = getattr(net, "model_name", type(net).__name__)

    def __call__(self, image, trimap=None, mask=None):
        import torch

        feeds = {"image": image, "trimap": trimap, "mask": mask}
        with torch.inference_mode():
            args = {k: feeds[k].to(self.device, torch.float32) for k in self.inputs}
            out = self.net(**args)
        out.alpha = out.alpha.float().cpu()
        if out.trimap_logits is not None:
            out.trimap_logits = out.trimap_logits.float().cpu()
        return out


class OnnxRunner:
    """The same contract through ONNX Runtime (alpha only; no trimap logits)."""

    def __init__(self, path: str | os.PathLike, device: str = "cpu", name: str | None = None):
        import onnxruntime as ort

        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if str(device).startswith("cuda") else ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(path), providers=providers)
        self.inputs = tuple(i.name for i in self.session.get_inputs())
        unknown = set(self.inputs) - {"image", "trimap", "mask"}
        if unknown:
            raise ValueError(f"{path}: ONNX inputs must be named image / trimap / mask, got {', '.join(self.inputs)}")
        self.name = name or Path(path).stem

    def __call__(self, image, trimap=None, mask=None):
        import torch

        from automatte.models.output import MattingOutput

        feeds = {"image": image, "trimap": trimap, "mask": mask}
        arrays = {k: feeds[k].detach().cpu().float().numpy() for k in self.inputs}
        alpha = self.session.run(["alpha"], arrays)[0]
        return MattingOutput(alpha=torch.from_numpy(alpha))


def onnx_cache_path(net, tag: str) -> Path:
    """Where ``backend="onnx"`` keeps the exported graph of a network (keyed by its weights)."""
    digest = hashlib.sha256()
    for key, value in sorted(net.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().numpy().tobytes()[:4096])
        digest.update(str(tuple(value.shape)).encode())
    root = Path(os.environ.get("AUTOMATTE_CACHE", Path.home() / ".cache" / "automatte")) / "onnx"
    return root / f"{tag}-{digest.hexdigest()[:16]}.onnx"


def _runner(net, device: str, backend: str, tag: str):
    if backend == "torch":
        return TorchRunner(net, device)
    if backend != "onnx":
        raise ValueError(f"backend must be 'torch' or 'onnx', got {backend!r}")
    from automatte.infer.export import export_onnx

    path = onnx_cache_path(net, tag)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(net, path, height=64, width=64)
    return OnnxRunner(path, device, name=getattr(net, "model_name", tag))


def _to_tensor(image: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]


def _plane(x: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, None]


def _numpy(x) -> np.ndarray:
    return x[0, 0].detach().cpu().numpy().astype(np.float32)


# --------------------------------------------------------------------------------------------- pipeline


class Pipeline:
    """A loaded matting pipeline; call it on images (see the module docstring for what runs when).

    Args:
        name: shown in results and logs.
        matting: one-stage runner (image -> alpha) or None.
        refiner: trimap-based runner, a classical method name (``"cf"``, ``"knn"``, ``"lkm"``) or None.
        segmenter: runner giving the salient-foreground probability as ``alpha``, or None.
        guided: a runner taking image + coarse mask (TGN + SPAMattNet), or None.
        strategy: one-stage resolution strategy (``STRATEGIES``).
        global_long_side: long side of the global pass (and of ``"whole"`` for larger images).
        detail_long_side: long side of the detail pass (None: full resolution).
        tile, overlap: tiling of detail / refiner passes.
        segment_long_side: the segmenter's input long side.
        segment_flip: also run the segmenter on the mirrored image and average the two probabilities
            (test-time augmentation; twice the segmenter's time).
        band: unknown-band width of trimaps made from masks, as a fraction of the image's long side.
        band_mode: trimaps from the segmenter's probability: ``"fixed"`` (``band`` around its 0.5 contour) or
            ``"uncertainty"`` (a ``band_min`` band around the contour plus every pixel with a probability
            between ``unsure[0]`` and ``unsure[1]``: :func:`automatte.ops.trimap.trimap_from_probability`).
            User masks always get the fixed band.
        fusion: two-stage fusion, ``"hard"`` or ``"soft"``.
        foreground: ``"auto"`` (pymatting ``ml`` up to 4 MP, ``blur_fusion`` above), ``"ml"``,
            ``"blur_fusion"`` or ``"none"``.
        max_size: inputs whose long side exceeds this are shrunk to it first (area interpolation); results
            and hints are at the shrunk size. None: full size.
    """

    def __init__(
        self,
        name: str,
        *,
        matting=None,
        refiner=None,
        segmenter=None,
        guided=None,
        strategy: str = "auto",
        global_long_side: int = 640,
        detail_long_side: int | None = 1280,
        tile: int = 512,
        overlap: int = 64,
        segment_long_side: int = 512,
        segment_flip: bool = False,
        band: float = 0.02,
        band_mode: str = "fixed",
        band_min: float = 0.006,
        unsure: tuple[float, float] = (0.1, 0.9),
        fusion: str = "hard",
        foreground: str = "auto",
        max_size: int | None = None,
    ):
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}")
        if isinstance(refiner, str) and refiner not in CLASSICAL:
            raise ValueError(f"classical refiner must be one of {', '.join(CLASSICAL)}, got {refiner!r}")
        if not 0 < band < 0.5 or not 0 < band_min < 0.5:
            raise ValueError(f"band and band_min must be in (0, 0.5), got {band}, {band_min}")
        if band_mode not in BAND_MODES:
            raise ValueError(f"band_mode must be one of {', '.join(BAND_MODES)}, got {band_mode!r}")
        if not 0 <= unsure[0] < 0.5 < unsure[1] <= 1:
            raise ValueError(f"unsure must be (low, high) with 0 <= low < 0.5 < high <= 1, got {unsure!r}")
        self.name, self.matting, self.refiner, self.segmenter, self.guided = name, matting, refiner, segmenter, guided
        self.strategy, self.global_long_side, self.detail_long_side = strategy, int(global_long_side), detail_long_side
        self.tile, self.overlap, self.segment_long_side = int(tile), int(overlap), int(segment_long_side)
        self.band, self.fusion, self.foreground = float(band), fusion, foreground
        self.segment_flip, self.band_mode, self.band_min = bool(segment_flip), band_mode, float(band_min)
        self.unsure = (float(unsure[0]), float(unsure[1]))
        self.max_size = None if max_size is None else int(max_size)
        if self.max_size is not None and self.max_size < 32:
            raise ValueError(f"max_size must be >= 32, got {max_size}")

    def _read(self, image: Any, name: str | None = None) -> np.ndarray:
        img = as_image(image, name=name)
        h, w = img.shape[:2]
        if self.max_size is None or max(h, w) <= self.max_size:
            return img
        s = self.max_size / max(h, w)
        return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)

    def _hint(self, value: Any, shape: tuple[int, int], kind: str) -> np.ndarray:
        """A user trimap / mask, shrunk like the image when ``max_size`` applied (nearest for trimaps)."""
        arr = _as_map(value, None, kind)
        if arr.shape != shape and self.max_size is not None:
            interp = cv2.INTER_NEAREST if kind == "trimap" else cv2.INTER_AREA
            arr = cv2.resize(np.asarray(arr, np.float32), (shape[1], shape[0]), interpolation=interp)
        return _as_map(arr, shape, kind)

    def __repr__(self) -> str:
        parts = [f"{k}={getattr(v, 'name', v)!r}" for k, v in (("matting", self.matting), ("refiner", self.refiner),
                 ("segmenter", self.segmenter), ("guided", self.guided)) if v is not None]
        return f"Pipeline({self.name!r}, {', '.join(parts)})"

    # ------------------------------------------------------------------ stages

    def _one_stage(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        from automatte.infer.highres import predict_hybrid, predict_tiled, predict_whole

        x = _to_tensor(image)
        long_side = max(image.shape[:2])
        strategy = self.strategy
        if strategy == "auto":
            strategy = "whole" if long_side <= 1.25 * self.global_long_side else "hybrid"
        if strategy == "whole":
            target = None if long_side <= 1.25 * self.global_long_side else self.global_long_side
            alpha, probs = predict_whole(self.matting, x, long_side=target)
            trimap = None if probs is None else _numpy(probs.argmax(1, keepdim=True).float() / 2)
            return _numpy(alpha), trimap
        if strategy == "tiled":
            return _numpy(predict_tiled(self.matting, x, tile=self.tile, overlap=self.overlap)), None
        alpha, trimap = predict_hybrid(self.matting, x, global_long_side=self.global_long_side,
                                       detail_long_side=self.detail_long_side, tile=self.tile, overlap=self.overlap)
        return _numpy(alpha), _numpy(trimap)

    def _band_kernel(self, shape: tuple[int, int], band: float | None = None) -> int:
        k = max(3, int(round((self.band if band is None else band) * max(shape))))
        return k + 1 - k % 2

    def _trimap_from_mask(self, mask: np.ndarray, from_segmenter: bool = False) -> np.ndarray:
        from automatte.ops.trimap import trimap_from_mask, trimap_from_probability

        if from_segmenter and self.band_mode == "uncertainty":
            k = self._band_kernel(mask.shape, self.band_min)
            return trimap_from_probability(mask, k, *self.unsure)
        return trimap_from_mask(mask, kernel_size=self._band_kernel(mask.shape)).astype(np.float32)

    def _segment(self, image: np.ndarray) -> np.ndarray:
        from automatte.infer.highres import predict_whole

        if self.segmenter is None:
            raise ValueError(f"pipeline {self.name!r} needs a trimap or a mask for this image (it has no segmenter)")
        x = _to_tensor(image)
        alpha, _ = predict_whole(self.segmenter, x, long_side=self.segment_long_side)
        if self.segment_flip:  # test-time augmentation: the mirrored image's probability, mirrored back
            mirrored, _ = predict_whole(self.segmenter, x.flip(-1), long_side=self.segment_long_side)
            alpha = 0.5 * (alpha + mirrored.flip(-1))
        return _numpy(alpha)

    def _refine(self, image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
        refiner = self.refiner if self.refiner is not None else _default_refiner()
        if isinstance(refiner, str):
            from automatte.infer.classical import classical_alpha

            h, w = trimap.shape
            scale = min(1.0, (CLASSICAL_MAX_PIXELS / (h * w)) ** 0.5)
            if scale < 1.0:
                size = (max(1, round(w * scale)), max(1, round(h * scale)))
                small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
                small_tri = cv2.resize(trimap, size, interpolation=cv2.INTER_NEAREST)
                alpha = cv2.resize(classical_alpha(small, small_tri, refiner), (w, h), interpolation=cv2.INTER_LINEAR)
            else:
                alpha = classical_alpha(image, trimap, refiner)
        else:
            alpha = self._refine_network(refiner, _to_tensor(image), _plane(trimap))
        return np.where(trimap == 0.5, alpha, trimap).astype(np.float32)  # known regions stay as the trimap says

    def _refine_network(self, refiner, x, t) -> np.ndarray:
        """Trimap-based network at ``min(long side, detail_long_side)``: one pass up to ``WHOLE_MAX_SIDE``,
        tiles above (bounded memory), alpha resized back to the input size."""
        import torch.nn.functional as F

        from automatte.infer.highres import predict_tiled, predict_whole, resize_long_side

        h, w = x.shape[-2:]
        long_side = max(h, w) if self.detail_long_side is None else min(max(h, w), int(self.detail_long_side))
        h2, w2 = (h, w) if long_side == max(h, w) else resize_long_side(h, w, long_side)
        if (h2, w2) != (h, w):
            x = F.interpolate(x, size=(h2, w2), mode="bilinear", align_corners=False, antialias=True)
            t = F.interpolate(t, size=(h2, w2), mode="nearest")
        if max(h2, w2) <= WHOLE_MAX_SIDE:
            alpha = predict_whole(refiner, x, trimap=t)[0]
        else:
            alpha = predict_tiled(refiner, x, tile=self.tile, overlap=self.overlap, trimap=t)
        if (h2, w2) != (h, w):
            alpha = F.interpolate(alpha, size=(h, w), mode="bilinear", align_corners=False)
        return _numpy(alpha.clamp(0, 1))

    def _fuse(self, alpha: np.ndarray, trimap: np.ndarray, prob: np.ndarray) -> np.ndarray:
        if self.fusion == "hard":
            return np.where(trimap == 0.5, alpha, trimap).astype(np.float32)
        k = self._band_kernel(trimap.shape)
        u = cv2.GaussianBlur((trimap == 0.5).astype(np.float32), (0, 0), sigmaX=k / 4.0)
        u = np.maximum(u, (trimap == 0.5).astype(np.float32))
        return np.clip((1.0 - u) * prob + u * alpha, 0.0, 1.0).astype(np.float32)  # TGN eq. 15: F + U alpha_hat

    def _foreground(self, image: np.ndarray, alpha: np.ndarray) -> np.ndarray | None:
        from automatte.ops.foreground import estimate_foreground

        method = self.foreground
        if method == "none":
            return None
        if method == "auto":
            method = "ml" if alpha.size <= ML_FOREGROUND_MAX_PIXELS else "blur_fusion"
        return estimate_foreground(image, alpha, method=method).astype(np.float32)

    # ------------------------------------------------------------------ calls

    def __call__(self, image: Any, *, trimap: Any = None, mask: Any = None, name: str | None = None) -> Matte:
        """Matte one image (path, bytes, PIL or array); ``trimap`` / ``mask`` are optional user hints."""
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        img = self._read(image, name=name)
        timings["read"] = time.perf_counter() - t0
        shape = img.shape[:2]
        tri = None
        t = time.perf_counter()
        if trimap is not None:
            tri = self._hint(trimap, shape, "trimap")
            alpha = self._refine(img, tri)
            timings["refine"] = time.perf_counter() - t
        elif mask is not None or (self.matting is None and self.guided is None):
            if mask is not None:
                prob = self._hint(mask, shape, "mask")
            else:
                prob = self._segment(img)
                timings["segment"] = time.perf_counter() - t
            t = time.perf_counter()
            tri = self._trimap_from_mask(prob, from_segmenter=mask is None)
            alpha = self._fuse(self._refine(img, tri), tri, prob)
            timings["refine"] = time.perf_counter() - t
        elif self.matting is not None:
            alpha, tri = self._one_stage(img)
            timings["matting"] = time.perf_counter() - t
        else:
            from automatte.infer.highres import predict_whole

            prob = self._segment(img)
            timings["segment"] = time.perf_counter() - t
            t = time.perf_counter()
            out, _ = predict_whole(lambda image, trimap=None: self.guided(image, mask=_plane(_np_resize(prob, image.shape[-2:]))),
                                   _to_tensor(img), long_side=self.global_long_side)
            alpha = _numpy(out)
            timings["matting"] = time.perf_counter() - t
        t = time.perf_counter()
        fg = self._foreground(img, alpha)
        timings["foreground"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t0
        return Matte(alpha=np.clip(alpha, 0, 1).astype(np.float32), foreground=fg, image=img, trimap=tri,
                     model=self.name, timings=timings)

    def batch(self, images: Iterable[Any], *, trimaps: Sequence[Any] | None = None, masks: Sequence[Any] | None = None,
              batch_size: int = 4, on_error: str = "raise") -> list[Matte | Exception]:
        """Matte many images. One-stage networks run ``batch_size`` images of the same inference size per
        forward pass (``"whole"`` strategy); other cases go one by one. With ``on_error="return"`` a failing
        image gives its exception in the list instead of stopping the batch."""
        images = list(images)
        if on_error not in ("raise", "return"):
            raise ValueError(f"on_error must be 'raise' or 'return', got {on_error!r}")
        results: list[Any] = [None] * len(images)
        batched = self.matting is not None and trimaps is None and masks is None and self.strategy in ("auto", "whole")
        groups: dict[tuple[int, int], list[tuple[int, np.ndarray, float]]] = {}
        for i, image in enumerate(images):
            hint = {"trimap": trimaps[i] if trimaps is not None else None, "mask": masks[i] if masks is not None else None}
            try:
                if not batched:
                    results[i] = self(image, **hint)
                    continue
                t0 = time.perf_counter()
                img = self._read(image)
                if max(img.shape[:2]) > 1.25 * self.global_long_side and self.strategy == "auto":
                    results[i] = self(img)
                    continue
                groups.setdefault(img.shape[:2], []).append((i, img, time.perf_counter() - t0))
            except Exception as exc:  # noqa: BLE001 - reported per image
                if on_error == "raise":
                    raise
                results[i] = exc
        for shape, items in groups.items():
            for start in range(0, len(items), max(1, batch_size)):
                chunk = items[start : start + max(1, batch_size)]
                self._run_group(chunk, results, on_error)
        return results

    def _run_group(self, chunk, results, on_error: str) -> None:
        import torch

        from automatte.infer.highres import predict_whole

        t = time.perf_counter()
        try:
            x = torch.cat([_to_tensor(img) for _, img, _ in chunk])
            long_side = max(chunk[0][1].shape[:2])
            alphas, _ = predict_whole(self.matting, x, long_side=None if long_side <= 1.25 * self.global_long_side else self.global_long_side)
        except Exception as exc:  # noqa: BLE001
            if on_error == "raise":
                raise
            for i, _, _ in chunk:
                results[i] = exc
            return
        per = (time.perf_counter() - t) / len(chunk)
        for j, (i, img, read) in enumerate(chunk):
            t = time.perf_counter()
            alpha = alphas[j, 0].numpy().astype(np.float32)
            fg = self._foreground(img, alpha)
            timings = {"read": read, "matting": per, "foreground": time.perf_counter() - t}
            timings["total"] = sum(timings.values())
            results[i] = Matte(alpha=alpha, foreground=fg, image=img, model=self.name, timings=timings)


def _np_resize(x: np.ndarray, size) -> np.ndarray:
    h, w = int(size[0]), int(size[1])
    return cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR)


# --------------------------------------------------------------------------------------------- loading

_CACHE: dict[tuple, Pipeline] = {}


def _default_refiner():
    """The shipped refiner network (TorchRunner), else closed-form matting."""
    from automatte.shipped import default_model_name, load_shipped

    name = default_model_name("refiner")
    if name is None:
        return "cf"
    key = ("refiner", name)
    if key not in _CACHE:
        _CACHE[key] = TorchRunner(load_shipped(name))  # type: ignore[assignment]
    return _CACHE[key]


def list_pipelines() -> list[str]:
    """Names ``load_model`` accepts besides paths and registry architectures."""
    from automatte.shipped import list_shipped

    names = ["default", "twostage", *(f"twostage-{c}" for c in CLASSICAL), *CLASSICAL]
    return names + [m.name for m in list_shipped()]


def _network_from_file(path: Path, arch: str | None = None):
    """A network from a training checkpoint or a state-dict file (its architecture named inside or ``arch``)."""
    from automatte.registry import create_model
    from automatte.train.checkpoint import model_state_from_file

    state, saved = model_state_from_file(path)
    if path.suffix.lower() == ".safetensors" and saved is None:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            saved = (f.metadata() or {}).get("arch")
    arch = arch or saved
    if arch is None:
        raise ValueError(f"{path}: the file does not name its architecture; pass arch= (--arch)")
    net = create_model(arch)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: weights do not fit {arch} (missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]})")
    return net


def _segmenter_runner(spec: str | None, device: str, backend: str, required: bool):
    """The segmenter of a two-stage pipeline: the default shipped one (``spec`` None), a shipped segmenter by
    name, or a checkpoint / state-dict file of a segmenter network."""
    if spec is None:
        return _shipped_runner("segmenter", device, backend, required)[0]
    from automatte.shipped import list_shipped, load_shipped

    shipped = {m.name: m for m in list_shipped() if m.role == "segmenter"}
    if spec in shipped:
        return _runner(load_shipped(spec), device, backend, spec)
    path = Path(spec)
    if path.suffix.lower() in (".pt", ".pth", ".safetensors") and path.is_file():
        return _runner(_network_from_file(path), device, backend, path.stem)
    raise ValueError(f"segmenter {spec!r}: not a shipped segmenter ({', '.join(shipped) or 'none'}) or a weights file")


def _shipped_runner(role: str, device: str, backend: str, required: bool = True):
    from automatte.shipped import default_model_name, get_shipped, load_shipped

    name = default_model_name(role)
    if name is None:
        if required:
            raise ValueError(f"no shipped {role} model in this installation")
        return None, {}
    return _runner(load_shipped(name), device, backend, name), get_shipped(name).inference


def _from_network(net, name: str, device: str, backend: str, options: dict, inference: dict | None = None,
                  segmenter_spec: str | None = None) -> Pipeline:  # fmt: skip
    inputs = tuple(getattr(net, "model_inputs", ("image",)))
    runner = _runner(net, device, backend, name)
    opts = {**(inference or {}), **options}
    if inputs == ("image",):
        return Pipeline(name, matting=runner, **opts)
    segmenter = _segmenter_runner(segmenter_spec, device, backend, required=False)
    if "trimap" in inputs:
        return Pipeline(name, refiner=runner, segmenter=segmenter, **opts)
    return Pipeline(name, guided=runner, segmenter=segmenter, **opts)


def load_model(name_or_path: str | os.PathLike | None = None, *, device: str = "cpu", backend: str = "torch",
               arch: str | None = None, segmenter: str | None = None, **options) -> Pipeline:
    """Load a pipeline by name or path (see the module docstring); ``options`` go to :class:`Pipeline`.
    ``segmenter``: the first stage of two-stage pipelines, a shipped segmenter's name (e.g. the previous
    ``salient-segmenter-v1``) or a segmenter checkpoint; default: the shipped default segmenter.

    Example:
        >>> p = load_model("cf", foreground="none")
        >>> p.refiner
        'cf'
    """
    from automatte.shipped import default_pipeline, list_shipped, load_shipped

    name = "default" if name_or_path is None else str(name_or_path)
    if backend not in ("torch", "onnx"):
        raise ValueError(f"backend must be 'torch' or 'onnx', got {backend!r}")
    shipped = {m.name: m for m in list_shipped()}
    if name == "default":
        default = default_pipeline()
        if default is None:
            raise ValueError("no shipped default model in this installation; give a model name or a checkpoint")
        target, defaults, _ = default
        pipeline = load_model(target, device=device, backend=backend, arch=arch, segmenter=segmenter,
                              **{**defaults, **options})
        pipeline.name = f"default ({pipeline.name})"
        return pipeline
    if name in shipped:
        model = shipped[name]
        return _from_network(load_shipped(name), name, device, backend, options, model.inference, segmenter)
    if name in CLASSICAL or (name.startswith("twostage") and name.removeprefix("twostage-") in CLASSICAL + ("twostage",)):
        method = name.removeprefix("twostage-")
        seg = _segmenter_runner(segmenter, device, backend, required=name.startswith("twostage"))
        if method == "twostage":
            refiner, inference = _shipped_runner("refiner", device, backend)
            return Pipeline(name, refiner=refiner, segmenter=seg, **{**inference, **options})
        return Pipeline(name, refiner=method, segmenter=seg, **options)
    path = Path(name)
    if path.suffix.lower() == ".onnx":
        if not path.is_file():
            raise FileNotFoundError(f"{path}: ONNX file not found")
        runner = OnnxRunner(path, device)
        if runner.inputs == ("image",):
            return Pipeline(path.stem, matting=runner, **options)
        seg = _segmenter_runner(segmenter, device, "torch", required=False)
        key = "refiner" if "trimap" in runner.inputs else "guided"
        return Pipeline(path.stem, segmenter=seg, **{key: runner}, **options)
    if path.suffix.lower() in (".pt", ".pth", ".safetensors"):
        net = _network_from_file(path, arch)
        return _from_network(net, path.stem, device, backend, options, None, segmenter)
    from automatte.registry import create_model, list_models

    if name in list_models(include_test=True):
        warnings.warn(f"model {name!r}: registry architecture with untrained weights (plumbing tests only)", stacklevel=2)
        return _from_network(create_model(name), name, device, backend, options, None, segmenter)
    raise ValueError(f"unknown model {name!r}: not a shipped model ({', '.join(shipped) or 'none'}), a pipeline "
                     f"({', '.join(list_pipelines()[:6])}), a checkpoint path or a registry architecture")


def matte(image: Any, model: str | Pipeline | None = None, *, trimap: Any = None, mask: Any = None,
          device: str = "cpu", **options) -> Matte:
    """Matte one image with ``model`` (default: the shipped default model; loaded once and kept).

    ``options`` (strategy, fusion, foreground, band, ...) configure the pipeline (see :class:`Pipeline`).
    """
    if isinstance(model, Pipeline):
        pipeline = model
    else:
        key = (model, device, tuple(sorted(options.items())))
        if key not in _CACHE:
            _CACHE[key] = load_model(model, device=device, **options)
        pipeline = _CACHE[key]
    return pipeline(image, trimap=trimap, mask=mask)
