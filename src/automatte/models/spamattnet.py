"""SPAMattNet: Sampling Propagation Attention Matting Network (Zhou et al., IEEE TCSVT 2023, Sec. III-B, Fig. 2, 4, 5).

A trimap-based U-Net (ResNet-34 encoder, GCA / MGMatting-style residual decoder without ASPP, as SPAMattNet*
of Table IX) augmented with Sampling Propagation Attention and a refinement module:

* **Input**: the ImageNet-normalised image and the trimap as a 3-channel one-hot (background, unknown,
  foreground), as GCA Matting whose data pipeline the paper follows; 6 channels. Trimap values are read as
  background below a third, foreground from two thirds, unknown otherwise (``ops.trimap.trimap_masks``).
* **Image guidance**: ``I_w`` = two 3x3 stride-2 SN convolutions (+BN, ReLU) of the RGB image (1/4);
  ``I`` = one more (1/8).
* **LSPA** (:class:`LSPA`, eq. 2-7) on the low-level encoder feature ``A_w`` (layer1, 1/4) in non-overlapping
  ``window`` x ``window`` windows with ``heads`` heads: a sampling branch (image values, logits reweighted by
  the distance map ``dis = D_F + D_B``, eq. 2-4, then a 3x3 convolution) and a propagation branch (alpha
  values, logits scaled by ``m``, eq. 5-7), fused per token by a 1D CFC.
* **GPA** (:class:`GPA`, eq. 8) on the high-level feature ``A`` (layer2, 1/8): global attention with queries
  at full feature resolution and keys / values reduced by ``ratio`` r in channels (1x1 conv) and space
  (r x r stride-r conv), a 1x1 conv and a residual sum.
* **2D CFC** (:class:`CFC2d`, eq. 9) fuses LSPA and the 2x-upsampled GPA output (the paper gives no size for
  the pair; we fuse at the LSPA resolution, 1/4).
* **Where SPA meets the decoder** (the paper says "as the decoder input" without a figure we can read): the
  decoder is a U-Net whose skip connections are added (GCA style); the 1/8 skip is the GPA output and the
  1/4 skip is the 2D-CFC output, so every attention output feeds the decoder.
* **Refinement module** (Sec. III-B3, layout unspecified): three 3x3 convolutions on the input, the coarse
  alpha and the last decoder feature predict a residual; ``alpha = clamp(coarse_alpha + residual, 0, 1)``.

Choices where the paper is silent or ambiguous, each tested in ``tests/models/test_spamattnet.py``:

* ``D_F, D_B`` (eq. 4) are defined *per window*: ``min(d_{i_U, j_F})`` is the distance from unknown pixel i
  to the nearest foreground pixel of its window. That is an exact masked minimum over the window's constant
  pairwise-distance matrix (:func:`nearest_region_distance`), equal to a Euclidean distance transform of the
  window (checked against ``scipy.ndimage.distance_transform_edt``), exportable (ReduceMin) and needing no
  gradient (it depends on the trimap only). Rows and columns follow eq. 4 literally: ``d_ij / min`` for an
  unknown query i and a key j in the region, ``-d_ij`` for a known query, 0 for keys outside the region.
* ``m`` (eq. 6-7) depends on the key j only, with ``|U|`` and ``|K|`` counted over the whole image (as GCA
  [11] does), for LSPA and GPA alike; it is a scaling, nothing is masked out.
* The trimap is reduced to a feature resolution by "known only if the whole cell is known" (min-pooling of
  the foreground and background indicators); keys of GPA are cells of ``8 r`` pixels.
* Spectral normalisation (guidance convolutions and CFC) is ``torch.nn.utils.parametrizations.spectral_norm``:
  one power iteration per training forward; in eval mode the weight is ``W / (u^T W v)`` with the stored
  vectors, which the torch.export-based ONNX exporter traces as ordinary ops, so the same forward exports.

Ablation switches (Table IV's module rows; each defaults to the paper's model): ``gpa=False`` / ``lspa=False``
drop that attention, and its decoder skip becomes the plain encoder feature (``A`` at 1/8, ``A_w`` at 1/4: the
vanilla U-Net of row 1 when both are off); the 2D CFC exists only with both (the paper: "with LSPA being
removed, CFC will also be removed"), so row 2 (LSPA + CFC, no GPA) keeps LSPA's 1D CFC. ``cfc=False`` (row 4)
replaces the CFCs by the plain fusions the paper compares them with ("simply adding/concatenating"): LSPA's
two branches are added, and LSPA's and GPA's outputs are concatenated and mixed by a 1x1 conv (our choice of
which plain fusion goes where: the branches have equal widths, the two attentions do not).
``refinement=False`` (row 5) drops the refinement module: ``alpha`` is the decoder's alpha and
``coarse_alpha`` is None (the loss recipe then has one term). Row 6 (no ``L_hard``) is the loss switch
``spamattnet_losses(hard_weight=0)``.

Parameters: 26.6M with the defaults vs 26.0M for SPAMattNet* (Table IX; its decoder differs slightly).

Example:
    >>> import torch
    >>> net = spamattnet_test().eval()
    >>> trimap = torch.full((1, 1, 64, 64), 0.5)
    >>> out = net(image=torch.rand(1, 3, 64, 64), trimap=trimap)
    >>> tuple(out.alpha.shape), tuple(out.coarse_alpha.shape)
    ((1, 1, 64, 64), (1, 1, 64, 64))
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from automatte.models.backbones.resnet import BasicBlock, resnet34
from automatte.models.layers import ConvBNAct, resize_to, trimap_one_hot
from automatte.models.output import MattingOutput
from automatte.models.registry import register_model
from automatte.models.tgn import ImageNormalize, check_size, load_checkpoint

__all__ = [
    "SPAMattNet",
    "LSPA",
    "GPA",
    "CFC1d",
    "CFC2d",
    "RefinementModule",
    "trimap_regions",
    "pool_regions",
    "region_scales",
    "nearest_region_distance",
    "sampling_distance_map",
    "spamattnet",
    "spamattnet_test",
]

BIG = 1e4  # larger than any distance inside a window; marks "no pixel of that region here"


trimap_regions = trimap_one_hot  # (B, 1, H, W) trimap -> (B, 3, H, W) one-hot (background, unknown, foreground)


def pool_regions(regions: Tensor, stride: int) -> Tensor:
    """One-hot regions at 1/stride: a cell is background / foreground only if all its pixels are, else unknown."""
    if stride == 1:
        return regions
    bg = -F.max_pool2d(-regions[:, 0:1], stride, stride)
    fg = -F.max_pool2d(-regions[:, 2:3], stride, stride)
    return torch.cat([bg, 1.0 - fg - bg, fg], dim=1)


def region_scales(unknown: Tensor, eps: float = 1e-6) -> tuple[Tensor, Tensor]:
    """Eq. 6-7: per image, ``clip(sqrt(|U| / |K|))`` for unknown keys and ``clip(sqrt(|K| / |U|))`` for known
    ones, clip = clamp to [0.1, 10]. ``unknown``: (B, 1, H, W) indicator -> two (B, 1, 1, 1) tensors."""
    u = unknown.mean(dim=(2, 3), keepdim=True)
    k = 1.0 - u
    return (u / k.clamp_min(eps)).sqrt().clamp(0.1, 10.0), (k / u.clamp_min(eps)).sqrt().clamp(0.1, 10.0)


def window_partition(x: Tensor, ws: int) -> Tensor:
    """(B, C, H, W) -> (B * S, ws * ws, C), S = (H / ws) * (W / ws) windows in row-major order."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // ws, ws, w // ws, ws).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(-1, ws * ws, c)


