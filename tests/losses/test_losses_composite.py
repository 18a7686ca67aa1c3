"""Composition losses compare against the exact composite, not the degraded image (issue 12, item 6)."""

from __future__ import annotations

import pytest
import torch

from automatte.data.augment import Augment
from automatte.data.datasets import SynthDataset
from automatte.data.loader import collate_matting
from automatte.losses import recipes as R
from automatte.models.output import MattingOutput

torch.set_num_threads(1)


def _batch(b: int = 2, h: int = 16, w: int = 16, noise: float = 0.0, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    alpha = torch.rand(b, 1, h, w, generator=g)
    fg, bg = torch.rand(b, 3, h, w, generator=g), torch.rand(b, 3, h, w, generator=g)
    clean = alpha * fg + (1 - alpha) * bg
    image = (clean + noise * torch.randn(b, 3, h, w, generator=g)).clamp(0, 1)  # degraded after compositing
    trimap = torch.full((b, 1, h, w), 0.5)
    trimap[..., :4, :] = 0.0
    return {"image": image, "alpha": alpha, "fg": fg, "bg": bg, "trimap": trimap, "type": "SO"}


def _output(alpha: torch.Tensor) -> MattingOutput:
    b, _, h, w = alpha.shape
    logits = torch.zeros(b, 3, h, w)
    logits[:, 1] = 5.0  # transition everywhere: the fused alpha is the detail
    return MattingOutput(alpha=alpha, trimap_logits=logits, detail=alpha, coarse_alpha=alpha)


PARTS = {"dim": "composition", "aimnet": "composition", "ppmatting": "fusion_comp"}


@pytest.mark.parametrize("recipe", sorted(PARTS))
def test_composition_ignores_the_degradations(recipe):
    clean, noisy = _batch(), _batch(noise=0.2)
    assert (noisy["image"] - clean["image"]).abs().mean() > 0.05
    out = _output(clean["alpha"])  # the exact alpha: the composite is reproduced exactly
    part = PARTS[recipe]
    value = R.RECIPES[recipe](out, noisy)[part].item()
    assert value == pytest.approx(1e-6, abs=1e-6)  # Charbonnier at 0 is eps
    other = _output((clean["alpha"] + 0.3).clamp(0, 1))
    assert R.RECIPES[recipe](other, noisy)[part].item() == pytest.approx(R.RECIPES[recipe](other, clean)[part].item())


def test_an_explicit_composite_key_wins():
    batch = _batch(noise=0.2)
    out = _output(batch["alpha"])
    batch["composite"] = torch.zeros_like(batch["image"])
    assert R.exact_composite(batch) is batch["composite"]
    assert R.dim_losses(out, batch, region="all")["composition"].item() > 0.05


def test_rows_without_foreground_layers_are_left_out():
    batch = _batch(b=2)
    out = _output((batch["alpha"] + 0.2).clamp(0, 1))
    one = {k: (v[:1] if torch.is_tensor(v) else v) for k, v in batch.items()}
    expected = R.dim_losses(_output(out.alpha[:1]), one, region="all")["composition"].item()
    batch["fg"][1], batch["bg"][1] = 0.0, 0.0  # collated zero fill
    batch["has_fg"], batch["has_bg"] = torch.tensor([True, False]), torch.tensor([True, False])
    assert R.dim_losses(out, batch, region="all")["composition"].item() == pytest.approx(expected, rel=1e-5)


def test_dataset_items_rebuild_the_composite_before_degradation():
    common = dict(
        size=64, crop_sizes=(64,), flip_prob=0.0, jitter_prob=0.0, bokeh_prob=0.0, bokeh_prob_ns=0.0, blur_prob=0.0
    )
    clean = SynthDataset(2, Augment(**common, noise_prob=0.0, jpeg_prob=0.0), types=("SO",), seed=3)
    noisy = SynthDataset(
        2, Augment(**common, noise_prob=1.0, noise_sigma=(0.05, 0.05), jpeg_prob=1.0), types=("SO",), seed=3
    )
    batch = collate_matting([noisy[0], noisy[1]])
    reference = collate_matting([clean[0], clean[1]])["image"]  # no degradation: the image is the composite
    assert (batch["image"] - reference).abs().mean() > 0.01
    assert torch.allclose(R.exact_composite(batch), reference, atol=1e-5)
