"""PPID distillation (CLSD, ALD) and TGN real-data adaptation (LSGAN) losses: hand values, explicit sums,
the contract with models.ppid, float64 gradchecks."""

from __future__ import annotations

import math

import pytest
import torch
from torch.autograd import gradcheck

from automatte.losses import adversarial as LA
from automatte.losses import distill as LD

torch.set_num_threads(1)


def rand(*shape, seed=0, dtype=torch.float64):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --------------------------------------------------------------------------------------------- CLSD
def test_clsd_matches_explicit_sums():
    teacher = [rand(2, 4, 8, 8, seed=1), rand(2, 6, 4, 4, seed=2), rand(2, 8, 2, 2, seed=3)]
    student = [rand(2, 4, 8, 8, seed=4), rand(2, 6, 4, 4, seed=5), rand(2, 8, 2, 2, seed=6)]
    cross = [rand(2, 6, 4, 4, seed=7), rand(2, 8, 2, 2, seed=8)]
    same = sum(((t - s) ** 2).mean() for t, s in zip(teacher, student))
    neighbour = sum(((t - c) ** 2).mean() for t, c in zip(teacher[1:], cross))
    assert LD.clsd_loss(teacher, student, cross).item() == pytest.approx((0.2 * same + 1.0 * neighbour).item())
    same_sum = sum(((t - s) ** 2).sum() / 2 for t, s in zip(teacher, student))  # per sample, batch mean
    neighbour_sum = sum(((t - c) ** 2).sum() / 2 for t, c in zip(teacher[1:], cross))
    got = LD.clsd_loss(teacher, student, cross, 0.5, 3.0, reduction="sum").item()
    assert got == pytest.approx((0.5 * same_sum + 3.0 * neighbour_sum).item())
    # one level: no cross term
    one = LD.clsd_loss(teacher[:1], student[:1], [], 1.0, 5.0)
    assert one.item() == pytest.approx(((teacher[0] - student[0]) ** 2).mean().item())


def test_clsd_bad_arguments():
    t = [torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 2, 2)]
    with pytest.raises(ValueError, match="K-1 cross"):
        LD.clsd_loss(t, t, [])
    with pytest.raises(ValueError, match="shape"):
        LD.clsd_loss(t, [t[0], torch.zeros(1, 3, 2, 2)], [t[1]])


# ---------------------------------------------------------------------------------------------- ALD
def test_transition_region_and_spatial_softmax():
    trimap = torch.tensor([0.0, 0.5, 1.0, 0.5]).view(1, 1, 1, 4).repeat(1, 1, 2, 1)
    assert LD.transition_region(trimap, (2, 4))[0, 0].tolist() == [[0, 1, 0, 1], [0, 1, 0, 1]]
    assert LD.transition_region(trimap, (1, 2))[0, 0].tolist() == [[0.0, 0.0]]  # nearest: columns 0 and 2
    m = LD.spatial_softmax(torch.tensor([0.0, 2.0]).view(1, 1, 1, 2), temperature=2.0)
    e = math.e
    assert m.flatten().tolist() == pytest.approx([1 / (1 + e), e / (1 + e)])
    with pytest.raises(ValueError, match="temperature"):
        LD.spatial_softmax(torch.zeros(1, 1, 2, 2), 0.0)


def test_ald_matches_explicit_sums():
    ft, fs = rand(2, 5, 4, 4, seed=10), rand(2, 5, 4, 4, seed=11)
    mt = LD.spatial_softmax(rand(2, 1, 4, 4, seed=12), 0.5)
    ms = LD.spatial_softmax(rand(2, 1, 4, 4, seed=13), 0.5)
    trimap = (torch.randint(0, 3, (2, 1, 8, 8), generator=torch.Generator().manual_seed(14)) / 2).double()
    r = LD.transition_region(trimap, (4, 4))
    l_f = sum((r[b] * mt[b] * (ft[b] - fs[b]) ** 2).sum() for b in range(2)) / 2  # eq. 7, per sample
    l_a = sum((r[b] * mt[b] - r[b] * ms[b]).abs().sum() for b in range(2)) / 2  # eq. 8, L1 distance
    assert LD.ald_feature_loss(ft, fs, mt, r).item() == pytest.approx(l_f.item())
    assert LD.ald_attention_loss(mt, ms, r).item() == pytest.approx(l_a.item())
    assert LD.ald_attention_loss(mt, ms, r, "mean").item() == pytest.approx(l_a.item() * 2 / 32)
    assert LD.ald_loss(ft, fs, mt, ms, trimap, 0.3, 0.7).item() == pytest.approx((0.3 * l_f + 0.7 * l_a).item())
    # lists of levels are summed
    two = LD.ald_loss([ft, ft], [fs, fs], [mt, mt], [ms, ms], trimap, 0.3, 0.7)
    assert two.item() == pytest.approx(2 * (0.3 * l_f + 0.7 * l_a).item())
    # no transition pixel: 0
    assert LD.ald_loss(ft, fs, mt, ms, torch.ones_like(trimap)).item() == 0.0


