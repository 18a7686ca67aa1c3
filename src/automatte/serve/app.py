"""The HTTP app of ``automatte serve``: upload a photo, get its alpha matte, cutout or composite back as PNG.

Endpoints (all answers to errors are JSON ``{"detail": "one line"}``):

==================  ========================================================================================
``GET /``           the web page (``static/index.html``: drop a photo, see alpha, cutout and composite)
``GET /health``     ``{"status", "model", "loaded", "device", "running", "waiting", limits...}``
``GET /models``     the served model, the names ``model=`` accepts, the shipped models (role, card summary)
                    and the pipeline names :func:`automatte.api.list_pipelines` knows
``POST /matte``     multipart ``image`` file (+ optional ``trimap`` / ``mask`` files); ``output`` =
                    ``alpha`` | ``rgba`` (default) | ``composite`` | ``fg`` | ``trimap``; ``background`` for
                    composites (``white``, ``#00ff00``, ``green``, ``blur``, ``checker``, ...); ``model``
                    among the allowed names. Parameters come as query or form fields. Answers ``image/png``
                    with ``X-Automatte-Model``, ``X-Automatte-Time`` (seconds), ``X-Automatte-Size`` (WxH).
``POST /matte/all`` the same inputs; JSON with base64 PNGs of ``alpha``, ``rgba`` and ``composite`` from one
                    inference (what the page uses)
``POST /api/remove`` rembg's server call: multipart ``file``; form or query fields ``model`` (a rembg name
                    runs the served model; an automatte name must be allowed), ``a`` (alpha matting), ``af``,
                    ``ab`` (0-255), ``ae`` (>= 0), ``om`` (only mask), ``ppm`` (post-process mask), ``bgc``
                    (``r,g,b,a``), ``extras`` (accepted, unused); answers the PNG :func:`automatte.remove`
                    gives (what each option means: :mod:`automatte.rembg`)
``GET /api/remove`` the same with ``url=`` (http or https) instead of a file: the server fetches the image
                    (at most ``max_upload_bytes``, 20 s)
==================  ========================================================================================

Status codes: 200; 400 a bad parameter (unknown output, model not allowed, bad colour); 413 a body over
``max_upload_bytes`` (checked on ``Content-Length`` first, then counted while reading) or an image over
``max_pixels`` (checked on the file header, before decoding); 415 not multipart, or an upload that is not an
image (PNG/JPEG/WebP/TIFF/BMP); 422 a missing ``image`` field, a truncated image, a hint of the wrong size;
503 the queue is full (with ``Retry-After``) or the model cannot be loaded; 500 an unexpected failure.

Concurrency and memory: a request takes a place before its body is read; at most ``max_concurrency``
requests decode and run inference at once (a semaphore; the work runs in worker threads so the event loop
keeps answering) and at most ``max_queue`` more wait (reading their upload or waiting for the semaphore);
beyond that the answer is 503 at once. So at most ``max_concurrency + max_queue`` uploads are held (the
multipart parser spools files over 1 MB to disk) and at most ``max_concurrency`` images are decoded, each
under ``max_pixels``. Pipelines are loaded once, lazily (the served one at the first request, or at
startup when given loaded), and shared by all requests; other allowed models load on first use and stay.
"""

from __future__ import annotations

import base64
import logging
import math
import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from automatte.io import encode_png

__all__ = ["OUTPUTS", "create_app", "background_server", "encode_png"]

OUTPUTS = ("alpha", "rgba", "composite", "fg", "trimap")
STATIC_DIR = Path(__file__).resolve().parent / "static"
_FIELDS = ("image", "trimap", "mask")
_PARAMS = ("output", "background", "model")
_log = logging.getLogger("automatte.serve")


