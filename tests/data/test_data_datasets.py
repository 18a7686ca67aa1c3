"""Tests of automatte.data.datasets: item contract, compositing, determinism, crops, splits, coarse trimaps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from automatte.data.augment import Augment
from automatte.data.datasets import (
    ENDLESS,
    CoarseDataset,
    MattingDataset,
    SynthDataset,
    list_backgrounds,
    make_item,
    split_names,
)
from automatte.data.synth import synthesize_sample
from automatte.io import read_image

SIZE = 48


def _check_item(item: dict, size: int, alpha: bool) -> None:
    assert item["image"].shape == (3, size, size) and item["image"].dtype == torch.float32
    assert 0 <= item["image"].min() and item["image"].max() <= 1
    assert item["trimap"].shape == (1, size, size) and item["trimap"].dtype == torch.float32
    assert set(torch.unique(item["trimap"]).tolist()) <= {0.0, 0.5, 1.0}
    assert item["classes"].shape == (size, size) and item["classes"].dtype == torch.int64
    assert torch.equal(item["classes"], (item["trimap"][0] * 2).long()) or item["type"] != "SO"
    assert item["has_alpha"].dtype == torch.bool and item["has_alpha"].dim() == 0
    assert bool(item["has_alpha"]) == alpha and bool(item["coarse"]) != alpha
    if alpha:
        assert item["alpha"].shape == (1, size, size) and 0 <= item["alpha"].min() and item["alpha"].max() <= 1
    else:
        assert "alpha" not in item
    for key in ("fg", "bg"):
        if key in item:
            assert item[key].shape == (3, size, size) and item[key].dtype == torch.float32
    assert all(isinstance(item[k], str) for k in ("type", "name", "category", "source"))


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k] for k in a
    )


# ------------------------------------------------------------------------------------------------ matting folder


def test_matting_dataset_items_follow_the_contract(matting_root, bg_dir):
    ds = MattingDataset(matting_root, Augment(size=SIZE, crop_sizes=(48, 64, 80)), backgrounds=bg_dir)
    assert len(ds) == 4 and ds.names == ["s0", "s1", "s2", "s3"] and len(ds.backgrounds) == 3
    for i in range(len(ds)):
        item = ds[i]
        _check_item(item, SIZE, alpha=True)
        assert "fg" in item and "bg" in item and item["source"] == "matting"
    assert [ds[i]["type"] for i in range(4)] == ["SO", "STM", "NS", "SO"]
    assert ds[1]["category"] == "cat1"


def test_online_composite_satisfies_the_matting_equation(matting_root, bg_dir):
    ds = MattingDataset(matting_root, Augment.none(size=SIZE, crop_sizes=(48, 64, 80)), backgrounds=bg_dir)
    for i in range(len(ds)):
        for epoch in range(2):
            item = ds[i, epoch]
            a, f, b = item["alpha"], item["fg"], item["bg"]
            torch.testing.assert_close(item["image"], a * f + (1 - a) * b, atol=1e-6, rtol=0)


def test_online_composite_with_all_augmentations_keeps_f_alpha_b_consistent(matting_root, bg_dir):
    """With degradations on, I departs from aF + (1-a)B only by them: jitter and bokeh act before compositing."""
    cfg = Augment(size=SIZE, crop_sizes=(64,), flip_prob=1, jitter_prob=1, bokeh_prob=1, blur_prob=0, noise_prob=0,
                  jpeg_prob=0)  # fmt: skip
    item = MattingDataset(matting_root, cfg, backgrounds=bg_dir)[0]
    a, f, b = item["alpha"], item["fg"], item["bg"]
    torch.testing.assert_close(item["image"], a * f + (1 - a) * b, atol=1e-6, rtol=0)
    noisy = MattingDataset(matting_root, cfg.replace(noise_prob=1, jpeg_prob=1), backgrounds=bg_dir)[0]
    assert (noisy["image"] - (a * f + (1 - a) * b)).abs().mean() > 1e-3


def test_new_background_every_epoch_same_foreground(matting_root, bg_dir):
    ds = MattingDataset(matting_root, Augment.none(size=SIZE, crop_sizes=(80,)), backgrounds=bg_dir)
    e0, e1 = ds[0, 0], ds[0, 1]
    assert not torch.equal(e0["bg"], e1["bg"]) and not torch.equal(e0["image"], e1["image"])
    assert e0["alpha"].sum() > 100 and e1["alpha"].sum() > 100
    ds.set_epoch(1)
    assert _same(ds[0], e1)


def test_own_bg_folder_is_the_default_pool(matting_root):
    ds = MattingDataset(matting_root, Augment.none(size=SIZE, crop_sizes=(64,)))
    assert len(ds.backgrounds) == 4 and "bg" in ds[0]
    plain = MattingDataset(matting_root, Augment.none(size=SIZE, crop_sizes=(64,)), composite=False)
    item = plain[0]
    assert "fg" not in item and "bg" not in item
    _check_item(item, SIZE, alpha=True)


def test_determinism_under_seed(matting_root, bg_dir):
    def make(seed):
        return MattingDataset(matting_root, Augment(size=SIZE, crop_sizes=(48, 64)), backgrounds=bg_dir, seed=seed)

    a, b = make(3), make(3)
    for i in range(4):
        assert _same(a[i, 2], b[i, 2])
    assert any(not torch.equal(a[i, 2]["image"], make(4)[i, 2]["image"]) for i in range(4))


def test_crops_are_squares_of_the_listed_sizes(matting_root):
    """Without resizing (size = crop side), the item is exactly a square window of the source image."""
    source = read_image(matting_root / "image" / "s0.png")
    for side in (40, 64, 80, 200):
        ds = MattingDataset(matting_root, Augment.none(size=min(side, 80), crop_sizes=(side,)), composite=False)
        for epoch in range(3):
            image = ds[0, epoch]["image"].permute(1, 2, 0).numpy()
            s = image.shape[0]
            hits = [(y, x) for y in range(80 - s + 1) for x in range(96 - s + 1)
                    if np.array_equal(source[y : y + s, x : x + s], image)]  # fmt: skip
            assert len(hits) == 1, (side, epoch)


def test_crops_resized_to_the_training_size(matting_root):
    ds = MattingDataset(matting_root, Augment.none(size=32, crop_sizes=(64, 80), unknown_crop_prob=1.0))
    item = ds[2]
    assert item["image"].shape == (3, 32, 32)
    assert ((item["alpha"] > 0.01) & (item["alpha"] < 0.99)).any()  # centred on the soft edge


def test_trimap_from_files_and_random(matting_root):
    ds = MattingDataset(matting_root, Augment.none(size=80, crop_sizes=(80,)), trimap="file")
    item = ds[0]
    a, t = item["alpha"], item["trimap"]
    assert torch.all(t[(a > 0.02) & (a < 0.98)] == 0.5)
    rand = MattingDataset(matting_root, Augment.none(size=80, crop_sizes=(80,), trimap_k_range=(9, 9)))
    r = rand[0]
    assert (r["trimap"] == 0.5).sum() > (item["trimap"] == 0.5).sum()  # k = 9 widens the band


def test_unified_classes_follow_the_type(matting_root):
    ds = MattingDataset(matting_root, Augment.none(size=SIZE, crop_sizes=(80,)), unified=True)
    so, stm, ns = ds[0], ds[1], ds[2]
    assert set(torch.unique(so["classes"]).tolist()) == {0, 1, 2}
    assert 2 not in torch.unique(stm["classes"]).tolist()
    assert torch.all(ns["classes"] == 1)


def test_coarse_mask_for_tgn(matting_root):
    item = MattingDataset(matting_root, Augment.none(size=SIZE, crop_sizes=(64,)), coarse_mask=True)[0]
    assert item["mask"].shape == (1, SIZE, SIZE) and 0 <= item["mask"].min() and item["mask"].max() <= 1


def test_matting_dataset_errors(matting_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        MattingDataset(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="nope"):
        MattingDataset(matting_root, backgrounds=tmp_path / "nope")
    with pytest.raises(ValueError, match="trimap"):
        MattingDataset(matting_root, trimap="fixed")
    with pytest.raises(ValueError, match="split"):
        MattingDataset(matting_root, split="test")
    with pytest.raises(ValueError, match="not in the dataset"):
        MattingDataset(matting_root, names=["s0", "zz"])
    (matting_root / "meta.csv").write_text("name,type\ns0,XX\n")
    with pytest.raises(ValueError, match="XX"):
        MattingDataset(matting_root)
    with pytest.raises(IndexError):
        MattingDataset(matting_root, default_type="so", names=["s1"])[1]


# ------------------------------------------------------------------------------------------------ splits


def test_split_names_is_stable_when_names_are_added():
    names = [f"img_{i:04d}" for i in range(500)]
    train, val = split_names(names, 0.2, seed=1)
    assert sorted(train + val) == sorted(names) and not set(train) & set(val)
    assert 60 < len(val) < 140
    more_train, more_val = split_names(names + [f"new_{i}" for i in range(300)], 0.2, seed=1)
    assert set(val) <= set(more_val) and set(train) <= set(more_train)
    assert split_names(names, 0.2, seed=2)[1] != val
    assert split_names(names[::-1], 0.2, seed=1)[1] == val[::-1]
    assert split_names(names, 0.0)[1] == [] and split_names(names, 1.0)[0] == []
    with pytest.raises(ValueError):
        split_names(names, 1.5)


def test_dataset_split_partitions_the_names(coarse_root):
    cfg = Augment.none(size=32, crop_sizes=(64,))
    train = CoarseDataset(coarse_root, cfg, split="train", val_fraction=0.5, split_seed=3)
    val = CoarseDataset(coarse_root, cfg, split="val", val_fraction=0.5, split_seed=3)
    assert sorted(train.names + val.names) == [f"c{i}" for i in range(5)] and not set(train.names) & set(val.names)
    assert val.names == split_names([f"c{i}" for i in range(5)], 0.5, 3)[1]


# ------------------------------------------------------------------------------------------------ coarse labels


def test_coarse_dataset_items_have_trimaps_but_no_alpha(coarse_root):
    ds = CoarseDataset(coarse_root, Augment(size=SIZE, crop_sizes=(48, 64)), coarse_mask=True)
    assert len(ds) == 5
    for i in range(len(ds)):
        item = ds[i]
        _check_item(item, SIZE, alpha=False)
        assert item["mask"].shape == (1, SIZE, SIZE) and item["source"] == "coarse"


@pytest.mark.parametrize("k_range", [(1, 30), (5, 12)])
def test_coarse_trimap_unknown_band_width_in_the_chosen_range(coarse_root, k_range):
    """A straight mask edge gives an unknown band k - 1 pixels wide (erode + dilate, elliptical kernel k)."""
    ds = CoarseDataset(coarse_root, Augment(size=64, crop_sizes=(64,), trimap_k_range=k_range, unknown_crop_prob=0))
    widths = set()
    for i in range(len(ds)):
        for epoch in range(8):
            trimap = ds[i, epoch]["trimap"][0]
            band = (trimap == 0.5).sum(dim=1)  # per row
            assert torch.all(band == band[0])  # a straight band
            widths.add(int(band[0]))
    assert min(widths) >= k_range[0] - 1 and max(widths) <= k_range[1] - 1
    assert len(widths) >= 4


def test_coarse_dataset_determinism_and_errors(coarse_root, tmp_path):
    a = CoarseDataset(coarse_root, Augment(size=32, crop_sizes=(48, 64)), seed=1)
    b = CoarseDataset(coarse_root, Augment(size=32, crop_sizes=(48, 64)), seed=1)
    assert _same(a[2, 5], b[2, 5]) and not torch.equal(a[2, 5]["image"], a[2, 6]["image"])
    with pytest.raises(FileNotFoundError, match="mask"):
        CoarseDataset(tmp_path)


def test_framed_coarse_crops_cut_the_object_with_the_bottom_edge(object_root):
    cfg = Augment(size=32, crop_sizes=(40,), unknown_crop_prob=0, flip_prob=0)
    framed = CoarseDataset(object_root, cfg, frame_prob=1.0, frame_range=(0.6, 0.8), seed=2)
    plain = CoarseDataset(object_root, cfg, seed=2)
    for epoch in range(4):
        for i in range(2):  # objects inside the frame (rows 15-44): the framed crop ends inside the object
            trimap = framed[i, epoch]["trimap"][0]
            assert bool((trimap[-1] > 0).any()), "the object does not reach the bottom edge"
            assert bool((trimap[0] == 0).any()), "the framed crop lost the background above the object"
    # frame_prob 0 draws nothing: the same samples as before the option existed
    assert _same(CoarseDataset(object_root, cfg, frame_prob=0.0, seed=2)[1, 3], plain[1, 3])
    with pytest.raises(ValueError, match="frame_range"):
        CoarseDataset(object_root, cfg, frame_prob=0.5, frame_range=(0.9, 0.5))


# ------------------------------------------------------------------------------------------------ generator


def test_synth_dataset_is_deterministic_per_index_and_exact():
    ds = SynthDataset(augment=Augment.none(size=32), seed=5)
    assert len(ds) == ENDLESS
    items = [ds[i] for i in range(3)]
    assert [it["type"] for it in items] == ["SO", "STM", "NS"]
    for i, item in enumerate(items):
        _check_item(item, 32, alpha=True)
        sample = synthesize_sample(np.random.default_rng([5, i]), item["type"], 32)
        np.testing.assert_array_equal(item["alpha"][0].numpy(), sample.alpha)
        assert item["category"] == sample.category and item["name"].endswith(sample.category)
        a, f, b = item["alpha"], item["fg"], item["bg"]
        torch.testing.assert_close(item["image"], a * f + (1 - a) * b, atol=1e-6, rtol=0)
    far = ds[ENDLESS - 1]
    assert far["image"].shape == (3, 32, 32)


def test_synth_dataset_epochs_change_augmentation_not_content():
    ds = SynthDataset(augment=Augment(size=32, flip_prob=0, jitter_prob=1, bokeh_prob=1), seed=0)
    e0, e1 = ds[0, 0], ds[0, 1]
    assert torch.equal(e0["alpha"], e1["alpha"]) and not torch.equal(e0["image"], e1["image"])
    assert _same(ds[0, 1], SynthDataset(augment=ds.augment, seed=0)[0, 1])


def test_synth_dataset_with_backgrounds_and_unified(bg_dir):
    ds = SynthDataset(10, Augment.none(size=32), types="ns", backgrounds=bg_dir, unified=True)
    item = ds[3]
    assert item["type"] == "NS" and torch.all(item["classes"] == 1)
    with pytest.raises(ValueError):
        SynthDataset(0)
    with pytest.raises(ValueError, match="32"):
        SynthDataset(augment=Augment(size=16))


def test_make_item_and_list_backgrounds(bg_dir):
    z = np.zeros((4, 5), np.float32)
    item = make_item(image=np.ones((4, 5, 3)), trimap=z + 1, alpha=z, image_type="STM", name="n", has_alpha=True,
                     coarse=False, unified=True)  # fmt: skip
    assert item["image"].shape == (3, 4, 5) and torch.all(item["classes"] == 1)
    assert [p.name for p in list_backgrounds(bg_dir)] == ["bg0.jpg", "bg1.jpg", "bg2.jpg"]
    assert len(list_backgrounds([bg_dir / "bg0.jpg", bg_dir / "sub"])) == 2
