"""Thin ``nn.Module`` wrappers of the loss functions (STYLE habit 6): hyper-parameters in the constructor,
tensors in ``forward``; each forwards to the function of the same name in :mod:`.functional`,
:mod:`.distill` or :mod:`.adversarial`, where shapes, ranges and reductions are documented.

Example:
    >>> import torch
    >>> loss = DDCLoss(kernel_size=3)
    >>> loss(torch.full((1, 3, 4, 4), 0.5), torch.full((1, 1, 4, 4), 0.3)).item()
    0.0
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from automatte.losses import adversarial, distill
from automatte.losses import functional as LF

__all__ = [
    "AlphaL1Loss",
    "CharbonnierLoss",
    "CompositionLoss",
    "GradientLoss",
    "LaplacianLoss",
    "TrimapCELoss",
    "UnifiedCELoss",
    "HardMiningLoss",
    "RegionalScalingLoss",
    "KnownLoss",
    "AffinityLoss",
    "DCLoss",
    "DDCLoss",
    "CLSDLoss",
    "ALDLoss",
    "LSGANGeneratorLoss",
    "LSGANDiscriminatorLoss",
]


class AlphaL1Loss(nn.Module):
    """:func:`~automatte.losses.functional.l1_loss`: ``forward(pred, target, weight=None)``."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return LF.l1_loss(pred, target, weight, self.reduction)


