"""The result of one image: :class:`Matte` and its renderings (alpha, rgba, fg, trimap, composite) as
uint8 arrays and PNG bytes, the one place the CLI's files, its stdout and the server's responses come from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from automatte.infer.inputs import parse_background

__all__ = ["Matte", "OUTPUT_KINDS"]

OUTPUT_KINDS = ("alpha", "rgba", "fg", "trimap", "composite")


@dataclass
class Matte:
    """The result of one image.

    Attributes:
        alpha: (H, W) float32 in [0, 1].
        foreground: (H, W, 3) float32 in [0, 1]: estimated foreground colours (None with ``foreground="none"``).
        image: (H, W, 3) float32: the input (for composites).
        trimap: (H, W) float32 in {0, 0.5, 1}: the trimap the pipeline used or predicted, when it has one.
        model: the pipeline's name.
        timings: seconds per stage (``read``, ``segment``, ``trimap``, ``matting``, ``refine``, ``foreground``, ``total``).
    """

    alpha: np.ndarray
    foreground: np.ndarray | None
    image: np.ndarray
    trimap: np.ndarray | None = None
    model: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    def _colours(self) -> np.ndarray:
        return self.foreground if self.foreground is not None else self.image

    def rgba(self) -> np.ndarray:
        """(H, W, 4) uint8 cutout: the foreground colours with alpha as the fourth channel."""
        rgba = np.concatenate([self._colours(), self.alpha[..., None]], axis=2)
        return np.clip(np.rint(rgba * 255.0), 0, 255).astype(np.uint8)

    def composite(self, background: Any = "white") -> np.ndarray:
        """(H, W, 3) uint8: ``alpha F + (1 - alpha) B`` over a colour, an image (fitted), 'blur' or 'checker'."""
        bg = parse_background(background, self.alpha.shape, self.image)
        a = self.alpha[..., None]
        out = a * self._colours() + (1.0 - a) * bg
        return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)

    def trimap_or_derived(self) -> np.ndarray:
        """The pipeline's trimap, else the one alpha implies (:func:`automatte.ops.trimap.trimap_from_soft_alpha`)."""
        from automatte.ops.trimap import trimap_from_soft_alpha

        return self.trimap if self.trimap is not None else trimap_from_soft_alpha(self.alpha)

    def render(self, kind: str, background: Any = "white") -> np.ndarray:
        """One output kind as uint8: ``alpha`` (H, W), ``rgba`` (H, W, 4), ``fg`` (H, W, 3), ``trimap`` (H, W)
        in {0, 128, 255}, ``composite`` (H, W, 3) over ``background``.

        Example:
            >>> import numpy as np
            >>> m = Matte(alpha=np.full((2, 2), 0.5, np.float32), foreground=None, image=np.ones((2, 2, 3), np.float32))
            >>> [m.render(k).shape for k in OUTPUT_KINDS]
            [(2, 2), (2, 2, 4), (2, 2, 3), (2, 2), (2, 2, 3)]
        """
        if kind == "alpha":
            return _to_uint8(self.alpha)
        if kind == "rgba":
            return self.rgba()
        if kind == "fg":
            return _to_uint8(self._colours())
        if kind == "trimap":
            from automatte.ops.trimap import trimap_to_uint8

            return trimap_to_uint8(self.trimap_or_derived())
        if kind == "composite":
            return self.composite(background)
        raise ValueError(f"output kind must be one of {', '.join(OUTPUT_KINDS)}, got {kind!r}")

    def png(self, kind: str, background: Any = "white") -> bytes:
        """:meth:`render` encoded as PNG bytes (the bytes the CLI writes and the server answers)."""
        from automatte.io import encode_png

        return encode_png(self.render(kind, background))


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)
