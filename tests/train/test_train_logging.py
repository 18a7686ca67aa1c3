"""Logs: log.jsonl always; TensorBoard events when the tensorboard package is installed, skipped otherwise."""

from __future__ import annotations

import json
import sys

import pytest
from train_helpers import experiment

from automatte.train import train

QUICK = ("train.steps=2", "train.log_every=1", "train.val_every=2", "data.val.0.kwargs.n=2")


def test_tensorboard_events_when_installed(tmp_path):
    pytest.importorskip("tensorboard")
    train(experiment("tgn_tiny_alpha_synth_smoke", tmp_path, *QUICK))
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [(r["step"], r["kind"]) for r in rows] == [(1, "train"), (2, "train"), (2, "val")]
    assert {"total", "ce", "lr"} <= set(rows[0])


def test_jsonl_only_without_tensorboard(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    train(experiment("tgn_tiny_alpha_synth_smoke", tmp_path, *QUICK))
    assert not (tmp_path / "tb").exists()
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 3


def test_tensorboard_off(tmp_path):
    train(experiment("tgn_tiny_alpha_synth_smoke", tmp_path, *QUICK, "train.tensorboard=false"))
    assert not (tmp_path / "tb").exists() and (tmp_path / "log.jsonl").is_file()
