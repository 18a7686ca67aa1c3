"""What every model returns: a small dataclass with ``alpha`` and named extras (STYLE habit 3)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from torch import Tensor

__all__ = ["MattingOutput"]


@dataclass
class MattingOutput:
    """Predictions of a matting network. Only ``alpha`` is always present.

    Attributes:
        alpha: (B, 1, H, W) final alpha in [0, 1], at the input size.
        trimap_logits: (B, 3, h, w) 3-class logits (background / transition / foreground): AIM's unified
            representation, PP-Matting's semantic context branch, TGN's trimap.
        detail: (B, 1, H, W) in [0, 1]: the detail / transition-region alpha (AIM's matting decoder,
            PP-Matting's high-resolution detail branch).
        coarse_alpha: (B, 1, H, W) in [0, 1]: a first-stage alpha refined later (DIM encoder-decoder stage,
            SPAMattNet coarse output).
        features: encoder stage features, shallow to deep (for PPID distillation).
        extras: anything else a loss needs, by name.
    """

    alpha: Tensor
    trimap_logits: Tensor | None = None
    detail: Tensor | None = None
    coarse_alpha: Tensor | None = None
    features: tuple[Tensor, ...] = ()
    extras: dict[str, Tensor] = field(default_factory=dict)

    def tensors(self) -> dict[str, Tensor]:
        """Every tensor of the output by name (``features.0``, ``extras.name`` for the nested ones)."""
        out: dict[str, Tensor] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Tensor):
                out[f.name] = value
            elif f.name == "features":
                out.update({f"features.{i}": t for i, t in enumerate(value)})
            elif f.name == "extras":
                out.update({f"extras.{k}": t for k, t in value.items() if isinstance(t, Tensor)})
        return out
