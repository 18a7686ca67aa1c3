"""PPID distillation (paradigm ``distill``): a frozen trimap-based teacher guides a trimap-free student.

The student is a :class:`~automatte.models.ppid.PPIDStudent` (``dim_ppid``, ``indexnet_ppid``, ``gca_ppid``,
``ppid_test``); the teacher is ``distill.teacher`` (default: the student's family, e.g. ``indexnet``), loaded
from ``distill.teacher_checkpoint`` (a checkpoint of this trainer, e.g. the teacher's own supervised run's
``best.pt``, or a state dict), frozen and kept in eval mode. Per batch:

* the teacher runs on (image, trimap) under ``torch.no_grad``;
* the student runs on the image; :meth:`PPIDStudent.teacher_features` maps the teacher's output through the
  student's own GC blocks (which therefore learn from both sides of eq. 3) and the fixed teacher attention
  (``M^s_T``, a detached target of eq. 7-8: ``models.ppid``, choice 4);
* ``L = L_alpha + γ (L_CLSD + L_ALD)`` (PPID eq. 18) by :func:`automatte.losses.ppid_losses` with γ, λ1, λ2,
  α, β from :class:`~automatte.train.config.DistillConfig` (table 5) and any other recipe keyword from
  ``loss.kwargs``.

Both networks sit in one module (:class:`DistillPair`) so that DistributedDataParallel sees the whole
forward; the checkpoints store the student only (``model_name`` = the student's registry name), and the
teacher is reloaded from its checkpoint on resume.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from automatte.models.output import MattingOutput
from automatte.models.ppid import PPIDStudent
from automatte.registry import create_model, model_info
from automatte.train.checkpoint import model_state_from_file
from automatte.train.config import Config
from automatte.train.task import Task, model_inputs

__all__ = ["DistillPair", "DistillTask", "build_teacher"]


def build_teacher(cfg: Config, student: PPIDStudent) -> nn.Module:
    """The frozen teacher of ``cfg.distill`` (see the module docstring), in eval mode, on the CPU."""
    name = cfg.distill.teacher or student.teacher_name
    if name is None:
        raise ValueError("distill.teacher: the student names no teacher; set distill.teacher to a registry name")
    inputs = model_info(name).inputs
    if inputs != ("image", "trimap"):
        raise ValueError(f"distill.teacher: {name!r} takes {inputs}; PPID's teacher takes ('image', 'trimap')")
    teacher = create_model(name)
    path = cfg.distill.teacher_checkpoint
    if path:
        state, stored = model_state_from_file(path)
        if stored is not None and stored != name:
            raise ValueError(f"distill.teacher_checkpoint: {path} holds a {stored!r} model, the teacher is {name!r}")
        try:
            teacher.load_state_dict(state)
        except RuntimeError as err:
            raise ValueError(f"distill.teacher_checkpoint: {path} does not fit {name!r}: {err}") from None
    elif not cfg.distill.random_teacher:
        raise ValueError(
            "distill.teacher_checkpoint: PPID needs a trained teacher (e.g. the best.pt of its supervised run); "
            "set distill.random_teacher=true only for smoke tests"
        )
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


class DistillPair(nn.Module):
    """Student and frozen teacher in one module: ``forward(image, trimap) -> (student_out, teacher_out)``,
    ``teacher_out`` from :meth:`PPIDStudent.teacher_features` (module docstring). The teacher stays in eval
    mode whatever ``train()`` is called with."""

    def __init__(self, student: PPIDStudent, teacher: nn.Module):
        super().__init__()
        self.student, self.teacher = student, teacher

    def train(self, mode: bool = True) -> DistillPair:
        super().train(mode)
        self.teacher.eval()
        return self

    def forward(self, image: Tensor, trimap: Tensor) -> tuple[MattingOutput, MattingOutput]:
        with torch.no_grad():
            raw = self.teacher(image=image, trimap=trimap)
        return self.student(image=image), self.student.teacher_features(raw)


class DistillTask(Task):
    """The ``distill`` paradigm (module docstring)."""

    def __init__(self, cfg: Config, device: torch.device):
        super().__init__(cfg, device)
        if not isinstance(self.model, PPIDStudent):
            raise ValueError(
                f"model.name: the distill paradigm trains a PPID student (dim_ppid, indexnet_ppid, gca_ppid, ppid_test), "
                f"got {cfg.model.name!r} ({type(self.model).__name__})"
            )
        self.pair = DistillPair(self.model, build_teacher(cfg, self.model).to(device))
        d = cfg.distill
        self.weights = dict(
            gamma=d.gamma, lambda1=d.lambda1, lambda2=d.lambda2, ald_alpha=d.ald_alpha, ald_beta=d.ald_beta
        )
        clash = sorted(set(self.weights) & set(cfg.loss.kwargs))
        if clash:
            raise ValueError(
                f"loss.kwargs: set {clash} in the distill section (distill.{clash[0]}), not in loss.kwargs"
            )

    @property
    def module(self) -> nn.Module:
        return self.pair

    def losses(self, module: nn.Module, batch: Mapping, step: int) -> dict[str, Tensor]:
        student, teacher = module(**model_inputs(batch, ("image", "trimap")))
        return self.recipe(student, batch, teacher, **self.weights, **self.cfg.loss.kwargs)
