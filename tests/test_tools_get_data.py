"""tools/get_data.py: DUTS (or any set in its layout) to the project's coarse-set folders, every file checked."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from automatte.data.datasets import coarse_pairs, read_mask

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("get_data", ROOT / "tools" / "get_data.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def _fake_duts(root: Path) -> Path:
    """A clone's layout: good pairs, a colour mask, a size mismatch, a broken photo, an empty mask, a lone photo."""
    rng = np.random.default_rng(0)
    for split, image_sub, mask_sub in (("DUTS-TR", "DUTS-TR-Image", "DUTS-TR-Mask"), ("DUTS-TE", "DUTS-TE-Image", "DUTS-TE-Mask")):  # fmt: skip
        images, masks = root / "data" / split / image_sub, root / "data" / split / mask_sub
        images.mkdir(parents=True)
        masks.mkdir(parents=True)
        for name in ("good", "colour", "mismatch", "broken", "empty", "lonely"):
            photo = (rng.random((24, 32, 3)) * 255).astype(np.uint8)
            Image.fromarray(photo).save(images / f"{name}.jpg", quality=90)
            mask = np.zeros((24, 32), np.uint8)
            mask[4:20, 8:24] = 255
            if name == "colour":
                rgb = np.zeros((24, 32, 3), np.uint8)
                rgb[4:20, 8:24] = (250, 0, 10)  # saved in colour: the object by its largest channel
                Image.fromarray(rgb).save(masks / f"{name}.png")
            elif name == "mismatch":
                Image.fromarray(mask[:20]).save(masks / f"{name}.png")
            elif name == "empty":
                Image.fromarray(np.zeros_like(mask)).save(masks / f"{name}.png")
            elif name != "lonely":
                Image.fromarray(mask).save(masks / f"{name}.png")
        (images / "broken.jpg").write_bytes(b"not a jpeg")
    return root


def _check(out: Path, name: str) -> dict:
    pairs = coarse_pairs(out / "coarse" / name)
    assert sorted(pairs) == ["colour", "good"]
    for image_path, mask_path in pairs.values():
        mask = read_mask(mask_path, (24, 32))
        assert mask.sum() == 16 * 16 and Image.open(mask_path).mode == "L"
    record = json.loads((out / "coarse" / name / "SOURCE.json").read_text())
    assert record["pairs"] == 2 and "DUTS" in record["terms"]
    assert set(record["left_out"]) == {"mismatch", "broken", "empty", "lonely"}
    assert "does not decode" in record["left_out"]["broken"] and "no mask" in record["left_out"]["lonely"]
    return record


def test_get_data_from_a_clone_checks_every_file(tmp_path, capsys):
    source = _fake_duts(tmp_path / "clone")
    assert tool.main(["--source", str(source), "--out", str(tmp_path / "data"), "--jobs", "1"]) == 0
    for name in ("duts-tr", "duts-te"):
        _check(tmp_path / "data", name)
    assert "left out broken" in capsys.readouterr().err
    before = (tmp_path / "data/coarse/duts-tr/mask/good.png").stat().st_mtime_ns
    again = ["--source", str(source), "--out", str(tmp_path / "data"), "--sets", "duts-tr", "--jobs", "1"]
    assert tool.main(again) == 0
    assert (tmp_path / "data/coarse/duts-tr/mask/good.png").stat().st_mtime_ns == before  # kept, not rewritten


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_get_data_from_a_bare_git_directory_at_a_commit(tmp_path):
    work = _fake_duts(tmp_path / "work")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(work)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "duts"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(tmp_path / "bare")], check=True)
    out = tmp_path / "data"
    args = ["--source", str(tmp_path / "bare"), "--commit", commit, "--out", str(out), "--sets", "duts-te"]
    assert tool.main([*args, "--jobs", "1"]) == 0
    _check(out, "duts-te")
    assert not (out / "coarse" / "duts-tr").exists()


def test_get_data_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert tool.main(["--source", str(tmp_path / "empty"), "--out", str(tmp_path / "data")]) == 2
    assert "not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.main(["--source", str(tmp_path / "empty"), "--sets", "duts-xx"])