class CharbonnierLoss(nn.Module):
    """:func:`~automatte.losses.functional.charbonnier_loss`: ``forward(pred, target, weight=None)``."""

    def __init__(self, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__()
        self.eps, self.reduction = eps, reduction

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return LF.charbonnier_loss(pred, target, weight, self.eps, self.reduction)


class CompositionLoss(nn.Module):
    """:func:`~automatte.losses.functional.composition_loss`: ``forward(alpha, fg, bg, image, weight=None)``."""

    def __init__(self, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__()
        self.eps, self.reduction = eps, reduction

    def forward(self, alpha: Tensor, fg: Tensor, bg: Tensor, image: Tensor, weight: Tensor | None = None) -> Tensor:
        return LF.composition_loss(alpha, fg, bg, image, weight, self.eps, self.reduction)


class GradientLoss(nn.Module):
    """:func:`~automatte.losses.functional.gradient_loss`: ``forward(pred, target, weight=None)``."""

    def __init__(self, operator: str = "sobel", mode: str = "magnitude", eps: float = 1e-6, reduction: str = "mean"):
        super().__init__()
        self.operator, self.mode, self.eps, self.reduction = operator, mode, eps, reduction

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return LF.gradient_loss(pred, target, weight, self.operator, self.mode, self.eps, self.reduction)


class LaplacianLoss(nn.Module):
    """:func:`~automatte.losses.functional.laplacian_loss`: ``forward(pred, target, weight=None)``."""

    def __init__(self, levels: int = 5, level_weights: Sequence[float] | None = None, residual_weight: float = 0.0):
        super().__init__()
        self.levels, self.residual_weight = levels, residual_weight
        self.level_weights = None if level_weights is None else tuple(level_weights)

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return LF.laplacian_loss(pred, target, weight, self.levels, self.level_weights, self.residual_weight)


class TrimapCELoss(nn.Module):
    """:func:`~automatte.losses.functional.trimap_ce_loss`: ``forward(logits, classes, weight=None)``.

    ``class_weights`` (3 floats) is stored as a buffer so it follows ``.to(device)``.
    """

    def __init__(self, class_weights: Sequence[float] | None = None):
        super().__init__()
        self.register_buffer("class_weights", None if class_weights is None else torch.tensor(list(class_weights)))

    def forward(self, logits: Tensor, classes: Tensor, weight: Tensor | None = None) -> Tensor:
        return LF.trimap_ce_loss(logits, classes, weight, self.class_weights)


class UnifiedCELoss(nn.Module):
    """:func:`~automatte.losses.functional.unified_ce_loss`: ``forward(logits, trimap, image_types, weight=None)``."""

    def forward(self, logits: Tensor, trimap: Tensor, image_types, weight: Tensor | None = None) -> Tensor:
        return LF.unified_ce_loss(logits, trimap, image_types, weight)


class HardMiningLoss(nn.Module):
    """:func:`~automatte.losses.functional.hard_mining_loss`: ``forward(pred, target, mask=None)``."""

    def __init__(self, percent: float = 50.0):
        super().__init__()
        self.percent = percent

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return LF.hard_mining_loss(pred, target, mask, self.percent)


class RegionalScalingLoss(nn.Module):
    """:func:`~automatte.losses.functional.regional_scaling_loss`: ``forward(pred, target, trimap)``."""

    def __init__(
        self,
        l1_weights: tuple[float, float] = (1.0, 2.0),
        ce_weights: tuple[float, float] = (1.0, 0.5),
        eps: float = 1e-6,
        gradient_operator: str = "sobel",
    ):
        super().__init__()
        self.l1_weights, self.ce_weights = tuple(l1_weights), tuple(ce_weights)
        self.eps, self.gradient_operator = eps, gradient_operator

    def forward(self, pred: Tensor, target: Tensor, trimap: Tensor) -> Tensor:
        return LF.regional_scaling_loss(
            pred, target, trimap, self.l1_weights, self.ce_weights, self.eps, self.gradient_operator
        )


class KnownLoss(nn.Module):
    """:func:`~automatte.losses.functional.known_loss`: ``forward(pred, trimap)``."""

    def forward(self, pred: Tensor, trimap: Tensor) -> Tensor:
        return LF.known_loss(pred, trimap)


class _Windowed(nn.Module):
    def __init__(self, kernel_size: int = 11, neighbour_reduction: str = "mean", chunk_rows: int | None = None):
        super().__init__()
        LF._check_window(kernel_size, type(self).__name__)
        LF._neighbour_scale(neighbour_reduction, kernel_size, type(self).__name__)
        self.kernel_size, self.neighbour_reduction, self.chunk_rows = kernel_size, neighbour_reduction, chunk_rows


class DDCLoss(_Windowed):
    """:func:`~automatte.losses.functional.ddc_loss`: ``forward(image, alpha)``; K = 11 by default."""

    def forward(self, image: Tensor, alpha: Tensor) -> Tensor:
        return LF.ddc_loss(image, alpha, self.kernel_size, self.neighbour_reduction, self.chunk_rows)


class DCLoss(_Windowed):
    """:func:`~automatte.losses.functional.dc_loss`: ``forward(image, alpha)``."""

    def forward(self, image: Tensor, alpha: Tensor) -> Tensor:
        return LF.dc_loss(image, alpha, self.kernel_size, self.neighbour_reduction, self.chunk_rows)


class AffinityLoss(nn.Module):
    """:func:`~automatte.losses.functional.affinity_loss`: ``forward(image, alpha)``."""

    def __init__(self, kernel_size: int = 11, c: float | None = None, chunk_rows: int | None = None):
        super().__init__()
        LF._check_window(kernel_size, "AffinityLoss")
        self.kernel_size, self.c, self.chunk_rows = kernel_size, c, chunk_rows

    def forward(self, image: Tensor, alpha: Tensor) -> Tensor:
        return LF.affinity_loss(image, alpha, self.kernel_size, self.c, self.chunk_rows)


class CLSDLoss(nn.Module):
    """:func:`~automatte.losses.distill.clsd_loss`: ``forward(teacher, student, cross)`` (lists of features)."""

    def __init__(self, lambda1: float = 0.2, lambda2: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.lambda1, self.lambda2, self.reduction = lambda1, lambda2, reduction

    def forward(self, teacher: Sequence[Tensor], student: Sequence[Tensor], cross: Sequence[Tensor]) -> Tensor:
        return distill.clsd_loss(teacher, student, cross, self.lambda1, self.lambda2, self.reduction)


class ALDLoss(nn.Module):
    """:func:`~automatte.losses.distill.ald_loss`:
    ``forward(teacher, student, teacher_attention, student_attention, trimap)``."""

    def __init__(self, alpha: float = 0.02, beta: float = 0.002, attention_reduction: str = "sum"):
        super().__init__()
        self.alpha, self.beta, self.attention_reduction = alpha, beta, attention_reduction

    def forward(self, teacher, student, teacher_attention, student_attention, trimap: Tensor) -> Tensor:
        return distill.ald_loss(
            teacher,
            student,
            teacher_attention,
            student_attention,
            trimap,
            self.alpha,
            self.beta,
            self.attention_reduction,
        )


class LSGANGeneratorLoss(nn.Module):
    """:func:`~automatte.losses.adversarial.lsgan_generator_loss`: ``forward(d_fake)``."""

    def forward(self, d_fake: Tensor) -> Tensor:
        return adversarial.lsgan_generator_loss(d_fake)


class LSGANDiscriminatorLoss(nn.Module):
    """:func:`~automatte.losses.adversarial.lsgan_discriminator_loss`: ``forward(d_fake, d_real)``."""

    def forward(self, d_fake: Tensor, d_real: Tensor) -> Tensor:
        return adversarial.lsgan_discriminator_loss(d_fake, d_real)
