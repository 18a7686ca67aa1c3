"""Plain ViT with ViTDet-style windowed / global attention and conv necks, as ViTMatte uses it.

ViTMatte (Yao et al. 2023, "ViT adaptation") adapts a plain ViT (Dosovitskiy et al. 2021) the way ViTDet (Li et al.
2022) does: most blocks attend within non-overlapping ``window_size`` x ``window_size`` windows of the
1/16 token grid, a few blocks (the last of each group: 2, 5, 8, 11 for ViT-S) attend globally, and each of
those global blocks is followed by a residual convolution block (:class:`ResBottleneckBlock`, the "conv
neck"). Attention adds decomposed relative position biases (:func:`add_decomposed_rel_pos`); the absolute
position embedding of the pre-training grid (14 x 14 for 224 px) is resized bicubically to the input grid.

Export safety (torch.export / ONNX with dynamic height and width): the token grid rarely divides by the
window (512 px -> 32 tokens, window 14), so windows are zero-padded. The padding is computed from shapes
only, as ``ceil(H / ws) * ws - H`` (:func:`window_partition`), so the padded size is the product
``n_windows * ws`` symbolically and the reshapes need no data-dependent guard. Position tables are always
resized (an identity when the size already matches), so there is no branch on the input size either.

Key names follow timm / DINO / detectron2-ViTDet (``patch_embed.proj.weight``, ``pos_embed``,
``blocks.N.attn.qkv.weight``, ``blocks.N.attn.rel_pos_h``, ``blocks.N.residual.conv1.weight``, ...);
:func:`load_vit_state_dict` loads such checkpoints, widening a 3-channel patch embedding to the model's
inputs (trimap channel at zero) and resizing position tables.

Example:
    >>> import torch
    >>> vit = ViT(in_chans=4, embed_dim=32, depth=2, num_heads=2, window_size=3, window_block_indexes=(0,),
    ...           residual_block_indexes=(1,), img_size=64)
    >>> tuple(vit(torch.zeros(1, 4, 96, 128)).shape)
    (1, 32, 6, 8)
"""

from __future__ import annotations

import re
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from automatte.models.layers import patch_input_channels

__all__ = [
    "ViT",
    "Block",
    "Attention",
    "ResBottleneckBlock",
    "window_partition",
    "window_unpartition",
    "get_rel_pos",
    "add_decomposed_rel_pos",
    "resize_pos_embed",
    "load_vit_state_dict",
]


def window_partition(x: Tensor, window_size: int) -> tuple[Tensor, tuple[int, int]]:
    """Split (B, H, W, C) tokens into (B * nh * nw, ws, ws, C) windows, zero-padding H and W up to multiples
    of ``ws``. Returns the windows and the padded size (Hp, Wp) for :func:`window_unpartition`.

    Example:
        >>> w, (hp, wp) = window_partition(torch.zeros(2, 4, 5, 8), 3)
        >>> tuple(w.shape), (hp, wp)
        ((8, 3, 3, 8), (6, 6))
    """
    b, h, w, c = x.shape
    nh, nw = (h + window_size - 1) // window_size, (w + window_size - 1) // window_size
    hp, wp = nh * window_size, nw * window_size  # padding from static shapes: hp is nh * ws by construction
    x = F.pad(x, (0, 0, 0, wp - w, 0, hp - h))
    x = x.view(b, nh, window_size, nw, window_size, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b * nh * nw, window_size, window_size, c), (hp, wp)


def window_unpartition(windows: Tensor, window_size: int, pad_hw: tuple[int, int], hw: tuple[int, int]) -> Tensor:
    """Inverse of :func:`window_partition`: (B * nh * nw, ws, ws, C) -> (B, H, W, C), padding removed."""
    hp, wp = pad_hw
    h, w = hw
    nh, nw, c = hp // window_size, wp // window_size, windows.shape[-1]
    x = windows.view(-1, nh, nw, window_size, window_size, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, hp, wp, c)[:, :h, :w, :]


def get_rel_pos(size: int, rel_pos: Tensor) -> Tensor:
    """Relative position embeddings R[i - j] for query/key positions i, j in ``range(size)``: (size, size, C).

    ``rel_pos`` (L, C) is a table over offsets -(L-1)/2 .. (L-1)/2; it is resized linearly to 2 * size - 1
    entries (always; an identity when L already fits), as ViTDet does for inputs of another size.
    """
    table = F.interpolate(rel_pos.t().unsqueeze(0), size=2 * size - 1, mode="linear", align_corners=False)[0].t()
    coords = torch.arange(size, device=rel_pos.device)
    return table[coords[:, None] - coords[None, :] + (size - 1)]


