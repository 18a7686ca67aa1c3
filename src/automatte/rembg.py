"""rembg's shapes, automatte's mattes: ``from automatte import remove, new_session`` in place of
``from rembg import remove, new_session``, and the CLI's ``automatte i`` / ``p`` / ``s`` in place of rembg's.

:func:`remove` takes what rembg's takes and gives back the same type: bytes in, PNG bytes out; a PIL image in,
an RGBA PIL image out; a NumPy array in, a uint8 array out ((H, W, 4); (H, W) with ``only_mask``). What differs
is the matte: rembg cuts along a segmentation mask (soft only where its network is unsure); automatte runs its
default pipeline (salient segmenter -> trimap -> closed-form matting -> foreground colours), so hair and soft
edges get a real alpha and the cutout's colours are the estimated foreground (straight, not premultiplied
alpha), with no fringe of the old background.

What each rembg option means here:

====================================  =====================================================================
``alpha_matting``                     automatte always mattes. False: the pipeline's own trimap (an unknown
                                      band of 2 % of the long side around the segmenter's mask). True: the
                                      trimap is drawn from the segmenter's probability as rembg draws it
                                      from its mask, with the three options below, then closed-form matting.
``alpha_matting_foreground_threshold``  sure foreground: probability x 255 above this (default 240).
``alpha_matting_background_threshold``  sure background: probability x 255 below this (default 10).
``alpha_matting_erode_size``          both sure regions are eroded by a square of this many pixels
                                      (default 10). Thresholds that leave no sure foreground or no sure
                                      background (rembg's documentation shows 270) fall back to the
                                      pipeline's own trimap instead of giving an empty cutout.
``only_mask``                         the alpha matte alone, as a grey image ("L" PIL image, (H, W) array).
``post_process_mask``                 rembg's mask clean-up on the alpha (opening with a 3 x 3 ellipse,
                                      Gaussian blur, threshold at 127): a hard 0 / 255 alpha. With
                                      ``alpha_matting`` it cleans the probability before the trimap instead.
``bgcolor``                           (r, g, b) or (r, g, b, a), 0-255: the cutout laid over that colour
                                      ("over" with straight alpha; an opaque colour gives an opaque image).
                                      Ignored with ``only_mask``, as in rembg.
``session``                           a :class:`Session` from :func:`new_session` (default: the shipped
                                      default pipeline, loaded once per process and kept).
``force_return_bytes``                PNG bytes whatever the input type.
``putalpha``                          accepted; automatte's cutouts always carry the alpha as their fourth
                                      channel over unpremultiplied colours (what rembg's ``putalpha`` gives).
====================================  =====================================================================

Any other keyword (rembg's ``sam`` prompts, ``model_path``) is a TypeError naming it. Images come in as RGB:
EXIF orientation is applied to bytes and PIL images (as rembg does); an array is taken as it is, so an OpenCV
BGR array comes back BGRA, in its own channel order, and ``cv2.imwrite`` writes the right colours.

Model names (:func:`new_session`): rembg's general-purpose models (:data:`REMBG_MODELS`: ``u2net``,
``u2netp``, ``silueta``, ``isnet-general-use``, the ``birefnet-*`` family, ``bria-rmbg``, ...) all run
automatte's shipped default pipeline, with a :class:`RembgModelWarning` saying so; rembg models for another task
(:data:`REMBG_OTHER_TASKS`: clothes parsing, prompted SAM, anime, custom ONNX files) are a ValueError, as is an
unknown name. automatte's own names (``default``, ``twostage``, ``twostage-knn``, a shipped model, a checkpoint:
:func:`automatte.api.list_pipelines`) are taken as they are.

Example:
    >>> import io, numpy as np
    >>> from PIL import Image
    >>> from automatte import remove
    >>> photo = np.zeros((48, 64, 3), np.uint8); photo[12:36, 20:44] = (230, 120, 40)
    >>> remove(photo).shape, remove(photo, only_mask=True).dtype
    ((48, 64, 4), dtype('uint8'))
    >>> Image.open(io.BytesIO(remove(Image.fromarray(photo), force_return_bytes=True))).mode
    'RGBA'
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np

__all__ = [
    "REMBG_MODELS",
    "REMBG_OTHER_TASKS",
    "RembgModelWarning",
    "Session",
    "new_session",
    "remove",
    "resolve_model_name",
    "rembg_trimap",
    "post_process",
    "cutout",
    "parse_bgcolor",
]

# rembg's general-purpose background removers: automatte's shipped default pipeline runs in their place
REMBG_MODELS = (
    "u2net",
    "u2netp",
    "u2net_human_seg",
    "silueta",
    "isnet-general-use",
    "birefnet-general",
    "birefnet-general-lite",
    "birefnet-portrait",
    "birefnet-dis",
    "birefnet-hrsod",
    "birefnet-cod",
    "birefnet-massive",
    "bria-rmbg",
    "ben2-base",
)
# rembg models for another task than "the salient object's cutout": no automatte counterpart
REMBG_OTHER_TASKS = {
    "u2net_cloth_seg": "clothes parsing into upper / lower / full body",
    "sam": "Segment Anything, prompted with points or boxes",
    "isnet-anime": "anime characters",
    "u2net_custom": "a custom U2-Net ONNX file",
    "dis_custom": "a custom DIS ONNX file",
    "ben_custom": "a custom BEN ONNX file",
}
_IGNORED_SESSION_OPTIONS = ("providers", "sess_opts")  # ONNX Runtime settings of rembg's sessions


class RembgModelWarning(UserWarning):
    """A rembg model name was given; automatte's shipped default pipeline runs in its place."""


