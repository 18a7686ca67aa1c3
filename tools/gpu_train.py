"""Train the shipped segmenter's experiment on a lent GPU machine within a time budget; weights to ``$OUT``.

Run it there through the ``device`` tool after ``tools/gpu_pack.py`` built ``build/gpupack`` here:

    run(command="python3 tools/gpu_train.py --minutes 8", carry=["build/gpupack"], timeout_s=600)

Steps: (1) a probe of ``--probe-steps`` steps measures images/s (the trainer logs it); (2) the real run gets
``steps = margin x rate x budget`` so that its cosine schedule ends inside the budget, ``train.time_limit_s`` as a
safety net; both start from ``--init`` (default: the shipped default segmenter, so GPU time continues the
CPU training). (3) The result goes to ``$OUT``: ``segmenter.safetensors`` (float16 state dict, ``arch`` in its
metadata: ``automatte.load_model("twostage-cf", segmenter=...)`` reads it), ``log.jsonl``, ``config.yaml`` and
``summary.json`` (steps, images seen, seconds, rate). The weights are also kept at ``build/gpu_last/segmenter.safetensors``
on that machine (an ignored path, kept while it stays warm), so that a second call can go on from them at once
without bringing them back into the 64 MiB that travels: ``python3 tools/gpu_train.py --init
build/gpu_last/segmenter.safetensors --minutes 4 --lr 4e-5``. Here on the CPU it runs as a check with a tiny budget:

    OUT=/tmp/gpuout .venv/bin/python tools/gpu_train.py --device cpu --minutes 0.5 --probe-steps 2 --batch 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _rate(log: Path) -> float:
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    rates = [r["images_per_s"] for r in rows if r.get("kind") == "train" and "images_per_s" in r]
    if not rates:
        raise RuntimeError(f"{log}: the probe logged no throughput")
    return rates[-1]  # the last window: past start-up and the loader's first batches


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default=str(ROOT / "build" / "gpupack" / "experiment.yaml"))
    parser.add_argument("--init", default=str(ROOT / "src" / "automatte" / "weights" / "salient-segmenter.safetensors"))
    parser.add_argument("--minutes", type=float, default=8.0, help="budget of the real run")
    parser.add_argument("--probe-steps", type=int, default=60)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch", type=int, default=None, help="override the pack's batch")
    parser.add_argument("--lr", type=float, default=None, help="override the experiment's learning rate")
    parser.add_argument(
        "--margin",
        type=float,
        default=0.8,
        help="plan the run at this fraction of the probe's rate (default 0.8: on the H200 the "
        "whole run kept about 480 images/s against the probe's last window of 588)",
    )
    parser.add_argument(
        "--keep",
        default=str(ROOT / "build" / "gpu_last" / "segmenter.safetensors"),
        help="also keep the weights here, for --init of a next call on the same machine ('' skips)",
    )
    args = parser.parse_args(argv)
    out = Path(os.environ.get("OUT") or "")
    if not str(out) or str(out) == ".":
        print("set OUT to the folder the weights go to", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    os.chdir(ROOT)
    import torch

    from automatte.train import train
    from automatte.train.checkpoint import load_checkpoint
    from automatte.train.config import load_config

    common = [f"model.kwargs.pretrained={args.init}", f"train.device={args.device}", "train.progress=false",
              "train.tensorboard=false", "train.val_every=0"]  # fmt: skip
    if args.batch:
        common.append(f"data.batch_size={args.batch}")
    if args.lr:
        common.append(f"optim.lr={args.lr}")
    if args.device == "cpu":
        common += ["train.amp=off", "data.workers=0"]
    probe_dir = Path(tempfile.mkdtemp(prefix="probe-"))
    every = max(1, args.probe_steps // 2)
    probe = load_config(
        args.experiment,
        [
            *common,
            f"train.steps={args.probe_steps}",
            f"train.log_every={every}",
            f"train.out_dir={probe_dir}",
            "train.ckpt_every=0",
            "optim.warmup_steps=0",
        ],
    )
    t = time.perf_counter()
    train(probe)
    rate = _rate(probe_dir / "log.jsonl")
    shutil.rmtree(probe_dir, ignore_errors=True)
    budget = args.minutes * 60
    steps = max(1, int(args.margin * rate * budget / probe.data.batch_size))
    print(
        f"probe: {rate:.1f} images/s ({time.perf_counter() - t:.0f} s); the run: {steps} steps in {budget:.0f} s",
        flush=True,
    )
    run_dir = Path(tempfile.mkdtemp(prefix="run-"))
    cfg = load_config(
        args.experiment,
        [
            *common,
            f"train.steps={steps}",
            f"train.time_limit_s={budget * 1.1}",
            f"train.out_dir={run_dir}",
            f"train.ckpt_every={max(1, steps // 4)}",
        ],
    )
    t = time.perf_counter()
    result = train(cfg)
    seconds = time.perf_counter() - t
    state = load_checkpoint(result.last)["model"]
    from safetensors.torch import save_file

    weights = {k.removeprefix("module."): v.detach().to(torch.float16 if v.is_floating_point() else v.dtype).contiguous()
               for k, v in state.items()}  # fmt: skip
    from automatte.io import atomic_write

    with atomic_write(out / "segmenter.safetensors") as tmp:  # a cut-off copy never looks like weights
        save_file(weights, str(tmp), metadata={"arch": cfg.model.name})
    if args.keep:  # the init of a next call on the same machine
        keep = Path(args.keep)
        keep.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(keep) as tmp:
            shutil.copyfile(out / "segmenter.safetensors", tmp)
    for name in ("log.jsonl", "config.yaml"):
        shutil.copy(run_dir / name, out / name)
    summary = {
        "steps": result.step,
        "planned_steps": steps,
        "images": result.step * cfg.data.batch_size,
        "seconds": round(seconds, 1),
        "probe_images_per_s": round(rate, 2),
        "device": args.device,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "init": args.init,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
