"""The models the project ships: trained weights inside the package, each with a model card.

A shipped model is two files in ``automatte/weights/``: ``NAME.safetensors`` (the network's state dict, stored
as float16 to halve the repository's size; loaded back as float32) and ``NAME.json``, its model card:

=====================  =====================================================================================
``name``               what ``load_model`` and ``--model`` accept
``arch``               the registry name the weights belong to (``create_model(arch, **kwargs)``)
``kwargs``             keyword arguments of the factory (never a path: shipped networks load nothing else)
``role``               ``"one-stage"`` (trimap-free matting), ``"refiner"`` (image + trimap -> alpha) or
                       ``"segmenter"`` (image -> salient-object probability, the two-stage pipeline's first stage)
``default``            true for the model ``automatte.matte(photo)`` uses
``inference``          the pipeline's defaults for this model (e.g. ``global_long_side``)
``sha256``             of the ``.safetensors`` file, checked at load
``card``               free-form fields shown by ``automatte models NAME``: data, recipe, config, command,
                       hardware, training time, metrics, limitations
=====================  =====================================================================================

The default pipeline (``automatte.matte(photo)``, ``automatte predict`` with no ``--model``, ``load_model()``) is
named in ``weights/default.json``: ``{"pipeline": NAME, "options": {...}, "why": "..."}`` where NAME is a shipped
model or a pipeline name (``twostage``, ...). Without that file it is the one-stage card marked ``default``.

A shipped segmenter also has ``NAME.onnx``: the same network as an ONNX graph (float16 weights cast to float32
inside, so it computes what the safetensors compute), which ONNX Runtime runs when PyTorch is absent (the light
install, ``pip install automatte``) or with ``backend="onnx"``. It records the sha256 of the safetensors it was
made from (metadata ``automatte.weights_sha256``); :func:`shipped_onnx` refuses an ONNX file whose record differs
from the card's (a stale graph beside retrained weights). Regenerate it with one command after shipping new
weights: ``python tools/export_onnx.py`` (:func:`export_shipped_onnx`), after ``tools/ship_model.py`` or any
other change of a segmenter's weights.

:func:`ship_checkpoint` writes both files from a training checkpoint (the project's own training output: the
card records the run's resolved config and the command that re-creates it). A card holds no path of the machine
that made it (:func:`portable_card`): paths inside the repository are written relative to it, other absolute
paths (a temporary run folder) are dropped.

Example:
    >>> from automatte.shipped import list_shipped
    >>> all(m.role in ROLES for m in list_shipped())
    True
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ROLES",
    "WEIGHTS_DIR",
    "ShippedModel",
    "list_shipped",
    "get_shipped",
    "default_model_name",
    "default_pipeline",
    "load_shipped",
    "ship_checkpoint",
    "portable_card",
    "format_card",
    "ONNX_SHA_KEY",
    "shipped_onnx",
    "export_shipped_onnx",
]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
ROLES = ("one-stage", "refiner", "segmenter")
REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout's root when run from the source tree
_ABSOLUTE = re.compile(r"^(?:/|~|\\\\|[A-Za-z]:[\\/])")  # a whole string that is an absolute path
# an absolute path of a machine anywhere inside a text (a command line, a note)
_MACHINE_PATH = re.compile(r"(?<![\w.~/-])(?:/(?:work|root|home|tmp|Users|mnt|private|var|opt)/|[A-Za-z]:[\\/])")
_WEIGHTS_MARK = "/src/automatte/weights/"
ONNX_SHA_KEY = "automatte.weights_sha256"  # ONNX metadata: the sha256 of the safetensors the graph was made from
ONNX_COMMAND = "python tools/export_onnx.py"


@dataclass(frozen=True)
class ShippedModel:
    """One shipped model (see the module docstring for the fields)."""

    name: str
    arch: str
    role: str
    path: Path
    sha256: str
    kwargs: dict = field(default_factory=dict)
    default: bool = False
    inference: dict = field(default_factory=dict)
    card: dict = field(default_factory=dict)


def _read_card(path: Path) -> ShippedModel:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        model = ShippedModel(
            name=str(data["name"]),
            arch=str(data["arch"]),
            role=str(data["role"]),
            path=path.with_suffix(".safetensors"),
            sha256=str(data["sha256"]),
            kwargs=dict(data.get("kwargs", {})),
            default=bool(data.get("default", False)),
            inference=dict(data.get("inference", {})),
            card=dict(data.get("card", {})),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: unreadable model card ({exc})") from exc
    if model.role not in ROLES:
        raise ValueError(f"{path}: role must be one of {', '.join(ROLES)}, got {model.role!r}")
    return model


def list_shipped(folder: str | os.PathLike | None = None) -> list[ShippedModel]:
    """The shipped models (cards in ``folder``, default the package's ``weights/``), by name."""
    folder = WEIGHTS_DIR if folder is None else Path(folder)
    if not folder.is_dir():
        return []
    cards = (p for p in folder.glob("*.json") if p.name != "default.json")
    return sorted((_read_card(p) for p in cards), key=lambda m: m.name)


def get_shipped(name: str, folder: str | os.PathLike | None = None) -> ShippedModel:
    """The shipped model called ``name``; a ValueError lists the shipped names otherwise."""
    models = {m.name: m for m in list_shipped(folder)}
    if name not in models:
        known = ", ".join(models) or "none"
        raise ValueError(f"no shipped model {name!r} (shipped: {known})")
    return models[name]


def default_model_name(role: str = "one-stage", folder: str | os.PathLike | None = None) -> str | None:
    """Name of the default shipped model of a role (the card with ``default: true``, else the first)."""
    models = [m for m in list_shipped(folder) if m.role == role]
    for m in models:
        if m.default:
            return m.name
    return models[0].name if models else None


def default_pipeline(folder: str | os.PathLike | None = None) -> tuple[str, dict, str] | None:
    """``(name, options, why)`` of the default pipeline (``weights/default.json``, else the default one-stage
    model with no options), or None when nothing is shipped."""
    folder = WEIGHTS_DIR if folder is None else Path(folder)
    path = folder / "default.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return str(data["pipeline"]), dict(data.get("options", {})), str(data.get("why", ""))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: unreadable default pipeline ({exc})") from exc
    name = default_model_name("one-stage", folder)
    return None if name is None else (name, {}, "")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_shipped(name: str, folder: str | os.PathLike | None = None, *, check: bool = True):
    """Build the network of a shipped model with its weights (float32, eval mode, on the CPU).

    Raises:
        ValueError: unknown name; the weights file is missing or its sha256 differs from the card's (a
            corrupted or partial checkout); the weights do not fit the architecture.
    """
    from safetensors.torch import load_file

    from automatte.registry import create_model

    model = get_shipped(name, folder)
    if not model.path.is_file():
        raise ValueError(
            f"{model.path}: weights of shipped model {name!r} are missing (is the checkout complete? "
            "git lfs is not used: the file is plain git)"
        )
    if check and _sha256(model.path) != model.sha256:
        raise ValueError(f"{model.path}: sha256 differs from its model card; the file is corrupted or was replaced")
    net = create_model(model.arch, **model.kwargs)
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(model.path)).items()}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{model.path}: weights do not fit {model.arch} (missing {list(missing)[:5]}, "
            f"unexpected {list(unexpected)[:5]})"
        )
    return net.eval()


