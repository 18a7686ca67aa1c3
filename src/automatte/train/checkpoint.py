"""Training checkpoints: atomic writes, everything needed to resume bit for bit, nanoGPT-style contents.

A checkpoint is one ``torch.save`` dict (loadable with ``torch.load(..., weights_only=True)``: tensors,
numbers, strings, lists and dicts only):

=================  ================================================================================
``format``         ``"automatte-train/1"``
``model_name``     the registry name (``create_model(model_name)`` rebuilds the network)
``model``          the network's state dict (unwrapped: no ``module.`` prefix)
``config``         the resolved :class:`~automatte.train.config.Config` (:func:`~automatte.train.config.to_dict`)
``step``           optimiser steps done
``optimizer``      optimiser state dict; ``scheduler``, ``scaler``: theirs (``scaler`` may be None)
``rng``            one entry per process (rank order): Python, NumPy, torch CPU and CUDA generator states
                   (``best.pt``: rank 0's only; runs resume from ``last.pt``)
``best``           ``{"metric": name, "value": v or None, "step": s or None}``
``extra``          the paradigm's own state (the adaptation's discriminator, its optimiser, the pseudo-label
                   network)
=================  ================================================================================

Writes go through :func:`automatte.io.atomic_write` (a hidden temporary file next to the destination, renamed
onto it when complete): a crash or a kill during a save leaves the previous file intact, never a half-written
one. ``read_state_dict`` of :mod:`automatte.models.backbones.resnet` (the factories' ``pretrained=``) reads the
``model`` entry, so a training checkpoint can seed another model directly.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from automatte.io import atomic_write
from automatte.models.weights import TRAIN_FORMAT, model_state_from_file

__all__ = [
    "FORMAT",
    "save_checkpoint",
    "load_checkpoint",
    "capture_rng_state",
    "restore_rng_state",
    "model_state_from_file",
]

FORMAT = TRAIN_FORMAT


def save_checkpoint(path: str | Path, state: Mapping[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file + rename); return ``path``.

    If ``torch.save`` fails (disk full, an exception, the process killed), ``path`` keeps its previous
    content and the temporary file is removed (or, after a kill, left hidden as ``.NAME.*.tmp``).

    Example:
        >>> import tempfile, pathlib
        >>> p = save_checkpoint(pathlib.Path(tempfile.mkdtemp()) / "last.pt", {"format": FORMAT, "step": 3})
        >>> load_checkpoint(p)["step"]
        3
    """
    path = Path(path)
    with atomic_write(path) as tmp:
        torch.save(dict(state), tmp)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only``: no code runs on load).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a checkpoint of this trainer.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for a corrupt file
        raise ValueError(f"{path}: not a readable torch checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path}: not an automatte training checkpoint (no format {FORMAT!r})")
    return state


def capture_rng_state() -> dict:
    """This process's Python, NumPy, torch (and CUDA, when initialised) generator states, as plain data.

    Example:
        >>> s = capture_rng_state(); a = torch.rand(1); restore_rng_state(s)
        >>> bool(torch.rand(1) == a)
        True
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    state = {
        "python": [version, list(internal), gauss],
        "numpy": [kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else [],
    }
    return state


def restore_rng_state(state: Mapping) -> None:
    """Inverse of :func:`capture_rng_state` (CUDA states are restored when CUDA is available)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.int64).astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
