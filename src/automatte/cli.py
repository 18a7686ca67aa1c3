"""The ``automatte`` command.

Sub-commands: ``synth`` (procedural matting data), ``baseline`` (classical trimap-based mattes of a
dataset), ``eval`` (metrics of predicted mattes against a dataset), ``models`` (the registry, parameter
counts), ``train`` (YAML experiments: supervised, PPID distillation, DDC, two-stage adaptation),
``convert-tflite`` (TFLite weights to safetensors). User errors print one line to stderr
and exit with status 2; a run where some inputs failed exits with status 1 after doing the rest.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from automatte import __version__

EXIT_FAILURES = 1
EXIT_USAGE = 2


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


# -------------------------------------------------------------------------------------------- models
def _cmd_models(args: argparse.Namespace) -> int:
    from automatte.registry import list_models, model_info

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
    print(f"wrote {args.output} ({args.arch}): " + ", ".join(f"{k}={v}" for k, v in report.items() if not isinstance(v, (list, dict))))
    return 0


def _summarise_failures(failures: list[str]) -> int:
    if not failures:
        return 0
    print(f"{len(failures)} failed:", file=sys.stderr)
    for failure in failures:
        print(f"  {failure}", file=sys.stderr)
    return EXIT_FAILURES


# ------------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="automatte", description="Automatic natural image matting.")
    parser.add_argument("--version", action="version", version=f"automatte {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

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
    p.add_argument("--method", default="cf", choices=["cf", "knn", "lkm"], help="closed-form (default), KNN, large-kernel")
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

    p = sub.add_parser("models", help="list the registered models (and their parameter counts)")
    p.add_argument("pattern", nargs="?", default="*", help="glob on the name (default: all)")
    p.add_argument("--params", action="store_true", help="count parameters of each variant beside the paper's")
    p.add_argument("--all", action="store_true", help="include the tiny *_test variants")
    p.set_defaults(func=_cmd_models)

    from automatte.train.cli import add_arguments as add_train_arguments, run as run_train

    p = add_train_arguments(sub.add_parser("train", help="train a model from a YAML experiment (configs/*.yaml)"))
    p.set_defaults(func=run_train)

    p = sub.add_parser("convert-tflite", help="convert a TFLite model of ../shared/data/weights to safetensors")
    p.add_argument("input", help="the .tflite file")
    p.add_argument("output", help="the .safetensors file to write")
    p.add_argument("--arch", required=True, choices=["mobilenet_v2", "deeplabv3_mnv2_voc"])
    p.set_defaults(func=_cmd_convert_tflite)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError) as exc:
        print(f"automatte {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("automatte: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
