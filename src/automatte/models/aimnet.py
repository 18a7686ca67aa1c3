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
        layers: ResNet-34 blocks per stage.
        max_pool_indices: Table 3 "MP": AIM's backbone with max-pool indices and max-unpooling (True) or the
            vanilla ResNet-34 with bilinear upsampling in the matting decoder (False).
        se: Table 3 "SE": SE blocks after the semantic decoder blocks.
        spatial_attention: Table 3 "SA": SPA guidance of the matting decoder.
        pretrained: a checkpoint path: an AimNet state dict (ours or the authors' key names) or a
            torchvision-style ImageNet ResNet-34 state dict (loaded into the encoder).
    """

    def __init__(
        self,
        width: int = 64,
        layers: tuple[int, ...] = (3, 4, 6, 3),
        pretrained: str | Path | None = None,
        *,
        max_pool_indices: bool = True,
        se: bool = True,
        spatial_attention: bool = True,
    ):
        super().__init__()
        w = width
        self.max_pool_indices, self.use_se, self.use_spatial_attention = max_pool_indices, se, spatial_attention
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.encoder = resnet34(aim_stem=max_pool_indices, width=w, layers=layers)  # E0..E4, M0..M4 (section 3.1)
        # unified semantic decoder (section 3.2)
        self.ppm = PSPModule(8 * w, 8 * w, (1, 3, 5))
        self.ppm_up = nn.ModuleList(nn.Sequential(*_convs(8 * w, c)) for c in (4 * w, 2 * w, w, w))
        self.sd4 = nn.Sequential(*_convs(16 * w, 8 * w, 8 * w, 4 * w))
        self.sd3 = nn.Sequential(*_convs(8 * w, 4 * w, 4 * w, 2 * w))
        self.sd2 = nn.Sequential(*_convs(4 * w, 2 * w, 2 * w, w))
        self.sd1 = nn.Sequential(*_convs(2 * w, w, w, w))
        self.sd0 = nn.Sequential(*_convs(2 * w, w, w))
        se_blocks = (SqueezeExcite(c) if se else nn.Identity() for c in (4 * w, 2 * w, w, w, w))
        self.se = nn.ModuleList(se_blocks)  # SE4..SE0
        self.spa = SpatialAttention() if spatial_attention else None
        self.sd_final = nn.Conv2d(w, 3, 3, padding=1)
        # guided matting decoder (section 3.3)
        self.md5 = nn.Sequential(*_convs(8 * w, 8 * w, 8 * w, 8 * w, dilation=2))
        self.md4 = nn.Sequential(*_convs(16 * w, 8 * w, 8 * w, 4 * w))
        self.md3 = nn.Sequential(*_convs(8 * w, 4 * w, 4 * w, 2 * w))
        self.md2 = nn.Sequential(*_convs(4 * w, 2 * w, 2 * w, w))
        self.md1 = nn.Sequential(*_convs(2 * w, w, w, w))
        self.md0 = nn.Sequential(*_convs(2 * w, w, w))
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
        if indices:
            x = up(up(x, idx[1], indices[0].shape[-2:]), idx[0], e0.shape[-2:])  # MU1, MU0
        else:
            x = up(x, None, e0.shape[-2:])
        x = self.md0(torch.cat([x, e0], 1))
        x = resize_to(x, size)  # vanilla backbone: E0 (and MD0) at 1/2
        if spa is not None:
            x = x + x * spa  # SPAR: element-wise product and sum (section 3.3)
        return self.md_final(x)

    def forward(self, image: Tensor) -> MattingOutput:
        check_multiple_of_32(image, "AimNet")
        feats, indices = self.encoder.forward_with_indices((image - self.mean) / self.std)
        logits, spa = self.semantic_decoder(feats[4], image.shape[-2:])
        detail = torch.sigmoid(self.matting_decoder(feats, indices, spa, image.shape[-2:]))
        alpha = unified_fusion(logits, detail)  # MF
        return MattingOutput(alpha=alpha, trimap_logits=logits, detail=detail, features=tuple(feats))

    def load_pretrained(self, path: str | Path) -> None:
        """Load an AimNet checkpoint (ours or the authors' names) or ImageNet ResNet-34 weights (encoder)."""
        state = read_state_dict(path)
        if any(k.startswith("decoder4_g.") for k in state):
            state = map_official_aim_keys(state)
        if any(k.startswith("encoder.") for k in state):
            try:
                self.load_state_dict(state, strict=True)
            except RuntimeError as err:
                raise ValueError(f"{path}: not an AimNet checkpoint of this size: {err}") from None
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
