"""CUDA-only checks: mixed precision (bf16 autocast, fp16 with a GradScaler) and resume with CUDA RNG states."""

from __future__ import annotations

import math

import pytest
import torch
from train_helpers import experiment

from automatte.train import train
from automatte.train.checkpoint import load_checkpoint

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
@pytest.mark.parametrize("name", ["aimnet_tiny_alpha_synth_smoke", "tgn_spamattnet_tiny_pseudo_synth_smoke"])
def test_amp_on_cuda(name, amp, tmp_path):
    cfg = experiment(name, tmp_path, "train.device=cuda", f"train.amp={amp}", "train.steps=6", "train.val_every=6")
    result = train(cfg)
    ckpt = load_checkpoint(result.last)
    assert (ckpt["scaler"] is not None) == (amp == "fp16")
    assert len(ckpt["rng"][0]["cuda"]) >= 1
    assert result.best_value is not None and math.isfinite(result.best_value)


def test_resume_on_cuda_restores_the_cuda_generator(tmp_path, monkeypatch):
    import automatte.train.loop as loop

    def cfg(out):
        return experiment("tgn_tiny_alpha_synth_smoke", out, "train.device=cuda", "train.steps=6",
                          "train.ckpt_every=3", "train.val_every=0")  # fmt: skip

    straight = load_checkpoint(train(cfg(tmp_path / "a")).last)
    real = loop.save_checkpoint

    def stop(path, state):
        real(path, state)
        if state["step"] == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "save_checkpoint", stop)
    with pytest.raises(KeyboardInterrupt):
        train(cfg(tmp_path / "b"))
    monkeypatch.setattr(loop, "save_checkpoint", real)
    resumed = load_checkpoint(train(cfg(tmp_path / "b"), resume=True).last)
    for key, value in straight["model"].items():  # deterministic cuDNN; a tolerance for GPU atomics
        assert torch.allclose(value.float(), resumed["model"][key].float(), atol=1e-6), key
