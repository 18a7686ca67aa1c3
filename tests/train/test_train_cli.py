"""``automatte.train.cli_main``: the ``automatte train`` command."""

from __future__ import annotations

from train_helpers import CONFIGS

from automatte.train import cli_main
from automatte.train.checkpoint import load_checkpoint

SMOKE = str(CONFIGS / "tgn_tiny_alpha_synth_smoke.yaml")


def test_train_resume_and_stored_config(tmp_path, capsys):
    out = tmp_path / "run"
    quick = ["--set", "train.steps=2", "--set", "train.val_every=2", "--set", "data.val.0.kwargs.n=2", "--no-progress"]
    assert cli_main([SMOKE, *quick, "--out", str(out)]) == 0
    assert "2 steps; best SAD" in capsys.readouterr().out
    assert load_checkpoint(out / "last.pt")["config"]["train"]["out_dir"] == str(out)
    assert cli_main([SMOKE, *quick, "--out", str(out)]) == 2  # refuses to overwrite
    assert "pass --resume" in capsys.readouterr().err
    # continue with the run's own stored config, longer
    assert cli_main(["--resume", "--out", str(out), "--set", "train.steps=3", "--no-progress"]) == 0
    assert load_checkpoint(out / "last.pt")["step"] == 3


def test_user_errors_are_one_line(tmp_path, capsys):
    assert cli_main([str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml: config file not found" in capsys.readouterr().err
    assert cli_main([SMOKE, "--set", "train.steps=many", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("automatte train: error: --set train.steps=many: expected int") and err.count("\n") == 1
    assert cli_main([]) == 2
    assert "give a CONFIG.yaml" in capsys.readouterr().err
