"""benchmarks/duts_probe.py (issue 27): the quick DUTS-TE probe reads a checkpoint or a pipeline on a tiny made-up
DUTS tree, prints one line of figures, and a missing DUTS-TE is a one-line error."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def probe():
    sys.path.insert(0, str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location("duts_probe", REPO / "benchmarks" / "duts_probe.py")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(REPO / "benchmarks"))


@pytest.fixture
def duts(tmp_path) -> Path:
    from automatte.io import write_image

    for i in range(4):
        image = np.full((96, 128, 3), 0.2, np.float32)
        mask = np.zeros((96, 128), np.float32)
        image[18 + i : 78, 24:104] = 0.9
        mask[18 + i : 78, 24:104] = 1
        write_image(tmp_path / "image" / f"p{i}.jpg", image)
        write_image(tmp_path / "mask" / f"p{i}.png", mask)
    return tmp_path


def test_raw_probe_prints_the_figures_of_a_checkpoint(probe, duts, tmp_path, capsys):
    from automatte.registry import create_model

    path = tmp_path / "seg.pt"
    net = create_model("deeplabv3plus_mnv2_test")
    torch.save({"format": "automatte-train/1", "model_name": "deeplabv3plus_mnv2_test", "model": net.state_dict()},
               path)  # fmt: skip
    assert probe.main(["--raw", str(path), "--n", "3", "--side", "96", "--duts", str(duts)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{path}, first 3 of DUTS-TE's quick subset: IoU ")
    assert "BF " in line and "MAE " in line


def test_pipeline_probe_measures_the_edge_offset(probe, duts, monkeypatch, capsys):
    class Fat:  # a stand-in pipeline: the mask of the bright square grown by 2 px
        def __call__(self, image):
            bright = (image.mean(axis=2) > 0.5).astype(np.float32)
            grown = torch.nn.functional.max_pool2d(torch.from_numpy(bright)[None, None], 5, 1, 2)[0, 0].numpy()
            return type("R", (), {"alpha": grown})()

    monkeypatch.setattr(probe, "_pipeline", lambda spec: Fat())
    assert probe.main(["--model", "fat", "--n", "4", "--duts", str(duts)]) == 0
    line = capsys.readouterr().out
    offset = float(line.split("offset (found) ")[1].split(",")[0])
    assert 1.5 < offset < 2.5  # 2 px too fat, read as such


def test_missing_duts_is_a_one_line_error(probe, tmp_path, capsys):
    assert probe.main(["--model", "new", "--duts", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nowhere" in err and "get_data.py" in err
