"""Training: config dataclasses, the loop, checkpoints, PPID distillation, real-data adaptation, DDP.

* :mod:`.config`: :class:`Config` and friends, :func:`load_config` (YAML + ``--set a.b=v``), :func:`to_dict`;
* :mod:`.loop`: :func:`train` (any paradigm; AMP on CUDA, validation, best / last checkpoints, logs);
* :mod:`.checkpoint`: atomic checkpoints with everything needed for a bit-exact resume;
* :mod:`.data`: config sources -> :mod:`automatte.data` datasets, the step-indexed, rank-sharded order;
* :mod:`.optim`: SGD / Adam / AdamW, layer-wise decay, poly / cosine / step schedules with warm-up;
* :mod:`.objectives`: recipe lookup by name (``automatte.losses.RECIPES``);
* :mod:`.distill` (PPID), :mod:`.adapt` (TGN + SPAMattNet adaptation, PatchGAN), :mod:`.distributed`;
* :mod:`.cli`: :func:`cli_main`, the ``automatte train`` command.

Example:
    >>> from automatte.train import load_config
    >>> load_config("configs/aimnet_tiny_alpha_synth_smoke.yaml").train.steps  # doctest: +SKIP
    20
"""

import importlib

__all__ = ["Config", "load_config", "to_dict", "train", "TrainResult", "cli_main"]

# Imported on first use: the ``automatte`` command builds its parser from ``train.cli`` and must not pay for
# torch and the training stack on every call.
_LAZY = {
    "cli_main": "automatte.train.cli",
    "Config": "automatte.train.config",
    "load_config": "automatte.train.config",
    "to_dict": "automatte.train.config",
    "TrainResult": "automatte.train.loop",
    "train": "automatte.train.loop",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'automatte.train' has no attribute {name!r}")
