"""ViTMatte (Yao, Wang, Yang, Wang 2023): a plain ViT with a lightweight Detail Capture Module.

The DDC paper (ddc-loss-trimap-only-training.txt, sec. 4.1) trains ViTMatte-S, a ViT-S/16 backbone pretrained
with DINO, for automatic (trimap-free) matting with its known + DDC losses; ViTMatte itself is trimap-based.
Both are registered: ``vitmatte_s`` (image + trimap, as ViTMatte) and ``vitmatte_s_free`` (image only, as the
DDC paper uses it).

Boxes (ViTMatte's method section; that paper is not among ours, so its sections are named, not numbered):

* Backbone ("ViT adaptation"): :class:`~automatte.models.backbones.vit.ViT`, ViT-S/16 (embed 384, depth 12,
  6 heads, MLP 4x) on the 4-channel input (normalised image, trimap), window attention (window 14) in
  blocks 0, 1, 3, 4, 6, 7, 9, 10, global attention in blocks 2, 5, 8, 11, each followed by a residual conv
  block; decomposed relative positions, absolute position embedding resized to the input grid. One 1/16
  feature map.
* Detail Capture Module: :class:`ConvStream` (three stride-2 Conv-BN-ReLU on the same 4-channel input:
  details D1, D2, D3 at 1/2, 1/4, 1/8, widths 48, 96, 192; D0 is the input itself) and four
  :class:`FusionBlock` (x2 bilinear upsampling, concatenation with the detail of that scale, Conv-BN-ReLU;
  widths 256, 128, 64, 32) from 1/16 back to full resolution, then :class:`MattingHead` (3x3 conv-BN-ReLU
  to 16, 1x1 to 1) and a sigmoid.

Inputs and outputs: image (B, 3, H, W) in [0, 1] (ImageNet-normalised inside), trimap (B, 1, H, W) in
{0, 0.5, 1} used as a fourth channel as is (ViTMatte divides the 0-255 trimap by 255). H, W multiples of 32
(the ViT needs 16). ``alpha`` in [0, 1]; ``features`` = (D1, D2, D3, ViT 1/16 feature), shallow to deep.

Parameters: ``vitmatte_s`` has 25.81M here: ViT-S 21.82M (DINO's ViT-S/16 is 21.67M with its class token
and final norm; here + the trimap channel of the patch embedding and the relative position tables), conv
necks 1.92M, Detail Capture Module 2.07M. ``vitmatte_s_free`` has 25.72M. The DDC paper gives no count and
ViTMatte's own table is not among our papers, so ``paper_params`` is ``None``; the ~25.8M usually quoted
for ViTMatte-S agrees with ours, but we could not check it against the source here.

Choices: no stochastic depth (``drop_path``) in the network (a training-time regulariser the papers do
not give for ViT-S); the conv necks start as the identity (``zero_init_residual``, as ViTDet) in the full
variants and not in the test variants (so that the tests see gradients through them); the relative position
tables of the global blocks cover a 512 px input (ViTMatte's crop) and are resized for other sizes.

Example:
    >>> import torch
    >>> net = ViTMatte(**TEST_CONFIG).eval()
    >>> out = net(image=torch.rand(1, 3, 64, 96), trimap=torch.full((1, 1, 64, 96), 0.5))
    >>> tuple(out.alpha.shape), [tuple(f.shape[-2:]) for f in out.features]
    ((1, 1, 64, 96), [(32, 48), (16, 24), (8, 12), (4, 6)])
"""

from __future__ import annotations

import re
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from automatte.models.backbones.vit import ViT, load_vit_state_dict
from automatte.models.layers import IMAGENET_MEAN, IMAGENET_STD, ConvBNAct, check_multiple_of_32
from automatte.models.output import MattingOutput
from automatte.models.registry import register_model

__all__ = ["ViTMatte", "DetailCapture", "ConvStream", "FusionBlock", "MattingHead", "TEST_CONFIG"]


class ConvStream(nn.Module):
    """Stride-2 3x3 Conv-BN-ReLU layers on the input image (+ trimap): details D1..Dn at 1/2 .. 1/2^n."""

    def __init__(self, in_chans: int = 4, widths: tuple[int, ...] = (48, 96, 192)):
        super().__init__()
        chans = (in_chans, *widths)
        self.convs = nn.ModuleList(ConvBNAct(chans[i], chans[i + 1], 3, stride=2) for i in range(len(widths)))

    def forward(self, x: Tensor) -> list[Tensor]:
        details = [x]  # D0: the input itself
        for conv in self.convs:
            details.append(conv(details[-1]))
        return details


