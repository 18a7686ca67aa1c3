"""PPID distillation losses (Privileged Prior Information Distillation, arXiv 2211.14036, sec. 3.1-3.2).

Pure functions on plain tensors; the modules that make them (GC blocks, the cross-level merge, the spatial
attention of eq. 6) live in :mod:`automatte.models.ppid`, whose :class:`~automatte.models.ppid.PPIDStudent`
exposes exactly these inputs (``features``, ``extras["clsd_cross_i"]``, ``extras["ald_feature"]``,
``extras["attention"]``). Run the teacher network under ``torch.no_grad()``. CLSD does not detach: the
student-side GC blocks applied to the teacher's features keep their gradients (``models.ppid``, choice 3).
ALD does: the teacher's feature ``F_T`` and map ``M^s_T`` are fixed targets (eq. 5-9), so no attention
convolution can lower the loss by moving the teacher's map (``models.ppid``, choice 4).

Hyper-parameters of the paper's table 5 (DIM pair): λ1 = 0.2, λ2 = 1.0, α = 0.02, β = 0.002, γ = 1.0
(IndexNet and GCA pairs: α = 0.002, β = 0.0002).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from automatte.ops.trimap import trimap_masks

__all__ = ["spatial_softmax", "transition_region", "clsd_loss", "ald_feature_loss", "ald_attention_loss", "ald_loss"]

_REDUCTIONS = ("mean", "sum")


def spatial_softmax(logits: Tensor, temperature: float = 1.0) -> Tensor:
    """Eq. 6's normalisation: softmax over the H x W positions of ``logits / T``.

    Args:
        logits: (B, 1, H, W) attention scores (``f7x7([AP(F); MP(F)])``).
        temperature: T > 0 (not given in the paper; 1 keeps the raw scores). Lower T: sharper map.

    Returns:
        (B, 1, H, W), non-negative, summing to 1 over (H, W) per sample.

    Example:
        >>> spatial_softmax(torch.zeros(1, 1, 2, 2)).flatten().tolist()
        [0.25, 0.25, 0.25, 0.25]
    """
    if not temperature > 0:
        raise ValueError(f"spatial_softmax: temperature must be > 0, got {temperature}")
    return torch.softmax((logits / temperature).flatten(1), dim=1).view_as(logits)


def transition_region(trimap: Tensor, size: Sequence[int]) -> Tensor:
    """Eq. 5: ``R^t = 1`` on the transition region, at a feature map's size.

    Args:
        trimap: (B, 1, H, W) in {0, 0.5, 1}.
        size: (h, w) of the feature map.

    Returns:
        (B, 1, h, w) float in {0, 1}: the trimap is nearest-resized (as ``models.ppid`` documents), then
        ``R = [T == 0.5]`` (the unknown class of ``ops.trimap.trimap_masks``).

    Example:
        >>> transition_region(torch.tensor([[[[0.0, 0.5], [0.5, 1.0]]]]), (2, 2)).flatten().tolist()
        [0.0, 1.0, 1.0, 0.0]
    """
    t = F.interpolate(trimap, size=tuple(int(s) for s in size), mode="nearest")
    return trimap_masks(t)[1].to(trimap.dtype)


def clsd_loss(
    teacher: Sequence[Tensor],
    student: Sequence[Tensor],
    cross: Sequence[Tensor],
    lambda1: float = 0.2,
    lambda2: float = 1.0,
    reduction: str = "mean",
) -> Tensor:
    """Cross-level semantic distillation (eq. 3-4).

    ``λ1 sum_n ||Gc(F_T^n) - Gc(F_S^n)||^2 + λ2 sum_{n >= 1} ||Gc(F_T^n) - Gc(f3x3(F̄_S^{n-1}))||^2``.

    Reading: eq. 3's inner ``Σ(·)^2`` is taken as the mean over the elements of each level
    (``reduction="mean"``, an MSE per level, summed over levels): a literal sum (``reduction="sum"``: sum over
    C, H, W, mean over the batch) grows with the feature size (about 10^5 per deep level) and would swamp the
    alpha loss at λ1 = 0.2.

    Args:
        teacher: K tensors ``Gc(F_T^n)``, (B, C_n, H_n, W_n), shallow to deep.
        student: K tensors ``Gc(F_S^n)`` shaped like ``teacher``.
        cross: K - 1 tensors ``Gc(f3x3(F̄_S^{n-1}))`` for n = 1..K-1, shaped like ``teacher[n]``.
        lambda1, lambda2: eq. 3 weights (table 5: 0.2 and 1.0).
        reduction: 'mean' | 'sum' (see above).

    Example:
        >>> t = [torch.ones(1, 2, 4, 4), torch.ones(1, 4, 2, 2)]
        >>> s = [torch.zeros(1, 2, 4, 4), torch.ones(1, 4, 2, 2)]
        >>> clsd_loss(t, s, [torch.zeros(1, 4, 2, 2)], lambda1=0.5, lambda2=2.0).item()  # 0.5 * 1 + 2 * 1
        2.5
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"clsd_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if len(teacher) != len(student) or len(cross) != len(teacher) - 1 or not teacher:
        raise ValueError(
            f"clsd_loss: need K teacher, K student and K-1 cross features, got {len(teacher)}, {len(student)}, {len(cross)}"
        )

    def sq(a: Tensor, b: Tensor) -> Tensor:
        if a.shape != b.shape:
            raise ValueError(
                f"clsd_loss: teacher {tuple(a.shape)} and student {tuple(b.shape)} features differ in shape"
            )
        d = (a - b) ** 2
        return d.mean() if reduction == "mean" else d.flatten(1).sum(1).mean()

    same = sum(sq(t, s) for t, s in zip(teacher, student))  # eq. 3, first term
    neighbour = sum((sq(t, c) for t, c in zip(teacher[1:], cross)), teacher[0].new_zeros(()))  # eq. 3, second term
    return lambda1 * same + lambda2 * neighbour


