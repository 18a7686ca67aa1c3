"""Matting networks, one file per family, registered in :mod:`automatte.models.registry` (public as
:mod:`automatte.registry`).

Every model follows the tensor contract (image (B, 3, H, W) in [0, 1]; trimap (B, 1, H, W) in {0, 0.5, 1};
mask (B, 1, H, W) in [0, 1]; H and W multiples of 32, see :mod:`automatte.infer.padding`) and returns a
:class:`automatte.models.output.MattingOutput`.
"""

from automatte.models.output import MattingOutput
from automatte.models.registry import create_model, list_models, model_info, register_model

__all__ = ["MattingOutput", "create_model", "list_models", "model_info", "register_model"]
