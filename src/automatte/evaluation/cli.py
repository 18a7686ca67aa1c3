"""``automatte benchmark``: a model, a benchmark folder in its authors' layout, a paper -> the paper's table.

Example:
    automatte benchmark --model aimnet.safetensors --data AIM-500 --paper aim -o bench-aim
    automatte benchmark --model default --data AIM-500 --paper aim --scales 1/2,1/4 -o bench-aim-half
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_arguments", "run"]

# Literal copies, so that building the parser imports nothing heavy (tests check them against the modules).
BENCHMARKS = ("aim500", "am2k", "p3m500-p", "p3m500-np", "ppm100", "alphamatting")  # data.benchmarks.BENCHMARKS
PAPERS = ("aim",)  # evaluation.papers.PAPERS
STRATEGIES = ("hybrid", "whole", "tiled", "band-tiled", "pipeline")  # evaluation.predict.STRATEGIES


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.description = (
        "Predict a public benchmark with a model and the paper's test strategy, score it with the paper's "
        "protocol, and print the paper's table with its published figures beside ours (also written to "
        "OUT/table.md and OUT/table.json; predictions in OUT/pred/, which `automatte eval` reads)."
    )
    parser.add_argument(
        "--model", required=True, help="shipped model, pipeline (default, twostage, cf, ...), .pt/.safetensors/.onnx"
    )
    parser.add_argument("--arch", default=None, help="architecture of a weights file that does not name it")
    parser.add_argument("--data", required=True, help="the benchmark folder as its authors distribute it")
    parser.add_argument("--paper", default="aim", choices=sorted(PAPERS), help="whose table (default aim: Table 2)")
    parser.add_argument(
        "--benchmark", default=None, choices=BENCHMARKS, help="reader of --data (default: the paper's benchmark)"
    )
    parser.add_argument(
        "--strategy", default=None, choices=STRATEGIES, help="test strategy (default: the paper's; aim: hybrid)"
    )
    parser.add_argument(
        "--scales", default=None, help="hybrid test's global,local scale factors (default: the paper's; aim 1/3,1/4)"
    )
    parser.add_argument("--max-side", type=int, default=1600, help="cap on each side of a hybrid pass (default 1600)")
    parser.add_argument("--protocol", default=None, choices=["aim", "dim"], help="metric protocol (default: paper's)")
    parser.add_argument("--use-trimaps", action="store_true", help="give the benchmark's trimaps to the model")
    parser.add_argument("-o", "--output", default=None, help="output folder (default: benchmark-PAPER-MODEL)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    parser.add_argument("--overwrite", action="store_true", help="replace earlier predictions in OUT/pred")
    parser.add_argument("-q", "--quiet", action="store_true")
    return parser


def run(args: argparse.Namespace) -> int:
    from automatte.evaluation.benchmark import run_benchmark
    from automatte.evaluation.predict import parse_scales

    scales = parse_scales(args.scales) if args.scales else None
    out = Path(args.output or f"benchmark-{args.paper}-{Path(args.model).stem}")

    def progress(items):
        if args.quiet:
            return items
        from tqdm import tqdm

        return tqdm(items, desc="benchmark", unit="img", file=sys.stderr, leave=False)

    result = run_benchmark(
        args.model,
        args.data,
        out,
        paper=args.paper,
        benchmark=args.benchmark,
        strategy=args.strategy,
        scales=scales,
        protocol=args.protocol,
        max_side=args.max_side,
        use_trimaps=args.use_trimaps,
        overwrite=args.overwrite,
        device=args.device,
        arch=args.arch,
        progress=progress,
    )
    md, js = result.save(out)
    print(result.to_markdown(), end="")
    print(f"wrote {md}, {js} and {len(result.report)} predictions in {out / 'pred'}")
    return 1 if result.failures or result.report.missing else 0
