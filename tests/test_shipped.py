"""Shipped models: cards complete, sha256 as recorded, golden input -> output unchanged, listed by the CLI."""

from __future__ import annotations

import numpy as np
import pytest

from automatte.io import read_alpha
from automatte.shipped import GOLDEN_DIR, ROLES, default_model_name, golden_output, list_shipped, load_shipped

SHIPPED = list_shipped()
NAMES = [m.name for m in SHIPPED]
CARD_FIELDS = ("summary", "data", "recipe", "command", "hardware", "training_time", "metrics")


def test_a_default_model_is_shipped():
    assert default_model_name("one-stage") is not None, "no default one-stage model in automatte/weights"
    assert sum(m.default for m in SHIPPED if m.role == "one-stage") == 1


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
    assert golden.is_file(), f"{golden} missing (python -m automatte.shipped writes it)"
    expected = read_alpha(golden)
    got = golden_output(name)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 2e-3, f"{name}: output changed (max diff {np.abs(got - expected).max():.4f})"


def test_corrupted_weights_are_refused(tmp_path):
    import json
    import shutil

    model = SHIPPED[0]
    shutil.copy(model.path, tmp_path / model.path.name)
    (tmp_path / f"{model.name}.json").write_text(json.dumps({**json.loads(model.path.with_suffix(".json").read_text())}))
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
