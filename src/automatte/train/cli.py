"""``automatte train CONFIG.yaml [--set a.b=v ...] [--resume] [--out DIR]``: the command-line entry.

:func:`cli_main` is what ``automatte train`` calls (and ``python -m automatte.train``, which ``torchrun``
uses: ``torchrun --nproc_per_node 2 -m automatte.train CONFIG.yaml``). User errors (a bad config, a missing
file, an existing run without ``--resume``) print one line to stderr and return 2, like the other commands.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["add_arguments", "run", "cli_main"]

EXIT_USAGE = 2


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``train`` arguments (for a sub-parser of ``automatte``)."""
    parser.add_argument("config", nargs="?", help="experiment YAML (configs/*.yaml); optional with --resume --out DIR")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.steps=100 --set optim.lr=1e-3 (repeatable)",
    )  # fmt: skip
    parser.add_argument("--resume", action="store_true", help="continue OUT/last.pt (model, optimiser, step, RNG)")
    parser.add_argument("--out", help="output folder (overrides train.out_dir)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run parsed arguments; exceptions propagate (see :func:`cli_main`)."""
    from automatte.train.config import from_dict, load_config
    from automatte.train.loop import train

    overrides = list(args.overrides)
    if args.out:
        overrides.append(f"train.out_dir={args.out}")
    if args.no_progress:
        overrides.append("train.progress=false")
    if args.config is not None:
        cfg = load_config(args.config, overrides)
    elif args.resume and args.out:  # the run's own stored config
        from automatte.train.checkpoint import load_checkpoint

        cfg = from_dict(load_checkpoint(Path(args.out) / "last.pt")["config"])
        from automatte.train.config import apply_overrides, validate

        cfg = validate(apply_overrides(cfg, overrides))
    else:
        raise ValueError("give a CONFIG.yaml (or --resume --out DIR to continue a run with its stored config)")
    result = train(cfg, resume=args.resume)
    if os.environ.get("RANK", "0") != "0":  # torchrun: rank 0 reports
        return 0
    if result.best_value is not None:
        best = f"best {result.best_metric} {result.best_value:.6g} at step {result.best_step}"
        print(f"{result.step} steps; {best} -> {result.best}")
    else:
        print(f"{result.step} steps -> {result.last}")
    return 0


def cli_main(argv: Sequence[str] | None = None) -> int:
    """``automatte train ...``; returns the exit status (0, or 2 after a one-line error on stderr)."""
    parser = add_arguments(argparse.ArgumentParser(prog="automatte train", description="Train a matting model."))
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"automatte train: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
