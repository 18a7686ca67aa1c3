"""Training throughput (images/s) and peak memory of every full-size experiment in configs/, at 320x320.

Each experiment (a non-smoke ``configs/*.yaml``) runs in a fresh subprocess, so that peak memory is its own:
the paper's model, loss recipe and optimiser (its ``Task``: supervised, PPID distillation with its frozen
teacher, or the two-stage adaptation with its discriminator), on synthetic 320x320 batches (the procedural
generator; real-data sources are replaced by it so that the script needs no ../shared), ``--warmup`` steps
then ``--steps`` timed steps. Checkpoint and teacher paths are dropped (random weights: speed only).

On CPU: peak resident memory of the process (ru_maxrss) minus its size just before the first step. On CUDA
(when a GPU is present, or ``--device cuda``): ``torch.cuda.max_memory_allocated``, with AMP as the config says.

    .venv/bin/python benchmarks/train_speed.py [--batch 2] [--steps 3] [--warmup 1] [--device auto] [NAME ...]

``--loop CONFIG`` measures instead the whole training loop of one experiment as it runs (its own data, real
photos from ../shared included: decoding, augmentation, collation, forward, backward, optimiser), in variants
that switch the throughput levers on one by one, each in a fresh process, and prints images/s and the ratio
to the first variant ("before": plain float32 NCHW, every layer trained, images decoded for every sample; the
last adds bfloat16 autocast, ``train.cpu_amp``); ``--set KEY=VALUE`` overrides every variant's config:

    .venv/bin/python benchmarks/train_speed.py --loop configs/deeplabv3plus_mnv2_salient_mixed.yaml --steps 12
    .venv/bin/python benchmarks/train_speed.py --loop configs/deeplabv3plus_mnv2_salient_duts.yaml --steps 12 \
        --set data.crop_size=448
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p for p in (ROOT / "configs").glob("*.yaml") if not p.stem.endswith("_smoke"))


def _strip_paths(kwargs: dict) -> dict:
    """Model kwargs without checkpoint paths (``pretrained`` at any depth)."""
    out = {}
    for key, value in kwargs.items():
        if key == "pretrained":
            continue
        out[key] = _strip_paths(value) if isinstance(value, dict) else value
    return out


def run_one(config: Path, batch: int, steps: int, warmup: int, device_name: str) -> dict:
    import torch

    from automatte.train.config import SourceConfig, load_config, validate
    from automatte.train.data import build_train_loader
    from automatte.train.loop import _autocast, resolve_device
    from automatte.train.optim import build_optimizer
    from automatte.train.task import make_task

    torch.set_num_threads(os.cpu_count() or 1)
    cfg = load_config(config)
    cfg.model.kwargs = _strip_paths(cfg.model.kwargs)
    cfg.model.init_from = None
    cfg.distill.teacher_checkpoint, cfg.distill.random_teacher = None, True
    cfg.data.train = [SourceConfig(kind="synthetic", kwargs={"types": ["so", "stm", "ns"]})]
    cfg.data.crop_size, cfg.data.crop_sizes = 320, [320]
    cfg.data.batch_size, cfg.data.workers, cfg.data.epoch_length = batch, 0, batch * (steps + warmup)
    cfg.train.steps = steps + warmup
    cfg.train.device = device_name
    cfg = validate(cfg)
    device = resolve_device(cfg.train.device)
    task = make_task(cfg, device)
    optimizer = build_optimizer(task.model, cfg.optim)
    autocast = _autocast(cfg, device)
    loader = build_train_loader(cfg, task.model.model_inputs)
    batches = [{k: v.to(device) if torch.is_tensor(v) else v for k, v in b.items()} for b in loader]
    task.train_mode(task.module)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for step, b in enumerate(batches):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with autocast():
            losses = task.losses(task.module, b, step)
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        optimizer.step()
        task.after_step(b, step, autocast)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    timed = times[warmup:]
    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss) / 1024
    params = sum(p.numel() for p in task.model.parameters()) / 1e6
    return {
        "config": config.stem,
        "model": cfg.model.name,
        "paradigm": cfg.paradigm,
        "params_m": round(params, 2),
        "images_per_s": round(batch * len(timed) / sum(timed), 3),
        "s_per_step": round(sum(timed) / len(timed), 3),
        "peak_mb": round(peak_mb, 1),
        "device": str(device),
    }


LOOP_VARIANTS = {  # name -> (overrides, decode cache MiB)
    "before": (["train.freeze=[]", "train.channels_last=false"], "0"),
    "+ decode cache": (["train.freeze=[]", "train.channels_last=false"], "4096"),
    "+ channels_last": (["train.freeze=[]", "train.channels_last=true"], "4096"),
    "+ frozen stride<=4 layers (config as shipped)": ([], "4096"),
    "+ bf16 autocast (train.cpu_amp=bf16)": (["train.cpu_amp=bf16"], "4096"),
}


def run_loop(config: Path, overrides: list[str], steps: int, warmup: int) -> dict:
    """Images/s of the experiment's own training loop (data included) over ``steps`` after ``warmup``."""
    import torch

    from automatte.train.config import load_config
    from automatte.train.data import build_train_loader
    from automatte.train.loop import _autocast, _freeze, resolve_device
    from automatte.train.optim import build_optimizer
    from automatte.train.task import make_task

    cfg = load_config(config, [*overrides, f"train.steps={steps + warmup}", "data.workers=0"])
    device = resolve_device(cfg.train.device)
    task = make_task(cfg, device)
    _freeze(task.model, cfg.train.freeze)
    if cfg.train.channels_last:
        task.model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(task.model, cfg.optim)
    task.train_mode(task.module)
    loader = iter(build_train_loader(cfg, task.model.model_inputs))
    autocast = _autocast(cfg, device)
    times = []
    for step in range(steps + warmup):
        start = time.perf_counter()
        batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in next(loader).items()}
        with autocast():
            losses = task.losses(task.module, batch, step)
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    timed = times[warmup:]
    return {
        "images_per_s": round(cfg.data.batch_size * len(timed) / sum(timed), 3),
        "s_per_step": round(sum(timed) / len(timed), 3),
        "threads": torch.get_num_threads(),
    }


