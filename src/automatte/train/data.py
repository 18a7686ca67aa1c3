"""The trainer's data: config sources -> :mod:`automatte.data` datasets, and a step-indexed sample order.

Sources (:class:`~automatte.train.config.SourceConfig`; ``kwargs`` go to the dataset's constructor, except
``augment``: a mapping of :class:`~automatte.data.augment.Augment` fields, and ``n`` for ``synthetic``):

=============  ===========================================================================================
``synthetic``  :class:`~automatte.data.datasets.SynthDataset` (the procedural generator; ``n`` items, endless
               by default; ``path``: an optional folder of background photos)
``folder``     :class:`~automatte.data.datasets.MattingDataset` at ``path`` (alpha labels, online compositing)
``coarse``     :class:`~automatte.data.datasets.CoarseDataset` at ``path`` (photos + binary masks; trimap labels)
``copypaste``  :class:`~automatte.data.copypaste.CopyPasteDataset` at ``path`` (``kwargs.backgrounds`` needed)
``cutouts``    :class:`~automatte.data.copypaste.CutoutDataset` at ``path`` (RGBA cutouts; ``kwargs.backgrounds``)
=============  ===========================================================================================

Training samples use ``Augment(size=data.crop_size, crop_sizes=data.crop_sizes, **augment)``, validation
samples ``Augment.none(...)`` with the same overrides (deterministic crops at ``crop_size``: validation is on
fixed crops, not whole images). A source's seed is ``train.seed + i`` (training) or ``train.seed + 1_000_000 +
i`` (validation), unless ``kwargs.seed`` is given: a synthetic validation set never repeats training samples.
A coarse segmentation ``mask`` is added when the model takes one.

Sample order (what the trainer adds to :mod:`automatte.data.loader`): the training mixture is a sequence of
epochs, each :meth:`~automatte.data.loader.MixSampler.global_keys` of ``epoch_length`` keys (weighted source
choice, fresh permutations per epoch); optimiser step ``s`` uses positions ``[s B, (s + 1) B)`` of the
concatenated sequence (``B`` = the global batch) and rank ``r`` of ``W`` takes the contiguous part
``[s B + r B / W, s B + (r + 1) B / W)``. Hence:

* a resumed run needs no loader state: step ``s`` always gets the same samples;
* W processes see exactly the W parts of the batch one process would see (so DDP gradient averaging of
  per-rank means equals the single-process mean when the loss is a per-pixel mean over equal-size samples);
* nothing depends on the number of workers (items draw their randomness from ``(seed, epoch, index)``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from automatte.data.augment import Augment
from automatte.data.datasets import ENDLESS, CoarseDataset, MattingDataset, SynthDataset
from automatte.data.loader import MixedDataset, MixSampler, collate_matting, seed_worker
from automatte.train.config import Config, SourceConfig

__all__ = ["KINDS", "build_dataset", "StepBatchSampler", "build_train_loader", "build_val_loader"]

KINDS = ("synthetic", "folder", "coarse", "copypaste", "cutouts")
VAL_SEED_OFFSET = 1_000_000
ENDLESS_EPOCH_BATCHES = 1000


def _augment(cfg: Config, overrides: dict, train: bool, where: str) -> Augment:
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in dict(overrides).items()}
    size, crops = cfg.data.crop_size, tuple(cfg.data.crop_sizes) or (cfg.data.crop_size,)
    try:
        if train:
            return Augment(**{"size": size, "crop_sizes": crops, **fields})
        return Augment.none(**{"size": size, "crop_sizes": crops, **fields})
    except TypeError as err:
        raise ValueError(f"{where}.kwargs.augment: {err}") from None


def build_dataset(source: SourceConfig, cfg: Config, *, train: bool, index: int, coarse_mask: bool = False) -> Dataset:
    """One source as a dataset (see the module docstring); ``index`` is its position in the list (seeding).

    Raises:
        ValueError: an unknown kind, bad keyword arguments, or a validation source without a finite size.
        FileNotFoundError: a missing dataset folder.
    """
    where = f"data.{'train' if train else 'val'}.{index}"
    if source.kind not in KINDS:
        raise ValueError(f"{where}.kind: expected one of {', '.join(KINDS)}, got {source.kind!r}")
    kwargs = dict(source.kwargs)
    augment = _augment(cfg, kwargs.pop("augment", {}) or {}, train, where)
    kwargs.setdefault("seed", cfg.train.seed + index + (0 if train else VAL_SEED_OFFSET))
    if coarse_mask:
        kwargs.setdefault("coarse_mask", True)
    for key in ("types", "object_scale"):
        if isinstance(kwargs.get(key), list):
            kwargs[key] = tuple(kwargs[key])
    try:
        if source.kind == "synthetic":
            n = kwargs.pop("n", None)
            if n is None and not train:
                raise ValueError(f"{where}: a synthetic validation source needs kwargs.n (its number of samples)")
            return SynthDataset(ENDLESS if n is None else int(n), augment, backgrounds=source.path, **kwargs)
        if source.path is None:
            raise ValueError(f"{where}.path: a {source.kind!r} source needs the dataset folder")
        if source.kind == "folder":
            return MattingDataset(source.path, augment, **kwargs)
        if source.kind == "coarse":
            return CoarseDataset(source.path, augment, **kwargs)
        from automatte.data.copypaste import CopyPasteDataset, CutoutDataset

        if "backgrounds" not in kwargs:
            raise ValueError(f"{where}.kwargs.backgrounds: a {source.kind} source needs a background folder")
        cls = CopyPasteDataset if source.kind == "copypaste" else CutoutDataset
        return cls(source.path, kwargs.pop("backgrounds"), augment, **kwargs)
    except TypeError as err:
        raise ValueError(f"{where}.kwargs: {err}") from None


class StepBatchSampler(Sampler):
    """Batches of dataset keys for steps ``start, ..., steps - 1`` of one rank (module docstring).

    Args:
        order: a single-replica :class:`~automatte.data.loader.MixSampler` (the global sequence per epoch).
        global_batch: samples per step over all ranks (divisible by ``world``).
        rank, world: this process and the number of processes.
        start, steps: the first step and the end (exclusive).

    Example:
        >>> order = MixSampler([10], [1.0], num_samples=10, seed=0)
        >>> a = list(StepBatchSampler(order, 4, 0, 1, 0, 3))
        >>> b = [x + y for x, y in zip(StepBatchSampler(order, 4, 0, 2, 0, 3), StepBatchSampler(order, 4, 1, 2, 0, 3))]
        >>> a == b, list(StepBatchSampler(order, 4, 0, 1, 2, 3)) == a[2:]
        (True, True)
    """

    def __init__(self, order: MixSampler, global_batch: int, rank: int, world: int, start: int, steps: int):
        if global_batch % world:
            raise ValueError(f"data.batch_size: {global_batch} does not divide among {world} processes")
        self.order, self.global_batch, self.rank, self.world = order, int(global_batch), int(rank), int(world)
        self.local = self.global_batch // self.world
        self.start, self.steps = int(start), int(steps)
        self.epoch_length = order.total
        self._epoch, self._keys = None, None

    def _key(self, position: int) -> tuple[int, int, int]:
        epoch, offset = divmod(position, self.epoch_length)
        if epoch != self._epoch:
            self._epoch, self._keys = epoch, self.order.global_keys(epoch)
        return self._keys[offset]

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        for step in range(self.start, self.steps):
            first = step * self.global_batch + self.rank * self.local
            yield [self._key(p) for p in range(first, first + self.local)]

    def __len__(self) -> int:
        return max(0, self.steps - self.start)


def _needs_mask(model_inputs: Sequence[str]) -> bool:
    return "mask" in model_inputs


def build_train_loader(
    cfg: Config, model_inputs: Sequence[str], *, rank: int = 0, world: int = 1, start: int = 0, pin_memory: bool = False
) -> DataLoader:
    """The training DataLoader of one rank, from step ``start`` to ``train.steps`` (module docstring)."""
    mask = _needs_mask(model_inputs)
    datasets = [build_dataset(s, cfg, train=True, index=i, coarse_mask=mask) for i, s in enumerate(cfg.data.train)]
    mixed = MixedDataset(datasets)
    length = cfg.data.epoch_length
    if length is None:
        endless = max(mixed.sizes) >= ENDLESS
        length = cfg.data.batch_size * ENDLESS_EPOCH_BATCHES if endless else len(mixed)
    order = MixSampler(mixed.sizes, [s.weight for s in cfg.data.train], int(length), cfg.train.seed)
    sampler = StepBatchSampler(order, cfg.data.batch_size, rank, world, start, cfg.train.steps)
    seed = int(np.random.SeedSequence([cfg.train.seed, rank, start]).generate_state(1)[0])
    return DataLoader(
        mixed,
        batch_sampler=sampler,
        num_workers=cfg.data.workers,
        collate_fn=collate_matting,
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(seed),  # the loader's base seed; never the global torch RNG
        pin_memory=pin_memory,
    )


def build_val_loader(cfg: Config, model_inputs: Sequence[str]) -> DataLoader | None:
    """The validation DataLoader (every sample of every ``data.val`` source once, in order), or None."""
    if not cfg.data.val:
        return None
    mask = _needs_mask(model_inputs)
    datasets = [build_dataset(s, cfg, train=False, index=i, coarse_mask=mask) for i, s in enumerate(cfg.data.val)]
    mixed = MixedDataset(datasets)
    if len(mixed) >= ENDLESS:
        raise ValueError("data.val: validation sources must be finite (give synthetic sources kwargs.n)")
    return DataLoader(
        mixed,
        batch_size=cfg.data.val_batch_size,
        shuffle=False,
        num_workers=min(cfg.data.workers, 2),
        collate_fn=collate_matting,
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(cfg.train.seed),
    )
