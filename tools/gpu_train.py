"""Train the shipped segmenter's experiment on a lent GPU machine within a time budget; weights to ``$OUT``.

Run it there through the ``device`` tool after ``tools/gpu_pack.py`` built ``build/gpupack`` here:

    run(command="python3 tools/gpu_train.py --minutes 8", carry=["build/gpupack"], timeout_s=600)

Steps: (1) a probe of ``--probe-steps`` steps measures images/s (the trainer logs it); (2) the real run gets
``steps = margin x rate x budget`` and ``train.time_limit_s = budget`` with ``train.time_schedule``: its cosine
follows whichever of the steps and the clock is further on, so a run slower than the probe said still ends its
cosine at the budget (a 30-step probe once read 830 images/s for a run that kept 380); when it ends
``--top-up-s`` or more early, a second cosine at half the learning rate continues its weights for the time left,
sized from the run's real rate (``runs`` in the summary). The probe and the run start from ``--init`` (default:
the shipped default segmenter, so GPU time continues the CPU training). (3) The result goes to ``$OUT``:
``segmenter.safetensors`` (float16 state dict, ``arch`` in its metadata:
``automatte.load_model("twostage-cf", segmenter=...)`` reads it), ``log.jsonl``, ``config.yaml`` and
``summary.json`` (steps, images seen, seconds, rate). The weights are also kept at
``build/gpu_last/segmenter.safetensors`` on that machine (an ignored path, kept while it stays warm), so that a
second call can go on from them at once without bringing them back into the 64 MiB that travels:
``python3 tools/gpu_train.py --init build/gpu_last/segmenter.safetensors --minutes 4 --lr 4e-5``. Here on the
CPU it runs as a check with a tiny budget:

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


def device_out(what: str) -> Path | None:
    """``$OUT``, the device tool's folder whose files come back, created; ``None`` after a one-line error when it is
    unset (``what`` names what would go there)."""
    out = Path(os.environ.get("OUT") or "")
    if not str(out) or str(out) == ".":
        print(f"set OUT to the folder {what} go to", file=sys.stderr)
        return None
    out.mkdir(parents=True, exist_ok=True)
    return out


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
        default=1.0,
        help="plan the run at this fraction of the probe's rate (the clock ends a slower run's cosine at the "
        "budget, and a faster run is topped up)",
    )
    parser.add_argument(
        "--top-up-s",
        type=float,
        default=60.0,
        help="when the run ends this many seconds or more before the budget, a second cosine at half the lr "
        "continues it for the time left (the probe's rate is off by up to 20 %% run to run)",
    )
    parser.add_argument(
        "--keep",
        default=str(ROOT / "build" / "gpu_last" / "segmenter.safetensors"),
        help="also keep the weights here, for --init of a next call on the same machine ('' skips)",
    )
    args = parser.parse_args(argv)
    out = device_out("the weights")
    if out is None:
        return 2
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
    from safetensors.torch import save_file

    from automatte.io import atomic_write

    def run(overrides: list[str], steps: int, limit_s: float):
        """One cosine run of ``steps`` steps; its weights (float16) to ``$OUT`` and ``--keep``, its log appended."""
        run_dir = Path(tempfile.mkdtemp(prefix="run-"))
        cfg = load_config(args.experiment, [*common, *overrides, f"train.steps={steps}", f"train.time_limit_s={limit_s}",
                                            "train.time_schedule=true",
                                            f"train.out_dir={run_dir}", f"train.ckpt_every={max(1, steps // 4)}"])  # fmt: skip
        t = time.perf_counter()
        result = train(cfg)
        seconds = time.perf_counter() - t
        state = load_checkpoint(result.last)["model"]
        weights = {k.removeprefix("module."): v.detach().to(torch.float16 if v.is_floating_point() else v.dtype)
                   .contiguous() for k, v in state.items()}  # fmt: skip
        with atomic_write(out / "segmenter.safetensors") as tmp:  # a cut-off copy never looks like weights
            save_file(weights, str(tmp), metadata={"arch": cfg.model.name})
        if args.keep:  # the init of a next call on the same machine
            keep = Path(args.keep)
            keep.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(keep) as tmp:
                shutil.copyfile(out / "segmenter.safetensors", tmp)
        with open(out / "log.jsonl", "a", encoding="utf-8") as log:
            log.write((run_dir / "log.jsonl").read_text(encoding="utf-8"))
        shutil.copy(run_dir / "config.yaml", out / "config.yaml")
        shutil.rmtree(run_dir, ignore_errors=True)  # its checkpoints: the weights are in $OUT now
        row = {"steps": result.step, "planned_steps": steps, "seconds": round(seconds, 1), "lr": cfg.optim.lr}
        return row, cfg.data.batch_size, cfg.optim.lr

    (out / "log.jsonl").unlink(missing_ok=True)
    first, batch, lr = run([], steps, budget)
    runs = [first]
    left = budget - first["seconds"]
    if first["steps"] and left >= args.top_up_s:  # the probe over-estimated the time a step takes: go on
        real = first["steps"] * batch / first["seconds"]
        more = max(1, int(0.9 * real * left / batch))
        print(f"{left:.0f} s left at {real:.1f} images/s: a top-up run of {more} steps at lr {lr / 2:g}", flush=True)
        top = [f"model.kwargs.pretrained={out / 'segmenter.safetensors'}", f"optim.lr={lr / 2}"]
        runs.append(run(top, more, left)[0])
    summary = {
        "steps": sum(r["steps"] for r in runs),
        "planned_steps": sum(r["planned_steps"] for r in runs),
        "images": sum(r["steps"] for r in runs) * batch,
        "seconds": round(sum(r["seconds"] for r in runs), 1),
        "runs": runs,
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
