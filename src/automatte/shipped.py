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
card records the run's resolved config and the command that re-creates it).

Example:
    >>> from automatte.shipped import list_shipped
    >>> all(m.role in ROLES for m in list_shipped())
    True
"""

from __future__ import annotations

import hashlib
import json
import os
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
    "format_card",
]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
ROLES = ("one-stage", "refiner", "segmenter")


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
    replace it). The card gets the checkpoint's resolved config, step and model name.
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
    full_card = {"config": ckpt.get("config"), "step": ckpt.get("step"), **(card or {})}
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