def add_decomposed_rel_pos(
    attn: Tensor, q: Tensor, rel_pos_h: Tensor, rel_pos_w: Tensor, hw: tuple[int, int]
) -> Tensor:
    """attn[(i, j), (k, l)] += q_(i,j) . Rh[i - k] + q_(i,j) . Rw[j - l] (MViTv2 decomposed relative positions).

    Args:
        attn: (B, H*W, H*W) attention logits; q: (B, H*W, C) queries; rel_pos_h/w: (L, C) tables; hw: (H, W).
    """
    h, w = hw
    rh, rw = get_rel_pos(h, rel_pos_h), get_rel_pos(w, rel_pos_w)
    b, _, c = q.shape
    r_q = q.reshape(b, h, w, c)
    rel_h = torch.einsum("bhwc,hkc->bhwk", r_q, rh)
    rel_w = torch.einsum("bhwc,wkc->bhwk", r_q, rw)
    attn = attn.view(b, h, w, h, w) + rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]
    return attn.view(b, h * w, h * w)


def resize_pos_embed(pos_embed: Tensor, hw: tuple[int, int], has_cls: bool = True) -> Tensor:
    """Absolute position embedding (1, [1 +] g*g, C) of a g x g grid -> (1, H, W, C), bicubic (the class
    token's entry is dropped)."""
    grid = pos_embed[:, 1:] if has_cls else pos_embed
    g = int(round(grid.shape[1] ** 0.5))
    grid = grid.reshape(1, g, g, -1).permute(0, 3, 1, 2)
    return F.interpolate(grid, size=hw, mode="bicubic", align_corners=False).permute(0, 2, 3, 1)