def ald_feature_loss(teacher: Tensor, student: Tensor, teacher_attention: Tensor, region: Tensor) -> Tensor:
    """Eq. 7: ``sum_k sum_ij R^t_ij M^s_ij (F_T - F_S)^2_kij``, per sample, averaged over the batch.

    ``teacher`` and ``teacher_attention`` are targets: detached (no gradient reaches them).

    The teacher's attention sums to 1 over the positions, so this is an attention-weighted spatial average
    (restricted to the transition region) of the squared error summed over the C channels, as printed.

    Args:
        teacher, student: (B, C, h, w) features F_T, F_S.
        teacher_attention: (B, 1, h, w) ``M^s_T`` (eq. 6).
        region: (B, 1, h, w) ``R^t`` (eq. 5, :func:`transition_region`).

    Example:
        >>> m = torch.full((1, 1, 2, 2), 0.25); r = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
        >>> ald_feature_loss(torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2), m, r).item()  # 3 channels * 0.25
        0.75
    """
    if teacher.shape != student.shape:
        raise ValueError(f"ald_feature_loss: teacher {tuple(teacher.shape)} and student {tuple(student.shape)} differ")
    for name, t in (("teacher_attention", teacher_attention), ("region", region)):
        if t.shape != (teacher.shape[0], 1, *teacher.shape[2:]):
            want = (teacher.shape[0], 1, *teacher.shape[2:])
            raise ValueError(f"ald_feature_loss: {name} must have shape {want}, got {tuple(t.shape)}")
    teacher, teacher_attention = teacher.detach(), teacher_attention.detach()  # fixed targets (eq. 7)
    return (region * teacher_attention * (teacher - student) ** 2).flatten(1).sum(1).mean()  # eq. 7


