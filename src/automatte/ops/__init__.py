"""Matting operations: pure functions on numpy arrays (composition, trimaps, unified semantics,
coarse-mask synthesis, foreground colour estimation)."""

from automatte.ops.composition import composite

__all__ = ["composite"]
