"""What a paradigm trains: the :class:`Task` interface of the loop, and the supervised task.

A task owns

* ``model``: the network that checkpoints store (``model`` / ``model_name``) and that validation runs;
* ``module``: what the loop puts in training mode, wraps in DistributedDataParallel and calls in
  :meth:`Task.losses` (the model itself, or a wrapper such as the distillation pair holding a frozen
  teacher next to it);
* the losses of a batch, an optional extra update after the optimiser step (the adaptation's
  discriminator) and any extra state to checkpoint.

The optimiser covers ``model.parameters()`` that require grad.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from automatte.infer.padding import crop_to, pad_to_multiple
from automatte.registry import create_model, model_info
from automatte.train.checkpoint import model_state_from_file
from automatte.train.config import Config
from automatte.train.objectives import get_recipe

__all__ = ["Task", "SupervisedTask", "build_model", "model_inputs", "check_label_inputs", "make_task"]

# recipes whose only label is ``batch[key]``, which the model must therefore not take as an input
LABEL_ONLY_INPUTS = {"ddc": ("trimap",)}


def build_model(cfg: Config) -> nn.Module:
    """``create_model(cfg.model.name, **cfg.model.kwargs)`` with ``cfg.model.init_from`` loaded (strict)."""
    model = create_model(cfg.model.name, **cfg.model.kwargs)
    if cfg.model.init_from:
        state, name = model_state_from_file(cfg.model.init_from)
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            stored = f" (a {name!r} checkpoint)" if name else ""
            where = f"model.init_from: {cfg.model.init_from}{stored}"
            raise ValueError(f"{where} does not fit {cfg.model.name!r}: {err}") from None
    return model


def model_inputs(batch: Mapping, names: tuple[str, ...]) -> dict[str, Tensor]:
    """The forward keyword arguments ``names`` (``image``, ``trimap``, ``mask``) taken from ``batch``."""
    missing = [n for n in names if batch.get(n) is None]
    if missing:
        raise ValueError(f"the model takes {names} but the batch has no {missing} (keys: {sorted(batch)})")
    return {n: batch[n] for n in names}


def check_label_inputs(cfg: Config, inputs: tuple[str, ...]) -> None:
    """Raise a ValueError when the model would take the recipe's label as an input.

    Trimap-only training (``loss.recipe: ddc``; DDC paper sec. 3.1: "the image as the only input and the
    trimap as the label") supervises with ``batch["trimap"]`` alone: a model that also reads it can meet the
    known loss by copying its input. Such a config is an error, not a warning.

    Example:
        >>> from automatte.train.config import Config
        >>> cfg = Config(); cfg.loss.recipe = "ddc"
        >>> check_label_inputs(cfg, ("image",))
        >>> check_label_inputs(cfg, ("image", "trimap"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: model.name: ...
    """
    clash = [k for k in LABEL_ONLY_INPUTS.get(cfg.loss.recipe, ()) if k in inputs]
    if clash:
        raise ValueError(
            f"model.name: {cfg.model.name!r} takes {tuple(inputs)} as inputs, but loss.recipe {cfg.loss.recipe!r} "
            f"uses batch[{clash[0]!r}] as its only label (DDC paper sec. 3.1: the image is the only input); "
            f"feeding the label {clash[0]!r} in as an input lets the known loss be met by copying it. "
            "Use an image-only model, e.g. vitmatte_s_free"
        )


def freeze_batchnorm(module: nn.Module) -> None:
    """Put every BatchNorm layer of ``module`` in eval mode (fixed running statistics)."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


class Task:
    """Base class; the supervised paradigm (one network, one recipe)."""

    def __init__(self, cfg: Config, device: torch.device):
        self.cfg, self.device = cfg, device
        check_label_inputs(cfg, model_info(cfg.model.name).inputs)  # before building: fail fast
        self.model = build_model(cfg).to(device)
        self.inputs: tuple[str, ...] = tuple(self.model.model_inputs)
        self.recipe: Callable = get_recipe(cfg.loss.recipe)

    @property
    def module(self) -> nn.Module:
        return self.model

    def wrap(self, wrap: Callable[[nn.Module], nn.Module]) -> nn.Module:
        """Wrap ``module`` (and any other trained module) for distributed training; return the wrapped module."""
        return wrap(self.module)

    def train_mode(self, module: nn.Module) -> None:
        module.train()
        if self.cfg.train.freeze_bn:
            freeze_batchnorm(module)

    def losses(self, module: nn.Module, batch: Mapping, step: int) -> dict[str, Tensor]:
        """The recipe's dict (``"total"`` and parts) for ``batch`` at optimiser step ``step`` (0-based)."""
        output = module(**model_inputs(batch, self.inputs))
        return self.recipe(output, batch, **self.cfg.loss.kwargs)

    def after_step(self, batch: Mapping, step: int, autocast) -> dict[str, Tensor]:
        """Extra updates after the optimiser step (none here); returns parts to log."""
        return {}

    @torch.no_grad()
    def predict(self, batch: Mapping) -> Tensor:
        """Validation prediction ``(B, 1, H, W)`` of ``model`` in eval mode (inputs padded to a multiple of 32)."""
        self.model.eval()
        inputs = model_inputs(batch, self.inputs)
        padded = {}
        for name, x in inputs.items():
            padded[name], pads = pad_to_multiple(x, 32)
        return crop_to(self.model(**padded).alpha, pads).float()

    def state_dict(self) -> dict:
        """Extra checkpoint state (``extra``)."""
        return {}

    def load_state_dict(self, state: Mapping) -> None:
        pass


SupervisedTask = Task


def make_task(cfg: Config, device: torch.device) -> Task:
    """The task of ``cfg.paradigm``."""
    if cfg.paradigm == "distill":
        from automatte.train.distill import DistillTask

        return DistillTask(cfg, device)
    if cfg.paradigm == "adapt":
        from automatte.train.adapt import AdaptTask

        return AdaptTask(cfg, device)
    return SupervisedTask(cfg, device)