def shipped_onnx(name: str, folder: str | os.PathLike | None = None, *, recorded: str | None = None) -> Path | None:
    """The shipped ONNX graph of model ``name`` (``NAME.onnx`` beside its weights), or None when none ships.

    ``recorded``: the graph's ``automatte.weights_sha256`` metadata when the caller has already read it (ONNX
    Runtime's session does); otherwise it is read with ONNX Runtime.

    Raises:
        ValueError: the graph was made from other weights than the card's (stale: regenerate it), or names none.

    Example:
        >>> from automatte.shipped import default_model_name
        >>> shipped_onnx(default_model_name("segmenter")).name  # doctest: +SKIP
        'salient-segmenter.onnx'
    """
    model = get_shipped(name, folder)
    path = model.path.with_suffix(".onnx")
    if not path.is_file():
        return None
    if recorded is None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        recorded = session.get_modelmeta().custom_metadata_map.get(ONNX_SHA_KEY)
    if recorded != model.sha256:
        raise ValueError(
            f"{path}: stale ONNX graph of shipped model {name!r}: made from weights sha256 {str(recorded)[:12]}..., "
            f"the card's weights are {model.sha256[:12]}...; regenerate it: {ONNX_COMMAND} {name}"
        )
    return path


def export_shipped_onnx(
    name: str, folder: str | os.PathLike | None = None, *, height: int = 64, width: int = 64
) -> Path:
    """Write ``NAME.onnx`` beside a shipped model's weights (needs PyTorch and onnx: ``automatte[export]``).

    The graph is :func:`automatte.infer.export.export_onnx`'s (dynamic batch, height and width; input ``image``,
    output ``alpha``); every float32 weight that float16 holds exactly (all of the shipped float16 weights) is
    stored as float16 and cast back inside the graph, so the file is half the size and computes the same numbers.
    The safetensors' sha256 is recorded in the metadata (``automatte.weights_sha256``). Written atomically.

    Example:
        >>> export_shipped_onnx("salient-segmenter")  # doctest: +SKIP
        PosixPath('.../src/automatte/weights/salient-segmenter.onnx')
    """
    import tempfile

    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    from automatte.infer.export import export_onnx
    from automatte.io import atomic_write

    model = get_shipped(name, folder)
    net = load_shipped(name, folder)
    with tempfile.TemporaryDirectory() as tmp:
        raw = export_onnx(net, Path(tmp) / f"{name}.onnx", height=height, width=width)
        graph_model = onnx.load(str(raw))
    graph = graph_model.graph
    casts, kept = [], []
    for init in graph.initializer:
        value = numpy_helper.to_array(init)
        with np.errstate(over="ignore"):  # values float16 cannot hold stay float32 (checked below)
            half = value.astype(np.float16)
        if value.dtype == np.float32 and value.size >= 16 and np.array_equal(half.astype(np.float32), value):
            kept.append(numpy_helper.from_array(half, f"{init.name}__fp16"))
            casts.append(helper.make_node("Cast", [f"{init.name}__fp16"], [init.name], to=onnx.TensorProto.FLOAT))
        else:
            kept.append(init)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    for node in nodes:  # the exporter's stack traces name this machine's source paths
        node.doc_string = ""
        kept_props = [mp for mp in node.metadata_props if "stack_trace" not in mp.key]
        del node.metadata_props[:]
        node.metadata_props.extend(kept_props)
    del graph.node[:]
    graph.node.extend(nodes)
    del graph_model.metadata_props[:]
    meta = {ONNX_SHA_KEY: model.sha256, "automatte.model": name, "automatte.arch": model.arch,
            "automatte.command": f"{ONNX_COMMAND} {name}"}  # fmt: skip
    for key, value in meta.items():
        graph_model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(graph_model)
    path = model.path.with_suffix(".onnx")
    with atomic_write(path) as tmp:
        onnx.save(graph_model, str(tmp))
    return path


