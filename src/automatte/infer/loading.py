"""From a name or a path to a loaded :class:`~automatte.infer.pipeline.Pipeline`: shipped models, the named
pipelines, checkpoints and weights files, ONNX graphs and registry architectures."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from automatte.infer.pipeline import CLASSICAL, Pipeline
from automatte.infer.runners import OnnxRunner, ShippedOnnxRunner, has_torch, make_runner

__all__ = ["load_model", "list_pipelines", "BACKENDS"]

BACKENDS = ("auto", "torch", "onnx")

_CACHE: dict[tuple, Pipeline] = {}


def list_pipelines() -> list[str]:
    """Names ``load_model`` accepts besides paths and registry architectures."""
    from automatte.shipped import list_shipped

    names = ["default", "twostage", *(f"twostage-{c}" for c in CLASSICAL), *CLASSICAL]
    return names + [m.name for m in list_shipped()]


WEIGHT_SUFFIXES = (".pt", ".pth", ".safetensors", ".pdparams", ".pkl", ".tar")


def _network_from_file(path: Path, arch: str | None = None):
    """``(network, inference settings)`` from a converted / shipped safetensors file, a training checkpoint or a
    state dict in the project's or the authors' key names (:func:`automatte.models.convert.network_from_file`)."""
    from automatte.models.convert import network_from_file

    return network_from_file(path, arch)


def _on_cpu(device: str) -> bool:
    return str(device) == "cpu"


def _shipped_net_runner(name: str, device: str, backend: str):
    """A shipped network's runner: its shipped ONNX graph under ONNX Runtime with ``backend="onnx"``, with
    ``backend="auto"`` on the CPU (faster than PyTorch there, and PyTorch is never imported: issue 31) or when
    PyTorch is absent (the light install), else PyTorch (or an ONNX export of it). ``"auto"`` falls back to
    PyTorch, with a warning, when the shipped graph is stale (made from other weights than the card's)."""
    from automatte.shipped import get_shipped, load_shipped

    onnx = get_shipped(name).path.with_suffix(".onnx")
    if onnx.is_file() and backend == "auto" and _on_cpu(device):
        try:
            return ShippedOnnxRunner(name, device)
        except ValueError as exc:  # a stale graph: PyTorch computes the card's weights
            if not has_torch():
                raise
            warnings.warn(f"{exc}; running {name!r} on PyTorch instead", stacklevel=3)
    elif onnx.is_file() and (backend == "onnx" or not has_torch()):
        return ShippedOnnxRunner(name, device)
    if not has_torch():
        raise ImportError(
            f"shipped model {name!r} runs on PyTorch (no {onnx.name} ships): pip install 'automatte[torch]'"
        )
    return make_runner(load_shipped(name), device, backend, name)


def _segmenter_runner(spec: str | None, device: str, backend: str, required: bool):
    """The segmenter of a two-stage pipeline: the default shipped one (``spec`` None), a shipped segmenter by
    name, or a checkpoint / state-dict file of a segmenter network."""
    if spec is None:
        return _shipped_runner("segmenter", device, backend, required)[0]
    from automatte.shipped import list_shipped

    shipped = {m.name: m for m in list_shipped() if m.role == "segmenter"}
    if spec in shipped:
        return _shipped_net_runner(spec, device, backend)
    path = Path(spec)
    if path.suffix.lower() in WEIGHT_SUFFIXES and path.is_file():
        return make_runner(_network_from_file(path)[0], device, backend, path.stem)
    raise ValueError(f"segmenter {spec!r}: not a shipped segmenter ({', '.join(shipped) or 'none'}) or a weights file")


def _shipped_runner(role: str, device: str, backend: str, required: bool = True):
    from automatte.shipped import default_model_name, get_shipped

    name = default_model_name(role)
    if name is None:
        if required:
            raise ValueError(f"no shipped {role} model in this installation")
        return None, {}
    return _shipped_net_runner(name, device, backend), get_shipped(name).inference


def _from_network(net, name: str, device: str, backend: str, options: dict, inference: dict | None = None,
                  segmenter_spec: str | None = None) -> Pipeline:  # fmt: skip
    inputs = tuple(getattr(net, "model_inputs", ("image",)))
    runner = make_runner(net, device, backend, name)
    opts = {**(inference or {}), **options}
    if inputs == ("image",):
        return Pipeline(name, matting=runner, **opts)
    segmenter = _segmenter_runner(segmenter_spec, device, backend, required=False)
    if "trimap" in inputs:
        return Pipeline(name, refiner=runner, segmenter=segmenter, **opts)
    return Pipeline(name, guided=runner, segmenter=segmenter, **opts)


def load_model(
    name_or_path: str | os.PathLike | None = None,
    *,
    device: str = "cpu",
    backend: str = "auto",
    arch: str | None = None,
    segmenter: str | None = None,
    **options,
) -> Pipeline:
    """Load a pipeline by name or path (see the module docstring); ``options`` go to :class:`Pipeline`.
    ``segmenter``: the first stage of two-stage pipelines, a shipped segmenter's name (e.g. the previous
    ``salient-segmenter-v1``) or a segmenter checkpoint; default: the shipped default segmenter.
    ``backend``: ``"auto"`` runs shipped networks that ship an ONNX graph (the segmenter) on ONNX Runtime on the
    CPU and the rest on PyTorch; ``"torch"`` runs every network on PyTorch; ``"onnx"`` every one on ONNX Runtime
    (shipped graphs, else an export of the network, cached on disk).

    Example:
        >>> p = load_model("cf", foreground="none")
        >>> p.refiner
        'cf'
    """
    from automatte.shipped import default_pipeline, list_shipped, load_shipped

    name = "default" if name_or_path is None else str(name_or_path)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    shipped = {m.name: m for m in list_shipped()}
    if name == "default":
        default = default_pipeline()
        if default is None:
            raise ValueError("no shipped default model in this installation; give a model name or a checkpoint")
        target, defaults, _ = default
        pipeline = load_model(
            target, device=device, backend=backend, arch=arch, segmenter=segmenter, **{**defaults, **options}
        )
        pipeline.name = f"default ({pipeline.name})"
        return pipeline
    needs_torch = name in shipped or Path(name).suffix.lower() in (".pt", ".pth", ".safetensors")
    if needs_torch and not has_torch():  # the light install runs the default (twostage-cf) and classical refiners
        raise ImportError(f"model {name!r} runs on PyTorch, which is not installed: pip install 'automatte[torch]'")
    if name in shipped:
        model = shipped[name]
        return _from_network(load_shipped(name), name, device, backend, options, model.inference, segmenter)
    if name in CLASSICAL or (
        name.startswith("twostage") and name.removeprefix("twostage-") in CLASSICAL + ("twostage",)
    ):
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
        seg = _segmenter_runner(segmenter, device, backend, required=False)
        key = "refiner" if "trimap" in runner.inputs else "guided"
        return Pipeline(path.stem, segmenter=seg, **{key: runner}, **options)
    if path.suffix.lower() in WEIGHT_SUFFIXES:
        net, inference = _network_from_file(path, arch)
        return _from_network(net, path.stem, device, backend, options, inference, segmenter)
    if not has_torch():
        raise ValueError(
            f"unknown model {name!r}: not a shipped model or pipeline this install runs "
            f"({', '.join(list_pipelines()[:6])}); registry architectures need PyTorch: pip install 'automatte[torch]'"
        )
    from automatte.registry import create_model, list_models

    if name in list_models(include_test=True):
        warnings.warn(
            f"model {name!r}: registry architecture with untrained weights (plumbing tests only)", stacklevel=2
        )
        return _from_network(create_model(name), name, device, backend, options, None, segmenter)
    raise ValueError(
        f"unknown model {name!r}: not a shipped model ({', '.join(shipped) or 'none'}), a pipeline "
        f"({', '.join(list_pipelines()[:6])}), a checkpoint path or a registry architecture"
    )
