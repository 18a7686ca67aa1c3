"""tools/gpu_pack.py: the compact training pack for a lent GPU machine, on a tiny fake data tree."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("gpu_pack", ROOT / "tools" / "gpu_pack.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def _tree(root: Path) -> None:
    rng = np.random.default_rng(0)
    for i in range(12):
        (root / "data/coarse/set/image").mkdir(parents=True, exist_ok=True)
        (root / "data/coarse/set/mask").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / f"data/coarse/set/image/{i:03d}.jpg"), rng.integers(0, 255, (60, 90, 3), np.uint8))
        mask = np.zeros((60, 90), np.uint8)
        mask[10:50, 20:70] = 255
        cv2.imwrite(str(root / f"data/coarse/set/mask/{i:03d}.png"), mask)
    for folder in ("scenery", "animals", "city"):
        (root / "data/bg" / folder).mkdir(parents=True)
        for i in range(2):
            cv2.imwrite(str(root / f"data/bg/{folder}/{i}.jpg"), rng.integers(0, 255, (50, 80, 3), np.uint8))


def test_pack_moves_paths_and_packs_only_the_listed_background_folders(tmp_path, monkeypatch):
    _tree(tmp_path)
    pool = ["data/bg/scenery", "data/bg/city"]  # the animals folder is left out of the pool
    cfg = {
        "paradigm": "supervised",
        "model": {"name": "x"},
        "data": {
            "train": [
                {"kind": "coarse", "path": "data/coarse/set", "weight": 0.5, "kwargs": {"split": "train"}},
                {"kind": "copypaste", "path": "data/coarse/set", "weight": 0.5, "kwargs": {"backgrounds": pool}},
            ],
            "crop_size": 320,
            "crop_sizes": [320, 640],
            "batch_size": 8,
        },
        "train": {"steps": 10},
    }
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    out = tmp_path / "build" / "pack"
    assert tool.main(["--config", str(tmp_path / "exp.yaml"), "--out", str(out), "--budget-mb", "5"]) == 0

    packed = yaml.safe_load((out / "experiment.yaml").read_text(encoding="utf-8"))
    first, second = packed["data"]["train"]
    assert first["path"] == second["path"] == "build/pack/coarse/set"
    assert "split" not in first["kwargs"]  # the pack holds the training split alone
    assert second["kwargs"]["backgrounds"] == ["build/pack/backgrounds/scenery", "build/pack/backgrounds/city"]
    assert sorted(p.name for p in (out / "backgrounds").iterdir()) == ["city", "scenery"]
    assert len(list((out / "backgrounds" / "city").glob("*.jpg"))) == 2
    n_train = len(list((out / "coarse" / "set" / "image").glob("*.jpg")))
    assert 0 < n_train < 12 and n_train == len(list((out / "coarse" / "set" / "mask").glob("*.png")))
    assert packed["train"]["device"] == "cuda" and packed["data"]["batch_size"] == 32
    assert "augment" not in first["kwargs"]  # no backgrounds: nothing to keep sharp
    assert second["kwargs"]["augment"] == {"bg_max_upscale": 1.0}  # small packed backgrounds are never enlarged


def test_pack_fails_over_its_budget(tmp_path, monkeypatch):
    _tree(tmp_path)
    cfg = {
        "data": {
            "train": [{"kind": "copypaste", "path": "data/coarse/set", "kwargs": {"backgrounds": "data/bg"}}],
            "crop_size": 320,
            "crop_sizes": [320],
        },
        "train": {},
    }
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    out = tmp_path / "build" / "pack"
    assert tool.main(["--config", str(tmp_path / "exp.yaml"), "--out", str(out), "--budget-mb", "0.001"]) == 1
    # a single folder is packed whole (recursively) under backgrounds/
    assert len(list((out / "backgrounds").glob("*.jpg"))) == 6


@pytest.mark.parametrize("relative_out", [False, True])
def test_pack_takes_paths_relative_to_the_working_directory(tmp_path, monkeypatch, relative_out):
    _tree(tmp_path)
    cfg = {
        "data": {
            "train": [{"kind": "coarse", "path": "data/coarse/set", "kwargs": {"split": "train"}}],
            "crop_size": 320,
            "crop_sizes": [320],
        },
        "train": {},
    }
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "exp.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "build" / "pack"
    out_arg = "build/pack" if relative_out else str(out)
    assert tool.main(["--config", "configs/exp.yaml", "--out", out_arg, "--budget-mb", "5"]) == 0
    moved = yaml.safe_load((out / "experiment.yaml").read_text(encoding="utf-8"))
    assert moved["data"]["train"][0]["path"] == "build/pack/coarse/set"
    first_line = (out / "experiment.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first_line == "# made by tools/gpu_pack.py from configs/exp.yaml"


def test_pack_writes_cutouts_as_webp_with_their_alpha_exact(tmp_path):
    src = tmp_path / "cutouts"
    src.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:80, :120]
    alpha = np.clip(255 - np.hypot(yy - 40, xx - 60) * 6, 0, 255).astype(np.uint8)  # a soft disc: every level
    for i in range(20):
        rgba = np.dstack([rng.integers(0, 255, (80, 120, 3), np.uint8), alpha])
        cv2.imwrite(str(src / f"c{i:02d}.png"), rgba)
    dst = tmp_path / "pack"
    assert tool.pack_cutouts(src, dst, 60) > 0
    files = sorted(dst.glob("*.webp"))
    assert 0 < len(files) < 20 and not list(dst.glob("*.png"))  # the train split only
    back = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED)
    want = cv2.resize(alpha, (60, 40), interpolation=cv2.INTER_AREA)
    assert back.shape == (40, 60, 4)
    np.testing.assert_array_equal(back[..., 3], want)  # lossy colour, lossless alpha


def test_a_set_read_without_split_is_packed_whole_capped_by_max_for(tmp_path, monkeypatch):
    _tree(tmp_path)
    cfg = {
        "data": {
            "train": [
                {"kind": "coarse", "path": "data/coarse/set", "kwargs": {"augment": {"crop_sizes": [60, 90]}}},
                {"kind": "coarse", "path": "data/coarse/set", "kwargs": {"frame_prob": 1.0}},
            ],
            "crop_size": 320,
            "crop_sizes": [320],
        },
        "train": {},
    }
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    out = tmp_path / "build" / "pack"
    argv = ["--config", str(tmp_path / "exp.yaml"), "--out", str(out), "--budget-mb", "5", "--max-side", "45"]
    assert tool.main(argv) == 0
    assert len(list((out / "coarse" / "set" / "image").glob("*.jpg"))) == 12  # no split: all of them
    packed = yaml.safe_load((out / "experiment.yaml").read_text(encoding="utf-8"))
    assert packed["data"]["train"][0]["kwargs"]["augment"]["crop_sizes"] == [32, 45]  # photos halved: 90 -> 45
    assert tool.main([*argv, "--max-for", "set=5"]) == 0
    assert len(list((out / "coarse" / "set" / "image").glob("*.jpg"))) == 5


def test_a_config_with_a_base_is_packed_resolved(tmp_path, monkeypatch):
    _tree(tmp_path)
    base = {
        "paradigm": "supervised",
        "model": {"name": "x"},
        "data": {"train": [], "crop_size": 320, "crop_sizes": [320, 640], "batch_size": 8},
        "train": {"steps": 10},
    }
    round_ = {"base": "base.yaml", "data": {"train": [{"kind": "coarse", "path": "data/coarse/set", "weight": 1.0}]}}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base), encoding="utf-8")
    (tmp_path / "round.yaml").write_text(yaml.safe_dump(round_), encoding="utf-8")
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    out = tmp_path / "build" / "pack"
    assert tool.main(["--config", str(tmp_path / "round.yaml"), "--out", str(out), "--budget-mb", "5"]) == 0
    packed = yaml.safe_load((out / "experiment.yaml").read_text(encoding="utf-8"))
    assert "base" not in packed and packed["train"]["steps"] == 10  # the base's values are in, the key is not
    assert packed["data"]["train"][0]["path"] == "build/pack/coarse/set" and packed["data"]["crop_size"] == 320
