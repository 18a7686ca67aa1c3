"""The `automatte` command end to end: synth -> baseline -> eval, and its error handling."""

from __future__ import annotations

import subprocess
import sys

from automatte.cli import main


def test_synth_baseline_eval_end_to_end(tmp_path, capsys):
    data, pred, report = tmp_path / "data", tmp_path / "pred", tmp_path / "report.md"
    assert main(["synth", str(data), "--n", "3", "--size", "64", "--seed", "1", "-q"]) == 0
    assert (data / "contact.png").is_file() and (data / "meta.csv").is_file()
    assert main(["baseline", str(data), str(pred), "--method", "cf", "-q"]) == 0
    assert len(list(pred.glob("*.png"))) == 3
    assert main(["eval", "--pred", str(pred), "--data", str(data), "--format", "md", "-o", str(report), "-q"]) == 0
    text = report.read_text()
    assert "SAD" in text and "Conn" in text
    out = capsys.readouterr().out
    assert "SAD" in out


def test_synth_refuses_to_overwrite(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["synth", str(data), "--n", "1", "--size", "32", "-q"]) == 0
    assert main(["synth", str(data), "--n", "1", "--size", "32", "-q"]) == 2
    err = capsys.readouterr().err
    assert str(data) in err and len(err.strip().splitlines()) == 1


def test_eval_on_missing_folder_is_one_line(tmp_path, capsys):
    (tmp_path / "pred").mkdir()
    assert main(["eval", "--pred", str(tmp_path / "pred"), "--data", str(tmp_path / "none"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "none" in err


def test_baseline_goes_on_past_a_bad_file(tmp_path, capsys):
    data, pred = tmp_path / "data", tmp_path / "pred"
    assert main(["synth", str(data), "--n", "3", "--size", "48", "-q"]) == 0
    bad = sorted((data / "image").iterdir())[0]
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    assert main(["baseline", str(data), str(pred), "-q"]) == 1
    assert len(list(pred.glob("*.png"))) == 2
    assert bad.name in capsys.readouterr().err


def test_console_script_entry_point():
    out = subprocess.run([sys.executable, "-m", "automatte.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "automatte" in out.stdout


def test_models_lists_families_with_parameter_counts(capsys):
    assert main(["models", "--params", "indexnet*"]) == 0
    out = capsys.readouterr().out
    assert "indexnet_free" in out and "5.95" in out and "ppid table 1" in out
    assert main(["models", "no_such_model*"]) == 2


def test_convert_tflite_missing_input_is_one_line(tmp_path, capsys):
    code = main(
        ["convert-tflite", str(tmp_path / "none.tflite"), str(tmp_path / "o.safetensors"), "--arch", "mobilenet_v2"]
    )
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "none.tflite" in err
