"""The training loop: :func:`train` runs one experiment (any paradigm) from its :class:`Config`.

Per optimiser step ``s`` (0-based; ``s + 1`` steps are done after it):

1. the rank's part of global batch ``s`` (:mod:`automatte.train.data`), moved to the device;
2. the task's losses under autocast (CUDA with ``train.amp`` bf16 / fp16, the CPU with ``train.cpu_amp`` bf16 or auto;
   fp32 otherwise), backward (a GradScaler for fp16), optional gradient clipping (``optim.grad_clip``), the
   optimiser and schedule steps, then the task's extra update (the adaptation's discriminator);
3. every ``log_every`` steps: the mean of each loss part over the interval (and over ranks) and the lr go to
   ``OUT/log.jsonl`` (always) and TensorBoard (``OUT/tb``, when ``train.tensorboard`` and the ``tensorboard``
   package is installed); the tqdm bar shows the total;
4. every ``val_every`` steps and at the end (rank 0): the validation metrics (``train.val_metrics`` on the
   whole of each validation sample, averaged over samples) and, if ``best_metric`` improved, ``OUT/best.pt``;
5. every ``ckpt_every`` steps and at the end: ``OUT/last.pt`` (:mod:`automatte.train.checkpoint`).

Determinism: the model is initialised after seeding every generator with ``train.seed`` (identical on every
rank); afterwards each rank draws from its own stream (dropout); data randomness never touches the global
generators. Resuming from ``last.pt`` restores model, optimiser, schedule, scaler, step, the extra state and
every rank's RNG state, so on the CPU a resumed run is bit-identical to an uninterrupted one. The schedule
follows the resumed config's ``train.steps`` (so a finished run can be extended) from the stored base lrs.

Starting a run in a folder that already has ``last.pt`` without ``resume`` is refused (FileExistsError).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from automatte.io import atomic_write
from automatte.train import distributed
from automatte.train.checkpoint import FORMAT, capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint
from automatte.train.config import Config, from_dict, to_dict, validate
from automatte.train.data import build_train_loader, build_val_loader
from automatte.train.optim import LRFactor, build_optimizer, build_scheduler
from automatte.train.task import Task, make_task

__all__ = ["TrainResult", "train", "evaluate", "resolve_device", "seed_everything"]


@dataclass
class TrainResult:
    """What :func:`train` returns (on every rank; ``history`` and ``best_value`` are rank 0's).

    Attributes:
        step: optimiser steps done.
        last: path of ``last.pt``; best: path of ``best.pt`` (None if never validated).
        best_metric, best_value, best_step: the selection metric and its best value / step.
        history: the logged rows of this run (dicts with ``step``, ``kind`` = "train" / "val", values).
    """

    step: int
    last: Path
    best: Path | None
    best_metric: str
    best_value: float | None
    best_step: int | None
    history: list[dict] = field(default_factory=list)


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> ``cuda:LOCAL_RANK`` when CUDA is available, else ``cpu``; other names as given."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"train.device: {name!r} but CUDA is not available")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device


def seed_everything(seed: int | Sequence[int]) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) global generators from ``seed`` (an int or a list)."""
    state = np.random.SeedSequence(seed).generate_state(4)
    random.seed(int(state[0]))
    np.random.seed(int(state[1]))
    torch.manual_seed(int(state[2]) << 32 | int(state[3]))


class _Logger:
    """Rank 0's log: ``log.jsonl`` always, TensorBoard when asked for and installed."""

    def __init__(self, out: Path, enabled: bool, tensorboard: bool, start: int):
        self.enabled, self.rows, self.writer = enabled, [], None
        self.path = out / "log.jsonl"
        if not enabled:
            return
        if start > 0 and self.path.is_file():  # drop rows a killed run logged after its last checkpoint
            lines = [line for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
            kept = [line for line in lines if json.loads(line)["step"] <= start]
            with atomic_write(self.path) as tmp:
                tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        elif start == 0 and self.path.exists():
            self.path.unlink()
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # the tensorboard package is optional: log.jsonl has everything
                SummaryWriter = None
            if SummaryWriter is not None:
                self.writer = SummaryWriter(str(out / "tb"), purge_step=start if start > 0 else None)

    def log(self, kind: str, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        row = {"step": step, "kind": kind, **values}
        self.rows.append(row)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(f"{kind}/{key}", value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def evaluate(task: Task, loader, metrics: list[str], target: str = "alpha") -> dict[str, float]:
    """Mean of :func:`automatte.metrics.compute_all` (whole image, DIM protocol) over the validation samples
    that have the ``target`` label (samples with ``has_alpha`` False are skipped for ``target="alpha"``).

    A two-stage model (``fusion`` attribute: TGN + SPAMattNet joint inference) is evaluated with both fusions:
    its own gives the plain names (``SAD``, which ``best_metric`` follows), and each fusion is also reported as
    ``soft/SAD``, ``hard/SAD``, ... (spamattnet-tgn eq. 13-15 and the hard variant).
    """
    model = task.model
    own = getattr(model, "fusion", None)
    if own not in ("soft", "hard"):
        return _evaluate_once(task, loader, metrics, target)
    out: dict[str, float] = {}
    try:
        for fusion in ("soft", "hard"):
            model.fusion = fusion
            values = _evaluate_once(task, loader, metrics, target)
            out.update({f"{fusion}/{k}": v for k, v in values.items()})
            if fusion == own:
                out.update(values)
    finally:
        model.fusion = own
    return out


def _evaluate_once(task: Task, loader, metrics: list[str], target: str) -> dict[str, float]:
    from automatte.metrics import EmptyRegionWarning, compute_all

    sums: dict[str, float] = {}
    count = 0
    for batch in loader:
        if batch.get(target) is None:
            continue
        batch = {k: v.to(task.device) if isinstance(v, Tensor) else v for k, v in batch.items()}
        pred = task.predict(batch).clamp(0, 1).cpu().numpy()
        gt = batch[target].float().cpu().numpy()
        keep = (
            batch["has_alpha"].cpu().numpy() if target == "alpha" and "has_alpha" in batch else np.ones(len(pred), bool)
        )
        for i in np.flatnonzero(keep):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", EmptyRegionWarning)
                values = compute_all(pred[i, 0], gt[i, 0], metrics=metrics)
            for k, v in values.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            count += 1
    return {k: v / count for k, v in sums.items()} if count else {}


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX tiles), as PyTorch's CPU build sees it.

    Without it (an AVX2-only CPU, say), bf16 autocast is emulated and the DUTS recipe's loop ran at under a
    fifth of its fp32 speed on a 2-core AMD EPYC with AVX2 (docs/training.md). The probes are private PyTorch
    functions: where one is missing the answer is False, which keeps fp32.
    """
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def cpu_bf16(cpu_amp: str, native: bool | None = None) -> bool:
    """Resolve ``train.cpu_amp`` to whether the CPU runs bf16 autocast (``native``: the CPU's answer, probed if None).

    Example:
        >>> cpu_bf16("auto", native=False), cpu_bf16("auto", native=True), cpu_bf16("off", native=True)
        (False, True, False)
    """
    if cpu_amp == "off":
        return False
    native = cpu_has_native_bf16() if native is None else native
    if cpu_amp == "auto":
        return native
    if not native:
        warnings.warn(
            "train.cpu_amp: bf16 is emulated on this CPU (no AVX512-BF16 or AMX): expect it slower than fp32; "
            "'auto' picks fp32 here",
            RuntimeWarning,
            stacklevel=2,
        )
    return True


def _autocast(cfg: Config, device: torch.device):
    if device.type == "cpu" and cpu_bf16(cfg.train.cpu_amp):
        return lambda: torch.autocast("cpu", dtype=torch.bfloat16)
    if device.type != "cuda" or cfg.train.amp == "off":
        return contextlib.nullcontext
    dtype = torch.bfloat16 if cfg.train.amp == "bf16" else torch.float16
    return lambda: torch.autocast("cuda", dtype=dtype)


def _check_resume(cfg: Config, ckpt: dict, path: Path) -> None:
    stored = from_dict(ckpt["config"])
    # ``pretrained`` only initialises: a resumed run takes its weights from the checkpoint, so the file may move
    kwargs = [{k: v for k, v in c.model.kwargs.items() if k != "pretrained"} for c in (stored, cfg)]
    if ckpt.get("model_name") != cfg.model.name or kwargs[0] != kwargs[1]:
        raise ValueError(
            f"{path}: the checkpoint is of model {ckpt.get('model_name')!r} {stored.model.kwargs}, the config asks for "
            f"{cfg.model.name!r} {cfg.model.kwargs}; resume with the same model or start another out_dir"
        )
    if stored.paradigm != cfg.paradigm:
        raise ValueError(
            f"{path}: the checkpoint was trained with paradigm {stored.paradigm!r}, the config says {cfg.paradigm!r}"
        )


def _follow_config_schedule(scheduler, cfg: Config) -> None:
    """After loading a scheduler: the schedule of *this* config (e.g. more ``train.steps`` when extending a run),
    at the stored step and base lrs; identical to the stored lrs when the config is unchanged."""
    factor = LRFactor(cfg.optim, cfg.train.steps)
    scheduler.lr_lambdas = [factor] * len(scheduler.optimizer.param_groups)
    for group, base in zip(scheduler.optimizer.param_groups, scheduler.base_lrs):
        group["lr"] = base * factor(scheduler.last_epoch)
    scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]


def _freeze(model: nn.Module, prefixes: Sequence[str]) -> None:
    """``requires_grad_(False)`` on the parameters named with one of ``prefixes`` (``train.freeze``)."""
    if not prefixes:
        return
    hits = [p for name, p in model.named_parameters() if name.startswith(tuple(prefixes))]
    if not hits:
        raise ValueError(f"train.freeze: no parameter of {type(model).__name__} starts with {list(prefixes)}")
    for p in hits:
        p.requires_grad_(False)


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if isinstance(v, Tensor) else v for k, v in batch.items()}


def train(cfg: Config, *, resume: bool = False) -> TrainResult:
    """Run the experiment ``cfg`` (see the module docstring); with ``resume``, continue ``OUT/last.pt``.

    Launch with ``torchrun --nproc_per_node N -m automatte.train ...`` for data-parallel training; a plain call
    trains in this process.

    Raises:
        FileExistsError: ``OUT/last.pt`` exists and ``resume`` is False.
        FileNotFoundError: ``resume`` without ``OUT/last.pt``; a missing data folder or weights file.
        ValueError: an inconsistent config (unknown model or recipe, a batch that does not divide among the
            processes, a checkpoint of another model...).
        FloatingPointError: a non-finite loss (fp32 / bf16).
    """
    validate(cfg)
    device = resolve_device(cfg.train.device, int(os.environ.get("LOCAL_RANK", "0")))
    info = distributed.init(device.type)
    try:
        return _train(cfg, resume, device, info)
    finally:
        distributed.close(info)


def _open_run(cfg: Config, resume: bool, device: torch.device, info: distributed.DistInfo) -> dict | None:
    """Check the run folder (a run there needs ``resume``), load ``last.pt`` when resuming, set determinism."""
    last_path = Path(cfg.train.out_dir) / "last.pt"
    if cfg.data.batch_size % info.world:
        raise ValueError(f"data.batch_size: {cfg.data.batch_size} does not divide among {info.world} processes")
    ckpt = None
    if resume:
        ckpt = load_checkpoint(last_path)
        _check_resume(cfg, ckpt, last_path)
    elif last_path.exists():
        raise FileExistsError(
            f"{last_path}: a run is already there; pass --resume to continue it or choose another --out"
        )
    if device.type == "cuda" and cfg.train.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    return ckpt


class _Parts:
    """What a run trains with: the task, its optimiser, schedule, loss scaler and autocast context."""

    def __init__(self, cfg: Config, device: torch.device, info: distributed.DistInfo):
        seed_everything(cfg.train.seed)  # identical model initialisation on every rank
        self.task = make_task(cfg, device)
        _freeze(self.task.model, cfg.train.freeze)
        if cfg.train.channels_last:
            self.task.model.to(memory_format=torch.channels_last)
        if info.active and device.type == "cuda" and cfg.train.sync_bn:
            self.task.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.task.model)
        self.optimizer = build_optimizer(self.task.model, cfg.optim)
        self.scheduler = build_scheduler(self.optimizer, cfg.optim, cfg.train.steps)
        self.fp16 = device.type == "cuda" and cfg.train.amp == "fp16"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.fp16)
        self.autocast = _autocast(cfg, device)

    def restore(self, ckpt: dict | None, cfg: Config, info: distributed.DistInfo) -> tuple[int, dict]:
        """Load a checkpoint's state (or seed the per-rank streams of a new run): (start step, best so far)."""
        best = {"metric": cfg.train.best_metric, "value": None, "step": None}
        if ckpt is None:
            seed_everything([cfg.train.seed, info.rank, 0])  # per-rank streams (dropout) from here on
            return 0, best
        self.task.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        _follow_config_schedule(self.scheduler, cfg)
        if ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.task.load_state_dict(ckpt.get("extra") or {})
        start = int(ckpt["step"])
        rng = ckpt.get("rng") or []
        if len(rng) == info.world:
            restore_rng_state(rng[info.rank])
        else:  # another number of processes: fresh per-rank streams (parameters and data order are unaffected)
            seed_everything([cfg.train.seed, info.rank, start])
        return start, dict(ckpt.get("best") or best)

    def module(self, cfg: Config, device: torch.device, info: distributed.DistInfo):
        """The module the loss runs through: the task's own, or DistributedDataParallel around it."""
        if not info.active:
            return self.task.module
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        return self.task.wrap(lambda m: DDP(m, device_ids=ids, find_unused_parameters=cfg.train.find_unused_parameters))

    def state(self, cfg: Config, done: int, best: dict, rng_states: list) -> dict:
        """The checkpoint of step ``done``."""
        return {
            "format": FORMAT,
            "model_name": cfg.model.name,
            "model": self.task.model.state_dict(),
            "config": to_dict(cfg),
            "step": done,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.fp16 else None,
            "rng": rng_states,
            "best": dict(best),
            "extra": self.task.state_dict(),
        }

    def step(self, module, batch: dict, step: int, cfg: Config, params: list, started: float) -> dict:
        """One optimiser step: losses, backward, clipping, update, the schedule (its clock: steps or time)."""
        self.task.train_mode(module)
        with self.autocast():
            parts = self.task.losses(module, batch, step)
        total = parts["total"]
        if not self.fp16 and not bool(torch.isfinite(total)):
            values = {k: float(v) for k, v in parts.items()}
            raise FloatingPointError(f"step {step}: the loss is not finite: {values}")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        if cfg.optim.grad_clip:
            self.scaler.unscale_(self.optimizer)
            parts["grad_norm"] = torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if cfg.train.time_schedule and cfg.train.time_limit_s:  # the schedule's clock: steps or time
            on_time = int((time.perf_counter() - started) / cfg.train.time_limit_s * cfg.train.steps)
            self.scheduler.last_epoch = max(self.scheduler.last_epoch, min(on_time, cfg.train.steps) - 1)
            for factor in self.scheduler.lr_lambdas:  # the warm-up still counts steps taken, not the clock
                factor.taken = step + 1
        self.scheduler.step()
        parts.update(self.task.after_step(batch, step, self.autocast))
        return parts


def _write_config(cfg: Config, out: Path) -> None:
    import yaml

    with atomic_write(out / "config.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")


def _progress_bar(cfg: Config, start: int, info: distributed.DistInfo):
    if not (info.main and cfg.train.progress):
        return None
    from tqdm import tqdm

    return tqdm(total=cfg.train.steps, initial=start, desc=cfg.model.name, unit="step", file=sys.stderr,
                dynamic_ncols=True)  # fmt: skip


def _validate(run: _Parts, val_loader, cfg: Config, logger, done: int, best: dict, best_path: Path) -> None:
    """Validation metrics; ``best.pt`` when ``train.best_metric`` is the lowest so far."""
    values = evaluate(run.task, val_loader, cfg.train.val_metrics, cfg.train.val_target)
    if not values:
        return
    logger.log("val", done, values)
    key = next(k for k in values if k.lower() == cfg.train.best_metric.lower())
    if best["value"] is None or values[key] < best["value"]:
        best.update(value=float(values[key]), step=done)
        save_checkpoint(best_path, run.state(cfg, done, best, [capture_rng_state()]))


def _train(cfg: Config, resume: bool, device: torch.device, info: distributed.DistInfo) -> TrainResult:
    out = Path(cfg.train.out_dir)
    last_path, best_path = out / "last.pt", out / "best.pt"
    ckpt = _open_run(cfg, resume, device, info)
    run = _Parts(cfg, device, info)
    start, best = run.restore(ckpt, cfg, info)
    module = run.module(cfg, device, info)
    params = [p for p in run.task.model.parameters() if p.requires_grad]
    pin = device.type == "cuda"
    loader = build_train_loader(cfg, run.task.inputs, rank=info.rank, world=info.world, start=start, pin_memory=pin)
    val_loader = build_val_loader(cfg, run.task.inputs) if (info.main and cfg.train.val_every) else None
    logger = _Logger(out, info.main, cfg.train.tensorboard, start)
    if info.main:
        _write_config(cfg, out)
    bar = _progress_bar(cfg, start, info)

    sums: dict[str, Tensor] = {}
    seen = 0
    done = start
    started = window = time.perf_counter()
    try:
        for step, batch in enumerate(loader, start=start):
            parts = run.step(module, _to_device(batch, device), step, cfg, params, started)
            done = step + 1
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v.detach().float()
            seen += 1
            out_of_time = bool(cfg.train.time_limit_s) and time.perf_counter() - started >= cfg.train.time_limit_s
            if info.active:  # every rank stops at the same step
                out_of_time = bool(distributed.mean_of(info, torch.tensor([float(out_of_time)], device=device))[0] > 0)
            final = done == cfg.train.steps or out_of_time
            if done % cfg.train.log_every == 0 or final:
                keys = sorted(sums)
                means = distributed.mean_of(info, torch.stack([sums[k] for k in keys]) / seen).tolist()
                row = dict(zip(keys, means))
                row["lr"] = run.optimizer.param_groups[0]["lr"] / run.optimizer.param_groups[0].get("lr_scale", 1.0)
                now = time.perf_counter()
                row["images_per_s"] = seen * cfg.data.batch_size / max(now - window, 1e-9)
                window = now
                logger.log("train", done, row)
                if bar is not None:
                    bar.set_postfix(loss=f"{row['total']:.4f}", refresh=False)
                sums, seen = {}, 0
            if bar is not None:
                bar.update(1)
            if val_loader is not None and (done % cfg.train.val_every == 0 or final):
                _validate(run, val_loader, cfg, logger, done, best, best_path)
            if final or (cfg.train.ckpt_every and done % cfg.train.ckpt_every == 0):
                rng_states = distributed.gather(info, capture_rng_state())
                if info.main:
                    save_checkpoint(last_path, run.state(cfg, done, best, rng_states))
            if out_of_time:
                break
    finally:
        if bar is not None:
            bar.close()
        logger.close()
    distributed.barrier(info)
    return TrainResult(
        step=done,
        last=last_path,
        best=best_path if best["value"] is not None else None,
        best_metric=str(best["metric"]),
        best_value=best["value"],
        best_step=best["step"],
        history=logger.rows,
    )
