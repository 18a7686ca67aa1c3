"""Reading checkpoints: one reader for every family's ``pretrained=`` argument."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

__all__ = ["read_state_dict"]

_WRAPPERS = ("state_dict", "model", "model_state")


def read_state_dict(path: str | Path, *, metadata: bool = False) -> dict[str, Tensor]:
    """A state dict (name -> tensor) from ``.safetensors`` or a torch ``.pth`` / ``.pt`` file.

    ``state_dict`` / ``model`` / ``model_state`` wrappers and DataParallel ``module.`` prefixes are removed;
    torch files are loaded with ``weights_only=True`` (no code runs).

    Args:
        path: the checkpoint file.
        metadata: for ``.safetensors``, also return the file's metadata under the key ``"__metadata__"``.

    Raises:
        FileNotFoundError: no such file. ValueError: the file holds no state dict.

    Example:
        >>> import tempfile, pathlib, torch
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.pt"
        >>> torch.save({"state_dict": {"module.conv.weight": torch.ones(1)}}, p)
        >>> list(read_state_dict(p))
        ['conv.weight']
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        state: dict = {}
        with safe_open(str(path), framework="pt") as f:
            for key in f.keys():
                state[key] = f.get_tensor(key)
            if metadata:
                state["__metadata__"] = dict(f.metadata() or {})
        return state
    obj = torch.load(path, map_location="cpu", weights_only=True)
    for key in _WRAPPERS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict (name -> tensor), got {type(obj).__name__}")
    return {k.removeprefix("module."): v for k, v in obj.items()}