def ship_checkpoint(
    checkpoint: str | os.PathLike,
    name: str,
    role: str,
    *,
    folder: str | os.PathLike | None = None,
    default: bool = False,
    inference: dict | None = None,
    card: dict | None = None,
    kwargs: dict | None = None,
) -> ShippedModel:
    """Write ``NAME.safetensors`` (float16) and ``NAME.json`` from a training checkpoint, atomically.

    ``kwargs`` are the factory's keyword arguments without any ``pretrained`` path (the shipped weights
    replace it). The card gets the checkpoint's resolved config, step and model name, through
    :func:`portable_card` (no absolute path of this machine; a card field whose text names one is a ValueError).
    """
    import torch
    from safetensors.torch import save_file

    from automatte.io import atomic_write
    from automatte.models.weights import read_training_checkpoint

    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    ckpt = read_training_checkpoint(checkpoint)
    if ckpt is None:
        raise ValueError(f"{checkpoint}: not a checkpoint written by automatte train")
    arch = ckpt["model_name"]
    state = {k.removeprefix("module."): v for k, v in ckpt["model"].items()}
    half = {k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous() for k, v in state.items()}
    folder = WEIGHTS_DIR if folder is None else Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / f"{name}.safetensors"
    with atomic_write(weights) as tmp:
        save_file(half, str(tmp), metadata={"arch": arch, "name": name, "format": "automatte-shipped/1"})
    full_card = portable_card({"config": ckpt.get("config"), "step": ckpt.get("step"), **(card or {})})
    data: dict[str, Any] = {
        "name": name,
        "arch": arch,
        "role": role,
        "default": default,
        "kwargs": dict(kwargs or {}),
        "inference": dict(inference or {}),
        "sha256": _sha256(weights),
        "card": full_card,
    }
    with atomic_write(folder / f"{name}.json") as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return _read_card(folder / f"{name}.json")


