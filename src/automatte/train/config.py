"""Training configuration: dataclasses with defaults, a YAML experiment over them, ``--set a.b=v`` overrides.

STYLE habit 8 (nanoGPT style): every setting has a default here; an experiment file in ``configs/`` overrides
some of them; the command line overrides those with ``--set a.b=v``; the resolved :class:`Config` is stored
in every checkpoint (:func:`to_dict`) and read back with :func:`from_dict`.

Type checking: a YAML or ``--set`` value must fit the field's annotation (``int``, ``float``, ``bool``,
``str``, ``X | None``, ``list[...]``, ``tuple[...]``, ``dict``) or :func:`load_config` raises a ValueError naming
the key, the value and the expected type. Ints are accepted for floats; ``"1e-4"`` (which YAML 1.1 reads as a
string) is accepted for a float; bools are not ints. Unknown keys raise with a suggestion. Keys inside a
``dict`` field (``model.kwargs``, ``loss.kwargs``, ``data.train.0.kwargs``) are passed on unchecked: the
factory or recipe they go to checks them. ``--set`` values are parsed as YAML (``--set optim.betas=[0.5,0.999]``,
``--set model.init_from=null``); for a ``str`` field the text is taken as is.

Batch sizes are *global*: ``data.batch_size`` samples per optimiser step over all processes (it must divide by
the world size), so the same experiment file gives the same optimisation on 1 or N processes.

Example:
    >>> cfg = load_config(None, ["train.steps=20", "optim.lr=1e-3", "model.name=gca_test"])
    >>> cfg.train.steps, cfg.optim.lr, cfg.model.name
    (20, 0.001, 'gca_test')
    >>> load_config(None, ["train.steps=twenty"])
    Traceback (most recent call last):
    ...
    ValueError: --set train.steps=twenty: expected int, got 'twenty' (str)
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

__all__ = [
    "PARADIGMS",
    "ModelConfig",
    "SourceConfig",
    "DataConfig",
    "OptimConfig",
    "LossConfig",
    "TrainConfig",
    "DistillConfig",
    "AdaptConfig",
    "Config",
    "load_config",
    "merge_mappings",
    "read_experiment",
    "apply_overrides",
    "to_dict",
    "from_dict",
    "validate",
]

PARADIGMS = ("supervised", "distill", "adapt")
"""``supervised``: one network, a loss recipe on labelled (or trimap-only, DDC) data. ``distill``: PPID, a frozen
trimap-based teacher guides a trimap-free student. ``adapt``: TGN + SPAMattNet real-data adaptation (LSGAN)."""


@dataclass
class ModelConfig:
    """The network.

    Attributes:
        name: registry name (``automatte models`` lists them), e.g. ``"gca"``, ``"indexnet_ppid"``.
        kwargs: keyword arguments of the registry factory (e.g. ``pretrained`` backbone weights).
        init_from: weights to start from (not a resume: optimiser and step start afresh): a checkpoint
            written by this trainer (its ``model`` entry) or a state-dict file; None keeps the factory's.
    """

    name: str = "aimnet_test"
    kwargs: dict = field(default_factory=dict)
    init_from: str | None = None


@dataclass
class SourceConfig:
    """One data source of a training or validation mixture.

    Attributes:
        kind: ``"synthetic"`` (the procedural generator, an endless source), ``"folder"`` (a matting folder
            with online compositing) or ``"coarse"`` (photos with coarse masks / trimaps); see
            :mod:`automatte.train.data`.
        path: the dataset folder (``folder``, ``coarse``); for ``synthetic`` an optional folder of
            background photos.
        weight: relative sampling weight in the training mixture (> 0).
        kwargs: options of the source (e.g. ``types``, ``labels``, ``n``, ``trimap_k_range``).
    """

    kind: str = "synthetic"
    path: str | None = None
    weight: float = 1.0
    kwargs: dict = field(default_factory=dict)


@dataclass
class DataConfig:
    """Training and validation data.

    Attributes:
        train: the training mixture (sources drawn by ``weight``).
        val: the held-out set (every sample once per validation; each source needs a finite ``n`` or size).
        crop_size: side of the square training sample given to the network (pixels).
        crop_sizes: square crop sides taken from the source before resizing to ``crop_size``.
        batch_size: *global* batch: samples per optimiser step over all processes.
        val_batch_size: validation batch per forward.
        workers: DataLoader worker processes per training process (0: load in the main process).
        epoch_length: samples per epoch of the training mixture (each epoch reshuffles the finite sources;
            None: the sum of their sizes, or 1000 batches when a source is endless).
    """

    train: list[SourceConfig] = field(default_factory=lambda: [SourceConfig()])
    val: list[SourceConfig] = field(default_factory=lambda: [SourceConfig(kwargs={"n": 8})])
    crop_size: int = 512
    crop_sizes: list[int] = field(default_factory=lambda: [512, 640, 800])
    batch_size: int = 16
    val_batch_size: int = 1
    workers: int = 4
    epoch_length: int | None = None


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule.

    Attributes:
        name: ``"sgd"`` | ``"adam"`` | ``"adamw"``.
        lr: base learning rate (the schedule multiplies it).
        momentum, nesterov: SGD.
        betas, eps: Adam / AdamW.
        weight_decay: L2 (SGD, Adam) or decoupled (AdamW) weight decay.
        decay_norm_and_bias: also decay 1-D parameters (norm weights, biases) and position embeddings
            (PyTorch's default: True; ViT recipes: False).
        layer_decay: ViT layer-wise lr decay (ViTMatte / DDC: 0.65): a parameter of block ``i`` of ``L`` gets
            ``lr * layer_decay ** (L - i)``, the patch / position embeddings ``lr * layer_decay ** (L + 1)``,
            everything outside the ViT backbone ``lr``. None: off.
        lr_scale: parameter-name prefix -> lr multiplier (e.g. ``{"tgn.": 1.0, "matting.": 0.4}``); the
            longest matching prefix wins.
        schedule: ``"constant"`` | ``"poly"`` (``(1 - t/T) ** power``) | ``"cosine"`` (to ``min_lr_ratio``)
            | ``"step"`` (multiplier ``milestone_values[k]`` from step ``milestones[k]`` on).
        power: poly exponent (0.9 in PP-Matting and PPID).
        min_lr_ratio: cosine floor as a fraction of ``lr``.
        milestones, milestone_values: the ``step`` schedule (same length, steps increasing).
        warmup_steps: linear warm-up from ``lr * warmup_factor`` to the schedule's value (any schedule), over
            this many optimiser steps, also where ``train.time_schedule`` moves the schedule by the clock.
        warmup_factor: the multiplier at step 0 of the warm-up.
        grad_clip: clip the global gradient norm to this value (0: off).
    """

    name: str = "adam"
    lr: float = 1e-4
    momentum: float = 0.9
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    decay_norm_and_bias: bool = True
    layer_decay: float | None = None
    lr_scale: dict = field(default_factory=dict)
    schedule: str = "constant"
    power: float = 0.9
    min_lr_ratio: float = 0.0
    milestones: list[int] = field(default_factory=list)
    milestone_values: list[float] = field(default_factory=list)
    warmup_steps: int = 0
    warmup_factor: float = 0.001
    grad_clip: float = 0.0


