"""The public benchmark readers, each on a tiny folder in its authors' layout, and their one-line layout errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from automatte.data.benchmarks import (
    COMPOSITION1K_BGS_PER_FG,
    compose_composition1k,
    detect_benchmark,
    read_aim500,
    read_alphamatting,
    read_am2k,
    read_benchmark,
    read_p3m500,
    read_ppm100,
)
from automatte.evaluation.folder import open_dataset
from automatte.io import read_alpha, read_image, write_alpha, write_image


def _samples(images: Path, alphas: Path, names, trimaps: Path | None = None, ext: str = ".jpg") -> None:
    rng = np.random.default_rng(1)
    for name in names:
        alpha = np.zeros((16, 20), np.float32)
        alpha[4:12, 5:15] = 1
        write_image(images / f"{name}{ext}", rng.random((16, 20, 3)))
        write_alpha(alphas / f"{name}.png", alpha)
        if trimaps is not None:
            write_alpha(trimaps / f"{name}.png", np.where(alpha > 0, 1.0, 0.0))


def _layout_error(fn, root, *args, match):
    with pytest.raises(FileNotFoundError) as info:
        fn(root, *args)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(root)) and match in message
    return message


def test_aim500_types_categories_and_usr(tmp_path):
    root = tmp_path / "AIM-500"
    _samples(root / "original", root / "mask", ["a", "b", "c"], root / "trimap")
    write_alpha(root / "usr" / "a.png", np.zeros((16, 20)))
    write_image(root / "original" / "orphan.jpg", np.zeros((4, 4, 3)))
    table = {"a": {"type": "SO", "category": "animal"}, "b": {"type": "stm", "category": "transparent"},
             "c": {"type": "XX", "category": "portrait"}}  # fmt: skip
    (root / "aim_category_type.json").write_text(json.dumps(table))
    data = read_aim500(root)
    assert data.names == ["a", "b", "c"] and set(data.trimaps) == {"a", "b", "c"}
    assert data.meta["a"] == ("SO", "animal") and data.meta["b"] == ("STM", "transparent")
    assert data.extras["usr"]["a"].name == "a.png"
    assert any("orphan" in p for p in data.problems) and any("'XX'" in p for p in data.problems)
    assert detect_benchmark(root) == "aim500" and open_dataset(root).name == "aim500"


def test_aim500_under_validation_and_errors(tmp_path):
    root = tmp_path / "aim"
    _samples(root / "validation" / "original", root / "validation" / "mask", ["x"])
    (root / "aim_category_type.json").write_text(json.dumps({"x": {"type": "NS", "category": "plant"}}))
    assert read_aim500(root).meta == {"x": ("NS", "plant")}
    (root / "aim_category_type.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"aim_category_type.json: not readable JSON"):
        read_aim500(root)
    _layout_error(read_aim500, tmp_path / "empty", match="not AIM-500 in its authors' layout (expected original/")
    (tmp_path / "nojson" / "original").mkdir(parents=True)
    _samples(tmp_path / "nojson" / "original", tmp_path / "nojson" / "mask", ["y"])
    assert any("no aim_category_type.json" in p for p in read_aim500(tmp_path / "nojson").problems)


def test_am2k_validation_layout(tmp_path):
    root = tmp_path / "AM-2k"
    v = root / "validation"
    _samples(v / "original", v / "mask", ["m_1", "m_2"], v / "trimap")
    data = read_am2k(root)
    assert data.name == "am2k" and data.names == ["m_1", "m_2"] and set(data.trimaps) == {"m_1", "m_2"}
    assert read_benchmark("am2k", v).names == ["m_1", "m_2"]  # the validation folder itself
    _layout_error(read_am2k, tmp_path, match="expected validation/original/*.jpg and validation/mask/*.png")


def test_p3m500_blurred_and_original(tmp_path):
    root = tmp_path / "P3M-10k"
    p, np_ = root / "validation" / "P3M-500-P", root / "validation" / "P3M-500-NP"
    _samples(p / "blurred_image", p / "mask", ["p_1"], p / "trimap")
    write_alpha(p / "facemask" / "p_1.png", np.zeros((16, 20)))
    _samples(np_ / "original_image", np_ / "mask", ["np_1", "np_2"], np_ / "trimap")
    blurred, original = read_p3m500(root, "P"), read_p3m500(root, "NP")
    assert blurred.names == ["p_1"] and blurred.images["p_1"].parent.name == "blurred_image"
    assert "facemask" in blurred.extras and original.names == ["np_1", "np_2"]
    assert read_benchmark("p3m500-np", np_).names == ["np_1", "np_2"]
    _layout_error(read_p3m500, tmp_path / "x", "NP", match="not P3M-500-NP in its authors' layout")
    with pytest.raises(ValueError, match="'P' or 'NP'"):
        read_p3m500(root, "Q")


def test_ppm100_image_and_matte(tmp_path):
    root = tmp_path / "PPM-100"
    _samples(root / "image", root / "matte", ["1", "2"])
    data = read_ppm100(root)
    assert data.names == ["1", "2"] and not data.trimaps and detect_benchmark(root) == "ppm100"
    _layout_error(read_ppm100, tmp_path, match="expected image/*.jpg and matte/*.png")


def test_alphamatting_training_and_test(tmp_path):
    root = tmp_path / "alphamatting"
    _samples(root / "input_training_lowres", root / "gt_training_lowres", ["GT01"], ext=".png")
    _samples(root / "input_lowres", tmp_path / "unused", ["doll"], ext=".png")
    for split, name in (("training", "GT01"), ("test", "doll")):
        infix = "_training" if split == "training" else ""
        for k in (1, 2):
            write_alpha(root / f"trimap{infix}_lowres" / f"Trimap{k}" / f"{name}.png", np.full((16, 20), 0.5))
    training = read_alphamatting(root, trimap=2)
    assert training.names == ["GT01"] and training.trimaps["GT01"].parent.name == "Trimap2"
    test = read_alphamatting(root, split="test")
    assert test.names == [] and list(test.images) == ["doll"] and "no public ground truth" in test.problems[-1]
    _layout_error(lambda r: read_alphamatting(r, trimap=3), root, match="trimap_training_lowres/Trimap3/")


def test_read_benchmark_unknown_name():
    with pytest.raises(ValueError, match="unknown benchmark 'x'; expected one of aim500"):
        read_benchmark("x", ".")


def _dim_reference(fg: np.ndarray, bg: np.ndarray, a: np.ndarray) -> np.ndarray:
    """DIM's Composition_code loop, pixel by pixel (the rule the vectorised compositor must match)."""
    out = bg.copy()
    for y in range(a.shape[0]):
        for x in range(a.shape[1]):
            alpha = a[y, x] / 255
            if alpha >= 1:
                out[y, x] = fg[y, x]
            elif alpha > 0:
                out[y, x] = [int(alpha * fg[y, x, c] + (1 - alpha) * bg[y, x, c]) for c in range(3)]
    return out