class _Refusal(Exception):
    """A request refused with ``status`` and a one-line ``detail`` (turned into JSON by the app)."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers


# --------------------------------------------------------------------------------------------- encoding


def _render(matte, output: str, background: str) -> tuple[bytes, dict[str, str]]:
    """The PNG of one output kind (:meth:`Matte.png`: the bytes ``automatte predict`` writes and
    ``automatte.matte(...).png`` gives) and the extra headers it comes with."""
    extra = {}
    if output == "composite":
        extra = {"X-Automatte-Background": background}
    elif output == "trimap":
        extra = {"X-Automatte-Trimap": "pipeline" if matte.trimap is not None else "derived"}
    return matte.png(output, background), extra


def _check_background(value: str) -> str:
    """A background the page or a client may ask for: 'blur', 'checker' or a colour (never a server path)."""
    from PIL import ImageColor

    text = value.strip()
    if text.lower() in ("blur", "checker", "green"):
        return text.lower()
    try:
        r, g, b = ImageColor.getrgb(text)[:3]
    except ValueError:
        raise _Refusal(
            400, f"background {value!r}: expected a colour (name, #rrggbb, rgb(r,g,b)), 'blur' or 'checker'"
        ) from None
    return f"#{r:02x}{g:02x}{b:02x}"


def _safe_stem(filename: str | None) -> str:
    stem = Path(filename or "image").stem
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:60].strip("._") or "image"


# --------------------------------------------------------------------------------------------- limits


class _Limiter:
    """Admission (running + waiting <= max_concurrency + max_queue) and a semaphore for the running part.

    ``admitted`` and ``running`` are changed only on the event loop's thread, so they need no lock.
    """

    def __init__(self, max_concurrency: int, max_queue: int):
        import anyio

        self.max_concurrency, self.max_queue = max_concurrency, max_queue
        self.semaphore = anyio.Semaphore(max_concurrency)
        self.admitted = 0
        self.running = 0
        self.mean_seconds = 1.0  # moving average of one inference, for Retry-After

    @property
    def waiting(self) -> int:
        return self.admitted - self.running

    def admit(self) -> None:
        if self.admitted >= self.max_concurrency + self.max_queue:
            wait = self.mean_seconds * (self.waiting + 1) / self.max_concurrency
            retry = max(1, min(60, math.ceil(wait)))
            raise _Refusal(
                503,
                f"server busy: {self.running} running and {self.waiting} waiting (max_queue "
                f"{self.max_queue}); retry in {retry} s",
                {"Retry-After": str(retry)},
            )
        self.admitted += 1

    def leave(self) -> None:
        self.admitted -= 1

    async def run(self, func: Callable[[], Any]) -> Any:
        """Run ``func`` in a worker thread once a place among ``max_concurrency`` is free."""
        import anyio

        async with self.semaphore:
            self.running += 1
            t = time.perf_counter()
            try:
                return await anyio.to_thread.run_sync(func)
            finally:
                self.running -= 1
                self.mean_seconds = 0.8 * self.mean_seconds + 0.2 * (time.perf_counter() - t)


def _size(n: int) -> str:
    """A byte count for messages: '20 MB', '1.5 KB', '900 bytes'."""
    if n >= 2**20:
        return f"{n / 2**20:.3g} MB"
    return f"{n / 2**10:.3g} KB" if n >= 2**10 else f"{n} bytes"


async def _read_form(request, max_bytes: int, file_field: str = "image", max_fields: int = len(_PARAMS) + 2):
    """The multipart form of ``request``, refusing bodies over ``max_bytes`` (header first, then counted)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise _Refusal(
            415,
            f"expected multipart/form-data with an {file_field!r} file field, got {content_type or 'no content type'!r}",
        )
    limit = f"the upload limit of {_size(max_bytes)} (max_upload_bytes)"
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > max_bytes:
        raise _Refusal(413, f"upload of {_size(int(length))} is over {limit}")
    seen = 0
    receive = request.receive

    async def counting_receive():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > max_bytes:
                raise _Refusal(413, f"upload is over {limit}")
        return message

    counted = Request(request.scope, counting_receive)
    return await counted.form(max_files=len(_FIELDS), max_fields=max_fields)


