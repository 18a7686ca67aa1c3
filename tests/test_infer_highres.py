"""Tests for automatte.infer.highres: fake networks on tiny CPU tensors, no real model."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from automatte.infer.highres import (
    _axis_weights,
    _box_sum,
    _starts,
    predict_aim_hybrid,
    predict_band_tiled,
    predict_tiled,
    predict_whole,
    resize_long_side,
)
from automatte.models.output import MattingOutput


class FakeNet:
    """Counts forward calls and tiles; records input shapes; ``body(x, trimap)`` gives the output."""

    def __init__(self, body):
        self.body, self.calls, self.tiles, self.shapes = body, 0, 0, []

    def __call__(self, x, trimap=None):
        assert x.dtype == torch.float32 and x.shape[-2] % 32 == 0 and x.shape[-1] % 32 == 0
        self.calls += 1
        self.tiles += x.shape[0]
        self.shapes.append(tuple(x.shape))
        return self.body(x, trimap)


def per_pixel():
    return FakeNet(lambda x, t: MattingOutput(alpha=x.mean(1, keepdim=True)))


def image(h=150, w=230, seed=0):
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- resize_long_side


@pytest.mark.parametrize(
    "h, w, long_side, kw, expected",
    [
        (4000, 6000, 640, {}, (416, 640)),  # 426.7 -> 416
        (6000, 4000, 640, {}, (640, 416)),
        (150, 230, 1000, {}, (160, 224)),  # no upscale: long side capped at 224 <= 230
        (150, 230, 1000, {"allow_upscale": True}, (640, 992)),  # long side <= 1000 rounded down
        (1000, 1000, 500, {}, (480, 480)),  # 512 would exceed 500
        (10, 10, 640, {}, (32, 32)),  # at least one multiple
        (100, 3000, 640, {}, (32, 640)),
        (4000, 6000, 640, {"multiple": 64}, (448, 640)),
    ],
)
def test_resize_long_side(h, w, long_side, kw, expected):
    h2, w2 = resize_long_side(h, w, long_side, **kw)
    assert (h2, w2) == expected
    m = kw.get("multiple", 32)
    assert h2 % m == 0 and w2 % m == 0


def test_resize_long_side_rejects_bad_values():
    with pytest.raises(ValueError, match="sizes must be >= 1"):
        resize_long_side(100, 100, 0)


# ---------------------------------------------------------------- predict_whole


def test_whole_native_is_exact_at_odd_size():
    img, net = image(), per_pixel()
    alpha, probs = predict_whole(net, img)
    assert probs is None and alpha.shape == (1, 1, 150, 230)
    torch.testing.assert_close(alpha, img.mean(1, keepdim=True), atol=1e-6, rtol=0)
    assert net.shapes == [(1, 3, 160, 256)]
    assert predict_whole(per_pixel(), img, long_side=1000)[0].equal(alpha)  # long_side >= image: native


def test_whole_resizes_back_to_input_size():
    net = per_pixel()
    img = torch.full((2, 3, 150, 230), 0.25)
    alpha, _ = predict_whole(net, img, long_side=64)
    assert net.shapes == [(2, 3, 32, 64)]
    assert alpha.shape == (2, 1, 150, 230) and alpha.dtype == torch.float32
    torch.testing.assert_close(alpha, torch.full_like(alpha, 0.25))


def test_whole_upscale_enlarges_small_images_only_when_asked():
    net = per_pixel()
    img = torch.full((1, 3, 150, 230), 0.25)
    alpha, _ = predict_whole(net, img, long_side=512, upscale=True)
    predict_whole(net, img, long_side=512)  # the default keeps a smaller image at its native size
    predict_whole(net, torch.full((1, 3, 600, 900), 0.25), long_side=512, upscale=True)  # a larger one shrinks
    assert net.shapes == [(1, 3, 320, 512), (1, 3, 160, 256), (1, 3, 352, 512)]
    assert alpha.shape == (1, 1, 150, 230)
    torch.testing.assert_close(alpha, torch.full_like(alpha, 0.25))


def test_whole_trimap_resized_nearest_and_probs_full_size():
    seen = []

    def body(x, t):
        seen.append(t)
        logits = torch.zeros(x.shape[0], 3, x.shape[-2] // 4, x.shape[-1] // 4)  # lower resolution
        logits[:, 2] = 5.0
        return MattingOutput(alpha=t.clone(), trimap_logits=logits)

    tri = torch.zeros(1, 1, 150, 230)
    tri[..., 40:110, 60:170] = 0.5
    tri[..., 60:90, 90:140] = 1.0
    alpha, probs = predict_whole(FakeNet(body), image(), long_side=128, trimap=tri)
    assert seen[0].shape == (1, 1, 96, 128)
    assert set(seen[0].unique().tolist()) == {0.0, 0.5, 1.0}
    assert probs.shape == (1, 3, 150, 230)
    torch.testing.assert_close(probs.sum(1), torch.ones(1, 150, 230))
    assert bool((probs.argmax(1) == 2).all())
    assert alpha.min() >= 0 and alpha.max() <= 1


def test_whole_rejects_bad_inputs():
    net = per_pixel()
    with pytest.raises(ValueError, match="B, 3, H, W"):
        predict_whole(net, torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match="dtype"):
        predict_whole(net, torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="trimap"):
        predict_whole(net, torch.rand(1, 3, 32, 32), trimap=torch.zeros(1, 1, 16, 16))
    bad = FakeNet(lambda x, t: MattingOutput(alpha=x))  # 3 channels
    with pytest.raises(ValueError, match="alpha"):
        predict_whole(bad, torch.rand(1, 3, 32, 32))


# ---------------------------------------------------------------- predict_tiled


def test_starts_cover_the_axis_with_last_tile_on_the_border():
    assert _starts(230, 64, 16) == [0, 48, 96, 144, 166]
    assert _starts(64, 64, 16) == [0] and _starts(40, 64, 16) == [0]
    assert _starts(112, 64, 16) == [0, 48]


def test_axis_weights_are_a_partition_of_unity_in_regular_overlaps():
    o, t = 16, 64
    left = _axis_weights(t, o, False, True)
    right = _axis_weights(t, o, True, False)
    torch.testing.assert_close(left[t - o :] + right[:o], torch.ones(o))
    assert bool((left[: t - o] == 1).all()) and bool((right[o:] == 1).all())
    assert bool((_axis_weights(t, 40, True, True) > 0).all())  # ramps overlapping in one tile stay positive
    assert bool((_axis_weights(t, 0, True, True) == 1).all())


@pytest.mark.parametrize("batch_size", [1, 3])
def test_tiled_per_pixel_net_is_exact(batch_size):
    img, net = image(), per_pixel()
    alpha = predict_tiled(net, img, tile=64, overlap=16, batch_size=batch_size)
    assert alpha.shape == (1, 1, 150, 230)
    torch.testing.assert_close(alpha, img.mean(1, keepdim=True), atol=1e-5, rtol=0)
    n_tiles = len(_starts(150, 64, 16)) * len(_starts(230, 64, 16))
    assert net.tiles == n_tiles and net.calls == -(-n_tiles // batch_size)
    assert all(s[-2:] == (64, 64) for s in net.shapes)


def test_tiled_normalised_weights_sum_to_one_and_constant_net_is_constant():
    ones = FakeNet(lambda x, t: MattingOutput(alpha=torch.ones_like(x[:, :1])))
    assert bool((predict_tiled(ones, image(), tile=64, overlap=16) - 1).abs().max() < 1e-6)
    const = FakeNet(lambda x, t: MattingOutput(alpha=torch.full_like(x[:, :1], 0.3)))
    out = predict_tiled(const, image(97, 301), tile=32, overlap=8, batch_size=4)
    torch.testing.assert_close(out, torch.full_like(out, 0.3))


def test_tiled_feathering_hides_tile_dependent_output():
    state = {"k": 0}

    def body(x, t):  # 0, 1, 0, 1, ... per tile: a hard seam without blending
        out = torch.full_like(x[:, :1], float(state["k"] % 2))
        state["k"] += 1
        return MattingOutput(alpha=out)

    a = predict_tiled(FakeNet(body), image(), tile=64, overlap=16)[0, 0]
    jump = max(a.diff(dim=0).abs().max().item(), a.diff(dim=1).abs().max().item())
    assert jump < 0.15  # raised-cosine slope over 16 px: <= pi / 32 per pixel for a unit step
    hard = predict_tiled(FakeNet(body), image(), tile=64, overlap=0)[0, 0]
    assert hard.diff(dim=1).abs().max() == 1  # without overlap the seam is a full step


def test_tiled_passes_trimap_crops_to_tiles():
    tri = torch.zeros(1, 1, 150, 230)
    tri[..., 30:120, 40:200] = 0.5
    tri[..., 50:100, 80:150] = 1.0
    refiner = FakeNet(lambda x, t: MattingOutput(alpha=t.clone()))
    out = predict_tiled(refiner, image(), tile=64, overlap=16, trimap=tri, batch_size=2)
    torch.testing.assert_close(out, tri, atol=1e-6, rtol=0)


def test_tiled_skips_tiles_without_mask_pixels():
    img, net = image(), per_pixel()
    mask = torch.zeros(1, 1, 150, 230, dtype=torch.bool)
    mask[..., 10:20, 10:20] = True  # inside the first tile only
    out = predict_tiled(net, img, tile=64, overlap=16, mask=mask)
    assert net.calls == 1
    torch.testing.assert_close(out[..., :48, :48], img.mean(1, keepdim=True)[..., :48, :48], atol=1e-5, rtol=0)
    assert out[..., 64:, :].abs().max() == 0 and out[..., :, 64:].abs().max() == 0
    mask[..., 100, 150] = True  # in the overlap of 4 tiles
    net2 = per_pixel()
    predict_tiled(net2, img, tile=64, overlap=16, mask=mask)
    assert net2.calls == 5
    net3 = per_pixel()
    assert predict_tiled(net3, img, tile=64, overlap=16, mask=torch.zeros_like(mask)).abs().max() == 0
    assert net3.calls == 0


def test_tiled_small_image_is_one_whole_pass():
    img, net = image(40, 50), per_pixel()
    out = predict_tiled(net, img, tile=64, overlap=16)
    assert net.shapes == [(1, 3, 64, 64)]
    assert out.equal(predict_whole(per_pixel(), img)[0])


def test_tiled_rejects_bad_arguments():
    net, img = per_pixel(), image(64, 64)
    with pytest.raises(ValueError, match="multiple of 32"):
        predict_tiled(net, img, tile=50)
    with pytest.raises(ValueError, match="overlap"):
        predict_tiled(net, img, tile=64, overlap=64)
    with pytest.raises(ValueError, match="batch_size"):
        predict_tiled(net, img, batch_size=0)
    with pytest.raises(ValueError, match="batch size 1"):
        predict_tiled(net, torch.rand(2, 3, 64, 64))
    with pytest.raises(ValueError, match="mask"):
        predict_tiled(net, img, mask=torch.ones(1, 1, 32, 32, dtype=torch.bool))


# ---------------------------------------------------------------- predict_band_tiled


def test_box_sum_matches_direct_window_sums():
    x = torch.rand(13, 17) > 0.7
    ref = F.conv2d(x.float()[None, None], torch.ones(1, 1, 5, 5), padding=2)[0, 0]
    assert _box_sum(x, 2).equal(ref.to(torch.int32))


def test_band_tiled_native_global_per_pixel_is_exact():
    img = image()
    alpha, trimap = predict_band_tiled(per_pixel(), img, global_long_side=256, tile=64, overlap=16)
    torch.testing.assert_close(alpha, img.mean(1, keepdim=True), atol=1e-5, rtol=0)
    assert trimap.shape == (1, 1, 150, 230) and set(trimap.unique().tolist()) <= {0.0, 0.5, 1.0}


def test_band_tiled_full_band_uses_detail_everywhere():
    img = 0.2 + 0.6 * image()  # alpha in [0.2, 0.8]: all transition at any scale
    net = per_pixel()
    alpha, trimap = predict_band_tiled(net, img, global_long_side=64, tile=64, overlap=16, batch_size=4)
    assert bool((trimap == 0.5).all())
    torch.testing.assert_close(alpha, img.mean(1, keepdim=True), atol=1e-5, rtol=0)
    assert net.shapes[0] == (1, 3, 32, 64)  # the global pass at reduced scale


def test_band_tiled_skips_tiles_away_from_the_band():
    img = torch.zeros(1, 3, 200, 300)
    img[..., 20:40, 20:40] = 1.0  # compact subject near the top-left corner
    net = FakeNet(lambda x, t: MattingOutput(alpha=x[:, :1]))
    alpha, trimap = predict_band_tiled(net, img, global_long_side=96, tile=64, overlap=16)
    all_tiles = len(_starts(200, 64, 16)) * len(_starts(300, 64, 16))
    detail_tiles = net.tiles - 1
    assert all_tiles == 24 and 1 <= detail_tiles <= 4
    assert float((alpha - img[:, :1]).abs().max()) <= 0.02
    assert trimap[..., 30, 30] == 1 and trimap[..., 150, 250] == 0 and bool((trimap == 0.5).any())


def test_band_tiled_without_transition_runs_no_detail_pass():
    net = FakeNet(lambda x, t: MattingOutput(alpha=torch.ones_like(x[:, :1])))
    alpha, trimap = predict_band_tiled(net, image(), global_long_side=64, tile=64, overlap=16)
    assert net.calls == 1 and bool((alpha == 1).all()) and bool((trimap == 1).all())


def test_band_tiled_uses_trimap_logits_when_present():
    def body(x, t):
        h, w = x.shape[-2:]
        logits = torch.zeros(x.shape[0], 3, h // 8, w // 8)  # at 1/8 of the input resolution
        logits[:, 2] = 4.0  # foreground everywhere...
        logits[:, 1, :, : w // 16] = 8.0  # ...but transition on the left half
        return MattingOutput(alpha=torch.ones_like(x[:, :1]), trimap_logits=logits)  # alpha alone: no band

    net = FakeNet(body)
    alpha, trimap = predict_band_tiled(net, image(128, 256), global_long_side=128, tile=64, overlap=16)
    assert trimap.shape == (1, 1, 128, 256)
    assert bool((trimap[..., :, :120] == 0.5).all()) and bool((trimap[..., :, 136:] == 1).all())
    assert net.calls > 1  # the band from the logits triggered the detail pass
    assert net.tiles - 1 < len(_starts(128, 64, 16)) * len(_starts(256, 64, 16))


def test_band_tiled_detail_at_reduced_scale():
    img = torch.zeros(1, 3, 150, 230)
    img[..., 40:110, 60:170] = 1.0
    net = FakeNet(lambda x, t: MattingOutput(alpha=x[:, :1]))
    alpha, trimap = predict_band_tiled(net, img, global_long_side=64, detail_long_side=160, tile=64, overlap=16)
    assert alpha.shape == (1, 1, 150, 230) and alpha.min() >= 0 and alpha.max() <= 1
    assert all(s[-1] <= 64 for s in net.shapes[1:])  # detail tiles at the detail scale
    assert float((alpha - img[:, :1]).abs().mean()) < 0.02


def test_band_tiled_rejects_bad_arguments():
    with pytest.raises(ValueError, match="band"):
        predict_band_tiled(per_pixel(), image(64, 64), band=-1)
    with pytest.raises(ValueError, match="trimap_threshold"):
        predict_band_tiled(per_pixel(), image(64, 64), trimap_threshold=0.5)


def test_inputs_are_not_modified_when_fn_returns_a_view():
    img = image(64, 96) * 1.5  # out of range on purpose: a view returned as alpha must not be clamped in place
    before = img.clone()
    net = FakeNet(lambda x, t: MattingOutput(alpha=x[:, :1]))
    predict_whole(net, img)
    predict_tiled(net, img, tile=32, overlap=8)
    predict_band_tiled(net, img, global_long_side=None, tile=32, overlap=8)
    predict_aim_hybrid(net, img)
    assert img.equal(before)


# ---------------------------------------------------------------- predict_aim_hybrid (AIM sec. 4.2)


def _aim_like(h_band: tuple[int, int]):
    """A fake AIM: trimap logits say transition on rows ``h_band`` (as a fraction of the height), foreground
    above, background below; ``detail`` is a constant 0.3 and ``alpha`` a constant 0.9 (never read)."""

    def body(x, t):
        h, w = x.shape[-2:]
        logits = torch.zeros(x.shape[0], 3, h, w)
        a, b = round(h_band[0] * h), round(h_band[1] * h)
        logits[:, 2, :a] = 5.0
        logits[:, 1, a:b] = 5.0
        logits[:, 0, b:] = 5.0
        return MattingOutput(
            alpha=torch.full_like(x[:, :1], 0.9), trimap_logits=logits, detail=torch.full_like(x[:, :1], 0.3)
        )

    return FakeNet(body)


def test_aim_hybrid_pass_sizes_follow_the_reference_code():
    net = _aim_like((0.4, 0.6))
    predict_aim_hybrid(net, torch.rand(1, 3, 1000, 1500))
    # global: 1000/3 = 333 -> 320, 1500/3 = 500 -> 480; local: 250 -> 224, 375 -> 352 (floored to 32)
    assert net.shapes == [(1, 3, 320, 480), (1, 3, 224, 352)]
    net = _aim_like((0.4, 0.6))
    predict_aim_hybrid(net, torch.rand(1, 3, 90, 7000), max_side=1600)  # capped at 1600, at least 32
    assert net.shapes == [(1, 3, 32, 1600), (1, 3, 32, 1600)]


def test_aim_hybrid_fuses_global_trimap_and_local_detail():
    img = torch.rand(1, 3, 960, 960)
    alpha, trimap = predict_aim_hybrid(_aim_like((0.4, 0.6)), img)
    rows_fg, rows_band, rows_bg = slice(0, 360), slice(400, 560), slice(600, 960)
    assert bool((alpha[..., rows_fg, :] == 1).all()) and bool((trimap[..., rows_fg, :] == 1).all())
    assert bool((alpha[..., rows_bg, :] == 0).all()) and bool((trimap[..., rows_bg, :] == 0).all())
    # the transition takes the local pass's detail output (0.3), never its fused alpha (0.9)
    torch.testing.assert_close(alpha[..., rows_band, :], torch.full_like(alpha[..., rows_band, :], 0.3))
    assert bool((trimap[..., rows_band, :] == 0.5).all())


def test_aim_hybrid_where_background_meets_foreground_is_transition():
    # no transition class at all: bilinear resizing of the trimap makes the meeting rows transition, as the
    # reference's resize-then-compare-to-0/255 does
    alpha, trimap = predict_aim_hybrid(_aim_like((0.5, 0.5)), torch.rand(1, 3, 960, 960))
    band = (trimap[0, 0, :, 0] == 0.5).nonzero().flatten()
    assert 1 <= len(band) <= 8 and 470 <= int(band.min()) and int(band.max()) <= 490
    assert bool((alpha[0, 0, band] == 0.3).all())


def test_aim_hybrid_without_logits_uses_the_global_alpha_and_alpha_as_detail():
    img = torch.zeros(1, 3, 640, 640)
    img[..., 160:480, 160:480] = 1.0
    alpha, trimap = predict_aim_hybrid(FakeNet(lambda x, t: MattingOutput(alpha=x[:, :1])), img)
    assert float((alpha - img[:, :1]).abs().mean()) < 0.01
    assert trimap[..., 320, 320] == 1 and trimap[..., 10, 10] == 0 and bool((trimap == 0.5).any())


def test_aim_hybrid_rejects_bad_arguments():
    for kwargs, match in (
        ({"global_scale": 0}, "global_scale"),
        ({"local_scale": 1.5}, "local_scale"),
        ({"max_side": 16}, "max_side"),
        ({"trimap_threshold": 0.5}, "trimap_threshold"),
    ):
        with pytest.raises(ValueError, match=match):
            predict_aim_hybrid(per_pixel(), image(64, 64), **kwargs)


def test_cli_offers_every_pipeline_strategy():
    from automatte.cli import build_parser
    from automatte.infer.pipeline import STRATEGIES

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["predict"]
    assert next(a for a in sub._actions if a.dest == "strategy").choices == list(STRATEGIES)
