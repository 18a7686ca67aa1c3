"""benchmarks/default_models.py (issue 10): the held-out cutout composites land only on the background folders
``--cutout-backgrounds`` names, and a missing folder is a one-line error (on a tiny made-up shared tree)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

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


@pytest.fixture
def shared(tmp_path) -> Path:
    cutouts = tmp_path / "cutouts" / "tuxpaint"
    cutouts.mkdir(parents=True)
    rgba = np.zeros((48, 48, 4), np.uint8)
    rgba[12:36, 12:36] = (40, 200, 40, 255)  # a green square, wholly opaque
    for i in range(20):  # 10 % held out by stem
        Image.fromarray(rgba).save(cutouts / f"object{i:02d}.png")
    for name, colour in (("reds", (220, 20, 20)), ("blues", (20, 20, 220))):
        folder = tmp_path / "backgrounds" / name
        folder.mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((80, 96, 3), colour, np.uint8)).save(folder / f"{name}{i}.jpg")
    return tmp_path


class _Recorder:
    """A stand-in pipeline: remembers the mean colour of each image's border, answers alpha 0."""

    def __init__(self):
        self.borders = []

    def __call__(self, image):
        border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
        self.borders.append(border.mean(axis=0))
        return SimpleNamespace(alpha=np.zeros(image.shape[:2], np.float32))


@pytest.mark.parametrize("pool,channel", [(("reds",), 0), (("blues",), 2)])
def test_cutouts_pasted_only_on_named_backgrounds(bench, shared, pool, channel):
    recorder = _Recorder()
    out = bench.cutout_metrics(recorder, shared, repeats=3, backgrounds=pool)
    assert out["n/cutouts"] == len(recorder.borders) > 0 and out["n/cutouts"] % 3 == 0
    for border in recorder.borders:
        assert border[channel] > 0.5 > border[2 - channel], border
    assert out["cutouts SAD"] > 0  # alpha 0 everywhere misses the whole square


def test_all_backgrounds_by_default(bench, shared):
    recorder = _Recorder()
    bench.cutout_metrics(recorder, shared, repeats=10)
    reddish = [b[0] > b[2] for b in recorder.borders]
    assert any(reddish) and not all(reddish)


def test_missing_background_folder_is_one_line_error(bench, shared, capsys):
    assert bench.main(["--shared", str(shared), "--cutout-backgrounds", "reds,nowhere", "--model", "old"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("nowhere: background folder not found") and "\n" not in err


def test_bokeh_defocuses_the_backgrounds_and_names_its_figures(bench, shared):
    folder = shared / "backgrounds" / "checks"
    folder.mkdir(parents=True)
    checks = (np.indices((80, 96)).sum(axis=0) % 2 * 255).astype(np.uint8)  # 1-px squares (5 px at 512)
    Image.fromarray(np.stack([checks] * 3, axis=-1)).save(folder / "checks.png")
    spread = {}
    for bokeh in (False, True):
        seen = []

        def pipeline(image, seen=seen):
            seen.append(float(image[:8].std()))  # the top rows: background only
            return SimpleNamespace(alpha=np.zeros(image.shape[:2], np.float32))

        out = bench.cutout_metrics(pipeline, shared, repeats=2, backgrounds=("checks",), bokeh=bokeh)
        assert ("cutouts bokeh SAD" in out) == bokeh and ("cutouts SAD" in out) != bokeh
        spread[bokeh] = np.mean(seen)
    assert spread[True] < 0.5 * spread[False]  # the squares blurred away


@pytest.fixture
def duts(tmp_path) -> Path:
    """A DUTS-TE-shaped coarse set: 9 discs and one thin cross (the thin-structure subset's 10 %)."""
    root = tmp_path / "duts-te"
    (root / "image").mkdir(parents=True)
    (root / "mask").mkdir()
    yy, xx = np.mgrid[0:40, 0:40]
    for i in range(10):
        mask = ((yy - 20) ** 2 + (xx - 20) ** 2 <= (8 + i % 5) ** 2).astype(np.uint8) * 255
        if i == 7:
            mask[:] = 0
            mask[19:21, 4:36] = mask[4:36, 19:21] = 255  # a 2-px cross: much boundary for its area
        Image.fromarray(np.dstack([mask] * 3)).save(root / "image" / f"p{i:02d}.png")
        Image.fromarray(mask).save(root / "mask" / f"p{i:02d}.png")
    return root


def test_thin_subset_is_the_most_boundary_per_root_area(bench, duts):
    assert bench.thin_names(duts) == frozenset({"p07"})
    disc = np.zeros((64, 64))
    disc[(np.mgrid[0:64, 0:64] - 32).__pow__(2).sum(0) <= 400] = 1
    assert 3.0 < bench.thinness(disc) < 4.5 and bench.thinness(np.zeros((4, 4))) == 0.0


def test_duts_figures_shards_and_summary_agree(bench, duts, tmp_path):
    class Oracle:  # the mask itself for the discs, nothing for the cross
        def __call__(self, image):
            alpha = (np.asarray(image)[..., 0] > 0.5).astype(np.float32)
            return SimpleNamespace(alpha=alpha if alpha.sum() > 150 else np.zeros_like(alpha))

    rows: list = []
    whole = bench.duts_metrics(Oracle(), duts, None, per_image=rows)
    assert whole["n/duts-te"] == 10 and whole["n/duts-te thin"] == 1
    assert whole["IoU/duts-te thin"] == 0.0 and whole["IoU/duts-te"] == pytest.approx(9 / 10)
    halves = [bench.duts_metrics(Oracle(), duts, None, shard=(k, 2)) for k in (0, 1)]
    assert sum(h["n/duts-te"] for h in halves) == 10
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text(
        "model,set,photo,IoU,BF,MAE\n"
        + "".join(f"m,{s},{n},{a},{b},{c}\n" for s, n, a, b, c in rows)
        + "m,ccp,x,0,0,1\n"
    )
    summary = bench.summarise_csv([str(csv_path)], duts)["m"]
    assert summary["IoU/duts-te"] == pytest.approx(whole["IoU/duts-te"]) and summary["n/duts-te"] == 10
    assert bench.duts_names(duts, 5) == bench.duts_names(duts)[:5]
