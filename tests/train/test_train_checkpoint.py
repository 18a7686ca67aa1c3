"""Checkpoints: atomic writes, exact resume (in-process and after SIGKILL), refusal to overwrite a run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from train_helpers import CONFIGS, experiment, subprocess_env

import automatte.train.loop as loop
from automatte.train import train
from automatte.train.checkpoint import FORMAT, capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint

# tgn_test has dropout (so the RNG state matters) and BatchNorm (running statistics); adapt has extra state.
RESUME_CASES = {
    "supervised": ("tgn_tiny_alpha_synth_smoke", []),
    "adapt": ("tgn_spamattnet_tiny_pseudo_synth_smoke", ["adapt.halve_every=2"]),
}


def short(name: str, out: Path, *extra: str):
    return experiment(name, out, "train.steps=6", "train.ckpt_every=3", "train.val_every=3", "train.log_every=1",
                      "data.val.0.kwargs.n=2", *extra)  # fmt: skip


def params(path: Path) -> dict:
    return load_checkpoint(path)["model"]


def assert_identical(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_save_is_atomic_when_torch_save_fails_midway(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"format": FORMAT, "step": 1, "w": torch.ones(3)})
    before = path.read_bytes()

    def broken(obj, f, *args, **kwargs):
        with open(f, "wb") as fh:
            fh.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"format": FORMAT, "step": 2, "w": torch.zeros(3)})
    assert path.read_bytes() == before
    assert load_checkpoint(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temporary file left


def test_crash_during_a_training_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    cfg = short("tgn_tiny_alpha_synth_smoke", tmp_path, "train.ckpt_every=2", "train.val_every=0")
    real, calls = torch.save, []

    def save_then_fail(obj, f, *args, **kwargs):
        calls.append(obj["step"])
        if obj["step"] == 4:
            real({"format": FORMAT, "step": "garbage"}, f)
            raise KeyboardInterrupt  # killed in the middle of the second save
        return real(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_then_fail)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    assert calls == [2, 4] and load_checkpoint(tmp_path / "last.pt")["step"] == 2


def test_checkpoint_contents_and_weights_only(tmp_path):
    cfg = short("tgn_tiny_alpha_synth_smoke", tmp_path, "train.steps=3")
    train(cfg)
    raw = torch.load(tmp_path / "last.pt", weights_only=True)  # plain data only: loadable without trusting code
    assert raw["format"] == FORMAT and raw["model_name"] == "tgn_test" and raw["step"] == 3
    assert set(raw) >= {"model", "optimizer", "scheduler", "rng", "config", "best", "extra"}
    assert len(raw["rng"]) == 1 and set(raw["rng"][0]) == {"python", "numpy", "torch", "cuda"}
    assert raw["config"]["train"]["steps"] == 3 and raw["best"]["metric"] == "SAD"
    from automatte.models.backbones.resnet import read_state_dict  # the factories' pretrained= reader

    assert read_state_dict(tmp_path / "last.pt").keys() == raw["model"].keys()


def test_rng_state_round_trip():
    state = capture_rng_state()
    import random

    import numpy as np

    a = (random.random(), np.random.rand(), torch.rand(2))
    restore_rng_state(state)
    b = (random.random(), np.random.rand(), torch.rand(2))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


@pytest.mark.slow  # minutes on 2 CPU cores; tests/train/test_train_smoke.py keeps a short run per paradigm
@pytest.mark.parametrize("case", sorted(RESUME_CASES))
def test_resume_is_bit_identical(case, tmp_path, monkeypatch):
    name, extra = RESUME_CASES[case]
    straight = train(short(name, tmp_path / "straight", *extra))

    real_save = loop.save_checkpoint

    def die_after_step_3(path, state):
        real_save(path, state)
        if Path(path).name == "last.pt" and state["step"] == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "save_checkpoint", die_after_step_3)
    with pytest.raises(KeyboardInterrupt):
        train(short(name, tmp_path / "split", *extra))
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    assert load_checkpoint(tmp_path / "split" / "last.pt")["step"] == 3
    torch.manual_seed(1234)  # the resumed run must not depend on the caller's generator state
    resumed = train(short(name, tmp_path / "split", *extra), resume=True)
    assert resumed.step == straight.step == 6
    a, b = load_checkpoint(straight.last), load_checkpoint(resumed.last)
    assert_identical(a["model"], b["model"])
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    for k in a["optimizer"]["state"]:
        for key, value in a["optimizer"]["state"][k].items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(b["optimizer"]["state"][k][key]))
    if case == "adapt":
        assert_identical(a["extra"]["discriminator"], b["extra"]["discriminator"])
    assert a["best"] == b["best"]

    def rows(run):  # every logged value but the wall-clock throughput
        lines = (tmp_path / run / "log.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(line).items() if k != "images_per_s"} for line in lines]

    assert rows("split") == rows("straight")


def test_existing_run_needs_resume_and_resume_needs_a_run(tmp_path):
    cfg = short("tgn_tiny_alpha_synth_smoke", tmp_path, "train.steps=1")
    with pytest.raises(FileNotFoundError, match="last.pt"):
        train(cfg, resume=True)
    train(cfg)
    with pytest.raises(FileExistsError, match="--resume"):
        train(cfg)
    other = short("tgn_tiny_alpha_synth_smoke", tmp_path, "train.steps=2", "model.name=dim_test")
    with pytest.raises(ValueError, match="checkpoint is of model 'tgn_test'"):
        train(other, resume=True)
    before = params(tmp_path / "last.pt")
    longer = short("tgn_tiny_alpha_synth_smoke", tmp_path, "train.steps=2")
    assert train(longer, resume=True).step == 2  # extending a finished run ...
    after = params(tmp_path / "last.pt")  # ... follows the new schedule (the old one ended at lr 0)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.endswith("weight"))


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path):
    sets = ["--set", "train.steps=12", "--set", "train.ckpt_every=2", "--set", "train.val_every=0",
            "--set", "train.log_every=1"]  # fmt: skip
    config = str(CONFIGS / "tgn_tiny_alpha_synth_smoke.yaml")
    command = [sys.executable, "-m", "automatte.train", config, *sets, "--no-progress"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*command, "--out", str(killed)], env=subprocess_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 120
    while not (killed / "last.pt").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = load_checkpoint(killed / "last.pt")["step"]
    assert proc.returncode == -signal.SIGKILL and step < 12, f"killed too late (step {step})"
    done = subprocess.run(
        [*command, "--out", str(killed), "--resume"], env=subprocess_env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    whole = tmp_path / "whole"
    done = subprocess.run([*command, "--out", str(whole)], env=subprocess_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert_identical(params(killed / "last.pt"), params(whole / "last.pt"))
    assert load_checkpoint(killed / "last.pt")["step"] == 12
