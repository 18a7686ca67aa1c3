"""Tests of automatte.data.synth: determinism, exactness, per-type alpha classes, dataset layout."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from automatte.data.synth import (
    CATEGORIES,
    IMAGE_TYPES,
    Sample,
    contact_sheet,
    synthesize_dataset,
    synthesize_sample,
    trimap_kernel,
)
from automatte.io import read_alpha, read_image, read_trimap
from automatte.ops.composition import composite

ALL_CATEGORIES = [(kind, cat) for kind in IMAGE_TYPES for cat in CATEGORIES[kind]]
FOLDERS = ("image", "alpha", "fg", "bg", "trimap")


def _on_grid(array: np.ndarray) -> bool:
    return bool(np.all(np.abs(array * 255 - np.round(array * 255)) < 1e-4))


def _assert_same(a: Sample, b: Sample) -> None:
    for field in ("image", "alpha", "fg", "bg", "trimap"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    assert (a.type, a.category) == (b.type, b.category)


# ------------------------------------------------------------------------------------------------ samples


@pytest.mark.parametrize("kind", ["so", "STM", "Ns"])
def test_sample_contract(kind):
    s = synthesize_sample(3, kind, size=64)
    assert s.type == kind.upper() and s.category in CATEGORIES[s.type]
    assert s.image.shape == s.fg.shape == s.bg.shape == (64, 64, 3)
    assert s.alpha.shape == s.trimap.shape == (64, 64)
    for name in ("image", "alpha", "fg", "bg", "trimap"):
        array = getattr(s, name)
        assert array.dtype == np.float32, name
        assert array.min() >= 0.0 and array.max() <= 1.0, name
        if name != "trimap":
            assert _on_grid(array), f"{name} is not on the 8-bit grid"
    assert set(np.unique(s.trimap).tolist()) <= {0.0, 0.5, 1.0}


def test_composite_is_exact_in_memory():
    for kind in IMAGE_TYPES:
        s = synthesize_sample(7, kind, size=64)
        error = np.abs(s.image - composite(s.alpha, s.fg, s.bg))
        assert error.max() <= 0.5 / 255 + 1e-6, kind


def test_same_seed_same_sample_and_generator_equivalence():
    for kind in IMAGE_TYPES:
        _assert_same(synthesize_sample(11, kind, size=64), synthesize_sample(11, kind, size=64))
        _assert_same(synthesize_sample(11, kind, size=64), synthesize_sample(np.random.default_rng(11), kind, size=64))
    a, b = synthesize_sample(1, "so", size=64), synthesize_sample(2, "so", size=64)
    assert not np.array_equal(a.image, b.image)


def test_trimap_matches_alpha():
    s = synthesize_sample(0, "so", size=96)
    assert np.all(s.alpha[s.trimap == 1.0] == 1.0)
    assert np.all(s.alpha[s.trimap == 0.0] == 0.0)
    assert trimap_kernel(512) == 15 and trimap_kernel(1024) == 30 and trimap_kernel(64) == 3


def _hull_interior(alpha: np.ndarray) -> np.ndarray:
    """Pixels inside the convex hull of the non-zero alpha, away from its outline."""
    pts = cv2.findNonZero((alpha > 0).astype(np.uint8))
    hull = np.zeros(alpha.shape, np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(pts), 1)
    return cv2.erode(hull, np.ones((5, 5), np.uint8)).astype(bool)


@pytest.mark.parametrize("kind,category", ALL_CATEGORIES)
def test_each_category_has_its_class_of_alpha(kind, category):
    for seed in range(2):
        a = synthesize_sample(seed, kind, size=96, category=category).alpha
        opaque, soft = a >= 1.0, (a > 0) & (a < 1)
        if kind == "SO":  # an opaque body with a soft band around it
            assert opaque.mean() > 0.08, (category, seed, opaque.mean())
            assert soft.mean() > 0.02, (category, seed, soft.mean())
            band = cv2.dilate(opaque.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~opaque
            assert soft[band].mean() > 0.5, "the outline of the opaque body should be soft"
        elif kind == "STM":  # soft alpha inside the object, little or none at 1
            interior = _hull_interior(a)
            assert soft[interior].mean() > 0.3, (category, seed, soft[interior].mean())
            assert soft.sum() > 3 * opaque.sum(), (category, seed)
        else:  # soft alpha spread over a large part of the frame, (almost) nothing opaque
            assert opaque.mean() < 0.01, (category, seed, opaque.mean())
            present = a > 0.02
            assert present.mean() > 0.15, (category, seed, present.mean())
            ys, xs = np.nonzero(present)
            assert np.ptp(xs) > 0.8 * 96 and np.ptp(ys) > 0.5 * 96, (category, seed)


def test_forced_category_and_invalid_arguments():
    assert synthesize_sample(0, "stm", size=64, category="web").category == "web"
    with pytest.raises(ValueError, match="image_type"):
        synthesize_sample(0, "opaque", size=64)
    with pytest.raises(ValueError, match="category"):
        synthesize_sample(0, "so", size=64, category="glass")
    with pytest.raises(ValueError, match="size"):
        synthesize_sample(0, "so", size=8)
    with pytest.raises(ValueError, match="background"):
        synthesize_sample(0, "so", size=64, background=np.zeros((10, 10, 3), np.uint8))


def test_background_array_and_path(tmp_path):
    photo = np.zeros((50, 80, 3), np.float32)
    photo[..., 2] = 0.8  # a blue photo
    s = synthesize_sample(0, "ns", size=64, background=photo)
    assert np.allclose(s.bg.reshape(-1, 3).mean(0), [0, 0, 0.8], atol=0.03)
    path = tmp_path / "blue.png"
    cv2.imwrite(str(path), (photo[..., ::-1] * 255).astype(np.uint8))
    t = synthesize_sample(0, "ns", size=64, background=path)
    np.testing.assert_allclose(t.bg, s.bg, atol=1.5 / 255)


# ------------------------------------------------------------------------------------------------ datasets


def test_dataset_layout_and_rows(tmp_path):
    out = tmp_path / "synth"
    seen = []
    rows = synthesize_dataset(out, 4, size=64, seed=5, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [r["type"] for r in rows] == ["SO", "STM", "NS", "SO"]
    assert [r["name"][:8] for r in rows] == ["so_0000_", "stm_0001", "ns_0002_", "so_0003_"]
    for r in rows:
        assert r["name"].endswith("_" + r["category"]) and r["category"] in CATEGORIES[r["type"]]
        for folder in FOLDERS:
            assert Path(r[folder]) == out / folder / f"{r['name']}.png" and Path(r[folder]).is_file()
    with open(out / "meta.csv", newline="", encoding="utf-8") as f:
        text = f.read()
    assert text.splitlines()[0] == "name,type,category"
    assert list(csv.DictReader(text.splitlines())) == [{k: r[k] for k in ("name", "type", "category")} for r in rows]
    sheet = read_image(out / "contact.png")
    assert sheet.shape[0] > 64 and sheet.shape[1] > 3 * 64
    levels = np.unique(np.round(read_image(out / "trimap" / f"{rows[0]['name']}.png")[..., 0] * 255))
    assert set(levels.tolist()) <= {0.0, 128.0, 255.0}
    assert not list(out.rglob(".*")), "no temporary files are left behind"


def test_dataset_files_are_exact(tmp_path):
    rows = synthesize_dataset(tmp_path / "d", 3, size=64, seed=2)
    for i, r in enumerate(rows):
        image = read_image(r["image"])
        alpha = read_alpha(r["alpha"])[..., None]
        fg, bg = read_image(r["fg"]), read_image(r["bg"])
        assert np.abs(image - (alpha * fg + (1 - alpha) * bg)).max() <= 2 / 255
        # the files hold exactly the sample (the sample depends only on (seed, i))
        s = synthesize_sample(np.random.default_rng([2, i]), r["type"], size=64)
        np.testing.assert_array_equal(image, s.image)
        np.testing.assert_array_equal(alpha[..., 0], s.alpha)
        np.testing.assert_array_equal(read_trimap(r["trimap"]), s.trimap)


def test_dataset_determinism_and_prefix(tmp_path):
    synthesize_dataset(tmp_path / "a", 4, size=64, seed=9)
    synthesize_dataset(tmp_path / "b", 4, size=64, seed=9)
    synthesize_dataset(tmp_path / "c", 2, size=64, seed=9)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files_a) == 4 * len(FOLDERS) + 2
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    for rel in (p.relative_to(tmp_path / "c") for p in (tmp_path / "c" / "image").iterdir()):
        for folder in FOLDERS:
            name = Path(folder) / rel.name
            assert (tmp_path / "c" / name).read_bytes() == (tmp_path / "a" / name).read_bytes(), name
    other = synthesize_dataset(tmp_path / "d", 2, size=64, seed=10)
    assert (tmp_path / "d" / "image" / f"{other[0]['name']}.png").read_bytes() != (tmp_path / "c" / "image").joinpath(
        sorted(p.name for p in (tmp_path / "c" / "image").iterdir())[0]
    ).read_bytes()


def test_dataset_refuses_non_empty_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    synthesize_dataset(out, 1, size=64)  # an empty existing folder is fine
    before = (out / "alpha").iterdir().__next__().read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        synthesize_dataset(out, 1, size=64, seed=1)
    assert (out / "alpha").iterdir().__next__().read_bytes() == before
    rows = synthesize_dataset(out, 1, size=64, seed=1, overwrite=True)
    assert Path(rows[0]["image"]).is_file()
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError):
        synthesize_dataset(tmp_path / "file", 1, size=64)


def test_dataset_types_and_arguments(tmp_path):
    rows = synthesize_dataset(tmp_path / "ns", 2, types=("NS",), size=64)
    assert [r["type"] for r in rows] == ["NS", "NS"]
    assert synthesize_dataset(tmp_path / "empty", 0, size=64) == []
    assert (tmp_path / "empty" / "meta.csv").read_text() == "name,type,category\n"
    with pytest.raises(ValueError, match="image_type"):
        synthesize_dataset(tmp_path / "x", 1, types=("so", "glass"), size=64)
    with pytest.raises(ValueError, match="n must"):
        synthesize_dataset(tmp_path / "y", -1, size=64)


def test_dataset_with_a_backgrounds_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    colours = {"red": (0.8, 0.1, 0.1), "green": (0.1, 0.7, 0.2), "blue": (0.1, 0.2, 0.8)}
    for name, rgb in colours.items():
        photo = np.empty((48 + len(name), 80, 3), np.float32)
        photo[...] = rgb
        cv2.imwrite(str(folder / f"{name}.png"), np.round(photo[..., ::-1] * 255).astype(np.uint8))
    (folder / "notes.txt").write_text("not an image")
    rows = synthesize_dataset(tmp_path / "out", 3, size=64, seed=4, backgrounds=folder)
    for r in rows:
        mean = read_image(r["bg"]).reshape(-1, 3).mean(0)
        assert min(np.abs(mean - np.array(rgb)).max() for rgb in colours.values()) < 0.04, mean
    again = synthesize_dataset(tmp_path / "again", 3, size=64, seed=4, backgrounds=sorted(folder.glob("*.png")))
    assert [r["name"] for r in again] == [r["name"] for r in rows]
    (tmp_path / "none").mkdir()
    with pytest.raises(FileNotFoundError, match="no background images"):
        synthesize_dataset(tmp_path / "out2", 1, size=64, backgrounds=tmp_path / "none")


# ------------------------------------------------------------------------------------------------ contact sheets


def test_contact_sheet_inputs(tmp_path):
    samples = [synthesize_sample(i, kind, size=64) for i, kind in enumerate(IMAGE_TYPES)]
    sheet = contact_sheet(samples, thumb=32, columns=2)
    assert sheet.dtype == np.uint8 and sheet.ndim == 3 and sheet.shape[2] == 3
    assert sheet.shape[1] >= 2 * 3 * 32 and sheet.shape[0] >= 2 * 32
    rows = synthesize_dataset(tmp_path / "d", 2, size=64)
    from_folder = contact_sheet(tmp_path / "d", thumb=32)
    from_rows = contact_sheet(rows, thumb=32)
    from_paths = contact_sheet([r["image"] for r in rows], thumb=32)
    np.testing.assert_array_equal(from_folder, from_rows)
    np.testing.assert_array_equal(from_folder, from_paths)
    with pytest.raises(ValueError, match="labels"):
        contact_sheet(samples, labels=["one"])


@pytest.mark.data
def test_real_backgrounds(tmp_path, shared_data):
    rows = synthesize_dataset(
        tmp_path / "real", 3, size=128, seed=0, backgrounds=shared_data / "backgrounds" / "bsds200"
    )
    for r in rows:
        image, alpha = read_image(r["image"]), read_alpha(r["alpha"])[..., None]
        fg, bg = read_image(r["fg"]), read_image(r["bg"])
        assert np.abs(image - (alpha * fg + (1 - alpha) * bg)).max() <= 2 / 255
