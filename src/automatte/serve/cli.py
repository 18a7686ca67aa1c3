"""``automatte serve [--host 127.0.0.1] [--port 8000] [--model NAME] ...``: the HTTP API and its web page.

The model is loaded before the server starts (``--lazy`` defers it to the first request), so a missing
model fails at once with one line on stderr (exit status 2) instead of on the first upload.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``serve`` arguments (for a sub-parser of ``automatte``).

    Example:
        >>> args = add_arguments(argparse.ArgumentParser()).parse_args(["--port", "9000"])
        >>> args.host, args.port, args.model, args.max_upload_mb
        ('127.0.0.1', 9000, None, 20.0)
    """
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--model", default=None, help="model name or checkpoint (default: the shipped default model)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    parser.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "torch", "onnx"],
        help="network runtime (default auto: the shipped segmenter on ONNX Runtime on the CPU, the rest on PyTorch)",
    )
    parser.add_argument(
        "--allow-model",
        dest="allow",
        action="append",
        default=None,
        metavar="NAME",
        help="another model a request may pick with model=NAME (repeatable; default: the shipped models)",
    )
    parser.add_argument("--max-upload-mb", type=float, default=20.0, help="largest upload in MB (default 20)")
    parser.add_argument("--max-pixels", type=int, default=40_000_000, help="largest image in pixels (default 40000000)")
    parser.add_argument("--max-concurrency", type=int, default=2, help="inferences at once (default 2)")
    parser.add_argument(
        "--max-queue", type=int, default=32, help="requests waiting beyond those before 503 (default 32)"
    )
    parser.add_argument("--lazy", action="store_true", help="load the model at the first request, not at startup")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    return parser


def run(args: argparse.Namespace) -> int:
    """Start the server with parsed arguments (blocks until interrupted); user errors raise ValueError."""
    import uvicorn

    from automatte.serve.app import create_app

    if not 1 <= args.port <= 65535:
        raise ValueError(f"--port must be in 1..65535, got {args.port}")
    if args.max_upload_mb <= 0:
        raise ValueError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    options = {"backend": args.backend} if args.backend != "auto" else {}
    pipeline = None
    if not args.lazy:
        from automatte.api import load_model

        pipeline = load_model(args.model, device=args.device, **options)
    app = create_app(
        getattr(pipeline, "name", None) or args.model,
        device=args.device, max_upload_bytes=int(args.max_upload_mb * 2**20), max_pixels=args.max_pixels,
        max_concurrency=args.max_concurrency, max_queue=args.max_queue, pipeline_options=options,
        pipeline=pipeline, allowed_models=args.allow,
    )  # fmt: skip
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"automatte serve: model {app.state.models.name} on http://{shown}:{args.port}/ (Ctrl+C to stop)",
        file=sys.stderr,
    )
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("automatte serve: note: listening beyond this machine; the API has no authentication", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
