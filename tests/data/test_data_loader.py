"""Tests of automatte.data.loader: weighted mixing, mixed collation, determinism, ranks, worker seeding."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from automatte.data.augment import Augment
from automatte.data.datasets import CoarseDataset, MattingDataset, SynthDataset
from automatte.data.loader import MixedDataset, MixSampler, build_loader, collate_matting, seed_worker

SIZE = 32


@pytest.fixture
def sources(matting_root, coarse_root, bg_dir):
    cfg = Augment(size=SIZE, crop_sizes=(48, 64))
    return [(MattingDataset(matting_root, cfg, backgrounds=bg_dir), 1.0), (CoarseDataset(coarse_root, cfg), 1.0)]


def _batches(loader, epochs=(0,)):
    out = []
    for epoch in epochs:
        loader.sampler.set_epoch(epoch)
        out += list(loader)
    return out


def _same_batches(a, b) -> bool:
    return len(a) == len(b) and all(
        x.keys() == y.keys()
        and all(torch.equal(x[k], y[k]) if isinstance(x[k], torch.Tensor) else x[k] == y[k] for k in x)
        for x, y in zip(a, b)
    )


def test_mixed_batches_of_alpha_and_trimap_only_items(sources):
    loader = build_loader(sources, batch_size=9, seed=0, epoch_length=9)
    batch = next(iter(loader))
    assert batch["image"].shape == (9, 3, SIZE, SIZE) and batch["trimap"].shape == (9, 1, SIZE, SIZE)
    assert batch["alpha"].shape == (9, 1, SIZE, SIZE) and batch["classes"].shape == (9, SIZE, SIZE)
    has = batch["has_alpha"]
    assert has.dtype == torch.bool and has.shape == (9,) and has.any() and not has.all()
    assert torch.equal(batch["coarse"], ~has)
    assert torch.all(batch["alpha"][~has] == 0)  # filled for trimap-only rows
    assert torch.equal(batch["has_fg"], has) and torch.equal(batch["has_bg"], has)
    assert set(batch["source"]) == {"matting", "coarse"} and len(batch["name"]) == 9
    assert all(t in ("SO", "STM", "NS") for t in batch["type"])


def test_collate_fills_missing_optional_tensors():
    def item(alpha, mask):
        it = {"image": torch.rand(3, 4, 4), "trimap": torch.zeros(1, 4, 4), "has_alpha": torch.tensor(alpha),
              "type": "SO", "name": "x"}  # fmt: skip
        if alpha:
            it["alpha"] = torch.ones(1, 4, 4)
        if mask:
            it["mask"] = torch.ones(1, 4, 4)
        return it

    batch = collate_matting([item(True, False), item(False, True), item(True, True)])
    assert batch["has_alpha"].tolist() == [True, False, True] and batch["has_mask"].tolist() == [False, True, True]
    assert batch["mask"][0].sum() == 0 and batch["alpha"][1].sum() == 0 and batch["type"] == ["SO"] * 3
    assert "alpha" not in collate_matting([item(False, False)])
    with pytest.raises(ValueError):
        collate_matting([])


def test_weights_control_the_mix(matting_root, coarse_root):
    sampler = MixSampler([4, 5], [3.0, 1.0], num_samples=4000, seed=0)
    counts = Counter(s for s, _, _ in sampler)
    assert 0.72 < counts[0] / 4000 < 0.78
    only = MixSampler([4, 5], [0.0, 1.0], num_samples=100, seed=0)
    assert {s for s, _, _ in only} == {1}
    with pytest.raises(ValueError):
        MixSampler([4, 5], [0.0, 0.0], num_samples=10)
    with pytest.raises(ValueError):
        MixSampler([4, 5], [1.0], num_samples=10)


def test_sampler_visits_every_item_before_repeating():
    keys = list(MixSampler([7], [1.0], num_samples=14, seed=3))
    first, second = [i for _, i, _ in keys[:7]], [i for _, i, _ in keys[7:]]
    assert sorted(first) == list(range(7)) and sorted(second) == list(range(7))
    endless = list(MixSampler([2**31 - 1], [1.0], num_samples=50, seed=0))
    assert len({i for _, i, _ in endless}) == 50


def test_an_item_drawn_again_in_one_epoch_is_a_new_draw():
    keys = MixSampler([3, 50], [0.5, 0.5], num_samples=40, seed=0).global_keys(2)
    small = [k for k in keys if k[0] == 0]
    assert len(small) > 3  # the 3 items are cycled: each pass over them has its own draw number
    assert len(set(small)) == len(small)
    assert sorted({k[2] for k in small}) == [2 + (c << 32) for c in range(-(-len(small) // 3))]
    assert {k[2] for k in keys if k[0] == 1} == {2}  # no repeats: the epoch itself, as before


def test_sampler_epochs_and_ranks_like_distributed_sampler():
    sampler = MixSampler([10, 6], [1, 1], num_samples=15, seed=1)
    e0 = list(sampler)
    sampler.set_epoch(1)
    e1 = list(sampler)
    assert e0 != e1 and all(k[2] % (1 << 32) == 1 for k in e1) and len(e0) == 15
    ranks = [MixSampler([10, 6], [1, 1], num_samples=15, seed=1, num_replicas=4, rank=r) for r in range(4)]
    for r in ranks:
        r.set_epoch(1)
    parts = [list(r) for r in ranks]
    assert all(len(p) == 4 == len(r) for p, r in zip(parts, ranks))  # 15 padded to 16
    merged = [parts[i % 4][i // 4] for i in range(16)]
    assert merged == ranks[0].global_keys(1)  # rank r holds keys r, r + 4, ... of one shared epoch
    with pytest.raises(ValueError):
        MixSampler([3], [1], 3, num_replicas=2, rank=2)


def test_loader_is_deterministic_given_the_seed(sources):
    def run(seed):
        return _batches(build_loader(sources, batch_size=3, seed=seed, epoch_length=6), epochs=(0, 1))

    a, b = run(5), run(5)
    assert _same_batches(a, b)
    assert not _same_batches(a, run(6))
    assert not torch.equal(a[0]["image"], a[2]["image"])  # epochs differ


def test_loader_results_do_not_depend_on_workers(sources):
    single = _batches(build_loader(sources, batch_size=3, seed=2, epoch_length=6), epochs=(0, 1))
    workers = _batches(build_loader(sources, batch_size=3, seed=2, epoch_length=6, num_workers=2), epochs=(0, 1))
    assert _same_batches(single, workers)


def test_distributed_loader_partitions_an_epoch(sources):
    full = build_loader(sources, batch_size=1, seed=0, epoch_length=8, drop_last=False)
    names = [b["name"][0] + b["source"][0] for b in full]
    per_rank = [
        [
            b["name"][0] + b["source"][0]
            for b in build_loader(
                sources, 1, seed=0, epoch_length=8, distributed=True, num_replicas=2, rank=r, drop_last=False
            )
        ]  # fmt: skip
        for r in range(2)
    ]
    assert per_rank[0] == names[0::2] and per_rank[1] == names[1::2]
    with pytest.raises(ValueError, match="distributed"):
        build_loader(sources, 1, distributed=True)


def test_build_loader_arguments():
    synth = SynthDataset(augment=Augment.none(size=SIZE))
    with pytest.raises(ValueError, match="epoch_length"):
        build_loader(synth, batch_size=2)
    loader = build_loader(synth, batch_size=2, epoch_length=5)
    assert len(loader) == 2 and isinstance(loader.dataset, MixedDataset)
    assert [b["image"].shape[0] for b in loader] == [2, 2]


def test_seed_worker_seeds_numpy_from_torch():
    torch.manual_seed(1234)
    seed_worker(0)
    a = np.random.random()
    torch.manual_seed(1234)
    seed_worker(0)
    assert np.random.random() == a


def test_other_map_style_datasets_mix_with_ours():
    class Plain(torch.utils.data.Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return {"image": torch.full((3, SIZE, SIZE), float(i) / 3), "trimap": torch.zeros(1, SIZE, SIZE),
                    "has_alpha": torch.tensor(False), "name": f"p{i}"}  # fmt: skip

    synth = SynthDataset(4, Augment.none(size=SIZE))
    batch = next(iter(build_loader([Plain(), synth], batch_size=7, seed=0)))
    assert batch["image"].shape == (7, 3, SIZE, SIZE) and sum(n.startswith("p") for n in batch["name"]) == 3
    assert batch["has_fg"].sum() == 4
