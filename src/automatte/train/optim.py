"""Optimisers and learning-rate schedules from :class:`~automatte.train.config.OptimConfig`.

Parameter groups: every trainable parameter gets ``lr = optim.lr * layer_scale * prefix_scale`` and
``weight_decay`` (0 for 1-D parameters and position embeddings when ``decay_norm_and_bias`` is False); equal
settings share a group. The schedule (:class:`LRFactor`) multiplies every group's initial lr by the same
factor, stepped once per optimiser step.

The papers' settings (see ``configs/``): SGD momentum 0.9 + poly 0.9 (PP-Matting, PPID), Adam with warm-up +
cosine (SPAMattNet, following GCA), AdamW + layer-wise decay 0.65 + step decay (DDC, following ViTMatte).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import torch
from torch import nn

from automatte.train.config import OptimConfig

__all__ = ["LRFactor", "layer_scales", "param_groups", "build_optimizer", "build_scheduler"]

_BLOCK = re.compile(r"(?:^|\.)blocks\.(\d+)\.")
_EMBED = ("patch_embed", "pos_embed", "cls_token")


class LRFactor:
    """The schedule's multiplier after ``step`` optimiser steps (a picklable callable for ``LambdaLR``).

    The warm-up counts optimiser steps taken: ``taken`` when it is set (the training loop sets it where
    ``train.time_schedule`` moves the schedule's position by the clock, ahead of the steps), else ``step``.

    Example:
        >>> f = LRFactor(OptimConfig(schedule="poly", power=1.0), total_steps=10)
        >>> [round(f(s), 2) for s in (0, 5, 10)]
        [1.0, 0.5, 0.0]
        >>> g = LRFactor(OptimConfig(schedule="cosine", warmup_steps=2, warmup_factor=0.0), total_steps=4)
        >>> [round(g(s), 3) for s in range(5)]
        [0.0, 0.427, 0.5, 0.146, 0.0]
    """

    def __init__(self, cfg: OptimConfig, total_steps: int):
        self.schedule, self.power, self.min_ratio = cfg.schedule, cfg.power, cfg.min_lr_ratio
        self.milestones, self.values = list(cfg.milestones), list(cfg.milestone_values)
        self.warmup, self.warmup_factor = cfg.warmup_steps, cfg.warmup_factor
        self.total = max(1, int(total_steps))
        self.taken: int | None = None

    def __call__(self, step: int) -> float:
        t = min(max(step, 0), self.total)
        if self.schedule == "poly":
            factor = (1.0 - t / self.total) ** self.power
        elif self.schedule == "cosine":
            factor = self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t / self.total))
        elif self.schedule == "step":
            factor = 1.0
            for milestone, value in zip(self.milestones, self.values):
                if t >= milestone:
                    factor = value
        else:
            factor = 1.0
        warm = step if self.taken is None else self.taken
        if self.warmup and warm < self.warmup:
            factor *= self.warmup_factor + (1.0 - self.warmup_factor) * warm / self.warmup
        return factor


def layer_scales(model: nn.Module, decay: float) -> dict[str, float]:
    """Layer-wise lr multipliers of a ViT model's parameters (name -> scale; see ``OptimConfig.layer_decay``).

    Parameters of ``blocks.i.`` get ``decay ** (L - i)``, the embeddings (``patch_embed``, ``pos_embed``,
    ``cls_token``) ``decay ** (L + 1)``, the rest 1. Raises ValueError when the model has no ``blocks.N.``.
    """
    names = [n for n, _ in model.named_parameters()]
    ids = [int(m.group(1)) for n in names if (m := _BLOCK.search(n))]
    if not ids:
        raise ValueError(f"optim.layer_decay: {type(model).__name__} has no ViT 'blocks.N.' parameters")
    depth = max(ids) + 1
    scales = {}
    for name in names:
        m = _BLOCK.search(name)
        if m:
            layer = int(m.group(1)) + 1
        elif any(e in name for e in _EMBED):
            layer = 0
        else:
            layer = depth + 1
        scales[name] = decay ** (depth + 1 - layer)
    return scales


def _prefix_scale(name: str, table: dict) -> float:
    best, scale = -1, 1.0
    for prefix, value in table.items():
        if name.startswith(prefix) and len(prefix) > best:
            best, scale = len(prefix), float(value)
    return scale


def param_groups(
    named: Iterable[tuple[str, nn.Parameter]], cfg: OptimConfig, scales: dict[str, float] | None = None
) -> list[dict]:
    """Optimiser parameter groups (module docstring); ``scales``: optional per-name lr multipliers."""
    groups: dict[tuple[float, float], dict] = {}
    for name, p in named:
        if not p.requires_grad:
            continue
        scale = (scales or {}).get(name, 1.0) * _prefix_scale(name, cfg.lr_scale)
        no_decay = not cfg.decay_norm_and_bias and (p.ndim <= 1 or "pos_embed" in name or "rel_pos" in name)
        wd = 0.0 if no_decay else cfg.weight_decay
        group = groups.setdefault(
            (scale, wd), {"params": [], "lr": cfg.lr * scale, "weight_decay": wd, "lr_scale": scale}
        )
        group["params"].append(p)
    return list(groups.values())


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """SGD / Adam / AdamW over ``model``'s trainable parameters, with the groups of :func:`param_groups`."""
    scales = layer_scales(model, cfg.layer_decay) if cfg.layer_decay is not None else None
    groups = param_groups(model.named_parameters(), cfg, scales)
    if not groups:
        raise ValueError(f"{type(model).__name__}: no trainable parameters")
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.name == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
    if cfg.name == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
    raise ValueError(f"optim.name: expected 'sgd', 'adam' or 'adamw', got {cfg.name!r}")


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: OptimConfig, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """``LambdaLR`` with :class:`LRFactor` (step it once per optimiser step)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, LRFactor(cfg, total_steps))
