"""DeepLabv3 with a MobileNetV2 backbone (Chen et al. 2017; the TF model zoo's ``mobilenetv2_coco_voc_trainaug``),
the off-the-shelf PASCAL VOC segmenter behind ``../shared/data/weights/deeplabv3_mnv2_pascal_quant.tflite``.

The architecture is read from that TFLite graph (72 operators): MobileNetV2 without its 1280-channel conv at
output stride 16 (the last four blocks at dilation 2, see :mod:`automatte.models.backbones.mobilenetv2`),
then the light ASPP of DeepLab's MobileNet configuration (:class:`ASPPLite`): an image-pooling branch (global
average pool, 1x1 conv 320->256, BN, ReLU, broadcast back) and a 1x1 branch (320->256, BN, ReLU),
concatenated in that order (pool first), a 1x1 projection (512->256, BN, ReLU), the 1x1 ``logits`` conv to
21 classes (with bias) and a bilinear up-sampling with ``align_corners=True`` to the input size. No atrous
branches and no decoder: that is the "ASPP-lite" of the mobile configuration. TFLite folds every BN into its
conv; ``folded=True`` builds the same (conv-with-bias, no BN) to take the converted weights.

The TFLite graph has a fixed 513x513 input (odd: its stride-2 TF 'SAME' pads are symmetric). This module
runs at any size; with ``tf_same_padding=True`` (default) its pads equal TF's at every size, so at 513x513
it computes the TFLite model's float function. The image is normalised inside as the TFLite input
quantisation says (uint8 with scale 1/128, zero point 128: ``(255 x - 128) / 128``); a converted file
carries that affine map and overrides the default ``2x - 1``.

Output: :class:`MattingOutput` with ``alpha = 1 - softmax(logits)[background]``, the probability of "any
VOC object" (person, animals, vehicles, furniture, plants...), a coarse foreground mask for the two-stage
pipeline; ``extras["logits"]`` the (B, 21, H, W) class logits; ``features`` the backbone's stage features.

Example:
    >>> import torch
    >>> net = DeepLabV3(width_mult=0.25, head_channels=16).eval()
    >>> out = net(image=torch.rand(1, 3, 64, 64))
    >>> tuple(out.alpha.shape), tuple(out.extras["logits"].shape)
    ((1, 1, 64, 64), (1, 21, 64, 64))
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from automatte.models.backbones.efficientnet_lite import EfficientNetLite
from automatte.models.backbones.mobilenetv2 import MobileNetV2, load_mobilenetv2_state, read_state_dict
from automatte.models.output import MattingOutput
from automatte.models.registry import register_model

__all__ = [
    "DeepLabV3",
    "DeepLabV3Plus",
    "DeepLabV3PlusFine",
    "DeepLabV3PlusMid",
    "DeepLabV3PlusLite",
    "MidDecoder",
    "SkipDecoder",
    "FineHead",
    "ASPPLite",
    "VOC_CLASSES",
]

VOC_CLASSES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)


def _conv_norm_relu(cin: int, cout: int, folded: bool) -> nn.Sequential:
    """1x1 conv, BN (Identity when folded), ReLU: TF DeepLab's ``conv2d + batch_norm + relu`` of the head."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 1, bias=folded), nn.Identity() if folded else nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class ASPPLite(nn.Module):
    """DeepLabv3's ASPP of the MobileNet configuration (sec. 3.3 of Chen et al. 2017, no atrous branches):
    ``projection(concat[broadcast(image_pooling(mean(x))), aspp0(x)])``."""

    def __init__(self, cin: int, channels: int = 256, folded: bool = False):
        super().__init__()
        self.image_pooling = _conv_norm_relu(cin, channels, folded)
        self.aspp0 = _conv_norm_relu(cin, channels, folded)
        self.concat_projection = _conv_norm_relu(2 * channels, channels, folded)

    def forward(self, x: Tensor) -> Tensor:
        branch = self.aspp0(x)
        pooled = self.image_pooling(x.mean(dim=(2, 3), keepdim=True)).expand_as(branch)  # image-level feature
        return self.concat_projection(torch.cat([pooled, branch], dim=1))