@dataclass
class LossConfig:
    """Loss recipe (:data:`automatte.losses.RECIPES`).

    Attributes:
        recipe: e.g. ``"aimnet"``, ``"ppmatting"``, ``"dim"``, ``"ddc"``, ``"tgn"``, ``"vitmatte"``; for the
            ``distill`` paradigm always ``"ppid"`` (its weights come from :class:`DistillConfig`).
        kwargs: the recipe's keyword arguments (its hyper-parameters).
    """

    recipe: str = "aimnet"
    kwargs: dict = field(default_factory=dict)


@dataclass
class TrainConfig:
    """The loop.

    Attributes:
        steps: optimiser steps in all.
        amp: ``"off"`` | ``"bf16"`` | ``"fp16"`` (fp16 with a GradScaler); CUDA only: ignored on the CPU.
        cpu_amp: ``"off"`` | ``"bf16"`` | ``"auto"``: bfloat16 autocast when training on the CPU (weights and
            optimiser stay fp32; the ``segment`` recipe sums its loss in fp32, other recipes follow autocast's own op
            rules). 1.15-1.35x for the DUTS recipe's whole loop at 448 px on a CPU with AVX512-BF16
            (``benchmarks/train_speed.py --loop``, docs/training.md); a CPU without native bf16 (AVX2 only) emulates
            it, several times slower than fp32, and ``"bf16"`` there warns once. ``"auto"`` is bf16 where the CPU
            has it natively (AVX512-BF16 or AMX, :func:`automatte.train.loop.cpu_has_native_bf16`) and fp32
            elsewhere: the recipes use it, so one config is fast on either machine.
        val_every: validate every this many steps and at the last step (0: never).
        log_every: log the losses every this many steps.
        ckpt_every: write ``last.pt`` every this many steps and at the last step.
        seed: the run's seed (model initialisation, data order, augmentation, dropout).
        out_dir: where ``last.pt``, ``best.pt``, ``config.yaml``, ``log.jsonl`` (and TensorBoard events) go.
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        val_metrics: :mod:`automatte.metrics` names computed on the whole image (SAD, MSE, MAD, Grad, Conn).
        best_metric: the one (lower is better) that selects ``best.pt``; must be in ``val_metrics``.
        val_target: what the prediction's ``alpha`` is compared with: ``"alpha"``, or ``"trimap"`` for a
            trimap network (TGN's ``alpha`` is its soft trimap).
        freeze_bn: keep BatchNorm layers in eval mode (running statistics fixed, affine parameters trained).
        sync_bn: with several CUDA processes, convert BatchNorm to SyncBatchNorm (CPU/gloo cannot).
        find_unused_parameters: DistributedDataParallel's option (for models with unused branches).
        deterministic: deterministic algorithms (cuDNN) where PyTorch has them (warn elsewhere).
        tensorboard: also write TensorBoard events when the ``tensorboard`` package is installed.
        progress: show a tqdm progress bar (rank 0).
        freeze: parameter-name prefixes kept fixed (e.g. ``backbone.features.0`` ... ``.3``, the stride <= 4
            layers of a pretrained backbone: no backward pass through them, about 1.7x faster on the CPU).
        channels_last: the model and the image batch in channels-last memory format (faster convolutions on
            the CPU, about 1.2x for MobileNetV2).
        time_limit_s: stop after the first step that ends this many seconds after the loop started, with a
            checkpoint (0: no limit); the schedule still runs to ``steps``, so set both (``tools/gpu_train.py``
            sizes ``steps`` from a measured rate).
        time_schedule: with ``time_limit_s``, the schedule's position is the larger of the step and the
            elapsed fraction of ``time_limit_s`` times ``steps``, so that a run slower than planned still ends
            its schedule (the cosine's floor) at the time limit instead of being cut half-way (a lent GPU's
            throughput varies +-20 % run to run). Resuming such a run restarts its clock.
    """

    steps: int = 1000
    amp: str = "off"
    cpu_amp: str = "off"
    val_every: int = 1000
    log_every: int = 50
    ckpt_every: int = 1000
    seed: int = 0
    out_dir: str = "runs/default"
    device: str = "auto"
    val_metrics: list[str] = field(default_factory=lambda: ["SAD", "MSE"])
    best_metric: str = "SAD"
    val_target: str = "alpha"
    freeze_bn: bool = False
    sync_bn: bool = True
    find_unused_parameters: bool = False
    deterministic: bool = True
    tensorboard: bool = True
    progress: bool = True
    freeze: list[str] = field(default_factory=list)
    channels_last: bool = False
    time_limit_s: float = 0.0
    time_schedule: bool = False


