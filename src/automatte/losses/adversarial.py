"""Real-data adaptation of SPAMattNet/TGN (Zhou et al., TCSVT 2023, sec. IV-B4, eq. 16-17): LSGAN losses.

The generator G (TGN + SPAMattNet) predicts alpha for a real photo ``I``; the photo is re-composited over
a random background ``B̄`` with that alpha and a discriminator D tells such composites from real photos.
These functions take D's outputs (any shape, e.g. (B, 1) or a (B, 1, h, w) patch map), so they work with
any discriminator; the full generator objective with its pseudo-label terms is
:func:`automatte.losses.recipes.adaptation_generator_losses`.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["recomposite", "lsgan_generator_loss", "lsgan_discriminator_loss", "adaptation_lambda"]


def recomposite(alpha: Tensor, image: Tensor, background: Tensor) -> Tensor:
    """``alpha I + (1 - alpha) B̄``: the fake sample of eq. 16-17 (the photo itself serves as foreground).

    Args:
        alpha: (B, 1, H, W) predicted alpha in [0, 1].
        image: (B, 3, H, W) real photo in [0, 1].
        background: (B, 3, H, W) random background in [0, 1].

    Returns:
        (B, 3, H, W) composite in [0, 1].

    Example:
        >>> import torch
        >>> a = torch.full((1, 1, 1, 1), 0.25)
        >>> recomposite(a, torch.ones(1, 3, 1, 1), torch.zeros(1, 3, 1, 1)).flatten().tolist()
        [0.25, 0.25, 0.25]
    """
    return alpha * image + (1 - alpha) * background


def lsgan_generator_loss(d_fake: Tensor) -> Tensor:
    """Eq. 16, adversarial term: ``E[(D(fake) - 1)^2]``, the mean over all elements of ``d_fake``.

    Args:
        d_fake: D's output on :func:`recomposite` of the generator's alpha (not detached: the gradient must
            reach G).

    Example:
        >>> import torch
        >>> lsgan_generator_loss(torch.tensor([1.0, 0.0])).item()
        0.5
    """
    return ((d_fake - 1) ** 2).mean()


def lsgan_discriminator_loss(d_fake: Tensor, d_real: Tensor) -> Tensor:
    """Eq. 17: ``E[D(fake)^2] + E[(D(I) - 1)^2]`` (each expectation a mean over its elements).

    Args:
        d_fake: D's output on composites made with a *detached* generator alpha.
        d_real: D's output on real photos.

    Example:
        >>> import torch
        >>> lsgan_discriminator_loss(torch.tensor([0.5]), torch.tensor([0.5])).item()
        0.5
    """
    return (d_fake**2).mean() + ((d_real - 1) ** 2).mean()


def adaptation_lambda(iteration: int, initial: float = 0.5, halve_every: int = 10_000) -> float:
    """λ of eq. 16 at a training iteration: ``initial * 0.5 ** (iteration // halve_every)``.

    The paper: "λ is 0.5 and reduced by 1/2 every 10,000 iterations" (read as halved).

    Args:
        iteration: 0-based iteration count (>= 0).
        initial: λ at iteration 0.
        halve_every: period of the halving, in iterations (> 0).

    Example:
        >>> [adaptation_lambda(i) for i in (0, 9_999, 10_000, 25_000)]
        [0.5, 0.5, 0.25, 0.125]
    """
    if iteration < 0 or halve_every <= 0:
        raise ValueError(f"adaptation_lambda: need iteration >= 0 and halve_every > 0, got {iteration}, {halve_every}")
    return initial * 0.5 ** (iteration // halve_every)