class DeepLabV3(nn.Module):
    """DeepLabv3-MobileNetV2 semantic segmenter (see the module docstring).

    Args:
        num_classes: 21 for PASCAL VOC.
        width_mult: backbone channel multiplier.
        output_stride: 16 as the TFLite file (8 or 32 possible).
        head_channels: ASPP channels (256).
        folded: conv-with-bias and no BN (converted TFLite weights).
        tf_same_padding: TF 'SAME' padding at stride 2 (outputs equal TFLite's).
        pretrained: a ``.safetensors`` written by ``automatte convert-tflite ... --arch deeplabv3_mnv2_voc``
            (folded; loads into a BN build too, BN set to identity) or a state dict of this module.
    """

    def __init__(
        self,
        num_classes: int = 21,
        width_mult: float = 1.0,
        output_stride: int = 16,
        head_channels: int = 256,
        *,
        folded: bool = False,
        tf_same_padding: bool = True,
        pretrained: str | Path | None = None,
    ):
        super().__init__()
        self.backbone = MobileNetV2(3, width_mult, output_stride, tf_same_padding=tf_same_padding, folded=folded)
        self.aspp = ASPPLite(self.backbone.channels[-1], head_channels, folded)
        self.classifier = nn.Conv2d(head_channels, num_classes, 1)  # "logits/semantic" (with bias)
        if pretrained is not None:
            load_mobilenetv2_state(self, read_state_dict(pretrained))

    def forward(self, image: Tensor) -> MattingOutput:
        feats = self.backbone(image)
        logits = self.classifier(self.aspp(feats[-1]))
        logits = F.interpolate(
            logits, size=image.shape[-2:], mode="bilinear", align_corners=True
        )  # as TF1 ResizeBilinear
        alpha = 1 - torch.softmax(logits, dim=1)[:, :1]  # P(not background)
        fg_logit = torch.logsumexp(logits[:, 1:], dim=1, keepdim=True) - logits[:, :1]  # its logit (segment loss)
        return MattingOutput(alpha=alpha, features=tuple(feats), extras={"logits": logits, "fg_logit": fg_logit})


def _separable_head(cin: int, channels: int, out: int = 1, dilation: int = 1) -> tuple[nn.Sequential, nn.Conv2d]:
    """Two 3x3 depthwise-separable convs (``cin`` -> ``channels``, ReLU each; the second with ``dilation``) and a
    1x1 conv to ``out`` logits whose weights start at zero (the corrections of :class:`SkipDecoder` and
    :class:`FineHead`; :class:`BandHead`'s three trimap logits, uniform at the start)."""
    fuse = nn.Sequential(
        nn.Conv2d(cin, cin, 3, padding=1, groups=cin),
        nn.Conv2d(cin, channels, 1),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, groups=channels),
        nn.Conv2d(channels, channels, 1),
        nn.ReLU(inplace=True),
    )
    last = nn.Conv2d(channels, out, 1)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return fuse, last


class SkipDecoder(nn.Module):
    """DeepLabv3+'s decoder (Chen et al. 2018, sec. 3.1 / fig. 2), light: the ASPP output upsampled to stride
    4 and concatenated with a 1x1 projection (48 channels) of the stride-4 backbone feature, then two 3x3
    depthwise-separable convs and a 1x1 conv to one foreground-logit correction. The last conv starts at zero,
    so a decoder added to a trained DeepLabv3 starts as exactly that model (a residual on its logit)."""

    def __init__(self, low_channels: int, high_channels: int, channels: int = 96, low_proj: int = 48):
        super().__init__()
        self.low = nn.Sequential(nn.Conv2d(low_channels, low_proj, 1), nn.ReLU(inplace=True))
        cin = high_channels + low_proj
        self.fuse, self.out = _separable_head(cin, channels)

    def hidden(self, high: Tensor, low: Tensor) -> Tensor:
        """The features before the last conv (stride 4, ``channels`` wide): :class:`FineHead` reads them."""
        high = F.interpolate(high, size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([high, self.low(low)], dim=1))

    def forward(self, high: Tensor, low: Tensor) -> Tensor:
        return self.out(self.hidden(high, low))


