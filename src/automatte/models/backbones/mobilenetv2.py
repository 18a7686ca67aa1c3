"""MobileNetV2 (Sandler et al. 2018) in plain torch, returning stage features; TF-compatible when asked.

Key names follow torchvision (``features.0.0`` stem conv, ``features.N.conv.*`` inverted residual blocks,
``features.18`` the 1280-channel conv and ``classifier.1`` of :class:`MobileNetV2Classifier`), so a
torchvision ImageNet state dict loads with ``pretrained=PATH``, and so do the safetensors files written by
:func:`automatte.models.backbones.tflite_convert.convert_tflite`.

Three switches make the network reproduce the TensorFlow / TFLite graphs exactly:

* ``tf_same_padding=True``: stride-2 convolutions pad as TF ``'SAME'`` does, from the actual input size:
  ``total = max((ceil(H / s) - 1) * s + (k - 1) * d + 1 - H, 0)``, ``top = total // 2`` and the rest at the
  bottom (the same for W). For an even H a 3x3/stride-2 conv pads 0 at the top and 1 at the bottom (PyTorch's
  symmetric padding of 1 would shift the sampling grid by one pixel); for an odd H (DeepLab's 513) it pads
  1 and 1. Stride-1 convolutions (odd kernels) are symmetric in both frameworks. The amounts are computed
  from ``x.shape`` with integer arithmetic only, so they trace as symbolic sizes in ``torch.export`` (ONNX
  export with dynamic H, W). ``False`` (default): PyTorch's symmetric padding, for training from scratch.
* ``folded=True``: TFLite folds batch norm into the convolution (``w' = w * gamma / sqrt(var + eps)``,
  ``b' = beta - mean * gamma / sqrt(var + eps)``), so the converted files hold a weight and a bias per conv
  and no BN. A folded build has ``Conv2d(bias=True)`` followed by ``nn.Identity()`` where the BN would be;
  the torchvision indices are unchanged. Loading a folded file into a BN build (``folded=False``, for
  training) copies the conv weight, puts the folded bias into the BN's ``bias`` and sets the BN to the
  identity (``weight=1``, ``running_mean=0``, ``running_var=1-eps``): in ``eval()`` the BN build then
  computes exactly the folded network; in ``train()`` the BN normalises with batch statistics from the first
  step, as any fine-tuning of a BN network does. Loading a BN state dict (torchvision) into a folded build
  folds it.
* ``normalize``: the network normalises its [0, 1] input itself (``x * input_mul + input_add`` on the first
  three channels, persistent buffers). ``"tf"`` (default): ``2x - 1``, the [-1, 1] range the TF weights were
  trained with; ``"imagenet"``: ``(x - mean) / std`` (torchvision weights); ``None``: none. A converted file
  carries the exact affine map of its TFLite input quantisation (``scale * (255 x - zero_point)``), which
  overrides the default when loaded. Extra input channels (trimap) pass through unchanged.

Stride schedule (``output_stride``): 32 (default) is the classic one, stage features at strides
``[2, 4, 8, 16, 32]``, channels ``[16, 24, 32, 96, 320] * width_mult``. 16 and 8 follow TF DeepLab: once the
running stride reaches ``output_stride`` a stride-2 block keeps stride 1 and the current dilation, and the
blocks after it dilate by 2 (and 4). ``strided=False`` sets every stride to 1 (IndexNet moves the
down-sampling out of the network into its index pooling).

Example:
    >>> import torch
    >>> net = MobileNetV2(width_mult=0.25)
    >>> [tuple(f.shape[-2:]) for f in net(torch.zeros(1, 3, 64, 64))]
    [(32, 32), (16, 16), (8, 8), (4, 4), (2, 2)]
    >>> net.channels
    [8, 8, 8, 24, 80]
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from automatte.models.layers import IMAGENET_MEAN, IMAGENET_STD
from automatte.models.weights import read_state_dict  # noqa: F401  (re-exported for the families)

__all__ = [
    "MobileNetV2",
    "MobileNetV2Classifier",
    "InvertedResidual",
    "TFConv2d",
    "tf_same_padding",
    "make_divisible",
    "read_state_dict",
    "load_mobilenetv2_state",
    "INVERTED_RESIDUAL_SETTING",
    "STAGE_TAPS",
]

# (expand ratio t, output channels c, repeats n, first stride s): Table 2 of the MobileNetV2 paper.
INVERTED_RESIDUAL_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STAGE_TAPS = (1, 3, 6, 13, 17)  # indices of ``features`` whose outputs are the stage features (strides 2..32)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor``, never below 90% of ``value`` (as the TF code)."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


def tf_same_padding(height, width, kernel: int, stride: int, dilation: int = 1) -> tuple:
    """TF 'SAME' padding amounts as ``F.pad`` wants them: ``(left, right, top, bottom)``.

    ``height`` and ``width`` may be ints or symbolic sizes (``x.shape`` under ``torch.export``).

    Example:
        >>> tf_same_padding(224, 224, 3, 2), tf_same_padding(513, 513, 3, 2), tf_same_padding(8, 8, 3, 1, 2)
        ((0, 1, 0, 1), (1, 1, 1, 1), (2, 2, 2, 2))
    """
    effective = (kernel - 1) * dilation + 1
    pads = []
    for size in (width, height):
        total = ((size + stride - 1) // stride - 1) * stride + effective - size  # TF: (out - 1) s + k_eff - in
        if effective < stride:  # total can only be negative then; never the case for odd k >= s
            total = max(total, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


class TFConv2d(nn.Conv2d):
    """``nn.Conv2d`` with PyTorch's symmetric padding, or TF 'SAME' padding at stride > 1 (``tf_same=True``)."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = False,
        tf_same: bool = False,
    ):
        self.tf_same = bool(tf_same and stride > 1)
        padding = 0 if self.tf_same else dilation * (kernel - 1) // 2
        super().__init__(cin, cout, kernel, stride, padding, dilation=dilation, groups=groups, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        if self.tf_same:
            x = F.pad(
                x, tf_same_padding(x.shape[-2], x.shape[-1], self.kernel_size[0], self.stride[0], self.dilation[0])
            )
        return super().forward(x)


def _conv_norm_act(cin, cout, kernel=1, stride=1, dilation=1, groups=1, act=True, folded=False, tf_same=False):
    """torchvision's Conv2dNormActivation layout: [conv, BN (or Identity when folded), ReLU6]."""
    layers = [
        TFConv2d(cin, cout, kernel, stride, dilation, groups, bias=folded, tf_same=tf_same),
        nn.Identity() if folded else nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """Expand 1x1 (ReLU6) -> depthwise 3x3 (ReLU6) -> linear 1x1 projection, residual when shapes allow (sec. 3.3)."""

    def __init__(
        self,
        cin: int,
        cout: int,
        stride: int,
        dilation: int,
        expand_ratio: int,
        *,
        folded: bool = False,
        tf_same: bool = False,
    ):
        super().__init__()
        hidden = int(round(cin * expand_ratio))
        self.use_res_connect = stride == 1 and cin == cout
        layers = [] if expand_ratio == 1 else [_conv_norm_act(cin, hidden, 1, folded=folded)]
        layers.append(
            _conv_norm_act(hidden, hidden, 3, stride, dilation, groups=hidden, folded=folded, tf_same=tf_same)
        )
        layers += [TFConv2d(hidden, cout, 1, bias=folded), nn.Identity() if folded else nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.out_channels = cout

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class InputNormalization:
    """The input scaling of an ImageNet backbone, as buffers ``input_mul`` / ``input_add`` (3 each) that the backbone
    registers: ``"tf"`` (the TensorFlow models' own scaling, ``TF_INPUT``), ``"imagenet"`` (mean / std), ``None``."""

    TF_INPUT: tuple = ((2.0,) * 3, (-1.0,) * 3)  # MobileNetV2's [-1, 1]

    def init_normalization(self, mode: str | None | tuple) -> None:
        """Register the two buffers (call from ``__init__``), then :meth:`set_normalization`."""
        self.register_buffer("input_mul", torch.ones(3))
        self.register_buffer("input_add", torch.zeros(3))
        self.set_normalization(mode)

    def set_normalization(self, mode: str | None | tuple) -> None:
        """``"tf"``, ``"imagenet"``, ``None`` or an explicit ``(mul, add)`` pair of 3-sequences."""
        if mode == "tf":
            mul, add = self.TF_INPUT
        elif mode == "imagenet":
            mul = tuple(1 / s for s in IMAGENET_STD)
            add = tuple(-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD))
        elif mode is None:
            mul, add = (1.0,) * 3, (0.0,) * 3
        elif isinstance(mode, tuple) and len(mode) == 2:
            mul, add = mode
        else:
            raise ValueError(
                f"{type(self).__name__}: normalize must be 'tf', 'imagenet', None or (mul, add), got {mode!r}"
            )
        if self.input_mul.device.type != "meta":
            with torch.no_grad():
                self.input_mul.copy_(torch.as_tensor(mul, dtype=torch.float32))
                self.input_add.copy_(torch.as_tensor(add, dtype=torch.float32))

    def normalize(self, x: Tensor) -> Tensor:
        """[0, 1] image (and extra planes) -> network input."""
        rgb = x[:, :3] * self.input_mul.view(1, 3, 1, 1) + self.input_add.view(1, 3, 1, 1)
        return torch.cat([rgb, x[:, 3:]], dim=1) if x.shape[1] > 3 else rgb


class MobileNetV2(InputNormalization, nn.Module):
    """MobileNetV2 feature extractor: ``forward(x) -> [f_s2, f_s4, f_s8, f_s16, f_s32]`` (see the module doc).

    Args:
        in_channels: 3, or more for extra input planes (trimap); extras get zero filters when pretrained.
        width_mult: channel multiplier (channels rounded to multiples of 8).
        output_stride: 32, 16 or 8 (dilation beyond it).
        tf_same_padding: TF 'SAME' padding at stride 2 (to reproduce TFLite outputs).
        folded: conv-with-bias and no BN (converted TFLite weights).
        normalize: ``"tf"`` ([-1, 1]), ``"imagenet"`` or ``None``.
        strided: False sets every stride to 1 (IndexNet).
        pretrained: path of a converted ``.safetensors`` or a torchvision-style ``.pth`` state dict.
    """

    def __init__(
        self,
        in_channels: int = 3,
        width_mult: float = 1.0,
        output_stride: int = 32,
        *,
        tf_same_padding: bool = False,
        folded: bool = False,
        normalize: str | None = "tf",
        strided: bool = True,
        pretrained: str | Path | None = None,
    ):
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ValueError(f"MobileNetV2: output_stride must be 8, 16 or 32, got {output_stride}")
        if in_channels < 3:
            raise ValueError(f"MobileNetV2: in_channels must be >= 3, got {in_channels}")
        self.in_channels, self.width_mult, self.folded = in_channels, width_mult, folded
        self.output_stride, self.tf_same_padding = output_stride if strided else 1, tf_same_padding
        stride_now, rate = 1, 1

        def schedule(stride: int) -> tuple[int, int]:  # TF DeepLab: stride becomes dilation beyond output_stride
            nonlocal stride_now, rate
            if not strided:
                return 1, 1
            if stride > 1 and stride_now >= output_stride:
                dilation, rate = rate, rate * stride
                return 1, dilation
            stride_now *= stride
            return stride, rate

        cin = make_divisible(32 * width_mult)
        s, d = schedule(2)
        layers: list[nn.Module] = [_conv_norm_act(in_channels, cin, 3, s, d, folded=folded, tf_same=tf_same_padding)]
        for t, c, n, first_stride in INVERTED_RESIDUAL_SETTING:
            cout = make_divisible(c * width_mult)
            for i in range(n):
                s, d = schedule(first_stride if i == 0 else 1)
                layers.append(InvertedResidual(cin, cout, s, d, t, folded=folded, tf_same=tf_same_padding))
                cin = cout
        self.features = nn.Sequential(*layers)
        self.channels = [self.features[i].out_channels for i in STAGE_TAPS]
        self.init_normalization(normalize)
        if pretrained is not None:
            self.load_pretrained(pretrained)

    def load_pretrained(self, path: str | Path) -> list[str]:
        """Load a converted safetensors / torchvision state dict; returns the ignored keys."""
        return load_mobilenetv2_state(self, read_state_dict(path))

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.normalize(x)
        feats = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in STAGE_TAPS:
                feats.append(x)
        return feats


class MobileNetV2Classifier(MobileNetV2):
    """MobileNetV2 with its ImageNet head: ``features.18`` (1x1 conv to 1280, ReLU6), global average pool,
    ``classifier = [Dropout(0.2), Linear(1280, num_classes)]``. ``forward(x) -> logits (B, num_classes)``.
    The TF / TFLite models have 1001 classes (index 0 is "background"); torchvision's have 1000."""

    def __init__(self, num_classes: int = 1001, *, in_channels: int = 3, width_mult: float = 1.0, **kw):
        pretrained = kw.pop("pretrained", None)
        super().__init__(in_channels, width_mult, **kw)
        self.last_channel = make_divisible(1280 * max(1.0, width_mult))
        self.features.append(_conv_norm_act(self.channels[-1], self.last_channel, 1, folded=self.folded))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(self.last_channel, num_classes))
        if pretrained is not None:
            self.load_pretrained(pretrained)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(self.normalize(x))
        return self.classifier(x.mean(dim=(2, 3)))


# ----------------------------------------------------------------------------------------- loading
def _conv_norm_pairs(net: nn.Module) -> dict[str, tuple[nn.Conv2d, str, nn.Module]]:
    """Every conv of ``net`` by name -> (conv, name of the module after it, that module: BN or Identity)."""
    pairs = {}
    for name, module in net.named_modules():
        if isinstance(module, nn.Sequential):
            children = list(module.named_children())
            for (a, conv), (b, norm) in zip(children, children[1:]):
                if isinstance(conv, nn.Conv2d) and isinstance(norm, (nn.BatchNorm2d, nn.Identity)):
                    prefix = f"{name}." if name else ""
                    pairs[prefix + a] = (conv, prefix + b, norm)
    return pairs


def load_mobilenetv2_state(net: nn.Module, state: dict[str, Tensor], *, prefix: str = "", bn_eps: float = 1e-5,
                           skip: tuple[str, ...] = ()) -> list[str]:  # fmt: skip
    """Load a folded (converted) or BN (torchvision) state into ``net`` (folded or BN build).

    Works on any module whose convolutions sit in ``nn.Sequential`` as ``[conv, BN or Identity, ...]``
    (MobileNetV2, the DeepLab head). Folds or unfolds batch norm as the module docstring says, patches
    extra input channels of a first conv with zero filters (as ``layers.patch_input_channels(init="zeros")``),
    copies other keys by name (``input_mul``/``input_add``, classifiers) and ignores keys ``net`` lacks
    (``features.18``, ``classifier`` for a backbone). ``prefix`` is stripped from the state's keys;
    ``bn_eps`` is the epsilon of the state's batch norms when they are folded (torchvision: 1e-5). Parameters
    of ``net`` whose names start with one of ``skip`` may be absent (they keep their initialisation).

    Returns:
        The ignored keys of ``state``. Raises ValueError on a missing or mis-shaped weight.
    """
    state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix) and k != "__metadata__"}
    new: dict[str, Tensor] = {}
    used: set[str] = set()
    for cname, (conv, nname, norm) in _conv_norm_pairs(net).items():
        if f"{cname}.weight" not in state:
            continue
        w = state[f"{cname}.weight"].float()
        b = state.get(f"{cname}.bias")
        used.update({f"{cname}.weight", f"{cname}.bias"})
        bn = {
            k: state[f"{nname}.{k}"]
            for k in ("weight", "bias", "running_mean", "running_var")
            if f"{nname}.{k}" in state
        }
        used.update(f"{nname}.{k}" for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"))
        if conv.groups == 1 and w.shape[1] < conv.in_channels and w.shape[0] == conv.out_channels:
            w = torch.cat([w, w.new_zeros(w.shape[0], conv.in_channels - w.shape[1], *w.shape[2:])], dim=1)
        if tuple(w.shape) != tuple(conv.weight.shape):
            raise ValueError(
                f"pretrained {cname}.weight: shape {tuple(w.shape)}, the model wants {tuple(conv.weight.shape)}"
            )
        if isinstance(norm, nn.Identity):  # folded build
            if len(bn) == 4:  # fold the BN: eq. of the module docstring
                scale = bn["weight"] / torch.sqrt(bn["running_var"] + bn_eps)
                b = bn["bias"] - bn["running_mean"] * scale + (b * scale if b is not None else 0)
                w = w * scale.view(-1, 1, 1, 1)
            new[f"{cname}.weight"], new[f"{cname}.bias"] = w, (b if b is not None else torch.zeros(w.shape[0]))
        else:  # BN build
            new[f"{cname}.weight"] = w
            if len(bn) == 4:
                new.update({f"{nname}.{k}": v for k, v in bn.items()})
                if b is not None:  # a conv bias before BN only shifts the mean
                    new[f"{nname}.running_mean"] = bn["running_mean"] - b
            elif b is not None:  # folded weights into a BN build: BN = identity + the folded bias
                n = w.shape[0]
                new.update(
                    {
                        f"{nname}.weight": torch.ones(n),
                        f"{nname}.bias": b.float(),
                        f"{nname}.running_mean": torch.zeros(n),
                        f"{nname}.running_var": torch.full((n,), 1 - norm.eps),
                    }
                )
            else:
                raise ValueError(f"pretrained {cname}: neither a bias nor batch-norm statistics")
    own = net.state_dict()
    for key, value in state.items():  # everything else by name: input_mul/add, classifier, logits conv
        if key in own and key not in new and key not in used:
            if value.shape != own[key].shape:
                raise ValueError(
                    f"pretrained {key}: shape {tuple(value.shape)}, the model wants {tuple(own[key].shape)}"
                )
            new[key] = value
            used.add(key)
    missing = [k for k, _ in net.named_parameters() if k not in new and not k.startswith(tuple(skip) or ("\0",))]
    if missing:
        raise ValueError(f"pretrained state lacks {len(missing)} MobileNetV2 weights, e.g. {missing[:3]}")
    net.load_state_dict(new, strict=False)
    return sorted(k for k in state if k not in used)
