"""PP-Matting (Chen et al. 2022, "PP-Matting: High-Accuracy Natural Image Matting"), trimap-free.

Boxes of the paper's Fig. 2 (section 3.1), all at the sizes below for an H x W input:

* shared encoder: HRNet (W48 in the paper, W18 in the authors' human-matting release), see
  :mod:`automatte.models.backbones.hrnet`; features ``[stem 1/2, 1/4, 1/8, 1/16, 1/32]``.
* :class:`SemanticContextBranch` (SCB): a pyramid pooling module (PPM, bins 1/3/5) on the 1/32 feature, then
  five :class:`SCBBlock` (three ConvBNReLU and a bilinear x2 upsample each: 1/16 ... 1/1), then a head
  (two ConvBNReLU and a 3x3 conv) giving the 3-class ``trimap_logits`` (B, 3, H, W), channel order
  background / transition / foreground (the :class:`MattingOutput` convention).
* :class:`HighResDetailBranch` (HRDB): its input concatenates the stem (1/2) and first-branch (1/4) encoder
  features, both bilinearly upsampled to H x W ("two intermediate features with corresponding up-sampling
  scales"; the image itself is not an input). Three residual blocks (64, 32, 16 channels) each followed by
  a 1x1 conv halving the channels and a :class:`GatedConvLayer` guided by SCB blocks 1, 3 and 5 (the
  "guidance flow"), then a 1x1 conv to one channel; ``detail = sigmoid(.)``.
* fusion (:func:`replacement_fusion`, "Rep FM" of section 4.4): ``c = argmax(trimap_logits)``;
  ``alpha = detail`` where ``c`` is transition, ``1`` where foreground, ``0`` where background.

Ablation switches (each defaults to the paper's model):

* Table 3, guidance flow: ``guide_blocks`` = ``()`` ("w/o GF": no GCL), ``(4,)`` ("5"), ``(0, 2, 4)`` ("1, 3, 5",
  the default) or ``(0, 1, 2, 3, 4)`` ("1, 2, 3, 4, 5"); any increasing subset of 0..4 works. The caption says
  row "5" uses "the first block"; we read the row label (the fifth block), as in "1, 3, 5 means the first, the
  third, and the fifth block", and take the caption's "first" for a slip. The HRDB has three
  places for a GCL (after each residual block's 1x1 conv); with k guides, guide r (0-based, in order) goes to
  place ``floor(3 r / k)`` and a place with several guides chains their GCLs. For k = 3 that is one per place
  (the paper's figure); the placement for k = 1 (the first place) and k = 5 ((1, 2), (3, 4), (5)) is our
  choice, the paper does not draw it.
* Table 4, fusion: ``fusion="replace"`` (Rep FM, default), ``"none"`` (w/o FM: ``alpha = detail``) or
  ``"conv"`` (Conv FM: "concatenate the detail map and semantic map, then a 1x1 convolution"). Our reading of
  Conv FM: the 1x1 conv takes the detail logit and the three semantic logits and a sigmoid gives alpha; it
  starts as ``alpha = detail`` (weight 1 on the detail logit, 0 elsewhere), so training starts from w/o FM.

Choices where the text is silent (taken from the authors' released PaddleSeg code, re-implemented here):
PPM branches keep the input width and a 3x3 conv fuses them to 512 channels; the PPM output is also fed,
through a 3x3 ConvBNReLU and an upsample, into SCB blocks 2-5 (concatenated with the previous block's
output); SCB block 1 uses dilation 2 in its last two convolutions; widths SCB ``512/256/128/128/64``
(middle) and ``256/128/64/64/64`` (out). The GCL gate follows Gated-SCNN [36], which the paper cites for
eq. 2: the SCB feature is first projected to one channel by a 1x1 conv and resized, ``C_1x1`` ("normalized
1x1 convolutional layer") is BN -> 1x1 conv -> ReLU -> 1x1 conv to one channel -> BN.

Parameter counts (measured): ``ppmatting_hrnet48`` 86.2 M, ``ppmatting_hrnet18`` 24.5 M. The paper gives
none; the authors' PaddleSeg Matting README lists 24.5 M for PP-Matting with HRNet-W18, which we match.
The image is normalised with the ImageNet mean / std inside the model (the contract), where PaddleSeg uses
mean = std = 0.5 (``mean=``, ``std=``; the converted authors' checkpoints set them, and ``same_padding``).

The authors' PaddleSeg checkpoints (``.pdparams``) map onto this module with :func:`map_paddle_ppmatting_keys`
(``automatte convert --from ppmatting``): their class order foreground / transition / background is reversed,
the gate's input order (detail, guide) swapped, the PPM branches reordered and conv biases before BatchNorm
folded into its running mean; the outputs are the same up to float rounding.

Example:
    >>> import torch
    >>> from automatte.registry import create_model
    >>> net = create_model("ppmatting_test").eval()
    >>> out = net(image=torch.rand(1, 3, 64, 64))
    >>> tuple(out.alpha.shape), tuple(out.trimap_logits.shape), tuple(out.detail.shape)
    ((1, 1, 64, 64), (1, 3, 64, 64), (1, 1, 64, 64))
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import Tensor, nn

from automatte.models.backbones.hrnet import BasicBlock, HRNet, load_hrnet_state_dict
from automatte.models.fusion import hard_fusion
from automatte.models.layers import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ConvBNAct,
    PyramidPooling,
    check_multiple_of_32,
    resize_to,
)
from automatte.models.output import MattingOutput
from automatte.models.registry import register_model
from automatte.models.weights import read_state_dict

__all__ = [
    "PPMatting",
    "SemanticContextBranch",
    "SCBBlock",
    "HighResDetailBranch",
    "GatedConvLayer",
    "replacement_fusion",
    "map_paddle_ppmatting_keys",
]


replacement_fusion = hard_fusion
"""Rep FM (sec. 4.4): the transition region of the semantic map is replaced by the detail map (the replacement
fusion of :mod:`automatte.models.fusion`)."""


class GatedConvLayer(nn.Module):
    """Gated convolutional layer of the guidance flow (sec. 3.1, Fig. 3, eq. 2-3).

    ``s`` (an SCB block output, any size) is projected to one channel by a 1x1 conv and resized to the detail
    feature ``d``; ``g = sigmoid(C_1x1(s || d))`` (B, 1, H, W) and ``d_hat = w^T (d * g + d)``, with ``w`` a
    1x1 conv without bias (the channel-wise weighting kernel). ``C_1x1`` is BN -> 1x1 conv -> ReLU -> 1x1 conv
    -> BN (Gated-SCNN's gate).
    """

    def __init__(self, channels: int, semantic_channels: int):
        super().__init__()
        self.project = nn.Conv2d(semantic_channels, 1, 1)
        c = channels + 1
        self.gate = nn.Sequential(
            nn.BatchNorm2d(c), nn.Conv2d(c, c, 1), nn.ReLU(inplace=True), nn.Conv2d(c, 1, 1), nn.BatchNorm2d(1)
        )
        self.weight = nn.Conv2d(channels, channels, 1, bias=False)

    def guidance(self, d: Tensor, s: Tensor) -> Tensor:
        """The guidance map g (B, 1, H, W) in (0, 1)."""
        s = resize_to(self.project(s), d)
        return torch.sigmoid(self.gate(torch.cat([s, d], dim=1)))  # eq. 2: g = sigma(C_1x1(s || d))

    def forward(self, d: Tensor, s: Tensor) -> Tensor:
        g = self.guidance(d, s)
        return self.weight(d * g + d)  # eq. 3: d_hat = (d . g + d)^T w


class SCBBlock(nn.Module):
    """One SCB block: three ConvBNReLU (3x3) and a bilinear upsample to ``size`` (x2)."""

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int, dilation: int = 1):
        super().__init__()
        self.convs = nn.Sequential(
            ConvBNAct(in_ch, mid_ch, 3),
            ConvBNAct(mid_ch, mid_ch, 3, dilation=dilation),
            ConvBNAct(mid_ch, out_ch, 3, dilation=dilation),
        )

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        return resize_to(self.convs(x), size)


class SemanticContextBranch(nn.Module):
    """PPM + five SCB blocks + 3-class head; ``forward(x, sizes) -> (logits, [block outputs])``.

    Args:
        in_ch: channels of the 1/32 encoder feature.
        ppm_channels: PPM output width (512).
        mid_channels, out_channels: the five blocks' middle / output widths.
        head_channels: width of the head's two ConvBNReLU.
        bins: PPM pooling sizes.
    """

    def __init__(
        self,
        in_ch: int,
        ppm_channels: int = 512,
        mid_channels: tuple[int, ...] = (512, 256, 128, 128, 64),
        out_channels: tuple[int, ...] = (256, 128, 64, 64, 64),
        head_channels: int = 64,
        bins: tuple[int, ...] = (1, 3, 5),
    ):
        super().__init__()
        if len(mid_channels) != 5 or len(out_channels) != 5:
            raise ValueError(f"SCB has five blocks; got mid {mid_channels}, out {out_channels}")
        self.ppm = PyramidPooling(in_ch, in_ch, bins, out_ch=ppm_channels)
        # PPM context for blocks 2-5, at the width of the block output it is concatenated with
        self.ppm_guides = nn.ModuleList(ConvBNAct(ppm_channels, c, 3) for c in out_channels[:4])
        ins = [ppm_channels + in_ch] + [2 * c for c in out_channels[:4]]
        self.blocks = nn.ModuleList(
            SCBBlock(ins[k], mid_channels[k], out_channels[k], dilation=2 if k == 0 else 1) for k in range(5)
        )
        self.head = nn.Sequential(
            ConvBNAct(out_channels[4], head_channels, 3),
            ConvBNAct(head_channels, head_channels, 3),
            nn.Conv2d(head_channels, 3, 3, padding=1),
        )
        self.out_channels = tuple(out_channels)

    def forward(self, x: Tensor, sizes: list[tuple[int, int]]) -> tuple[Tensor, list[Tensor]]:
        p = self.ppm(x)
        y = self.blocks[0](torch.cat([p, x], dim=1), sizes[0])
        feats = [y]
        for guide, block, size in zip(self.ppm_guides, self.blocks[1:], sizes[1:]):
            y = block(torch.cat([resize_to(guide(p), y), y], dim=1), size)
            feats.append(y)
        return self.head(y), feats


class HighResDetailBranch(nn.Module):
    """HRDB: three residual blocks, each followed by a 1x1 conv and a GCL, then a 1x1 conv to the detail logit.

    Args:
        in_ch: channels of the full-resolution input (stem + first HRNet branch).
        guide_channels: channels of the three SCB block outputs guiding the GCLs (blocks 1, 3, 5).
        channels: widths ``(c0, c1, c2, c3)``: block k works at ``c_k`` (the first block maps ``in_ch`` to
            ``c0``), the 1x1 conv after it to ``c_{k+1}``.
    """

    def __init__(self, in_ch: int, guide_channels: tuple[int, ...], channels: tuple[int, ...] = (64, 32, 16, 8)):
        super().__init__()
        c = channels
        k = len(guide_channels)
        self.blocks = nn.ModuleList([BasicBlock(in_ch, c[0]), BasicBlock(c[1], c[1]), BasicBlock(c[2], c[2])])
        self.convs = nn.ModuleList(nn.Conv2d(c[j], c[j + 1], 1) for j in range(3))
        self.places = tuple(3 * r // k for r in range(k))  # the GCL place of each guide (module docstring)
        self.gates = nn.ModuleList(GatedConvLayer(c[p + 1], g) for p, g in zip(self.places, guide_channels))
        self.detail_conv = nn.Conv2d(c[3], 1, 1)

    def forward(self, x: Tensor, guides: list[Tensor]) -> Tensor:
        if len(guides) != len(self.gates):
            raise ValueError(f"HighResDetailBranch: {len(self.gates)} GCLs, got {len(guides)} guides")
        for place, (block, conv) in enumerate(zip(self.blocks, self.convs)):
            x = conv(block(x))
            for gate, where, s in zip(self.gates, self.places, guides):
                if where == place:
                    x = gate(x, s)  # guidance flow (Fig. 3)
        return self.detail_conv(x)


class PPMatting(nn.Module):
    """PP-Matting: ``forward(image) -> MattingOutput(alpha, trimap_logits, detail, features)``.

    Args:
        hrnet_width: the encoder's ``C`` (48 in the paper).
        hrnet_kwargs: other :class:`HRNet` keywords (tiny test encoders).
        ppm_channels, scb_mid, scb_out, head_channels: :class:`SemanticContextBranch` widths.
        detail_channels: :class:`HighResDetailBranch` widths.
        guide_blocks: which SCB blocks (0-based) guide the HRDB's GCLs; (0, 2, 4) is the paper's 1, 3, 5
            (Table 3 rows: ``()``, ``(4,)``, ``(0, 2, 4)``, ``(0, 1, 2, 3, 4)``; module docstring).
        fusion: Table 4: ``"replace"`` (Rep FM), ``"conv"`` (Conv FM) or ``"none"`` (w/o FM).
        mean, std: the input normalisation (ImageNet's; PaddleSeg's checkpoints use 0.5 and 0.5).
        same_padding: the encoder's stride-2 convolutions pad 'SAME' as PaddleSeg's HRNet.
        pretrained: a PP-Matting state dict in this module's names (keys ``encoder.*``, ``scb.*``, ``hrdb.*``),
            or an HRNet ImageNet checkpoint in the official names (no ``scb.`` / ``hrdb.`` keys), which is
            loaded into the encoder only. PaddleSeg's ``.pdparams``: ``automatte convert --from ppmatting``.

    ``features`` are the five encoder features (shallow to deep); H and W must be multiples of 32.
    """

    def __init__(
        self,
        hrnet_width: int = 48,
        *,
        hrnet_kwargs: dict | None = None,
        ppm_channels: int = 512,
        scb_mid: tuple[int, ...] = (512, 256, 128, 128, 64),
        scb_out: tuple[int, ...] = (256, 128, 64, 64, 64),
        head_channels: int = 64,
        detail_channels: tuple[int, ...] = (64, 32, 16, 8),
        guide_blocks: tuple[int, ...] = (0, 2, 4),
        fusion: str = "replace",
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
        same_padding: bool = False,
        pretrained: str | Path | None = None,
    ):
        super().__init__()
        self.register_buffer("mean", torch.tensor(tuple(mean), dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(tuple(std), dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.encoder = HRNet(hrnet_width, same_padding=same_padding, **(hrnet_kwargs or {}))
        ch = self.encoder.channels
        self.scb = SemanticContextBranch(ch[-1], ppm_channels, scb_mid, scb_out, head_channels)
        guide_blocks = tuple(int(k) for k in guide_blocks)
        if not all(0 <= k < 5 for k in guide_blocks) or list(guide_blocks) != sorted(set(guide_blocks)):
            raise ValueError(f"guide_blocks: increasing SCB block indices in 0..4 (Table 3), got {guide_blocks}")
        if fusion not in ("replace", "conv", "none"):
            raise ValueError(f"fusion: 'replace', 'conv' or 'none' (Table 4), got {fusion!r}")
        self.guide_blocks, self.fusion = guide_blocks, fusion
        guides = tuple(scb_out[k] for k in self.guide_blocks)
        self.hrdb = HighResDetailBranch(ch[0] + ch[1], guides, detail_channels)
        if fusion == "conv":  # Conv FM: 1x1 conv on (detail logit, 3 semantic logits), starting as alpha = detail
            self.fusion_conv = nn.Conv2d(4, 1, 1)
            with torch.no_grad():
                self.fusion_conv.weight.zero_()
                self.fusion_conv.weight[0, 0] = 1.0
                self.fusion_conv.bias.zero_()
        if pretrained is not None:
            self.load_pretrained(pretrained)

    def load_pretrained(self, path: str | Path) -> None:
        """Load a PP-Matting state dict (strict) or, when it has no decoder keys, HRNet encoder weights."""
        state = read_state_dict(path)
        if any(k.startswith(("scb.", "hrdb.")) for k in state):
            self.load_state_dict(state, strict=True)
        else:
            load_hrnet_state_dict(self.encoder, state)

    def forward(self, image: Tensor) -> MattingOutput:
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"PPMatting expects a (B, 3, H, W) image, got {tuple(image.shape)}")
        check_multiple_of_32(image, "PPMatting")
        feats = self.encoder((image - self.mean) / self.std)
        sizes = [f.shape[-2:] for f in (feats[3], feats[2], feats[1], feats[0], image)]  # 1/16 ... 1/1
        trimap_logits, scb_feats = self.scb(feats[-1], sizes)
        hr_input = torch.cat([resize_to(feats[0], image), resize_to(feats[1], image)], dim=1)
        detail_logit = self.hrdb(hr_input, [scb_feats[k] for k in self.guide_blocks])
        detail = torch.sigmoid(detail_logit)
        if self.fusion == "replace":
            alpha = replacement_fusion(trimap_logits, detail)  # Rep FM
        elif self.fusion == "conv":
            alpha = torch.sigmoid(self.fusion_conv(torch.cat([detail_logit, trimap_logits], dim=1)))  # Conv FM
        else:
            alpha = detail  # w/o FM
        return MattingOutput(alpha=alpha, trimap_logits=trimap_logits, detail=detail, features=tuple(feats))


def map_paddle_ppmatting_keys(state: dict[str, Tensor], bins: int = 3) -> dict[str, Tensor]:
    """The authors' PaddleSeg PP-Matting state dict (``backbone.*``, ``scb.psp_module``, ``scb.psps``,
    ``scb.scb_stages``, ``hrdb.res_list`` / ``convs`` / ``gates`` / ``gf_list`` / ``detail_conv``) in this
    module's names, values adapted so that the outputs agree (see the module docstring):

    * ``scb.scb_stages.5`` (the head) predicts foreground / transition / background: its last conv's output
      channels are reversed to our background / transition / foreground.
    * the PPM concatenates ``[x, pool_5, pool_3, pool_1]`` where ours has ``[x, pool_1, pool_3, pool_5]``: the
      input channels of its fusion conv are reordered.
    * the gated conv's gate sees ``[detail, guide]``, ours ``[guide, detail]``: its first BN and conv reordered.
    * PaddleSeg's ``ConvBNReLU`` convs carry a bias before the BN, ours none: ``running_mean -= bias``.
    * the detail conv has no bias in PaddleSeg: ours gets zeros.

    Args:
        state: name -> tensor, as read from the ``.pdparams`` (``StructuredToParameterName@@`` removed).
        bins: the PPM's number of pooling sizes (3: 1, 3, 5).

    Raises:
        ValueError: a key of no known PP-Matting layout (named).

    Example:
        >>> import torch
        >>> out = map_paddle_ppmatting_keys({"hrdb.gf_list.1.weight": torch.zeros(1, 64, 1, 1)})
        >>> list(out)
        ['hrdb.gates.1.project.weight']
    """
    from automatte.models.backbones.hrnet import map_paddle_hrnet_keys, paddle_conv_bn

    backbone = {k[9:]: v for k, v in state.items() if k.startswith("backbone.")}
    out = {f"encoder.{k}": v for k, v in map_paddle_hrnet_keys(backbone).items()}
    biases: dict[str, Tensor] = {}  # our BN prefix -> the conv bias to fold into its running mean
    for key, value in state.items():
        if key.startswith("backbone."):
            continue
        split = paddle_conv_bn(key)
        if split is not None:  # a ConvBN(ReLU) layer of the SCB / PPM / HRDB
            layer, tail = split
            if m := re.fullmatch(r"scb\.psp_module\.stages\.(\d+)\.1", layer):
                new = f"scb.ppm.branches.{m[1]}"
            elif layer == "scb.psp_module.conv_bn_relu2":
                new = "scb.ppm.fuse"
            elif m := re.fullmatch(r"scb\.psps\.(\d+)\.0", layer):
                new = f"scb.ppm_guides.{m[1]}"
            elif m := re.fullmatch(r"scb\.scb_stages\.([0-4])\.([0-2])", layer):
                new = f"scb.blocks.{m[1]}.convs.{m[2]}"
            elif m := re.fullmatch(r"scb\.scb_stages\.5\.([01])", layer):
                new = f"scb.head.{m[1]}"
            elif m := re.fullmatch(r"hrdb\.res_list\.(\d+)\.(conv0|conv1|short)", layer):
                conv, bn = {
                    "conv0": ("conv1", "bn1"),
                    "conv1": ("conv2", "bn2"),
                    "short": ("downsample.0", "downsample.1"),
                }[m[2]]
                part, param = tail.split(".", 1)
                out[f"hrdb.blocks.{m[1]}.{conv if part == '0' else bn}.{param}"] = value
                continue
            else:
                raise ValueError(f"PaddleSeg PP-Matting: unexpected key {key!r}")
            if tail == "0.bias":
                biases[new] = value
            else:
                out[f"{new}.{tail}"] = value
            continue
        if m := re.fullmatch(r"scb\.scb_stages\.5\.2\.(weight|bias)", key):
            out[f"scb.head.2.{m[1]}"] = value.flip(0)  # fg / transition / bg -> bg / transition / fg
        elif m := re.fullmatch(r"hrdb\.gf_list\.(\d+)\.(weight|bias)", key):
            out[f"hrdb.gates.{m[1]}.project.{m[2]}"] = value
        elif m := re.fullmatch(r"hrdb\.convs\.(\d+)\.(weight|bias)", key):
            out[key] = value
        elif m := re.fullmatch(r"hrdb\.gates\.(\d+)\._gate_conv\.([0134])\.(weight|bias|_mean|_variance)", key):
            param = {"_mean": "running_mean", "_variance": "running_var"}.get(m[3], m[3])
            if m[2] == "0":  # BN over [detail, guide] -> ours over [guide, detail]
                value = torch.cat([value[-1:], value[:-1]])
            elif m[2] == "1" and m[3] == "weight":  # conv input channels, the same reorder
                value = torch.cat([value[:, -1:], value[:, :-1]], dim=1)
            out[f"hrdb.gates.{m[1]}.gate.{m[2]}.{param}"] = value
        elif m := re.fullmatch(r"hrdb\.gates\.(\d+)\.conv\.weight", key):
            out[f"hrdb.gates.{m[1]}.weight.weight"] = value
        elif key == "hrdb.detail_conv.weight":
            out[key] = value
            out["hrdb.detail_conv.bias"] = value.new_zeros(value.shape[0])
        else:
            raise ValueError(f"PaddleSeg PP-Matting: unexpected key {key!r}")
    for layer, bias in biases.items():  # BN(conv(x) + b) == BN'(conv(x)) with running_mean' = running_mean - b
        mean = f"{layer}.1.running_mean"
        if mean not in out:
            raise ValueError(f"PaddleSeg PP-Matting: a conv bias without its BatchNorm ({layer})")
        out[mean] = out[mean] - bias
    w = out.get("scb.ppm.fuse.0.weight")
    if w is not None:  # [x, pool_5, pool_3, pool_1] -> [x, pool_1, pool_3, pool_5]
        c = w.shape[1] // (bins + 1)
        chunks = list(w.split(c, dim=1))
        out["scb.ppm.fuse.0.weight"] = torch.cat([chunks[0], *chunks[1:][::-1]], dim=1)
    return out


_TINY_HRNET = dict(stem_channels=16, stage1_planes=8, num_modules=(1, 1, 1, 1), num_blocks=(1, 1, 1, 1))


@register_model(
    "ppmatting_hrnet48",
    family="ppmatting",
    description="PP-Matting with the paper's HRNet-W48 encoder (86.2 M; the paper gives no count)",
)
def ppmatting_hrnet48(**kw) -> PPMatting:
    """PP-Matting, HRNet-W48 shared encoder (the paper's configuration)."""
    return PPMatting(kw.pop("hrnet_width", 48), **kw)


@register_model(
    "ppmatting_hrnet18",
    family="ppmatting",
    description="PP-Matting with HRNet-W18 (24.5 M, as the authors' PaddleSeg README; not in the paper)",
)
def ppmatting_hrnet18(**kw) -> PPMatting:
    """PP-Matting, HRNet-W18 shared encoder (the authors' PP-Matting-512/1024 human models)."""
    return PPMatting(kw.pop("hrnet_width", 18), **kw)


@register_model(
    "ppmatting_test", family="ppmatting", description="tiny PP-Matting for tests (HRNet C=8, one module per stage)"
)
def ppmatting_test(**kw) -> PPMatting:
    """Tiny PP-Matting: HRNet C=8 with one module per stage and one block per branch, narrow SCB / HRDB."""
    defaults = dict(
        hrnet_kwargs=_TINY_HRNET,
        ppm_channels=32,
        scb_mid=(32, 16, 16, 8, 8),
        scb_out=(16, 16, 8, 8, 8),
        head_channels=8,
        detail_channels=(16, 8, 8, 4),
    )
    return PPMatting(kw.pop("hrnet_width", 8), **{**defaults, **kw})
