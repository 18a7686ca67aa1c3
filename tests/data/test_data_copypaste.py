"""Tests of automatte.data.copypaste: object placement, feathered alpha, flagged coarse items."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from automatte.data.augment import Augment
from automatte.data.copypaste import CopyPasteDataset, paste_object


def test_paste_object_keeps_the_object_inside_and_feathers_the_edge():
    mask = np.zeros((60, 80), np.float32)
    mask[20:40, 30:50] = 1
    photo = np.zeros((60, 80, 3), np.float32)
    photo[mask > 0] = [1, 0, 0]
    for seed in range(10):
        fg, alpha = paste_object(photo, mask, 48, np.random.default_rng(seed), object_scale=(0.3, 0.6), feather=0.7)
        assert fg.shape == (48, 48, 3) and alpha.shape == (48, 48)
        assert alpha.max() > 0.99 and ((alpha > 0.05) & (alpha < 0.95)).any()
        ys, xs = np.nonzero(alpha > 0.5)
        h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        assert abs(h - w) <= 1 and abs(h * w - len(ys)) <= 2 * h  # a whole square, not cut by the canvas
        assert 0.3 * 48 - 2 <= h <= 0.6 * 48 + 2
        inside = alpha > 0.99
        np.testing.assert_allclose(fg[inside], np.broadcast_to([1, 0, 0], fg[inside].shape), atol=0.02)


def test_paste_object_keeps_a_border_cut_on_the_canvas_border():
    mask = np.zeros((60, 80), np.float32)
    mask[30:60, 20:60] = 1  # touches the bottom of the photo
    for seed in range(5):
        _, alpha = paste_object(np.ones((60, 80, 3), np.float32), mask, 40, np.random.default_rng(seed), feather=0)
        assert alpha[-1].max() > 0.99  # the cut stays on the canvas's bottom edge
        assert alpha[0].max() == 0


def test_paste_object_bottom_cut_frames_the_object_on_the_bottom_edge():
    mask = np.zeros((60, 80), np.float32)
    mask[10:50, 20:40] = 1  # a 40 x 20 object wholly inside its photo
    for seed in range(5):
        _, whole = paste_object(np.ones((60, 80, 3), np.float32), mask, 64, np.random.default_rng(seed),
                                object_scale=(0.5, 0.5), feather=0)  # fmt: skip
        _, cut = paste_object(np.ones((60, 80, 3), np.float32), mask, 64, np.random.default_rng(seed),
                              object_scale=(0.5, 0.5), feather=0, bottom_cut=0.25)  # fmt: skip
        rows_whole = np.nonzero(whole.max(1) > 0.5)[0]
        rows_cut = np.nonzero(cut.max(1) > 0.5)[0]
        assert whole[-1].max() == 0 and cut[-1].max() > 0.99  # only the framed object reaches the bottom edge
        assert abs(len(rows_whole) - 32) <= 1  # drawn size: half the canvas
        assert abs(len(rows_cut) - 32) <= 1  # the visible 75 % keeps the drawn size (the object is 4/3 larger)
        cols_cut = np.nonzero(cut.max(0) > 0.5)[0]
        assert abs(len(cols_cut) - 16 / 0.75) <= 1.5
    with pytest.raises(ValueError, match="bottom_cut"):
        paste_object(np.ones((60, 80, 3), np.float32), mask, 64, np.random.default_rng(0), bottom_cut=1.0)


def test_paste_object_larger_than_the_canvas_is_cropped_at_random_places():
    mask = np.ones((40, 40), np.float32)
    mask[0, :] = mask[-1, :] = mask[:, 0] = mask[:, -1] = 0  # inside, not touching the photo's borders
    photo = np.dstack([np.tile(np.linspace(0, 1, 40, dtype=np.float32), (40, 1))] * 3)
    firsts = set()
    for seed in range(8):
        fg, _ = paste_object(photo, mask, 20, np.random.default_rng(seed), (1.5, 1.5), feather=0, max_upscale=10)
        firsts.add(round(float(fg[10, 0, 0]), 3))
    assert len(firsts) > 1  # not always the centred crop


def test_paste_object_empty_mask_gives_zero_alpha():
    _, alpha = paste_object(np.ones((20, 30, 3), np.float32), np.zeros((20, 30), np.float32), 16,
                            np.random.default_rng(0))  # fmt: skip
    assert alpha.max() == 0


def test_copypaste_items_are_flagged_coarse_and_composited(object_root, bg_dir):
    ds = CopyPasteDataset(object_root, bg_dir, Augment.none(size=40))
    assert len(ds) == 3 and ds.source == "copypaste-objects"
    for i in range(len(ds)):
        item = ds[i]
        assert not bool(item["has_alpha"]) and bool(item["coarse"])
        for key, c in (("image", 3), ("alpha", 1), ("fg", 3), ("bg", 3), ("trimap", 1)):
            assert item[key].shape == (c, 40, 40) and item[key].dtype == torch.float32
        a, f, b = item["alpha"], item["fg"], item["bg"]
        torch.testing.assert_close(item["image"], a * f + (1 - a) * b, atol=1e-6, rtol=0)
        assert torch.all(item["trimap"][(a > 0.01) & (a < 0.99)] == 0.5)
        assert item["classes"].dtype == torch.int64 and item["type"] == "SO"


def test_copypaste_determinism_new_backgrounds_and_options(object_root, bg_dir):
    cfg = Augment(size=32)
    a = CopyPasteDataset(object_root, bg_dir, cfg, seed=2, coarse_mask=True)
    b = CopyPasteDataset(object_root, bg_dir, cfg, seed=2, coarse_mask=True)
    x, y = a[1, 4], b[1, 4]
    assert all(torch.equal(x[k], y[k]) for k in x if isinstance(x[k], torch.Tensor))
    assert x["mask"].shape == (1, 32, 32)
    assert not torch.equal(a[1, 4]["bg"], a[1, 5]["bg"])
    val = CopyPasteDataset(object_root, bg_dir, cfg, split="val", val_fraction=0.5)
    train = CopyPasteDataset(object_root, bg_dir, cfg, split="train", val_fraction=0.5)
    assert sorted(val.names + train.names) == ["o0", "o1", "o2"]
    with pytest.raises(ValueError, match="object_scale"):
        CopyPasteDataset(object_root, bg_dir, object_scale=(0.0, 0.5))


@pytest.fixture
def cutout_dir(tmp_path):
    """4 RGBA cutouts (a soft red disc on transparent) and one opaque RGB file."""
    from automatte.io import write_image

    folder = tmp_path / "cutouts"
    yy, xx = np.mgrid[:50, :40]
    alpha = np.clip(15 - np.sqrt((yy - 25) ** 2 + (xx - 20) ** 2), 0, 1).astype(np.float32)
    for i in range(4):
        rgba = np.dstack([np.ones_like(alpha), np.zeros_like(alpha), np.zeros_like(alpha), alpha])
        write_image(folder / f"obj{i}.png", rgba)
    return folder


def test_cutout_dataset_items_have_exact_alpha(cutout_dir, bg_dir):
    from automatte.data.copypaste import CutoutDataset

    ds = CutoutDataset(cutout_dir, bg_dir, Augment(size=48, jitter_prob=0, noise_prob=0, jpeg_prob=0, blur_prob=0,
                                                   bokeh_prob=0), seed=3)  # fmt: skip
    assert len(ds) == 4
    for i in range(4):
        item = ds[i]
        assert item["has_alpha"] and not item["coarse"]
        alpha, image, fg, bg = item["alpha"], item["image"], item["fg"], item["bg"]
        assert alpha.shape == (1, 48, 48) and 0.99 < float(alpha.max()) and float(alpha.min()) == 0
        assert ((alpha > 0.05) & (alpha < 0.95)).any()  # the cutout's own soft edge survives
        torch.testing.assert_close(image, alpha * fg + (1 - alpha) * bg, atol=1 / 255 + 1e-4, rtol=0)
    again = CutoutDataset(cutout_dir, bg_dir, Augment(size=48), seed=3)
    torch.testing.assert_close(
        again[1]["alpha"], CutoutDataset(cutout_dir, bg_dir, Augment(size=48), seed=3)[1]["alpha"]
    )


def test_cutout_dataset_bottom_cut_framing(cutout_dir, bg_dir):
    from automatte.data.copypaste import CutoutDataset

    cfg = Augment(size=48, flip_prob=0)
    never = CutoutDataset(cutout_dir, bg_dir, cfg, seed=1)
    always = CutoutDataset(cutout_dir, bg_dir, cfg, seed=1, bottom_cut_prob=1.0, bottom_cut_range=(0.2, 0.3))
    for i in range(4):  # pixels of the bottom row inside the disc: at most its rim, or a chord across it
        assert int((never[i]["alpha"][0, -1] > 0.5).sum()) <= 8
        assert int((always[i]["alpha"][0, -1] > 0.5).sum()) >= 12
    torch.testing.assert_close(  # probability 0 draws nothing: the old items, unchanged
        never[2]["alpha"], CutoutDataset(cutout_dir, bg_dir, cfg, seed=1, bottom_cut_prob=0.0)[2]["alpha"]
    )
    with pytest.raises(ValueError, match="bottom_cut"):
        CutoutDataset(cutout_dir, bg_dir, bottom_cut_prob=0.5, bottom_cut_range=(0.3, 1.0))


def test_cutout_dataset_split_and_errors(cutout_dir, bg_dir, tmp_path):
    from automatte.data.copypaste import CutoutDataset

    train = CutoutDataset(cutout_dir, bg_dir, split="train", val_fraction=0.5)
    val = CutoutDataset(cutout_dir, bg_dir, split="val", val_fraction=0.5)
    assert sorted(train.names + val.names) == [f"obj{i}" for i in range(4)]
    with pytest.raises(FileNotFoundError, match="no such folder"):
        CutoutDataset(tmp_path / "missing", bg_dir)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no images"):
        CutoutDataset(tmp_path / "empty", bg_dir)