# --------------------------------------------------------------------------------------------- models


class _Models:
    """Pipelines by name: the served one and the allowed extras, each loaded once (lazily) and shared."""

    def __init__(self, name: str, pipeline, device: str, options: dict, allowed: Iterable[str]):
        self.name, self.device, self.options = name, device, dict(options)
        self.allowed = list(dict.fromkeys([name, *allowed]))
        self.loaded: dict[str, Any] = {} if pipeline is None else {name: pipeline}
        self.errors: dict[str, str] = {}
        self._locks: dict[str, threading.Lock] = {n: threading.Lock() for n in self.allowed}

    def check(self, name: str | None) -> str:
        name = name or self.name
        if name not in self.allowed:
            raise _Refusal(400, f"model {name!r} is not served here; allowed: {', '.join(self.allowed)}")
        return name

    def get(self, name: str):
        """The pipeline ``name`` (blocking: call from a worker thread)."""
        from automatte.api import load_model

        if name in self.loaded:
            return self.loaded[name]
        with self._locks[name]:
            if name not in self.loaded:
                try:
                    self.loaded[name] = load_model(
                        None if name == "default" else name, device=self.device, **self.options
                    )
                except Exception as exc:  # any load failure is reported the same way
                    if not isinstance(exc, (ValueError, FileNotFoundError)):
                        _log.exception("automatte serve: loading model %r failed", name)
                    self.errors[name] = " ".join(str(exc).split())
                    raise _Refusal(503, f"model {name!r} could not be loaded: {self.errors[name]}") from None
                self.errors.pop(name, None)
        return self.loaded[name]


# --------------------------------------------------------------------------------------------- the work


def _decode_upload(data: bytes, filename: str, kind: str, max_pixels: int, shape=None) -> np.ndarray:
    from automatte.io import ImageError, read_alpha, read_image, read_trimap

    try:
        if kind == "image":
            return read_image(data, max_pixels=max_pixels, name=filename)
        reader = read_trimap if kind == "trimap" else read_alpha
        return reader(data, shape=shape, max_pixels=max_pixels, name=filename)
    except ImageError as exc:
        problem = exc.problem
        if "(max_pixels)" in problem:
            raise _Refusal(413, f"{kind} {filename}: {problem}") from None
        status = 415 if problem.startswith("not a recognised image") else 422
        raise _Refusal(status, f"{kind} {filename}: {problem}") from None


def _matte_upload(models: _Models, model: str, uploads: dict[str, tuple[bytes, str]], max_pixels: int):
    """Decode the uploads and run the pipeline (in a worker thread); returns (Matte, seconds)."""
    pipeline = models.get(model)  # the first request of a model loads it (not counted in the time)
    t0 = time.perf_counter()
    data, filename = uploads["image"]
    image = _decode_upload(data, filename, "image", max_pixels)
    hints = {}
    for kind in ("trimap", "mask"):
        if kind in uploads:
            hints[kind] = _decode_upload(*uploads[kind], kind, max_pixels, shape=image.shape[:2])
    try:
        matte = pipeline(image, name=filename, **hints)
    except ValueError as exc:
        raise _Refusal(422, f"{filename}: {' '.join(str(exc).split())}") from None
    return matte, time.perf_counter() - t0


# --------------------------------------------------------------------------------------------- rembg's call

_REMBG_FIELDS = ("model", "a", "af", "ab", "ae", "om", "ppm", "bgc", "extras")
_TRUE, _FALSE = ("true", "1", "yes", "on", "t", "y"), ("false", "0", "no", "off", "f", "n", "")


