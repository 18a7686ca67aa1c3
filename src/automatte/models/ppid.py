"""PPID-IM: Privileged Prior Information Distillation for image matting (Wang et al., arXiv 2211.14036).

A trimap-based teacher (DIM, IndexNet or GCA with the trimap as input) guides the trimap-free student of
the same family. :class:`PPIDStudent` is that student: the family's ``*_free`` network plus the
student-side modules of the two distillation boxes of the paper's figure 2:

* CLSD, Cross-Level Semantic Distillation (sec. 3.1): a :class:`GCBlock` per distilled level (eq. 2) and a
  :class:`CrossLevelMerge` between consecutive levels (eq. 4), giving the tensors of eq. 3.
* ALD, Attention-guided Local Distillation (sec. 3.2): a :class:`SpatialAttention` map (eq. 6) for the
  weighted feature loss (eq. 7) and the attention loss (eq. 8).

The losses themselves live in :mod:`automatte.losses`; this file only exposes the tensors they need (see
:class:`PPIDStudent`). The paper's figure 2 (the only place that shows where the boxes sit) is not in the
text we have; the choices below are ours and are tested in ``tests/models/test_ppid.py``:

1. The CLSD chain is a side branch on the encoder stage features (``MattingOutput.features`` of the base):
   eq. 4's merged feature is computed for the losses and not fed back into the encoder, so ``alpha`` is the
   base network's own and the wrapper works on any base that returns its stage features. The CLSD/ALD
   modules still count as student parameters, as in table 1. Deviation: sec. 3.1 "updates F_S^n to
   F̄_S^n", i.e. the merged feature replaces the stage output inside the student. Not done because it needs
   the base run stage by stage with the merge inserted between stages, and our three bases expose only
   their stage outputs (DIM's VGG-16 and GCA's ResNet-34 pass the stage outputs on to their decoders'
   skips as well, IndexNet's MobileNetV2 also derives its index maps from them): a per-family encoder
   rewrite, and the merge convolutions (zero-mean random init) would perturb a pretrained base's features
   from the first step. As a side branch the merges are trained by eq. 3's second term only.
2. CLSD acts on the 3 deepest stages ("semantic" distillation). This is what table 1's parameter deltas
   give: two 3x3 convolutions, 256->512 and 512->512 (DIM, VGG-16), are 1.18M + 2.36M = 3.54M, DIM's exact
   delta; 128->256 and 256->512 (GCA, ResNet-34) are 0.30M + 1.18M = 1.47M, GCA's exact delta. The GC
   blocks (bottleneck ratio 1/16, GCNet's default) add about 0.08M for DIM, 0.04M for GCA. With this
   repository's bases (meta-device counts, base + added -> paper):

   ============== ========================= ========= =======
   variant        ours (base + PPID)        paper     diff
   ============== ========================= ========= =======
   dim_ppid       29.90M (26.28 + 3.62)     29.12M    +2.7%
   indexnet_ppid  6.17M (5.95 + 0.22)       6.47M     -4.6%
   gca_ppid       26.68M (25.16 + 1.52)     26.60M    +0.3%
   ============== ========================= ========= =======

   DIM's difference is its base's (conv6 and the refinement stage, see ``models/dim.py``). IndexNet's
   deepest stages here are 32, 64 and 320 channels (strides 8, 16, 32): merges 32->64 and 64->320 add
   0.20M where the paper adds 0.52M; the paper's stage features are not stated (stages of 64, 160 and 320
   channels would give 0.55M).
3. One GC block per level, shared by the teacher and the student terms of eq. 3 (the paper writes one
   ``Gc`` for both). :meth:`PPIDStudent.teacher_features` applies it to the teacher's features, and the GC
   blocks are trained through both sides of eq. 3 (the paper says nothing of gradients here). Unlike the
   attention of choice 4 this cannot switch the term off: ``Gc(F) = F + v(F)`` with ``v(F)`` one vector
   broadcast over the positions, so whatever its weights, ``Gc(F_T) - Gc(F_S)`` keeps the position-
   dependent part of ``F_T - F_S`` (the difference minus its per-channel spatial mean), which reaches the
   student's encoder; the GC block can cancel only the per-channel means. Detaching the teacher side would
   not remove that freedom (the student-side ``v`` can cancel the means alone), so we keep the paper's one
   ``Gc`` with gradients through both sides (tested: ``test_gc_cannot_cancel_position_dependent_differences``).
4. Two spatial-attention modules (eq. 6) on the shallowest encoder stage (``ald_level=0``: the
   highest-resolution, most local features the base exposes): the student's ``M^s_S`` (``ald``, trained)
   and the teacher's ``M^s_T`` (``teacher_ald``, fixed). Eq. 5-9 use ``M^s_T`` as the target the student
   is pulled to; the paper does not say how the teacher's 7x7 convolution is trained, and its teacher is
   frozen during distillation. A convolution trained by the ALD loss itself switches the distillation off:
   shared with the student and not detached, 50 steps on the ALD loss alone moved the teacher's attention
   mass in the transition region from 0.083 to 0.000 and the loss to 0 (issue 12). So ``M^s_T`` is a fixed
   target: ``teacher_ald``'s 7x7 weights are a buffer (no parameter, no gradient), zero but for the centre
   taps, 1/2 on AP and 1/2 on MP, i.e. ``M^s_T = softmax((AP(F_T) + MP(F_T)) / (2 T))`` (CBAM's pooled
   descriptors through an identity convolution: where the teacher's features are strongly activated), and
   :meth:`PPIDStudent.teacher_features` returns it detached. Deviation from the paper (our choice, a
   parameter-free teacher map): a map learned by the teacher's own matting training would need the
   teacher trained with an attention head, which its supervised run (a plain DIM / IndexNet / GCA) lacks.
   The 7x7 convolutions have no bias (the spatial softmax ignores a constant); same for the GC block's
   ``W_k``.
5. The stage widths and sizes are read from one forward of the base at construction (64x64, eval mode, no
   gradient; on the meta device when built there, so no data is read). The merge convolution's stride is
   the ratio of consecutive stage sizes: 2 for all three bases here (the paper's stride 2); a base whose
   two stages share a resolution gets 1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from automatte.models.output import MattingOutput
from automatte.models.registry import create_model, register_model

__all__ = ["GCBlock", "CrossLevelMerge", "SpatialAttention", "CLSD", "PPIDStudent"]


class GCBlock(nn.Module):
    """Global context block of GCNet (Cao et al. 2019) as used in PPID eq. 2.

    ``Gc(F) = F + W_v2 ReLU(LN(W_v1 sum_j softmax_j(W_k F)_j F_j))``: attention pooling over all positions
    (context modelling), a bottleneck transform with LayerNorm, and additive fusion broadcast over (H, W).

    Args:
        channels: C of the feature.
        ratio: bottleneck width ``max(1, round(C * ratio))`` (GCNet's default 1/16).

    Shapes: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, ratio: float = 1 / 16):
        super().__init__()
        planes = max(1, round(channels * ratio))
        self.key = nn.Conv2d(channels, 1, 1, bias=False)  # W_k (a bias would cancel in the softmax)
        self.transform = nn.Sequential(
            nn.Conv2d(channels, planes, 1),  # W_v1
            nn.LayerNorm([planes, 1, 1]),  # LN
            nn.ReLU(inplace=True),
            nn.Conv2d(planes, channels, 1),  # W_v2
        )

    def context(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, 1, 1): ``sum_j e^{W_k F_j} / sum_m e^{W_k F_m} F_j`` (eq. 2, inner sum)."""
        weights = torch.softmax(self.key(x).flatten(2), dim=-1)  # (B, 1, HW), eq. 2 softmax over N_p
        return torch.matmul(x.flatten(2), weights.transpose(1, 2)).unsqueeze(-1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.transform(self.context(x))  # eq. 2: additive fusion


class CrossLevelMerge(nn.Module):
    """Eq. 4: ``F̄_S^n = F_S^n + f3x3(F̄_S^{n-1})``, with f3x3 a 3x3 convolution of stride 2.

    ``forward(prev, current)`` returns ``(down, merged)``: ``down = f3x3(prev)`` (the feature that eq. 3's
    second term compares with the teacher, through the level's GC block) and ``merged = current + down``
    (``F̄_S^n``, passed on to the next level).

    Shapes: prev (B, C_in, H, W), current (B, C_out, H/stride, W/stride) -> both outputs like ``current``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 2):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride, 1)  # f3x3

    def forward(self, prev: Tensor, current: Tensor) -> tuple[Tensor, Tensor]:
        down = self.conv(prev)
        return down, current + down  # eq. 4