def test_composition1k_follows_dim_rules(tmp_path):
    root = tmp_path / "Combined_Dataset"
    lic = root / "Test_set" / "Adobe-licensed images"
    rng = np.random.default_rng(3)
    fgs = {"f1.png": (12, 10), "f2.png": (8, 14)}
    for folder in ("fg", "alpha", "trimaps"):
        (lic / folder).mkdir(parents=True)
    for name, (h, w) in fgs.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(lic / "fg" / name)
        a = rng.integers(0, 256, (h, w), dtype=np.uint8)
        a[0, :3] = (0, 255, 128)
        Image.fromarray(a).save(lic / "alpha" / name)
    Image.fromarray(np.full((12, 10), 128, np.uint8)).save(lic / "trimaps" / "f1.png")
    bgs = tmp_path / "voc"
    bgs.mkdir()
    bg_names = []
    for k in range(2 * COMPOSITION1K_BGS_PER_FG):
        size = (6, 5) if k == 0 else (20, 30)  # the first is smaller than f1: enlarged bicubically
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(bgs / f"bg{k}.jpg", quality=95)
        bg_names.append(f"bg{k}.jpg")
    (root / "Test_set" / "test_fg_names.txt").write_text("f1.png\nf2.png\n")
    (root / "Test_set" / "test_bg_names.txt").write_text("\n".join(bg_names) + "\n")

    out = compose_composition1k(root, bgs, tmp_path / "comp1k")
    names = sorted(p.stem for p in (out / "image").iterdir())
    assert len(names) == 40 and "f1_0" in names and "f2_19" in names
    for name, k in (("f1", 0), ("f1", 7), ("f2", 3)):
        fg = np.asarray(Image.open(lic / "fg" / f"{name}.png"))
        a = np.asarray(Image.open(lic / "alpha" / f"{name}.png"))
        index = (0 if name == "f1" else COMPOSITION1K_BGS_PER_FG) + k
        bg = Image.open(bgs / bg_names[index]).convert("RGB")
        h, w = a.shape
        ratio = max(w / bg.width, h / bg.height)
        if ratio > 1:
            bg = bg.resize((int(np.ceil(bg.width * ratio)), int(np.ceil(bg.height * ratio))), Image.BICUBIC)
        expected = _dim_reference(fg, np.asarray(bg)[:h, :w].copy(), a)
        got = np.round(read_image(out / "image" / f"{name}_{k}.png") * 255).astype(np.uint8)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(np.round(read_alpha(out / "alpha" / f"{name}_{k}.png") * 255), a)
    assert (out / "trimap" / "f1_5.png").is_file() and not (out / "trimap" / "f2_0.png").exists()
    with pytest.raises(FileExistsError, match="comp1k: exists and is not empty"):
        compose_composition1k(root, bgs, tmp_path / "comp1k")
    (root / "Test_set" / "test_bg_names.txt").write_text("bg0.jpg\n")
    with pytest.raises(ValueError, match="1 backgrounds for 2 foregrounds; expected 20 per foreground"):
        compose_composition1k(root, bgs, tmp_path / "other")
    _layout_error(compose_composition1k, tmp_path, bgs, tmp_path / "o", match="not Composition-1k")
