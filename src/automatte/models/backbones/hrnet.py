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
PaddleSeg's HRNet (``conv_layer1_1._conv.weight``, ``st2.stage_st2_1...``, Paddle's BatchNorm ``_mean`` /
``_variance``) maps onto these names with :func:`map_paddle_hrnet_keys`; PaddleSeg pads its stride-2 convolutions
'SAME' (0 before, 1 after on even sizes), which ``same_padding=True`` reproduces.

Example:
    >>> import torch
    >>> net = hrnet_w18(width=4, stem_channels=8, stage1_planes=4, num_modules=(1, 1, 1, 1),
    ...                 num_blocks=(1, 1, 1, 1))
    >>> [tuple(f.shape[1:]) for f in net(torch.zeros(1, 3, 64, 64))]
    [(8, 32, 32), (4, 16, 16), (8, 8, 8), (16, 4, 4), (32, 2, 2)]
"""

from __future__ import annotations

import re
from pathlib import Path

import torch.nn.functional as F
from torch import Tensor, nn

from automatte.models.weights import load_backbone_state, read_state_dict

__all__ = [
    "HRNet",
    "map_paddle_hrnet_keys",
    "BasicBlock",
    "Bottleneck",
    "HighResolutionModule",
    "hrnet_w18",
    "hrnet_w48",
    "load_hrnet_state_dict",
]

_HEAD_PREFIXES = ("incre_modules.", "downsamp_modules.", "final_layer.", "classifier.", "last_layer.")


class SamePadConv2d(nn.Conv2d):
    """A stride-2 convolution padded as TensorFlow / Paddle 'SAME' on even sizes: 0 rows / columns before, 1
    after (``nn.Conv2d`` pads 1 on both sides). The models' inputs are multiples of 32, so every stride-2
    convolution of HRNet sees even sizes. Same parameters (and state-dict keys) as ``nn.Conv2d``."""

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(F.pad(x, (0, 1, 0, 1)), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _conv(cin: int, cout: int, kernel_size: int, stride: int = 1, same: bool = False) -> nn.Conv2d:
    """A bias-free conv padded ``kernel_size // 2``, or 'SAME' (:class:`SamePadConv2d`) for stride 2 when ``same``."""
    if same and stride == 2:
        return SamePadConv2d(cin, cout, kernel_size, stride, 0, bias=False)
    return nn.Conv2d(cin, cout, kernel_size, stride, kernel_size // 2, bias=False)


def _conv_bn(
    cin: int, cout: int, kernel_size: int, stride: int = 1, relu: bool = True, same: bool = False
) -> nn.Sequential:
    """conv (no bias) -> BN [-> ReLU], indexed 0, 1 [, 2] like the official transition / fuse layers."""
    conv = _conv(cin, cout, kernel_size, stride, same)
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

    def __init__(self, channels: list[int], num_blocks: int, same: bool = False):
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
                    steps = [_conv_bn(channels[j], channels[j], 3, 2, same=same) for _ in range(i - j - 1)]
                    steps.append(_conv_bn(channels[j], channels[i], 3, 2, relu=False, same=same))
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


def _transition(pre: list[int], cur: list[int], same: bool = False) -> nn.ModuleList:
    """Adapt kept branches (3x3 conv when the width changes) and open new ones (3x3 stride-2 from the last)."""
    layers: list[nn.Module] = []
    for i, c in enumerate(cur):
        if i < len(pre):
            layers.append(_conv_bn(pre[i], c, 3) if pre[i] != c else nn.Identity())
        else:
            steps = [_conv_bn(pre[-1], pre[-1], 3, 2, same=same) for _ in range(i - len(pre))]
            steps.append(_conv_bn(pre[-1], c, 3, 2, same=same))
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
        same_padding: pad the stride-2 convolutions 'SAME' (:class:`SamePadConv2d`), as PaddleSeg's HRNet.
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
        same_padding: bool = False,
        pretrained: str | Path | None = None,
    ):
        super().__init__()
        if len(num_modules) != 4 or len(num_blocks) != 4:
            raise ValueError(f"HRNet: num_modules and num_blocks need 4 entries, got {num_modules}, {num_blocks}")
        if num_modules[0] != 1:
            raise ValueError(f"HRNet: stage 1 has exactly one module (a chain of Bottlenecks), got {num_modules[0]}")
        same = same_padding
        self.conv1 = _conv(in_channels, stem_channels, 3, 2, same)
        self.bn1 = nn.BatchNorm2d(stem_channels)
        self.conv2 = _conv(stem_channels, stem_channels, 3, 2, same)
        self.bn2 = nn.BatchNorm2d(stem_channels)
        self.relu = nn.ReLU(inplace=True)
        cin = [stem_channels] + [stage1_planes * Bottleneck.expansion] * (num_blocks[0] - 1)
        self.layer1 = nn.Sequential(*(Bottleneck(c, stage1_planes) for c in cin[: num_blocks[0]]))
        widths = [width * 2**k for k in range(4)]
        pre = [stage1_planes * 4]
        for s in (2, 3, 4):  # transition{s-1} then stage{s}
            cur = widths[:s]
            setattr(self, f"transition{s - 1}", _transition(pre, cur, same))
            modules = (HighResolutionModule(cur, num_blocks[s - 1], same) for _ in range(num_modules[s - 1]))
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


