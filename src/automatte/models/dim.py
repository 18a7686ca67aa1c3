"""Deep Image Matting, DIM (Xu, Price, Cohen, Huang, CVPR 2017), with BatchNorm as PPID trains it.

Two stages (DIM sec. 4):

1. **Matting encoder-decoder.** A VGG-16 encoder (:class:`~automatte.models.backbones.vgg.VGG16Encoder`:
   13 Conv-BN-ReLU, five 2x2 max-pools with indices) whose first convolution takes the image and the trimap
   (4 channels; the trimap channel is patched in with ``patch_input_channels`` when ImageNet weights are
   loaded), then ``conv6``: fc6 replaced by a convolution, the later fc layers dropped (14 encoder
   convolutions in all, as DIM counts them). DIM's light decoder: ``deconv6`` (1x1), then five stages of
   max-unpooling (with the encoder's indices) and a 5x5 Conv-BN-ReLU, then the alpha prediction layer
   (5x5 -> 1, sigmoid): ``coarse_alpha``.
2. **Matting refinement** (:class:`RefinementStage`). Four 3x3 convolutions on the image and the coarse
   alpha, the first three with BN-ReLU, 64 channels; the output is a residual added to the coarse alpha
   (a skip connection), clamped to [0, 1]: ``alpha``.

Inputs: ``dim`` takes the image and the trimap as a fourth input channel (as DIM does), the trimap with the
values of the tensor contract {0, 0.5, 1}; the image is ImageNet-normalised inside the model. ``dim_free``
is the same network on the RGB image alone (PPID's trimap-free student).

Choices where the papers leave room (tested in ``tests/models/test_dim.py``):

* Parameter count. PPID (table 1) gives 25.58M for DIM (teacher and student alike). The common BatchNorm
  PyTorch reimplementation (conv6 and deconv6 1x1 at 512, 5x5 decoder convs of widths 512, 256, 128, 64,
  64, no refinement) has 26.21M. The count that rounds to 25.58M is that network *without* conv6/deconv6
  and without the last 64-channel decoder conv: VGG-16-BN (4 in) + unpool/5x5 Conv-BN-ReLU of widths 512,
  256, 128, 64 + the 5x5 alpha prediction at full resolution, ``DIM(conv6=False, decoder_widths=(512, 256,
  128, 64), refine=False)``: 25,577,409 parameters (25,582,593 with the redundant conv biases before BN).
  We take that to be PPID's DIM. Our default follows the DIM paper instead (14 encoder convs with conv6,
  deconv6, decoder widths 512, 256, 128, 64, 64, the refinement stage): 26.28M, +2.7% over table 1.
  Both are a keyword away.
* ``conv6`` is a 1x1 Conv-BN-ReLU (512 -> 512), as in the reimplementation above; an fc6 converted to a
  7x7 convolution with 4096 channels would add about 100M parameters, far beyond table 1.
* The coarse alpha is a sigmoid of the alpha prediction layer (the paper does not name the activation).
* The refinement stage sees the ImageNet-normalised image and the coarse alpha in [0, 1] (the paper feeds
  the 0-255 image and alpha). Its convolutions use BatchNorm like the rest of this network.
* ``features`` (for PPID's distillation): the pooled outputs of VGG blocks 1-4 and conv6's output, strides
  2, 4, 8, 16, 32, channels 64, 128, 256, 512, 512.

Example:
    >>> import torch
    >>> net = DIM(encoder_widths=(8, 8, 16, 16, 16), decoder_widths=(16, 16, 8, 8, 8), conv6_width=16,
    ...           refine_width=8).eval()
    >>> out = net(image=torch.rand(1, 3, 64, 64), trimap=torch.full((1, 1, 64, 64), 0.5))
    >>> tuple(out.alpha.shape), tuple(out.coarse_alpha.shape), len(out.features)
    ((1, 1, 64, 64), (1, 1, 64, 64), 5)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from automatte.models.backbones.vgg import VGG16_DEPTHS, VGG16_WIDTHS, VGG16Encoder, load_vgg16_state_dict
from automatte.models.layers import IMAGENET_MEAN, IMAGENET_STD, ConvBNAct, check_multiple_of_32
from automatte.models.output import MattingOutput
from automatte.models.registry import register_model

__all__ = ["DIM", "RefinementStage"]


class RefinementStage(nn.Module):
    """DIM's matting refinement stage: 4 convs on (image, coarse alpha), residual added to the coarse alpha.

    ``forward(image, coarse)`` with image (B, 3, H, W) (normalised) and coarse (B, 1, H, W) in [0, 1]
    returns ``clamp(coarse + residual, 0, 1)``, (B, 1, H, W).
    """

    def __init__(self, width: int = 64, image_channels: int = 3):
        super().__init__()
        self.convs = nn.Sequential(
            ConvBNAct(image_channels + 1, width, 3), ConvBNAct(width, width, 3), ConvBNAct(width, width, 3)
        )
        self.residual = nn.Conv2d(width, 1, 3, padding=1)

    def forward(self, image: Tensor, coarse: Tensor) -> Tensor:
        residual = self.residual(self.convs(torch.cat([image, coarse], dim=1)))
        return (coarse + residual).clamp(0.0, 1.0)  # DIM sec. 4.2: refined = raw alpha + residual


class DIM(nn.Module):
    """Deep Image Matting: VGG-16 encoder-decoder with unpooling, then the refinement stage.

    Args:
        use_trimap: take the trimap as a 4th input channel (``dim``); ``False``: RGB only (``dim_free``).
        encoder_widths: the five VGG block widths (64, 128, 256, 512, 512).
        conv6: keep DIM's conv6 (fc6 as a 1x1 conv) and deconv6 (1x1) at stride 32.
        conv6_width: their width (512).
        decoder_widths: widths of the 5x5 Conv-BN-ReLU after each unpooling, deep to shallow; 5 entries (one
            per unpooling) or 4 (the last unpooling feeds the alpha prediction directly: PPID's count).
        refine: add the refinement stage (``False``: ``alpha`` is the coarse alpha).
        refine_width: its width (64).

    ``forward(image, trimap=None)`` -> :class:`MattingOutput` with ``alpha`` (refined, [0, 1]),
    ``coarse_alpha`` (encoder-decoder stage, [0, 1]) and ``features`` (see the module docstring).
    """

    def __init__(
        self,
        *,
        use_trimap: bool = True,
        encoder_widths: tuple[int, ...] = VGG16_WIDTHS,
        conv6: bool = True,
        conv6_width: int = 512,
        decoder_widths: tuple[int, ...] = (512, 256, 128, 64, 64),
        refine: bool = True,
        refine_width: int = 64,
    ):
        super().__init__()
        n = len(VGG16_DEPTHS)
        if len(decoder_widths) not in (n - 1, n):
            raise ValueError(f"DIM: decoder_widths needs {n - 1} or {n} entries, got {decoder_widths}")
        self.use_trimap = use_trimap
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.encoder = VGG16Encoder(4 if use_trimap else 3, tuple(encoder_widths))
        deepest = encoder_widths[-1]
        if conv6:
            self.conv6 = ConvBNAct(deepest, conv6_width, 1)  # fc6 -> conv (DIM sec. 4.1)
            self.deconv6 = ConvBNAct(conv6_width, deepest, 1)
        else:
            self.conv6 = self.deconv6 = None
        layers, cin = [], deepest
        for width in decoder_widths:
            layers.append(ConvBNAct(cin, width, 5))
            cin = width
        self.decoder = nn.ModuleList(layers)
        self.alpha_prediction = nn.Conv2d(cin, 1, 5, padding=2)
        self.refinement = RefinementStage(refine_width) if refine else None

    def forward(self, image: Tensor, trimap: Tensor | None = None) -> MattingOutput:
        h, w = image.shape[-2:]
        check_multiple_of_32(image, "DIM")
        if self.use_trimap and trimap is None:
            raise ValueError("DIM: this variant takes a trimap (B, 1, H, W); use dim_free for RGB only")
        x = (image - self.mean) / self.std
        pooled, indices = self.encoder(torch.cat([x, trimap], dim=1) if self.use_trimap else x)
        y = pooled[-1]
        deep = y
        if self.conv6 is not None:
            deep = self.conv6(y)
            y = self.deconv6(deep)
        for i, idx in enumerate(reversed(indices)):
            y = F.max_unpool2d(y, idx, kernel_size=2, stride=2)  # SegNet-style unpooling with the encoder's indices
            if i < len(self.decoder):
                y = self.decoder[i](y)
        coarse = torch.sigmoid(self.alpha_prediction(y))
        alpha = self.refinement(x, coarse) if self.refinement is not None else coarse
        return MattingOutput(alpha=alpha, coarse_alpha=coarse, features=(*pooled[:-1], deep))

    def load_pretrained(self, state: dict[str, Tensor]) -> None:
        """Load a DIM state dict (our keys) or ImageNet VGG-16 weights (torchvision ``features.*`` keys, the
        encoder only; the trimap channel starts at zero). Shape mismatches raise a ValueError."""
        if any(k.startswith("features.") for k in state):
            load_vgg16_state_dict(self.encoder, state)
            return
        own = self.state_dict()
        bad = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
        if bad:
            raise ValueError(f"pretrained DIM: shape mismatch for {bad[:4]} (trimap-based vs free variant?)")
        self.load_state_dict(state)


def _dim(pretrained: str | None = None, **kw) -> DIM:
    model = DIM(**kw)
    if pretrained is not None:
        from automatte.models.backbones.resnet import read_state_dict

        model.load_pretrained(read_state_dict(pretrained))
    return model


_TEST = dict(encoder_widths=(8, 16, 32, 64, 64), conv6_width=64, decoder_widths=(64, 32, 16, 8, 8), refine_width=8)


@register_model("dim", family="dim", inputs=("image", "trimap"), paper_params=25.58, paper_source="ppid table 1")
def dim(**kw) -> DIM:
    """DIM: VGG-16-BN encoder-decoder with unpooling + refinement stage, image + trimap (4 channels)."""
    return _dim(**kw)


@register_model("dim_free", family="dim", inputs=("image",), paper_params=25.58, paper_source="ppid table 1")
def dim_free(**kw) -> DIM:
    """DIM on the RGB image alone (PPID's trimap-free student)."""
    return _dim(**{"use_trimap": False, **kw})


@register_model("dim_test", family="dim", inputs=("image", "trimap"))
def dim_test(**kw) -> DIM:
    """Tiny DIM (widths / 8) for the tests."""
    return _dim(**{**_TEST, **kw})


@register_model("dim_free_test", family="dim", inputs=("image",))
def dim_free_test(**kw) -> DIM:
    """Tiny trimap-free DIM (widths / 8) for the tests."""
    return _dim(**{**_TEST, "use_trimap": False, **kw})
