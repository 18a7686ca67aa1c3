"""ResNet-34 / ResNet-50 backbones (He et al. 2016) in plain torch, returning stage features.

Key names follow torchvision (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer2.0.downsample.0``...), so a
torchvision ImageNet state dict loads with ``pretrained=PATH``. The ImageNet normalisation is the network's
job, not the backbone's: the backbone takes whatever the model feeds it.

Three variants of the stride schedule:

* ``output_stride=32`` (default): the classic schedule. Features (shallow to deep) at strides
  ``[2 (stem, before the max-pool), 4, 8, 16, 32]``.
* ``output_stride=16`` / ``8``: DeepLabv3-style dilation (as torchvision's ``replace_stride_with_dilation``):
  the last one / two stages keep stride 1 and dilate their 3x3 convolutions by 2 (and 4) instead; the first
  block of a dilated stage keeps the previous dilation. Strides ``[2, 4, 8, 16, 16]`` / ``[2, 4, 8, 8, 8]``.
* ``aim_stem=True``: AIM-Net's improved backbone (aim-net-aim500.txt section 3.1 and its supplementary
  Table 2). ``conv1`` has stride 1 (the stem feature is at full resolution); the stride-2 of conv1 and the
  classic max-pool become two 3x3/stride-2/padding-1 max-pools with ``return_indices``; the stride-2 of the
  first block of layer2, layer3 and layer4 (its 3x3 conv and its 1x1 downsample conv) becomes stride 1,
  and a 3x3/stride-2/padding-1 max-pool with indices is added before layer2, layer3, layer4 and after
  conv1 twice. That is five max-pools in all::

      conv1 (s1) -> stem [1/1] -> mp0 [1/2] -> mp1 [1/4] -> layer1 [1/4] -> mp2 [1/8] -> layer2 [1/8]
                 -> mp3 [1/16] -> layer3 [1/16] -> mp4 [1/32] -> layer4 [1/32]

  Features are at strides ``[1, 4, 8, 16, 32]``; :meth:`ResNet.forward_with_indices` also returns the five
  index tensors ``[mp0, mp1, mp2, mp3, mp4]`` (each indexes the flattened H*W plane of the max-pool's
  input, as ``F.max_unpool2d`` expects). Parameter shapes are unchanged, so torchvision weights still load
  (the paper retrains on ImageNet; we only have the vanilla weights). ``output_stride`` must be 32.

Example:
    >>> import torch
    >>> net = resnet34(width=8, layers=(1, 1, 1, 1))
    >>> [f.shape[-1] for f in net(torch.zeros(1, 3, 64, 64))]
    [32, 16, 8, 4, 2]
    >>> net.channels
    [8, 8, 16, 32, 64]
"""

from __future__ import annotations

from pathlib import Path

from torch import Tensor, nn

from automatte.models.weights import load_backbone_state, read_state_dict  # noqa: F401  (re-exported for the families)

__all__ = ["ResNet", "BasicBlock", "Bottleneck", "resnet34", "resnet50", "load_resnet_state_dict", "read_state_dict"]


