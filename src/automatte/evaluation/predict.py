"""Run a model over a benchmark's samples with a paper's test strategy and write the predicted alphas.

One predictor for networks and pipelines: a one-stage network (a shipped one-stage model, a weights file, an
ONNX graph) runs through the high-resolution strategies of :mod:`automatte.infer.highres`, which pad to a
multiple of 32, run and crop (written once, there): ``"hybrid"`` is AIM's / GFM's hybrid test with settable
scales, ``"whole"`` one pass at full size, ``"tiled"`` full-resolution tiles, ``"band-tiled"`` the pipeline's
global + detail passes. Anything else (two-stage and classical pipelines, refiners given the benchmark's
trimaps) runs the whole :class:`~automatte.infer.pipeline.Pipeline`.

Example:
    >>> from automatte.data.benchmarks import read_benchmark
    >>> data = read_benchmark("aim500", "AIM-500")  # doctest: +SKIP
    >>> written, failures = predict_dataset("aimnet.safetensors", data, "out/pred")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

__all__ = ["STRATEGIES", "predict_alpha", "predict_dataset", "parse_scales"]

STRATEGIES = ("hybrid", "whole", "tiled", "band-tiled", "pipeline")


def parse_scales(text: str | Sequence[float]) -> tuple[float, float]:
    """``"1/3,1/4"`` (or ``"0.5,0.25"``, or a pair of numbers) -> (global scale, local scale), each in (0, 1].

    Example:
        >>> parse_scales("1/2,1/4")
        (0.5, 0.25)
    """
    parts = [p.strip() for p in text.split(",")] if isinstance(text, str) else list(text)
    values = []
    for part in parts:
        try:
            if isinstance(part, str) and "/" in part:
                num, den = part.split("/")
                values.append(float(num) / float(den))
            else:
                values.append(float(part))
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"scales {text!r}: expected two fractions such as 1/3,1/4") from None
    if len(values) != 2 or not all(0 < v <= 1 for v in values):
        raise ValueError(f"scales {text!r}: expected two scale factors in (0, 1], global then local, e.g. 1/3,1/4")
    return values[0], values[1]


def predict_alpha(
    pipeline: Any,
    image: np.ndarray,
    *,
    strategy: str = "hybrid",
    scales: tuple[float, float] = (1 / 3, 1 / 4),
    max_side: int = 1600,
    trimap: np.ndarray | None = None,
) -> np.ndarray:
    """The alpha (H, W) float32 in [0, 1] of one (H, W, 3) float image in [0, 1].

    Args:
        pipeline: a loaded :class:`~automatte.infer.pipeline.Pipeline`.
        image: the photo.
        strategy: one of ``STRATEGIES``; the network strategies apply to one-stage pipelines, other pipelines
            always run whole (``"pipeline"``).
        scales: the hybrid test's global and local scale factors.
        max_side: cap on each side of a hybrid pass (AIM / GFM: 1600).
        trimap: (H, W) in {0, 0.5, 1}: given to the pipeline (its refiner) instead of letting it find one.

    Example:
        >>> from automatte.infer.pipeline import Pipeline
        >>> from automatte.models.output import MattingOutput
        >>> net = lambda image, trimap=None, mask=None: MattingOutput(alpha=image[:, :1])
        >>> img = np.zeros((96, 128, 3), np.float32); img[32:64, 32:96] = 1
        >>> a = predict_alpha(Pipeline("toy", matting=net, foreground="none"), img, strategy="whole")
        >>> a.shape, float(a[48, 64]), float(a[0, 0])
        ((96, 128), 1.0, 0.0)
    """
    from automatte.infer.highres import predict_aim_hybrid, predict_tiled, predict_whole
    from automatte.infer.runners import to_numpy, to_tensor

    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    one_stage = getattr(pipeline, "matting", None)
    if one_stage is None or trimap is not None or strategy in ("pipeline", "band-tiled"):
        return np.asarray(pipeline(image, trimap=trimap).alpha, dtype=np.float32)
    x = to_tensor(np.asarray(image, dtype=np.float32))
    if strategy == "hybrid":
        alpha, _ = predict_aim_hybrid(one_stage, x, global_scale=scales[0], local_scale=scales[1], max_side=max_side)
    elif strategy == "whole":
        alpha, _ = predict_whole(one_stage, x)
    else:
        alpha = predict_tiled(one_stage, x, tile=pipeline.tile, overlap=pipeline.overlap)
    return np.clip(to_numpy(alpha), 0.0, 1.0)


def predict_dataset(
    model: Any,
    data: Any,
    out_dir: str | os.PathLike,
    *,
    strategy: str = "hybrid",
    scales: tuple[float, float] = (1 / 3, 1 / 4),
    max_side: int = 1600,
    use_trimaps: bool = False,
    overwrite: bool = False,
    device: str = "cpu",
    arch: str | None = None,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> tuple[dict[str, Path], list[str]]:
    """Predict every sample of ``data`` and write ``out_dir/NAME.png`` (8-bit alpha, atomically).

    Args:
        model: a loaded Pipeline, or what :func:`automatte.load_model` takes (shipped name, pipeline name,
            ``.pt`` / ``.safetensors`` / ``.onnx`` file, registry architecture).
        data: a dataset (``MattingFolder`` or :class:`automatte.data.benchmarks.Benchmark`).
        out_dir: the prediction folder; existing predictions need ``overwrite``.
        strategy, scales, max_side: see :func:`predict_alpha`.
        use_trimaps: give each sample's trimap to the pipeline (trimap-based refiners, e.g. Composition-1k).
        device, arch: passed to ``load_model`` when ``model`` is a name.
        progress: optional wrapper for the iteration, e.g. ``tqdm``.

    Returns:
        (written, failures): name -> written file, and one line per sample that could not be predicted.
    """
    from automatte.infer.loading import load_model
    from automatte.io import read_image, read_trimap, write_alpha

    out_dir = Path(out_dir)
    names = list(data.names)
    if not names:
        raise ValueError(f"{data.root}: no sample with both an image and a ground-truth alpha")
    if not overwrite:
        clash = [out_dir / f"{n}.png" for n in names if (out_dir / f"{n}.png").exists()]
        if clash:
            raise FileExistsError(f"{clash[0]}: exists ({len(clash)} predictions in {out_dir}; use --overwrite)")
    if isinstance(model, (str, os.PathLike)) or model is None:
        model = load_model(None if model is None else str(model), device=device, arch=arch, foreground="none")
    written: dict[str, Path] = {}
    failures: list[str] = []
    for name in progress(names) if progress else names:
        try:
            image = read_image(data.images[name], max_pixels=None)
            trimap = None
            if use_trimaps:
                if name not in data.trimaps:
                    raise FileNotFoundError(f"{name}: no trimap in {data.root}")
                trimap = read_trimap(data.trimaps[name], shape=image.shape[:2])
            alpha = predict_alpha(model, image, strategy=strategy, scales=scales, max_side=max_side, trimap=trimap)
            written[name] = write_alpha(out_dir / f"{name}.png", alpha)
        except (ValueError, OSError, RuntimeError) as exc:
            message = str(exc)
            failures.append(message if name in message else f"{data.images.get(name, name)}: {message}")
    return written, failures