def window_reverse(t: Tensor, ws: int, h: int, w: int) -> Tensor:
    """Inverse of :func:`window_partition`: (B * S, ws * ws, C) -> (B, C, h, w)."""
    c = t.shape[-1]
    t = t.reshape(-1, h // ws, w // ws, ws, ws, c).permute(0, 5, 1, 3, 2, 4)
    return t.reshape(-1, c, h, w)


def window_distances(ws: int, device=None) -> Tensor:
    """(ws*ws, ws*ws) Euclidean distances ``d_ij`` between the pixels of a window (row-major indices)."""
    r = torch.arange(ws, device=device, dtype=torch.float32)
    p = torch.stack(torch.meshgrid(r, r, indexing="ij"), dim=-1).reshape(-1, 2)
    return (p[:, None] - p[None]).pow(2).sum(-1).sqrt()


def nearest_region_distance(d: Tensor, region: Tensor) -> Tensor:
    """Distance from each pixel to the nearest pixel of ``region`` in its window: ``min_{j in region} d_ij``.

    Args:
        d: (N, N) window distances (:func:`window_distances`).
        region: (S, N) 0/1 indicator per window.

    Returns:
        (S, N); ``BIG`` (1e4) or more where the window has no pixel of the region.
    """
    return (d + BIG * (1.0 - region[:, None, :])).amin(dim=-1)


def sampling_distance_map(regions: Tensor, d: Tensor) -> Tensor:
    """Eq. 3-4: ``dis = D_F + D_B`` for windowed regions (S, N, 3) (bg, unknown, fg) -> (S, N, N) (query i, key j)."""
    unknown = regions[..., 1:2]  # (S, N, 1): query i in U
    dis = 0.0
    for c in (0, 2):  # D_B, D_F
        member = regions[..., c]  # (S, N): key j in the region
        nearest = nearest_region_distance(d, member).clamp_min(1.0)[..., None]  # min over the region, >= 1 off it
        dis = dis + member[:, None, :] * (unknown * d / nearest - (1.0 - unknown) * d)  # eq. 4
    return dis


class SNConvBNReLU(nn.Sequential):
    """3x3 convolution with spectral normalisation, BatchNorm, ReLU (the image-guidance convolutions)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__(
            spectral_norm(nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )


def cross_fusion(f: Tensor, dim: int) -> Tensor:
    """Eq. 9: split ``f`` evenly along ``dim`` into (F1', F2') and return ``ELU(F1') * sigmoid(F2')``."""
    a, b = f.chunk(2, dim=dim)
    return F.elu(a) * torch.sigmoid(b)


class CFC1d(nn.Module):
    """1D Cross-Fusion Contextual module (Sec. III-B2, eq. 9) on tokens (..., C1) and (..., C2) -> (..., out)."""

    def __init__(self, in1: int, in2: int, out: int):
        super().__init__()
        self.linear = spectral_norm(nn.Linear(in1 + in2, 2 * out))

    def forward(self, f1: Tensor, f2: Tensor) -> Tensor:
        return cross_fusion(self.linear(torch.cat([f1, f2], dim=-1)), dim=-1)


class CFC2d(nn.Module):
    """2D Cross-Fusion Contextual module (Sec. III-B2, Fig. 5, eq. 9) on maps of the same size -> (B, out, H, W)."""

    def __init__(self, in1: int, in2: int, out: int):
        super().__init__()
        self.conv = spectral_norm(nn.Conv2d(in1 + in2, 2 * out, 1))

    def forward(self, f1: Tensor, f2: Tensor) -> Tensor:
        return cross_fusion(self.conv(torch.cat([f1, f2], dim=1)), dim=1)


class LSPA(nn.Module):
    """Local Sampling Propagation Attention (Sec. III-B1, Fig. 4 top, eq. 2-7), windowed multi-head attention.

    Args:
        channels: C of the image feature ``I_w`` and of the alpha feature ``A_w``.
        heads: d, the number of heads (C divisible by d).
        window: window side (the feature size must be a multiple of it).
        cfc: fuse the two branches with the 1D CFC (True) or add them (Table IV, "w/o CFC").
    """

    def __init__(self, channels: int, heads: int = 4, window: int = 8, cfc: bool = True):
        super().__init__()
        if channels % heads:
            raise ValueError(f"LSPA: channels ({channels}) must be divisible by heads ({heads})")
        self.heads, self.window = heads, window
        self.qk = nn.Linear(channels, 2 * channels)
        self.refine = nn.Conv2d(channels, channels, 3, padding=1)
        self.fuse = CFC1d(channels, channels, channels) if cfc else None  # None: the branches are added (Table IV)

    def _heads(self, t: Tensor) -> Tensor:  # (S, N, C) -> (S, d, N, C/d)
        s, n, c = t.shape
        return t.reshape(s, n, self.heads, c // self.heads).transpose(1, 2)

    def affinities(self, image_feat: Tensor, regions: Tensor, key_scale: Tensor) -> tuple[Tensor, Tensor]:
        """Sampling and propagation attention weights, each (B * S, d, N, N), rows summing to one.

        Args:
            image_feat: (B, C, h, w) ``I_w``.
            regions: (B, 3, h, w) one-hot trimap regions at this resolution.
            key_scale: (B, 1, h, w) ``m`` of each key pixel (eq. 6).
        """
        ws = self.window
        q, k = self.qk(window_partition(image_feat, ws)).chunk(2, dim=-1)
        q, k = self._heads(q), self._heads(k)
        logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # q k / sqrt(C/d)
        dis = sampling_distance_map(window_partition(regions, ws), window_distances(ws, image_feat.device))
        m = window_partition(key_scale, ws).transpose(1, 2)[:, None]  # (S, 1, 1, N): depends on the key only
        return (dis[:, None] * logits).softmax(dim=-1), (m * logits).softmax(dim=-1)  # eq. 2, eq. 5

    def forward(self, image_feat: Tensor, alpha_feat: Tensor, regions: Tensor, key_scale: Tensor) -> Tensor:
        """(B, C, h, w) ``I_w`` and ``A_w`` -> (B, C, h, w) ``F_lsp``."""
        h, w = image_feat.shape[-2:]
        sampling, propagation = self.affinities(image_feat, regions, key_scale)
        v_i = self._heads(window_partition(image_feat, self.window))
        v_a = self._heads(window_partition(alpha_feat, self.window))

        def merge(t: Tensor) -> Tensor:  # (S, d, N, C/d) -> (B, C, h, w)
            return window_reverse(t.transpose(1, 2).flatten(2), self.window, h, w)

        f_ls = self.refine(merge(sampling @ v_i))  # eq. 2 + 3x3 convolution
        f_lp = merge(propagation @ v_a)  # eq. 5
        if self.fuse is None:
            return f_ls + f_lp  # Table IV, "w/o CFC"
        return self.fuse(f_ls.permute(0, 2, 3, 1), f_lp.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # 1D CFC


class GPA(nn.Module):
    """Global Propagation Attention (Sec. III-B1, Fig. 4 bottom, eq. 8) with downscale ratio r.

    Queries: 1x1 conv of ``I`` to C/r channels at full feature resolution; keys (from ``I``) and values (from
    ``A``): 1x1 conv to C/r channels then an r x r stride-r conv. Output ``A + BN(conv1x1(F_gp))``.
    """

    def __init__(self, channels: int, ratio: int = 4):
        super().__init__()
        inner = max(channels // ratio, 1)
        self.ratio = ratio
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Sequential(nn.Conv2d(channels, inner, 1), nn.Conv2d(inner, inner, ratio, ratio))
        self.value = nn.Sequential(nn.Conv2d(channels, inner, 1), nn.Conv2d(inner, inner, ratio, ratio))
        self.out = ConvBNAct(inner, channels, 1, act=None)

    def affinity(self, image_feat: Tensor, key_scale: Tensor) -> Tensor:
        """(B, H*W, H*W / r^2) attention weights; ``key_scale`` (B, 1, H/r, W/r) is ``m`` per key (eq. 6)."""
        q = self.query(image_feat).flatten(2).transpose(1, 2)  # (B, HW, C/r)
        k = self.key(image_feat).flatten(2)  # (B, C/r, HW/r^2)
        logits = q @ k / math.sqrt(q.shape[-1])
        return (key_scale.flatten(2) * logits).softmax(dim=-1)  # eq. 8

    def forward(self, image_feat: Tensor, alpha_feat: Tensor, key_scale: Tensor) -> Tensor:
        v = self.value(alpha_feat).flatten(2).transpose(1, 2)  # (B, HW/r^2, C/r)
        f_gp = (self.affinity(image_feat, key_scale) @ v).transpose(1, 2)
        f_gp = f_gp.reshape(f_gp.shape[0], f_gp.shape[1], *alpha_feat.shape[-2:])
        return alpha_feat + self.out(f_gp)  # 1x1 conv and residual sum


class UpStage(nn.Module):
    """Decoder stage: bilinear 2x upsampling to the skip's size, residual BasicBlocks, plus the skip (GCA style)."""

    def __init__(self, in_ch: int, out_ch: int, blocks: int):
        super().__init__()
        proj = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))
        self.blocks = nn.Sequential(
            BasicBlock(in_ch, out_ch, downsample=proj), *[BasicBlock(out_ch, out_ch) for _ in range(blocks - 1)]
        )

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return self.blocks(resize_to(x, skip)) + skip