@dataclass
class DistillConfig:
    """PPID distillation (paradigm ``distill``); defaults: table 5's DIM row.

    Attributes:
        teacher: registry name of the trimap-based teacher (None: the student's own, e.g. ``indexnet`` for
            ``indexnet_ppid``).
        teacher_checkpoint: the trained teacher (a checkpoint of this trainer or a state dict). Required
            unless ``random_teacher``.
        random_teacher: allow an untrained teacher (smoke tests only).
        gamma: γ of eq. 18. lambda1, lambda2: eq. 3. ald_alpha, ald_beta: α, β of eq. 9 (table 5: DIM 0.02 /
            0.002; IndexNet and GCA 0.002 / 0.0002).
    """

    teacher: str | None = None
    teacher_checkpoint: str | None = None
    random_teacher: bool = False
    gamma: float = 1.0
    lambda1: float = 0.2
    lambda2: float = 1.0
    ald_alpha: float = 0.02
    ald_beta: float = 0.002


@dataclass
class AdaptConfig:
    """TGN + SPAMattNet real-data adaptation (paradigm ``adapt``; spamattnet-tgn IV-B4, eq. 16-17).

    Attributes:
        lam: λ of eq. 16 at step 0 (0.5). halve_every: λ halves every this many steps (10,000).
        percent: hard-mining percentage of the alpha term (p = 50).
        pseudo_trimap_kernel: the pseudo trimap T̃ is the binarised coarse segmentation eroded / dilated by
            a square kernel of this side (pixels at the training size).
        disc_channels: width of the first PatchGAN layer. disc_layers: stride-2 layers of the PatchGAN.
        disc_lr, disc_betas: Adam of the discriminator.
    """

    lam: float = 0.5
    halve_every: int = 10_000
    percent: float = 50.0
    pseudo_trimap_kernel: int = 15
    disc_channels: int = 64
    disc_layers: int = 3
    disc_lr: float = 1e-4
    disc_betas: tuple[float, float] = (0.5, 0.999)


