"""Shipped models: cards complete, sha256 as recorded, golden input -> output unchanged, listed by the CLI."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from automatte.io import read_alpha
from automatte.shipped import ROLES, WEIGHTS_DIR, default_pipeline, list_shipped, load_shipped

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from ship_model import GOLDEN_DIR, golden_output  # noqa: E402 (the shipping tool, outside the package)

SHIPPED = list_shipped()
NAMES = [m.name for m in SHIPPED]
CARD_FIELDS = ("summary", "data", "recipe", "command", "hardware", "training_time", "metrics")


def test_a_default_pipeline_is_shipped():
    from automatte.api import list_pipelines, load_model

    default = default_pipeline()
    assert default is not None, "nothing shipped in automatte/weights"
    name, options, why = default
    assert name in list_pipelines() and why
    assert sum(m.default for m in SHIPPED if m.role == "one-stage") <= 1
    pipeline = load_model()  # no name: the default, from the package alone
    assert pipeline.name.startswith("default")


def test_default_pipeline_on_a_real_photo():
    """The README's main job in miniature: examples/chelsea.jpg -> a cat-shaped alpha (the cat fills the middle)."""
    from pathlib import Path

    import automatte

    photo = Path(__file__).resolve().parents[1] / "examples" / "chelsea.jpg"
    m = automatte.matte(photo, foreground="blur_fusion")
    assert m.alpha.shape == (300, 451)
    assert m.alpha[100:200, 150:300].mean() > 0.9  # the cat's face
    assert m.alpha[:, -10:].mean() < 0.5  # the background right of the cat is cut away
    assert m.rgba()[..., 3].std() > 50


@pytest.mark.parametrize("name", NAMES)
def test_card_is_complete(name):
    model = next(m for m in SHIPPED if m.name == name)
    assert model.role in ROLES and model.path.is_file()
    missing = [f for f in CARD_FIELDS if f not in model.card]
    assert not missing, f"{name}: card lacks {missing}"
    assert "automatte train configs/" in model.card["command"]
    assert model.card.get("config"), "the resolved training config is recorded"
    assert not any("pretrained" in k for k in model.kwargs), "shipped networks load no other file"


@pytest.mark.parametrize("name", NAMES)
def test_golden_output(name):
    golden = GOLDEN_DIR / f"{name}.png"
    assert golden.is_file(), f"{golden} missing (python tools/ship_model.py writes it)"
    expected = read_alpha(golden)
    got = golden_output(name)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 2e-3, f"{name}: output changed (max diff {np.abs(got - expected).max():.4f})"


def test_corrupted_weights_are_refused(tmp_path):
    import json
    import shutil

    model = SHIPPED[0]
    shutil.copy(model.path, tmp_path / model.path.name)
    (tmp_path / f"{model.name}.json").write_text(
        json.dumps({**json.loads(model.path.with_suffix(".json").read_text())})
    )
    with open(tmp_path / model.path.name, "r+b") as f:
        f.seek(-4, 2)
        f.write(b"\0\1\2\3")
    with pytest.raises(ValueError, match="sha256"):
        load_shipped(model.name, tmp_path)


def test_models_command_lists_cards(capsys):
    from automatte.cli import main

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "Shipped models" in out and all(n in out for n in NAMES)
    assert main(["models", NAMES[0]]) == 0
    card = capsys.readouterr().out
    assert "sha256" in card and "command" in card


# An absolute path of a machine: /work, /root, /home, /tmp or a drive letter (C:\ or C:/), not inside a word.
MACHINE_PATH = re.compile(r"(?<![\w.])(?:/(?:work|root|home|tmp)\b|[A-Za-z]:[\\/])")


@pytest.mark.parametrize("card", sorted(WEIGHTS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_cards_hold_no_machine_path(card):
    text = card.read_text(encoding="utf-8")
    found = [m.group(0) + text[m.end() : m.end() + 40] for m in MACHINE_PATH.finditer(text)]
    assert not found, f"{card.name} holds absolute paths of the machine that made it: {found}"


def test_ship_checkpoint_writes_a_portable_card(tmp_path):
    import json

    import torch

    from automatte.models.weights import TRAIN_FORMAT
    from automatte.shipped import REPO_ROOT, get_shipped, ship_checkpoint

    config = {
        "model": {"kwargs": {"pretrained": "/home/someone/repo/src/automatte/weights/salient-segmenter.safetensors"}},
        "data": {"train": [{"path": str(REPO_ROOT / "build" / "pack" / "ccp")}, {"path": "build/relative"}]},
        "train": {"out_dir": "/tmp/run-4ucgkmwj", "steps": 3},
    }
    checkpoint = tmp_path / "last.pt"
    state = {"format": TRAIN_FORMAT, "model": {"w": torch.ones(2)}, "model_name": "toy", "config": config, "step": 3}
    torch.save(state, checkpoint)
    ship_checkpoint(checkpoint, "toy", "segmenter", folder=tmp_path / "weights", card={"command": "make gpu-pack"})
    text = (tmp_path / "weights" / "toy.json").read_text(encoding="utf-8")
    assert not MACHINE_PATH.search(text), text
    card = get_shipped("toy", tmp_path / "weights").card
    assert card["config"]["model"]["kwargs"]["pretrained"] == "src/automatte/weights/salient-segmenter.safetensors"
    assert [d["path"] for d in card["config"]["data"]["train"]] == ["build/pack/ccp", "build/relative"]
    assert card["config"]["train"] == {"out_dir": None, "steps": 3}
    assert json.loads(text)["card"]["command"] == "make gpu-pack"
    with pytest.raises(ValueError, match=r"'command' names a path of this machine \('/work/main/runs"):
        ship_checkpoint(
            checkpoint, "toy", "segmenter", folder=tmp_path / "w2", card={"command": "cp /work/main/runs/x"}
        )