def _conv3x3(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or 1x1 projection) shortcut (ResNet-18/34)."""

    expansion = 1

    def __init__(
        self,
        cin: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        first_dilation: int = 1,
        downsample: nn.Module | None = None,
    ):
        super().__init__()
        self.conv1 = _conv3x3(cin, planes, stride, first_dilation)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes, 1, dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carries the stride, torchvision's "v1.5"), 1x1 expand (x4) (ResNet-50)."""

    expansion = 4

    def __init__(
        self,
        cin: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        first_dilation: int = 1,
        downsample: nn.Module | None = None,
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride, first_dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet trunk without the classifier; ``forward`` returns the five stage features, shallow to deep.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: blocks per stage, e.g. ``(3, 4, 6, 3)``.
        in_channels: input channels (the first conv is widened; see :func:`load_resnet_state_dict`).
        output_stride: 32, 16 or 8 (DeepLabv3-style dilation of the last stages).
        aim_stem: AIM-Net's stride-1 conv1 + five max-pools with indices (see the module docstring).
        width: base width (64 for the real networks; stage widths are ``width * (1, 2, 4, 8) * expansion``).
        pretrained: optional path to a torchvision-style state dict (.pth/.pt/.safetensors).

    Attributes:
        channels: channels of the five returned features.
        strides: their strides relative to the input.
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: tuple[int, ...] = (3, 4, 6, 3),
        *,
        in_channels: int = 3,
        output_stride: int = 32,
        aim_stem: bool = False,
        width: int = 64,
        pretrained: str | Path | None = None,
    ):
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ValueError(f"ResNet: output_stride must be 8, 16 or 32, got {output_stride}")
        if aim_stem and output_stride != 32:
            raise ValueError(f"ResNet: aim_stem supports output_stride=32 only, got {output_stride}")
        if len(layers) != 4:
            raise ValueError(f"ResNet: layers must have 4 entries, got {layers}")
        self.aim_stem = aim_stem
        self.conv1 = nn.Conv2d(in_channels, width, 7, 1 if aim_stem else 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        # classic: one 3x3/s2 max-pool; AIM: five 3x3/s2 max-pools with indices (mp0..mp4, section 3.1)
        self.maxpool = nn.MaxPool2d(3, 2, 1, return_indices=aim_stem)
        dilate = {32: (False, False, False), 16: (False, False, True), 8: (False, True, True)}[output_stride]
        self._cin, self._dilation = width, 1
        stage_stride = 1 if aim_stem else 2
        self.layer1 = self._make_layer(block, width, layers[0], 1, False)
        self.layer2 = self._make_layer(block, width * 2, layers[1], stage_stride, dilate[0])
        self.layer3 = self._make_layer(block, width * 4, layers[2], stage_stride, dilate[1])
        self.layer4 = self._make_layer(block, width * 8, layers[3], stage_stride, dilate[2])
        e = block.expansion
        self.channels = [width, width * e, width * 2 * e, width * 4 * e, width * 8 * e]
        last = {32: (16, 32), 16: (16, 16), 8: (8, 8)}[output_stride]
        self.strides = [1 if aim_stem else 2, 4, 8, *last]
        del self._cin, self._dilation
        if pretrained is not None:
            load_resnet_state_dict(self, read_state_dict(pretrained))

    def _make_layer(self, block, planes: int, blocks: int, stride: int, dilate: bool) -> nn.Sequential:
        previous = self._dilation
        if dilate:  # DeepLabv3: trade the stride for dilation (torchvision's replace_stride_with_dilation)
            self._dilation *= 2
            stride = 1
        downsample = None
        if stride != 1 or self._cin != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self._cin, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        mods = [block(self._cin, planes, stride, self._dilation, previous, downsample)]
        self._cin = planes * block.expansion
        mods += [block(self._cin, planes, 1, self._dilation, self._dilation) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def forward_with_indices(self, x: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Stage features and the max-pool indices (``[]`` unless ``aim_stem``), shallow to deep.

        With ``aim_stem`` the indices are ``[mp0, mp1, mp2, mp3, mp4]`` of shapes at strides
        ``2, 4, 8, 16, 32``; ``F.max_unpool2d(y, idx, 2, 2, output_size=...)`` with the pool's input size
        undoes each.
        """
        stem = self.relu(self.bn1(self.conv1(x)))
        if not self.aim_stem:
            f1 = self.layer1(self.maxpool(stem))
            f2 = self.layer2(f1)
            f3 = self.layer3(f2)
            return [stem, f1, f2, f3, self.layer4(f3)], []
        y, i0 = self.maxpool(stem)
        y, i1 = self.maxpool(y)
        f1 = self.layer1(y)
        y, i2 = self.maxpool(f1)
        f2 = self.layer2(y)
        y, i3 = self.maxpool(f2)
        f3 = self.layer3(y)
        y, i4 = self.maxpool(f3)
        return [stem, f1, f2, f3, self.layer4(y)], [i0, i1, i2, i3, i4]

    def forward(self, x: Tensor) -> list[Tensor]:
        """(B, in_channels, H, W) -> five features (B, channels[i], H / strides[i], W / strides[i])."""
        return self.forward_with_indices(x)[0]


def resnet34(**kw) -> ResNet:
    """ResNet-34 (BasicBlock, 3-4-6-3); keywords as :class:`ResNet` (``layers`` overrides the depth)."""
    return ResNet(BasicBlock, kw.pop("layers", (3, 4, 6, 3)), **kw)


def resnet50(**kw) -> ResNet:
    """ResNet-50 (Bottleneck, 3-4-6-3); keywords as :class:`ResNet` (``layers`` overrides the depth)."""
    return ResNet(Bottleneck, kw.pop("layers", (3, 4, 6, 3)), **kw)


def load_resnet_state_dict(net: ResNet, state: dict[str, Tensor], *, prefix: str = "") -> list[str]:
    """Load torchvision-named ResNet weights into ``net`` (non-strict) and return the missing keys.

    Keys under ``prefix`` (e.g. ``"backbone."``) are used with the prefix removed; the classifier (``fc.*``)
    is ignored. A 3-channel ``conv1.weight`` is widened with :func:`automatte.models.layers.patch_input_channels` when
    ``net.conv1`` takes more inputs (the RGB filters are kept, the extra channels start at zero). Missing
    and unexpected keys are reported with a warning; a shape mismatch raises a ValueError naming the key.
    """
    if prefix:
        state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    return load_backbone_state(net, state, "ResNet")
