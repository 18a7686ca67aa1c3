"""Data-parallel training: ``torchrun --nproc_per_node 2`` (gloo, CPU) matches one process with the whole batch.

Each rank trains its contiguous half of every global batch (automatte.train.data), DDP averages the two
half-batch gradients, and that equals the whole-batch gradient when the loss is a per-pixel mean over
equal-size samples and no layer mixes samples: DIM's recipe on the whole image (``region=all``) and
BatchNorm in eval mode (``train.freeze_bn``; CPU processes cannot use SyncBatchNorm). What remains is float
summation order, so parameters agree to ``ATOL`` after the steps, not bit for bit.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from train_helpers import CONFIGS, experiment, subprocess_env

from automatte.registry import create_model
from automatte.train import train
from automatte.train.checkpoint import load_checkpoint
from automatte.train.loop import seed_everything

ATOL = 1e-5  # absolute, on parameters of magnitude ~0.1-1 after 4 SGD steps (measured: below 1e-6)
SETTINGS = [
    "model.name=dim_test", "loss.recipe=dim", "loss.kwargs.region=all", "train.freeze_bn=true",
    "optim.name=sgd", "optim.lr=0.05", "optim.schedule=poly", "optim.warmup_steps=0", "optim.grad_clip=1.0",
    "data.batch_size=4", "train.steps=4", "train.val_every=0", "train.ckpt_every=0", "train.log_every=1",
]  # fmt: skip


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_with_the_whole_batch(tmp_path):
    single = train(experiment("aimnet_tiny_alpha_synth_smoke", tmp_path / "one", *SETTINGS))
    sets = [arg for s in SETTINGS for arg in ("--set", s)]
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", "2",
        "-m", "automatte.train", str(CONFIGS / "aimnet_tiny_alpha_synth_smoke.yaml"), *sets,
        "--out", str(tmp_path / "two"), "--no-progress",
    ]  # fmt: skip
    done = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = load_checkpoint(single.last), load_checkpoint(tmp_path / "two" / "last.pt")
    assert two["step"] == 4 and len(two["rng"]) == 2  # every rank's RNG state, for an exact resume
    worst = max((one["model"][k].float() - two["model"][k].float()).abs().max().item() for k in one["model"])
    assert worst < ATOL, f"largest parameter difference {worst:.3g}"
    seed_everything(0)  # the trainer's initialisation, to check that training moved the parameters
    start = create_model("dim_test").state_dict()
    moved = max((one["model"][k].float() - start[k].float()).abs().max().item() for k in start)
    assert moved > 1000 * ATOL
    rows = [
        [json.loads(line)["total"] for line in (tmp_path / d / "log.jsonl").read_text().splitlines()]
        for d in ("one", "two")
    ]
    assert rows[0] == pytest.approx(rows[1], rel=1e-4)  # rank-averaged losses of the halves = whole-batch loss


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ppid_tiny_alpha_synth_smoke", "tgn_spamattnet_tiny_pseudo_synth_smoke"])
def test_distill_and_adapt_run_under_torchrun(name, tmp_path):
    """The paradigms with more than one module (frozen teacher; discriminator + pseudo-label network)."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", "2",
        "-m", "automatte.train", str(CONFIGS / f"{name}.yaml"), "--set", "data.batch_size=4", "--set", "train.steps=3",
        "--set", "train.val_every=3", "--set", "data.val.0.kwargs.n=2", "--out", str(tmp_path), "--no-progress",
    ]  # fmt: skip
    done = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("3 steps") == 1  # rank 0 reports
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["step"] == 3 and len(ckpt["rng"]) == 2