@dataclass
class Config:
    """A whole experiment."""

    paradigm: str = "supervised"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    adapt: AdaptConfig = field(default_factory=AdaptConfig)


# ----------------------------------------------------------------------------------------------- typing


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _type_name(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(names) + (" or None" if type(None) in args else "")
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is tuple:
        return f"list of {len(args)} {_type_name(args[0])}" if len(set(args)) == 1 else "list " + str(args)
    if origin is dict or tp is dict:
        return "mapping"
    if dataclasses.is_dataclass(tp):
        return f"mapping ({tp.__name__})"
    return getattr(tp, "__name__", str(tp))


class _Mismatch(ValueError):
    pass


def _fail(value: Any, tp: Any) -> _Mismatch:
    return _Mismatch(f"expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """``value`` converted to the annotation ``tp`` (see the module docstring) or a ``_Mismatch``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None:
            if type(None) in args:
                return None
            raise _fail(value, tp)
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except _Mismatch:
                continue
        raise _fail(value, tp)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise _fail(value, tp)
        return _merge(tp(), value, where)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _fail(value, tp)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _fail(value, tp)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise _fail(value, tp)
    if tp is str:
        if isinstance(value, str):
            return value
        raise _fail(value, tp)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise _fail(value, tp)
        out = []
        for i, v in enumerate(value):
            try:
                out.append(_coerce(v, args[0], f"{where}.{i}"))
            except _Mismatch as err:
                raise _Mismatch(f"item {i}: {err}") from None
        return out
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise _fail(value, tp)
        try:
            return tuple(_coerce(v, a, where) for v, a in zip(value, args))
        except _Mismatch:
            raise _fail(value, tp) from None
    if tp is dict or origin is dict:
        if isinstance(value, Mapping):
            return dict(value)
        raise _fail(value, tp)
    raise TypeError(f"config field {where}: unsupported annotation {tp!r}")  # a bug in this file, not a user error


def _unknown_key(key: str, cls: type, where: str, source: str) -> ValueError:
    names = [f.name for f in dataclasses.fields(cls)]
    close = difflib.get_close_matches(key, names, n=1)
    hint = (
        f" (did you mean {(where + '.' if where else '') + close[0]!r}?)" if close else f"; known: {', '.join(names)}"
    )
    full = f"{where}.{key}" if where else key
    return ValueError(f"{source}: unknown key {full!r}{hint}")


def _merge(obj: Any, mapping: Mapping, where: str, source: str = "config") -> Any:
    """Set the fields of the dataclass ``obj`` from ``mapping`` (nested dataclasses merge; others replace)."""
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{source}: {where or 'the top level'} must be a mapping, got {mapping!r}")
    hints = _hints(type(obj))
    for key, value in mapping.items():
        key = str(key)
        if key not in hints:
            raise _unknown_key(key, type(obj), where, source)
        full = f"{where}.{key}" if where else key
        tp = hints[key]
        current = getattr(obj, key)
        if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
            _merge(current, value, full, source)
            continue
        try:
            new = _coerce(value, tp, full)
        except _Mismatch as err:
            raise ValueError(f"{source}: {full}: {err}") from None
        setattr(obj, key, new)
    return obj


# ---------------------------------------------------------------------------------------------- overrides


def _parse_value(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _accepts_str(tp: Any) -> bool:
    if tp is str:
        return True
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    return origin in (Union, types.UnionType) and str in args


def _set_path(cfg: Config, key: str, text: str, source: str) -> None:
    parts = key.split(".")
    obj: Any = cfg
    where = ""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if dataclasses.is_dataclass(obj):
            hints = _hints(type(obj))
            if part not in hints:
                raise _unknown_key(part, type(obj), where, source)
            where = f"{where}.{part}" if where else part
            tp = hints[part]
            if last:
                value = text if (_accepts_str(tp) and text.strip() != "null") else _parse_value(text)
                try:
                    setattr(obj, part, _coerce(value, tp, where))
                except _Mismatch as err:
                    raise ValueError(f"{source}: {err}") from None
                return
            obj = getattr(obj, part)
        elif isinstance(obj, list):
            try:
                index = int(part)
                obj[index]
            except (ValueError, IndexError):
                raise ValueError(f"{source}: {where} has {len(obj)} entries; {part!r} is not an index of it") from None
            where = f"{where}.{part}"
            if last:
                raise ValueError(f"{source}: set a field of {where} (e.g. {where}.weight=...), not the entry itself")
            obj = obj[index]
        elif isinstance(obj, dict):  # free-form kwargs: nested keys created, values parsed as YAML, unchecked
            where = f"{where}.{part}"
            if last:
                obj[part] = _parse_value(text)
                return
            if not isinstance(obj.get(part), dict):
                obj[part] = {}
            obj = obj[part]
        else:
            raise ValueError(f"{source}: {where} is a {type(obj).__name__}, it has no field {part!r}")


def apply_overrides(cfg: Config, overrides: Sequence[str]) -> Config:
    """Apply ``["a.b=v", ...]`` to ``cfg`` in place (and return it); see the module docstring for the types.

    Example:
        >>> cfg = apply_overrides(Config(), ["data.train.0.weight=2", "model.kwargs.width=16"])
        >>> cfg.data.train[0].weight, cfg.model.kwargs
        (2.0, {'width': 16})
    """
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE, e.g. train.steps=100")
        key, text = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ValueError(f"--set {item!r}: empty key")
        _set_path(cfg, key, text, f"--set {item}")
    return cfg


# --------------------------------------------------------------------------------------------- load / dump


def _choice(value: str, choices: Sequence[str], key: str) -> None:
    if value not in choices:
        raise ValueError(f"{key}: expected one of {', '.join(map(repr, choices))}, got {value!r}")


def validate(cfg: Config) -> Config:
    """Check the values that types alone do not (choices, ranges); return ``cfg``. Raises ValueError."""
    _choice(cfg.paradigm, PARADIGMS, "paradigm")
    _choice(cfg.optim.name, ("sgd", "adam", "adamw"), "optim.name")
    _choice(cfg.optim.schedule, ("constant", "poly", "cosine", "step"), "optim.schedule")
    _choice(cfg.train.amp, ("off", "bf16", "fp16"), "train.amp")
    _choice(cfg.train.cpu_amp, ("off", "bf16", "auto"), "train.cpu_amp")
    _choice(cfg.train.val_target, ("alpha", "trimap"), "train.val_target")
    positive = {
        "train.steps": cfg.train.steps, "data.batch_size": cfg.data.batch_size,
        "data.val_batch_size": cfg.data.val_batch_size, "data.crop_size": cfg.data.crop_size,
        "train.log_every": cfg.train.log_every, "optim.lr": cfg.optim.lr,
        "adapt.halve_every": cfg.adapt.halve_every,
    }  # fmt: skip
    for key, value in positive.items():
        if not value > 0:
            raise ValueError(f"{key}: must be > 0, got {value!r}")
    non_negative = {
        "train.val_every": cfg.train.val_every, "train.ckpt_every": cfg.train.ckpt_every,
        "data.workers": cfg.data.workers, "optim.weight_decay": cfg.optim.weight_decay,
        "optim.warmup_steps": cfg.optim.warmup_steps, "optim.grad_clip": cfg.optim.grad_clip,
        "distill.gamma": cfg.distill.gamma,
    }  # fmt: skip
    for key, value in non_negative.items():
        if not value >= 0:
            raise ValueError(f"{key}: must be >= 0, got {value!r}")
    if cfg.optim.layer_decay is not None and not 0 < cfg.optim.layer_decay <= 1:
        raise ValueError(f"optim.layer_decay: must be in (0, 1] or null, got {cfg.optim.layer_decay}")
    if cfg.optim.schedule == "step":
        m, v = cfg.optim.milestones, cfg.optim.milestone_values
        if len(m) != len(v) or any(b <= a for a, b in zip(m, m[1:])):
            raise ValueError(
                f"optim.milestones / optim.milestone_values: need equal lengths and increasing steps, got {m} / {v}"
            )
    if not cfg.data.train:
        raise ValueError("data.train: needs at least one source")
    for i, source in enumerate(cfg.data.train):
        if not source.weight > 0:
            raise ValueError(f"data.train.{i}.weight: must be > 0, got {source.weight}")
    names = {m.lower(): m for m in ("SAD", "MSE", "MAD", "Grad", "Conn")}
    for m in cfg.train.val_metrics:
        if m.lower() not in names:
            raise ValueError(f"train.val_metrics: unknown metric {m!r}; expected some of {', '.join(names.values())}")
    if cfg.train.val_every and cfg.train.best_metric.lower() not in [m.lower() for m in cfg.train.val_metrics]:
        raise ValueError(
            f"train.best_metric: {cfg.train.best_metric!r} is not in train.val_metrics {cfg.train.val_metrics}"
        )
    distill_recipe = cfg.loss.recipe == "ppid" or (
        cfg.loss.recipe == "mixed" and cfg.loss.kwargs.get("alpha_recipe") == "ppid"
    )
    if cfg.paradigm == "distill" and not distill_recipe:
        raise ValueError(
            "loss.recipe: the distill paradigm trains with the 'ppid' recipe (or 'mixed' with alpha_recipe "
            f"'ppid'), got {cfg.loss.recipe!r}"
        )
    return cfg


def merge_mappings(base: Mapping, override: Mapping) -> dict:
    """``override`` laid over ``base``: mappings merge key by key, everything else (lists included: a data mix
    is replaced whole, never spliced) replaces.

    Example:
        >>> merge_mappings({"optim": {"lr": 1e-3, "name": "adam"}, "data": {"train": [1, 2]}},
        ...                {"optim": {"lr": 3e-5}, "data": {"train": [3]}})
        {'optim': {'lr': 3e-05, 'name': 'adam'}, 'data': {'train': [3]}}
    """
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_mappings(out[key], value)
        else:
            out[key] = value
    return out


def read_experiment(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict:
    """A YAML experiment as a mapping, with its ``base:`` chain resolved: ``base: other.yaml`` (a path relative
    to the file, or a list of them, merged left to right) is read first and the file's own keys are laid over it
    (:func:`merge_mappings`), so a variant of an experiment is a few lines.

    Raises:
        FileNotFoundError: the file or one of its bases does not exist.
        ValueError: bad YAML, a top level that is not a mapping, or a cycle of bases.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config file not found")
    if path.resolve() in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, path.resolve()))
        raise ValueError(f"{path}: a cycle of base configs ({chain})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    bases = data.pop("base", None)
    merged: dict = {}
    for base in [bases] if isinstance(bases, (str, Path)) else list(bases or []):
        merged = merge_mappings(merged, read_experiment(path.parent / str(base), (*_seen, path.resolve())))
    return merge_mappings(merged, data)


def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> Config:
    """The defaults, overridden by the YAML file ``path`` (None: none; its ``base:`` chain first, see
    :func:`read_experiment`), then by ``overrides`` ("a.b=v").

    Raises:
        FileNotFoundError: ``path`` (or a base of it) does not exist.
        ValueError: bad YAML, an unknown key, a value of the wrong type (the message names the key, the value
            and the expected type), a cycle of bases, or a value out of range (:func:`validate`).
    """
    cfg = Config()
    if path is not None:
        data = read_experiment(path)
        if data:
            _merge(cfg, data, "", str(path))
    apply_overrides(cfg, overrides)
    return validate(cfg)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def to_dict(cfg: Config) -> dict:
    """The resolved config as plain dicts / lists / scalars (YAML-, JSON- and ``weights_only``-safe).

    Example:
        >>> to_dict(Config())["optim"]["betas"]
        [0.9, 0.999]
    """
    return _plain(dataclasses.asdict(cfg))


def from_dict(data: Mapping) -> Config:
    """Inverse of :func:`to_dict` (type-checked like a YAML file).

    Example:
        >>> from_dict(to_dict(Config())) == Config()
        True
    """
    return validate(_merge(Config(), data, "", "stored config"))
