"""Padding to a multiple of the network stride and cropping back (the models require such sizes)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = ["pad_to_multiple", "crop_to"]


def pad_to_multiple(x: Tensor, multiple: int = 32, mode: str = "reflect") -> tuple[Tensor, tuple[int, int, int, int]]:
    """Pad (B, C, H, W) at the bottom and right so that H and W are multiples of ``multiple``.

    Reflection padding (replicate where the image is too small to reflect) keeps image statistics at the
    border. Returns the padded tensor and ``(top, bottom, left, right)``, for :func:`crop_to`.

    Example:
        >>> import torch
        >>> y, pads = pad_to_multiple(torch.zeros(1, 3, 70, 90))
        >>> tuple(y.shape[-2:]), pads
        ((96, 96), (0, 26, 0, 6))
    """
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    h, w = x.shape[-2:]
    bottom, right = (-h) % multiple, (-w) % multiple
    if bottom == 0 and right == 0:
        return x, (0, 0, 0, 0)
    if mode == "reflect" and (bottom >= h or right >= w):
        mode = "replicate"
    return F.pad(x, (0, right, 0, bottom), mode=mode), (0, bottom, 0, right)


def crop_to(x: Tensor, pads: tuple[int, int, int, int]) -> Tensor:
    """Undo :func:`pad_to_multiple` on a (B, C, H', W') output."""
    top, bottom, left, right = pads
    h, w = x.shape[-2:]
    return x[..., top : h - bottom, left : w - right]
