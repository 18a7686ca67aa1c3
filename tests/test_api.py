"""automatte.api: inputs, Matte, pipelines (one-stage, refiner, mask, two-stage), batch, backgrounds, ONNX backend."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import automatte
from automatte import api
from automatte.io import ImageError


def _load(name, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # untrained registry architecture
        return api.load_model(name, foreground="blur_fusion", **kw)


@pytest.fixture(scope="module")
def one_stage():
    return _load("indexnet_free_test")


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    img = np.full((70, 90, 3), 0.2, np.float32)
    img[15:55, 20:70] = 0.9
    return np.clip(img + 0.05 * rng.standard_normal(img.shape), 0, 1).astype(np.float32)


def _trimap(shape=(70, 90)):
    tri = np.zeros(shape, np.float32)
    tri[10:60, 15:75] = 0.5
    tri[20:50, 25:65] = 1.0
    return tri


def test_as_image_accepts_arrays_bytes_and_pil(image, tmp_path):
    from PIL import Image

    u8 = (image * 255).round().astype(np.uint8)
    assert api.as_image(u8).dtype == np.float32
    np.testing.assert_allclose(api.as_image(u8), u8 / 255.0, atol=1e-6)
    assert api.as_image(u8[..., 0]).shape == (70, 90, 3)
    assert api.as_image(np.dstack([u8, u8[..., :1]])).shape == (70, 90, 3)
    path = tmp_path / "x.png"
    Image.fromarray(u8).save(path)
    np.testing.assert_allclose(api.as_image(path), u8 / 255.0, atol=1e-6)
    np.testing.assert_allclose(api.as_image(path.read_bytes()), u8 / 255.0, atol=1e-6)
    np.testing.assert_allclose(api.as_image(Image.open(path)), u8 / 255.0, atol=1e-6)
    assert api.as_image((u8.astype(np.uint16) * 257)).max() <= 1.0


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((4, 4, 3), np.int32), "dtype"),
        (np.full((4, 4, 3), 2.0), r"\[0, 1\]"),
        (np.zeros((4, 4, 5), np.uint8), "shape"),
        (b"nope", "not a recognised image"),
    ],
)
def test_as_image_rejects_bad_input(bad, message):
    with pytest.raises(ValueError, match=message):
        api.as_image(bad)


def test_one_stage_result(one_stage, image):
    m = one_stage(image)
    assert m.alpha.shape == (70, 90) and m.alpha.dtype == np.float32
    assert 0 <= m.alpha.min() and m.alpha.max() <= 1
    assert m.foreground.shape == (70, 90, 3)
    assert m.model == "indexnet_free_test"
    assert {"read", "matting", "foreground", "total"} <= set(m.timings)
    rgba = m.rgba()
    assert rgba.shape == (70, 90, 4) and rgba.dtype == np.uint8
    np.testing.assert_array_equal(rgba[..., 3], np.rint(m.alpha * 255).astype(np.uint8))


def test_composite_equation():
    alpha = np.array([[0.0, 0.5, 1.0]], np.float32)
    fg = np.ones((1, 3, 3), np.float32)
    m = api.Matte(alpha=alpha, foreground=fg, image=fg)
    out = m.composite("black")  # alpha F + (1 - alpha) B with B = 0
    np.testing.assert_array_equal(out[0, :, 0], [0, 128, 255])
    np.testing.assert_array_equal(m.composite((0, 0, 255))[0, 0], [0, 0, 255])
    np.testing.assert_array_equal(m.composite("#00ff00")[0, 0], [0, 255, 0])


def test_backgrounds(image, tmp_path):
    from PIL import Image

    shape = image.shape[:2]
    assert api.parse_background("blur", shape, image).shape == (70, 90, 3)
    board = api.parse_background("checker", shape)
    assert board.shape == (70, 90, 3) and len(np.unique(board)) == 2
    photo = np.zeros((20, 40, 3), np.uint8)
    photo[:, 20:] = 255
    Image.fromarray(photo).save(tmp_path / "bg.png")
    fitted = api.parse_background(str(tmp_path / "bg.png"), shape)
    assert fitted.shape == (70, 90, 3)  # scaled to cover and centre-cropped
    assert fitted[:, :30].max() < 0.05 and fitted[:, -30:].min() > 0.95
    with pytest.raises(ValueError, match="not a colour"):
        api.parse_background("notacolour", shape)


def test_user_trimap_drives_a_refiner(image):
    tri = _trimap()
    m = api.matte(image, model="cf", trimap=tri, foreground="none")
    np.testing.assert_array_equal(m.alpha[tri == 0], 0)
    np.testing.assert_array_equal(m.alpha[tri == 1], 1)
    assert m.foreground is None and m.rgba().shape == (70, 90, 4)
    np.testing.assert_array_equal(m.trimap, tri)


def test_refiner_network_with_trimap_and_mask(image):
    p = _load("indexnet_test")
    tri = _trimap()
    m = p(image, trimap=tri)
    assert m.alpha.shape == (70, 90)
    np.testing.assert_array_equal(m.alpha[tri == 1], 1)
    mask = np.zeros((70, 90), np.float32)
    mask[15:55, 20:70] = 1
    m = p(image, mask=mask)
    assert m.trimap is not None and set(np.unique(m.trimap)) <= {0.0, 0.5, 1.0}
    assert (m.trimap == 0.5).any() and m.alpha[35, 45] == 1.0 and m.alpha[0, 0] == 0.0


def test_hint_size_mismatch_names_the_problem(image):
    with pytest.raises(ValueError, match="trimap is 10x10 but the image is 90x70"):
        api.matte(image, model="cf", trimap=np.zeros((10, 10), np.float32))


def test_soft_and_hard_fusion(image):
    p_hard = api.load_model("cf", foreground="none", fusion="hard")
    p_soft = api.load_model("cf", foreground="none", fusion="soft")
    import cv2

    mask = np.zeros((70, 90), np.float32)
    mask[15:55, 20:70] = 1
    np.testing.assert_array_equal(p_soft(image, mask=mask).alpha, p_hard(image, mask=mask).alpha)  # binary: same
    mask = cv2.GaussianBlur(mask, (0, 0), 3)  # a soft segmentation probability
    hard, soft = p_hard(image, mask=mask), p_soft(image, mask=mask)
    known = hard.trimap != 0.5
    np.testing.assert_array_equal(hard.alpha[known], hard.trimap[known])
    assert np.abs(soft.alpha - hard.alpha)[known].max() > 0.01  # F = (1 - U) p near the band
    far = (hard.trimap == 1) & (np.abs(np.arange(90)[None] - 45) < 10) & (np.abs(np.arange(70)[:, None] - 35) < 8)
    np.testing.assert_allclose(soft.alpha[far], 1.0, atol=1e-6)  # F = 1 far from the band


def test_strategies_agree_on_small_images(image):
    whole = _load("indexnet_free_test", strategy="whole")(image).alpha
    tiled = _load("indexnet_free_test", strategy="tiled", tile=64, overlap=16)(image).alpha
    assert whole.shape == tiled.shape == (70, 90)
    for strategy in ("band-tiled", "hybrid"):
        out = _load("indexnet_free_test", strategy=strategy, global_long_side=64, tile=64, overlap=16)(image)
        assert out.alpha.shape == (70, 90) and out.trimap.shape == (70, 90)


def test_max_size_shrinks_input_and_hints(image):
    p = api.load_model("cf", foreground="none", max_size=45)
    m = p(image, trimap=_trimap())
    assert m.alpha.shape == (35, 45) and m.trimap.shape == (35, 45)


def test_batch_groups_sizes_and_reports_errors(one_stage, image):
    other = image[:40, :50]
    results = one_stage.batch([image, b"garbage", other, image], batch_size=2, on_error="return")
    assert isinstance(results[1], ImageError) and "not a recognised image" in str(results[1])
    assert [r.alpha.shape for r in (results[0], results[2], results[3])] == [(70, 90), (40, 50), (70, 90)]
    single = one_stage(image).alpha
    np.testing.assert_allclose(results[0].alpha, single, atol=1e-5)  # batched forward = one by one
    with pytest.raises(ImageError):
        one_stage.batch([b"garbage"])


def test_imap_and_batch_workers_keep_order_and_errors(image):
    """Photos matted side by side in threads: the same results, in order, a failing one's error in its place."""
    from automatte.infer.pipeline import ordered_map

    pipe = api.load_model("cf", foreground="none")
    tri = _trimap()
    flipped = np.ascontiguousarray(image[:, ::-1])
    inputs = [image, b"garbage", flipped, image]
    tris = [tri, tri, np.ascontiguousarray(tri[:, ::-1]), tri]
    one = pipe.batch(inputs, trimaps=tris, on_error="return", workers=1)
    two = pipe.batch(inputs, trimaps=tris, on_error="return", workers=2)
    assert isinstance(one[1], ImageError) and isinstance(two[1], ImageError)
    for a, b in zip(one[::2] + one[3:], two[::2] + two[3:]):
        np.testing.assert_array_equal(a.alpha, b.alpha)
    assert not np.array_equal(two[0].alpha, two[2].alpha)  # in the inputs' order
    with pytest.raises(ImageError):
        list(pipe.imap([image, b"garbage"], trimaps=[tri, tri], workers=2))
    with pytest.raises(ValueError, match="workers"):
        list(pipe.imap([image], trimaps=[tri], workers=0))
    assert list(ordered_map(lambda x: -x, range(7), workers=3)) == [0, -1, -2, -3, -4, -5, -6]


