"""Mixing several training sources into one deterministic DataLoader, and collating mixed items.

:func:`build_loader` wraps the sources in a :class:`MixedDataset` and draws every epoch with a
:class:`MixSampler`: for each of ``epoch_length`` slots a source is chosen with probability proportional to
its weight, and the source's items are visited in a fresh random permutation (cycled when drawn more often
than it has items; sources of more than 2^24 items, such as the endless generator, are drawn uniformly). The
sampler yields keys ``(source, index, draw)``, and each dataset derives the item's generator from
``(seed, draw, index)``: a batch depends only on the seeds and the epoch, never on the number of workers,
their timing or the process. ``draw`` is the epoch for an item's first visit in the epoch and
``epoch + k * 2^32`` for its ``k``-th cycle after that, so that an item drawn several times in one epoch (a
small source with a large weight: 25 plant cutouts drawn 289 times in an epoch of 4096) comes out with a new
crop, background and placement each time instead of as identical copies.

Distributed training (DistributedSampler-compatible): the sampler has ``num_replicas``, ``rank`` and
``set_epoch`` like ``torch.utils.data.DistributedSampler`` and the same contract: every rank draws the same
global sequence from (seed, epoch) (padded to a multiple of ``num_replicas``) and keeps every
``num_replicas``-th key from ``rank`` on, so ranks see disjoint items of one shuffled epoch. With
``distributed=True`` the rank and world size come from ``torch.distributed`` (or pass them). Call
``loader.sampler.set_epoch(epoch)`` before each epoch, as with a DistributedSampler. A single dataset can
also be used with a plain ``DistributedSampler`` (integer keys): then call ``dataset.set_epoch(epoch)`` as
well, before the epoch's iterator is created (so non-persistent workers copy it).

Global RNGs: :func:`seed_worker` seeds ``numpy.random`` and ``random`` in each worker from
``torch.initial_seed()``, which the DataLoader sets to a base seed drawn from the loader's seeded
generator for every epoch's iterator, plus the worker id: distinct per worker and per epoch, reproducible
given ``seed``. (Our datasets do not use the global RNGs; this protects third-party code that does.)
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .datasets import ENDLESS, SeededDataset

__all__ = ["MixSampler", "MixedDataset", "build_loader", "collate_matting", "seed_worker"]

_PERMUTE_LIMIT = 1 << 24
_OPTIONAL = ("alpha", "fg", "bg", "mask")


class MixedDataset(Dataset):
    """Several datasets behind one index; key ``(source, index, epoch)`` or a plain concatenated index.

    The datasets of :mod:`automatte.data` receive ``(index, epoch)``; any other map-style dataset gets ``index``.

    Example:
        >>> from automatte.data.datasets import SynthDataset
        >>> from automatte.data.augment import Augment
        >>> mix = MixedDataset([SynthDataset(3, Augment.none(size=32)), SynthDataset(2, Augment.none(size=32))])
        >>> len(mix), mix[1, 0, 0]["name"] == mix[3]["name"]
        (5, True)
    """

    def __init__(self, datasets: Sequence[Dataset]):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("MixedDataset: no datasets given")
        self.sizes = [len(d) for d in self.datasets]
        if min(self.sizes) == 0:
            empty = [i for i, n in enumerate(self.sizes) if n == 0]
            raise ValueError(f"MixedDataset: empty source(s) at position {empty}")
        self.offsets = np.cumsum([0] + self.sizes)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, key):
        if isinstance(key, tuple):
            source, index, epoch = key
            dataset = self.datasets[source]
            return dataset[int(index), int(epoch)] if isinstance(dataset, SeededDataset) else dataset[int(index)]
        key = int(key)
        source = int(np.searchsorted(self.offsets, key, side="right")) - 1
        if not 0 <= key < len(self) or source >= len(self.datasets):
            raise IndexError(f"MixedDataset: index {key} out of range for {len(self)} items")
        return self.datasets[source][key - int(self.offsets[source])]


class MixSampler(Sampler):
    """Weighted, seeded, epoch-aware sampler over the sources of a :class:`MixedDataset` (module docstring).

    Args:
        sizes: number of items of each source.
        weights: sampling weight of each source (normalised; non-negative, not all zero).
        num_samples: keys per epoch over all ranks (before padding to a multiple of ``num_replicas``).
        seed: the sampler's seed.
        num_replicas, rank: distributed partition (1, 0 for single-process training).

    Example:
        >>> s = MixSampler([10, 5], [1, 1], num_samples=6, seed=0)
        >>> keys = list(s); len(keys), keys[0][2]
        (6, 0)
    """

    def __init__(self, sizes: Sequence[int], weights: Sequence[float], num_samples: int, seed: int = 0,
                 num_replicas: int = 1, rank: int = 0):  # fmt: skip
        self.sizes = [int(n) for n in sizes]
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (len(self.sizes),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"MixSampler: need one non-negative weight per source, not all 0; got {list(weights)}")
        if num_samples < 1:
            raise ValueError(f"MixSampler: num_samples must be >= 1, got {num_samples}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"MixSampler: rank must be in [0, {num_replicas}), got {rank}")
        self.p = w / w.sum()
        self.num_samples, self.seed = int(num_samples), int(seed)
        self.num_replicas, self.rank, self.epoch = int(num_replicas), int(rank), 0
        self.total = math.ceil(self.num_samples / self.num_replicas) * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch of the next iteration (as ``DistributedSampler.set_epoch``)."""
        self.epoch = int(epoch)

    def global_keys(self, epoch: int | None = None) -> list[tuple[int, int, int]]:
        """The whole epoch's keys, before the split across ranks."""
        epoch = self.epoch if epoch is None else int(epoch)
        g = np.random.default_rng([self.seed, epoch])
        sources = g.choice(len(self.sizes), size=self.total, p=self.p)
        indices = np.zeros(self.total, dtype=np.int64)
        cycles = np.zeros(self.total, dtype=np.int64)
        for s, n in enumerate(self.sizes):
            where = np.flatnonzero(sources == s)
            if len(where) == 0:
                continue
            if n <= _PERMUTE_LIMIT:
                reps = -(-len(where) // n)
                indices[where] = np.concatenate([g.permutation(n) for _ in range(reps)])[: len(where)]
                cycles[where] = np.arange(len(where)) // n  # the k-th pass over the source: a fresh draw
            else:
                indices[where] = g.integers(n, size=len(where))
        return [(int(s), int(i), epoch + (int(c) << 32)) for s, i, c in zip(sources, indices, cycles)]

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        return iter(self.global_keys()[self.rank :: self.num_replicas])

    def __len__(self) -> int:
        return self.total // self.num_replicas


def collate_matting(items: Sequence[dict]) -> dict:
    """Batch item dicts: tensors stacked, strings listed, missing optional tensors zero-filled.

    ``alpha``, ``fg``, ``bg`` and ``mask`` may be absent from some items (e.g. alpha in trimap-only samples);
    when at least one item has one, it is stacked with zeros for the others and ``has_fg`` / ``has_bg`` /
    ``has_mask`` (B,) bool say which rows are real. ``has_alpha`` (B,) is the items' own flag (an exact alpha
    label) and is False wherever alpha was filled. Strings (``type``, ``name``, ...) become lists.

    Example:
        >>> a = {"image": torch.zeros(3, 2, 2), "alpha": torch.ones(1, 2, 2), "has_alpha": torch.tensor(True),
        ...      "name": "a"}
        >>> b = {"image": torch.zeros(3, 2, 2), "has_alpha": torch.tensor(False), "name": "b"}
        >>> batch = collate_matting([a, b])
        >>> batch["alpha"].shape, batch["has_alpha"].tolist(), batch["name"]
        (torch.Size([2, 1, 2, 2]), [True, False], ['a', 'b'])
    """
    if not items:
        raise ValueError("collate_matting: empty batch")
    keys: list[str] = []
    for item in items:
        keys += [k for k in item if k not in keys]
    batch: dict = {}
    for key in keys:
        present = [key in item for item in items]
        first = next(item[key] for item in items if key in item)
        if isinstance(first, torch.Tensor):
            filler = torch.zeros_like(first)
            batch[key] = torch.stack([item[key] if key in item else filler for item in items])
            if key in _OPTIONAL and key != "alpha":
                batch[f"has_{key}"] = torch.tensor(present)
        else:
            batch[key] = [item.get(key) for item in items]
    if "alpha" in batch:
        has = batch.get("has_alpha", torch.ones(len(items), dtype=torch.bool))
        batch["has_alpha"] = has & torch.tensor(["alpha" in item for item in items])
    return batch


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed ``numpy.random`` and ``random`` from ``torch.initial_seed()``."""
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


def _dist_info(num_replicas: int | None, rank: int | None) -> tuple[int, int]:
    import torch.distributed as dist

    if num_replicas is None or rank is None:
        if not (dist.is_available() and dist.is_initialized()):
            raise ValueError(
                "build_loader: distributed=True needs torch.distributed initialised, or num_replicas and rank"
            )
        num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
        rank = dist.get_rank() if rank is None else rank
    return int(num_replicas), int(rank)


def build_loader(
    sources: Dataset | Sequence[Dataset | tuple[Dataset, float]],
    batch_size: int,
    *,
    num_workers: int = 0,
    seed: int = 0,
    epoch_length: int | None = None,
    distributed: bool = False,
    num_replicas: int | None = None,
    rank: int | None = None,
    drop_last: bool = True,
    pin_memory: bool = False,
    persistent_workers: bool = False,
) -> DataLoader:
    """A DataLoader mixing weighted sources, deterministic given ``seed`` (module docstring).

    Args:
        sources: a dataset, or a list of datasets or ``(dataset, weight)`` pairs (weight 1 when omitted).
        batch_size: items per batch (per rank when distributed).
        num_workers: DataLoader workers; results do not depend on it.
        seed: seeds the sampler and the workers' global RNGs (augmentations use each dataset's own seed).
        epoch_length: keys per epoch over all ranks; default the sum of the source sizes (an endless source
            such as ``SynthDataset()`` needs an explicit value).
        distributed: partition each epoch across ranks (``torch.distributed`` or ``num_replicas`` / ``rank``).
        drop_last, pin_memory, persistent_workers: passed to the DataLoader (persistent only with workers).

    Returns:
        A ``DataLoader`` whose ``sampler`` is a :class:`MixSampler` (call ``loader.sampler.set_epoch(e)``) and
        whose batches are :func:`collate_matting` dicts.

    Example:
        >>> from automatte.data.datasets import SynthDataset
        >>> from automatte.data.augment import Augment
        >>> loader = build_loader([(SynthDataset(8, Augment.none(size=32)), 1.0)], batch_size=2, seed=0)
        >>> batch = next(iter(loader)); batch["image"].shape, len(loader)
        (torch.Size([2, 3, 32, 32]), 4)
    """
    if isinstance(sources, Dataset):
        sources = [sources]
    pairs = [s if isinstance(s, tuple) else (s, 1.0) for s in sources]
    if not pairs:
        raise ValueError("build_loader: no sources given")
    mixed = MixedDataset([d for d, _ in pairs])
    if epoch_length is None:
        if max(mixed.sizes) >= ENDLESS:
            raise ValueError("build_loader: an endless source (e.g. SynthDataset()) needs an explicit epoch_length")
        epoch_length = len(mixed)
    replicas, r = _dist_info(num_replicas, rank) if distributed else (1, 0)
    sampler = MixSampler(mixed.sizes, [float(w) for _, w in pairs], int(epoch_length), seed, replicas, r)
    generator = torch.Generator().manual_seed(int(np.random.SeedSequence([int(seed), r]).generate_state(1)[0]))
    return DataLoader(
        mixed,
        batch_size=int(batch_size),
        sampler=sampler,
        num_workers=int(num_workers),
        collate_fn=collate_matting,
        worker_init_fn=seed_worker,
        generator=generator,
        drop_last=drop_last,
        pin_memory=pin_memory,
        persistent_workers=bool(persistent_workers and num_workers > 0),
    )
