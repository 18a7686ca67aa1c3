"""Trimap-only (DDC) training: the label trimap is never a model input (issue 12, item 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from automatte.registry import model_info
from automatte.train.config import Config, load_config
from automatte.train.task import Task, check_label_inputs

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
DDC_CONFIGS = sorted(p for p in CONFIGS.glob("*.yaml") if load_config(p).loss.recipe == "ddc")


def test_there_are_ddc_experiments():
    names = {p.stem for p in DDC_CONFIGS}
    assert {"vitmatte_vits_trimap_coarse", "vitmatte_tiny_trimap_synth_smoke"} <= names


@pytest.mark.parametrize("path", DDC_CONFIGS, ids=lambda p: p.name)
def test_ddc_paradigm_model_takes_the_image_only(path):
    cfg = load_config(path)
    assert model_info(cfg.model.name).inputs == ("image",), f"{path.name}: {cfg.model.name} takes a trimap"


def test_trainer_refuses_a_trimap_model_under_the_ddc_recipe():
    cfg = Config()
    cfg.model.name, cfg.loss.recipe, cfg.loss.kwargs = "vitmatte_test", "ddc", {"kernel_size": 3}
    with pytest.raises(ValueError, match=r"batch\['trimap'\].*only label"):
        Task(cfg, torch.device("cpu"))
    with pytest.raises(ValueError, match="vitmatte_test"):
        check_label_inputs(cfg, ("image", "trimap"))


def test_trainer_accepts_an_image_only_model_and_other_recipes():
    cfg = Config()
    cfg.model.name, cfg.loss.recipe, cfg.loss.kwargs = "vitmatte_free_test", "ddc", {"kernel_size": 3}
    task = Task(cfg, torch.device("cpu"))
    assert task.inputs == ("image",)
    batch = {"image": torch.rand(2, 3, 64, 64), "trimap": torch.full((2, 1, 64, 64), 0.5)}
    assert torch.isfinite(task.losses(task.module, batch, 0)["total"])
    cfg.model.name, cfg.loss.recipe = "vitmatte_test", "vitmatte"  # fine labels: the trimap is an input there
    check_label_inputs(cfg, model_info(cfg.model.name).inputs)


def test_ddc_table_1_pair_differs_only_in_the_label():
    """DDC table 1: the finely supervised row keeps every other setting of the trimap row (issue 12, item 5)."""
    from automatte.train.config import to_dict

    fine, trimap = (load_config(CONFIGS / f"vitmatte_free_vits_{k}_synth.yaml") for k in ("alpha", "trimap"))
    assert fine.loss.kwargs.pop("label") == "alpha" and trimap.loss.kwargs.pop("label") == "trimap"
    fine.train.out_dir = trimap.train.out_dir
    assert to_dict(fine) == to_dict(trimap)
    assert model_info(fine.model.name).inputs == ("image",)
