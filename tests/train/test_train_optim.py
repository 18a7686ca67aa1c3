"""Optimisers, parameter groups and schedules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from automatte.registry import create_model
from automatte.train.config import OptimConfig
from automatte.train.optim import LRFactor, build_optimizer, build_scheduler, layer_scales


def factors(cfg: OptimConfig, total: int) -> list[float]:
    f = LRFactor(cfg, total)
    return [f(s) for s in range(total + 1)]


def test_poly_cosine_step_and_warmup():
    assert factors(OptimConfig(schedule="poly", power=0.9), 4)[::2] == pytest.approx([1.0, 0.5**0.9, 0.0])
    cos = factors(OptimConfig(schedule="cosine", min_lr_ratio=0.1), 2)
    assert cos == pytest.approx([1.0, 0.55, 0.1])
    step = factors(OptimConfig(schedule="step", milestones=[2, 3], milestone_values=[0.1, 0.05]), 4)
    assert step == pytest.approx([1, 1, 0.1, 0.05, 0.05])
    warm = factors(OptimConfig(schedule="constant", warmup_steps=4, warmup_factor=0.2), 5)
    assert warm == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0])


def test_scheduler_scales_every_group_and_survives_a_state_dict():
    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    cfg = OptimConfig(name="sgd", lr=0.1, schedule="poly", power=1.0, lr_scale={"1.": 0.5})
    opt = build_optimizer(net, cfg)
    sched = build_scheduler(opt, cfg, total_steps=10)
    assert sorted(g["lr"] for g in opt.param_groups) == pytest.approx([0.05, 0.1])
    for _ in range(5):
        opt.step()
        sched.step()
    assert sorted(g["lr"] for g in opt.param_groups) == pytest.approx([0.025, 0.05])
    again = build_scheduler(build_optimizer(net, cfg), cfg, total_steps=10)
    again.load_state_dict(sched.state_dict())
    assert again.last_epoch == 5


def test_weight_decay_groups_and_optimisers():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    cfg = OptimConfig(name="adamw", lr=1e-3, weight_decay=0.1, decay_norm_and_bias=False, betas=(0.5, 0.9))
    opt = build_optimizer(net, cfg)
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["betas"] == (0.5, 0.9)
    decays = {g["weight_decay"]: sum(p.numel() for p in g["params"]) for g in opt.param_groups}
    assert decays == {0.1: 18, 0.0: 6}  # conv weight decayed; conv bias, BN weight and bias not
    assert isinstance(build_optimizer(net, OptimConfig(name="sgd", nesterov=True)), torch.optim.SGD)


def test_layer_decay_follows_the_vit_blocks():
    net = create_model("vitmatte_test")
    scales = layer_scales(net, 0.5)
    assert scales["backbone.pos_embed"] == scales["backbone.patch_embed.proj.weight"] == 0.5**3
    assert scales["backbone.blocks.0.attn.qkv.weight"] == 0.5**2
    assert scales["backbone.blocks.1.mlp.fc1.weight"] == 0.5
    assert scales["decoder.matting_head.matting_convs.0.weight"] == 1.0
    with pytest.raises(ValueError, match="no ViT 'blocks.N.'"):
        layer_scales(nn.Linear(1, 1), 0.65)
