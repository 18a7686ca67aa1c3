"""Data-parallel training with ``torch.distributed``: started by ``torchrun``, one process per device.

``torchrun --nproc_per_node N -m automatte.train CONFIG.yaml`` sets ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE``; :func:`init` then opens the process group (``nccl`` on CUDA, ``gloo`` on the CPU) and each
rank trains its contiguous part of every global batch (:mod:`automatte.train.data`). Rank 0 alone logs,
validates and writes checkpoints; the checkpoints hold every rank's RNG state (:func:`gather`).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "init", "close", "gather", "mean_of", "barrier"]


@dataclass
class DistInfo:
    """This process: ``rank`` of ``world`` (``local_rank`` on its node); ``owned``: :func:`init` opened the group."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owned: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def init(device_kind: str) -> DistInfo:
    """Join the process group described by the ``torchrun`` environment (or the one already open).

    Args:
        device_kind: ``"cuda"`` (backend nccl) or ``"cpu"`` (gloo).
    """
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)), False)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device_kind == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, True)


def close(info: DistInfo) -> None:
    """Leave the process group if :func:`init` opened it."""
    if info.owned and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.active:
        dist.barrier()


def gather(info: DistInfo, obj: Any) -> list[Any]:
    """Every rank's ``obj`` in rank order (a one-item list without a process group); a collective call."""
    if not info.active:
        return [obj]
    out: list[Any] = [None] * info.world
    dist.all_gather_object(out, obj)
    return out


def mean_of(info: DistInfo, values: torch.Tensor) -> torch.Tensor:
    """The mean over ranks of a tensor (unchanged without a process group); a collective call."""
    if not info.active:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / info.world
