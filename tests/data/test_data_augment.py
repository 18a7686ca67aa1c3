"""Tests of automatte.data.augment: crops, flips, photometric steps, config checks, item generators."""

from __future__ import annotations

import numpy as np
import pytest

from automatte.data import augment as A
from automatte.data.augment import Augment


def test_item_rng_depends_only_on_seed_epoch_index():
    a = A.item_rng(1, 2, 3).random(4)
    np.testing.assert_array_equal(a, A.item_rng(1, 2, 3).random(4))
    for other in [(0, 2, 3), (1, 0, 3), (1, 2, 4)]:
        assert not np.array_equal(a, A.item_rng(*other).random(4))


@pytest.mark.parametrize("shape", [(100, 120), (300, 90)])
def test_choose_crop_sides_come_from_the_list_or_the_largest_square(shape):
    sizes = (32, 48, 80, 200)
    seen = set()
    for seed in range(60):
        y, x, side = A.choose_crop(shape, np.random.default_rng(seed), sizes)
        assert side in sizes or side == min(shape)
        assert 0 <= y and y + side <= shape[0] and 0 <= x and x + side <= shape[1]
        seen.add(side)
    assert seen == {s for s in sizes if s <= min(shape)} | ({min(shape)} if max(sizes) > min(shape) else set())


def test_choose_crop_scale_range_divides_the_side():
    sides = {A.choose_crop((400, 400), np.random.default_rng(s), [100], scale_range=(0.5, 2.0))[2] for s in range(40)}
    assert min(sides) >= 50 and max(sides) <= 200 and len(sides) > 10
    assert A.choose_crop((400, 400), np.random.default_rng(0), [100], scale_range=(0.5, 0.5))[2] == 200


def test_choose_crop_centres_on_the_focus():
    focus = np.zeros((200, 200), bool)
    focus[150, 40] = True
    for seed in range(10):
        y, x, side = A.choose_crop(focus.shape, np.random.default_rng(seed), [64], focus, focus_prob=1.0)
        assert (y, x) == (150 - 32, 40 - 32)
    y, x, side = A.choose_crop(focus.shape, np.random.default_rng(0), [64], np.zeros_like(focus), focus_prob=1.0)
    assert side == 64  # empty focus: a uniform crop


def test_framed_crop_ends_inside_the_object_and_falls_back_when_too_little_is_left():
    mask = np.zeros((120, 160), np.float32)
    mask[30:110, 50:90] = 1
    rng = np.random.default_rng(3)
    for _ in range(20):
        y, x, side = A.framed_crop(mask, rng, [64, 96], keep_range=(0.55, 0.9))
        cut = y + side
        assert 30 + 0.55 * 80 - 1 <= cut <= 30 + 0.9 * 80 + 1 and 0 <= x <= 160 - side and y >= 0
        assert mask[cut - 1, x : x + side].any()  # the last row of the box crosses the object
    assert A.framed_crop(np.zeros((50, 50)), rng, [32]) is None
    top = np.zeros((100, 100), np.float32)
    top[0:20, 40:60] = 1  # an object at the top: 11-18 rows above the cut, under 40 % of the short side
    assert A.framed_crop(top, rng, [64]) is None


def test_unknown_region_soft_and_hard():
    a = np.zeros((10, 10), np.float32)
    a[3:7, 3:7] = 1
    a[5, 5] = 0.5
    assert A.unknown_region(a).sum() == 1
    a[5, 5] = 1
    edge = A.unknown_region(a)
    assert edge[3, 3] and edge[2, 2] and not edge[5, 5] and not edge[0, 0]
    assert not A.unknown_region(np.zeros((5, 5), np.float32)).any()


def test_apply_box_crops_and_resizes():
    arr = np.arange(100 * 80 * 3, dtype=np.float32).reshape(100, 80, 3)
    np.testing.assert_array_equal(A.apply_box(arr, (10, 5, 40), 40), arr[10:50, 5:45])
    assert A.apply_box(arr, (0, 0, 80), 32).shape == (32, 32, 3)
    assert A.apply_box(arr[..., 0], (0, 0, 16), 48).shape == (48, 48)
    labels = np.tile(np.array([0.0, 0.5, 1.0], np.float32), (30, 10))
    assert set(np.unique(A.apply_box(labels, (0, 0, 30), 17, nearest=True))) <= {0.0, 0.5, 1.0}


def test_flip_arrays_mirrors_and_keeps_none():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = A.flip_arrays({"a": a, "b": None})
    np.testing.assert_array_equal(out["a"], a[:, ::-1])
    assert out["b"] is None and out["a"].flags.c_contiguous


def test_colour_jitter_range_and_effect():
    rng = np.random.default_rng(0)
    im = rng.random((16, 16, 3)).astype(np.float32)
    out = A.colour_jitter(im, np.random.default_rng(1), 0.1, 0.5, 0.5)
    assert out.shape == im.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    assert np.abs(out - im).mean() > 1e-3
    np.testing.assert_allclose(A.colour_jitter(im, rng, 0.0, 0.0, 0.0), im, atol=1e-5)


