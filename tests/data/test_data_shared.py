"""automatte.data on the real data of ../shared/data (marked ``data``; skipped when the folder is absent)."""

from __future__ import annotations

import pytest
import torch

from automatte.data.augment import Augment
from automatte.data.copypaste import CopyPasteDataset
from automatte.data.datasets import CoarseDataset, SynthDataset
from automatte.data.loader import build_loader

pytestmark = pytest.mark.data

SETS = ("ccp", "sod300", "hsd")
CFG = Augment(size=64, crop_sizes=(256, 320, 400), trimap_k_range=(1, 8))


@pytest.mark.parametrize("name", SETS)
def test_four_items_of_each_coarse_set(shared_data, name):
    ds = CoarseDataset(shared_data / "coarse" / name, CFG, coarse_mask=True)
    assert len(ds) >= 290
    for i in range(4):
        item = ds[i * 37]
        assert item["image"].shape == (3, 64, 64) and 0 <= item["image"].min() and item["image"].max() <= 1
        assert set(torch.unique(item["trimap"]).tolist()) <= {0.0, 0.5, 1.0}
        assert (item["trimap"] == 0.5).any() and "alpha" not in item and item["mask"].shape == (1, 64, 64)


@pytest.mark.parametrize("name", SETS)
def test_copy_paste_of_each_coarse_set_onto_the_background_pool(shared_data, name):
    ds = CopyPasteDataset(shared_data / "coarse" / name, shared_data / "backgrounds", CFG.replace(noise_prob=0,
                          blur_prob=0, jpeg_prob=0))  # fmt: skip
    assert len(ds.backgrounds) >= 300
    for i in range(4):
        item = ds[i * 41]
        a, f, b = item["alpha"], item["fg"], item["bg"]
        torch.testing.assert_close(item["image"], a * f + (1 - a) * b, atol=1e-6, rtol=0)
        assert a.max() > 0.99 and not bool(item["has_alpha"])


def test_mixed_loader_over_real_and_synthetic_sources(shared_data):
    coarse = CoarseDataset(shared_data / "coarse" / "sod300", CFG, split="train")
    synth = SynthDataset(augment=CFG, backgrounds=shared_data / "backgrounds")
    batch = next(iter(build_loader([(coarse, 1.0), (synth, 1.0)], batch_size=4, seed=0, epoch_length=4)))
    assert batch["image"].shape == (4, 3, 64, 64) and batch["has_alpha"].shape == (4,)
