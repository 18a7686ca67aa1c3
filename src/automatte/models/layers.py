"""Layers shared by several model families."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ConvBNAct",
    "SqueezeExcite",
    "PyramidPooling",
    "check_multiple_of_32",
    "patch_input_channels",
    "resize_to",
    "trimap_one_hot",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def check_multiple_of_32(image: Tensor, model: str) -> None:
    """Raise ValueError unless ``image`` (B, C, H, W) has H and W multiples of 32 (the models' contract:
    ``automatte.infer.padding.pad_to_multiple`` pads first).

    Example:
        >>> check_multiple_of_32(torch.zeros(1, 3, 64, 96), "X")
        >>> check_multiple_of_32(torch.zeros(1, 3, 60, 96), "X")
        Traceback (most recent call last):
        ...
        ValueError: X: image height and width must be multiples of 32, got 60x96 (pad first)
    """
    h, w = image.shape[-2:]
    if h % 32 or w % 32:
        raise ValueError(f"{model}: image height and width must be multiples of 32, got {h}x{w} (pad first)")


class ConvBNAct(nn.Sequential):
    """Conv -> BatchNorm -> activation (ReLU by default; ``act=None`` for none)."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        act: type[nn.Module] | None = nn.ReLU,
        norm: type[nn.Module] | None = nn.BatchNorm2d,
    ):
        padding = dilation * (kernel_size - 1) // 2
        layers: list[nn.Module] = [
            nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding, dilation=dilation, groups=groups, bias=norm is None)
        ]
        if norm is not None:
            layers.append(norm(out_ch))
        if act is not None:
            layers.append(act(inplace=True) if act in (nn.ReLU, nn.ReLU6, nn.LeakyReLU) else act())
        super().__init__(*layers)


class SqueezeExcite(nn.Module):
    """Squeeze-and-Excitation channel attention (Hu et al. 2018): x * sigmoid(W2 relu(W1 avgpool(x)))."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.fc = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1), nn.Sigmoid()
        )

    def forward(self, x: Tensor) -> Tensor:
        return x * self.fc(x.mean(dim=(2, 3), keepdim=True))


class PyramidPooling(nn.Module):
    """Pyramid pooling module (Zhao et al. 2017, PSPNet): adaptive average pools at ``bins``, 1x1 conv each,
    upsampled and concatenated with the input. Output channels: ``in_ch + len(bins) * branch_ch``
    (or ``out_ch`` when given, through a 3x3 fusion conv)."""

    def __init__(self, in_ch: int, branch_ch: int, bins: tuple[int, ...] = (1, 2, 3, 6), out_ch: int | None = None):
        super().__init__()
        self.bins = bins
        self.branches = nn.ModuleList(ConvBNAct(in_ch, branch_ch, 1) for _ in bins)
        total = in_ch + len(bins) * branch_ch
        self.fuse = ConvBNAct(total, out_ch, 3) if out_ch else nn.Identity()
        self.out_channels = out_ch or total

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        pooled = [
            F.interpolate(branch(F.adaptive_avg_pool2d(x, b)), size=size, mode="bilinear", align_corners=False)
            for b, branch in zip(self.bins, self.branches)
        ]
        return self.fuse(torch.cat([x, *pooled], dim=1))


def patch_input_channels(conv: nn.Conv2d, in_channels: int, init: str = "zeros") -> nn.Conv2d:
    """A copy of a first convolution that takes ``in_channels`` inputs and keeps the pretrained RGB filters.

    The first ``conv.in_channels`` input channels keep their weights; the extra ones (trimap, coarse mask)
    start at zero (``init="zeros"``: the network initially behaves exactly as the RGB one) or with the mean
    of the RGB filters (``init="mean"``).

    Example:
        >>> conv = nn.Conv2d(3, 8, 3)
        >>> wide = patch_input_channels(conv, 4)
        >>> bool(torch.equal(wide.weight[:, :3], conv.weight)) and wide.in_channels
        4
    """
    if in_channels < conv.in_channels:
        raise ValueError(f"patch_input_channels: cannot shrink {conv.in_channels} input channels to {in_channels}")
    new = nn.Conv2d(
        in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        conv.bias is not None,
        conv.padding_mode,
    )
    with torch.no_grad():
        extra = in_channels - conv.in_channels
        new.weight[:, : conv.in_channels] = conv.weight
        if extra:
            if init == "zeros":
                new.weight[:, conv.in_channels :] = 0
            elif init == "mean":
                new.weight[:, conv.in_channels :] = conv.weight.mean(dim=1, keepdim=True)
            else:
                raise ValueError(f"patch_input_channels: init must be 'zeros' or 'mean', got {init!r}")
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new


def resize_to(x: Tensor, ref: Tensor | tuple[int, int], mode: str = "bilinear") -> Tensor:
    """Resize ``x`` to the spatial size of ``ref`` (a tensor or an (H, W) pair)."""
    size = tuple(ref.shape[-2:]) if isinstance(ref, Tensor) else tuple(ref)
    if tuple(x.shape[-2:]) == size:
        return x
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest")
    return F.interpolate(x, size=size, mode=mode, align_corners=False)


def trimap_one_hot(trimap: Tensor) -> Tensor:
    """(B, 1, H, W) trimap in [0, 1] -> (B, 3, H, W) one-hot (background, unknown, foreground) by the trimap rule
    of :func:`automatte.ops.trimap.trimap_masks`.

    Example:
        >>> trimap_one_hot(torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 1, 3))[0, :, 0].tolist()
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    from automatte.ops.trimap import trimap_masks

    return torch.cat([m.to(trimap.dtype) for m in trimap_masks(trimap)], dim=1)
