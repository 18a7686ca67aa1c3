"""``automatte predict --engine ray``: the plan (resume, mirrored folders, lists of URIs), the actor's outputs (the
bytes ``automatte predict`` writes), and, on a local Ray of 2 CPUs (slow), the whole run and its resumption."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from automatte.cli import main
from automatte.infer.ray_engine import MANIFEST, MatteWorker, list_sources, plan_jobs, write_bytes
from automatte.io import read_image, write_image

ROOT = Path(__file__).resolve().parents[1]


def _photos(folder: Path, n: int = 3) -> list[Path]:
    """``n`` small photos (the examples at 96 px long side) in ``folder``, one in a sub-folder."""
    paths = []
    for i, src in enumerate(sorted((ROOT / "examples").glob("*.jpg"))[:n]):
        img = read_image(src)
        s = 96 / max(img.shape[:2])
        small = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
        path = folder / ("sub" if i == 0 else "") / f"{src.stem}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_image(path, (small * 255).round().astype(np.uint8))
        paths.append(path)
    return paths


def test_plan_mirrors_folders_reads_lists_and_skips_finished_photos(tmp_path):
    photos = _photos(tmp_path / "in")
    dest = tmp_path / "out"
    jobs, skipped, failures = plan_jobs([str(tmp_path / "in")], str(dest), ["alpha", "rgba"])
    assert (len(jobs), skipped, failures) == (3, 0, [])
    by_stem = {Path(j.source).stem: j for j in jobs}
    first = photos[0].stem
    assert by_stem[first].targets["alpha"] == f"{dest}/sub/{first}_alpha.png"  # the sub-folder is mirrored
    # a finished photo (both outputs) is skipped; one with a single output is redone
    for kind in ("alpha", "rgba"):
        write_bytes(by_stem[first].targets[kind], b"done")
    write_bytes(by_stem[photos[1].stem].targets["alpha"], b"half")
    jobs, skipped, _ = plan_jobs([str(tmp_path / "in")], str(dest), ["alpha", "rgba"])
    assert skipped == 1 and sorted(Path(j.source).stem for j in jobs) == sorted(p.stem for p in photos[1:])
    assert len(plan_jobs([str(tmp_path / "in")], str(dest), ["alpha", "rgba"], overwrite=True)[0]) == 3
    # a .txt list of paths / URIs (comments and blank lines skipped); a missing source is reported
    listing = tmp_path / "list.txt"
    listing.write_text(f"# photos\n{photos[1]}\n\nfile://{photos[2]}\n", encoding="utf-8")
    found, missing = list_sources([str(listing), str(tmp_path / "nope")])
    assert [f for f, _ in found] == [str(photos[1]), f"file://{photos[2]}"]
    assert missing == [f"{tmp_path / 'nope'}: no such file or folder"]
    # two photos with the same output: the second is a failure, not an overwrite
    write_image(tmp_path / "in" / f"{photos[1].stem}.jpg", np.zeros((8, 8, 3), np.uint8))
    _, _, failures = plan_jobs([str(tmp_path / "in")], str(tmp_path / "out2"), ["alpha"])
    assert len(failures) == 1 and "is also the output of" in failures[0]


def test_worker_writes_the_bytes_predict_writes(tmp_path):
    photo = _photos(tmp_path / "in", 1)[0]
    bad = tmp_path / "in" / "broken.png"
    bad.write_bytes(b"not an image")
    assert main([str(photo), "-o", str(tmp_path / "local"), "--save", "alpha,rgba", "-q"]) == 0
    worker = MatteWorker()
    targets = {k: str(tmp_path / "ray" / f"{photo.stem}_{k}.png") for k in ("alpha", "rgba")}
    answer = worker({"source": np.array([str(photo), str(bad)]),
                     "targets": np.array([json.dumps(targets), json.dumps({"alpha": str(tmp_path / "ray" / "b.png")})])})  # fmt: skip
    assert answer["error"][0] == ""
    assert str(bad) in answer["error"][1] and not (tmp_path / "ray" / "b.png").exists()
    for kind in ("alpha", "rgba"):
        name = f"{photo.stem}_{kind}.png"
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    assert not [p for p in (tmp_path / "ray").iterdir() if p.name.startswith(".")]  # no temporary file left


@pytest.mark.slow
def test_ray_run_matches_local_predict_and_resumes(tmp_path):
    pytest.importorskip("ray")
    photos = _photos(tmp_path / "in")
    (tmp_path / "in" / "broken.png").write_bytes(b"not an image")
    dest = tmp_path / "ray"
    argv = [str(tmp_path / "in"), "-o", str(dest), "--engine", "ray", "--workers", "2", "--batch-size", "2", "-q"]
    assert main(argv) == 1  # the broken photo fails; the rest are written
    manifest = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
    assert (manifest["written"], manifest["skipped"], manifest["failed"]) == (3, 0, 1)
    assert "broken.png" in manifest["failures"][0]["error"]
    for photo in photos:
        rel = photo.parent.relative_to(tmp_path / "in")
        assert main([str(photo), "-o", str(tmp_path / "local" / rel), "-q"]) == 0
        for kind in ("alpha", "rgba"):
            name = f"{photo.stem}_{kind}.png"
            assert (dest / rel / name).read_bytes() == (tmp_path / "local" / rel / name).read_bytes(), name
    # as after a crash: one photo's outputs are missing; a re-run redoes that one only
    (dest / f"{photos[1].stem}_rgba.png").unlink()
    kept = dest / f"{photos[2].stem}_alpha.png"
    stamp = kept.stat().st_mtime_ns
    assert main(argv) == 1
    manifest = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
    assert (manifest["written"], manifest["skipped"], manifest["failed"]) == (1, 2, 1)
    assert kept.stat().st_mtime_ns == stamp and (dest / f"{photos[1].stem}_rgba.png").is_file()
