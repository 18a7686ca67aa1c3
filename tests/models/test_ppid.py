"""PPID building blocks (eq. 2, 4, 6), the student wrapper on a stand-in base, and the registered variants."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from automatte.models.output import MattingOutput
from automatte.models.ppid import CLSD, CrossLevelMerge, GCBlock, PPIDStudent, SpatialAttention, _ppid
from automatte.registry import create_model, list_models, model_info

torch.set_num_threads(1)


class StandIn(nn.Module):
    """A tiny encoder (4 stride-2 stages, BatchNorm in the first) with a 1x1 alpha head, for the tests."""

    def __init__(self, in_ch: int = 3, widths=(8, 16, 24, 32), strides=(2, 2, 2, 2)):
        super().__init__()
        stages, prev = [], in_ch
        for i, (w, s) in enumerate(zip(widths, strides)):
            layers = [nn.Conv2d(prev, w, 3, s, 1)] + ([nn.BatchNorm2d(w)] if i == 0 else []) + [nn.ReLU()]
            stages.append(nn.Sequential(*layers))
            prev = w
        self.stages = nn.ModuleList(stages)
        self.head = nn.Conv2d(prev, 1, 1)

    def forward(self, image, trimap=None):
        x = image if trimap is None else torch.cat([image, trimap], dim=1)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        alpha = torch.sigmoid(F.interpolate(self.head(x), size=image.shape[-2:], mode="bilinear"))
        return MattingOutput(alpha=alpha, features=tuple(features), extras={"base_extra": x.mean()})


def test_gc_block_context_is_softmax_weighted_mean():
    torch.manual_seed(0)
    gc = GCBlock(4, ratio=0.5).double()
    x = torch.randn(2, 4, 3, 5, dtype=torch.float64)
    w = gc.key.weight.view(4)
    expected = torch.zeros(2, 4)
    for b in range(2):
        logits = torch.einsum("c,chw->hw", w, x[b]).flatten()
        p = logits.exp() / logits.exp().sum()
        expected[b] = (x[b].flatten(1) * p).sum(dim=1)
    assert torch.allclose(gc.context(x).view(2, 4).float(), expected, atol=1e-6)
    with torch.no_grad():
        gc.key.weight.zero_()  # uniform attention: the plain spatial mean
    assert torch.allclose(gc.context(x).view(2, 4), x.mean(dim=(2, 3)))
    # additive fusion: the same vector transform(context) added at every position
    y = gc(x)
    delta = y - x
    assert torch.allclose(delta, delta[..., :1, :1].expand_as(delta))
    assert torch.allclose(delta[..., 0, 0], gc.transform(gc.context(x)).view(2, 4))


def test_gc_block_bottleneck_width_and_layernorm():
    gc = GCBlock(512)
    assert gc.transform[0].out_channels == 32 and isinstance(gc.transform[1], nn.LayerNorm)
    assert gc.key.bias is None


def test_spatial_attention_softmax_and_temperature():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 8, 10)
    maps = {t: SpatialAttention(temperature=t) for t in (4.0, 1.0, 0.25)}
    for t in (1.0, 0.25):
        maps[t].load_state_dict(maps[4.0].state_dict())
    out = {t: m(x) for t, m in maps.items()}
    for m in out.values():
        assert m.shape == (2, 1, 8, 10) and (m >= 0).all()
        assert torch.allclose(m.sum(dim=(1, 2, 3)), torch.ones(2))
    entropy = {t: -(m * m.clamp_min(1e-30).log()).sum(dim=(1, 2, 3)) for t, m in out.items()}
    assert (entropy[0.25] < entropy[1.0]).all() and (entropy[1.0] < entropy[4.0]).all()
    assert (out[0.25].amax(dim=(2, 3)) > out[4.0].amax(dim=(2, 3))).all()
    with pytest.raises(ValueError, match="temperature"):
        SpatialAttention(temperature=0)


def test_spatial_attention_pools_mean_and_max_over_channels():
    att = SpatialAttention(kernel_size=7)
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0]]).view(1, 1, 2, 2) * torch.tensor([1.0, 3.0]).view(1, 2, 1, 1)
    with torch.no_grad():  # centre taps: logit = mean + 2 * max over channels
        att.conv.weight.zero_()
        att.conv.weight[0, 0, 3, 3], att.conv.weight[0, 1, 3, 3] = 1.0, 2.0
    expected_logits = x.mean(1, keepdim=True) + 2 * x.amax(1, keepdim=True)
    assert torch.allclose(att.logits(x), expected_logits)
    assert torch.allclose(att(x).flatten(), torch.softmax(expected_logits.flatten(), 0))


def test_cross_level_merge_shapes_and_sum():
    merge = CrossLevelMerge(8, 16)
    prev, cur = torch.randn(2, 8, 16, 12), torch.randn(2, 16, 8, 6)
    down, merged = merge(prev, cur)
    assert down.shape == merged.shape == cur.shape
    assert torch.allclose(merged, cur + down)  # eq. 4
    assert merge.conv.kernel_size == (3, 3) and merge.conv.stride == (2, 2)


def test_clsd_chain():
    clsd = CLSD([8, 16, 16], strides=[1, 2, 1])
    feats = [torch.randn(1, 8, 16, 16), torch.randn(1, 16, 8, 8), torch.randn(1, 16, 8, 8)]
    distilled, cross = clsd(feats)
    assert [d.shape for d in distilled] == [f.shape for f in feats]
    assert [c.shape for c in cross] == [f.shape for f in feats[1:]]
    merged1 = feats[1] + clsd.merge[0].conv(feats[0])  # F̄^1, then the cross term of level 2
    assert torch.allclose(cross[1], clsd.gc[2](clsd.merge[1].conv(merged1)), atol=1e-6)
    assert len(clsd.teacher(feats)) == 3


def test_student_on_stand_in_base():
    torch.manual_seed(0)
    base = StandIn()
    running = base.stages[0][1].running_mean.clone()
    net = PPIDStudent(base, teacher=None, levels=3, ald_level=0).train()
    assert torch.equal(base.stages[0][1].running_mean, running) and base.training  # probe left no trace
    assert net.levels == (1, 2, 3) and net.feature_channels == (8, 16, 24, 32)
    image = torch.rand(2, 3, 64, 64)
    out = net(image=image)
    assert torch.equal(out.alpha, base(image=image).alpha)  # side branch: alpha is the base's own
    assert [tuple(f.shape) for f in out.features] == [(2, 16, 16, 16), (2, 24, 8, 8), (2, 32, 4, 4)]
    assert out.extras["clsd_cross_1"].shape == out.features[1].shape
    assert out.extras["clsd_cross_2"].shape == out.features[2].shape
    assert out.extras["ald_feature"].shape == (2, 8, 32, 32)
    assert out.extras["attention"].shape == (2, 1, 32, 32)
    assert torch.allclose(out.extras["attention"].sum(dim=(2, 3)), torch.ones(2, 1))
    assert "base_extra" in out.extras
    sum(t.sum() * (i + 1) for i, t in enumerate(out.tensors().values())).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing

    teacher = StandIn(in_ch=4).eval()
    with torch.no_grad():
        t_raw = teacher(image=image, trimap=torch.full((2, 1, 64, 64), 0.5))
    t = net.teacher_features(t_raw)
    assert [f.shape for f in t.features] == [f.shape for f in out.features]
    for key in ("ald_feature", "attention"):
        assert t.extras[key].shape == out.extras[key].shape
    assert t.alpha is t_raw.alpha
    with pytest.raises(ValueError, match="stage widths"):
        net.teacher_features(StandIn(widths=(8, 16, 24, 48))(image=image))
    with pytest.raises(ValueError, match="no teacher"):
        net.build_teacher()


def test_student_strides_from_the_base_and_bad_arguments():
    net = PPIDStudent(StandIn(strides=(2, 2, 1, 2)), levels=4, ald_level=-1)
    assert [m.conv.stride for m in net.clsd.merge] == [(2, 2), (1, 1), (2, 2)] and net.ald_level == 3
    out = net(image=torch.rand(1, 3, 64, 64))
    assert out.extras["clsd_cross_2"].shape == out.features[2].shape
    with pytest.raises(ValueError, match="levels"):
        PPIDStudent(StandIn(), levels=5)
    with pytest.raises(ValueError, match="ald_level"):
        PPIDStudent(StandIn(), ald_level=4)


def test_pretrained_round_trip(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = PPIDStudent(StandIn())
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "ppid.safetensors"))
    torch.manual_seed(1)
    other = _ppid(StandIn(), pretrained=tmp_path / "ppid.safetensors")
    for k, v in net.state_dict().items():
        assert torch.equal(other.state_dict()[k], v), k


def _registered(name: str) -> bool:
    return name in list_models("*", include_test=True)


@pytest.mark.parametrize("base", ["dim_test", "indexnet_test", "gca_test"])
def test_ppid_test_variant(base):
    if not _registered(base.replace("_test", "_free_test")):
        pytest.skip(f"{base} not registered yet")
    net = create_model("ppid_test", base=base).train()
    assert sum(p.numel() for p in net.parameters()) < 500_000
    out = net(image=torch.rand(2, 3, 64, 64))
    assert len(out.features) == 3 and out.extras["attention"].shape[1] == 1
    teacher = net.build_teacher().eval()
    assert teacher.model_inputs == ("image", "trimap")
    with torch.no_grad():
        t = net.teacher_features(teacher(image=torch.rand(2, 3, 64, 64), trimap=torch.full((2, 1, 64, 64), 0.5)))
    assert [f.shape for f in t.features] == [f.shape for f in out.features]
    assert t.extras["attention"].shape == out.extras["attention"].shape


@pytest.mark.parametrize("name,base", [("dim_ppid", "dim"), ("indexnet_ppid", "indexnet"), ("gca_ppid", "gca")])
def test_full_size_counts_against_table_1(name, base):
    if not (_registered(f"{base}_free") and _registered(base)):
        pytest.skip(f"{base}_free not registered yet")
    with torch.device("meta"):
        net = create_model(name)
    ours = sum(p.numel() for p in net.parameters()) / 1e6
    paper = model_info(name).paper_params
    assert abs(ours - paper) / paper <= 0.10, f"{name}: {ours:.2f}M vs {paper}M"
    assert model_info(name).inputs == ("image",) and net.teacher_name == base


# ------------------------------------------------- issue 12: the teacher's ALD map is a fixed target
def _band_trimap(n: int = 2, size: int = 64) -> torch.Tensor:
    trimap = torch.zeros(n, 1, size, size)
    trimap[..., 12:52, 12:52] = 0.5
    trimap[..., 20:44, 20:44] = 1.0
    return trimap


def test_ald_teacher_map_receives_no_gradient():
    from automatte.losses.distill import ald_loss

    torch.manual_seed(0)
    net = PPIDStudent(StandIn())
    assert not [n for n, _ in net.named_parameters() if n.startswith("teacher_ald")]  # eq. 6 for M_T: no parameter
    assert "teacher_ald.conv.weight" in net.state_dict()  # but saved with the student
    image, trimap = torch.rand(2, 3, 64, 64), _band_trimap()
    teacher = StandIn(in_ch=4)
    t = net.teacher_features(teacher(image=image, trimap=trimap))  # teacher run with gradients on purpose
    assert not t.extras["attention"].requires_grad
    m_t = t.extras["attention"].clone().requires_grad_(True)  # even a map that could take a gradient gets none
    s = net(image=image)
    ald_loss(t.extras["ald_feature"], s.extras["ald_feature"], m_t, s.extras["attention"], trimap).backward()
    assert m_t.grad is None
    assert all(p.grad is None for p in teacher.parameters())  # F_T is a target too (eq. 7)
    assert net.ald.conv.weight.grad is not None and net.ald.conv.weight.grad.abs().sum() > 0  # M_S learns (eq. 8)


def test_attention_conv_alone_cannot_drive_ald_to_zero():
    """Issue 12: a shared, undetached 7x7 conv trained on the ALD loss alone moved the teacher's attention out of
    the transition region (mass 0.083 -> 0.000) and the loss to 0 within 50 steps."""
    from automatte.losses.distill import ald_feature_loss, ald_loss, transition_region

    torch.manual_seed(0)
    net = PPIDStudent(StandIn())
    image, trimap = torch.rand(2, 3, 64, 64), _band_trimap()
    with torch.no_grad():
        f_s = net(image=image).extras["ald_feature"]
        raw = StandIn(in_ch=4)(image=image, trimap=trimap)
    f_t = raw.features[net.ald_level]
    region = transition_region(trimap, f_t.shape[-2:])
    convs = [p for n, p in net.named_parameters() if "ald" in n]  # every attention conv the student trains
    opt = torch.optim.Adam(convs, lr=0.05)

    def evaluate():
        m_t = net.teacher_features(raw).extras["attention"]
        m_s = net.ald(f_s)
        loss = ald_loss(f_t, f_s, m_t, m_s, trimap, alpha=0.02, beta=0.002)
        gap = (region * (m_t - m_s)).abs().sum()
        return loss, (region * m_t).sum().item(), gap.item(), ald_feature_loss(f_t, f_s, m_t, region).item()

    loss0, mass0, gap0, feat0 = evaluate()
    for _ in range(50):
        opt.zero_grad()
        evaluate()[0].backward()
        opt.step()
    loss1, mass1, gap1, feat1 = evaluate()
    assert mass0 > 0.05 and mass1 == pytest.approx(mass0, rel=1e-6)  # the teacher's map did not move
    assert feat1 == pytest.approx(feat0, rel=1e-6) and feat0 > 0
    assert loss1.item() >= 0.02 * feat0 - 1e-7 and loss1.item() > 0.5 * loss0.item()  # not switched off
    assert gap1 < gap0  # the student's map did learn to follow the teacher's (eq. 8)


def test_gc_cannot_cancel_position_dependent_differences():
    """Module docstring, choice 3: the GC blocks train through both sides of eq. 3, yet the loss keeps the
    position-dependent part of F_T - F_S whatever their weights."""
    from automatte.losses.distill import clsd_loss

    torch.manual_seed(0)
    clsd = CLSD([8, 16], [1, 2], ratio=0.5)
    f_t = [torch.randn(2, 8, 8, 8), torch.randn(2, 16, 4, 4)]
    f_s = [torch.randn(2, 8, 8, 8), torch.randn(2, 16, 4, 4)]
    teacher_side = sum(((g - s.detach()) ** 2).mean() for g, s in zip(clsd.teacher(f_t), clsd(f_s)[0]))
    teacher_side.backward()
    assert clsd.gc[0].transform[3].weight.grad.abs().sum() > 0  # gradients through the teacher side
    clsd.zero_grad()

    def loss():
        return clsd_loss(clsd.teacher(f_t), *clsd(f_s), lambda1=0.2, lambda2=1.0)

    centred = [(t - s) - (t - s).mean(dim=(2, 3), keepdim=True) for t, s in zip(f_t, f_s)]
    bound = 0.2 * sum(d.pow(2).mean() for d in centred).item()  # eq. 3, first term, GC-proof part
    gc_params = [p for n, p in clsd.named_parameters() if n.startswith("gc.")]
    opt = torch.optim.Adam(gc_params, lr=0.05)
    before = loss().item()
    for _ in range(60):
        opt.zero_grad()
        loss().backward()
        opt.step()
    after = loss().item()
    assert after < before  # the GC blocks do learn
    assert bound > 0.3 and after >= bound - 1e-5