def _portable_path(path: str, roots: list[Path]) -> str | None:
    """``path`` relative to the first of ``roots`` that holds it, ``src/automatte/weights/...`` for a file of the
    package's weights folder wherever the checkout was, else None."""
    for root in roots:
        try:
            return Path(path).resolve().relative_to(root).as_posix()
        except (ValueError, OSError):
            continue
    posix = path.replace("\\", "/")
    if _WEIGHTS_MARK in posix:
        return _WEIGHTS_MARK[1:] + posix.split(_WEIGHTS_MARK, 1)[1]
    return None


def portable_card(card: Any, root: str | os.PathLike | None = None) -> Any:
    """A model card's fields without the paths of the machine that made them.

    Every string that is an absolute path becomes relative to the repository (``root``, default the checkout
    this module runs from, then the current directory), or ``src/automatte/weights/NAME`` for a shipped weights
    file of another checkout; any other absolute path (a temporary run folder) becomes None.

    Raises:
        ValueError: a text field names an absolute path inside it (a command line written on this machine): the
            field's key and the path are in the message; write it relative to the repository.

    Example:
        >>> portable_card({"out_dir": "/tmp/run-1", "data": "build/pack"})
        {'out_dir': None, 'data': 'build/pack'}
    """
    roots = [Path(root).resolve()] if root is not None else [REPO_ROOT, Path.cwd().resolve()]

    def clean(value: Any, key: str) -> Any:
        if isinstance(value, dict):
            return {k: clean(v, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v, f"{key}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, str):
            return value
        if _ABSOLUTE.match(value) and "\n" not in value and len(value) < 4096:
            return _portable_path(value, roots)
        found = _MACHINE_PATH.search(value)
        if found:
            start = found.start()
            end = min(len(value), start + 60)
            raise ValueError(
                f"model card field {key!r} names a path of this machine ({value[start:end]!r}...): write it "
                "relative to the repository"
            )
        return value

    return clean(card, "")


def format_card(model: ShippedModel) -> str:
    """The model card as readable text (``automatte models NAME``)."""
    lines = [
        f"{model.name}  ({model.role}{', default' if model.default else ''})",
        f"  architecture: {model.arch}",
        f"  weights: {model.path.name}  sha256 {model.sha256}",
    ]
    if model.inference:
        lines.append("  inference: " + ", ".join(f"{k}={v}" for k, v in model.inference.items()))
    for key, value in model.card.items():
        if key == "config":
            continue
        if isinstance(value, dict):
            lines.append(f"  {key}:")
            lines.extend(f"    {k}: {v}" for k, v in value.items())
        else:
            lines.append(f"  {key}: {value}")
    return "\n".join(lines)