def _rembg_options(get: Callable[[str], str | None], models: _Models) -> tuple[str, dict]:
    """``(model, options of automatte.rembg.cutout)`` from rembg's ``/api/remove`` fields (``get(name)``)."""
    from automatte.rembg import parse_bgcolor, resolve_model_name

    def flag(key: str) -> bool:
        text = (get(key) or "").strip().lower()
        if text not in _TRUE + _FALSE:
            raise _Refusal(400, f"{key}={get(key)!r}: expected true or false")
        return text in _TRUE

    def number(key: str, default: int, high: int | None) -> int:
        text = get(key)
        try:
            value = default if text in (None, "") else int(text)
        except ValueError:
            value = -1
        if value < 0 or (high is not None and value > high):
            raise _Refusal(400, f"{key}={text!r}: expected an integer in 0..{high if high is not None else 'inf'}")
        return value

    name = get("model") or None
    try:
        resolved, _ = resolve_model_name(name)
        bgcolor = parse_bgcolor(get("bgc") or None)
    except ValueError as exc:
        raise _Refusal(400, " ".join(str(exc).split())) from None
    chosen = models.name if resolved is None else models.check(resolved)
    only_mask = flag("om")
    options = {
        "alpha_matting": flag("a"),
        "foreground_threshold": number("af", 240, 255),
        "background_threshold": number("ab", 10, 255),
        "erode_size": number("ae", 10, None),
        "only_mask": only_mask,
        "post_process_mask": flag("ppm"),
        "bgcolor": None if only_mask else bgcolor,
    }
    return chosen, options


def _fetch(url: str, max_bytes: int) -> bytes:
    """The body at an http(s) ``url``, at most ``max_bytes`` (413 above), in 20 s (blocking)."""
    import urllib.error
    import urllib.request
    from urllib.parse import urlsplit

    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise _Refusal(400, f"url {url!r}: expected an http:// or https:// address")
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "automatte"}), timeout=20) as r:
            data = r.read(max_bytes + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise _Refusal(400, f"url {url!r}: could not fetch it ({' '.join(str(exc).split())})") from None
    if len(data) > max_bytes:
        raise _Refusal(413, f"url {url!r}: the image is over the upload limit of {_size(max_bytes)}")
    return data


def _headers(matte, seconds: float) -> dict[str, str]:
    h, w = matte.alpha.shape
    stages = ", ".join(f"{k};dur={v * 1000:.1f}" for k, v in matte.timings.items() if k != "total")
    return {
        "X-Automatte-Model": str(matte.model),
        "X-Automatte-Time": f"{seconds:.3f}",
        "X-Automatte-Size": f"{w}x{h}",
        "Server-Timing": stages,
        "Cache-Control": "no-store",
    }


# --------------------------------------------------------------------------------------------- the app


def create_app(
    model: str | None = None,
    *,
    device: str = "cpu",
    max_upload_bytes: int = 20 * 2**20,
    max_pixels: int = 40_000_000,
    max_concurrency: int = 2,
    max_queue: int = 32,
    pipeline_options: dict | None = None,
    pipeline: Any = None,
    allowed_models: Iterable[str] | None = None,
):
    """The FastAPI app of ``automatte serve`` (see the module docstring for endpoints and limits).

    Args:
        model: the served model (a name or path for :func:`automatte.api.load_model`; None: the shipped
            default). Loaded at the first request that needs it; a failure answers 503 with the reason.
        device: where networks run (``"cpu"``, ``"cuda"``).
        max_upload_bytes: largest request body; larger ones get 413.
        max_pixels: largest width x height of an upload; larger ones get 413 before decoding.
        max_concurrency: inferences running at once.
        max_queue: requests waiting beyond those; more get 503 with ``Retry-After``.
        pipeline_options: keyword options of ``load_model`` (e.g. ``{"foreground": "blur_fusion"}``).
        pipeline: an already loaded pipeline (anything called as ``pipeline(image, trimap=, mask=, name=)``
            returning a :class:`automatte.api.Matte`) served as ``model`` (default: its ``name``).
        allowed_models: other names a request may pick with ``model=`` (loaded on first use, then kept).
            Default: the shipped models. Paths are never taken from requests.

    Returns:
        A ``fastapi.FastAPI`` application (run it with uvicorn, or ``automatte serve``).

    Example:
        >>> from fastapi.testclient import TestClient
        >>> app = create_app("cf")
        >>> r = TestClient(app).get("/health")
        >>> r.status_code, r.json()["model"], r.json()["loaded"]
        (200, 'cf', False)
    """
    limits = {"max_upload_bytes": max_upload_bytes, "max_pixels": max_pixels, "max_concurrency": max_concurrency,
              "max_queue": max_queue}  # fmt: skip
    for label, value in limits.items():
        low = 0 if label == "max_queue" else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{label} must be an integer >= {low}, got {value!r}")
    name = str(model) if model is not None else str(getattr(pipeline, "name", None) or "default")
    if allowed_models is None:
        from automatte.shipped import list_shipped

        try:
            allowed_models = [m.name for m in list_shipped()]
        except ValueError:
            allowed_models = []
    ctx = _Context(_Models(name, pipeline, device, pipeline_options or {}, allowed_models),
                   _Limiter(max_concurrency, max_queue), device, limits)  # fmt: skip
    app = FastAPI(
        title="automatte",
        summary="Automatic natural image matting: photo in, alpha matte and cutout out.",
        version=_version(),
    )
    app.state.models, app.state.limiter = ctx.models, ctx.limiter

    @app.exception_handler(_Refusal)
    async def refused(request: Request, exc: _Refusal):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)

    _add_info_routes(app, ctx)
    _add_matte_routes(app, ctx)
    _add_rembg_routes(app, ctx)

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception):
        _log.exception("automatte serve: %s %s failed", request.method, request.url.path)
        return JSONResponse(
            {"detail": f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}"}, status_code=500
        )

    return app


