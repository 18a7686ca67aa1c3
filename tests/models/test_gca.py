"""GCA Matting specifics: guided contextual attention, trimap encoding, checkpoint key mapping."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from automatte.models.gca import guided_attention, map_official_gca_keys, trimap_one_hot
from automatte.registry import create_model


def _reference_attention(guidance, alpha, unknown, rate=2):
    """Per-sample, convolution-based formulation (a conv with one normalised kernel per patch, softmax over
    the kernels, a transposed conv with the alpha patches), written independently of the batched code."""
    out = []
    for b in range(alpha.shape[0]):
        g = guidance[b : b + 1, :, ::rate, ::rate]
        h, w = g.shape[-2:]
        gp = F.pad(g, (1, 1, 1, 1), mode="reflect")
        kernels = torch.stack([gp[0, :, y : y + 3, x : x + 3] for y in range(h) for x in range(w)])
        kernels = kernels / kernels.flatten(1).norm(dim=1).clamp_min(1e-4)[:, None, None, None]
        scores = F.conv2d(gp, kernels)[0]  # (L, h, w): source j, query position
        if unknown is None:
            src_u, s_u, s_k = torch.ones(h * w), 1.0, 1.0
        else:
            u = unknown[b : b + 1, :, ::rate, ::rate]
            src_u = (F.avg_pool2d(F.pad(u, (1, 1, 1, 1), mode="reflect"), 3, 1)[0, 0].flatten() > 0).float()
            frac = u.mean().item()
            s_u = min(max((frac / (1 - frac)) ** 0.5, 0.1), 10)
            s_k = min(max(((1 - frac) / frac) ** 0.5, 0.1), 10)
        scale = src_u * s_u + (1 - src_u) * s_k
        scores = scores * scale[:, None, None]
        scores = scores - 1e4 * torch.eye(h * w).view(h * w, h, w) * src_u[:, None, None]
        attn = scores.softmax(0)[None]
        ap = F.pad(alpha[b : b + 1], (1, 1, 1, 1), mode="reflect")
        patches = torch.stack([ap[0, :, 2 * y : 2 * y + 4, 2 * x : 2 * x + 4] for y in range(h) for x in range(w)])
        out.append(F.conv_transpose2d(attn, patches, stride=rate, padding=1) / 4)
    return torch.cat(out)


@pytest.mark.parametrize("with_mask", [True, False])
def test_guided_attention_matches_convolution_reference(with_mask):
    torch.manual_seed(0)
    guidance, alpha = torch.randn(2, 5, 12, 16), torch.randn(2, 3, 12, 16)
    unknown = (torch.rand(2, 1, 12, 16) > 0.6).float() if with_mask else None
    out = guided_attention(guidance, alpha, unknown)
    assert out.shape == alpha.shape
    assert torch.allclose(out, _reference_attention(guidance, alpha, unknown), atol=1e-5)


def test_unknown_pixels_copy_the_most_similar_known_patch():
    torch.manual_seed(0)
    # attention grid 4 x 8; columns follow the mirror-periodic pattern a b c b | a b c b, so the 3x3 patch
    # (reflect padding included) at grid column x in {0, 1, 2} equals the one at column x + 4
    cols = torch.randn(3, 6, 4)  # (column type, channels, rows)
    grid = torch.stack([cols[i] for i in (0, 1, 2, 1, 0, 1, 2, 1)], -1)[None] * 10  # (1, 6, 4, 8)
    guidance = grid.repeat_interleave(2, -1).repeat_interleave(2, -2)  # (1, 6, 8, 16): nearest x2
    unknown = torch.zeros(1, 1, 8, 16)
    unknown[..., :8] = 1  # grid columns 0-3 unknown, 4-7 known
    alpha = torch.randn(1, 4, 8, 16)
    out = guided_attention(guidance, alpha, unknown)
    # pixels fed only by grid columns 0-2 copy the alpha features 8 pixels (4 grid cells) to the right;
    # rows 1-6 (the fold halves the outermost rows, as the authors' transposed conv)
    assert torch.allclose(out[..., 1:7, 1:5], alpha[..., 1:7, 9:13], atol=1e-4)


def test_trimap_one_hot():
    t = torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 1, 3)
    assert trimap_one_hot(t)[0, :, 0].T.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]


def test_models_inputs_and_features():
    torch.manual_seed(0)
    net = create_model("gca_test").eval()
    assert net.model_inputs == ("image", "trimap") and net.stem[0].in_channels == 6
    image, trimap = torch.rand(2, 3, 64, 96), torch.full((2, 1, 64, 96), 0.5)
    with torch.no_grad():
        out = net(image=image, trimap=trimap)
    assert out.alpha.shape == (2, 1, 64, 96) and float(out.alpha.min()) >= 0 and float(out.alpha.max()) <= 1
    assert [f.shape[1:] for f in out.features] == [
        (c, 64 // s, 96 // s) for c, s in zip(net.feature_channels, (2, 4, 8, 16, 32))
    ]
    with pytest.raises(ValueError, match="trimap"):
        net(image=image)
    free = create_model("gca_free_test").eval()
    assert free.model_inputs == ("image",) and free.stem[0].in_channels == 3
    with torch.no_grad():
        assert free(image=image).alpha.shape == (2, 1, 64, 96)


def _to_official(state):
    """Our names -> the authors' (spectral-norm wrapped convs), independently of map_official_gca_keys."""
    pairs = [
        ("stem.0.", "encoder.conv1."),
        ("stem.1.", "encoder.bn1."),
        ("stem.3.", "encoder.conv2."),
        ("stem.4.", "encoder.bn2."),
        ("stem_out.0.", "encoder.conv3."),
        ("stem_out.1.", "encoder.bn3."),
        ("layer4.", "encoder.layer_bottleneck."),
        ("enc_gca.", "encoder.gca."),
        ("dec_gca.", "decoder.gca."),
        ("guidance_head.", "encoder.guidance_head."),
        ("shortcut.", "encoder.shortcut."),
        ("final_up.", "decoder.conv1."),
        ("final_bn.", "decoder.bn1."),
        ("final_conv.", "decoder.conv2."),
    ]
    pairs += [(f"layer{i}.", f"encoder.layer{i}.") for i in (1, 2, 3)]
    pairs += [(f"dec{i}.", f"decoder.layer{i}.") for i in (1, 2, 3, 4)]
    out = {}
    for key, value in state.items():
        new = next(n + key[len(o) :] for o, n in pairs if key.startswith(o))
        if value.dim() == 4 and "gca" not in new and "conv2.weight" != new[len("decoder.") :]:
            base = new[: -len("weight")] + "module."
            v = F.normalize(torch.randn(value[0].numel()), dim=0)
            wv = value.reshape(value.shape[0], -1) @ v
            u = wv / wv.dot(wv)  # u . (W v) = 1: the stored W_bar = 3 W has sigma 3
            out.update({base + "weight_bar": 3 * value, base + "weight_u": u, base + "weight_v": v})
        else:
            out[new] = value
    return out


def test_official_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    src = create_model("gca_test")
    with torch.no_grad():
        for p in src.parameters():
            p.normal_()
    official = _to_official(src.state_dict())
    assert "encoder.layer1.0.conv1.module.weight_bar" in official
    assert "decoder.layer2.0.upsample.1.module.weight_u" in official
    torch.save({"state_dict": official}, tmp_path / "gca.pth")
    dst = create_model("gca_test", pretrained=tmp_path / "gca.pth")
    for k, v in src.state_dict().items():
        assert torch.allclose(dst.state_dict()[k], v, atol=1e-5), k
    assert set(map_official_gca_keys(official)) == set(src.state_dict())