class RefinementModule(nn.Module):
    """Sec. III-B3: predicts ``alpha_residual`` from the input, the coarse alpha and the decoder's last feature."""

    def __init__(self, in_ch: int, mid: int = 32):
        super().__init__()
        self.body = nn.Sequential(ConvBNAct(in_ch, mid, 3), ConvBNAct(mid, mid, 3), nn.Conv2d(mid, 1, 3, padding=1))

    def forward(self, x: Tensor, coarse: Tensor, feat: Tensor) -> Tensor:
        return (coarse + self.body(torch.cat([x, coarse, feat], dim=1))).clamp(0.0, 1.0)  # a_coarse + a_residual


class SPAMattNet(nn.Module):
    """SPAMattNet (see the module docstring): image + trimap -> coarse and refined alpha.

    Args:
        width: ResNet-34 base width (64); decoder widths follow (8w, 4w, 2w, w, w/2).
        layers: encoder blocks per stage (ResNet-34: 3, 4, 6, 3).
        decoder_blocks: residual blocks of the 1/16, 1/8, 1/4, 1/2 decoder stages (GCA / MGMatting: 2, 3, 3, 2).
        heads: LSPA heads d.
        window: LSPA window side at 1/4 resolution (1, 2, 4 or 8: the 1/4 feature is a multiple of 8).
        ratio: GPA downscale ratio r (1, 2 or 4: the 1/8 feature is a multiple of 4).
        refine_channels: width of the refinement module.
        pretrained: optional checkpoint: a SPAMattNet state dict or a torchvision ResNet-34 one (encoder only).
        gpa, lspa, cfc, refinement: Table IV's modules (module docstring), all on by default.
    """

    def __init__(
        self,
        width: int = 64,
        layers: tuple[int, ...] = (3, 4, 6, 3),
        decoder_blocks: tuple[int, ...] = (2, 3, 3, 2),
        heads: int = 4,
        window: int = 8,
        ratio: int = 4,
        refine_channels: int = 32,
        pretrained: str | Path | None = None,
        *,
        gpa: bool = True,
        lspa: bool = True,
        cfc: bool = True,
        refinement: bool = True,
    ):
        super().__init__()
        if window not in (1, 2, 4, 8):
            raise ValueError(f"SPAMattNet: window must be 1, 2, 4 or 8 (it must divide H/4), got {window}")
        if ratio not in (1, 2, 4):
            raise ValueError(f"SPAMattNet: ratio must be 1, 2 or 4 (it must divide H/8), got {ratio}")
        self.ratio = ratio
        self.normalize = ImageNormalize()
        self.encoder = resnet34(in_channels=6, width=width, layers=layers)
        c = self.encoder.channels  # [w, w, 2w, 4w, 8w] at strides 2, 4, 8, 16, 32
        half = max(width // 2, 1)
        g = max(c[1] // 2, 1)
        self.guidance_low = nn.Sequential(SNConvBNReLU(3, g, 2), SNConvBNReLU(g, c[1], 2)) if gpa or lspa else None
        self.guidance_high = SNConvBNReLU(c[1], c[2], 2) if gpa else None
        self.lspa = LSPA(c[1], heads, window, cfc) if lspa else None
        self.gpa = GPA(c[2], ratio) if gpa else None
        both = gpa and lspa  # the 2D CFC fuses LSPA with GPA; w/o CFC: concatenation + 1x1 conv
        self.cfc = CFC2d(c[1], c[2], c[1]) if both and cfc else None
        self.concat = nn.Conv2d(c[1] + c[2], c[1], 1) if both and not cfc else None
        self.skip16 = ConvBNAct(c[3], c[3], 3)
        self.skip2 = ConvBNAct(c[0], half, 3)
        self.skip1 = ConvBNAct(6, half, 3)
        self.decoder = nn.ModuleList(
            [
                UpStage(c[4], c[3], decoder_blocks[0]),
                UpStage(c[3], c[2], decoder_blocks[1]),
                UpStage(c[2], c[1], decoder_blocks[2]),
                UpStage(c[1], half, decoder_blocks[3]),
            ]
        )
        self.last = ConvBNAct(half, half, 3)
        self.head = nn.Conv2d(half, 1, 3, padding=1)
        self.refine = RefinementModule(6 + 1 + half, refine_channels) if refinement else None
        if pretrained is not None:
            load_checkpoint(self, pretrained, backbone="encoder")

    def forward(self, image: Tensor, trimap: Tensor) -> MattingOutput:
        """image (B, 3, H, W) in [0, 1], trimap (B, 1, H, W) in {0, 0.5, 1}; H, W multiples of 32."""
        check_size(image, "SPAMattNet")
        rgb = self.normalize(image)
        regions = trimap_regions(trimap)
        x = torch.cat([rgb, regions], dim=1)
        feats = self.encoder(x)

        scale_u, scale_k = region_scales(regions[:, 1:2])  # eq. 6-7, per image
        skip8, skip4 = feats[2], feats[1]  # the plain U-Net skips (Table IV, row 1)
        i_w = self.guidance_low(rgb) if self.guidance_low is not None else None  # I_w, 1/4
        if self.lspa is not None:
            low = pool_regions(regions, 4)
            skip4 = self.lspa(i_w, feats[1], low, scale_u * low[:, 1:2] + scale_k * (1.0 - low[:, 1:2]))
        if self.gpa is not None:
            keys = pool_regions(regions, 8 * self.ratio)[:, 1:2]
            skip8 = self.gpa(self.guidance_high(i_w), feats[2], scale_u * keys + scale_k * (1.0 - keys))
        if self.cfc is not None:
            skip4 = self.cfc(skip4, resize_to(skip8, skip4))  # 2D CFC
        elif self.concat is not None:
            skip4 = self.concat(torch.cat([skip4, resize_to(skip8, skip4)], dim=1))  # Table IV, "w/o CFC"

        d = self.decoder[0](feats[4], self.skip16(feats[3]))
        d = self.decoder[1](d, skip8)
        d = self.decoder[2](d, skip4)
        d = self.decoder[3](d, self.skip2(feats[0]))
        d = self.last(resize_to(d, x)) + self.skip1(x)
        coarse = torch.sigmoid(self.head(d))
        if self.refine is None:  # Table IV, "w/o RM"
            return MattingOutput(alpha=coarse, features=tuple(feats))
        alpha = self.refine(x, coarse, d)
        return MattingOutput(alpha=alpha, coarse_alpha=coarse, features=tuple(feats))


@register_model(
    "spamattnet",
    family="spamattnet",
    inputs=("image", "trimap"),
    paper_params=26.0,
    paper_source="spamattnet table IX",
    description="SPAMattNet: ResNet-34 U-Net + LSPA/GPA/CFC + refinement module, image + trimap",
)
def spamattnet(**kw) -> SPAMattNet:
    """SPAMattNet (Zhou et al. 2023, Sec. III-B): image + trimap -> alpha."""
    return SPAMattNet(**kw)


@register_model(
    "spamattnet_test", family="spamattnet", inputs=("image", "trimap"), description="tiny SPAMattNet for tests"
)
def spamattnet_test(**kw) -> SPAMattNet:
    """Tiny SPAMattNet for tests (width 8, one block per stage)."""
    defaults = dict(
        width=8, layers=(1, 1, 1, 1), decoder_blocks=(1, 1, 1, 1), heads=2, window=8, ratio=2, refine_channels=8
    )
    return SPAMattNet(**{**defaults, **kw})