class _Context:
    """What the routes share: the models, the admission limiter, the device and the limits."""

    def __init__(self, models: _Models, limiter: _Limiter, device: str, limits: dict):
        self.models, self.limiter, self.device, self.limits = models, limiter, device, limits


def _add_info_routes(app, ctx: _Context) -> None:
    """``/`` (the page), ``/static``, ``/health`` and ``/models``."""
    models, limiter = ctx.models, ctx.limiter

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/health")
    async def health():
        """Liveness, the served model and whether it is loaded, the current load and the limits."""
        body = {
            "status": "ok",
            "model": models.name,
            "loaded": models.name in models.loaded,
            "device": ctx.device,
            "running": limiter.running,
            "waiting": limiter.waiting,
            **ctx.limits,
        }
        if models.name in models.errors:
            body["error"] = models.errors[models.name]
        return body

    @app.get("/models")
    async def list_models():
        """The served model, the names ``model=`` accepts, the shipped models and the pipeline names."""
        from automatte.api import list_pipelines
        from automatte.shipped import list_shipped

        body: dict[str, Any] = {"model": models.name, "allowed": models.allowed, "loaded": list(models.loaded)}
        try:
            body["shipped"] = [
                {"name": m.name, "role": m.role, "arch": m.arch, "default": m.default, "card": _card_summary(m.card)}
                for m in list_shipped()
            ]
            body["pipelines"] = list_pipelines()
        except ValueError as exc:
            body["shipped"], body["pipelines"], body["error"] = [], [], " ".join(str(exc).split())
        return body


def _multipart_schema(allowed: list[str]) -> dict:
    """The OpenAPI request body of ``/matte`` and ``/matte/all``."""
    binary = {"type": "string", "format": "binary"}
    properties = {
        "image": {**binary, "description": "the photo (PNG/JPEG/WebP/TIFF/BMP)"},
        "trimap": {**binary, "description": "optional trimap (0/128/255)"},
        "mask": {**binary, "description": "optional coarse mask (grey)"},
        "output": {"type": "string", "enum": list(OUTPUTS), "default": "rgba"},
        "background": {"type": "string", "default": "white", "description": "colour, 'blur' or 'checker'"},
        "model": {"type": "string", "enum": allowed},
    }
    schema = {"type": "object", "required": ["image"], "properties": properties}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


