"""DDC paper ablation switches (issue 12, items 4 and 5): table 5's supervision region, table 1's fine-label
baseline."""

from __future__ import annotations

import pytest
import torch

from automatte.losses import functional as L
from automatte.losses.recipes import ddc_losses
from automatte.models.output import MattingOutput

torch.set_num_threads(1)


def _batch(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    trimap = torch.zeros(2, 1, 16, 16)
    trimap[..., 4:12, 4:12] = 0.5
    trimap[..., 6:10, 6:10] = 1.0
    return {
        "image": torch.rand(2, 3, 16, 16, generator=g),
        "trimap": trimap,
        "alpha": torch.rand(2, 1, 16, 16, generator=g),
    }


@pytest.mark.parametrize("consistency", ["ddc", "dc", "affinity"])
def test_unknown_region_is_the_masked_mean_of_the_whole_map(consistency):
    batch = _batch()
    alpha = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(5))
    whole = ddc_losses(MattingOutput(alpha=alpha), batch, kernel_size=3, consistency=consistency)
    unknown = ddc_losses(
        MattingOutput(alpha=alpha), batch, kernel_size=3, consistency=consistency, consistency_region="unknown"
    )
    assert unknown["known"].item() == whole["known"].item()
    assert unknown[consistency].item() != pytest.approx(whole[consistency].item(), rel=1e-3)
    # reference: the per-centre-pixel terms of the whole map, averaged over the unknown centres only
    d, da, aj = L.neighbour_distances(batch["image"], alpha, 3)
    if consistency == "ddc":
        per_pixel = (d - da).abs().mean(1, keepdim=True)
    elif consistency == "dc":
        per_pixel = (da.abs() - d).abs().mean(1, keepdim=True)
    else:
        a = 1 - d / 3**0.5
        per_pixel = ((a * aj).sum(1, keepdim=True) / a.sum(1, keepdim=True) - alpha).abs()
    mask = batch["trimap"] == 0.5
    assert unknown[consistency].item() == pytest.approx(per_pixel[mask].mean().item(), rel=1e-5)
    assert whole[consistency].item() == pytest.approx(per_pixel.mean().item(), rel=1e-5)


def test_region_switch_checks_and_gradients():
    batch = _batch()
    alpha = torch.rand(2, 1, 16, 16, requires_grad=True)
    r = ddc_losses(MattingOutput(alpha=alpha), batch, kernel_size=3, consistency_region="unknown")
    r["ddc"].backward()
    known = batch["trimap"] != 0.5
    assert alpha.grad[known & (batch["trimap"] == 0)].abs().sum() > 0  # known pixels still serve as neighbours j
    with pytest.raises(ValueError, match="consistency_region"):
        ddc_losses(MattingOutput(alpha=alpha), batch, kernel_size=3, consistency_region="all")
    no_band = dict(batch, trimap=torch.ones_like(batch["trimap"]))  # empty unknown region: 0, not NaN
    assert ddc_losses(MattingOutput(alpha=alpha), no_band, kernel_size=3, consistency_region="unknown")["ddc"] == 0


def test_fine_label_baseline_is_plain_l1_to_the_alpha():
    batch = _batch()
    alpha = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(7))
    r = ddc_losses(MattingOutput(alpha=alpha), batch, label="alpha")
    assert set(r) == {"total", "alpha_l1"}
    assert r["total"].item() == pytest.approx((alpha - batch["alpha"]).abs().mean().item(), rel=1e-6)
    with pytest.raises(ValueError, match="label"):
        ddc_losses(MattingOutput(alpha=alpha), batch, label="mask")
