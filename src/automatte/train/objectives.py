"""Loss recipes by name: :data:`automatte.losses.RECIPES` plus two the trainer needs that are not there yet.

* ``tgn``: the Trimap Generation Network's 3-class cross-entropy against ``batch["trimap"]`` (spamattnet-tgn
  Sec. III-A / IV-B1, ``L_ce``; the ground-truth trimap is the alpha's 15x15 erosion / dilation).
* ``vitmatte``: the losses of the finely supervised ViTMatte baseline of the DDC paper, as ViTMatte describes
  them: L1 over the unknown and the known regions (each a mean over its pixels), the Laplacian loss, and a
  gradient term ``|grad p - grad t|`` plus a small penalty ``gp_weight * |grad p|`` on the prediction's own
  gradient (all on the whole image, Sobel derivatives).

Both follow the recipe contract of :mod:`automatte.losses.recipes` (``(output, batch, **kw) -> dict`` with
``"total"``); they could move there (the lead decides; the trainer looks names up with :func:`get_recipe`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch.nn.functional as F
from torch import Tensor

from automatte.losses import RECIPES, image_gradients, l1_loss, laplacian_loss, trimap_ce_loss, trimap_class_targets
from automatte.models.output import MattingOutput

__all__ = ["tgn_losses", "vitmatte_losses", "EXTRA_RECIPES", "get_recipe", "recipe_names"]


def _need(batch: Mapping, key: str, who: str) -> Tensor:
    if batch.get(key) is None:
        raise ValueError(f"{who}: the batch has no {key!r} (keys: {sorted(batch)})")
    return batch[key]


def tgn_losses(output: MattingOutput, batch: Mapping, *, class_weights: tuple[float, float, float] | None = None) -> dict:
    """TGN: ``total = L_ce(trimap_logits, classes(batch["trimap"]))``.

    Logits smaller than the trimap are upsampled bilinearly first.

    Example:
        >>> import torch
        >>> out = MattingOutput(alpha=torch.zeros(1, 1, 2, 2), trimap_logits=torch.zeros(1, 3, 2, 2))
        >>> round(tgn_losses(out, {"trimap": torch.full((1, 1, 2, 2), 0.5)})["total"].item(), 4)  # log 3
        1.0986
    """
    trimap = _need(batch, "trimap", "tgn_losses")
    logits = output.trimap_logits
    if logits is None:
        raise ValueError("tgn_losses: the model output has no 'trimap_logits'")
    if logits.shape[-2:] != trimap.shape[-2:]:
        logits = F.interpolate(logits, size=trimap.shape[-2:], mode="bilinear", align_corners=False)
    weights = None if class_weights is None else logits.new_tensor(class_weights)
    ce = trimap_ce_loss(logits, trimap_class_targets(trimap), class_weights=weights)
    return {"total": ce, "ce": ce}


def vitmatte_losses(
    output: MattingOutput,
    batch: Mapping,
    *,
    l1_weight: float = 1.0,
    laplacian_weight: float = 1.0,
    gradient_weight: float = 1.0,
    gp_weight: float = 0.01,
) -> dict:
    """ViTMatte (see the module docstring): ``total = l1_weight (unknown_l1 + known_l1) + laplacian_weight
    laplacian + gradient_weight (gradient + gp_weight * penalty)``.

    Example:
        >>> import torch
        >>> batch = {"alpha": torch.ones(1, 1, 8, 8), "trimap": torch.full((1, 1, 8, 8), 0.5)}
        >>> parts = vitmatte_losses(MattingOutput(alpha=torch.ones(1, 1, 8, 8)), batch)
        >>> parts["total"].item(), parts["unknown_l1"].item()
        (0.0, 0.0)
    """
    alpha_gt, trimap = _need(batch, "alpha", "vitmatte_losses"), _need(batch, "trimap", "vitmatte_losses")
    pred = output.alpha
    unknown = (trimap_class_targets(trimap) == 1).unsqueeze(1)
    gxp, gyp = image_gradients(pred)
    gxt, gyt = image_gradients(alpha_gt)
    parts = {
        "unknown_l1": l1_loss(pred, alpha_gt, unknown) if bool(unknown.any()) else pred.sum() * 0,
        "known_l1": l1_loss(pred, alpha_gt, ~unknown) if bool((~unknown).any()) else pred.sum() * 0,
        "laplacian": laplacian_loss(pred, alpha_gt),
        "gradient": (gxp - gxt).abs().mean() + (gyp - gyt).abs().mean(),
        "penalty": gxp.abs().mean() + gyp.abs().mean(),
    }
    total = (
        l1_weight * (parts["unknown_l1"] + parts["known_l1"])
        + laplacian_weight * parts["laplacian"]
        + gradient_weight * (parts["gradient"] + gp_weight * parts["penalty"])
    )
    return {"total": total, **parts}


EXTRA_RECIPES: dict[str, Callable[..., dict]] = {"tgn": tgn_losses, "vitmatte": vitmatte_losses}


def recipe_names() -> list[str]:
    """Every recipe name :func:`get_recipe` knows."""
    return sorted({**RECIPES, **EXTRA_RECIPES})


def get_recipe(name: str) -> Callable[..., dict]:
    """The recipe called ``name`` (``automatte.losses.RECIPES`` first). Raises ValueError listing the names.

    Example:
        >>> get_recipe("ddc").__name__, get_recipe("tgn").__name__
        ('ddc_losses', 'tgn_losses')
    """
    recipe = RECIPES.get(name) or EXTRA_RECIPES.get(name)
    if recipe is None:
        raise ValueError(f"loss.recipe: unknown recipe {name!r}; known: {', '.join(recipe_names())}")
    return recipe
