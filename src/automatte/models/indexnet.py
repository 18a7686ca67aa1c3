"""IndexNet Matting (Lu et al., "Indices Matter: Learning to Index for Deep Image Matting", ICCV 2019);
the PPID paper's IndexNet teacher (image + trimap) and trimap-free student (ppid table 1: 5.95M parameters).

Boxes (names as in the paper):

* Encoder: MobileNetV2 1.0 (:mod:`automatte.models.backbones.mobilenetv2`) with every stride set to 1; the
  five down-samplings (after the stem, layer 2, 3, 4 and 6 of the seven inverted-residual layers) are
  **index pooling**: an index block predicts an encoder index map ``E`` and a decoder index map ``D`` from the
  feature ``x``, and the pooled feature is ``4 * avgpool2x2(x * E)`` (= the E-weighted sum of each 2x2 window,
  sec. 3.2). As in the authors' code, the skip features handed to the decoder are the weighted ``x * E``.
  Output stride 32, as the paper's matting model.
* Index blocks (sec. 4): ``index_mode="m2o"`` (default) is the paper's best, the *depthwise many-to-one*
  index network with the *nonlinear* and *context* options (4x4/stride-2 conv with padding 1, BN, ReLU6,
  1x1 conv, for each of the four positions of a 2x2 window; each position's map depends on all channels).
  The four sub-networks are one conv ``C -> 4C`` and a grouped 1x1 conv (``groups=4``): the same functions
  and parameters as four separate ``C -> C`` branches. ``"o2o"``: the one-to-one depthwise variant (each
  channel's map from that channel only); ``"holistic"``: a single map for all channels (``C -> 2C -> 4``).
  Normalisation (sec. 4.1): ``D = sigmoid(logits)``, ``E = softmax(D)`` over the four positions, both
  rearranged to full resolution with a pixel shuffle (eq. of sec. 3.2: ``E`` sums to 1 in every window).
* ASPP at the bottleneck (320 -> 160): 1x1 branch, three depthwise-separable 3x3 branches at dilations
  2, 4, 8 (output stride 32), image pooling, 1x1 fusion, dropout 0.5 (the authors' code).
* Decoder: **index-guided unpooling** ``D * nearest_upsample(x)`` (sec. 3.2), concatenated with the encoder
  skip, one 5x5 conv-BN-ReLU6 (``IndexedUpsampling``) per level; the two levels without down-sampling
  (layers 5 and 1) just concatenate. Prediction: 5x5 conv-BN-ReLU6 to one channel and a 5x5 conv.
* Output: the authors train on the raw prediction and clamp it to [0, 1] at test time. We return
  ``alpha`` with the value of ``clamp(raw, 0, 1)`` and the gradient of ``raw`` (a straight-through clamp), so
  every loss on ``alpha`` trains the raw prediction as the authors do: a plain clamp has zero gradient outside
  [0, 1], and a network whose raw output drifts below 0 everywhere stops learning (it did, in our first
  mixed-data run). The raw map is also in ``extras["alpha_raw"]``. The last 1 -> 1 conv of the prediction
  head starts as the identity (our choice; PyTorch's default init left the raw output near 0 on every pixel,
  where the clamped L1 gradients of background and foreground cancel, and the head did not learn in 100
  steps; with the identity the known loss of a batch falls from 0.35 to 0.02 in 15 steps). ``features``: the encoder features after each down-sampling and the
  bottleneck, strides ``[2, 4, 8, 16, 32]`` (for PPID's cross-level distillation).

Inputs: ``indexnet`` takes ``image`` and ``trimap``; the trimap is the 4th input channel, in {0, 0.5, 1}
(DIM-style single channel, as the paper). ``indexnet_free`` takes the image only (PPID's student).

Pretrained: ``pretrained=`` a MobileNetV2 ImageNet file (``automatte convert-tflite ... --arch mobilenet_v2``,
or a torchvision state dict) initialises the encoder; the trimap channel of the first conv gets zero filters
(``patch_input_channels(init="zeros")`` semantics). The converted weights are BN-folded while the encoder
keeps BN for training: each conv takes the folded weight, its BN gets ``weight=1, running_mean=0,
running_var=1-eps`` and ``bias=`` the folded bias (identity in eval mode, so the encoder computes the
ImageNet network exactly; see ``load_mobilenetv2_state``). The image normalisation then follows the file.
A full IndexNet state dict (keys ``encoder.*``) loads as is.

Example:
    >>> import torch
    >>> net = IndexNet(width_mult=0.125, aspp_channels=16).eval()
    >>> out = net(image=torch.rand(1, 3, 64, 64), trimap=torch.full((1, 1, 64, 64), 0.5))
    >>> tuple(out.alpha.shape), [f.shape[-1] for f in out.features]
    ((1, 1, 64, 64), [32, 16, 8, 4, 2])
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from automatte.models.backbones.mobilenetv2 import MobileNetV2, load_mobilenetv2_state, read_state_dict
from automatte.models.layers import check_multiple_of_32
from automatte.models.output import MattingOutput
from automatte.models.registry import register_model

__all__ = ["IndexNet", "IndexBlock", "ASPP", "IndexedUpsampling", "index_pool", "index_unpool"]

# encoder layers as slices of MobileNetV2.features, and which of them are followed by index pooling
_LAYERS = {
    0: slice(0, 1),
    1: slice(1, 2),
    2: slice(2, 4),
    3: slice(4, 7),
    4: slice(7, 11),
    5: slice(11, 14),
    6: slice(14, 17),
    7: slice(17, 18),
}
_POOLED = (0, 2, 3, 4, 6)


def index_pool(x: Tensor, index_en: Tensor) -> Tensor:
    """Index pooling (sec. 3.2): ``4 * avgpool2x2(x * E)``, the E-weighted sum of each 2x2 window."""
    return 4 * F.avg_pool2d(x * index_en, 2, stride=2)


def index_unpool(x: Tensor, index_de: Tensor) -> Tensor:
    """Index-guided unpooling (sec. 3.2): ``D * nearest_upsample(x)`` at the size of ``D``."""
    return index_de * F.interpolate(x, size=index_de.shape[-2:], mode="nearest")


class IndexBlock(nn.Module):
    """Index block predicting ``(E, D)`` at the input size from a feature (B, C, H, W); see the module doc.

    Args:
        channels: C.
        mode: ``"m2o"`` (depthwise many-to-one, default), ``"o2o"`` (depthwise one-to-one), ``"holistic"``.
        nonlinear: conv-BN-ReLU6-conv (True) or a single conv.
        context: 4x4 kernels with padding 1 (True) or 2x2 without.
    """

    def __init__(self, channels: int, mode: str = "m2o", nonlinear: bool = True, context: bool = True):
        super().__init__()
        if mode not in ("m2o", "o2o", "holistic"):
            raise ValueError(f"IndexBlock: mode must be 'm2o', 'o2o' or 'holistic', got {mode!r}")
        self.mode, self.channels = mode, channels
        k, p = (4, 1) if context else (2, 0)
        c = channels
        hidden, out = {"m2o": (4 * c, 4 * c), "o2o": (4 * c, 4 * c), "holistic": (2 * c, 4)}[mode]
        groups1 = c if mode == "o2o" else 1  # o2o: each channel sees itself only
        groups2 = {"m2o": 4, "o2o": 4 * c, "holistic": 1}[mode]
        if nonlinear:
            self.index_net = nn.Sequential(
                nn.Conv2d(c, hidden, k, 2, p, groups=groups1, bias=False),
                nn.BatchNorm2d(hidden),
                nn.ReLU6(inplace=True),
                nn.Conv2d(hidden, out, 1, groups=groups2, bias=False),
            )
        else:
            self.index_net = nn.Conv2d(c, out, k, 2, p, groups=groups1, bias=False)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.index_net(x)  # (B, 4C or 4, H/2, W/2)
        if self.mode == "m2o":  # sub-network-major channels k*C + c -> (B, 4, C, h, w)
            logits = logits.unflatten(1, (4, self.channels))
        elif self.mode == "o2o":  # channel-major c*4 + k (grouped conv) -> (B, 4, C, h, w)
            logits = logits.unflatten(1, (self.channels, 4)).transpose(1, 2)
        else:
            logits = logits.unsqueeze(2)  # (B, 4, 1, h, w)
        decoder = torch.sigmoid(logits)  # sec. 4.1: sigmoid, then softmax over the four window positions
        encoder = torch.softmax(decoder, dim=1)
        return self._shuffle(encoder), self._shuffle(decoder)

    @staticmethod
    def _shuffle(maps: Tensor) -> Tensor:
        """(B, 4, C, h, w) -> (B, C, 2h, 2w): position k of each 2x2 window is (k // 2, k % 2)."""
        return F.pixel_shuffle(maps.transpose(1, 2).flatten(1, 2), 2)


def _conv_bn(cin: int, cout: int, k: int = 1, dilation: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, 1, dilation * (k // 2), dilation, groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling of IndexNet: 1x1 + three depthwise-separable dilated 3x3 + image pooling."""

    def __init__(self, cin: int, cout: int, channels: int = 256, dilations: tuple[int, ...] = (2, 4, 8)):
        super().__init__()
        self.branches = nn.ModuleList([_conv_bn(cin, channels)])
        for d in dilations:
            self.branches.append(nn.Sequential(_conv_bn(cin, cin, 3, d, groups=cin), _conv_bn(cin, channels)))
        self.image_pool = _conv_bn(cin, channels)
        self.project = _conv_bn(channels * (len(dilations) + 2), cout)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: Tensor) -> Tensor:
        outs = [branch(x) for branch in self.branches]
        outs.append(self.image_pool(x.mean(dim=(2, 3), keepdim=True)).expand_as(outs[0]))
        return self.dropout(self.project(torch.cat(outs, dim=1)))


class IndexedUpsampling(nn.Module):
    """Decoder stage: index-guided unpooling of the deeper feature (when D is given), concat skip, 5x5 conv."""

    def __init__(self, cin: int, cout: int, kernel: int = 5):
        super().__init__()
        self.conv = _conv_bn(cin, cout, kernel)

    def forward(self, x: Tensor, skip: Tensor, index_de: Tensor | None = None) -> Tensor:
        if index_de is not None:
            x = index_unpool(x, index_de)
        return self.conv(torch.cat([x, skip], dim=1))


class IndexNet(nn.Module):
    """IndexNet matting network (see the module docstring).

    Args:
        in_channels: 4 (image + trimap) or 3 (trimap-free).
        width_mult: MobileNetV2 channel multiplier (the decoder and index blocks follow).
        index_mode, nonlinear, context: index block variant (default: the paper's m2o, nonlinear, context).
        aspp_channels: ASPP branch channels (256).
        decoder_kernel: decoder conv size (5).
        pretrained: MobileNetV2 ImageNet weights for the encoder, or a full IndexNet state dict.
    """

    def __init__(
        self,
        in_channels: int = 4,
        width_mult: float = 1.0,
        *,
        index_mode: str = "m2o",
        nonlinear: bool = True,
        context: bool = True,
        aspp_channels: int = 256,
        decoder_kernel: int = 5,
        pretrained: str | Path | None = None,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.encoder = MobileNetV2(in_channels, width_mult, strided=False)
        f = self.encoder.features
        ch = {i: f[s.stop - 1].out_channels if i else f[0][0].out_channels for i, s in _LAYERS.items()}
        self.index_blocks = nn.ModuleDict({str(i): IndexBlock(ch[i], index_mode, nonlinear, context) for i in _POOLED})
        self.aspp = ASPP(ch[7], ch[6], aspp_channels)
        # decoder level i: input = (output of level i+1) + skip of layer i
        out = {6: ch[5], 5: ch[4], 4: ch[3], 3: ch[2], 2: ch[1], 1: ch[0], 0: ch[0]}
        deeper = {6: ch[6], 5: out[6], 4: out[5], 3: out[4], 2: out[3], 1: out[2], 0: out[1]}
        self.decoder = nn.ModuleDict(
            {str(i): IndexedUpsampling(deeper[i] + ch[i], out[i], decoder_kernel) for i in range(6, -1, -1)}
        )
        self.pred = nn.Sequential(
            _conv_bn(ch[0], 1, decoder_kernel), nn.Conv2d(1, 1, decoder_kernel, padding=decoder_kernel // 2, bias=False)
        )
        with torch.no_grad():  # our init (the paper gives none): the last 1 -> 1 conv starts as the identity
            self.pred[1].weight.zero_()
            self.pred[1].weight[0, 0, decoder_kernel // 2, decoder_kernel // 2] = 1.0
        if pretrained is not None:
            self.load_pretrained(pretrained)

    def load_pretrained(self, path: str | Path) -> list[str]:
        """Full IndexNet state dict (keys ``encoder.*``) or MobileNetV2 ImageNet weights for the encoder."""
        state = read_state_dict(path)
        state.pop("__metadata__", None)
        if any(k.startswith("encoder.") for k in state):
            self.load_state_dict(state)
            return []
        return load_mobilenetv2_state(self.encoder, state)

    def forward(self, image: Tensor, trimap: Tensor | None = None) -> MattingOutput:
        check_multiple_of_32(image, "IndexNet")
        if (self.in_channels == 4) != (trimap is not None):
            what = "missing" if trimap is None else "not expected"
            raise ValueError(f"IndexNet with in_channels={self.in_channels}: trimap {what}")
        x = self.encoder.normalize(image if trimap is None else torch.cat([image, trimap], dim=1))
        skips, index_de, feats = {}, {}, []
        for i, layers in _LAYERS.items():
            x = self.encoder.features[layers](x)
            if str(i) in self.index_blocks:
                index_en, index_de[i] = self.index_blocks[str(i)](x)
                x = x * index_en  # the skip is the index-weighted feature, as the authors' code
                skips[i] = x
                x = 4 * F.avg_pool2d(x, 2, stride=2)  # index pooling (sec. 3.2)
                feats.append(x)
            else:
                skips[i] = x
        feats[-1] = x  # stride 32: the bottleneck (layer 7) instead of layer 6 pooled
        y = self.aspp(x)
        for i in range(6, -1, -1):
            y = self.decoder[str(i)](y, skips[i], index_de.get(i))
        raw = self.pred(y)
        alpha = raw + (raw.clamp(0, 1) - raw).detach()  # clamped value, identity gradient (trains on raw, docstring)
        return MattingOutput(alpha=alpha, features=tuple(feats), extras={"alpha_raw": raw})


def _build(in_channels: int, kw: dict, **defaults) -> IndexNet:
    return IndexNet(in_channels, **{**defaults, **kw})


@register_model(
    "indexnet",
    family="indexnet",
    inputs=("image", "trimap"),
    paper_params=5.95,
    paper_source="ppid table 1",
    description="IndexNet Matting (m2o depthwise nonlinear index blocks, ASPP), image + trimap",
)
def indexnet(**kw) -> IndexNet:
    """IndexNet Matting (m2o depthwise nonlinear index blocks, ASPP), image + trimap."""
    return _build(4, kw)


@register_model(
    "indexnet_free",
    family="indexnet",
    inputs=("image",),
    paper_params=5.95,
    paper_source="ppid table 1",
    description="trimap-free IndexNet (PPID student), image only",
)
def indexnet_free(**kw) -> IndexNet:
    """Trimap-free IndexNet (PPID student), image only."""
    return _build(3, kw)


@register_model("indexnet_test", family="indexnet", inputs=("image", "trimap"), description="tiny IndexNet for tests")
def indexnet_test(**kw) -> IndexNet:
    """Tiny IndexNet (width 1/8) for tests."""
    return _build(4, kw, width_mult=0.125, aspp_channels=16)


@register_model(
    "indexnet_free_test", family="indexnet", inputs=("image",), description="tiny trimap-free IndexNet for tests"
)
def indexnet_free_test(**kw) -> IndexNet:
    """Tiny trimap-free IndexNet (width 1/8) for tests."""
    return _build(3, kw, width_mult=0.125, aspp_channels=16)
