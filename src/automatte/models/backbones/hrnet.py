"""HRNet backbones (Wang et al. 2019, "Deep high-resolution representation learning", HRNetV2 as used for
segmentation), in plain torch, returning the stem feature and the four branch outputs.

Architecture (paper section 3, Fig. 2 and the ImageNet configuration of its appendix):

* stem: two 3x3 stride-2 convolutions (64 channels each, BN + ReLU) -> 1/4;
* stage 1: one module of 4 Bottleneck blocks (64 planes, 256 channels out);
* transitions: a 3x3 convolution adapts the channels of a kept branch (only after stage 1) and a 3x3
  stride-2 convolution from the lowest-resolution branch opens the new branch;
* stages 2, 3, 4: 1 / 4 / 3 modules of 2 / 3 / 4 parallel branches of widths ``C, 2C, 4C, 8C``
  (``C = 18`` for W18, ``48`` for W48), 4 BasicBlocks per branch, then a multi-resolution fusion
  (the paper's exchange unit): the output of branch ``i`` is ``ReLU(sum_j f_ij(x_j))`` with ``f_ii`` the
  identity, ``f_ij`` for a lower resolution ``j > i`` a 1x1 conv + BN and a bilinear resize to branch
  ``i``'s size (``F.interpolate(size=...)``, export-safe; HRNetV2's segmentation code also upsamples
  bilinearly), and for a higher resolution ``j < i`` ``i - j`` 3x3 stride-2 conv + BN (ReLU between them).

``forward(x)`` returns ``[stem, b1, b2, b3, b4]`` at strides ``[2, 4, 8, 16, 32]`` with channels
``[64, C, 2C, 4C, 8C]`` (``.channels``, ``.reductions``); the stem feature is the output of the first
3x3 stride-2 conv + BN + ReLU (PP-Matting's detail branch reads it). No classification head.

Parameter counts (measured, no head): HRNet-W18 9.56 M, HRNet-W48 65.33 M (the HRNetV2 paper quotes 9.6 M
for HRNetV2-W18 and 65.9 M for HRNetV2-W48 in segmentation, whose 0.5 M difference is the head).

Pretrained weights: module names follow the official implementation (HRNet-Image-Classification /
HRNet-Semantic-Segmentation): ``conv1``, ``bn1``, ``conv2``, ``bn2``, ``layer1.0.conv1``,
``layer1.0.downsample.0``, ``transition1.0.0`` / ``transition1.1.0.0``, ``stage2.0.branches.0.0.conv1``,
``stage2.0.fuse_layers.1.0.0.0``... so their ImageNet checkpoints (e.g. ``hrnetv2_w48_imagenet_pretrained.pth``)
load with ``pretrained=PATH``; their heads (``incre_modules``, ``downsamp_modules``, ``final_layer``,
``classifier``, ``last_layer``) are ignored and ``model.`` / ``backbone.`` / ``module.`` prefixes stripped.
PaddleSeg's ``.pdparams`` (``conv_layer1_1._conv.weight``, ``st2.stage_st2_1...``) are not read: convert
them to these names first.

Example:
    >>> import torch
    >>> net = hrnet_w18(width=4, stem_channels=8, stage1_planes=4, num_modules=(1, 1, 1, 1),
    ...                 num_blocks=(1, 1, 1, 1))
    >>> [tuple(f.shape[1:]) for f in net(torch.zeros(1, 3, 64, 64))]
    [(8, 32, 32), (4, 16, 16), (8, 8, 8), (16, 4, 4), (32, 2, 2)]
"""

from __future__ import annotations

from pathlib import Path

import torch.nn.functional as F
from torch import Tensor, nn

from automatte.models.weights import load_backbone_state, read_state_dict

__all__ = [
    "HRNet",
    "BasicBlock",
    "Bottleneck",
    "HighResolutionModule",
    "hrnet_w18",
    "hrnet_w48",
    "load_hrnet_state_dict",
]

