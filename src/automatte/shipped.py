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
]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
ROLES = ("one-stage", "refiner", "segmenter")
REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout's root when run from the source tree
_ABSOLUTE = re.compile(r"^(?:/|~|\\\\|[A-Za-z]:[\\/])")  # a whole string that is an absolute path
# an absolute path of a machine anywhere inside a text (a command line, a note)
_MACHINE_PATH = re.compile(r"(?<![\w.~/-])(?:/(?:work|root|home|tmp|Users|mnt|private|var|opt)/|[A-Za-z]:[\\/])")
_WEIGHTS_MARK = "/src/automatte/weights/"


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