class SpatialAttention(nn.Module):
    """Eq. 6: ``M^s(F) = softmax(f7x7([AP(F); MP(F)]) / T)``, CBAM's spatial attention with a softmax over
    the H*W positions (instead of CBAM's sigmoid) at temperature ``T``.

    Args:
        temperature: T > 0; a lower T gives a sharper map (Hinton et al.'s distillation temperature).
        kernel_size: the f7x7 convolution's size.
        fixed: the teacher's map (module docstring, choice 4): the convolution's weight is a buffer holding
            1/2 at the centre of both input channels, so the map is ``softmax((AP + MP) / (2 T))``.

    Shapes: (B, C, H, W) -> (B, 1, H, W), non-negative, summing to 1 over (H, W) for each sample.
    """

    def __init__(self, temperature: float = 1.0, kernel_size: int = 7, *, fixed: bool = False):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"SpatialAttention: temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)
        self.fixed = bool(fixed)
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)  # f7x7
        if fixed:  # the teacher's map, a fixed target (eq. 5-9): (AP + MP) / 2 through the centre taps
            weight = torch.zeros_like(self.conv.weight)
            weight[..., kernel_size // 2, kernel_size // 2] = 0.5
            del self.conv.weight
            self.conv.register_buffer("weight", weight)  # a buffer: saved, never trained

    def logits(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, 1, H, W): ``f7x7([AP(F); MP(F)])`` with AP / MP along the channels."""
        return self.conv(torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1))

    def forward(self, x: Tensor) -> Tensor:
        logits = self.logits(x) / self.temperature
        return torch.softmax(logits.flatten(1), dim=1).view_as(logits)  # eq. 6, σ = softmax over positions


class CLSD(nn.Module):
    """Student side of Cross-Level Semantic Distillation (sec. 3.1) on K consecutive encoder levels.

    Args:
        channels: C of each distilled level, shallow to deep.
        strides: resolution ratio between level i-1 and level i (``strides[0]`` is unused).
        ratio: GC bottleneck ratio.

    ``forward(features)`` returns ``(distilled, cross)``: ``distilled[i] = Gc_i(F_S^i)`` (eq. 3, first term)
    and ``cross[i-1] = Gc_i(f3x3(F̄_S^{i-1}))`` for i = 1..K-1 (eq. 3, second term), with ``F̄_S^0 = F_S^0``
    and eq. 4 along the chain. ``teacher(features)`` returns ``Gc_i(F_T^i)``. All outputs are shaped like
    the level's feature.
    """

    def __init__(self, channels: Sequence[int], strides: Sequence[int], ratio: float = 1 / 16):
        super().__init__()
        if len(channels) != len(strides) or not channels:
            raise ValueError(f"CLSD: need one stride per level, got channels={channels}, strides={strides}")
        self.gc = nn.ModuleList(GCBlock(c, ratio) for c in channels)
        self.merge = nn.ModuleList(
            CrossLevelMerge(channels[i - 1], channels[i], strides[i]) for i in range(1, len(channels))
        )

    def forward(self, features: Sequence[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        distilled = [gc(f) for gc, f in zip(self.gc, features)]  # eq. 3: Gc(F_S^n)
        cross, merged = [], features[0]  # F̄_S^0 = F_S^0
        for i, merge in enumerate(self.merge, start=1):
            down, merged = merge(merged, features[i])  # eq. 4
            cross.append(self.gc[i](down))  # eq. 3: Gc(f3x3(F̄_S^{n-1}))
        return distilled, cross

    def teacher(self, features: Sequence[Tensor]) -> list[Tensor]:
        return [gc(f) for gc, f in zip(self.gc, features)]  # eq. 3: Gc(F_T^n)


def _free_name(base: str) -> str:
    """``"dim"`` -> ``"dim_free"``, ``"dim_test"`` -> ``"dim_free_test"``: the trimap-free variant's name."""
    return f"{base[:-5]}_free_test" if base.endswith("_test") else f"{base}_free"


@torch.no_grad()
def _probe_features(net: nn.Module, size: int) -> list[tuple[int, int]]:
    """(channels, height) of each stage feature of ``net`` for a ``size`` x ``size`` image, found by one forward
    in eval mode on the parameters' device (the meta device reads no data)."""
    param = next(net.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    modes = {m: m.training for m in net.modules()}
    net.eval()
    try:
        out = net(image=torch.zeros(1, 3, size, size, device=device))
    finally:
        for m, mode in modes.items():
            m.training = mode
    if not getattr(out, "features", None):
        raise ValueError(f"PPIDStudent: the base {type(net).__name__} returns no encoder features")
    return [(int(f.shape[1]), int(f.shape[-2])) for f in out.features]


class PPIDStudent(nn.Module):
    """A trimap-free matting network with the student-side PPID distillation modules (CLSD and ALD).

    Args:
        base: a registered family name (``"dim"``, ``"indexnet"``, ``"gca"`` or a ``*_test`` variant): the
            student is ``create_model(base + "_free")`` (``"x_test"`` -> ``"x_free_test"``), the teacher
            ``create_model(base)``; or a ready trimap-free network returning ``MattingOutput.features``.
        teacher: registry name of the trimap-based teacher (default: ``base`` when it is a name).
        levels: how many of the deepest stages CLSD distils (3; see the module docstring).
        ald_level: the stage ALD distils (index into the base's features; 0: the shallowest).
        gc_ratio: GC block bottleneck ratio.
        temperature: T of eq. 6.
        base_kwargs: keyword arguments for the base's factory (e.g. ``pretrained``).
        probe_size: image side used once at construction to read the base's stage widths and sizes.

    ``forward(image)`` returns the base's :class:`MattingOutput` (``alpha`` etc. unchanged) with:

    * ``features``: K = ``levels`` tensors ``Gc_i(F_S^i)``, shallow to deep, (B, C_i, H_i, W_i).
    * ``extras["clsd_cross_i"]`` (i = 1..K-1): ``Gc_i(f3x3(F̄_S^{i-1}))``, shaped like ``features[i]``.
    * ``extras["ald_feature"]``: the raw student feature ``F_S`` of stage ``ald_level``, (B, C, h, w).
    * ``extras["attention"]``: the student's attention ``M^s_S`` (eq. 6) of that feature, (B, 1, h, w),
      summing to 1 over (h, w).

    :meth:`teacher_features` turns the teacher's output into the same structure (``features`` =
    ``Gc_i(F_T^i)``, ``extras["ald_feature"]`` = ``F_T``, ``extras["attention"]`` = ``M^s_T``) with the
    same GC blocks and the fixed teacher attention, so the training code can write, per sample:

    * eq. 3: ``λ1 Σ_i ||t.features[i] - s.features[i]||²``
      ``+ λ2 Σ_{i>=1} ||t.features[i] - s.extras[f"clsd_cross_{i}"]||²``
    * eq. 5: ``R = (nearest-resized trimap == 0.5)`` at (h, w) of the ALD feature;
    * eq. 7: ``Σ R * t.extras["attention"] * (t.extras["ald_feature"] - s.extras["ald_feature"])²``
    * eq. 8: ``L1(R * t.extras["attention"], R * s.extras["attention"])``.

    Run the teacher under ``torch.no_grad()``; the GC blocks belong to the student and receive gradients
    through both sides (module docstring, choice 3). ``M^s_T`` comes from the fixed ``teacher_ald`` and is
    detached: a fixed target, so the attention convolution cannot lower eq. 7-8 by moving the teacher's map
    out of the transition region (choice 4).

    Parameter counts against table 1: see the module docstring (choice 2).

    Example:
        >>> import torch
        >>> net = PPIDStudent("dim_test")
        >>> teacher = net.build_teacher().eval()
        >>> image, trimap = torch.rand(1, 3, 64, 64), torch.full((1, 1, 64, 64), 0.5)
        >>> with torch.no_grad():
        ...     s = net(image=image)
        ...     t = net.teacher_features(teacher(image=image, trimap=trimap))
        >>> [f.shape == g.shape for f, g in zip(s.features, t.features)]
        [True, True, True]
        >>> round(s.extras["attention"].sum().item(), 4)
        1.0
    """

    def __init__(
        self,
        base: str | nn.Module = "indexnet",
        *,
        teacher: str | None = None,
        levels: int = 3,
        ald_level: int = 0,
        gc_ratio: float = 1 / 16,
        temperature: float = 1.0,
        base_kwargs: dict | None = None,
        probe_size: int = 64,
    ):
        super().__init__()
        if isinstance(base, str):
            self.teacher_name = teacher or base
            base = create_model(_free_name(base), **(base_kwargs or {}))
        else:
            self.teacher_name = teacher
        self.base = base
        stages = _probe_features(base, probe_size)
        n = len(stages)
        if not 1 <= levels <= n:
            raise ValueError(f"PPIDStudent: levels must be in 1..{n} (the base has {n} stages), got {levels}")
        if not -n <= ald_level < n:
            raise ValueError(f"PPIDStudent: ald_level must index the base's {n} stages, got {ald_level}")
        self.levels = tuple(range(n - levels, n))
        self.ald_level = ald_level % n
        self.feature_channels = tuple(c for c, _ in stages)
        strides = [1]
        for i in self.levels[1:]:
            (_, h_prev), (_, h) = stages[i - 1], stages[i]
            if h_prev % h:
                raise ValueError(f"PPIDStudent: stage {i} ({h} px) does not downsample stage {i - 1} ({h_prev} px)")
            strides.append(h_prev // h)
        self.clsd = CLSD([stages[i][0] for i in self.levels], strides, gc_ratio)
        self.ald = SpatialAttention(temperature)  # M^s_S (eq. 6), trained
        self.teacher_ald = SpatialAttention(temperature, fixed=True)  # M^s_T (eq. 6), a fixed target

    def _check(self, features: Sequence[Tensor], who: str) -> None:
        channels = tuple(int(f.shape[1]) for f in features)
        if channels != self.feature_channels:
            raise ValueError(f"PPIDStudent: {who} stage widths {channels}, expected {self.feature_channels}")

    def forward(self, image: Tensor) -> MattingOutput:
        out = self.base(image=image)
        self._check(out.features, "student")
        distilled, cross = self.clsd([out.features[i] for i in self.levels])
        feature = out.features[self.ald_level]
        extras = {**out.extras, **{f"clsd_cross_{i}": c for i, c in enumerate(cross, start=1)}}
        extras.update(ald_feature=feature, attention=self.ald(feature))
        return dataclasses.replace(out, features=tuple(distilled), extras=extras)

    def teacher_features(self, teacher_output: MattingOutput) -> MattingOutput:
        """The teacher's output with ``features`` = ``Gc_i(F_T^i)`` and ``extras["ald_feature"]`` /
        ``extras["attention"]`` (``F_T``, ``M^s_T``), shaped like the student's (see the class docstring)."""
        self._check(teacher_output.features, "teacher")
        distilled = self.clsd.teacher([teacher_output.features[i] for i in self.levels])
        feature = teacher_output.features[self.ald_level]
        attention = self.teacher_ald(feature.detach()).detach()  # eq. 7-8 target: no gradient (choice 4)
        extras = {**teacher_output.extras, "ald_feature": feature, "attention": attention}
        return dataclasses.replace(teacher_output, features=tuple(distilled), extras=extras)

    def build_teacher(self, **kwargs) -> nn.Module:
        """``create_model(teacher_name, **kwargs)``: the trimap-based network of the student's family."""
        if self.teacher_name is None:
            raise ValueError("PPIDStudent: no teacher name (pass teacher= when wrapping a ready network)")
        return create_model(self.teacher_name, **kwargs)


def _ppid(
    base: str | nn.Module, pretrained: str | None = None, base_pretrained: str | None = None, **kw
) -> PPIDStudent:
    """Build a PPID student; ``pretrained``: a whole PPIDStudent state dict (keys ``base.*``, ``clsd.*``...) or
    any other checkpoint of the base (ImageNet encoder weights such as ``make weights``' VGG-16 for DIM,
    handed to the base's factory as its ``pretrained``); ``base_pretrained``: the trimap-free base's checkpoint
    (passed to its factory as ``pretrained``)."""
    from automatte.models.weights import read_state_dict

    base_kwargs = dict(kw.pop("base_kwargs", None) or {})
    if base_pretrained is not None:
        base_kwargs["pretrained"] = base_pretrained
    state = read_state_dict(pretrained) if pretrained is not None else None
    if state is not None and not any(k.startswith("base.") for k in state):
        if base_pretrained is not None:
            raise ValueError(f"PPID: {pretrained} is not a PPIDStudent state dict and base_pretrained is also given")
        base_kwargs["pretrained"], state = pretrained, None  # the base's own checkpoint (its encoder's)
    model = PPIDStudent(base, base_kwargs=base_kwargs, **kw)
    if state is not None:
        model.load_state_dict(state)
    return model


_SOURCE = "ppid table 1"


@register_model("dim_ppid", family="ppid", paper_params=29.12, paper_source=_SOURCE)
def dim_ppid(**kw) -> PPIDStudent:
    """DIM-PPID: trimap-free DIM (VGG-16) student with CLSD/ALD modules; teacher ``dim``."""
    return _ppid("dim", **kw)


@register_model("indexnet_ppid", family="ppid", paper_params=6.47, paper_source=_SOURCE)
def indexnet_ppid(**kw) -> PPIDStudent:
    """IndexNet-PPID: trimap-free IndexNet (MobileNetV2) student with CLSD/ALD modules; teacher ``indexnet``."""
    return _ppid("indexnet", **kw)


@register_model("gca_ppid", family="ppid", paper_params=26.60, paper_source=_SOURCE)
def gca_ppid(**kw) -> PPIDStudent:
    """GCA-PPID: trimap-free GCA (ResNet-34) student with CLSD/ALD modules; teacher ``gca``."""
    return _ppid("gca", **kw)


@register_model("ppid_test", family="ppid")
def ppid_test(**kw) -> PPIDStudent:
    """Tiny PPID student around ``dim_free_test`` (teacher ``dim_test``), for the tests.

    DIM rather than IndexNet: ``indexnet_free_test`` takes ~2 min to export to ONNX on the shared machine,
    ``dim_free_test`` ~25 s; ``base="indexnet_test"`` or ``"gca_test"`` selects another family."""
    return _ppid(kw.pop("base", "dim_test"), **kw)
