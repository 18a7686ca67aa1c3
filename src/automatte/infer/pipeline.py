"""The matting pipeline: stages (segmenter, one-stage network, refiner, fusion, foreground), batching and the
high-resolution strategies, for one image or many. What runs for one call is described in :mod:`automatte.api`."""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

import cv2
import numpy as np

from automatte.infer.fusion import hard_fusion, soft_fusion
from automatte.infer.inputs import as_image, as_map
from automatte.infer.result import Matte
from automatte.infer.runners import default_refiner, plane, to_numpy, to_tensor

__all__ = ["Pipeline", "CLASSICAL", "STRATEGIES", "FUSIONS", "BAND_MODES", "ordered_map", "default_workers"]

CLASSICAL = ("cf", "knn", "lkm")
STRATEGIES = ("auto", "whole", "band-tiled", "hybrid", "tiled")
FUSIONS = ("hard", "soft")
BAND_MODES = ("fixed", "uncertainty", "learned")
ML_FOREGROUND_MAX_PIXELS = 4_000_000  # above this, "auto" foreground uses blur fusion (memory, time)
CLASSICAL_MAX_PIXELS = 1_000_000  # classical refiners solve at most this many pixels (then upsample)
WHOLE_MAX_SIDE = 1024  # networks run in one pass up to this long side, in tiles above
MAX_DEFAULT_WORKERS = 2  # photos matted at once by default: both cores of a laptop busy, memory twice one photo's

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """Photos :meth:`Pipeline.imap` and ``automatte predict`` matte at once by default: ``min(2, CPUs)``."""
    return max(1, min(MAX_DEFAULT_WORKERS, os.cpu_count() or 1))


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``map(fn, items)`` run ``workers`` items at a time in threads, results yielded in the items' order.

    At most ``workers`` calls are in flight (memory stays that of ``workers`` items); NumPy, SciPy, OpenCV, ONNX
    Runtime and PyTorch release the GIL in their heavy calls, so the threads share the cores. An exception of
    ``fn`` is raised where its result would have been yielded (after the calls in flight end).

    Example:
        >>> list(ordered_map(lambda x: x * x, range(5), workers=2))
        [0, 1, 4, 9, 16]
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="automatte") as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


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
        segment_scales: further long sides to run the segmenter at (multi-scale test-time augmentation): the
            probabilities of every scale (each with its mirror when ``segment_flip``) are averaged at full size;
            each scale adds its own segmenter time. Unless ``segment_upscale``, the segmenter never upscales, so
            on a photo smaller than a scale that pass would repeat the native-size one: it runs once.
        segment_upscale: enlarge photos smaller than ``segment_long_side`` (and than each of ``segment_scales``)
            to it before segmenting. The segmenter is trained on crops resized to 320-640 px, so a 250-px photo
            at its native size shows it objects (and thin parts: legs, stems) at half their training scale.
        segment_islands, segment_holes: clean the segmenter's probability before the trimap is drawn: drop
            foreground islands under this fraction of the largest one, fill enclosed holes under this fraction
            of the image (:func:`automatte.ops.coarse.clean_segmentation`; 0 turns a step off).
        band: unknown-band width of trimaps made from masks, as a fraction of the image's long side.
        band_mode: trimaps from the segmenter's probability: ``"fixed"`` (``band`` around its 0.5 contour) or
            ``"uncertainty"`` (a ``band_min`` band around the contour plus every pixel with a probability
            between ``unsure[0]`` and ``unsure[1]``: :func:`automatte.ops.trimap.trimap_from_probability`);
            with ``unsure_reach`` (a fraction of the long side, 0 = anywhere), only the unsure pixels within
            that band around the 0.5 contour. ``"learned"``: the fixed band plus every pixel the segmenter's own
            band head calls unknown with a probability of at least ``band_threshold`` (a segmenter with
            ``trimap_logits``, e.g. ``deeplabv3plus_mnv2_band``; issue 27, item 4), within ``unsure_reach``.
            User masks always get the fixed band.
        fusion: two-stage fusion, ``"hard"`` or ``"soft"``.
        foreground: ``"auto"`` (``ml_band`` up to 4 MP, ``blur_fusion`` above), ``"ml"``, ``"ml_band"``,
            ``"blur_fusion"`` or ``"none"`` (:func:`automatte.ops.estimate_foreground`).
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
        segment_scales: tuple[int, ...] = (),
        segment_upscale: bool = False,
        segment_islands: float = 0.0,
        segment_holes: float = 0.0,
        band: float = 0.02,
        band_mode: str = "fixed",
        band_min: float = 0.006,
        unsure: tuple[float, float] = (0.1, 0.9),
        unsure_reach: float = 0.0,
        band_threshold: float = 0.5,
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
        if not 0 <= unsure_reach < 0.5:
            raise ValueError(f"unsure_reach must be in [0, 0.5), got {unsure_reach}")
        if not 0 < band_threshold <= 1:
            raise ValueError(f"band_threshold must be in (0, 1], got {band_threshold}")
        self.name, self.matting, self.refiner, self.segmenter, self.guided = name, matting, refiner, segmenter, guided
        self.strategy, self.global_long_side, self.detail_long_side = strategy, int(global_long_side), detail_long_side
        self.tile, self.overlap, self.segment_long_side = int(tile), int(overlap), int(segment_long_side)
        self.band, self.fusion, self.foreground = float(band), fusion, foreground
        self.segment_flip, self.band_mode, self.band_min = bool(segment_flip), band_mode, float(band_min)
        self.unsure, self.unsure_reach = (float(unsure[0]), float(unsure[1])), float(unsure_reach)
        self.band_threshold = float(band_threshold)
        self.segment_scales = tuple(int(s) for s in segment_scales)
        if any(s < 32 for s in self.segment_scales):
            raise ValueError(f"segment_scales must be long sides >= 32 px, got {segment_scales!r}")
        if not (0 <= segment_islands < 1 and 0 <= segment_holes < 1):
            raise ValueError(
                f"segment_islands and segment_holes must be in [0, 1), got {segment_islands}, {segment_holes}"
            )
        self.segment_islands, self.segment_holes = float(segment_islands), float(segment_holes)
        self.segment_upscale = bool(segment_upscale)
        if refiner == "cf":  # closed-form's SciPy imports overlap the first photo's segmentation (issue 31)
            from automatte.infer.closed_form import preload

            preload()
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
        arr = as_map(value, None, kind)
        if arr.shape != shape and self.max_size is not None:
            interp = cv2.INTER_NEAREST if kind == "trimap" else cv2.INTER_AREA
            arr = cv2.resize(np.asarray(arr, np.float32), (shape[1], shape[0]), interpolation=interp)
        return as_map(arr, shape, kind)

    def __repr__(self) -> str:
        parts = [
            f"{k}={getattr(v, 'name', v)!r}"
            for k, v in (
                ("matting", self.matting),
                ("refiner", self.refiner),
                ("segmenter", self.segmenter),
                ("guided", self.guided),
            )
            if v is not None
        ]
        return f"Pipeline({self.name!r}, {', '.join(parts)})"

    # ------------------------------------------------------------------ stages

    def _one_stage(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        from automatte.infer.highres import predict_aim_hybrid, predict_band_tiled, predict_tiled

        x = to_tensor(image)
        long_side = max(image.shape[:2])
        strategy = self.strategy
        if strategy == "auto":
            strategy = "whole" if long_side <= 1.25 * self.global_long_side else "band-tiled"
        if strategy == "whole":
            alphas, trimaps = self._whole(x)
            return alphas[0], trimaps[0]
        if strategy == "tiled":
            return to_numpy(predict_tiled(self.matting, x, tile=self.tile, overlap=self.overlap)), None
        if strategy == "hybrid":  # AIM sec. 4.2: GFM's hybrid test at scales 1/3 and 1/4
            alpha, trimap = predict_aim_hybrid(self.matting, x)
            return to_numpy(alpha), to_numpy(trimap)
        alpha, trimap = predict_band_tiled(
            self.matting,
            x,
            global_long_side=self.global_long_side,
            detail_long_side=self.detail_long_side,
            tile=self.tile,
            overlap=self.overlap,
        )
        return to_numpy(alpha), to_numpy(trimap)

    def _whole(self, x) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        """The one-stage network in one pass over a (B, 3, H, W) batch of same-size images (``"whole"``: at the
        native size up to 1.25 x ``global_long_side``, at ``global_long_side`` above): each image's alpha and the
        trimap the network predicts (the argmax of its trimap probabilities; None when it predicts none)."""
        from automatte.infer.highres import predict_whole

        long_side = max(x.shape[-2:])
        target = None if long_side <= 1.25 * self.global_long_side else self.global_long_side
        alpha, probs = predict_whole(self.matting, x, long_side=target)
        trimap = None if probs is None else probs.argmax(1, keepdim=True).float() / 2
        alphas = [to_numpy(alpha[j : j + 1]) for j in range(len(alpha))]
        return alphas, [None if trimap is None else to_numpy(trimap[j : j + 1]) for j in range(len(alpha))]

    def _band_kernel(self, shape: tuple[int, int], band: float | None = None) -> int:
        k = max(3, int(round((self.band if band is None else band) * max(shape))))
        return k + 1 - k % 2

    def _trimap_from_mask(
        self, mask: np.ndarray, from_segmenter: bool = False, unknown: np.ndarray | None = None
    ) -> np.ndarray:
        """The trimap of a mask or a segmenter's probability (``band_mode``); ``unknown``: the band head's
        P(unknown) at the mask's size, for ``band_mode="learned"``."""
        from automatte.ops.trimap import trimap_from_mask, trimap_from_probability, widen_trimap

        reach = self._band_kernel(mask.shape, self.unsure_reach) if self.unsure_reach else None
        if from_segmenter and self.band_mode == "uncertainty":
            k = self._band_kernel(mask.shape, self.band_min)
            return trimap_from_probability(mask, k, *self.unsure, reach=reach)
        trimap = trimap_from_mask(mask, kernel_size=self._band_kernel(mask.shape)).astype(np.float32)
        if from_segmenter and unknown is not None:
            trimap = widen_trimap(trimap, unknown >= self.band_threshold, mask, reach)
        return trimap

    def _segment(self, image: np.ndarray) -> np.ndarray:
        return self._segment_band(image)[0]

    def _segment_band(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The segmenter's foreground probability (the mean of its passes, cleaned) and, for
        ``band_mode="learned"``, the mean of its passes' P(unknown) (else None)."""
        learned = self.band_mode == "learned"
        if self.segmenter is None:
            raise ValueError(f"pipeline {self.name!r} needs a trimap or a mask for this image (it has no segmenter)")
        passes = []
        # multi-scale test-time augmentation; without segment_upscale, sizes at or above the photo's long side all
        # run at native size, so that pass runs once: the mean is the same, the work is not repeated
        up = self.segment_upscale
        long_side = max(image.shape[:2])
        sides = tuple(
            dict.fromkeys(s if up else min(s, long_side) for s in (self.segment_long_side, *self.segment_scales))
        )
        unknowns = []
        if getattr(self.segmenter, "array_native", False):  # a shipped ONNX graph on NumPy arrays: no PyTorch
            from automatte.infer.numpy_infer import predict_whole_np

            if learned:
                raise ValueError(f"pipeline {self.name!r}: band_mode='learned' needs a segmenter with a band head, "
                                 f"run by PyTorch (backend='torch'); {self.segmenter.name!r} gives alpha only")  # fmt: skip

            for side in sides:  # each the mean of the side's pass and its mirror's (``flip``): equal weights
                fn = self.segmenter.run_array
                passes.append(predict_whole_np(fn, image, long_side=side, upscale=up, flip=self.segment_flip))
            prob = (sum(passes) / len(passes)).astype(np.float32)
        else:
            from automatte.infer.highres import predict_whole

            x = to_tensor(image)
            for side in sides:
                alpha, probs = predict_whole(self.segmenter, x, long_side=side, upscale=up)
                passes.append(alpha)
                unknowns.append(None if probs is None else probs[:, 1:2])
                if self.segment_flip:  # test-time augmentation: the mirrored image's probability, mirrored back
                    mirrored, probs = predict_whole(self.segmenter, x.flip(-1), long_side=side, upscale=up)
                    passes.append(mirrored.flip(-1))
                    unknowns.append(None if probs is None else probs[:, 1:2].flip(-1))
            prob = to_numpy(sum(passes) / len(passes))
            if learned and any(u is None for u in unknowns):
                raise ValueError(f"pipeline {self.name!r}: band_mode='learned' needs a segmenter with a band head "
                                 "(trimap_logits, e.g. deeplabv3plus_mnv2_band); this one predicts none")  # fmt: skip
        if self.segment_islands or self.segment_holes:
            from automatte.ops.coarse import clean_segmentation

            prob = clean_segmentation(prob, self.segment_islands, self.segment_holes)
        return prob, (to_numpy(sum(unknowns) / len(unknowns)) if learned else None)

    def _refine(self, image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
        refiner = self.refiner if self.refiner is not None else default_refiner()
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
            alpha = self._refine_network(refiner, to_tensor(image), plane(trimap))
        return hard_fusion(alpha, trimap)  # known regions stay as the trimap says

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
        return to_numpy(alpha.clamp(0, 1))

    def _fuse(self, alpha: np.ndarray, trimap: np.ndarray, prob: np.ndarray) -> np.ndarray:
        if self.fusion == "hard":
            return hard_fusion(alpha, trimap)
        return soft_fusion(alpha, trimap, prob, self._band_kernel(trimap.shape))

    def _foreground(self, image: np.ndarray, alpha: np.ndarray) -> np.ndarray | None:
        from automatte.ops.foreground import estimate_foreground

        method = self.foreground
        if method == "none":
            return None
        if method == "auto":
            # ml_band: ml's composites (issue 31: 0.0006 levels apart at 1 MP) at a fifth of its time
            method = "ml_band" if alpha.size <= ML_FOREGROUND_MAX_PIXELS else "blur_fusion"
        return estimate_foreground(image, alpha, method=method).astype(np.float32)

    # ------------------------------------------------------------------ calls

    def __call__(self, image: Any, *, trimap: Any = None, mask: Any = None, name: str | None = None) -> Matte:
        """Matte one image (path, bytes, PIL or array); ``trimap`` / ``mask`` are optional user hints.

        The one per-image path: ``automatte.matte``, the server and (through :meth:`batch`) the CLI come here."""
        t0 = time.perf_counter()
        img = self._read(image, name=name)
        timings = {"read": time.perf_counter() - t0}
        alpha, tri = self._alpha(img, trimap, mask, timings)
        return self._finish(img, alpha, tri, timings, started=t0)

    def _alpha(self, img: np.ndarray, trimap: Any, mask: Any, timings: dict) -> tuple[np.ndarray, np.ndarray | None]:
        """The alpha of one read image and the trimap it came from or the network predicted (None when there is
        none), by the stages the pipeline and the hints call for; adds each stage's seconds to ``timings``."""
        shape = img.shape[:2]
        t = time.perf_counter()
        if trimap is not None:
            tri = self._hint(trimap, shape, "trimap")
            alpha = self._refine(img, tri)
            timings["refine"] = time.perf_counter() - t
            return alpha, tri
        if mask is not None or (self.matting is None and self.guided is None):
            unknown = None
            if mask is not None:
                prob = self._hint(mask, shape, "mask")
            else:
                prob, unknown = self._segment_band(img)
                timings["segment"] = time.perf_counter() - t
            t = time.perf_counter()
            tri = self._trimap_from_mask(prob, from_segmenter=mask is None, unknown=unknown)
            timings["trimap"] = time.perf_counter() - t
            t = time.perf_counter()
            alpha = self._fuse(self._refine(img, tri), tri, prob)
            timings["refine"] = time.perf_counter() - t
            return alpha, tri
        if self.matting is not None:
            alpha, tri = self._one_stage(img)
            timings["matting"] = time.perf_counter() - t
            return alpha, tri
        from automatte.infer.highres import predict_whole

        prob = self._segment(img)
        timings["segment"] = time.perf_counter() - t
        t = time.perf_counter()
        out, _ = predict_whole(
            lambda image, trimap=None: self.guided(image, mask=plane(np_resize(prob, image.shape[-2:]))),
            to_tensor(img),
            long_side=self.global_long_side,
        )
        timings["matting"] = time.perf_counter() - t
        return to_numpy(out), None

    def _finish(
        self, img: np.ndarray, alpha: np.ndarray, trimap: np.ndarray | None, timings: dict, started: float | None
    ) -> Matte:
        """The :class:`Matte` of one image from its alpha and trimap: the foreground stage, then the result (the
        one place a result is made, for one image or a batch). ``timings["total"]``: the seconds since ``started``,
        or (None: an image of a batch) the sum of its stages."""
        t = time.perf_counter()
        fg = self._foreground(img, alpha)
        timings["foreground"] = time.perf_counter() - t
        timings["total"] = sum(timings.values()) if started is None else time.perf_counter() - started
        return Matte(
            alpha=np.clip(alpha, 0, 1).astype(np.float32),
            foreground=fg,
            image=img,
            trimap=trimap,
            model=self.name,
            timings=timings,
        )

    def batch(
        self,
        images: Iterable[Any],
        *,
        trimaps: Sequence[Any] | None = None,
        masks: Sequence[Any] | None = None,
        batch_size: int = 4,
        on_error: str = "raise",
        workers: int | None = None,
    ) -> list[Matte | Exception]:
        """Matte many images, each as :meth:`__call__` would (the same stages and result, trimap included).
        One-stage networks run ``batch_size`` images of the same inference size per forward pass (``"whole"``
        strategy; a batched pass may differ from single ones in the last float bits); other cases go one by one,
        ``workers`` at a time (:meth:`imap`). With ``on_error="return"`` a failing image gives its exception in the
        list instead of stopping the batch."""
        images = list(images)
        if on_error not in ("raise", "return"):
            raise ValueError(f"on_error must be 'raise' or 'return', got {on_error!r}")
        batched = self.matting is not None and trimaps is None and masks is None and self.strategy in ("auto", "whole")
        if not batched:
            return list(self.imap(images, trimaps=trimaps, masks=masks, on_error=on_error, workers=workers))
        results: list[Any] = [None] * len(images)
        groups: dict[tuple[int, int], list[tuple[int, np.ndarray, float]]] = {}
        for i, image in enumerate(images):
            try:
                t0 = time.perf_counter()
                img = self._read(image)
                if max(img.shape[:2]) > 1.25 * self.global_long_side and self.strategy == "auto":
                    timings = {"read": time.perf_counter() - t0}
                    results[i] = self._finish(img, *self._alpha(img, None, None, timings), timings, started=t0)
                    continue
                groups.setdefault(img.shape[:2], []).append((i, img, time.perf_counter() - t0))
            except Exception as exc:  # reported per image
                if on_error == "raise":
                    raise
                results[i] = exc
        for shape, items in groups.items():
            for start in range(0, len(items), max(1, batch_size)):
                chunk = items[start : start + max(1, batch_size)]
                self._run_group(chunk, results, on_error)
        return results

    def imap(
        self,
        images: Iterable[Any],
        *,
        trimaps: Sequence[Any] | None = None,
        masks: Sequence[Any] | None = None,
        on_error: str = "raise",
        workers: int | None = None,
    ) -> Iterator[Matte | Exception]:
        """Matte images one by one as :meth:`__call__`, ``workers`` at a time in threads (default
        :func:`default_workers`; 1 for pymatting's ``knn`` / ``lkm``, whose numba kernels must not run
        concurrently), yielding the results in order: one photo is read (decoded) while another is segmented and a
        third solved, so a folder keeps every core busy. Results are those of :meth:`__call__` (``timings`` are
        each photo's own wall-clock seconds, longer while photos share the cores). ``on_error="return"`` yields a
        failing image's exception in its place.

        Example:
            >>> import numpy as np
            >>> p = Pipeline("cf", refiner="cf", foreground="none")
            >>> img = np.zeros((20, 30, 3), np.float32); img[:, 15:] = 1
            >>> tri = np.zeros((20, 30), np.float32); tri[:, 12:18] = 0.5; tri[:, 18:] = 1
            >>> [m.alpha.shape for m in p.imap([img, img], trimaps=[tri, tri], workers=2)]
            [(20, 30), (20, 30)]
        """
        if on_error not in ("raise", "return"):
            raise ValueError(f"on_error must be 'raise' or 'return', got {on_error!r}")
        if workers is None:
            workers = 1 if self.refiner in ("knn", "lkm") else default_workers()
        if int(workers) < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")

        def one(item: tuple[int, Any]) -> Matte | Exception:
            i, image = item
            try:
                return self(
                    image,
                    trimap=trimaps[i] if trimaps is not None else None,
                    mask=masks[i] if masks is not None else None,
                )
            except Exception as exc:  # reported per image
                if on_error == "raise":
                    raise
                return exc

        yield from ordered_map(one, enumerate(images), int(workers))

    def _run_group(self, chunk, results, on_error: str) -> None:
        import torch

        t = time.perf_counter()
        try:
            alphas, trimaps = self._whole(torch.cat([to_tensor(img) for _, img, _ in chunk]))
        except Exception as exc:
            if on_error == "raise":
                raise
            for i, _, _ in chunk:
                results[i] = exc
            return
        per = (time.perf_counter() - t) / len(chunk)
        for (i, img, read), alpha, tri in zip(chunk, alphas, trimaps):
            results[i] = self._finish(img, alpha, tri, {"read": read, "matting": per}, started=None)


def np_resize(x: np.ndarray, size) -> np.ndarray:
    h, w = int(size[0]), int(size[1])
    return cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR)