_HEAD_PREFIXES = ("incre_modules.", "downsamp_modules.", "final_layer.", "classifier.", "last_layer.")


def _conv_bn(cin: int, cout: int, kernel_size: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    """conv (no bias) -> BN [-> ReLU], indexed 0, 1 [, 2] like the official transition / fuse layers."""
    conv = nn.Conv2d(cin, cout, kernel_size, stride, kernel_size // 2, bias=False)
    layers: list[nn.Module] = [conv, nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """3x3 conv-BN-ReLU, 3x3 conv-BN, plus the shortcut (1x1 conv-BN when the channels change), ReLU."""

    expansion = 1

    def __init__(self, cin: int, planes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _conv_bn(cin, planes, 1, relu=False) if cin != planes else None

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    """1x1 (planes) -> 3x3 (planes) -> 1x1 (4 * planes), BN after each, residual, ReLU (stage 1)."""

    expansion = 4

    def __init__(self, cin: int, planes: int):
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _conv_bn(cin, out, 1, relu=False) if cin != out else None

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class HighResolutionModule(nn.Module):
    """Parallel branches of BasicBlocks followed by the multi-resolution fusion (exchange unit, HRNet sec. 3)."""

    def __init__(self, channels: list[int], num_blocks: int):
        super().__init__()
        n = len(channels)
        self.branches = nn.ModuleList(nn.Sequential(*(BasicBlock(c, c) for _ in range(num_blocks))) for c in channels)
        fuse_layers = []
        for i in range(n):
            row: list[nn.Module] = []
            for j in range(n):
                if j > i:  # lower resolution: 1x1 conv + BN, resized in forward
                    row.append(_conv_bn(channels[j], channels[i], 1, relu=False))
                elif j == i:
                    row.append(nn.Identity())
                else:  # higher resolution: i - j stride-2 3x3 convs, the last one to channels[i] without ReLU
                    steps = [_conv_bn(channels[j], channels[j], 3, 2) for _ in range(i - j - 1)]
                    steps.append(_conv_bn(channels[j], channels[i], 3, 2, relu=False))
                    row.append(nn.Sequential(*steps))
            fuse_layers.append(nn.ModuleList(row))
        self.fuse_layers = nn.ModuleList(fuse_layers)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, xs: list[Tensor]) -> list[Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        out = []
        for i, row in enumerate(self.fuse_layers):
            y = xs[i]
            for j, layer in enumerate(row):
                if j == i:
                    continue
                z = layer(xs[j])
                if j > i:
                    z = F.interpolate(z, size=xs[i].shape[-2:], mode="bilinear", align_corners=False)
                y = y + z
            out.append(self.relu(y))
        return out


def _transition(pre: list[int], cur: list[int]) -> nn.ModuleList:
    """Adapt kept branches (3x3 conv when the width changes) and open new ones (3x3 stride-2 from the last)."""
    layers: list[nn.Module] = []
    for i, c in enumerate(cur):
        if i < len(pre):
            layers.append(_conv_bn(pre[i], c, 3) if pre[i] != c else nn.Identity())
        else:
            steps = [_conv_bn(pre[-1], pre[-1], 3, 2) for _ in range(i - len(pre))]
            steps.append(_conv_bn(pre[-1], c, 3, 2))
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


class HRNet(nn.Module):
    """HRNetV2 backbone: ``forward(x) -> [stem (1/2), branch1 (1/4), branch2 (1/8), branch3 (1/16), branch4 (1/32)]``.

    Args:
        width: ``C``, the width of the highest-resolution branch (18 for W18, 48 for W48).
        in_channels: input channels (3 for RGB; more for e.g. image + trimap).
        stem_channels: width of the two stem convolutions (64 in the paper).
        stage1_planes: Bottleneck planes of stage 1 (64; the stage outputs 4x that).
        num_modules: modules per stage (1, 1, 4, 3); stage 1 always has exactly one.
        num_blocks: blocks per branch in each stage (4, 4, 4, 4); Bottlenecks in stage 1, BasicBlocks after.
        pretrained: optional path to an official HRNet checkpoint (see the module docstring).
    """

    reductions = (2, 4, 8, 16, 32)

    def __init__(
        self,
        width: int = 18,
        *,
        in_channels: int = 3,
        stem_channels: int = 64,
        stage1_planes: int = 64,
        num_modules: tuple[int, int, int, int] = (1, 1, 4, 3),
        num_blocks: tuple[int, int, int, int] = (4, 4, 4, 4),
        pretrained: str | Path | None = None,
    ):
        super().__init__()
        if len(num_modules) != 4 or len(num_blocks) != 4:
            raise ValueError(f"HRNet: num_modules and num_blocks need 4 entries, got {num_modules}, {num_blocks}")
        if num_modules[0] != 1:
            raise ValueError(f"HRNet: stage 1 has exactly one module (a chain of Bottlenecks), got {num_modules[0]}")
        self.conv1 = nn.Conv2d(in_channels, stem_channels, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_channels)
        self.conv2 = nn.Conv2d(stem_channels, stem_channels, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(stem_channels)
        self.relu = nn.ReLU(inplace=True)
        cin = [stem_channels] + [stage1_planes * Bottleneck.expansion] * (num_blocks[0] - 1)
        self.layer1 = nn.Sequential(*(Bottleneck(c, stage1_planes) for c in cin[: num_blocks[0]]))
        widths = [width * 2**k for k in range(4)]
        pre = [stage1_planes * 4]
        for s in (2, 3, 4):  # transition{s-1} then stage{s}
            cur = widths[:s]
            setattr(self, f"transition{s - 1}", _transition(pre, cur))
            modules = (HighResolutionModule(cur, num_blocks[s - 1]) for _ in range(num_modules[s - 1]))
            setattr(self, f"stage{s}", nn.Sequential(*modules))
            pre = cur
        self.channels = [stem_channels, *widths]
        for m in self.modules():
            # skipped on meta (parameter counts): normal_ there imports torch._dynamo, seconds for nothing
            if isinstance(m, nn.Conv2d) and not m.weight.is_meta:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if pretrained is not None:
            load_hrnet_state_dict(self, read_state_dict(pretrained))

    def forward(self, x: Tensor) -> list[Tensor]:
        stem = self.relu(self.bn1(self.conv1(x)))
        xs = [self.layer1(self.relu(self.bn2(self.conv2(stem))))]
        for s in (2, 3, 4):
            transition = getattr(self, f"transition{s - 1}")
            # new branches start from the lowest-resolution output of the previous stage
            xs = [t(xs[i] if i < len(xs) else xs[-1]) for i, t in enumerate(transition)]
            xs = getattr(self, f"stage{s}")(xs)
        return [stem, *xs]


def hrnet_w18(**kw) -> HRNet:
    """HRNet-W18 (C = 18): 9.56 M parameters without head; keywords as :class:`HRNet`."""
    return HRNet(kw.pop("width", 18), **kw)


def hrnet_w48(**kw) -> HRNet:
    """HRNet-W48 (C = 48): 65.33 M parameters without head; keywords as :class:`HRNet`."""
    return HRNet(kw.pop("width", 48), **kw)


def load_hrnet_state_dict(net: HRNet, state: dict[str, Tensor]) -> list[str]:
    """Load official-named HRNet weights into ``net`` (non-strict) and return the missing keys.

    ``module.`` / ``model.`` / ``backbone.`` prefixes are stripped and head keys ignored. A 3-channel
    ``conv1.weight`` is widened with :func:`automatte.models.layers.patch_input_channels` when ``net`` takes more input channels.
    Missing or unexpected keys give a warning; a shape mismatch raises a ValueError naming the key.
    """
    clean = {}
    for k, v in state.items():
        for prefix in ("module.", "model.", "backbone."):
            k = k.removeprefix(prefix)
        if not k.startswith(_HEAD_PREFIXES):
            clean[k] = v
    return load_backbone_state(net, clean, "HRNet")
