"""GCA Matting: Natural Image Matting via Guided Contextual Attention (Li & Lu, AAAI 2020).

The PPID paper (ppid-privileged-prior-distillation.txt, Tables 1-2) uses GCA as a trimap-based teacher
(25.13M parameters, ImageNet-pretrained ResNet backbone) and the same network on RGB only as its trimap-free
baseline / student. Boxes of the GCA paper, with the layout of the authors' release:

* **Encoder** (ResNet-34-D-like, blocks 3-4-4-2): a deep stem of three 3x3 convs (strides 2, 1, 2), residual
  stages of :class:`~automatte.models.backbones.resnet.BasicBlock` whose downsampling shortcut is
  avg-pool + 1x1 conv (ResNet-D), and a **guided contextual attention** block after stage 2 (1/8).
* **Shortcuts**: two 3x3 conv-ReLU-BN on the input, the stem and the stage 1-3 features, added to the
  decoder at the same scale (U-Net with additive skips).
* **Guidance head**: three stride-2 3x3 convs on the RGB image -> image features at 1/8 that guide both
  attention blocks.
* **Decoder** (blocks 2-3-3-2): residual blocks upsampling by a 4x4/2 transposed conv (shortcut: nearest x2
  + 1x1 conv), a second GCA block at 1/8, a last transposed conv to full resolution, a 3x3 conv and
  ``alpha = (tanh + 1) / 2``.
* **Guided contextual attention** (:func:`guided_attention`): 3x3 patches of the image features (at 1/16)
  are compared by ``s(q, j) = <P_q, P_j / ||P_j||>``; the score of source patch ``j`` is scaled by
  ``clamp(sqrt(|U| / |K|), 0.1, 10)`` when ``j`` is unknown and ``clamp(sqrt(|K| / |U|), 0.1, 10)`` when
  known (``|U|``, ``|K|``: unknown / known areas), an unknown patch never attends to itself, a softmax runs
  over all source patches, and the 4x4 alpha-feature patches (stride 2, at 1/8) are recombined with the
  attention weights (a transposed convolution, i.e. a fold, divided by 4). Output ``x + W(attended)`` with
  ``W`` a 1x1 conv + BN (BN scale initialised at 1e-3, so the block starts as an identity).
  Implemented with batched unfold / matmul / fold: no Python loop over the batch, ONNX-exportable.

Choices (tested in tests/models/test_gca.py):

* Trimap input: one-hot (background, unknown, foreground) from the {0, 0.5, 1} trimap (the thirds rule of
  ``ops.trimap.trimap_masks``), concatenated to the normalised image: 6 input channels, as the authors' ``trimap_channel = 3``.
  The unknown mask for attention is the unknown channel subsampled (nearest) to 1/8 and 1/16.
* ``gca_free`` (the PPID trimap-free baseline): the same network on the 3 RGB channels; with no trimap every
  pixel is *unknown* and both scales are 1 (what the authors' block does when given no mask): attention
  over all other patches, guided by image features alone.
* Spectral normalisation (the authors wrap every conv in it) is left out: it is a training-time weight
  reparametrisation; :func:`map_official_gca_keys` folds ``weight_bar / sigma`` into plain weights.

Parameter count: ``gca`` 25.16M (``gca_free`` 25.16M) vs 25.13M in PPID Table 1: within 0.2%.

Example:
    >>> import torch
    >>> net = GCAMatting(width=8, enc_layers=(1, 1, 1, 1), dec_layers=(1, 1, 1, 1)).eval()
    >>> trimap = torch.full((1, 1, 64, 64), 0.5)
    >>> tuple(net(image=torch.rand(1, 3, 64, 64), trimap=trimap).alpha.shape)
    (1, 1, 64, 64)
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from automatte.models.backbones.resnet import BasicBlock, read_state_dict
from automatte.models.layers import IMAGENET_MEAN, IMAGENET_STD, check_multiple_of_32, trimap_one_hot
from automatte.models.output import MattingOutput
from automatte.models.registry import register_model

__all__ = ["GCAMatting", "GuidedContextualAttention", "guided_attention", "trimap_one_hot", "map_official_gca_keys"]


def _patches(x: Tensor, kernel: int, stride: int) -> Tensor:
    """Reflect-padded patches as columns: (B, C, H, W) -> (B, C * kernel^2, (H / stride) * (W / stride))."""
    lo, hi = (kernel - stride + 1) // 2, (kernel - stride) // 2
    return F.unfold(F.pad(x, (lo, hi, lo, hi), mode="reflect"), kernel, stride=stride)


def guided_attention(
    guidance: Tensor, alpha: Tensor, unknown: Tensor | None = None, rate: int = 2, ksize: int = 3
) -> Tensor:
    """Guided contextual attention (GCA paper, "Guided Contextual Attention" section): propagate ``alpha``
    features between patches by the similarity of ``guidance`` (image) feature patches, from known to unknown regions.

    Args:
        guidance: (B, Cg, H, W) image features at the resolution of ``alpha``.
        alpha: (B, Ca, H, W) alpha features; H, W divisible by ``rate``.
        unknown: (B, 1, H, W) in {0, 1} (1: unknown), or None: every pixel unknown, scales 1.
        rate: the attention runs on a grid ``rate`` times coarser; alpha patches are ``2 rate`` wide.
        ksize: size of the guidance patches compared.

    Returns:
        (B, Ca, H, W) attended alpha features (before the block's ``W`` and residual).
    """
    b, ca, h, w = alpha.shape
    g = guidance[..., ::rate, ::rate]  # nearest downsampling by `rate`
    keys = _patches(g, ksize, 1)  # (B, Cg*k*k, L)
    norm = keys.pow(2).sum(1, keepdim=True).sqrt().clamp_min(1e-4)
    scores = keys.transpose(1, 2) @ (keys / norm)  # (B, Lq, Ls): <P_q, P_s / |P_s|>
    idx = torch.arange(scores.shape[-1], device=alpha.device)
    eye = (idx[:, None] == idx[None, :]).to(alpha.dtype)
    if unknown is None:
        scores = scores - 1e4 * eye  # everything unknown: no self-attention, scales 1
    else:
        u = unknown[..., ::rate, ::rate]
        u_mean = u.mean((2, 3), keepdim=True).flatten(1)  # (B, 1): |U| / (|U| + |K|)
        k_mean = 1 - u_mean
        u_scale = (u_mean / k_mean.clamp_min(1e-8)).sqrt().clamp_min(0.1).clamp_max(10.0)
        k_scale = (k_mean / u_mean.clamp_min(1e-8)).sqrt().clamp_min(0.1).clamp_max(10.0)
        src_unknown = (_patches(u, ksize, 1).mean(1) > 0).to(alpha.dtype)  # (B, Ls): patch touches unknown
        scale = src_unknown * u_scale + (1 - src_unknown) * k_scale
        # scaled scores; an unknown source patch is masked for itself
        scores = scores * scale[:, None, :] - 1e4 * eye * src_unknown[:, None, :]
    attn = scores.softmax(-1)
    values = _patches(alpha, 2 * rate, rate)  # (B, Ca*4r^2, Ls)
    out = values @ attn.transpose(1, 2)  # (B, Ca*4r^2, Lq)
    return F.fold(out, (h, w), 2 * rate, stride=rate, padding=rate // 2) / 4.0


class GuidedContextualAttention(nn.Module):
    """GCA block: ``alpha + W(guided_attention(conv1x1(image_features), alpha, unknown))``."""

    def __init__(self, channels: int, guidance_channels: int, rate: int = 2):
        super().__init__()
        self.rate = rate
        self.guidance_conv = nn.Conv2d(guidance_channels, guidance_channels // 2, 1)
        self.W = nn.Sequential(nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels))
        nn.init.constant_(self.W[1].weight, 1e-3)

    def forward(self, image_features: Tensor, alpha: Tensor, unknown: Tensor | None) -> Tensor:
        attended = guided_attention(self.guidance_conv(image_features), alpha, unknown, self.rate)
        return self.W(attended) + alpha


def _conv_relu_bn(cin: int, cout: int, stride: int = 1, reflect: bool = False) -> list[nn.Module]:
    pad: list[nn.Module] = [nn.ReflectionPad2d(1)] if reflect else []
    conv = nn.Conv2d(cin, cout, 3, stride, 0 if reflect else 1, bias=False)
    return [*pad, conv, nn.ReLU(inplace=True), nn.BatchNorm2d(cout)]


class UpBlock(nn.Module):
    """Decoder residual block: (4x4/2 transposed conv | 3x3 conv)-BN-LReLU, 3x3 conv-BN, + shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = (
            nn.ConvTranspose2d(cin, cin, 4, 2, 1, bias=False)
            if stride > 1
            else nn.Conv2d(cin, cin, 3, 1, 1, bias=False)
        )
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv2 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act = nn.LeakyReLU(0.2, inplace=True)
        self.upsample = None
        if stride > 1 or cin != cout:
            up: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest")] if stride > 1 else []
            self.upsample = nn.Sequential(*up, nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.upsample is None else self.upsample(x)
        out = self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))
        return self.act(out + identity)