async def _matte_request(ctx: _Context, request: Request, finish: Callable[[Any, str, str], Any]):
    """Admission, upload and parameters, then (in a worker thread, within ``max_concurrency``) decoding,
    inference and ``finish(matte, output, background)``; returns (matte, seconds, stem, finished)."""
    models, limiter = ctx.models, ctx.limiter
    limiter.admit()
    try:
        form = await _read_form(request, ctx.limits["max_upload_bytes"])
        try:
            params = {k: str(form[k]) if k in form else request.query_params.get(k) for k in _PARAMS}
            output = (params["output"] or "rgba").lower()
            if output not in OUTPUTS:
                raise _Refusal(400, f"output {params['output']!r}: expected one of {', '.join(OUTPUTS)}")
            background = _check_background(params["background"] or "white")
            chosen = models.check(params["model"])
            uploads = {}
            for kind in _FIELDS:
                item = form.get(kind)
                if item is None or isinstance(item, str):
                    if kind == "image":
                        raise _Refusal(422, "missing the 'image' file field (multipart/form-data)")
                    continue
                uploads[kind] = (await item.read(), item.filename or kind)
        finally:
            await form.close()

        def work():
            matte, seconds = _matte_upload(models, chosen, uploads, ctx.limits["max_pixels"])
            return matte, seconds, finish(matte, output, background)

        matte, seconds, finished = await limiter.run(work)
    finally:
        limiter.leave()
    return matte, seconds, _safe_stem(uploads["image"][1]), finished


def _add_matte_routes(app, ctx: _Context) -> None:
    """``POST /matte`` (one PNG) and ``POST /matte/all`` (JSON with base64 PNGs)."""
    multipart = _multipart_schema(ctx.models.allowed)

    @app.post(
        "/matte",
        openapi_extra=multipart,
        response_class=Response,
        responses={200: {"content": {"image/png": {}}, "description": "the requested PNG"}},
    )
    async def matte_png(request: Request):
        """Matte the uploaded ``image``; answer one PNG (``output``: alpha, rgba, composite, fg or trimap)."""

        def finish(matte, output, background):
            png, extra = _render(matte, output, background)
            return output, png, extra

        matte, seconds, stem, (output, png, extra) = await _matte_request(ctx, request, finish)
        headers = {
            **_headers(matte, seconds),
            **extra,
            "Content-Disposition": f'inline; filename="{stem}_{output}.png"',
        }
        return Response(png, media_type="image/png", headers=headers)

    @app.post("/matte/all", openapi_extra=multipart)
    async def matte_all(request: Request):
        """Matte the uploaded ``image`` once; JSON with base64 PNGs of ``alpha``, ``rgba`` and ``composite``."""

        def finish(matte, output, background):
            return background, {
                k: base64.b64encode(_render(matte, k, background)[0]).decode("ascii")
                for k in ("alpha", "rgba", "composite")
            }

        matte, seconds, stem, (background, images) = await _matte_request(ctx, request, finish)
        h, w = matte.alpha.shape
        body = {
            "model": matte.model,
            "width": w,
            "height": h,
            "time": round(seconds, 4),
            "timings": {k: round(v, 4) for k, v in matte.timings.items()},
            "background": background,
            "name": stem,
            "media_type": "image/png",
            **images,
        }
        return JSONResponse(body, headers=_headers(matte, seconds))


