"""`automatte predict` / `automatte IMAGE` / `automatte export`: inputs, outputs, failures, overwrite, stdin/stdout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from PIL import Image

from automatte.cli import main

MODEL = ["--model", "indexnet_free_test", "--foreground", "blur_fusion", "-q"]


@pytest.fixture(autouse=True)
def _quiet_untrained_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def _photo(path, seed=0, size=(64, 80)):
    rng = np.random.default_rng(seed)
    Image.fromarray((rng.random((*size, 3)) * 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(18):
        _photo(src / f"img{i:02d}.png", i, (48 + 4 * (i % 3), 64))
    (src / "broken.jpg").write_bytes(b"this is not a jpeg")
    (src / "truncated.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    return src


def test_folder_with_corrupt_files(folder, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["predict", str(folder), "-o", str(out), "--save", "alpha,rgba,composite", *MODEL])
    err = capsys.readouterr().err
    assert code == 1
    assert "2 failed" in err and "broken.jpg" in err and "truncated.png" in err
    assert len(list(out.glob("*_alpha.png"))) == 18
    assert len(list(out.glob("*_rgba.png"))) == 18 and len(list(out.glob("*_composite.png"))) == 18
    rgba = np.asarray(Image.open(out / "img00_rgba.png"))
    assert rgba.shape == (48, 64, 4)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_batch_size_gives_the_same_mattes(folder, tmp_path):
    import torch

    a, b = tmp_path / "a", tmp_path / "b"
    torch.manual_seed(0)  # the untrained test network is initialised at random on each load
    main(["predict", str(folder), "-o", str(a), "--save", "alpha", *MODEL])
    torch.manual_seed(0)
    main(["predict", str(folder), "-o", str(b), "--save", "alpha", "--batch-size", "4", *MODEL])
    for p in sorted(a.glob("*.png")):
        diff = np.abs(np.asarray(Image.open(p), np.int16) - np.asarray(Image.open(b / p.name), np.int16))
        assert diff.max() <= 1, p.name


def test_workers_give_the_same_files_and_report(folder, tmp_path, capsys):
    """Photos matted side by side (threads) write what one at a time writes, and report failures in input order."""
    import torch

    reports = {}
    for workers in ("1", "3"):
        torch.manual_seed(0)
        out = tmp_path / f"w{workers}"
        assert main(["predict", str(folder), "-o", str(out), "--save", "alpha", "--workers", workers, *MODEL]) == 1
        reports[workers] = capsys.readouterr().err.replace(str(out), "OUT")  # the report names its folder
    assert reports["1"] == reports["3"] and "2 failed" in reports["3"]
    names = sorted(p.name for p in (tmp_path / "w1").glob("*.png"))
    assert len(names) == 18 and names == sorted(p.name for p in (tmp_path / "w3").glob("*.png"))
    for name in names:
        a, b = (np.asarray(Image.open(tmp_path / w / name), np.int16) for w in ("w1", "w3"))
        assert np.abs(a - b).max() <= 1, name
    assert main(["predict", str(folder), "-o", str(tmp_path / "w0"), "--workers", "0", *MODEL]) == 2
    assert "--workers must be >= 1" in capsys.readouterr().err


def test_never_overwrites_without_flag(tmp_path, capsys):
    src = _photo(tmp_path / "photo.png")
    out = tmp_path / "out"
    assert main(["predict", str(src), "-o", str(out), *MODEL]) == 0
    before = (out / "photo_alpha.png").stat().st_mtime_ns
    assert main(["predict", str(src), "-o", str(out), *MODEL]) == 1
    assert "exists (use --overwrite)" in capsys.readouterr().err
    assert (out / "photo_alpha.png").stat().st_mtime_ns == before
    assert main(["predict", str(src), "-o", str(out), "--overwrite", *MODEL]) == 0


def test_default_command_writes_next_to_the_input(tmp_path):
    src = _photo(tmp_path / "cat.png")
    data = src.read_bytes()
    assert main([str(src), *MODEL]) == 0  # `automatte photo.png` = predict
    assert (tmp_path / "cat_rgba.png").is_file() and (tmp_path / "cat_alpha.png").is_file()
    assert src.read_bytes() == data  # the input is untouched


def test_globs_recursive_and_missing(tmp_path, capsys):
    (tmp_path / "a" / "b").mkdir(parents=True)
    _photo(tmp_path / "a" / "one.png")
    _photo(tmp_path / "a" / "b" / "two.png", 1)
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "a"), "-o", str(out), "--recursive", "--save", "alpha", *MODEL]) == 0
    assert (out / "one_alpha.png").is_file() and (out / "b" / "two_alpha.png").is_file()  # sub-folders mirrored
    assert main(["predict", str(tmp_path / "a" / "*.png"), "-o", str(tmp_path / "g"), "--save", "alpha", *MODEL]) == 0
    assert [p.name for p in (tmp_path / "g").iterdir()] == ["one_alpha.png"]
    assert main(["predict", str(tmp_path / "nope.png"), "-o", str(out), *MODEL]) == 1
    assert "nope.png: no such file" in capsys.readouterr().err


def test_trimap_folder_and_trimap_output(tmp_path, capsys):
    src, tri_dir, out = tmp_path / "in", tmp_path / "tri", tmp_path / "out"
    src.mkdir(), tri_dir.mkdir()
    _photo(src / "x.png", 0, (40, 50))
    _photo(src / "y.png", 1, (40, 50))
    tri = np.zeros((40, 50), np.uint8)
    tri[10:30, 10:40] = 128
    tri[15:25, 15:35] = 255
    Image.fromarray(tri).save(tri_dir / "x.png")
    code = main(
        ["predict", str(src), "-o", str(out), "--trimap", str(tri_dir), "--model", "cf", "--save", "alpha,trimap", "-q"]
    )
    assert code == 1 and "y.png: no trimap named y.png" in capsys.readouterr().err
    alpha = np.asarray(Image.open(out / "x_alpha.png"))
    assert (alpha[tri == 255] == 255).all() and (alpha[tri == 0] == 0).all()
    np.testing.assert_array_equal(np.asarray(Image.open(out / "x_trimap.png")), np.where(tri == 128, 128, tri))


def test_stdin_to_stdout(tmp_path):
    src = _photo(tmp_path / "p.png")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, "-m", "automatte.cli", "predict", "-", "-o", "-", "--save", "alpha", *MODEL],
        input=src.read_bytes(),
        capture_output=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    (tmp_path / "o.png").write_bytes(proc.stdout)
    assert np.asarray(Image.open(tmp_path / "o.png")).shape == (64, 80)


def test_bad_options(tmp_path, capsys):
    src = _photo(tmp_path / "p.png")
    assert main(["predict", str(src), "--save", "alpha,bogus", *MODEL]) == 2
    assert "unknown kind bogus" in capsys.readouterr().err
    other = _photo(tmp_path / "q.png", 1)
    assert main(["predict", str(src), str(other), "-o", "-", *MODEL]) == 2
    assert "exactly one image" in capsys.readouterr().err


def test_killed_run_leaves_only_complete_files(folder, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "automatte.cli",
            "predict",
            str(folder),
            "-o",
            str(out),
            "--save",
            "alpha,rgba,fg,composite",
            *MODEL,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240

    def visible():  # a SIGKILL can leave a hidden .NAME.*.tmp.png, never a partial NAME.png
        return [p for p in out.glob("*.png") if not p.name.startswith(".")] if out.is_dir() else []

    while time.time() < deadline and len(visible()) < 8:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = visible()
    assert written, "nothing was written before the kill"
    for path in written:  # every visible file decodes completely
        with Image.open(path) as im:
            im.load()


def test_export_command(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    target = tmp_path / "m.onnx"
    assert main(["export", "dim_free_test", "--onnx", str(target), "--height", "64", "--width", "64"]) == 0
    out = capsys.readouterr().out
    assert target.is_file() and "max |diff|" in out
    from automatte.shipped import default_model_name

    if default_model_name("segmenter") is None:  # "cf" alone has no network; with a segmenter it exports that
        assert main(["export", "cf", "--onnx", str(tmp_path / "x.onnx")]) == 2