class DeepLabV3Plus(DeepLabV3):
    """DeepLabv3-MobileNetV2 with a stride-4 skip decoder (DeepLabv3+), as a binary foreground segmenter.

    ``fg_logit = logsumexp(logits[1:]) - logits[0] + decoder(aspp, stride-4 feature)``: the DeepLabv3 logit of
    "not background" plus a learned correction at stride 4 (zero at initialisation, :class:`SkipDecoder`), so
    the VOC model or a fine-tuned DeepLabv3 (``pretrained=``, decoder keys absent) is the starting point and
    the decoder only learns where the stride-16 mask's edges are wrong. ``alpha = sigmoid(fg_logit)``.

    Args:
        decoder_channels: width of the decoder's separable convs (96).
        pretrained: a converted TFLite file or a state dict of :class:`DeepLabV3` (decoder starts at zero) or
            of this module (strict).
        Others: as :class:`DeepLabV3`.

    Example:
        >>> net = DeepLabV3Plus(width_mult=0.25, head_channels=16, decoder_channels=8).eval()
        >>> base = DeepLabV3(width_mult=0.25, head_channels=16).eval()
        >>> _ = base.load_state_dict(net.state_dict(), strict=False)
        >>> x = torch.rand(1, 3, 64, 64)
        >>> bool(torch.allclose(net(image=x).alpha, base(image=x).alpha, atol=1e-6))
        True
    """

    def __init__(self, num_classes: int = 21, width_mult: float = 1.0, output_stride: int = 16, head_channels: int = 256,
                 decoder_channels: int = 96, *, folded: bool = False, tf_same_padding: bool = True,
                 pretrained: str | Path | None = None):  # fmt: skip
        super().__init__(num_classes, width_mult, output_stride, head_channels, folded=folded,
                         tf_same_padding=tf_same_padding)  # fmt: skip
        self.decoder = SkipDecoder(self.backbone.channels[1], head_channels, decoder_channels)
        if pretrained is not None:
            state = read_state_dict(pretrained)
            if any(k.startswith("decoder.") for k in state):
                self.load_state_dict(state)
            else:
                load_mobilenetv2_state(self, state, skip=("decoder.",))

    def trunk(self, image: Tensor) -> tuple[list[Tensor], Tensor, Tensor, Tensor]:
        """``(backbone features, ASPP output, VOC logits at the input size, base fg logit at the input size)``."""
        feats = self.backbone(image)
        high = self.aspp(feats[-1])
        logits = F.interpolate(self.classifier(high), size=image.shape[-2:], mode="bilinear", align_corners=True)
        base = torch.logsumexp(logits[:, 1:], dim=1, keepdim=True) - logits[:, :1]  # logit of 1 - P(background)
        return feats, high, logits, base

    def forward(self, image: Tensor) -> MattingOutput:
        feats, high, logits, base = self.trunk(image)
        delta = F.interpolate(self.decoder(high, feats[1]), size=image.shape[-2:], mode="bilinear", align_corners=False)
        fg_logit = base + delta
        return MattingOutput(alpha=torch.sigmoid(fg_logit), features=tuple(feats),
                             extras={"logits": logits, "fg_logit": fg_logit})  # fmt: skip


