"""automatte: automatic natural image matting.

Photo in, alpha matte, foreground colours and cutout out; plus the models, losses, training paradigms,
data synthesis and evaluation of five matting papers (see README).

Quick start::

    import automatte
    m = automatte.matte("photo.jpg")            # the shipped default model, no network access
    automatte.write_image("cutout.png", m.rgba())
    automatte.write_image("on_blur.jpg", m.composite("blur"))

Example:
    >>> import numpy as np, automatte
    >>> gt = np.zeros((8, 8)); gt[2:6, 2:6] = 1
    >>> automatte.metrics.sad(gt, gt)
    0.0
"""

__version__ = "0.1.0"

from automatte import io, ops  # noqa: E402  (the public sub-packages; `metrics` on first use, below)
from automatte.api import Matte, Pipeline, list_pipelines, load_model, matte  # noqa: E402
from automatte.io import read_alpha, read_image, read_trimap, write_alpha, write_image  # noqa: E402
from automatte.rembg import new_session, remove  # noqa: E402  (rembg's shapes: `from automatte import remove`)

__all__ = [
    "__version__",
    "matte",
    "load_model",
    "list_pipelines",
    "Matte",
    "Pipeline",
    "io",
    "metrics",
    "ops",
    "read_image",
    "read_alpha",
    "read_trimap",
    "write_image",
    "write_alpha",
    "remove",
    "new_session",
]


def __getattr__(name: str):
    """``automatte.metrics`` is imported on first use: it loads scipy.ndimage (about 0.3 s), which matting a photo
    does not need, so ``automatte photo.jpg``'s cold start does not pay it (issue 31)."""
    if name == "metrics":
        import importlib

        return importlib.import_module("automatte.metrics")
    raise AttributeError(f"module 'automatte' has no attribute {name!r}")