def test_bokeh_blur_spreads_a_point_light_and_keeps_flat_areas():
    im = np.zeros((41, 41, 3), np.float32)
    im[20, 20] = 1.0
    out = A.bokeh_blur(im, 6)
    assert out[20, 20, 0] < 1 and out[20, 30, 0] < 1e-4  # a flat disc of radius ~6, nothing beyond
    assert out[20, 25, 0] == pytest.approx(out[20, 20, 0], rel=1e-4)
    flat = np.full((20, 20, 3), 0.3, np.float32)
    np.testing.assert_allclose(A.bokeh_blur(flat, 4), flat, atol=1e-5)


def test_jpeg_noise_blur_change_the_image_but_keep_the_range():
    rng = np.random.default_rng(0)
    im = rng.random((32, 32, 3)).astype(np.float32)
    low, high = A.jpeg_recompress(im, 10), A.jpeg_recompress(im, 95)
    assert np.abs(low - im).mean() > np.abs(high - im).mean()
    noisy = A.gaussian_noise(im, rng, 0.05)
    assert 0 <= noisy.min() and noisy.max() <= 1 and 0.02 < np.abs(noisy - im).mean() < 0.06
    assert A.gaussian_blur(im, 1.0).std() < im.std()


def test_degrade_is_identity_when_off_and_changes_when_on():
    im = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    off = Augment.none(size=32)
    np.testing.assert_array_equal(A.degrade(im, np.random.default_rng(0), off), im)
    on = Augment(size=32, blur_prob=1, noise_prob=1, jpeg_prob=1)
    assert np.abs(A.degrade(im, np.random.default_rng(0), on) - im).mean() > 0.01


def test_typewise_background_blurs_all_ns_and_no_so_when_asked():
    bg = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    cfg = Augment(size=32, bokeh_prob_ns=1.0, bokeh_prob=0.0)
    for seed in range(5):
        assert not np.array_equal(A.typewise_background(bg, "NS", np.random.default_rng(seed), cfg), bg)
        for kind in ("SO", "STM"):
            assert A.typewise_background(bg, kind, np.random.default_rng(seed), cfg) is bg


def test_random_background_size_and_source():
    photo = np.random.default_rng(0).random((50, 70, 3)).astype(np.float32)
    out = A.random_background(photo, np.random.default_rng(3), 24)
    assert out.shape == (24, 24, 3) and out.dtype == np.float32
    assert photo.min() - 1e-6 <= out.min() and out.max() <= photo.max() + 1e-6


def test_random_background_max_upscale_keeps_small_photos_whole_and_big_ones_as_before():
    rows = np.linspace(0.0, 1.0, 300, dtype=np.float32)[:, None, None]
    photo = np.broadcast_to(rows, (300, 400, 3)).copy()  # the value is the row: a square's height shows in its range

    def spans(**kw):
        return [
            float(np.ptp(A.random_background(photo, np.random.default_rng(s), 320, **kw)[..., 0])) for s in range(20)
        ]

    assert min(spans()) < 0.8  # off: squares of 50-100 % of the short side, enlarged into 320 px
    assert min(spans(max_upscale=1.0)) > 0.97  # a 300 px short side is never cut below 320 px: the whole height
    half = spans(max_upscale=2.0)  # at least 160 px: the drawn sides are 160-300 px
    assert min(half) < 0.8 and min(half) > 0.5
    big = np.random.default_rng(1).random((1000, 1200, 3)).astype(np.float32)
    for seed in range(5):  # a photo large enough is cut exactly as without the setting
        np.testing.assert_array_equal(
            A.random_background(big, np.random.default_rng(seed), 320, max_upscale=1.0),
            A.random_background(big, np.random.default_rng(seed), 320),
        )


@pytest.mark.parametrize(
    "kw",
    [
        dict(size=4),
        dict(crop_sizes=()),
        dict(crop_sizes=(0,)),
        dict(flip_prob=1.5),
        dict(jpeg_quality=(90, 40)),
        dict(trimap_k_range=(5, 2)),
        dict(scale_range=(0.0, 1.0)),
        dict(bg_max_upscale=-1.0),
    ],
)
def test_augment_rejects_bad_settings(kw):
    with pytest.raises(ValueError, match="Augment"):
        Augment(**kw)


def test_augment_none_turns_photometric_steps_off():
    cfg = Augment.none(size=64, crop_sizes=(64, 96), unknown_crop_prob=1.0)
    assert (cfg.size, cfg.crop_sizes, cfg.unknown_crop_prob) == (64, (64, 96), 1.0)
    for name in ("flip_prob", "jitter_prob", "bokeh_prob_ns", "bokeh_prob", "blur_prob", "noise_prob", "jpeg_prob"):
        assert getattr(cfg, name) == 0.0
    assert cfg.replace(flip_prob=1.0).flip_prob == 1.0 and cfg.flip_prob == 0.0