class FineHead(nn.Module):
    """A stride-2 correction of the stride-4 foreground logit (issue 27, item 3: resolution; our design, not a
    paper's). Inputs at stride 2: the decoder's hidden features (1x1 to ``proj`` at stride 4), the backbone's stride-2
    feature (1x1 to ``proj // 2``), the image (2x2 mean: colour edges) and the stride-4 logit, all bilinearly
    up-sampled; two 3x3 depthwise-separable convs (``channels``) and a 1x1 conv to one logit correction that
    starts at zero, like :class:`SkipDecoder`, so a trained DeepLabv3+ is the starting point."""

    def __init__(self, decoder_channels: int, low_channels: int, channels: int = 32, proj: int = 32):
        super().__init__()
        self.dec = nn.Sequential(nn.Conv2d(decoder_channels, proj, 1), nn.ReLU(inplace=True))
        self.low = nn.Sequential(nn.Conv2d(low_channels, proj // 2, 1), nn.ReLU(inplace=True))
        cin = proj + proj // 2 + 3 + 1
        self.fuse, self.out = _separable_head(cin, channels)

    def forward(self, hidden: Tensor, logit4: Tensor, low2: Tensor, image: Tensor) -> Tensor:
        size = low2.shape[-2:]
        up = dict(size=size, mode="bilinear", align_corners=False)
        rgb = F.adaptive_avg_pool2d(image, size) if image.shape[-2:] != size else image
        x = torch.cat([F.interpolate(self.dec(hidden), **up), self.low(low2), rgb, F.interpolate(logit4, **up)], 1)
        return self.out(self.fuse(x))


class DeepLabV3PlusFine(DeepLabV3Plus):
    """:class:`DeepLabV3Plus` with a stride-2 :class:`FineHead`: ``fg_logit = base + decoder + fine`` at the
    input size, each correction bilinearly up-sampled. With ``fine`` at zero (initialisation, or a DeepLabv3+
    state dict given as ``pretrained``: its ``fine.`` keys absent) it is exactly that DeepLabv3+.

    Example:
        >>> net = DeepLabV3PlusFine(width_mult=0.25, head_channels=16, decoder_channels=8, fine_channels=8).eval()
        >>> base = DeepLabV3Plus(width_mult=0.25, head_channels=16, decoder_channels=8).eval()
        >>> _ = net.load_state_dict(base.state_dict(), strict=False)
        >>> x = torch.rand(1, 3, 64, 64)
        >>> bool(torch.allclose(net(image=x).alpha, base(image=x).alpha, atol=1e-6))
        True
    """

    def __init__(self, num_classes: int = 21, width_mult: float = 1.0, output_stride: int = 16, head_channels: int = 256,
                 decoder_channels: int = 96, fine_channels: int = 32, *, folded: bool = False,
                 tf_same_padding: bool = True, pretrained: str | Path | None = None):  # fmt: skip
        super().__init__(num_classes, width_mult, output_stride, head_channels, decoder_channels, folded=folded,
                         tf_same_padding=tf_same_padding)  # fmt: skip
        self.fine = FineHead(decoder_channels, self.backbone.channels[0], fine_channels, fine_channels)
        if pretrained is not None:
            _load_grown(self, pretrained, "fine.")

    def forward(self, image: Tensor) -> MattingOutput:
        feats, high, logits, base = self.trunk(image)
        hidden = self.decoder.hidden(high, feats[1])
        delta = self.decoder.out(hidden)
        base4 = F.interpolate(base, size=delta.shape[-2:], mode="bilinear", align_corners=False)
        fine = self.fine(hidden, base4 + delta, feats[0], image)
        up = dict(size=image.shape[-2:], mode="bilinear", align_corners=False)
        fg_logit = base + F.interpolate(delta, **up) + F.interpolate(fine, **up)
        return MattingOutput(alpha=torch.sigmoid(fg_logit), features=tuple(feats),
                             extras={"logits": logits, "fg_logit": fg_logit})  # fmt: skip


def _load_grown(net: nn.Module, pretrained: str | Path, head: str) -> None:
    """Load ``pretrained`` into a DeepLabv3+ grown by a head whose keys start with ``head``: the whole state when it
    has the head's keys, else a DeepLabv3+ state (the head keeps its initialisation; any other key that does not
    match is an error), else a DeepLabv3 / MobileNetV2 state (:func:`load_mobilenetv2_state`)."""
    state = read_state_dict(pretrained)
    if any(k.startswith(head) for k in state):
        net.load_state_dict(state)
    elif any(k.startswith("decoder.") for k in state):
        missing, unexpected = net.load_state_dict(state, strict=False)
        stray = [k for k in missing if not k.startswith(head)] + list(unexpected)
        if stray:
            raise KeyError(f"pretrained {pretrained}: keys that do not match: {stray[:5]}")
    else:
        load_mobilenetv2_state(net, state, skip=("decoder.", head))


class BandHead(nn.Module):
    """The learned unknown band (issue 27, item 4; our design, in the TGN role of spamattnet-tgn Sec. III-A: image
    -> background / transition / foreground, but read off a trained segmenter rather than a separate network).
    Inputs at stride 4: the decoder's hidden features (1x1 to ``proj``), the backbone's stride-4 feature (1x1 to
    ``proj // 2``), the image (4x4 mean) and the stride-4 foreground logit; two 3x3 depthwise-separable convs, the
    second dilated (``dilation``: hair and fur reach beyond the contour), and a 1x1 conv to three trimap logits.
    Stride 4 rather than 2: the band is a region, not an edge, and the closed-form solve finds the edge in it."""

    def __init__(self, decoder_channels: int, low_channels: int, channels: int = 32, proj: int = 32, dilation: int = 3):
        super().__init__()
        self.dec = nn.Sequential(nn.Conv2d(decoder_channels, proj, 1), nn.ReLU(inplace=True))
        self.low = nn.Sequential(nn.Conv2d(low_channels, proj // 2, 1), nn.ReLU(inplace=True))
        self.fuse, self.out = _separable_head(proj + proj // 2 + 3 + 1, channels, out=3, dilation=dilation)

    def forward(self, hidden: Tensor, logit4: Tensor, low4: Tensor, image: Tensor) -> Tensor:
        rgb = F.adaptive_avg_pool2d(image, low4.shape[-2:])
        return self.out(self.fuse(torch.cat([self.dec(hidden), self.low(low4), rgb, logit4], 1)))


class DeepLabV3PlusBand(DeepLabV3Plus):
    """:class:`DeepLabV3Plus` whose :class:`BandHead` also predicts the trimap (``trimap_logits`` at stride 4:
    background / unknown / foreground) for the two-stage pipeline's ``band_mode="learned"``. The alpha is the
    DeepLabv3+'s own, unchanged: a DeepLabv3+ state given as ``pretrained`` (its ``band.`` keys absent) gives exactly
    its alpha, and the head is trained with the body frozen (``configs/deeplabv3plus_mnv2_band_synth.yaml``).

    Example:
        >>> net = DeepLabV3PlusBand(width_mult=0.25, head_channels=16, decoder_channels=8, band_channels=8).eval()
        >>> base = DeepLabV3Plus(width_mult=0.25, head_channels=16, decoder_channels=8).eval()
        >>> _ = net.load_state_dict(base.state_dict(), strict=False)
        >>> x = torch.rand(1, 3, 64, 64)
        >>> out = net(image=x)
        >>> bool(torch.allclose(out.alpha, base(image=x).alpha, atol=1e-6)), tuple(out.trimap_logits.shape)
        (True, (1, 3, 16, 16))
    """

    def __init__(self, num_classes: int = 21, width_mult: float = 1.0, output_stride: int = 16, head_channels: int = 256,
                 decoder_channels: int = 96, band_channels: int = 32, band_dilation: int = 3, *, folded: bool = False,
                 tf_same_padding: bool = True, pretrained: str | Path | None = None):  # fmt: skip
        super().__init__(num_classes, width_mult, output_stride, head_channels, decoder_channels, folded=folded,
                         tf_same_padding=tf_same_padding)  # fmt: skip
        low = self.backbone.channels[1]
        self.band = BandHead(decoder_channels, low, band_channels, band_channels, dilation=band_dilation)
        if pretrained is not None:
            _load_grown(self, pretrained, "band.")

    def forward(self, image: Tensor) -> MattingOutput:
        feats, high, logits, base = self.trunk(image)
        hidden = self.decoder.hidden(high, feats[1])
        delta = self.decoder.out(hidden)
        base4 = F.interpolate(base, size=delta.shape[-2:], mode="bilinear", align_corners=False)
        trimap_logits = self.band(hidden, base4 + delta, feats[1], image)
        fg_logit = base + F.interpolate(delta, size=image.shape[-2:], mode="bilinear", align_corners=False)
        return MattingOutput(alpha=torch.sigmoid(fg_logit), trimap_logits=trimap_logits, features=tuple(feats),
                             extras={"logits": logits, "fg_logit": fg_logit})  # fmt: skip


class MidDecoder(nn.Module):
    """A stride-8 path into the stride-4 decoder (issue 27, item 3: a wider decoder; our design, after the
    progressive decoders of U-Net and U^2-Net rather than DeepLabv3+'s single skip). DeepLabv3+ joins the stride-16
    ASPP output straight to the stride-4 feature of the third MobileNetV2 layer, which is too shallow to tell a
    zebra's leg from the grass; the stride-8 feature (six blocks deep) can. Here the ASPP output, up-sampled to
    stride 8, is joined with a 1x1 projection (``proj``) of the stride-8 feature by two 3x3 depthwise-separable convs
    (``channels``); that, up-sampled to stride 4, is joined with the decoder's hidden features and a projection of
    the stride-4 feature by two more, and a 1x1 conv gives one foreground-logit correction that starts at zero,
    as :class:`SkipDecoder`'s, so a trained DeepLabv3+ is the starting point."""

    def __init__(self, high_channels: int, mid_channels: int, decoder_channels: int, low_channels: int,
                 channels: int = 96, proj: int = 48):  # fmt: skip
        super().__init__()
        self.mid = nn.Sequential(nn.Conv2d(mid_channels, proj, 1), nn.ReLU(inplace=True))
        self.fuse8, _ = _separable_head(high_channels + proj, channels)
        self.low = nn.Sequential(nn.Conv2d(low_channels, proj // 2, 1), nn.ReLU(inplace=True))
        self.fuse4, self.out = _separable_head(channels + decoder_channels + proj // 2, channels // 2)

    def forward(self, high: Tensor, mid8: Tensor, hidden: Tensor, low4: Tensor) -> Tensor:
        high8 = F.interpolate(high, size=mid8.shape[-2:], mode="bilinear", align_corners=False)
        h8 = self.fuse8(torch.cat([high8, self.mid(mid8)], 1))
        h4 = F.interpolate(h8, size=low4.shape[-2:], mode="bilinear", align_corners=False)
        return self.out(self.fuse4(torch.cat([h4, hidden, self.low(low4)], 1)))


class DeepLabV3PlusMid(DeepLabV3Plus):
    """:class:`DeepLabV3Plus` with a :class:`MidDecoder`: ``fg_logit = base + decoder + mid`` at the input size,
    each correction bilinearly up-sampled. With ``mid`` at zero (initialisation, or a DeepLabv3+ state dict given as
    ``pretrained``: its ``mid.`` keys absent) it is exactly that DeepLabv3+.

    Example:
        >>> net = DeepLabV3PlusMid(width_mult=0.25, head_channels=16, decoder_channels=8, mid_channels=8).eval()
        >>> base = DeepLabV3Plus(width_mult=0.25, head_channels=16, decoder_channels=8).eval()
        >>> _ = net.load_state_dict(base.state_dict(), strict=False)
        >>> x = torch.rand(1, 3, 64, 64)
        >>> bool(torch.allclose(net(image=x).alpha, base(image=x).alpha, atol=1e-6))
        True
    """

    def __init__(self, num_classes: int = 21, width_mult: float = 1.0, output_stride: int = 16, head_channels: int = 256,
                 decoder_channels: int = 96, mid_channels: int = 96, *, folded: bool = False,
                 tf_same_padding: bool = True, pretrained: str | Path | None = None):  # fmt: skip
        super().__init__(num_classes, width_mult, output_stride, head_channels, decoder_channels, folded=folded,
                         tf_same_padding=tf_same_padding)  # fmt: skip
        ch = self.backbone.channels
        self.mid = MidDecoder(head_channels, ch[2], decoder_channels, ch[1], mid_channels, max(8, mid_channels // 2))
        if pretrained is not None:
            _load_grown(self, pretrained, "mid.")

    def forward(self, image: Tensor) -> MattingOutput:
        feats, high, logits, base = self.trunk(image)
        hidden = self.decoder.hidden(high, feats[1])
        delta = self.decoder.out(hidden) + self.mid(high, feats[2], hidden, feats[1])
        fg_logit = base + F.interpolate(delta, size=image.shape[-2:], mode="bilinear", align_corners=False)
        return MattingOutput(alpha=torch.sigmoid(fg_logit), features=tuple(feats),
                             extras={"logits": logits, "fg_logit": fg_logit})  # fmt: skip


# the shipped segmenters' layout: converted TFLite weights (BN folded, TF 'SAME' pads, output stride 16), and the
class DeepLabV3PlusLite(DeepLabV3Plus):
    """:class:`DeepLabV3Plus` on an EfficientNet-Lite backbone (issue 27, item 3: a stronger pretrained backbone).

    The backbone is :class:`~automatte.models.backbones.efficientnet_lite.EfficientNetLite` at output stride 16
    (TF DeepLab's dilation, as the MobileNetV2 one); the ASPP, the 21-logit classifier and the stride-4 skip decoder
    are :class:`DeepLabV3Plus`'s, so ``fg_logit`` is computed the same way. EfficientNet-Lite0's stage widths at
    strides 4 and 16 (24 and 320) are MobileNetV2's, so a trained DeepLabv3+-MobileNetV2's heads load into a Lite0
    build unchanged (:func:`lite_segmenter_state`): the choice made here, rather than heads at random, so the
    two backbones are compared with the same head initialisation.

    Args:
        variant: ``"lite0"`` .. ``"lite4"``.
        folded_heads: the ASPP's 1x1 convs with a bias and no BN, as the shipped segmenter's (converted from the
            TFLite file, BN folded), so its heads load; the backbone keeps its BN (the ImageNet checkpoint's).
        pretrained: a state dict of this module (strict).
        Others: as :class:`DeepLabV3Plus`.
    """

    def __init__(self, variant: str = "lite0", num_classes: int = 21, output_stride: int = 16,
                 head_channels: int = 256, decoder_channels: int = 96, *, folded_heads: bool = True,
                 tf_same_padding: bool = True, pretrained: str | Path | None = None):  # fmt: skip
        nn.Module.__init__(self)
        self.backbone = EfficientNetLite(variant, output_stride=output_stride, tf_same_padding=tf_same_padding)
        self.aspp = ASPPLite(self.backbone.channels[-1], head_channels, folded_heads)
        self.classifier = nn.Conv2d(head_channels, num_classes, 1)
        self.decoder = SkipDecoder(self.backbone.channels[1], head_channels, decoder_channels)
        if pretrained is not None:
            self.load_state_dict(read_state_dict(pretrained))


def lite_segmenter_state(net: DeepLabV3PlusLite, backbone: str | Path, heads: str | Path | None = None) -> dict:
    """The starting state of a :class:`DeepLabV3PlusLite`: the ImageNet backbone (a file of ``automatte
    convert-backbone --arch efficientnet_liteN``) and, when given, the ASPP, classifier and decoder of a trained
    DeepLabv3+ (any backbone whose widths at strides 4 and 16 agree; a shape mismatch raises ValueError)."""
    from automatte.models.backbones.efficientnet_lite import load_efficientnet_lite_state
    from automatte.models.weights import model_state_from_file

    load_efficientnet_lite_state(net.backbone, read_state_dict(backbone))
    if heads is not None:
        state, _ = model_state_from_file(heads)
        own = net.state_dict()
        picked = {k: v for k, v in state.items() if k.split(".")[0] in ("aspp", "classifier", "decoder")}
        for k, v in picked.items():
            if k not in own or own[k].shape != v.shape:
                got = tuple(v.shape)
                raise ValueError(f"{heads}: {k!r} {got} does not fit {type(net).__name__} (expected "
                                 f"{tuple(own[k].shape) if k in own else 'no such key'})")  # fmt: skip
        net.load_state_dict(picked, strict=False)
    return net.state_dict()


# tiny DeepLabv3+ stand-in of the tests (BN, width 0.25); each registered function adds its own head's keys
TFLITE_LAYOUT = {"folded": True, "tf_same_padding": True, "output_stride": 16}
TINY_PLUS = {"width_mult": 0.25, "head_channels": 32, "decoder_channels": 16, "folded": False}


@register_model(
    "deeplabv3_mnv2_voc",
    family="deeplab",
    inputs=("image",),
    description="DeepLabv3-MobileNetV2 PASCAL VOC segmenter (TFLite layout); alpha = P(not background)",
)
def deeplabv3_mnv2_voc(**kw) -> DeepLabV3:
    """DeepLabv3-MobileNetV2 PASCAL VOC segmenter (TFLite layout); alpha = P(not background)."""
    return DeepLabV3(**{**TFLITE_LAYOUT, **kw})


@register_model(
    "deeplabv3_mnv2_test", family="deeplab", inputs=("image",), description="tiny DeepLabv3-MobileNetV2 for tests"
)
def deeplabv3_mnv2_test(**kw) -> DeepLabV3:
    """Tiny DeepLabv3-MobileNetV2 (width 0.25, 32 head channels, BN) for tests."""
    return DeepLabV3(**{"width_mult": 0.25, "head_channels": 32, "folded": False, **kw})


@register_model(
    "deeplabv3plus_mnv2",
    family="deeplab",
    inputs=("image",),
    description="DeepLabv3+-MobileNetV2 binary segmenter (stride-4 skip decoder on the VOC model)",
)
def deeplabv3plus_mnv2(**kw) -> DeepLabV3Plus:
    """DeepLabv3-MobileNetV2 (TFLite layout) + stride-4 skip decoder; alpha = sigmoid(fg logit)."""
    return DeepLabV3Plus(**{**TFLITE_LAYOUT, **kw})


@register_model("deeplabv3plus_mnv2_test", family="deeplab", inputs=("image",), description="tiny DeepLabv3+ for tests")
def deeplabv3plus_mnv2_test(**kw) -> DeepLabV3Plus:
    """Tiny DeepLabv3+-MobileNetV2 (width 0.25, 32 head channels, 16 decoder channels, BN) for tests."""
    return DeepLabV3Plus(**{**TINY_PLUS, **kw})


@register_model(
    "deeplabv3plus_mnv2_fine",
    family="deeplab",
    inputs=("image",),
    description="DeepLabv3+-MobileNetV2 binary segmenter with a stride-2 correction head (issue 27)",
)
def deeplabv3plus_mnv2_fine(**kw) -> DeepLabV3PlusFine:
    """DeepLabv3+-MobileNetV2 (TFLite layout) + a stride-2 :class:`FineHead`; alpha = sigmoid(fg logit)."""
    return DeepLabV3PlusFine(**{**TFLITE_LAYOUT, **kw})


@register_model("deeplabv3plus_mnv2_fine_test", family="deeplab", inputs=("image",),
                description="tiny DeepLabv3+ with the stride-2 head for tests")  # fmt: skip
def deeplabv3plus_mnv2_fine_test(**kw) -> DeepLabV3PlusFine:
    """Tiny :class:`DeepLabV3PlusFine` (width 0.25, 32 head, 16 decoder and 8 fine channels, BN) for tests."""
    return DeepLabV3PlusFine(**{**TINY_PLUS, "fine_channels": 8, **kw})


@register_model(
    "deeplabv3plus_mnv2_band",
    family="deeplab",
    inputs=("image",),
    description="DeepLabv3+-MobileNetV2 binary segmenter with a learned unknown band (trimap head, issue 27)",
)
def deeplabv3plus_mnv2_band(**kw) -> DeepLabV3PlusBand:
    """DeepLabv3+-MobileNetV2 (TFLite layout) + a stride-4 :class:`BandHead`; alpha = sigmoid(fg logit)."""
    return DeepLabV3PlusBand(**{**TFLITE_LAYOUT, **kw})


@register_model("deeplabv3plus_mnv2_band_test", family="deeplab", inputs=("image",),
                description="tiny DeepLabv3+ with the band head for tests")  # fmt: skip
def deeplabv3plus_mnv2_band_test(**kw) -> DeepLabV3PlusBand:
    """Tiny :class:`DeepLabV3PlusBand` (width 0.25, 32 head, 16 decoder and 8 band channels, BN)."""
    return DeepLabV3PlusBand(**{**TINY_PLUS, "band_channels": 8, **kw})


@register_model(
    "deeplabv3plus_mnv2_mid",
    family="deeplab",
    inputs=("image",),
    description="DeepLabv3+-MobileNetV2 binary segmenter with a stride-8 path into its decoder (issue 27)",
)
def deeplabv3plus_mnv2_mid(**kw) -> DeepLabV3PlusMid:
    """DeepLabv3+-MobileNetV2 (TFLite layout) + a :class:`MidDecoder`; alpha = sigmoid(fg logit)."""
    return DeepLabV3PlusMid(**{**TFLITE_LAYOUT, **kw})


@register_model("deeplabv3plus_mnv2_mid_test", family="deeplab", inputs=("image",),
                description="tiny DeepLabv3+ with the stride-8 decoder path for tests")  # fmt: skip
def deeplabv3plus_mnv2_mid_test(**kw) -> DeepLabV3PlusMid:
    """Tiny :class:`DeepLabV3PlusMid` (width 0.25, 32 head, 16 decoder and 16 mid channels, BN) for tests."""
    return DeepLabV3PlusMid(**{**TINY_PLUS, "mid_channels": 16, **kw})


@register_model(
    "deeplabv3plus_effl0",
    family="deeplab",
    inputs=("image",),
    description="DeepLabv3+ binary segmenter on EfficientNet-Lite0 (output stride 16; issue 27, item 3)",
)
def deeplabv3plus_effl0(**kw) -> DeepLabV3PlusLite:
    """DeepLabv3+ (ASPP-lite, stride-4 decoder) on EfficientNet-Lite0; alpha = sigmoid(fg logit)."""
    return DeepLabV3PlusLite(**{"variant": "lite0", **kw})


@register_model("deeplabv3plus_effl0_test", family="deeplab", inputs=("image",),
                description="small DeepLabv3+-EfficientNet-Lite0 for tests")  # fmt: skip
def deeplabv3plus_effl0_test(**kw) -> DeepLabV3PlusLite:
    """:class:`DeepLabV3PlusLite` on Lite0 with 32 head and 16 decoder channels (the backbone is Lite0's own)."""
    return DeepLabV3PlusLite(**{"variant": "lite0", "head_channels": 32, "decoder_channels": 16, **kw})