class FusionBlock(nn.Module):
    """Upsample the feature x2 (bilinear), concatenate the detail of that scale, 3x3 Conv-BN-ReLU."""

    def __init__(self, in_chans: int, out_chans: int):
        super().__init__()
        self.conv = ConvBNAct(in_chans, out_chans, 3)

    def forward(self, x: Tensor, detail: Tensor) -> Tensor:
        up = F.interpolate(x, size=detail.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv(torch.cat([detail, up], dim=1))


class MattingHead(nn.Module):
    """3x3 conv-BN-ReLU then 1x1 conv to one channel: the alpha logits."""

    def __init__(self, in_chans: int = 32, mid_chans: int = 16):
        super().__init__()
        self.matting_convs = nn.Sequential(
            nn.Conv2d(in_chans, mid_chans, 3, padding=1),
            nn.BatchNorm2d(mid_chans),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_chans, 1, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.matting_convs(x)


class DetailCapture(nn.Module):
    """ViTMatte's Detail Capture Module: ConvStream details fused into the ViT feature from 1/16 to 1/1."""

    def __init__(
        self,
        in_chans: int = 384,
        img_chans: int = 4,
        convstream_widths: tuple[int, ...] = (48, 96, 192),
        fusion_widths: tuple[int, ...] = (256, 128, 64, 32),
        head_width: int = 16,
    ):
        super().__init__()
        if len(fusion_widths) != len(convstream_widths) + 1:
            raise ValueError(f"DetailCapture: {len(fusion_widths)} fusion widths for {len(convstream_widths)} details")
        self.convstream = ConvStream(img_chans, convstream_widths)
        details = (img_chans, *convstream_widths)[::-1]  # deep to shallow: D3, D2, D1, D0
        ins = (in_chans, *fusion_widths[:-1])
        self.fusion_blks = nn.ModuleList(FusionBlock(i + d, o) for i, d, o in zip(ins, details, fusion_widths))
        self.matting_head = MattingHead(fusion_widths[-1], head_width)

    def forward(self, feature: Tensor, images: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Alpha logits (B, 1, H, W) and the details [D0, D1, ...]."""
        details = self.convstream(images)
        x = feature
        for blk, detail in zip(self.fusion_blks, reversed(details)):
            x = blk(x, detail)
        return self.matting_head(x), details


class ViTMatte(nn.Module):
    """ViTMatte: ViT backbone + Detail Capture Module.

    Args:
        use_trimap: the trimap is a 4th input channel (``vitmatte_s``); ``False``: RGB only.
        embed_dim, depth, num_heads, mlp_ratio, window_size, window_block_indexes, residual_block_indexes,
        use_rel_pos, img_size, zero_init_residual: the backbone (see :class:`ViT`).
        convstream_widths, fusion_widths, head_width: the Detail Capture Module.

    ``forward(image, trimap=None)`` -> :class:`MattingOutput` with ``alpha`` and ``features``.
    """

    def __init__(
        self,
        *,
        use_trimap: bool = True,
        embed_dim: int = 384,
        depth: int = 12,
        num_heads: int = 6,
        mlp_ratio: float = 4.0,
        window_size: int = 14,
        window_block_indexes: tuple[int, ...] = (0, 1, 3, 4, 6, 7, 9, 10),
        residual_block_indexes: tuple[int, ...] = (2, 5, 8, 11),
        use_rel_pos: bool = True,
        img_size: int = 512,
        zero_init_residual: bool = True,
        convstream_widths: tuple[int, ...] = (48, 96, 192),
        fusion_widths: tuple[int, ...] = (256, 128, 64, 32),
        head_width: int = 16,
    ):
        super().__init__()
        self.use_trimap = use_trimap
        chans = 4 if use_trimap else 3
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.backbone = ViT(
            chans,
            16,
            embed_dim,
            depth,
            num_heads,
            mlp_ratio,
            window_size,
            tuple(window_block_indexes),
            tuple(residual_block_indexes),
            use_rel_pos,
            224,
            img_size,
            zero_init_residual,
        )
        self.decoder = DetailCapture(embed_dim, chans, tuple(convstream_widths), tuple(fusion_widths), head_width)

    def forward(self, image: Tensor, trimap: Tensor | None = None) -> MattingOutput:
        h, w = image.shape[-2:]
        check_multiple_of_32(image, "ViTMatte")
        if self.use_trimap and trimap is None:
            raise ValueError("ViTMatte: this variant takes a trimap (B, 1, H, W); use vitmatte_s_free for RGB only")
        x = (image - self.mean) / self.std
        if self.use_trimap:
            x = torch.cat([x, trimap], dim=1)
        feature = self.backbone(x)
        logits, details = self.decoder(feature, x)
        return MattingOutput(alpha=torch.sigmoid(logits), features=(*details[1:], feature))

    def load_pretrained(self, state: dict[str, Tensor]) -> None:
        """Load a ViTMatte checkpoint (``backbone.*`` / ``decoder.*``: ours, or the official detectron2 layout
        whose ``conv``/``bn`` sub-names are mapped onto our Conv-BN layers) or a bare ViT checkpoint (timm /
        DINO names: the backbone only, the trimap channel of the patch embedding at zero)."""
        if not any(k.startswith(("backbone.", "decoder.")) for k in state):
            load_vit_state_dict(self.backbone, state)
            return
        load_vit_state_dict(self.backbone, {k[9:]: v for k, v in state.items() if k.startswith("backbone.")})
        decoder = {}
        for k, v in state.items():
            if k.startswith("decoder."):
                k = re.sub(r"(convs\.\d+|fusion_blks\.\d+\.conv)\.conv\.", r"\1.0.", k[8:])
                decoder[re.sub(r"(convs\.\d+|fusion_blks\.\d+\.conv)\.bn\.", r"\1.1.", k)] = v
        own = self.decoder.state_dict()
        bad = [k for k, v in decoder.items() if k in own and own[k].shape != v.shape]
        if bad:
            raise ValueError(f"pretrained ViTMatte: decoder shape mismatch for {bad[:4]} (trimap-based vs free?)")
        result = self.decoder.load_state_dict(decoder, strict=False)
        if result.missing_keys or result.unexpected_keys:
            warnings.warn(
                f"pretrained ViTMatte decoder: missing {result.missing_keys[:8]}, "
                f"unexpected {result.unexpected_keys[:8]}",
                stacklevel=2,
            )


TEST_CONFIG = dict(
    embed_dim=32,
    depth=2,
    num_heads=2,
    window_size=3,
    window_block_indexes=(0,),
    residual_block_indexes=(1,),
    img_size=64,
    zero_init_residual=False,
    convstream_widths=(8, 16, 24),
    fusion_widths=(32, 16, 8, 8),
    head_width=8,
)


def _vitmatte(pretrained: str | None = None, **kw) -> ViTMatte:
    model = ViTMatte(**kw)
    if pretrained is not None:
        from automatte.models.backbones.resnet import read_state_dict

        model.load_pretrained(read_state_dict(pretrained))
    return model


@register_model("vitmatte_s", family="vitmatte", inputs=("image", "trimap"))
def vitmatte_s(**kw) -> ViTMatte:
    """ViTMatte-S: ViT-S/16 (window + global attention, conv necks) + detail capture, image + trimap."""
    return _vitmatte(**kw)


@register_model("vitmatte_s_free", family="vitmatte", inputs=("image",))
def vitmatte_s_free(**kw) -> ViTMatte:
    """ViTMatte-S on the RGB image alone (the DDC paper's automatic-matting model)."""
    return _vitmatte(**{"use_trimap": False, **kw})


@register_model("vitmatte_test", family="vitmatte", inputs=("image", "trimap"))
def vitmatte_test(**kw) -> ViTMatte:
    """Tiny ViTMatte (embed 32, depth 2, heads 2, window 3) for the tests."""
    return _vitmatte(**{**TEST_CONFIG, **kw})


@register_model("vitmatte_free_test", family="vitmatte", inputs=("image",))
def vitmatte_free_test(**kw) -> ViTMatte:
    """Tiny trimap-free ViTMatte for the tests."""
    return _vitmatte(**{**TEST_CONFIG, "use_trimap": False, **kw})
