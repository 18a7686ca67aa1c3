"""The loop learns: on one fixed batch the loss of a tiny model falls clearly, in every paradigm."""

from __future__ import annotations

import json

import pytest
from train_helpers import experiment

from automatte.train import train

FIXED = {  # one batch of 4 fixed samples: no random augmentation, a fixed trimap kernel
    "flip_prob": 0, "jitter_prob": 0, "bokeh_prob": 0, "bokeh_prob_ns": 0, "blur_prob": 0, "noise_prob": 0,
    "jpeg_prob": 0, "trimap_k_range": [3, 3],
}  # fmt: skip


@pytest.mark.slow  # ~30 s on 2 CPU cores; the smoke runs of tests/train/test_train_smoke.py stay in the default run
def test_overfitting_a_fixed_batch(tmp_path):
    cfg = experiment(
        "aimnet_tiny_alpha_synth_smoke", tmp_path,
        "model.name=dim_test", "loss.recipe=dim", "optim.schedule=constant", "optim.warmup_steps=0",
        "data.batch_size=4", "data.train.0.kwargs.n=4", "train.steps=40", "train.log_every=1",
        "train.val_every=0", "train.ckpt_every=0",
    )  # fmt: skip
    cfg.data.train[0].kwargs["augment"] = FIXED
    train(cfg)
    losses = [json.loads(line)["total"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert len(losses) == 40
    first, last = losses[0], sum(losses[-5:]) / 5
    assert last < 0.5 * first, f"loss {first:.4f} -> {last:.4f}"


# (smoke config, overrides that make its schedule constant, fall asked for): every paradigm of the issue.
PARADIGMS = {
    "supervised_aimnet": ("aimnet_tiny_alpha_synth_smoke", ("optim.lr=1e-3",), 0.7),
    # SGD at 1e-2 saturates the tiny student's alpha within a few steps (chaotic: passed or not by luck, with or
    # without a fixed ALD teacher map); at 2e-3 the loss falls steadily (~6.8 -> 1.2 over 40 steps)
    "distill_ppid": ("ppid_tiny_alpha_synth_smoke", ("optim.lr=2e-3",), 0.7),
    "ddc_trimap_only": ("vitmatte_tiny_trimap_synth_smoke", ("optim.lr=1e-2",), 0.7),  # image-only input
    "two_stage_tgn": ("tgn_tiny_alpha_synth_smoke", (), 0.7),
    "adaptation": ("tgn_spamattnet_tiny_pseudo_synth_smoke", (), 0.8),
}


@pytest.mark.slow  # minutes on 2 CPU cores; tests/train/test_train_smoke.py keeps a short run per paradigm
@pytest.mark.parametrize("paradigm", sorted(PARADIGMS))
def test_every_paradigm_overfits_a_fixed_batch(paradigm, tmp_path):
    name, extra, fall = PARADIGMS[paradigm]
    cfg = experiment(
        name, tmp_path, "optim.schedule=constant", "optim.warmup_steps=0", "data.batch_size=2",
        "data.train.0.kwargs.n=2", "train.steps=40", "train.log_every=1", "train.val_every=0",
        "train.ckpt_every=0", *extra,
    )  # fmt: skip
    cfg.data.train[0].kwargs["augment"] = FIXED
    train(cfg)
    losses = [json.loads(line)["total"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    first, last = sum(losses[:3]) / 3, sum(losses[-5:]) / 5
    assert last < fall * first, f"{paradigm}: loss {first:.4f} -> {last:.4f}"
