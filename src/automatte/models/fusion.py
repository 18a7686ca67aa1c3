"""The two fusions of a trimap (or trimap-like 3-class map) with a matting alpha, defined once for every model
and pipeline that fuses.

* :func:`hard_fusion` (replacement): the argmax class decides, background -> 0, foreground -> 1, transition ->
  the alpha. This is AIM-Net's matting fusion (Li et al. 2021, eq. 2) with the hard unified representation
  ``U = argmax / 2`` (``(1 - 2|U - 0.5|) M + 2|U - 0.5| U`` equals the replacement when U is in {0, 0.5, 1}),
  PP-Matting's "Rep FM" (Chen et al. 2022, sec. 4.4), TGN + SPAMattNet's hard joint inference (Zhou et al.
  2023, sec. IV-B3) and the two-stage pipelines' fusion of a refiner's alpha with its trimap.
* :func:`soft_fusion`: TGN + SPAMattNet eq. 13-15, ``alpha = F + U alpha_hat`` with the class probabilities
  ``(B, U, F)`` (eq. 13 divides by ``F + B + U``, which is 1 for probabilities).

Channels are (background, transition, foreground). Gradients reach ``alpha`` only through the transition
class (hard) or in proportion to ``U`` (soft).
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["BACKGROUND", "TRANSITION", "FOREGROUND", "hard_fusion", "soft_fusion"]

BACKGROUND, TRANSITION, FOREGROUND = 0, 1, 2


def hard_fusion(trimap_logits: Tensor, alpha: Tensor) -> Tensor:
    """Replacement fusion (module docstring): ``alpha`` where argmax is transition, 1 where foreground, 0 where
    background (ties go to the lower class index, as ``argmax``).

    Args:
        trimap_logits: (B, 3, H, W) logits or probabilities (background, transition, foreground).
        alpha: (B, 1, H, W) in [0, 1].

    Returns:
        (B, 1, H, W) fused alpha.

    Example:
        >>> import torch
        >>> logits = torch.tensor([[10.0, 0, 0], [0, 10, 0], [0, 0, 10]]).T.reshape(1, 3, 1, 3)
        >>> hard_fusion(logits, torch.full((1, 1, 1, 3), 0.3)).flatten().tolist()
        [0.0, 0.30000001192092896, 1.0]
    """
    cls = trimap_logits.argmax(dim=1, keepdim=True)
    return (cls == FOREGROUND).to(alpha.dtype) + (cls == TRANSITION).to(alpha.dtype) * alpha


def soft_fusion(trimap_logits: Tensor, alpha: Tensor, *, probabilities: bool = False) -> Tensor:
    """TGN + SPAMattNet eq. 13-15: ``F + U alpha`` with ``(B, U, F) = softmax(trimap_logits)`` (or the given
    probabilities with ``probabilities=True``, e.g. a feathered band U and ``F = (1 - U) p``).

    Example:
        >>> import torch
        >>> logits = torch.tensor([-20.0, -20.0, 20.0]).view(1, 3, 1, 1)  # certain foreground
        >>> round(soft_fusion(logits, torch.zeros(1, 1, 1, 1)).item(), 4)
        1.0
    """
    p = trimap_logits if probabilities else trimap_logits.softmax(dim=1)
    return p[:, FOREGROUND : FOREGROUND + 1] + p[:, TRANSITION : TRANSITION + 1] * alpha  # eq. 15 (eq. 13 + 14)