def test_load_model_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown model"):
        api.load_model("no_such_model")
    with pytest.raises(FileNotFoundError):
        api.load_model(str(tmp_path / "missing.onnx"))
    with pytest.raises(ValueError, match="backend"):
        api.load_model("cf", backend="tensorflow")


def test_checkpoint_path_round_trip(tmp_path, image):
    import torch

    from automatte.registry import create_model
    from automatte.train.checkpoint import save_checkpoint

    net = create_model("indexnet_free_test")
    save_checkpoint(
        tmp_path / "c.pt",
        {
            "format": "automatte-train/1",
            "model_name": "indexnet_free_test",
            "model": net.state_dict(),
            "config": {},
            "step": 1,
        },
    )
    p = api.load_model(str(tmp_path / "c.pt"), foreground="none")
    with torch.inference_mode():
        ref = (
            net.eval()(
                image=torch.from_numpy(np.pad(image, ((0, 26), (0, 6), (0, 0)), mode="reflect").transpose(2, 0, 1))[
                    None
                ]
            )
            .alpha[0, 0, :70, :90]
            .numpy()
        )
    np.testing.assert_allclose(p(image).alpha, ref, atol=1e-5)


@pytest.mark.slow  # ~30 s of export; `automatte export` in test_cli_predict checks ONNX Runtime vs PyTorch by default
def test_onnx_backend_matches_torch(image, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    import torch

    monkeypatch.setenv("AUTOMATTE_CACHE", str(tmp_path))
    torch.manual_seed(0)  # the same untrained weights for both loads
    torch_alpha = _load("indexnet_free_test")(image).alpha
    torch.manual_seed(0)
    onnx_alpha = _load("indexnet_free_test", backend="onnx")(image).alpha
    assert np.abs(torch_alpha - onnx_alpha).max() < 1e-3


def test_public_names():
    assert {"matte", "load_model", "Matte"} <= set(automatte.__all__)


def test_segmenter_option_band_modes_and_flip(image, tmp_path):
    import torch

    from automatte.registry import create_model

    net = create_model("deeplabv3plus_mnv2_test")
    torch.save(net.state_dict(), tmp_path / "seg.pt")
    with pytest.raises(ValueError, match="arch"):  # a bare state dict does not name its architecture
        api.load_model("twostage-cf", segmenter=str(tmp_path / "seg.pt"))
    with pytest.raises(ValueError, match="not a shipped segmenter"):
        api.load_model("twostage-cf", segmenter="no-such-segmenter")
    fixed = api.load_model("twostage-cf", foreground="none", band_mode="fixed")
    unsure = api.load_model("twostage-cf", foreground="none", band_mode="uncertainty", band_min=0.01, unsure=(0.3, 0.7))
    prob = np.zeros((400, 500), np.float32)
    prob[:, 250:] = 1
    prob[:, 240:250] = 0.5  # an unsure stripe wider than the minimum band (5 px), narrower than the fixed (11 px)
    prob[:, 100:102] = 0.4
    t_fixed = fixed._trimap_from_mask(prob, from_segmenter=True)
    t_unsure = unsure._trimap_from_mask(prob, from_segmenter=True)
    assert (t_unsure[:, 240:250] == 0.5).all() and (t_unsure[:, 100:102] == 0.5).all()
    assert (t_fixed[:, 100:102] == 0).all()
    certain = (prob >= 0.5).astype(np.float32)
    thin = (unsure._trimap_from_mask(certain, from_segmenter=True) == 0.5).sum()
    assert thin < (fixed._trimap_from_mask(certain, from_segmenter=True) == 0.5).sum() / 1.5  # thin where certain
    assert (unsure._trimap_from_mask(prob, from_segmenter=False) == t_fixed).all()  # user masks: fixed band
    near = api.load_model(  # unsure_reach: only the doubt within 0.1 x 500 px of the 0.5 contour (column 250)
        "twostage-cf", foreground="none", band_mode="uncertainty", band_min=0.01, unsure=(0.3, 0.7), unsure_reach=0.1
    )
    t_near = near._trimap_from_mask(prob, from_segmenter=True)
    assert (t_near[:, 240:250] == 0.5).all() and (t_near[:, 100:102] == 0).all()
    assert (t_near != 0.5).sum() > (t_unsure != 0.5).sum()
    with pytest.raises(ValueError, match="unsure_reach"):
        api.Pipeline("x", unsure_reach=0.5)
    flip = api.load_model("twostage-cf", foreground="none", segment_flip=True)
    plain = api.load_model("twostage-cf", foreground="none")
    mirrored = np.ascontiguousarray(image[:, ::-1])  # TTA = mean of the plain and the mirrored-back passes
    want = 0.5 * (plain._segment(image) + plain._segment(mirrored)[:, ::-1])
    np.testing.assert_allclose(flip._segment(image), want, atol=1e-5)
    clean = api.load_model("twostage-cf", foreground="none", segment_flip=True, segment_islands=0.2, segment_holes=0.01)
    from automatte.ops.coarse import clean_segmentation

    np.testing.assert_allclose(clean._segment(image), clean_segmentation(want, 0.2, 0.01), atol=1e-5)
    multi = api.load_model("twostage-cf", foreground="none", segment_flip=True, segment_scales=[256])
    small = api.load_model("twostage-cf", foreground="none", segment_flip=True, segment_long_side=256)
    np.testing.assert_allclose(multi._segment(image), 0.5 * (want + small._segment(image)), atol=1e-5)
    # segment_upscale: a photo smaller than the segmenter's side is enlarged to it (else it runs at native size)
    seen = []
    up = api.load_model("twostage-cf", foreground="none", segment_upscale=True, segment_scales=[256])
    for pipeline in (up, plain):
        forward = pipeline.segmenter
        pipeline.segmenter = lambda x, trimap=None, f=forward: (seen.append(tuple(x.shape[-2:])), f(x))[1]
        assert pipeline._segment(image).shape == image.shape[:2]
        pipeline.segmenter = forward
    assert max(max(s) for s in seen[:2]) == 512 and max(seen[1]) == 256 and max(seen[2]) < 256, seen
    with pytest.raises(ValueError, match="segment_scales"):
        api.Pipeline("x", segment_scales=(16,))
    with pytest.raises(ValueError, match="segment_islands"):
        api.Pipeline("x", segment_islands=1.0)
    with pytest.raises(ValueError, match="band_mode"):
        api.Pipeline("x", band_mode="wide")
    with pytest.raises(ValueError, match="unsure"):
        api.Pipeline("x", unsure=(0.6, 0.9))


def test_learned_band_adds_the_band_heads_unknown(image, tmp_path):
    """band_mode="learned" (issue 27, item 4): the fixed band plus the band head's unknown pixels, the mean of the
    passes' P(unknown) (the mirror's mirrored back); the alpha's segmenter is unchanged; a segmenter without a band
    head is refused with a clear error."""
    import torch

    from automatte.registry import create_model
    from automatte.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    net = create_model("deeplabv3plus_mnv2_band_test").eval()
    with torch.no_grad():  # a band head that calls the left third of any image unknown, whatever it shows
        net.band.out.weight.zero_()
        net.band.out.bias.copy_(torch.tensor([0.0, -4.0, 0.0]))
    plain = create_model("deeplabv3plus_mnv2_test").eval()
    plain.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("band.")})
    for name, model, path in (
        ("deeplabv3plus_mnv2_band_test", net, "band.pt"),
        ("deeplabv3plus_mnv2_test", plain, "p.pt"),
    ):
        save_checkpoint(tmp_path / path, {"format": "automatte-train/1", "model_name": name, "model": model.state_dict(),
                                          "config": {}, "step": 1})  # fmt: skip
    kw = dict(foreground="none", segment_flip=True)
    learned = api.load_model("twostage-cf", segmenter=str(tmp_path / "band.pt"), band_mode="learned", **kw)
    fixed = api.load_model("twostage-cf", segmenter=str(tmp_path / "band.pt"), **kw)
    prob, unknown = learned._segment_band(image)
    np.testing.assert_allclose(prob, fixed._segment(image), atol=1e-6)  # the head never changes the probability
    assert unknown.shape == prob.shape and np.allclose(unknown, unknown.mean(), atol=1e-5)  # uniform: 0.0177 < 0.5
    assert (learned._trimap_from_mask(prob, True, unknown) == fixed._trimap_from_mask(prob, True)).all()
    wide = np.zeros_like(prob)
    wide[:, :30] = 0.9
    t_wide = learned._trimap_from_mask(prob, True, wide)
    t_fixed = fixed._trimap_from_mask(prob, True)
    assert (t_wide[:, :30] == 0.5).all() and (t_wide[:, 30:] == t_fixed[:, 30:]).all()
    assert (learned._trimap_from_mask(prob, False, wide) == t_fixed).all()  # user masks: the fixed band
    assert learned(image).alpha.shape == image.shape[:2]
    with torch.no_grad():
        net.band.out.bias.copy_(torch.tensor([0.0, 4.0, 0.0]))  # now everything unknown
    save_checkpoint(tmp_path / "band.pt", {"format": "automatte-train/1", "model_name": "deeplabv3plus_mnv2_band_test",
                                           "model": net.state_dict(), "config": {}, "step": 2})  # fmt: skip
    everywhere = api.load_model("twostage-cf", segmenter=str(tmp_path / "band.pt"), band_mode="learned", **kw)
    prob, unknown = everywhere._segment_band(image)
    assert (everywhere._trimap_from_mask(prob, True, unknown) == 0.5).all()
    near = api.load_model(
        "twostage-cf", segmenter=str(tmp_path / "band.pt"), band_mode="learned", unsure_reach=0.1, **kw
    )
    half = np.zeros_like(prob)
    half[:, 45:] = 1  # an edge at column 45: with reach, only the unknown pixels within 0.1 x 90 px of it join
    t_near = near._trimap_from_mask(half, True, unknown)
    assert (t_near[:, 42:48] == 0.5).all() and (t_near[:, :35] == 0).all() and (t_near[:, 55:] == 1).all()
    with pytest.raises(ValueError, match="band head"):
        api.load_model("twostage-cf", segmenter=str(tmp_path / "p.pt"), band_mode="learned", **kw)(image)
    with pytest.raises(ValueError, match="band_threshold"):
        api.Pipeline("x", band_threshold=0)
