"""rembg's commands on automatte's mattes: ``automatte i``, ``automatte p`` and ``automatte s``.

=====================================  ================================================================
``automatte i [OPTIONS] [IN] [OUT]``   one file (``-`` or nothing: stdin / stdout) -> a PNG cutout
``automatte p [OPTIONS] IN_DIR OUT_DIR``  every image under IN_DIR -> OUT_DIR/<same sub-path>.png; outputs
                                       that exist are skipped (a re-run resumes); ``-w/--watch`` keeps
                                       watching IN_DIR for new or changed images (a file is taken once its
                                       size and time stay the same for one ``--interval``) until Ctrl+C or a
                                       file ``stop.txt`` appears in IN_DIR (removed, as rembg does);
                                       ``-d/--delete-input`` removes each input once its output is written
``automatte s [-p 7000] [-h HOST]``    the server of ``automatte serve`` on rembg's port, with rembg's
                                       ``POST /api/remove`` (multipart ``file``) and ``GET /api/remove?url=``
=====================================  ================================================================

Options of ``i`` and ``p`` as rembg's: ``-m/--model`` (a rembg name runs automatte's default pipeline;
see :mod:`automatte.rembg`), ``-a/--alpha-matting``, ``-af``, ``-ab``, ``-ae``, ``-om/--only-mask``,
``-ppm/--post-process-mask``, ``-bgc/--bgcolor R G B A``, ``-x/--extras JSON`` (options of
:func:`automatte.api.load_model`, e.g. ``'{"foreground": "blur_fusion"}'``). ``s`` takes ``-p/--port``
(7000), ``-h/--host`` (127.0.0.1: this machine only; rembg's 0.0.0.0 listens on every interface),
``-l/--log_level`` and ``-t/--threads`` (inferences at once). Every file is written atomically; a folder run
goes on past unreadable files and lists them at the end (exit status 1).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

__all__ = ["add_commands"]


def _add_remove_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--model", default=None, help="rembg or automatte model name (default: automatte's default)")
    p.add_argument(
        "-a", "--alpha-matting", action="store_true", help="trimap from rembg's thresholds (see -af/-ab/-ae)"
    )
    p.add_argument("-af", "--alpha-matting-foreground-threshold", type=int, default=240, help="trimap fg threshold")
    p.add_argument("-ab", "--alpha-matting-background-threshold", type=int, default=10, help="trimap bg threshold")
    p.add_argument("-ae", "--alpha-matting-erode-size", type=int, default=10, help="erode size (px)")
    p.add_argument("-om", "--only-mask", action="store_true", help="write the alpha matte alone")
    p.add_argument("-ppm", "--post-process-mask", action="store_true", help="rembg's clean-up: a hard alpha")
    p.add_argument("-bgc", "--bgcolor", type=int, nargs=4, default=None, metavar=("R", "G", "B", "A"))
    p.add_argument("-x", "--extras", default=None, help="load_model options as a JSON object")


def _session_and_options(args: argparse.Namespace):
    """The session (loaded once) and the keyword options of :func:`automatte.rembg.remove` from ``args``."""
    from automatte.rembg import RembgModelWarning, new_session

    extras = {}
    if args.extras:
        try:
            extras = json.loads(args.extras)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--extras {args.extras!r}: not JSON ({exc})") from None
        if not isinstance(extras, dict):
            raise ValueError(f"--extras {args.extras!r}: expected a JSON object of load_model options")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RembgModelWarning)
        session = new_session(args.model, **extras)
    for w in caught:  # the model note in one line, not the warnings module's two
        if issubclass(w.category, RembgModelWarning):
            print(f"automatte {args.command}: note: {w.message}", file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    options = {
        "alpha_matting": args.alpha_matting,
        "alpha_matting_foreground_threshold": args.alpha_matting_foreground_threshold,
        "alpha_matting_background_threshold": args.alpha_matting_background_threshold,
        "alpha_matting_erode_size": args.alpha_matting_erode_size,
        "only_mask": args.only_mask,
        "post_process_mask": args.post_process_mask,
        "bgcolor": tuple(args.bgcolor) if args.bgcolor else None,
        "session": session,
    }
    return session, options


def _cmd_i(args: argparse.Namespace) -> int:
    from automatte.io import atomic_write
    from automatte.rembg import remove

    if args.input == "-":
        data, name = sys.stdin.buffer.read(), "<stdin>"
    else:
        path = Path(args.input)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        data, name = path.read_bytes(), str(path)
    if not data:
        raise ValueError(f"{name}: empty input")
    _, options = _session_and_options(args)
    try:
        png = remove(data, **options)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    if args.output == "-":
        sys.stdout.buffer.write(png)
        sys.stdout.buffer.flush()
    else:
        with atomic_write(args.output) as tmp:
            tmp.write_bytes(png)
    return 0


def _target(source: Path, in_dir: Path, out_dir: Path) -> Path:
    return (out_dir / source.relative_to(in_dir)).with_suffix(".png")


def _process(source: Path, target: Path, options: dict, delete_input: bool, overwrite: bool) -> None:
    from automatte.io import atomic_write
    from automatte.rembg import remove

    try:
        png = remove(source.read_bytes(), **options)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
    with atomic_write(target, overwrite=overwrite) as tmp:
        tmp.write_bytes(png)
    if delete_input:
        source.unlink()


def _watch(
    in_dir: Path,
    out_dir: Path,
    handle: Callable[[Path, Path, bool], None],
    interval: float,
    done: dict[Path, tuple[int, int]],
) -> None:
    """Poll ``in_dir`` every ``interval`` s; ``handle(source, target, overwrite)`` each new or changed image once
    it has kept its size and time for one poll; stop on ``in_dir/stop.txt`` (removed) or Ctrl+C."""
    from automatte.io import list_images

    pending: dict[Path, tuple[int, int]] = {}
    stop = in_dir / "stop.txt"
    print(f"automatte p: watching {in_dir} (Ctrl+C or a file stop.txt there to stop)", file=sys.stderr)
    try:
        while True:
            if stop.exists():
                stop.unlink(missing_ok=True)
                return
            for source in list_images(in_dir, recursive=True):
                try:
                    st = source.stat()
                except FileNotFoundError:
                    continue
                signature = (st.st_size, st.st_mtime_ns)
                if done.get(source) == signature:
                    continue
                if pending.get(source) != signature:  # new or still being written: look again next poll
                    pending[source] = signature
                    continue
                pending.pop(source)
                handle(source, _target(source, in_dir, out_dir), source in done)
                done[source] = signature
            time.sleep(interval)
    except KeyboardInterrupt:
        return


def _cmd_p(args: argparse.Namespace) -> int:
    from automatte.cli import _progress, _summarise_failures
    from automatte.io import list_images

    in_dir, out_dir = Path(args.input), Path(args.output)
    if not in_dir.is_dir():
        raise NotADirectoryError(f"{in_dir}: not a folder")
    if args.interval <= 0:
        raise ValueError(f"--interval must be positive, got {args.interval}")
    _, options = _session_and_options(args)
    failures: list[str] = []
    done: dict[Path, tuple[int, int]] = {}
    written = 0

    def handle(source: Path, target: Path, overwrite: bool) -> None:
        nonlocal written
        try:
            _process(source, target, options, args.delete_input, overwrite)
            written += 1
            if args.watch:
                print(f"processed: {source} -> {target}", file=sys.stderr)
        except (ValueError, OSError) as exc:
            failures.append(str(exc))
            if args.watch:
                print(f"failed: {exc}", file=sys.stderr)

    sources = list_images(in_dir, recursive=True)
    for source in _progress(sources, len(sources), "remove", not (args.quiet or args.watch)):
        target = _target(source, in_dir, out_dir)
        st = source.stat()
        if not target.exists():
            handle(source, target, False)
        if source.exists():
            done[source] = (st.st_size, st.st_mtime_ns)
    if args.watch:
        _watch(in_dir, out_dir, handle, args.interval, done)
    if not args.quiet:
        print(f"wrote {written} cutouts to {out_dir}", file=sys.stderr)
    return _summarise_failures(failures)


def _cmd_s(args: argparse.Namespace) -> int:
    from automatte.serve.cli import add_arguments, run

    serve_args = add_arguments(argparse.ArgumentParser()).parse_args([])
    serve_args.host, serve_args.port, serve_args.log_level = args.host, args.port, args.log_level
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        serve_args.max_concurrency = args.threads
    return run(serve_args)


def add_commands(sub) -> None:
    """Add ``i``, ``p`` and ``s`` to the ``automatte`` sub-command parsers ``sub``.

    Example:
        >>> parser = argparse.ArgumentParser(); add_commands(parser.add_subparsers(dest="command"))
        >>> a = parser.parse_args(["p", "-w", "-a", "-af", "200", "in", "out"])
        >>> a.watch, a.alpha_matting, a.alpha_matting_foreground_threshold, a.model
        (True, True, 200, None)
    """
    p = sub.add_parser("i", help="rembg's i: one file -> its cutout (PNG)", description=__doc__.split("\n\n")[0])
    _add_remove_options(p)
    p.add_argument("input", nargs="?", default="-", help="image file, or '-' (default): stdin")
    p.add_argument("output", nargs="?", default="-", help="PNG file to write, or '-' (default): stdout")
    p.set_defaults(func=_cmd_i)

    p = sub.add_parser("p", help="rembg's p: a folder -> cutouts (-w: keep watching it)")
    _add_remove_options(p)
    p.add_argument("-w", "--watch", action="store_true", help="keep watching the folder for new images")
    p.add_argument("-d", "--delete-input", "--delete_input", action="store_true", help="delete each processed input")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between looks at a watched folder")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("input", help="folder of images (sub-folders included)")
    p.add_argument("output", help="folder for the cutouts (<same sub-path>.png)")
    p.set_defaults(func=_cmd_p)

    p = sub.add_parser("s", help="rembg's s: the HTTP server (with /api/remove) on port 7000", add_help=False)
    p.add_argument("--help", action="help", help="show this help message and exit")
    p.add_argument("-p", "--port", type=int, default=7000, help="port (default 7000)")
    p.add_argument("-h", "--host", default="127.0.0.1", help="address (default 127.0.0.1; 0.0.0.0: everywhere)")
    p.add_argument(
        "-l", "--log_level", "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    p.add_argument("-t", "--threads", type=int, default=None, help="inferences at once (default 2)")
    p.set_defaults(func=_cmd_s)