class Session:
    """A loaded automatte pipeline under the name it was asked for (what :func:`new_session` returns).

    Attributes:
        model_name: the name given to :func:`new_session`.
        pipeline: the :class:`automatte.api.Pipeline` that runs.
        note: how the name was resolved (one line).
    """

    def __init__(self, model_name: str, pipeline, note: str):
        self.model_name, self.pipeline, self.note = model_name, pipeline, note

    def __repr__(self) -> str:
        return f"Session({self.model_name!r}, pipeline={self.pipeline.name!r})"

    def predict(self, img, *args, **kwargs) -> list:
        """rembg's ``BaseSession.predict``: a list with one mask, the alpha matte as an "L" PIL image."""
        from PIL import Image

        return [Image.fromarray(cutout(_as_rgb(img)[0], self.pipeline, only_mask=True))]

    def remove(self, data, **kwargs):
        """:func:`remove` with this session (rembg's USAGE.md calls ``session.remove(input, session=session)``)."""
        kwargs["session"] = self
        return remove(data, **kwargs)


_SESSIONS: dict[tuple, Any] = {}
_LOCK = threading.Lock()


def _load(name: str | None, options: dict):
    """The pipeline ``name`` with ``options`` (loaded once per process and kept)."""
    from automatte.api import load_model

    key = (name, tuple(sorted(options.items())))
    with _LOCK:
        if key not in _SESSIONS:
            try:
                _SESSIONS[key] = load_model(name, **options)
            except TypeError as exc:
                raise ValueError(f"model options {sorted(options)}: {exc}") from None
        return _SESSIONS[key]


def resolve_model_name(model_name: str | None) -> tuple[str | None, str]:
    """``(automatte name, note)`` for a rembg or automatte model name (None: the shipped default).

    Raises:
        ValueError: a rembg model for another task, or a name neither rembg nor automatte knows.

    Example:
        >>> resolve_model_name("u2netp")[0] is None, resolve_model_name("twostage-knn")[0]
        (True, 'twostage-knn')
    """
    from automatte.api import list_pipelines

    if model_name is None or model_name in ("", "default"):
        return None, "automatte's shipped default pipeline"
    if model_name in REMBG_MODELS:
        return None, f"rembg model {model_name!r}: automatte runs its shipped default pipeline in its place"
    if model_name in REMBG_OTHER_TASKS:
        raise ValueError(
            f"rembg model {model_name!r} ({REMBG_OTHER_TASKS[model_name]}) has no automatte counterpart; "
            "new_session() (no name) runs automatte's default background remover"
        )
    known = list_pipelines()
    if model_name in known or model_name.lower().endswith((".pt", ".pth", ".safetensors", ".onnx")):
        return model_name, f"automatte pipeline {model_name!r}"
    raise ValueError(
        f"unknown model {model_name!r}: expected a rembg model name ({', '.join(REMBG_MODELS)}) or an automatte "
        f"pipeline ({', '.join(known)}) or a checkpoint file"
    )


def new_session(model_name: str | None = None, *args, **kwargs) -> Session:
    """rembg's ``new_session``: a :class:`Session` holding a loaded automatte pipeline.

    Args:
        model_name: a rembg model name (``"u2net"``, ``"isnet-general-use"``, ``"birefnet-general"``, ...: all
            run automatte's shipped default pipeline, with a :class:`RembgModelWarning`), an automatte pipeline
            name or checkpoint (see the module docstring), or None for the default.
        kwargs: :func:`automatte.api.load_model` options (``device="cuda"``, ``backend="onnx"``,
            ``foreground="blur_fusion"``, ...); rembg's ONNX Runtime ``providers`` and ``sess_opts`` are
            accepted and ignored.

    Raises:
        ValueError: a rembg model for another task, an unknown name, or options the pipeline does not take.

    Example:
        >>> new_session().pipeline.name.startswith("default")
        True
    """
    if args:
        raise TypeError(f"new_session() takes the model name and keyword options, got extra {args!r}")
    options = {k: v for k, v in kwargs.items() if k not in _IGNORED_SESSION_OPTIONS}
    name, note = resolve_model_name(model_name)
    if model_name in REMBG_MODELS:
        warnings.warn(note, RembgModelWarning, stacklevel=2)
    return Session(model_name or "default", _load(name, options), note)


