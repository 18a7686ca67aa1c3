"""Loss recipes by name for the trainer: :data:`automatte.losses.RECIPES`."""

from __future__ import annotations

from collections.abc import Callable

from automatte.losses import RECIPES

__all__ = ["get_recipe", "recipe_names"]


def recipe_names() -> list[str]:
    """Every recipe name :func:`get_recipe` knows."""
    return sorted(RECIPES)


def get_recipe(name: str) -> Callable[..., dict]:
    """The recipe called ``name``. Raises ValueError listing the names.

    Example:
        >>> get_recipe("ddc").__name__, get_recipe("tgn").__name__
        ('ddc_losses', 'tgn_losses')
    """
    recipe = RECIPES.get(name)
    if recipe is None:
        raise ValueError(f"loss.recipe: unknown recipe {name!r}; known: {', '.join(recipe_names())}")
    return recipe
