"""Image in, :class:`Matte` out: the Python API behind ``automatte predict`` and ``automatte serve``.

``automatte.matte(photo)`` runs the shipped default model; ``automatte.load_model(name)`` keeps a pipeline
loaded for many calls. A pipeline is made of up to three parts, chosen by the model name:

* a **one-stage** trimap-free network (shipped default, AIM-Net, PP-Matting, PPID students): image -> alpha,
  at high resolution by the band-tiled strategy or AIM's hybrid test (:mod:`automatte.infer.highres`);
* a **refiner**: a trimap-based network (IndexNet, DIM, GCA, ViTMatte-S, SPAMattNet) or a classical solver
  (``cf`` closed-form, ``knn``, ``lkm``: pymatting) that turns image + trimap into alpha;
* a **segmenter**: image -> salient-foreground probability, the first stage of the two-stage pipeline.

What runs for one call:

1. a user ``trimap`` -> the refiner (the shipped refiner network when the pipeline has none);
2. a user ``mask`` -> trimap (unknown band of ``band`` x the long side around the mask's edge) -> the refiner;
3. a one-stage network -> alpha (``strategy``: ``"whole"``, ``"band-tiled"``, ``"hybrid"`` (AIM's
   1/3 + 1/4 scale test), ``"tiled"``, ``"auto"``: whole up to 1.25 x ``global_long_side``, band-tiled above);
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

from typing import Any

from automatte.infer.inputs import as_image, parse_background
from automatte.infer.loading import _CACHE, list_pipelines, load_model
from automatte.infer.pipeline import Pipeline
from automatte.infer.result import Matte

__all__ = ["Matte", "Pipeline", "matte", "load_model", "list_pipelines", "parse_background", "as_image"]


def matte(
    image: Any,
    model: str | Pipeline | None = None,
    *,
    trimap: Any = None,
    mask: Any = None,
    device: str = "cpu",
    **options,
) -> Matte:
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