def ald_attention_loss(
    teacher_attention: Tensor, student_attention: Tensor, region: Tensor, reduction: str = "sum"
) -> Tensor:
    """Eq. 8: ``l_s(R^t M^s_T, R^t M^s_S)`` with l_s an L1 loss; ``M^s_T`` is a target (detached).

    Reading: ``reduction="sum"`` (default) sums ``|R M_T - R M_S|`` over the positions and averages over the
    batch: an L1 distance between two masked distributions, in [0, 2] whatever the map size. ``"mean"``
    averages over all elements (``F.l1_loss``), which shrinks as 1 / (h w).

    Args:
        teacher_attention, student_attention: (B, 1, h, w) maps of eq. 6.
        region: (B, 1, h, w) ``R^t``.
        reduction: 'sum' | 'mean'.

    Example:
        >>> mt = torch.tensor([[[[1.0, 0.0]]]]); ms = torch.tensor([[[[0.5, 0.5]]]]); r = torch.ones(1, 1, 1, 2)
        >>> ald_attention_loss(mt, ms, r).item()
        1.0
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"ald_attention_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if teacher_attention.shape != student_attention.shape or region.shape != teacher_attention.shape:
        raise ValueError(
            f"ald_attention_loss: shapes differ: {tuple(teacher_attention.shape)}, {tuple(student_attention.shape)}, "
            f"{tuple(region.shape)}"
        )
    d = (region * teacher_attention.detach() - region * student_attention).abs()  # eq. 8, M^s_T fixed
    return d.mean() if reduction == "mean" else d.flatten(1).sum(1).mean()


def ald_loss(
    teacher: Tensor | Sequence[Tensor],
    student: Tensor | Sequence[Tensor],
    teacher_attention: Tensor | Sequence[Tensor],
    student_attention: Tensor | Sequence[Tensor],
    trimap: Tensor,
    alpha: float = 0.02,
    beta: float = 0.002,
    attention_reduction: str = "sum",
) -> Tensor:
    """Attention-guided local distillation (eq. 5-9): ``α L_f + β L_a``.

    ``R^t`` is :func:`transition_region` of ``trimap`` at the feature size (eq. 5); the maps ``M^s`` are
    eq. 6's softmax over positions at temperature T, computed by the model (or :func:`spatial_softmax`).

    Args:
        teacher, student: (B, C, h, w) features F_T, F_S of the distilled level, or equal-length lists of
            them (one per distilled level; the level losses are summed).
        teacher_attention, student_attention: (B, 1, h, w) ``M^s_T``, ``M^s_S`` (lists when the features are).
        trimap: (B, 1, H, W) in {0, 0.5, 1} (any size; resized to (h, w)).
        alpha, beta: eq. 9 weights (table 5, DIM: 0.02 and 0.002).
        attention_reduction: see :func:`ald_attention_loss`.

    Example:
        >>> f = torch.rand(2, 4, 3, 3); m = spatial_softmax(torch.rand(2, 1, 3, 3))
        >>> ald_loss(f, f, m, m, torch.full((2, 1, 6, 6), 0.5)).item()
        0.0
    """
    levels = [teacher, student, teacher_attention, student_attention]
    if isinstance(teacher, Tensor):
        levels = [[x] for x in levels]
    is_list = [isinstance(x, Sequence) and not isinstance(x, Tensor) for x in levels]
    if not all(is_list) or not levels[0] or any(len(x) != len(levels[0]) for x in levels):
        raise ValueError("ald_loss: pass tensors, or four non-empty lists of the same length")
    total = levels[0][0].new_zeros(())
    for f_t, f_s, m_t, m_s in zip(*levels):
        region = transition_region(trimap, f_t.shape[2:])  # eq. 5
        l_f = ald_feature_loss(f_t, f_s, m_t, region)  # eq. 7
        l_a = ald_attention_loss(m_t, m_s, region, attention_reduction)  # eq. 8
        total = total + alpha * l_f + beta * l_a  # eq. 9
    return total
