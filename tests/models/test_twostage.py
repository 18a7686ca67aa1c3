"""Joint inference of TGN and SPAMattNet: soft (eq. 13-15) and hard fusion on hand tensors, the trimap handed
to the matting network, the registered variants."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from automatte.models.output import MattingOutput
from automatte.models.twostage import TwoStageMatting, hard_fusion, soft_fusion, tgn_spamattnet_test

BIG = 40.0
# four pixels: certain background, certain unknown, certain foreground, and an uncertain one
LOGITS = torch.tensor([[BIG, 0, 0], [0, BIG, 0], [0, 0, BIG], [1.0, 0.5, 2.0]]).T.reshape(1, 3, 1, 4)
ALPHA_HAT = torch.tensor([0.3, 0.4, 0.2, 0.7]).view(1, 1, 1, 4)


def test_soft_fusion_on_hand_tensors():
    fused = soft_fusion(LOGITS, ALPHA_HAT).flatten()
    assert fused[0].item() == pytest.approx(0.0, abs=1e-6)  # certain background -> 0
    assert fused[1].item() == pytest.approx(0.4, abs=1e-6)  # certain unknown -> matting alpha
    assert fused[2].item() == pytest.approx(1.0, abs=1e-6)  # certain foreground -> 1
    p = LOGITS.softmax(1)[0, :, 0, 3]  # bg, unknown, fg
    assert fused[3].item() == pytest.approx((p[2] + p[1] * 0.7).item(), abs=1e-6)


def test_soft_fusion_eq15_equals_eq13_with_eq14():
    torch.manual_seed(0)
    logits, alpha = torch.randn(2, 3, 5, 7) * 3, torch.rand(2, 1, 5, 7)
    p = logits.softmax(1)
    b, f = p[:, 0:1], p[:, 2:3]
    u = 1 - (f + b)  # eq. 14
    eq13 = (1 - u) * f / (f + b) + u * alpha
    torch.testing.assert_close(soft_fusion(logits, alpha), eq13)


def test_hard_fusion_on_hand_tensors():
    fused = hard_fusion(LOGITS, ALPHA_HAT).flatten().tolist()
    assert fused == pytest.approx([0.0, 0.4, 1.0, 1.0])  # the uncertain pixel's argmax is foreground


def test_soft_fusion_is_differentiable_in_the_trimap():
    logits = LOGITS.clone().requires_grad_(True)
    soft_fusion(logits, ALPHA_HAT).sum().backward()
    assert logits.grad[..., 3].abs().sum() > 0


class _FixedTrimap(nn.Module):
    def forward(self, image, mask):
        return MattingOutput(alpha=LOGITS.softmax(1)[:, 2:3], trimap_logits=LOGITS.expand(image.shape[0], -1, -1, -1))


class _Recorder(nn.Module):
    def forward(self, image, trimap):
        self.trimap = trimap
        a = ALPHA_HAT.expand(image.shape[0], -1, -1, -1)
        return MattingOutput(alpha=a, coarse_alpha=a * 0.5)


@pytest.mark.parametrize("fusion, expected", [("soft", None), ("hard", [0.0, 0.4, 1.0, 1.0])])
def test_two_stage_pipeline_with_stub_networks(fusion, expected):
    matting = _Recorder()
    net = TwoStageMatting(_FixedTrimap(), matting, fusion=fusion)
    out = net(image=torch.rand(1, 3, 1, 4), mask=torch.rand(1, 1, 1, 4))
    assert matting.trimap.flatten().tolist() == [0.0, 0.5, 1.0, 1.0]  # argmax trimap in {0, 0.5, 1}
    torch.testing.assert_close(out.extras["tgn_trimap"], matting.trimap)
    torch.testing.assert_close(out.coarse_alpha, ALPHA_HAT * 0.5)
    torch.testing.assert_close(out.extras["matting_alpha"], ALPHA_HAT)
    want = soft_fusion(LOGITS, ALPHA_HAT) if expected is None else torch.tensor(expected).view(1, 1, 1, 4)
    torch.testing.assert_close(out.alpha, want)


def test_bad_fusion_name():
    with pytest.raises(ValueError, match="fusion"):
        TwoStageMatting(_FixedTrimap(), _Recorder(), fusion="average")


def test_registered_test_variant():
    torch.manual_seed(0)
    net = tgn_spamattnet_test(fusion="hard").eval()
    assert net.fusion == "hard"
    with torch.no_grad():
        out = net(image=torch.rand(1, 3, 64, 64), mask=torch.rand(1, 1, 64, 64))
    assert out.alpha.shape == out.coarse_alpha.shape == (1, 1, 64, 64)
    assert out.trimap_logits.shape == (1, 3, 64, 64)
    assert set(out.extras) == {"trimap", "tgn_trimap", "matting_alpha"}
    with pytest.raises(ValueError, match="unknown keyword"):
        tgn_spamattnet_test(width=4)
