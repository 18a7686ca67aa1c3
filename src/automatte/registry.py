"""The model registry, by its public name: ``automatte.registry.create_model(name)``.

The registry itself is :mod:`automatte.models.registry`, inside the package of the model families it imports
(so that this import circle stays inside one folder); this module only re-exports it.

Example:
    >>> from automatte.registry import list_models
    >>> "aimnet_test" in list_models(include_test=True)  # doctest: +SKIP
    True
"""

from automatte.models.registry import ModelInfo, create_model, list_models, model_info, register_model

__all__ = ["ModelInfo", "register_model", "create_model", "list_models", "model_info"]