_PADDLE_BN = {"_mean": "running_mean", "_variance": "running_var", "weight": "weight", "bias": "bias"}


def paddle_conv_bn(key: str) -> tuple[str, str] | None:
    """Split a PaddleSeg ``ConvBN`` / ``ConvBNReLU`` / ``ConvBNLayer`` key into (layer prefix, torch suffix):
    ``'a.b._conv.weight'`` -> ``('a.b', '0.weight')``, ``'a.b._batch_norm._mean'`` -> ``('a.b', '1.running_mean')``;
    None for other keys.

    Example:
        >>> paddle_conv_bn("tr1.transition_tr1_layer_2._batch_norm._variance")
        ('tr1.transition_tr1_layer_2', '1.running_var')
    """
    m = re.fullmatch(r"(.+)\._conv\.(weight|bias)", key)
    if m:
        return m[1], f"0.{m[2]}"
    m = re.fullmatch(r"(.+)\._batch_norm\.(weight|bias|_mean|_variance)", key)
    if m:
        return m[1], f"1.{_PADDLE_BN[m[2]]}"
    return None


def map_paddle_hrnet_keys(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename a PaddleSeg HRNet state dict (``conv_layer1_1``, ``la1.bb_layer2_1``, ``tr1.transition_tr1_layer_1``,
    ``st2.stage_st2_1.branches_func...``, ``...fuse_func.residual_st2_1_layer_1_2``) to this module's names.

    Paddle's convolutions are torch's layout ([out, in, kh, kw]); BatchNorm ``_mean`` / ``_variance`` become
    ``running_mean`` / ``running_var``. Build the network with ``same_padding=True`` to reproduce PaddleSeg's
    outputs. A key of no known layout raises a ValueError naming it.

    Example:
        >>> import torch
        >>> out = map_paddle_hrnet_keys({"st2.stage_st2_1.fuse_func.residual_st2_1_layer_2_1_1._conv.weight":
        ...                              torch.zeros(1)})
        >>> list(out)
        ['stage2.0.fuse_layers.1.0.0.0.weight']
    """
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        split = paddle_conv_bn(key)
        if split is None:
            raise ValueError(
                f"PaddleSeg HRNet: unexpected key {key!r} (expected ConvBN layers '..._conv' / '..._batch_norm')"
            )
        layer, tail = split
        conv, bn = tail.split(".", 1)
        if m := re.fullmatch(r"conv_layer1_([12])", layer):
            new = f"{'conv' if conv == '0' else 'bn'}{m[1]}.{bn}"
        elif m := re.fullmatch(r"la1\.bb_layer2_(\d+)\.(conv[123]|conv_down)", layer):
            block = int(m[1]) - 1
            if m[2] == "conv_down":
                new = f"layer1.{block}.downsample.{tail}"
            else:
                new = f"layer1.{block}.{m[2] if conv == '0' else 'bn' + m[2][-1]}.{bn}"
        elif m := re.fullmatch(r"tr(\d)\.transition_tr\d_layer_(\d+)", layer):
            t, i = int(m[1]), int(m[2]) - 1
            new = f"transition{t}.{i}.{tail}" if i < t else f"transition{t}.{i}.0.{tail}"  # kept / new branch
        elif m := re.fullmatch(
            r"st(\d)\.stage_st\d_(\d+)\.branches_func\.bb_st\d_\d+_branch_layer_(\d+)_(\d+)\.(conv[12])", layer
        ):
            s, mod, i, j = int(m[1]), int(m[2]) - 1, int(m[3]) - 1, int(m[4]) - 1
            name = m[5] if conv == "0" else "bn" + m[5][-1]
            new = f"stage{s}.{mod}.branches.{i}.{j}.{name}.{bn}"
        elif m := re.fullmatch(
            r"st(\d)\.stage_st\d_(\d+)\.fuse_func\.residual_st\d_\d+_layer_(\d+)_(\d+)(?:_(\d+))?", layer
        ):
            s, mod, i, j = int(m[1]), int(m[2]) - 1, int(m[3]) - 1, int(m[4]) - 1
            step = "" if m[5] is None else f"{int(m[5]) - 1}."
            new = f"stage{s}.{mod}.fuse_layers.{i}.{j}.{step}{tail}"
        else:
            raise ValueError(f"PaddleSeg HRNet: unexpected key {key!r}")
        out[new] = value
    return out