# ------------------------------------------------------------------------------------------ the matte


def parse_bgcolor(bgcolor) -> tuple[int, int, int, int] | None:
    """rembg's ``bgcolor`` as (r, g, b, a): a 3- or 4-sequence of 0-255 integers, or ``"r,g,b[,a]"`` text.

    Example:
        >>> parse_bgcolor((255, 255, 255)), parse_bgcolor("0,177,64,128")
        ((255, 255, 255, 255), (0, 177, 64, 128))
    """
    if bgcolor is None:
        return None
    values = bgcolor.split(",") if isinstance(bgcolor, str) else list(bgcolor)
    try:
        rgba = [int(str(v).strip()) for v in values]
    except ValueError:
        rgba = []
    if len(rgba) == 3:
        rgba.append(255)
    if len(rgba) != 4 or not all(0 <= v <= 255 for v in rgba):
        raise ValueError(f"bgcolor must be (r, g, b) or (r, g, b, a) with values 0..255, got {bgcolor!r}")
    return tuple(rgba)  # type: ignore[return-value]


def post_process(mask: np.ndarray) -> np.ndarray:
    """rembg's ``post_process_mask`` on a (H, W) matte in [0, 1]: opening (3 x 3 ellipse), 5 x 5 Gaussian blur
    (sigma 2), threshold at 127 of 255. Returns a hard (H, W) float32 matte in {0, 1}.

    Example:
        >>> m = np.zeros((12, 12), np.float32); m[2:10, 2:10] = 0.8; m[0, 11] = 1  # a square and a speck
        >>> out = post_process(m); int(out.sum()), float(out[0, 11])
        (44, 0.0)
    """
    import cv2

    m = np.clip(np.rint(np.asarray(mask, np.float32) * 255), 0, 255).astype(np.uint8)
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    m = cv2.GaussianBlur(m, (5, 5), sigmaX=2, sigmaY=2, borderType=cv2.BORDER_DEFAULT)
    return (m >= 127).astype(np.float32)


