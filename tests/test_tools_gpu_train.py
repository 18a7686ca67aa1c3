"""tools/gpu_train.py: the lent-GPU training script, run here on the CPU with a tiny budget and a fake pack."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("gpu_train", ROOT / "tools" / "gpu_train.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def _pack(root: Path) -> Path:
    rng = np.random.default_rng(0)
    (root / "set/image").mkdir(parents=True)
    (root / "set/mask").mkdir(parents=True)
    for i in range(4):
        cv2.imwrite(str(root / f"set/image/{i}.jpg"), rng.integers(0, 255, (48, 64, 3), np.uint8))
        mask = np.zeros((48, 64), np.uint8)
        mask[10:40, 15:50] = 255
        cv2.imwrite(str(root / f"set/mask/{i}.png"), mask)
    cfg = {
        "paradigm": "supervised",
        "model": {"name": "deeplabv3plus_mnv2"},
        "data": {
            "train": [{"kind": "coarse", "path": str(root / "set"), "weight": 1.0}],
            "crop_size": 32,
            "crop_sizes": [32],
            "batch_size": 2,
            "workers": 0,
        },
        "optim": {"name": "adam", "lr": 1e-4, "schedule": "cosine", "warmup_steps": 1},
        "loss": {"recipe": "segment"},
        "train": {"steps": 100, "log_every": 1},
    }
    path = root / "experiment.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def test_gpu_train_runs_on_the_cpu_and_writes_loadable_weights(tmp_path, monkeypatch):
    experiment = _pack(tmp_path / "pack")
    out = tmp_path / "out"
    monkeypatch.setenv("OUT", str(out))
    keep = tmp_path / "keep" / "last.safetensors"
    args = ["--experiment", str(experiment), "--device", "cpu", "--minutes", "0.02", "--probe-steps", "2"]
    assert tool.main([*args, "--keep", str(keep)]) == 0
    assert keep.read_bytes() == (out / "segmenter.safetensors").read_bytes()  # a next call's --init
    summary = json.loads((out / "summary.json").read_text())
    assert summary["device"] == "cpu" and 1 <= summary["steps"] <= summary["planned_steps"]
    assert summary["images"] == 2 * summary["steps"]
    from safetensors import safe_open

    with safe_open(str(out / "segmenter.safetensors"), "pt") as f:
        assert f.metadata()["arch"] == "deeplabv3plus_mnv2"
        assert all(f.get_tensor(k).dtype.is_floating_point is False or f.get_tensor(k).dtype.itemsize == 2
                   for k in list(f.keys())[:20])  # fmt: skip
    import automatte

    model = automatte.load_model("twostage-cf", segmenter=str(out / "segmenter.safetensors"))
    assert model is not None


def test_gpu_train_wants_an_output_folder(monkeypatch):
    monkeypatch.delenv("OUT", raising=False)
    assert tool.main(["--device", "cpu"]) == 2


@pytest.mark.parametrize("margin", [0.5, 1.0])
def test_the_run_is_planned_at_a_margin_of_the_probe_rate(tmp_path, monkeypatch, margin):
    experiment = _pack(tmp_path / "pack")
    monkeypatch.setenv("OUT", str(tmp_path / "out"))
    monkeypatch.setattr(tool, "_rate", lambda log: 60.0)  # 60 images/s, batch 2: 30 steps/s at margin 1
    seen = {}

    def fake_train(cfg):
        seen[cfg.train.steps] = cfg
        if len(seen) == 2:  # the real run: planned, not run
            raise SystemExit(0)

    import automatte.train

    monkeypatch.setattr(automatte.train, "train", fake_train)
    with pytest.raises(SystemExit):
        tool.main(["--experiment", str(experiment), "--device", "cpu", "--minutes", "0.1", "--probe-steps", "2",
                   "--margin", str(margin), "--keep", ""])  # fmt: skip
    assert max(seen) == int(margin * 60.0 * 6 / 2)
    real = seen[max(seen)].train  # the clock ends its cosine at the budget when it runs slower than planned
    assert real.time_schedule and real.time_limit_s == pytest.approx(6.0)


def test_a_run_that_ends_early_is_topped_up_at_half_the_lr_from_its_weights(tmp_path, monkeypatch):
    experiment = _pack(tmp_path / "pack")
    out = tmp_path / "out"
    monkeypatch.setenv("OUT", str(out))
    args = ["--experiment", str(experiment), "--device", "cpu", "--minutes", "0.05", "--probe-steps", "2",
            "--margin", "0.05", "--top-up-s", "0", "--keep", ""]  # fmt: skip
    assert tool.main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    first, second = summary["runs"]
    assert second["lr"] == first["lr"] / 2 and second["steps"] >= 1
    assert summary["steps"] == first["steps"] + second["steps"] and summary["images"] == 2 * summary["steps"]
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if line.strip()]
    assert len([r for r in rows if r.get("kind") == "train"]) >= first["steps"] + second["steps"] - 2
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["model"]["kwargs"]["pretrained"] == str(out / "segmenter.safetensors")  # the top-up's init


def test_no_top_up_when_the_run_used_its_budget(tmp_path, monkeypatch):
    experiment = _pack(tmp_path / "pack")
    out = tmp_path / "out"
    monkeypatch.setenv("OUT", str(out))
    args = ["--experiment", str(experiment), "--device", "cpu", "--minutes", "0.02", "--probe-steps", "2", "--keep", ""]
    assert tool.main(args) == 0  # 1.2 s of budget: always under the default 60 s top-up threshold
    assert len(json.loads((out / "summary.json").read_text())["runs"]) == 1