def test_ald_contract_with_models_ppid():
    """eq. 6 as models.ppid computes it is spatial_softmax of the attention logits at temperature T."""
    ppid = pytest.importorskip("automatte.models.ppid")
    att = ppid.SpatialAttention(temperature=0.5)
    x = torch.rand(2, 8, 5, 5)
    assert torch.allclose(att(x), LD.spatial_softmax(att.logits(x), 0.5), atol=1e-6)


def test_gradcheck_distillation():
    t = [rand(1, 2, 4, 4, seed=20), rand(1, 3, 2, 2, seed=21)]
    s = [rand(1, 2, 4, 4, seed=22).requires_grad_(True), rand(1, 3, 2, 2, seed=23).requires_grad_(True)]
    c = rand(1, 3, 2, 2, seed=24).requires_grad_(True)
    assert gradcheck(lambda a, b, x: LD.clsd_loss(t, [a, b], [x]), (*s, c))
    trimap = torch.full((1, 1, 4, 4), 0.5, dtype=torch.float64)
    trimap[..., 0, :] = 1.0
    ft = rand(1, 2, 4, 4, seed=25)
    fs = rand(1, 2, 4, 4, seed=26).requires_grad_(True)
    logits_t = rand(1, 1, 4, 4, seed=27)  # the teacher's map is a fixed target (eq. 5-9)
    logits_s = rand(1, 1, 4, 4, seed=28).requires_grad_(True)

    def ald(f, ls):
        return LD.ald_loss(ft, f, LD.spatial_softmax(logits_t, 0.7), LD.spatial_softmax(ls, 0.7), trimap, 0.5, 2.0)

    assert gradcheck(ald, (fs, logits_s))


# ------------------------------------------------------------------------------------- adversarial
def test_lsgan_reference_values():
    d_fake, d_real = torch.tensor([0.0, 0.5, 1.0]), torch.tensor([1.0, 0.0])
    assert LA.lsgan_generator_loss(d_fake).item() == pytest.approx((1 + 0.25 + 0) / 3)  # eq. 16
    assert LA.lsgan_discriminator_loss(d_fake, d_real).item() == pytest.approx(
        (0 + 0.25 + 1) / 3 + (0 + 1) / 2
    )  # eq. 17
    alpha = torch.tensor([0.0, 0.25, 1.0]).view(1, 1, 1, 3)
    fake = LA.recomposite(alpha, torch.ones(1, 3, 1, 3), torch.full((1, 3, 1, 3), 0.5))
    assert fake[0, 0, 0].tolist() == [0.5, 0.625, 1.0]


def test_adaptation_lambda_schedule():
    iterations = (0, 1, 9_999, 10_000, 19_999, 20_000, 35_000)
    assert [LA.adaptation_lambda(i) for i in iterations] == [0.5, 0.5, 0.5, 0.25, 0.25, 0.125, 0.0625]
    assert LA.adaptation_lambda(30, initial=1.0, halve_every=10) == 0.125
    with pytest.raises(ValueError):
        LA.adaptation_lambda(-1)
    with pytest.raises(ValueError):
        LA.adaptation_lambda(5, halve_every=0)


def test_gradcheck_lsgan():
    d = rand(2, 1, 3, 3, seed=30).requires_grad_(True)
    r = rand(2, 1, 3, 3, seed=31).requires_grad_(True)
    assert gradcheck(LA.lsgan_generator_loss, (d,))
    assert gradcheck(LA.lsgan_discriminator_loss, (d, r))
    a = rand(1, 1, 3, 3, seed=32).requires_grad_(True)
    assert gradcheck(lambda x: LA.recomposite(x, rand(1, 3, 3, 3, seed=33), rand(1, 3, 3, 3, seed=34)).sum(), (a,))
