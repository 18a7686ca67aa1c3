"""Trimap Generation Network (TGN) of SPAMattNet (Zhou et al., IEEE TCSVT 2023, Sec. III-A, Fig. 3).

A three-class segmentation network (background / unknown / foreground) guided by a coarse foreground mask:

* **Input**: the RGB image (ImageNet-normalised inside the model) concatenated with the two-channel coarse
  segmentation ``[1 - mask, mask]`` (background, foreground; the same order as
  :func:`automatte.ops.coarse.two_channel_segmentation`), 5 channels in all. The model takes ``mask``
  (B, 1, H, W) and builds the two channels itself.
* **Encoder**: DeepLabv3: a ResNet-50 with output stride 16 (layer4 dilated by 2) and ASPP with atrous rates
  6, 12, 18 plus image pooling (the DeepLabv3 rates for OS16).
* **Decoder** (:class:`TrimapDecoder`): the ASPP feature goes through dropout 0.5 and a 4x bilinear upsampling
  (1/16 -> 1/4), is concatenated with the low-level (layer1, 1/4) and middle-level (layer2, 1/8, upsampled to
  1/4) encoder features, each projected to 48 channels as DeepLabv3+ does for its low-level feature, and fused
  by two 3x3 convolutions.
* **"Swapping the order between upsampling and the final convolution"**: DeepLab classifies at 1/4 and then
  upsamples the logits; TGN upsamples the fused feature to the input size first and classifies there. A 1x1
  classifier commutes exactly with bilinear upsampling (both are linear and the upsampling weights sum to one),
  so the swap only changes anything if the final convolution is spatial: ours is a 3x3 convolution at full
  resolution. To keep that full-resolution tensor affordable, the second fusion convolution narrows the
  feature to ``head_channels`` (64) before the upsampling (the paper gives no widths).

Output (:class:`~automatte.models.output.MattingOutput`): ``trimap_logits`` (B, 3, H, W), classes
(background, unknown, foreground) as :func:`automatte.ops.trimap.trimap_to_classes`; ``alpha`` is the *soft
trimap*, the expected trimap value ``P(fg) + 0.5 * P(unknown)`` in [0, 1] (a trimap network has no alpha; this
choice is differentiable and rounds to the argmax trimap wherever the network is confident), also given as
``extras["trimap"]``. ``features`` are the five encoder stage features.

The paper reports no parameter count for TGN; ours is 40.0M (ResNet-50 23.5M + ASPP 15.5M + decoder 1.0M),
in line with DeepLabv3-ResNet50.

Example:
    >>> import torch
    >>> net = tgn_test().eval()
    >>> out = net(image=torch.rand(1, 3, 64, 64), mask=torch.rand(1, 1, 64, 64))
    >>> tuple(out.trimap_logits.shape), tuple(out.alpha.shape)
    ((1, 3, 64, 64), (1, 1, 64, 64))
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from automatte.models.backbones.resnet import load_resnet_state_dict, read_state_dict, resnet50
from automatte.models.layers import IMAGENET_MEAN, IMAGENET_STD, ConvBNAct, resize_to
from automatte.models.output import MattingOutput
from automatte.models.registry import register_model

__all__ = ["TGN", "ASPP", "TrimapDecoder", "soft_trimap", "two_channel_mask", "tgn", "tgn_test"]


def check_size(x: Tensor, where: str, multiple: int = 32) -> None:
    """Raise a ValueError unless the spatial size of ``x`` is a multiple of ``multiple``."""
    h, w = x.shape[-2:]
    if h % multiple or w % multiple:
        raise ValueError(
            f"{where}: height and width must be multiples of {multiple}, got {h}x{w} "
            "(pad with automatte.infer.padding.pad_to_multiple)"
        )


class ImageNormalize(nn.Module):
    """(x - mean) / std with the ImageNet statistics kept as non-persistent buffers."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: Tensor) -> Tensor:
        return (image - self.mean) / self.std


def two_channel_mask(mask: Tensor) -> Tensor:
    """(B, 1, H, W) soft mask S -> (B, 2, H, W) ``[1 - S, S]`` (Sec. III-A "two-channel foreground segmentation")."""
    return torch.cat([1.0 - mask, mask], dim=1)


def soft_trimap(logits: Tensor) -> Tensor:
    """Expected trimap value ``P(fg) + 0.5 * P(unknown)`` of (B, 3, H, W) logits (bg, unknown, fg) -> (B, 1, H, W)."""
    p = logits.softmax(dim=1)
    return p[:, 2:3] + 0.5 * p[:, 1:2]


class ASPP(nn.Module):
    """Atrous Spatial Pyramid Pooling (DeepLabv3): a 1x1 branch, 3x3 branches at ``rates``, image pooling,
    concatenated and projected by a 1x1 convolution.

    The image-pooling branch has no BatchNorm (a 1x1 map would make BatchNorm fail in training at batch 1).
    """

    def __init__(self, in_ch: int, out_ch: int = 256, rates: tuple[int, ...] = (6, 12, 18)):
        super().__init__()
        self.branches = nn.ModuleList(
            [ConvBNAct(in_ch, out_ch, 1)] + [ConvBNAct(in_ch, out_ch, 3, dilation=r) for r in rates]
        )
        self.pool = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1), nn.ReLU(inplace=True))
        self.project = ConvBNAct(out_ch * (len(rates) + 2), out_ch, 1)

    def forward(self, x: Tensor) -> Tensor:
        pooled = self.pool(x.mean(dim=(2, 3), keepdim=True)).expand(-1, -1, x.shape[-2], x.shape[-1])
        return self.project(torch.cat([b(x) for b in self.branches] + [pooled], dim=1))