def rembg_trimap(prob: np.ndarray, foreground: int = 240, background: int = 10, erode: int = 10) -> np.ndarray:
    """The trimap rembg's ``alpha_matting`` draws from a mask, here from a (H, W) probability in [0, 1]:
    sure foreground where ``prob x 255 > foreground``, sure background where ``prob x 255 < background``, each
    eroded by an ``erode`` x ``erode`` square (foreground also from the image border), unknown (0.5) between.

    Example:
        >>> p = np.zeros((5, 12), np.float32); p[:, 6:] = 1
        >>> rembg_trimap(p, erode=3)[2].tolist()
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0, 0.5]
    """
    import cv2

    p = np.asarray(prob, np.float32) * 255
    fg, bg = (p > foreground).astype(np.uint8), (p < background).astype(np.uint8)
    if erode > 0:
        kernel = np.ones((int(erode), int(erode)), np.uint8)
        fg = cv2.erode(fg, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        bg = cv2.erode(bg, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=1)
    trimap = np.full(p.shape, 0.5, np.float32)
    trimap[fg > 0], trimap[bg > 0] = 1.0, 0.0
    return trimap


def _probability(pipeline, image: np.ndarray) -> np.ndarray:
    """The mask rembg would have: the segmenter's probability, else the pipeline's own alpha."""
    if getattr(pipeline, "segmenter", None) is not None:
        return pipeline._segment(image)
    return pipeline(image).alpha


def cutout(
    image: np.ndarray,
    pipeline,
    *,
    alpha_matting: bool = False,
    foreground_threshold: int = 240,
    background_threshold: int = 10,
    erode_size: int = 10,
    only_mask: bool = False,
    post_process_mask: bool = False,
    bgcolor=None,
) -> np.ndarray:
    """What :func:`remove` computes, on an (H, W, 3) float32 image in [0, 1] with a loaded pipeline: an
    (H, W, 4) uint8 cutout, or the (H, W) uint8 matte with ``only_mask`` (options as in the module docstring).

    Example:
        >>> from automatte.api import load_model
        >>> img = np.zeros((32, 48, 3), np.float32); img[8:24, 12:36] = 0.9
        >>> int(cutout(img, load_model(), only_mask=True, post_process_mask=True).max())
        255
    """
    colour = parse_bgcolor(bgcolor)
    matte = None
    if alpha_matting:
        prob = _probability(pipeline, image)
        if post_process_mask:
            prob = post_process(prob)
        trimap = rembg_trimap(prob, foreground_threshold, background_threshold, erode_size)
        if (trimap == 1).any() and (trimap == 0).any():  # else rembg's cutout would be empty or fail
            matte = pipeline(image, trimap=trimap)
    if matte is None:
        matte = pipeline(image)
    alpha = matte.alpha
    if post_process_mask and not alpha_matting:
        alpha = post_process(alpha)
    if only_mask:
        return np.clip(np.rint(alpha * 255), 0, 255).astype(np.uint8)
    fg = matte.foreground if matte.foreground is not None else matte.image
    a = alpha[..., None].astype(np.float32)
    if colour is None:
        rgba = np.concatenate([fg, a], axis=2)
    else:  # "over" with straight alpha: the cutout over the colour, itself of alpha colour[3]
        c, ca = np.asarray(colour[:3], np.float32) / 255, colour[3] / 255
        out_a = a + (1 - a) * ca
        rgb = (a * fg + (1 - a) * ca * c) / np.maximum(out_a, 1e-6)
        rgba = np.concatenate([np.where(out_a > 0, rgb, c), out_a], axis=2)
    return np.clip(np.rint(rgba * 255), 0, 255).astype(np.uint8)


def _as_rgb(data) -> tuple[np.ndarray, str]:
    """(H, W, 3) float32 RGB and the return type (``"bytes"``, ``"pil"``, ``"ndarray"``) of rembg's inputs."""
    from automatte.infer.inputs import as_image

    if isinstance(data, (bytes, bytearray, memoryview)):
        return as_image(bytes(data), name="<bytes>"), "bytes"
    if hasattr(data, "convert") and hasattr(data, "size"):  # PIL
        from PIL import ImageOps

        return as_image(ImageOps.exif_transpose(data), name="<PIL image>"), "pil"
    if isinstance(data, np.ndarray):
        return as_image(data, name="<array>"), "ndarray"
    raise ValueError(f"Input type {type(data)} is not supported: expected bytes, a PIL image or a NumPy array")


def remove(
    data,
    alpha_matting: bool = False,
    alpha_matting_foreground_threshold: int = 240,
    alpha_matting_background_threshold: int = 10,
    alpha_matting_erode_size: int = 10,
    session: Session | None = None,
    only_mask: bool = False,
    post_process_mask: bool = False,
    bgcolor=None,
    *args,
    **kwargs,
):
    """rembg's ``remove`` with automatte's matte: the background of ``data`` removed, in the type it came in.

    Args:
        data: encoded image bytes, a PIL image or a NumPy array (uint8 / uint16 / float in [0, 1]; grey,
            3 or 4 channels).
        alpha_matting, alpha_matting_foreground_threshold, alpha_matting_background_threshold,
        alpha_matting_erode_size, only_mask, post_process_mask, bgcolor: see the module docstring's table.
        session: a :class:`Session` (default: the shipped default pipeline, kept loaded).
        kwargs: ``force_return_bytes`` (PNG bytes whatever the input), ``putalpha`` (accepted).

    Returns:
        bytes in: PNG bytes (RGBA, or grey with ``only_mask``); PIL in: an "RGBA" (or "L") PIL image; array in:
        a uint8 array (H, W, 4) (or (H, W)).

    Raises:
        ValueError: an input type other than those, an image that cannot be read, a bad ``bgcolor``.
        TypeError: a keyword rembg's models take but automatte has no use for (named in the message).

    Example:
        >>> import numpy as np
        >>> photo = np.full((40, 40, 3), 30, np.uint8); photo[10:30, 10:30] = 220
        >>> out = remove(photo, bgcolor=(255, 255, 255, 255))
        >>> out.shape, int(out[..., 3].min())
        ((40, 40, 4), 255)
    """
    force_bytes = bool(kwargs.pop("force_return_bytes", False))
    kwargs.pop("putalpha", None)
    if args or kwargs:
        extra = [repr(a) for a in args] + sorted(kwargs)
        raise TypeError(f"remove() got arguments automatte does not use: {', '.join(extra)}")
    if session is not None and not isinstance(session, Session):
        raise ValueError(f"session must come from automatte.new_session(), got {type(session).__name__}")
    image, kind = _as_rgb(data)
    pipeline = (session or Session("default", _load(None, {}), "")).pipeline
    array = cutout(
        image,
        pipeline,
        alpha_matting=alpha_matting,
        foreground_threshold=alpha_matting_foreground_threshold,
        background_threshold=alpha_matting_background_threshold,
        erode_size=alpha_matting_erode_size,
        only_mask=only_mask,
        post_process_mask=post_process_mask,
        bgcolor=None if only_mask else bgcolor,
    )
    if kind == "bytes" or force_bytes:
        from automatte.io import encode_png

        return encode_png(array)
    if kind == "pil":
        from PIL import Image

        return Image.fromarray(array)  # "L" for a mask, "RGBA" for a cutout
    return array
