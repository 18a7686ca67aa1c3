"""tools/gpu_pack_ablations.py and tools/gpu_ablations.py (issue 29): the pack for the 256-px ablations on a lent
GPU (VGG-16 in float16 and a subset of the background photos) and the runner's checks, on a tiny fake tree (no
training here; the runner's CPU smoke run is in docs/ablations.md)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pack = _load("gpu_pack_ablations")


def _tree(root: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    rng = np.random.default_rng(0)
    for folder, n in (("bsds", 6), ("urban", 4)):
        (root / "data/backgrounds" / folder).mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(
                str(root / f"data/backgrounds/{folder}/{i:03d}.png"), rng.integers(0, 255, (90, 150, 3), np.uint8)
            )
    weights = root / "weights" / pack.VGG
    weights.parent.mkdir()
    g = torch.Generator().manual_seed(0)
    state = {
        "features.0.weight": torch.randn(8, 3, 3, 3, generator=g) * 0.1,
        "features.0.bias": torch.randn(8, generator=g),
    }
    save_file(state, str(weights), metadata={"format": "automatte-backbone", "arch": "vgg16"})
    return weights


def test_pack_halves_the_weights_and_packs_a_stable_background_subset(tmp_path):
    import torch
    from safetensors import safe_open

    from automatte.models.weights import read_state_dict

    weights = _tree(tmp_path)
    out = tmp_path / "build" / "ablpack"
    args = ["--shared", str(tmp_path / "data"), "--weights", str(weights), "--out", str(out), "--per-folder", "3",
            "--max-side", "64", "--budget-mb", "5"]  # fmt: skip
    assert pack.main(args) == 0
    packed = out / "weights" / pack.PACKED_VGG
    half = read_state_dict(packed)
    assert {v.dtype for v in half.values()} == {torch.float16}
    manifest = json.loads((out / "MANIFEST.json").read_text())
    assert 0 < manifest["weights"]["max_relative_error"] < 1e-3
    assert manifest["backgrounds"]["folders"] == {"bsds": {"packed": 3, "of": 6}, "urban": {"packed": 3, "of": 4}}
    names = sorted(p.name for p in (out / "data/backgrounds/bsds").iterdir())
    assert names == sorted(Path(n).stem + ".jpg" for n in pack.pick([f"{i:03d}.png" for i in range(6)], 3))
    assert pack.pick(["c", "a", "b"], 2) == pack.pick(["b", "c", "a"], 2)  # the listing order does not matter
    assert all(max(cv2.imread(str(p)).shape[:2]) == 64 for p in (out / "data/backgrounds").rglob("*.jpg"))
    # back to float32 with the original metadata, within float16's rounding
    back = pack.unpack_weights(packed, tmp_path / "unpacked" / pack.VGG)
    original, restored = read_state_dict(weights), read_state_dict(back)
    assert {v.dtype for v in restored.values()} == {torch.float32}
    for k, v in original.items():
        torch.testing.assert_close(restored[k], v, rtol=1e-3, atol=1e-4)
    with safe_open(str(back), framework="pt") as f:
        assert f.metadata() == {"format": "automatte-backbone", "arch": "vgg16"}
    # over the budget, or no weights: refused
    assert pack.main([*args[:-1], "0.001"]) == 2
    assert pack.main([*args[:2], "--weights", str(tmp_path / "none.safetensors"), *args[4:]]) == 2


def test_runner_refuses_without_out_or_pack(tmp_path, monkeypatch, capsys):
    runner = _load("gpu_ablations")
    monkeypatch.delenv("OUT", raising=False)
    assert runner.main(["--pack", str(tmp_path / "none")]) == 2
    monkeypatch.setenv("OUT", str(tmp_path / "out"))
    assert runner.main(["--pack", str(tmp_path / "none")]) == 2
    assert "make gpu-pack-ablations" in capsys.readouterr().err
    sys.modules.pop("gpu_pack_ablations", None)


@pytest.mark.parametrize("minutes", [5.0, 9.0])
def test_fit_steps_fills_the_budget_with_equal_steps_per_paper(minutes):
    spec = importlib.util.spec_from_file_location("ablations_fit", ROOT / "benchmarks" / "ablations.py")
    abl = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = abl
    spec.loader.exec_module(abl)
    probes = {
        "aim": {"s_per_step": {"trimap": 0.05, "unified": 0.05}, "overhead_s": {"trimap": 4.0, "unified": 4.0},
                "eval_s_per_row": 1.0},
        "spamattnet": {"s_per_step": {"tgn": 0.04, "spa": 0.03, "spa_no_rm": 0.03},
                       "overhead_s": {"tgn": 3.0, "spa": 3.0, "spa_no_rm": 3.0}, "eval_s_per_row": 2.0},
    }  # fmt: skip
    seconds = minutes * 60
    steps = abl.fit_steps(probes, seconds, n_seeds=2, margin=0.85)
    total = sum(abl.total_estimate(probes, steps, 2).values())
    assert 0.8 * seconds < total <= seconds  # the estimate fills the budget, less the margin
    per_run = {k: steps[k] * sum(p["s_per_step"].values()) / len(p["s_per_step"]) for k, p in probes.items()}
    assert per_run["aim"] == pytest.approx(per_run["spamattnet"], rel=0.05)  # about the same wall time per run
    sys.modules.pop(spec.name, None)