class GCAMatting(nn.Module):
    """GCA Matting (see the module docstring). ``forward(image[, trimap])`` -> :class:`MattingOutput` with
    ``alpha`` and the five encoder ``features`` (strides 2, 4, 8, 16, 32; stage 2 after its GCA block).

    Args:
        use_trimap: 6-channel input (image + one-hot trimap) and trimap-guided attention; False: RGB only.
        width: base width (64 in the paper); everything scales with it.
        enc_layers, dec_layers: residual blocks per encoder / decoder stage.
        pretrained: a checkpoint path (ours, or the authors' names with spectral-norm weights).
    """

    def __init__(
        self,
        use_trimap: bool = True,
        width: int = 64,
        enc_layers: tuple[int, ...] = (3, 4, 4, 2),
        dec_layers: tuple[int, ...] = (2, 3, 3, 2),
        pretrained: str | Path | None = None,
    ):
        super().__init__()
        w, cin = width, 6 if use_trimap else 3
        self.use_trimap = use_trimap
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        # encoder: deep stem (strides 2, 1, 2), ResNet-D stages
        self.stem = nn.Sequential(
            nn.Conv2d(cin, w // 2, 3, 2, 1, bias=False),
            nn.BatchNorm2d(w // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(w // 2, w // 2, 3, 1, 1, bias=False),
            nn.BatchNorm2d(w // 2),
            nn.ReLU(inplace=True),
        )
        self.stem_out = nn.Sequential(nn.Conv2d(w // 2, w, 3, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True))
        chans = [w, 2 * w, 4 * w, 8 * w]
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            self._enc_stage(c_in, c, n, 1 if i == 0 else 2)
            for i, (c_in, c, n) in enumerate(zip([w, *chans[:3]], chans, enc_layers))
        )
        self.shortcut = nn.ModuleList(
            nn.Sequential(*_conv_relu_bn(a, c), *_conv_relu_bn(c, c))
            for a, c in zip((cin, w // 2, w, 2 * w, 4 * w), (w // 2, w // 2, w, 2 * w, 4 * w))
        )
        self.guidance_head = nn.Sequential(
            *_conv_relu_bn(3, w // 4, 2, True),
            *_conv_relu_bn(w // 4, w // 2, 2, True),
            *_conv_relu_bn(w // 2, 2 * w, 2, True),
        )
        self.enc_gca = GuidedContextualAttention(2 * w, 2 * w)
        # decoder
        self.dec1, self.dec2, self.dec3, self.dec4 = (
            nn.Sequential(*(UpBlock(c_in if j == 0 else c, c, 2 if j == 0 else 1) for j in range(n)))
            for c_in, c, n in zip((8 * w, 4 * w, 2 * w, w), (4 * w, 2 * w, w, w // 2), dec_layers)
        )
        self.dec_gca = GuidedContextualAttention(2 * w, 2 * w)
        self.final_up = nn.ConvTranspose2d(w // 2, w // 2, 4, 2, 1, bias=False)
        self.final_bn = nn.BatchNorm2d(w // 2)
        self.final_conv = nn.Conv2d(w // 2, 1, 3, 1, 1)
        self.feature_channels = [w // 2, w, 2 * w, 4 * w, 8 * w]
        if pretrained is not None:
            self.load_pretrained(pretrained)

    @staticmethod
    def _enc_stage(cin: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
        down = None
        if stride != 1:  # ResNet-D shortcut: avg-pool then 1x1 conv
            down = nn.Sequential(nn.AvgPool2d(2, stride), nn.Conv2d(cin, planes, 1, bias=False), nn.BatchNorm2d(planes))
        elif cin != planes:
            down = nn.Sequential(nn.Conv2d(cin, planes, 1, bias=False), nn.BatchNorm2d(planes))
        mods = [BasicBlock(cin, planes, stride, downsample=down)]
        mods += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def forward(self, image: Tensor, trimap: Tensor | None = None) -> MattingOutput:
        check_multiple_of_32(image, "GCAMatting")
        rgb = (image - self.mean) / self.std
        if self.use_trimap:
            if trimap is None:
                raise ValueError("GCAMatting(use_trimap=True) needs a trimap (B, 1, H, W) in {0, 0.5, 1}")
            onehot = trimap_one_hot(trimap)
            x = torch.cat([rgb, onehot], 1)
            unknown = onehot[:, 1:2, ::8, ::8]  # nearest, at the attention's 1/8 scale
        else:
            x, unknown = rgb, None
        x1 = self.stem(x)  # 1/2
        x2 = self.layer1(self.stem_out(x1))  # 1/4
        guide = self.guidance_head(rgb)  # 1/8 image features
        x3 = self.enc_gca(guide, self.layer2(x2), unknown)  # 1/8
        x4 = self.layer3(x3)  # 1/16
        x5 = self.layer4(x4)  # 1/32
        skips = [s(f) for s, f in zip(self.shortcut, (x, x1, x2, x3, x4))]
        y = self.dec1(x5) + skips[4]
        y = self.dec_gca(guide, self.dec2(y) + skips[3], unknown)
        y = self.dec3(y) + skips[2]
        y = self.dec4(y) + skips[1]
        y = F.leaky_relu(self.final_bn(self.final_up(y)), 0.2) + skips[0]
        alpha = (torch.tanh(self.final_conv(y)) + 1) / 2
        return MattingOutput(alpha=alpha, features=(x1, x2, x3, x4, x5))

    def load_pretrained(self, path: str | Path) -> None:
        """Load a GCAMatting state dict (ours, or the authors' names; strict)."""
        state = read_state_dict(path)
        if any(k.startswith("encoder.") for k in state):
            state = map_official_gca_keys(state)
        try:
            self.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise ValueError(f"{path}: not a GCAMatting checkpoint of this configuration: {err}") from None


def map_official_gca_keys(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The authors' ``Generator`` state dict (``encoder.*`` / ``decoder.*``, spectral-norm ``weight_bar``,
    ``weight_u``, ``weight_v``) -> ours, with ``weight = weight_bar / sigma`` (sigma = u . W v)."""
    plain: dict[str, Tensor] = {}
    for key, value in state.items():
        if key.endswith((".weight_u", ".weight_v")):
            continue
        if key.endswith(".weight_bar"):
            base = key[: -len("weight_bar")]
            u, v = state[base + "weight_u"], state[base + "weight_v"]
            sigma = torch.dot(u, value.reshape(value.shape[0], -1) @ v)
            key, value = base.replace(".module.", ".") + "weight", value / sigma
        plain[key] = value
    rename = [
        ("encoder.conv1.", "stem.0."),
        ("encoder.bn1.", "stem.1."),
        ("encoder.conv2.", "stem.3."),
        ("encoder.bn2.", "stem.4."),
        ("encoder.conv3.", "stem_out.0."),
        ("encoder.bn3.", "stem_out.1."),
        ("encoder.layer_bottleneck.", "layer4."),
        ("encoder.gca.", "enc_gca."),
        ("decoder.gca.", "dec_gca."),
        ("encoder.guidance_head.", "guidance_head."),
        ("encoder.shortcut.", "shortcut."),
        ("decoder.conv1.", "final_up."),
        ("decoder.bn1.", "final_bn."),
        ("decoder.conv2.", "final_conv."),
    ]
    rename += [(f"encoder.layer{i}.", f"layer{i}.") for i in (1, 2, 3)]
    rename += [(f"decoder.layer{i}.", f"dec{i}.") for i in (1, 2, 3, 4)]
    out = {}
    for key, value in plain.items():
        for old, new in rename:
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        out[key] = value
    return out


@register_model(
    "gca",
    family="gca",
    inputs=("image", "trimap"),
    paper_params=25.13,
    paper_source="ppid table 1",
    description="GCA Matting (AAAI 2020): ResNet-34-D U-Net with guided contextual attention",
)
def gca(**kw) -> GCAMatting:
    """GCA Matting, trimap-based (image + one-hot trimap)."""
    return GCAMatting(**{"use_trimap": True, **kw})


@register_model(
    "gca_free",
    family="gca",
    paper_params=25.13,
    paper_source="ppid table 1",
    description="GCA Matting on RGB only: PPID's trimap-free baseline / student",
)
def gca_free(**kw) -> GCAMatting:
    """GCA Matting without trimap (all pixels unknown for the attention)."""
    return GCAMatting(**{"use_trimap": False, **kw})


_TINY = {"width": 8, "enc_layers": (1, 1, 1, 1), "dec_layers": (1, 1, 1, 1)}


@register_model("gca_test", family="gca", inputs=("image", "trimap"), description="tiny GCA for tests")
def gca_test(**kw) -> GCAMatting:
    """Tiny trimap-based GCA (width 8, one block per stage)."""
    return GCAMatting(**{"use_trimap": True, **_TINY, **kw})


@register_model("gca_free_test", family="gca", description="tiny trimap-free GCA for tests")
def gca_free_test(**kw) -> GCAMatting:
    """Tiny trimap-free GCA (width 8, one block per stage)."""
    return GCAMatting(**{"use_trimap": False, **_TINY, **kw})
