"""SPAMattNet specifics: windows, the eq. 4 distance map (vs scipy's EDT), the eq. 6-7 scaling m, LSPA / GPA
attention, spectral normalisation, region pooling and the model's outputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import distance_transform_edt

from automatte.models.spamattnet import (
    GPA,
    LSPA,
    CFC1d,
    CFC2d,
    SPAMattNet,
    nearest_region_distance,
    pool_regions,
    region_scales,
    sampling_distance_map,
    spamattnet_test,
    trimap_regions,
    window_distances,
    window_partition,
    window_reverse,
)


def test_window_partition_round_trip_and_order():
    x = torch.arange(2 * 3 * 8 * 12, dtype=torch.float32).reshape(2, 3, 8, 12)
    t = window_partition(x, 4)
    assert t.shape == (2 * 2 * 3, 16, 3)
    assert torch.equal(t[1, :, 0], x[0, 0, 0:4, 4:8].flatten())  # second window of the first row, row-major
    assert torch.equal(window_reverse(t, 4, 8, 12), x)


def test_window_distances():
    d = window_distances(3)
    assert d.shape == (9, 9)
    assert d[0, 8].item() == pytest.approx(math.sqrt(8))  # (0, 0) -> (2, 2)
    assert d[1, 3].item() == pytest.approx(math.sqrt(2))  # (0, 1) -> (1, 0)


def test_nearest_region_distance_matches_scipy_edt_per_window():
    rng = np.random.default_rng(0)
    ws = 8
    region = (rng.random((16, 24)) < 0.08).astype(np.float32)
    region[8:16, 0:8] = 0  # one window without any pixel of the region
    windows = window_partition(torch.from_numpy(region)[None, None], ws)[..., 0]  # (6, 64)
    got = nearest_region_distance(window_distances(ws), windows).numpy()
    for s in range(windows.shape[0]):
        r, c = divmod(s, 3)
        crop = region[r * ws : (r + 1) * ws, c * ws : (c + 1) * ws]
        if crop.any():
            expected = distance_transform_edt(crop == 0).ravel()
            np.testing.assert_allclose(got[s], expected, atol=1e-5)
        else:
            assert (got[s] >= 1e4).all()


def test_sampling_distance_map_follows_eq4():
    # a 3x3 window: left column foreground, right column background, middle column unknown
    trimap = torch.tensor([[1.0, 0.5, 0.0]] * 3).view(1, 1, 3, 3)
    regions = window_partition(trimap_regions(trimap), 3)  # (1, 9, 3)
    d = window_distances(3)
    dis = sampling_distance_map(regions, d)[0]
    fg, unk, bg = [0, 3, 6], [1, 4, 7], [2, 5, 8]
    assert torch.all(dis[:, unk] == 0)  # keys outside F and B: 0
    for i in unk:  # unknown query: d_ij / min_j d_ij, so the nearest pixel of each region gets exactly 1
        for j in fg + bg:
            region = fg if j in fg else bg
            assert dis[i, j].item() == pytest.approx((d[i, j] / d[i, region].min()).item())
        assert dis[i, fg].min().item() == pytest.approx(1.0) and dis[i, bg].min().item() == pytest.approx(1.0)
    for i in fg + bg:  # known query: -d_ij
        assert torch.allclose(dis[i, fg + bg], -d[i, fg + bg])


def test_region_scales_and_clipping():
    unknown = torch.zeros(3, 1, 4, 4)
    unknown[0, :, :2] = 1  # |U| = |K|
    unknown[1, :, 0, 0] = 1  # |U| / |K| = 1/15
    unknown[2] = 1  # no known pixel
    su, sk = region_scales(unknown)
    assert su.shape == (3, 1, 1, 1)
    assert su[0].item() == pytest.approx(1.0) and sk[0].item() == pytest.approx(1.0)
    assert su[1].item() == pytest.approx(math.sqrt(1 / 15)) and sk[1].item() == pytest.approx(math.sqrt(15))
    assert su[2].item() == pytest.approx(10.0) and sk[2].item() == pytest.approx(0.1)  # clip to [0.1, 10]


def test_pool_regions_known_only_if_whole_cell_known():
    trimap = torch.ones(1, 1, 8, 8)
    trimap[..., 4:, :] = 0
    trimap[..., 0, 0] = 0.5  # one unknown pixel in the top-left 4x4 cell
    pooled = pool_regions(trimap_regions(trimap), 4)[0]  # (3, 2, 2) bg, unknown, fg
    assert pooled[:, 0, 0].tolist() == [0, 1, 0]
    assert pooled[:, 0, 1].tolist() == [0, 0, 1]
    assert pooled[:, 1, 0].tolist() == [1, 0, 0] and pooled[:, 1, 1].tolist() == [1, 0, 0]


def _trimap_16():
    trimap = torch.zeros(2, 1, 16, 16)
    trimap[:, :, :, 8:] = 1
    trimap[:, :, :, 5:11] = 0.5
    return trimap


def test_lspa_attention_rows_sum_to_one_and_follow_eq_2_5():
    torch.manual_seed(0)
    lspa = LSPA(8, heads=2, window=4)
    img, alpha = torch.randn(2, 8, 16, 16), torch.randn(2, 8, 16, 16)
    regions = trimap_regions(_trimap_16())
    su, sk = region_scales(regions[:, 1:2])
    key_scale = su * regions[:, 1:2] + sk * (1 - regions[:, 1:2])
    sampling, propagation = lspa.affinities(img, regions, key_scale)
    assert sampling.shape == propagation.shape == (2 * 16, 2, 16, 16)
    torch.testing.assert_close(sampling.sum(-1), torch.ones(32, 2, 16))
    torch.testing.assert_close(propagation.sum(-1), torch.ones(32, 2, 16))
    assert (propagation > 0).all() and (sampling > 0).all()  # m and dis rescale logits, nothing is masked out

    # reference: logits of the first window, head 0, computed by hand
    q, k = lspa.qk(window_partition(img, 4)).chunk(2, -1)
    logits = q[0, :, :4] @ k[0, :, :4].T / math.sqrt(4)
    m = window_partition(key_scale, 4)[0, :, 0]  # per key only
    torch.testing.assert_close(propagation[0, 0], (m[None, :] * logits).softmax(-1))
    dis = sampling_distance_map(window_partition(regions, 4), window_distances(4))[0]
    torch.testing.assert_close(sampling[0, 0], (dis * logits).softmax(-1))
    assert lspa(img, alpha, regions, key_scale).shape == (2, 8, 16, 16)


def test_gpa_attention_shapes_and_rows_sum_to_one():
    torch.manual_seed(0)
    gpa = GPA(16, ratio=2)
    img, alpha = torch.randn(2, 16, 8, 12), torch.randn(2, 16, 8, 12)
    key_scale = torch.rand(2, 1, 4, 6) + 0.1
    w = gpa.affinity(img, key_scale)
    assert w.shape == (2, 8 * 12, 4 * 6)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 96))
    assert gpa(img, alpha, key_scale).shape == alpha.shape


@pytest.mark.parametrize("kind", ["2d", "1d"])
def test_cfc_spectral_norm_bound_and_gating(kind):
    torch.manual_seed(0)
    module = CFC2d(6, 4, 5) if kind == "2d" else CFC1d(6, 4, 5)
    layer = module.conv if kind == "2d" else module.linear
    raw = layer.parametrizations.weight.original
    with torch.no_grad():  # a weight with known singular values 5, 1, 0.5, ... and fresh singular vectors
        u, _ = torch.linalg.qr(torch.randn(10, 10))
        v, _ = torch.linalg.qr(torch.randn(10, 10))
        s = torch.tensor([5.0, 1.0] + [0.5] * 8)
        raw.copy_((u @ torch.diag(s) @ v.T).reshape(raw.shape))
    module.train()
    for _ in range(5):  # a few power iterations (one per training forward)
        if kind == "2d":
            module(torch.randn(2, 6, 4, 4), torch.randn(2, 4, 4, 4))
        else:
            module(torch.randn(3, 6), torch.randn(3, 4))
    module.eval()
    sigma = torch.linalg.matrix_norm(layer.weight.detach().reshape(10, -1), ord=2)
    assert sigma.item() == pytest.approx(1.0, abs=1e-3)
    if kind == "1d":  # eq. 9 on a hand input: ELU(first half) * sigmoid(second half)
        f = layer(torch.cat([torch.ones(1, 6), torch.zeros(1, 4)], -1))
        a, b = f.chunk(2, -1)
        expected = torch.nn.functional.elu(a) * b.sigmoid()
        torch.testing.assert_close(module(torch.ones(1, 6), torch.zeros(1, 4)), expected)


def test_spamattnet_outputs_and_input_encoding():
    torch.manual_seed(0)
    net = spamattnet_test().eval()
    assert net.encoder.conv1.in_channels == 6  # RGB + one-hot trimap (bg, unknown, fg)
    assert trimap_regions(torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 1, 3))[0, :, 0].T.tolist() == [
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
    ]
    image = torch.rand(2, 3, 64, 96)
    trimap = torch.zeros(2, 1, 64, 96)
    trimap[..., 20:44, 30:70] = 0.5
    trimap[..., 28:36, 40:60] = 1
    with torch.no_grad():
        out = net(image=image, trimap=trimap)
    assert out.alpha.shape == out.coarse_alpha.shape == (2, 1, 64, 96)
    assert 0 <= out.alpha.min() and out.alpha.max() <= 1 and 0 <= out.coarse_alpha.min() and out.coarse_alpha.max() <= 1
    assert len(out.features) == 5
    with pytest.raises(ValueError, match="multiples of 32"):
        net(image=torch.rand(1, 3, 70, 90), trimap=torch.zeros(1, 1, 70, 90))


def test_constructor_checks():
    with pytest.raises(ValueError, match="window"):
        SPAMattNet(width=8, layers=(1, 1, 1, 1), window=3)
    with pytest.raises(ValueError, match="ratio"):
        SPAMattNet(width=8, layers=(1, 1, 1, 1), ratio=3)
    with pytest.raises(ValueError, match="divisible"):
        LSPA(6, heads=4)


def test_pretrained_round_trip(tmp_path):
    torch.manual_seed(0)
    net = spamattnet_test().eval()
    path = tmp_path / "spa.pth"
    torch.save(net.state_dict(), path)
    again = spamattnet_test(pretrained=path).eval()
    x = dict(image=torch.rand(1, 3, 64, 64), trimap=torch.full((1, 1, 64, 64), 0.5))
    with torch.no_grad():
        torch.testing.assert_close(again(**x).alpha, net(**x).alpha)