def main_loop(config: Path, steps: int, warmup: int, sets: list[str]) -> int:
    rows = []
    for name, (overrides, cache_mb) in LOOP_VARIANTS.items():
        cmd = [sys.executable, __file__, "--loop-one", str(config), "--steps", str(steps), "--warmup", str(warmup),
               *[f"--override={o}" for o in (*sets, *overrides)]]  # fmt: skip
        env = {**os.environ, "AUTOMATTE_DECODE_CACHE_MB": cache_mb}
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
        if done.returncode != 0:
            print(f"FAILED {name}: {(done.stderr.strip().splitlines() or ['failed'])[-1]}", file=sys.stderr)
            return 1
        rows.append((name, json.loads(done.stdout.strip().splitlines()[-1])))
        r = rows[-1][1]
        print(
            f"{name:<48} {r['images_per_s']:8.3f} img/s {r['s_per_step']:7.3f} s/step "
            f"{r['images_per_s'] / rows[0][1]['images_per_s']:6.2f}x  ({r['threads']} threads)",
            flush=True,
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="config stems to run (default: every non-smoke config)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="auto", help="auto (cuda when present, else cpu), cpu or cuda")
    parser.add_argument("--loop", help="measure one experiment's whole training loop in variants (docstring)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="with --loop: a config override applied to every variant (e.g. data.crop_size=448)",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--loop-one", help=argparse.SUPPRESS)
    parser.add_argument("--override", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loop:
        return main_loop(Path(args.loop), args.steps, args.warmup, args.set)
    if args.loop_one:
        print(json.dumps(run_loop(Path(args.loop_one), args.override, args.steps, args.warmup)))
        return 0
    if args.one:
        print(json.dumps(run_one(Path(args.one), args.batch, args.steps, args.warmup, args.device)))
        return 0
    configs = [c for c in CONFIGS if not args.names or c.stem in args.names]
    rows, failures = [], []
    for config in configs:
        cmd = [
            sys.executable,
            __file__,
            "--one",
            str(config),
            "--batch",
            str(args.batch),
            "--steps",
            str(args.steps),
            "--warmup",
            str(args.warmup),
            "--device",
            args.device,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            failures.append(f"{config.stem}: {(done.stderr.strip().splitlines() or ['failed'])[-1]}")
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(
            f"{r['config']:<42} {r['paradigm']:<10} {r['params_m']:>7.2f}M {r['images_per_s']:>8.3f} img/s "
            f"{r['s_per_step']:>7.3f} s/step {r['peak_mb']:>8.1f} MB  ({r['device']})",
            flush=True,
        )
    if rows:
        fastest = max(r["images_per_s"] for r in rows)
        print(f"\nbatch {args.batch} at 320x320; ratio = images/s relative to the fastest in this run")
        for r in sorted(rows, key=lambda r: -r["images_per_s"]):
            print(f"  {r['config']:<42} {r['images_per_s'] / fastest:6.2f}x")
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