async def _rembg_remove(ctx: _Context, read: Callable[[], Any]):
    """rembg's ``/api/remove``: admission, then ``read()`` (async: ``(get, data, filename)``, ``get(field)``
    a field's text or None), then (in a worker thread, within ``max_concurrency``) decoding and the cutout."""
    models, limiter = ctx.models, ctx.limiter
    limiter.admit()
    try:
        get, data, filename = await read()
        chosen, options = _rembg_options(get, models)

        def work():
            from automatte.rembg import cutout

            pipeline = models.get(chosen)
            t0 = time.perf_counter()
            image = _decode_upload(data, filename, "image", ctx.limits["max_pixels"])
            try:
                array = cutout(image, pipeline, **options)
            except ValueError as exc:
                raise _Refusal(422, f"{filename}: {' '.join(str(exc).split())}") from None
            return encode_png(array), time.perf_counter() - t0, getattr(pipeline, "name", chosen)

        png, seconds, served = await limiter.run(work)
    finally:
        limiter.leave()
    headers = {"X-Automatte-Model": str(served), "X-Automatte-Time": f"{seconds:.3f}", "Cache-Control": "no-store"}
    return Response(png, media_type="image/png", headers=headers)


def _add_rembg_routes(app, ctx: _Context) -> None:
    """rembg's ``GET /api/remove?url=`` and ``POST /api/remove`` (multipart ``file``)."""
    max_upload_bytes = ctx.limits["max_upload_bytes"]
    rembg_query = {
        "parameters": [
            {"name": k, "in": "query", "required": False, "schema": {"type": "string"}} for k in _REMBG_FIELDS
        ]
    }

    @app.get("/api/remove", response_class=Response, openapi_extra=rembg_query)
    async def api_remove_url(request: Request, url: str):
        """rembg's call with ``url=``: the image at that address, its background removed (PNG)."""

        async def read():
            import anyio

            data = await anyio.to_thread.run_sync(_fetch, url, max_upload_bytes)
            return request.query_params.get, data, url.rsplit("/", 1)[-1] or "image"

        return await _rembg_remove(ctx, read)

    @app.post("/api/remove", response_class=Response, openapi_extra=rembg_query)
    async def api_remove(request: Request):
        """rembg's call: the multipart ``file``, its background removed (PNG; fields as rembg's server)."""

        async def read():
            form = await _read_form(request, max_upload_bytes, "file", len(_REMBG_FIELDS) + 2)
            try:
                fields = {k: form[k] for k in _REMBG_FIELDS if isinstance(form.get(k), str)}
                item = form.get("file")
                if item is None or isinstance(item, str):
                    raise _Refusal(422, "missing the 'file' field (multipart/form-data), as rembg's /api/remove takes")
                data, filename = await item.read(), item.filename or "file"
            finally:
                await form.close()
            return (lambda k: fields.get(k, request.query_params.get(k))), data, filename

        return await _rembg_remove(ctx, read)


def _card_summary(card: dict) -> dict:
    """The short fields of a model card (the resolved config and the command are left to ``automatte models``)."""
    out = {}
    for key, value in card.items():
        if key in ("config", "command"):
            continue
        if isinstance(value, str):
            out[key] = value if len(value) <= 200 else value[:197] + "..."
        elif isinstance(value, (int, float, bool)) or value is None:
            out[key] = value
        elif isinstance(value, dict) and all(isinstance(v, (int, float, str, bool)) for v in value.values()):
            out[key] = value
    return out


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("automatte")
    except Exception:  # not installed (running from a checkout)
        return "0"


# --------------------------------------------------------------------------------------------- running


@contextmanager
def background_server(app, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> Iterator[str]:
    """Serve ``app`` with uvicorn in a background thread; yields its base URL and stops it on exit.

    ``port=0`` picks a free port (the socket is bound here, so there is no race). For tests and notebooks.

    Example:
        >>> import json, urllib.request
        >>> with background_server(create_app("cf")) as url:
        ...     json.load(urllib.request.urlopen(url + "/health"))["status"]
        'ok'
    """
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="automatte-serve", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on {host}:{sock.getsockname()[1]}")
            time.sleep(0.02)
        bound = sock.getsockname()[1]
        yield f"http://{'[' + host + ']' if ':' in host else host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