class Attention(nn.Module):
    """Multi-head self-attention on (B, H, W, C) tokens, with decomposed relative positions (ViTDet)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        use_rel_pos: bool = True,
        input_size: tuple[int, int] = (14, 14),
    ):
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.use_rel_pos = use_rel_pos
        if use_rel_pos:  # zero-initialised, as ViTDet's rel_pos_zero_init
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * input_size[0] - 1, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * input_size[1] - 1, head_dim))

    def forward(self, x: Tensor) -> Tensor:
        b, h, w, c = x.shape
        qkv = self.qkv(x).reshape(b, h * w, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.reshape(3, b * self.num_heads, h * w, -1).unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)  # softmax(q k^T / sqrt(d)) v (ViT eq. 5)
        if self.use_rel_pos:
            attn = add_decomposed_rel_pos(attn, q, self.rel_pos_h, self.rel_pos_w, (h, w))
        x = (attn.softmax(dim=-1) @ v).view(b, self.num_heads, h, w, -1).permute(0, 2, 3, 1, 4)
        return self.proj(x.reshape(b, h, w, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of a (B, C, H, W) tensor (detectron2's ``LayerNorm``)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        return self.weight[:, None, None] * ((x - u) / torch.sqrt(s + self.eps)) + self.bias[:, None, None]


class ResBottleneckBlock(nn.Module):
    """The conv neck after each global block: x + LN(1x1(GELU(LN(3x3(GELU(LN(1x1(x)))))))), C -> C/2 -> C.

    ``zero_init``: the last norm starts at zero, so the block starts as the identity (ViTDet); the convs
    then get no gradient until that norm moves off zero.
    """

    def __init__(self, dim: int, bottleneck: int, zero_init: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, bottleneck, 1, bias=False)
        self.norm1 = LayerNorm2d(bottleneck)
        self.act1 = nn.GELU()
        self.conv2 = nn.Conv2d(bottleneck, bottleneck, 3, padding=1, bias=False)
        self.norm2 = LayerNorm2d(bottleneck)
        self.act2 = nn.GELU()
        self.conv3 = nn.Conv2d(bottleneck, dim, 1, bias=False)
        self.norm3 = LayerNorm2d(dim)
        for conv in (self.conv1, self.conv2, self.conv3):
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        if zero_init:
            nn.init.zeros_(self.norm3.weight)

    def forward(self, x: Tensor) -> Tensor:
        out = self.act1(self.norm1(self.conv1(x)))
        out = self.act2(self.norm2(self.conv2(out)))
        return x + self.norm3(self.conv3(out))


class Block(nn.Module):
    """Pre-norm transformer block; windowed attention when ``window_size > 0``; optional conv neck after."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        window_size: int = 0,
        use_residual_block: bool = False,
        use_rel_pos: bool = True,
        input_size: tuple[int, int] = (32, 32),
        zero_init_residual: bool = True,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        size = (window_size, window_size) if window_size > 0 else input_size
        self.attn = Attention(dim, num_heads, use_rel_pos=use_rel_pos, input_size=size)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.window_size = window_size
        self.residual = ResBottleneckBlock(dim, dim // 2, zero_init_residual) if use_residual_block else None

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x
        x = self.norm1(x)
        if self.window_size > 0:
            h, w = x.shape[1], x.shape[2]
            x, pad_hw = window_partition(x, self.window_size)
            x = window_unpartition(self.attn(x), self.window_size, pad_hw, (h, w))
        else:
            x = self.attn(x)
        x = shortcut + x
        x = x + self.mlp(self.norm2(x))
        if self.residual is not None:
            x = self.residual(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return x


class ViT(nn.Module):
    """Plain ViT backbone (ViTDet layout): patch embedding, position embedding, blocks; one 1/16 feature map.

    Args:
        in_chans: input channels (4: image + trimap).
        patch_size, embed_dim, depth, num_heads, mlp_ratio: the ViT (ViT-S/16: 16, 384, 12, 6, 4).
        window_size: window side for the windowed blocks (14).
        window_block_indexes: blocks with windowed attention (the others are global).
        residual_block_indexes: blocks followed by a :class:`ResBottleneckBlock`.
        use_rel_pos: decomposed relative position biases.
        pretrain_img_size: image size of the pre-training (the absolute position grid: 224 / 16 = 14).
        img_size: training image size (the global blocks' relative tables cover img_size / patch_size).
        zero_init_residual: the conv necks start as the identity.

    ``forward(x)``: x (B, in_chans, H, W), H and W multiples of ``patch_size`` -> (B, embed_dim, H/16, W/16).
    """

    def __init__(
        self,
        in_chans: int = 4,
        patch_size: int = 16,
        embed_dim: int = 384,
        depth: int = 12,
        num_heads: int = 6,
        mlp_ratio: float = 4.0,
        window_size: int = 14,
        window_block_indexes: tuple[int, ...] = (0, 1, 3, 4, 6, 7, 9, 10),
        residual_block_indexes: tuple[int, ...] = (2, 5, 8, 11),
        use_rel_pos: bool = True,
        pretrain_img_size: int = 224,
        img_size: int = 512,
        zero_init_residual: bool = True,
    ):
        super().__init__()
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(in_chans, embed_dim, patch_size, stride=patch_size)
        grid = pretrain_img_size // patch_size
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid * grid, embed_dim))  # with the class token's entry
        size = (img_size // patch_size, img_size // patch_size)
        self.blocks = nn.ModuleList(
            Block(
                embed_dim,
                num_heads,
                mlp_ratio,
                window_size if i in window_block_indexes else 0,
                i in residual_block_indexes,
                use_rel_pos,
                size,
                zero_init_residual,
            )
            for i in range(depth)
        )
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.patch_embed.proj(x).permute(0, 2, 3, 1)  # (B, H/16, W/16, C)
        x = x + resize_pos_embed(self.pos_embed, (x.shape[1], x.shape[2]))
        for block in self.blocks:
            x = block(x)
        return x.permute(0, 3, 1, 2)


_DROPPED = re.compile(r"^(cls_token|dist_token|mask_token|norm\.|fc_norm\.|head\.|head_dist\.|register_tokens)")


def load_vit_state_dict(vit: ViT, state: dict[str, Tensor]) -> list[str]:
    """Load timm / DINO / ViTDet-named ViT weights into ``vit`` (non-strict); returns the missing keys.

    The class token, final norm and classifier are ignored. A patch embedding with fewer input channels is
    widened with :func:`patch_input_channels` (extra channels at zero); ``pos_embed`` is resized bicubically
    to the model's pre-training grid (and given a class-token entry if it has none); relative position
    tables are resized linearly. Other shape mismatches raise a ValueError naming the key; missing and
    unexpected keys are reported with a warning.
    """
    own = vit.state_dict()
    state = {k: v for k, v in state.items() if not _DROPPED.match(k)}
    w = state.get("patch_embed.proj.weight")
    conv = vit.patch_embed.proj
    same_filters = w is not None and (w.shape[0], *w.shape[2:]) == (conv.out_channels, *conv.kernel_size)
    if same_filters and w.shape[1] < conv.in_channels:
        rgb = nn.Conv2d(w.shape[1], w.shape[0], conv.kernel_size, conv.stride, bias=False)
        with torch.no_grad():
            rgb.weight.copy_(w)
        state["patch_embed.proj.weight"] = patch_input_channels(rgb, conv.in_channels).weight.detach()
    pos = state.get("pos_embed")
    if pos is not None and pos.shape != own["pos_embed"].shape and pos.shape[-1] == own["pos_embed"].shape[-1]:
        n = pos.shape[1]
        has_cls = int(round(n**0.5)) ** 2 != n
        g = int(round((own["pos_embed"].shape[1] - 1) ** 0.5))
        grid = resize_pos_embed(pos.float(), (g, g), has_cls).reshape(1, g * g, -1)
        cls = pos[:, :1] if has_cls else torch.zeros_like(pos[:, :1])
        state["pos_embed"] = torch.cat([cls, grid], dim=1)
    for k, v in list(state.items()):
        if k.endswith((".rel_pos_h", ".rel_pos_w")) and k in own and v.shape[0] != own[k].shape[0]:
            length = own[k].shape[0]
            state[k] = F.interpolate(v.float().t()[None], size=length, mode="linear", align_corners=False)[0].t()
    for k, v in state.items():
        if k in own and own[k].shape != v.shape:
            raise ValueError(f"pretrained ViT: {k!r} has shape {tuple(v.shape)}, expected {tuple(own[k].shape)}")
    result = vit.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        warnings.warn(
            f"pretrained ViT: {len(result.missing_keys)} missing keys {result.missing_keys[:8]}, "
            f"{len(result.unexpected_keys)} unexpected keys {result.unexpected_keys[:8]}",
            stacklevel=2,
        )
    return list(result.missing_keys)
