"""Every paradigm's smoke experiment runs its 20 steps on the CPU; every full-size experiment runs 2 steps
with a tiny stand-in model (same recipe, paradigm, optimiser and schedule)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from train_helpers import CONFIGS, experiment, shrink

from automatte.registry import create_model
from automatte.train import loop, train
from automatte.train.checkpoint import load_checkpoint
from automatte.train.config import from_dict

SMOKE = sorted(p.stem for p in CONFIGS.glob("*_smoke.yaml"))
# one smoke run per paradigm in the default test run: AIM-Net's is a second supervised one (and the slowest)
SLOW_SMOKE = {"aimnet_tiny_alpha_synth_smoke"}
FULL = sorted(p.stem for p in CONFIGS.glob("*.yaml") if not p.stem.endswith("_smoke"))


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_SMOKE else n for n in SMOKE])
def test_smoke_experiment_runs_20_steps(name, tmp_path):
    cfg = experiment(name, tmp_path)
    result = train(cfg)
    assert result.step == 20
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["kind"] == "train"]
    val_rows = [r for r in rows if r["kind"] == "val"]
    assert [r["step"] for r in train_rows] == [5, 10, 15, 20]
    assert [r["step"] for r in val_rows] == [10, 20]
    assert all(math.isfinite(r["total"]) for r in train_rows)
    assert set(val_rows[0]) >= {"SAD", "MSE"}
    ckpt = load_checkpoint(result.last)
    assert ckpt["step"] == 20 and ckpt["model_name"] == cfg.model.name
    assert from_dict(ckpt["config"]) == cfg
    net = create_model(ckpt["model_name"], **from_dict(ckpt["config"]).model.kwargs)
    net.load_state_dict(ckpt["model"])  # a checkpoint rebuilds its network from the stored name alone
    assert result.best is not None and load_checkpoint(result.best)["step"] == result.best_step
    assert (tmp_path / "config.yaml").is_file()
    if cfg.paradigm == "adapt":
        assert {"disc", "adversarial", "lambda"} <= set(train_rows[-1])
        assert {"soft/SAD", "hard/SAD"} <= set(val_rows[-1])  # joint inference evaluated with both fusions
        assert val_rows[-1]["SAD"] == val_rows[-1]["soft/SAD"]  # the model's own fusion gives the plain names
        assert set(ckpt["extra"]) >= {"discriminator", "disc_optimizer", "pseudo"}
    if cfg.paradigm == "distill":
        assert {"clsd", "ald", "alpha"} <= set(train_rows[-1])
        assert not any(k.startswith("teacher.") for k in ckpt["model"])  # the student only


@pytest.mark.parametrize("name", FULL)
def test_full_experiment_runs_with_a_tiny_model(name, tmp_path):
    cfg = shrink(experiment(name, tmp_path), tmp_path)
    result = train(cfg)
    assert result.step == 2 and result.best_value is not None and math.isfinite(result.best_value)
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["total"]) for r in rows if r["kind"] == "train")


def test_layer_decay_and_step_schedule_reach_the_optimiser(tmp_path):
    cfg = shrink(experiment("vitmatte_vits_trimap_coarse", tmp_path), tmp_path)
    ckpt = load_checkpoint(train(cfg).last)
    groups = ckpt["optimizer"]["param_groups"]
    scales = sorted({round(g["lr_scale"], 6) for g in groups})
    assert scales[-1] == 1.0 and min(scales) == pytest.approx(0.65**3)  # 2 blocks + embeddings
    assert {g["weight_decay"] for g in groups} == {0.0, 0.1}
    assert torch.is_tensor(next(iter(ckpt["model"].values())))


def test_frozen_parameters_stay_and_channels_last_trains(tmp_path):
    from automatte.train.loop import seed_everything

    cfg = shrink(experiment("deeplabv3plus_mnv2_salient_mixed", tmp_path / "a"), tmp_path / "a")
    assert cfg.train.freeze and cfg.train.channels_last
    seed_everything(cfg.train.seed)  # what the trainer does before building the model
    start = create_model(cfg.model.name).state_dict()
    state = load_checkpoint(train(cfg).last)["model"]
    frozen = [k for k in state if k.startswith(tuple(cfg.train.freeze)) and k.endswith("weight")]
    moved = [k for k in state if k.startswith("aspp.") and k.endswith("weight")]
    assert frozen and moved
    assert all(torch.equal(state[k], start[k]) for k in frozen)
    assert any(not torch.equal(state[k], start[k]) for k in moved)
    bad = shrink(
        experiment("deeplabv3plus_mnv2_salient_mixed", tmp_path / "b", "train.freeze=[nothing.]"), tmp_path / "b"
    )
    with pytest.raises(ValueError, match="train.freeze"):
        train(bad)


def test_time_limit_stops_with_a_checkpoint_and_logs_throughput(tmp_path):
    cfg = experiment("deeplabv3_mnv2_salient_coarse", tmp_path)
    cfg = shrink(cfg, tmp_path, steps=50)
    cfg.train.time_limit_s, cfg.train.log_every, cfg.train.val_every = 1e-6, 1, 0
    result = train(cfg)
    assert result.step == 1  # the first step already ends past the limit
    assert load_checkpoint(result.last)["step"] == 1
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 1 and rows[-1]["images_per_s"] > 0


@pytest.mark.parametrize("on_time", [True, False])
def test_time_schedule_ends_the_cosine_at_the_time_limit(tmp_path, on_time):
    cfg = shrink(experiment("deeplabv3_mnv2_salient_coarse", tmp_path), tmp_path, steps=100_000)
    cfg.train.time_limit_s, cfg.train.time_schedule, cfg.train.log_every, cfg.train.val_every = 1.0, on_time, 1, 0
    cfg.optim.schedule, cfg.optim.min_lr_ratio, cfg.optim.warmup_steps = "cosine", 0.0, 0
    result = train(cfg)
    assert 1 <= result.step < 100_000  # stopped by the clock
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    lrs = [r["lr"] for r in rows if r["kind"] == "train"]
    if on_time:  # the clock moved the cosine to its floor, falling all the way
        assert lrs[-1] == pytest.approx(0.0, abs=1e-12) and lrs == sorted(lrs, reverse=True)
    else:  # by steps, a few of 100,000: still at the base lr
        assert lrs[-1] == pytest.approx(cfg.optim.lr, rel=1e-3)


def test_time_schedule_warms_up_over_steps_taken_not_the_clock(tmp_path):
    cfg = shrink(experiment("deeplabv3_mnv2_salient_coarse", tmp_path), tmp_path, steps=100_000)
    cfg.train.time_limit_s, cfg.train.time_schedule, cfg.train.log_every, cfg.train.val_every = 1.0, True, 1, 0
    cfg.optim.schedule, cfg.optim.warmup_steps, cfg.optim.warmup_factor = "cosine", 4, 0.0
    train(cfg)
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    lrs = [r["lr"] for r in rows if r["kind"] == "train"]
    # the clock puts the cosine thousands of steps on at once; the warm-up still ramps over the first 4 steps
    for taken, lr in enumerate(lrs[:3], start=1):
        assert lr <= cfg.optim.lr * taken / 4 * (1 + 1e-6)


@pytest.mark.parametrize(
    "cpu_amp, native, dtype",
    [("off", True, torch.float32), ("bf16", True, torch.bfloat16), ("auto", True, torch.bfloat16),
     ("auto", False, torch.float32)],
)  # fmt: skip
def test_cpu_amp_runs_the_convolutions_in_bf16_and_keeps_fp32_weights(cpu_amp, native, dtype, tmp_path, monkeypatch):
    cfg = shrink(experiment("deeplabv3plus_mnv2_salient_duts", tmp_path), tmp_path)
    cfg.train.cpu_amp = cpu_amp
    monkeypatch.setattr(loop, "cpu_has_native_bf16", lambda: native)  # "auto" follows the CPU, whichever runs this
    seen = []
    original = torch.nn.Conv2d.forward

    def spy(self, x):
        out = original(self, x)
        seen.append(out.dtype)
        return out

    monkeypatch.setattr(torch.nn.Conv2d, "forward", spy)
    result = train(cfg)
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["total"]) for r in rows if r["kind"] == "train")
    assert seen and seen[0] == dtype  # the first training forward's first convolution
    assert all(
        v.dtype == torch.float32 for v in load_checkpoint(result.last)["model"].values() if v.is_floating_point()
    )


def test_cpu_bf16_warns_where_the_cpu_would_emulate_it():
    with pytest.warns(RuntimeWarning, match="emulated on this CPU"):
        assert loop.cpu_bf16("bf16", native=False)
    assert loop.cpu_bf16("bf16", native=True) and not loop.cpu_bf16("auto", native=False)
    assert loop.cpu_has_native_bf16() in (True, False)