class TrimapDecoder(nn.Module):
    """TGN decoder (Sec. III-A): dropout 0.5 + 4x upsampling of the ASPP feature, aggregation with the low-
    (1/4) and middle-level (1/8) encoder features, upsampling to the input size, then the final 3x3
    classification convolution (the swapped order)."""

    def __init__(
        self,
        high_ch: int,
        low_ch: int,
        mid_ch: int,
        skip_ch: int = 48,
        mid_channels: int = 256,
        head_channels: int = 64,
        num_classes: int = 3,
        dropout: float = 0.5,
    ):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.low = ConvBNAct(low_ch, skip_ch, 1)
        self.mid = ConvBNAct(mid_ch, skip_ch, 1)
        self.fuse = nn.Sequential(
            ConvBNAct(high_ch + 2 * skip_ch, mid_channels, 3), ConvBNAct(mid_channels, head_channels, 3)
        )
        self.classifier = nn.Conv2d(head_channels, num_classes, 3, padding=1)

    def forward(self, high: Tensor, low: Tensor, mid: Tensor, size: tuple[int, int]) -> Tensor:
        high = resize_to(self.dropout(high), low)  # III-A: dropout 0.5, 4x bilinear upsampling (1/16 -> 1/4)
        x = torch.cat([high, self.low(low), resize_to(self.mid(mid), low)], dim=1)  # III-A: low + middle levels
        x = F.interpolate(self.fuse(x), size=size, mode="bilinear", align_corners=False)  # III-A: upsample ...
        return self.classifier(x)  # ... then the final convolution


class TGN(nn.Module):
    """Trimap Generation Network: image + coarse mask -> 3-class trimap logits (see the module docstring).

    Args:
        width: ResNet-50 base width (64 for the paper's network).
        layers: ResNet blocks per stage.
        aspp_channels: ASPP width (256 in DeepLabv3).
        aspp_rates: atrous rates (6, 12, 18 for output stride 16).
        skip_channels: projection width of the low- and middle-level features.
        decoder_channels: width of the first fusion convolution.
        head_channels: width of the feature upsampled to full resolution and classified.
        dropout: dropout on the high-level feature (0.5 in the paper).
        pretrained: optional checkpoint: a TGN state dict or a torchvision ResNet-50 one (backbone only).
    """

    def __init__(
        self,
        width: int = 64,
        layers: tuple[int, ...] = (3, 4, 6, 3),
        aspp_channels: int = 256,
        aspp_rates: tuple[int, ...] = (6, 12, 18),
        skip_channels: int = 48,
        decoder_channels: int = 256,
        head_channels: int = 64,
        dropout: float = 0.5,
        pretrained: str | Path | None = None,
    ):
        super().__init__()
        self.normalize = ImageNormalize()
        self.backbone = resnet50(in_channels=5, output_stride=16, width=width, layers=layers)
        ch = self.backbone.channels
        self.aspp = ASPP(ch[4], aspp_channels, aspp_rates)
        self.decoder = TrimapDecoder(
            aspp_channels, ch[1], ch[2], skip_channels, decoder_channels, head_channels, dropout=dropout
        )
        if pretrained is not None:
            load_checkpoint(self, pretrained)

    def forward(self, image: Tensor, mask: Tensor) -> MattingOutput:
        """image (B, 3, H, W) in [0, 1], mask (B, 1, H, W) in [0, 1]; H, W multiples of 32."""
        check_size(image, "TGN")
        x = torch.cat([self.normalize(image), two_channel_mask(mask)], dim=1)  # III-A: RGB + 2-channel mask
        feats = self.backbone(x)
        logits = self.decoder(self.aspp(feats[4]), feats[1], feats[2], image.shape[-2:])
        trimap = soft_trimap(logits)
        return MattingOutput(alpha=trimap, trimap_logits=logits, features=tuple(feats), extras={"trimap": trimap})


def load_checkpoint(model: nn.Module, path: str | Path, backbone: str | None = "backbone") -> None:
    """Load ``path`` into ``model``: a torchvision-named ResNet state dict goes to ``model.<backbone>``
    (first conv widened, extra channels at zero); anything else must be the model's own state dict."""
    state = read_state_dict(path)
    if backbone is not None and "conv1.weight" in state and "layer1.0.conv1.weight" in state:
        load_resnet_state_dict(getattr(model, backbone), state)
        return
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        kind = type(model).__name__
        raise ValueError(f"{path}: neither a {kind} checkpoint nor a torchvision ResNet one: {err}") from None


@register_model(
    "tgn",
    family="tgn",
    inputs=("image", "mask"),
    paper_params=None,
    description="SPAMattNet's Trimap Generation Network: DeepLabv3 ResNet-50 OS16 + ASPP, image + mask",
)
def tgn(**kw) -> TGN:
    """TGN (Zhou et al. 2023, Sec. III-A): coarse mask -> trimap logits."""
    return TGN(**kw)


@register_model("tgn_test", family="tgn", inputs=("image", "mask"), description="tiny TGN for tests")
def tgn_test(**kw) -> TGN:
    """Tiny TGN for tests (width 8, one block per stage)."""
    defaults = dict(
        width=8, layers=(1, 1, 1, 1), aspp_channels=16, skip_channels=8, decoder_channels=16, head_channels=8
    )
    return TGN(**{**defaults, **kw})
