"""Tests for automatte.io: every format and mode round-trips, every bad file is a one-line error naming it."""

from __future__ import annotations

import io
import os
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from automatte.io import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    ImageError,
    ImageNotFoundError,
    ImageWarning,
    atomic_write,
    list_images,
    read_alpha,
    read_image,
    read_trimap,
    write_alpha,
    write_image,
)


def gradient(height: int = 12, width: int = 16) -> np.ndarray:
    """A smooth (H, W, 3) uint8 RGB image with distinct channels (survives lossy codecs)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // (width - 1), y * 255 // (height - 1), np.full_like(x, 90)], axis=2).astype(np.uint8)


def assert_one_line(excinfo: pytest.ExceptionInfo, fragment: str) -> str:
    """The error message is one line and names the file."""
    message = str(excinfo.value)
    assert "\n" not in message, message
    assert fragment in message, message
    return message


# --------------------------------------------------------------------------------------------- listing


def test_list_images_filters_sorts_and_recurses(tmp_path):
    for name in ["b.PNG", "a.jpg", "c.webp", "notes.txt", ".hidden.png", "._a.jpg", "sub/d.tif", ".cache/e.png"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "folder.png").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG", "c.webp"]
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path, recursive=True)] == [
        "a.jpg",
        "b.PNG",
        "c.webp",
        "sub/d.tif",
    ]
    assert set(IMAGE_EXTENSIONS) == {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"}
    with pytest.raises(FileNotFoundError, match="missing"):
        list_images(tmp_path / "missing")
    with pytest.raises(NotADirectoryError):
        list_images(tmp_path / "a.jpg")


def test_animated_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (5, 4), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    image = read_image(tmp_path / "anim.gif")
    assert image.shape == (4, 5, 3) and image[..., 0].min() > 0.9 and image[..., 2].max() < 0.1


# --------------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("suffix", [".png", ".tif", ".bmp"])
def test_lossless_rgb_round_trip(tmp_path, suffix):
    rgb = gradient()
    path = write_image(tmp_path / f"x{suffix}", rgb)
    image = read_image(path)
    assert image.dtype == np.float32 and image.shape == (12, 16, 3) and image.flags.c_contiguous
    np.testing.assert_array_equal(np.round(image * 255).astype(np.uint8), rgb)


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg", ".webp"])
def test_lossy_rgb_round_trip(tmp_path, suffix):
    rgb = gradient(32, 32)
    image = read_image(write_image(tmp_path / f"x{suffix}", rgb, quality=95))
    assert image.shape == (32, 32, 3)
    assert np.abs(image - rgb / 255).mean() < 0.02


def test_grey_and_one_bit_become_rgb(tmp_path):
    grey = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5
    Image.fromarray(grey).save(tmp_path / "l.png")
    image = read_image(tmp_path / "l.png")
    assert image.shape == (6, 8, 3)
    np.testing.assert_array_equal(image[..., 0], image[..., 2])
    np.testing.assert_allclose(image[..., 1], grey / 255, atol=1e-7)
    Image.fromarray(grey > 100).save(tmp_path / "b.png")  # mode "1"
    np.testing.assert_array_equal(read_image(tmp_path / "b.png")[..., 0], (grey > 100).astype(np.float32))


def test_rgba_keeps_or_drops_alpha(tmp_path):
    rgba = np.dstack([gradient(), np.full((12, 16), 64, np.uint8)])
    path = write_image(tmp_path / "x.png", rgba)
    assert read_image(path).shape == (12, 16, 3)
    with_alpha = read_image(path, keep_alpha=True)
    np.testing.assert_allclose(with_alpha[..., 3], 64 / 255, atol=1e-7)
    np.testing.assert_allclose(with_alpha[..., :3], gradient() / 255, atol=1e-7)
    opaque = read_image(write_image(tmp_path / "rgb.png", gradient()), keep_alpha=True)
    assert opaque.shape == (12, 16, 4) and np.all(opaque[..., 3] == 1.0)
    write_image(tmp_path / "x.webp", rgba, quality=100)
    assert np.allclose(read_image(tmp_path / "x.webp", keep_alpha=True)[..., 3], 64 / 255, atol=2 / 255)


def test_grey_alpha_la(tmp_path):
    Image.fromarray(np.dstack([np.full((3, 4), 200, np.uint8), np.full((3, 4), 50, np.uint8)]), "LA").save(
        tmp_path / "la.png"
    )
    image = read_image(tmp_path / "la.png", keep_alpha=True)
    np.testing.assert_allclose(image[0, 0], [200 / 255, 200 / 255, 200 / 255, 50 / 255], atol=1e-7)


def test_palette_with_transparency(tmp_path):
    palette = Image.new("P", (4, 2))
    palette.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    palette.putdata([0, 1, 0, 1, 1, 1, 1, 1])
    palette.save(tmp_path / "p.png", transparency=0)
    image = read_image(tmp_path / "p.png", keep_alpha=True)
    np.testing.assert_array_equal(image[0, 0], [1, 0, 0, 0])  # index 0: red, transparent
    np.testing.assert_array_equal(image[1, 0], [0, 1, 0, 1])
    assert read_image(tmp_path / "p.png").shape == (2, 4, 3)


def test_cmyk_jpeg_converts_to_rgb(tmp_path):
    Image.new("RGB", (16, 16), (255, 0, 0)).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    assert Image.open(tmp_path / "c.jpg").mode == "CMYK"
    np.testing.assert_allclose(read_image(tmp_path / "c.jpg")[8, 8], [1, 0, 0], atol=0.03)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_sixteen_bit_grey_keeps_precision(tmp_path, suffix):
    grey = np.array([[0, 1000, 1001, 65535]], np.uint16)
    write_image(tmp_path / f"w{suffix}", grey, bits=16)
    Image.fromarray(grey).save(tmp_path / f"p{suffix}")  # Pillow's own I;16 writer
    for path in (tmp_path / f"w{suffix}", tmp_path / f"p{suffix}"):
        image = read_image(path)
        np.testing.assert_array_equal(np.round(image[..., 1] * 65535), grey)
        assert image[0, 1, 0] == np.float32(1000) / np.float32(65535)
        np.testing.assert_array_equal(np.round(read_alpha(path) * 65535), grey)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_sixteen_bit_rgb_keeps_precision_and_order(tmp_path, suffix):
    rgb = np.zeros((3, 5, 3), np.uint16)
    rgb[...] = [1000, 2000, 3000]
    rgb[0, 0] = [65535, 1, 0]
    path = write_image(tmp_path / f"x{suffix}", rgb, bits=16)
    image = read_image(path)
    np.testing.assert_array_equal(np.round(image * 65535).astype(np.uint16), rgb)
    rgba = np.dstack([rgb, np.full((3, 5), 500, np.uint16)])
    image = read_image(write_image(tmp_path / f"a{suffix}", rgba, bits=16), keep_alpha=True)
    np.testing.assert_array_equal(np.round(image * 65535).astype(np.uint16), rgba)


def test_bytes_and_file_objects(tmp_path):
    path = write_image(tmp_path / "x.png", gradient())
    expected = read_image(path)
    np.testing.assert_array_equal(read_image(path.read_bytes()), expected)
    np.testing.assert_array_equal(read_image(bytearray(path.read_bytes())), expected)
    np.testing.assert_array_equal(read_image(io.BytesIO(path.read_bytes())), expected)
    with open(path, "rb") as handle:
        np.testing.assert_array_equal(read_image(handle), expected)
    with pytest.raises(ImageError) as excinfo:
        read_image(b"not an image at all")
    assert_one_line(excinfo, "<bytes>")
    with pytest.raises(ImageError) as excinfo:
        read_image(io.BytesIO(b""), name="upload.png")
    assert_one_line(excinfo, "upload.png: empty file")
    with pytest.raises(TypeError):
        read_image(12)


def test_one_pixel_image(tmp_path):
    for suffix in (".png", ".jpg"):
        image = read_image(write_image(tmp_path / f"one{suffix}", np.array([[[255, 0, 0]]], np.uint8)))
        assert image.shape == (1, 1, 3)


# --------------------------------------------------------------------------------------------- orientation


def test_exif_orientation_6_rotates_jpeg(tmp_path):
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[:8, :8] = 255  # white block at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored rotated 90 degrees clockwise
    Image.fromarray(rgb).save(tmp_path / "o.jpg", exif=exif, quality=95)
    image = read_image(tmp_path / "o.jpg")
    assert image.shape == (40, 20, 3)
    assert image[2, 17].mean() > 0.9 and image[2, 2].mean() < 0.1  # the block is now top-right


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillow(tmp_path, orientation):
    rgb = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(rgb).save(tmp_path / "o.png", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.png")))
    np.testing.assert_array_equal(np.round(read_image(tmp_path / "o.png") * 255).astype(np.uint8), expected)
    grey16 = np.arange(35, dtype=np.uint16).reshape(5, 7) * 1000
    Image.fromarray(grey16).save(tmp_path / "g.png", exif=exif)
    expected16 = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "g.png"))).astype(np.uint16)
    np.testing.assert_array_equal(np.round(read_alpha(tmp_path / "g.png") * 65535).astype(np.uint16), expected16)


# --------------------------------------------------------------------------------------------- bad files


def _truncated_jpeg(path: Path) -> None:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path.with_suffix(".full.jpg"))
    data = path.with_suffix(".full.jpg").read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _truncated_png(path: Path) -> None:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path.with_suffix(".full.png"))
    data = path.with_suffix(".full.png").read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _truncated_png16(path: Path) -> None:
    rng = np.random.default_rng(0)
    ok, encoded = cv2.imencode(".png", rng.integers(0, 65536, (64, 64, 3), dtype=np.uint16))
    path.write_bytes(encoded.tobytes()[: encoded.size // 2])


BAD_FILES = {
    "half.jpg": (_truncated_jpeg, "truncated or corrupt image data"),
    "half.png": (_truncated_png, "truncated or corrupt image data"),
    "half16.png": (_truncated_png16, "truncated or corrupt image data"),
    "text.png": (lambda p: p.write_text("hello, I am not a picture\nsecond line\n"), "not a recognised image"),
    "pcx.png": (lambda p: Image.new("RGB", (4, 4)).save(p, format="PCX"), "not a recognised image"),
    "empty.png": (lambda p: p.write_bytes(b""), "empty file"),
    "folder.png": (lambda p: p.mkdir(), "is a directory"),
    "float.tif": (lambda p: Image.fromarray(np.zeros((4, 4), np.float32)).save(p), "unsupported"),
}


@pytest.mark.parametrize("reader", [read_image, read_alpha, read_trimap])
@pytest.mark.parametrize("filename", sorted(BAD_FILES))
def test_bad_files_raise_one_line_naming_the_file(tmp_path, filename, reader):
    make, problem = BAD_FILES[filename]
    path = tmp_path / filename
    make(path)
    with pytest.raises(ImageError) as excinfo:
        reader(path)
    assert problem in assert_one_line(excinfo, str(path))


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.png"
    with pytest.raises(FileNotFoundError) as excinfo:
        read_image(path)
    assert isinstance(excinfo.value, ImageNotFoundError) and isinstance(excinfo.value, ImageError)
    assert assert_one_line(excinfo, str(path)) == f"{path}: no such file"


def test_pixel_guard_rejects_before_decoding(tmp_path):
    path = write_image(tmp_path / "big.png", gradient(8, 10))
    assert read_image(path, max_pixels=80).shape == (8, 10, 3)
    with pytest.raises(ImageError) as excinfo:
        read_image(path, max_pixels=79)
    message = assert_one_line(excinfo, str(path))
    assert "has 10 x 8 = 80 pixels, over the limit of 79 (max_pixels)" in message
    # a header announcing 4000 x 4000 with no pixel data behind it: the guard fires, not the decoder
    header = (tmp_path / "big.png").read_bytes()[:33]
    header = header[:16] + (4000).to_bytes(4, "big") * 2 + header[24:29]
    header = header[:29] + zlib.crc32(header[12:29]).to_bytes(4, "big")
    (tmp_path / "huge.png").write_bytes(header + (1000).to_bytes(4, "big") + b"IDAT" + zlib.compress(b"\0" * 99)[:20])
    with pytest.raises(ImageError, match="4000 x 4000 = 16,000,000 pixels"):
        read_alpha(tmp_path / "huge.png", max_pixels=1_000_000)
    with pytest.raises(ImageError, match="truncated or corrupt"):
        read_image(tmp_path / "huge.png")
    assert 100_000_000 < DEFAULT_MAX_PIXELS < 200_000_000
    with pytest.raises(ValueError):
        read_image(path, max_pixels=0)


def test_pillow_bomb_limit_is_an_image_error_and_its_warning_silenced(tmp_path, monkeypatch):
    path = write_image(tmp_path / "x.png", gradient(8, 10))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)  # warns above 50, refuses above 100
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image(path).shape == (8, 10, 3)  # 80 pixels: Pillow would only warn
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 30)
    with pytest.raises(ImageError) as excinfo:
        read_image(path, max_pixels=None)
    assert "MAX_IMAGE_PIXELS" in assert_one_line(excinfo, str(path))


# --------------------------------------------------------------------------------------------- alpha


def test_read_alpha_grey_and_shape_check(tmp_path):
    alpha = np.linspace(0, 1, 20, dtype=np.float32).reshape(4, 5)
    path = write_alpha(tmp_path / "a.png", alpha)
    result = read_alpha(path, shape=(4, 5, 3))
    assert result.shape == (4, 5) and result.dtype == np.float32
    np.testing.assert_allclose(result, np.round(alpha * 255) / 255, atol=1e-7)
    with pytest.raises(ImageError) as excinfo:
        read_alpha(path, shape=(6, 8))
    assert assert_one_line(excinfo, str(path)).endswith("size 5x4 does not match the image 8x6")


def test_read_alpha_grey_in_rgb_and_opaque_rgba(tmp_path):
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    write_image(tmp_path / "rgb.png", np.dstack([grey] * 3))
    np.testing.assert_allclose(read_alpha(tmp_path / "rgb.png"), grey / 255, atol=1e-7)
    write_image(tmp_path / "rgba.png", np.dstack([grey] * 3 + [np.full_like(grey, 255)]))
    np.testing.assert_allclose(read_alpha(tmp_path / "rgba.png"), grey / 255, atol=1e-7)
    smooth = np.repeat(np.linspace(0, 255, 32).astype(np.uint8)[None], 32, axis=0)
    write_image(tmp_path / "rgb.jpg", np.dstack([smooth] * 3))
    assert np.abs(read_alpha(tmp_path / "rgb.jpg") - smooth / 255).max() < 0.05


def test_read_alpha_cutout_uses_alpha_channel(tmp_path):
    alpha = np.array([[0, 128, 255]], np.uint8)
    write_image(tmp_path / "cut.png", np.dstack([np.array([[[255, 0, 0]] * 3], np.uint8)[0][None], alpha]))
    np.testing.assert_allclose(read_alpha(tmp_path / "cut.png"), alpha / 255, atol=1e-7)


def test_read_alpha_refuses_colour(tmp_path):
    path = write_image(tmp_path / "colour.png", gradient())
    with pytest.raises(ImageError) as excinfo:
        read_alpha(path)
    assert "alpha file is colour (channels differ" in assert_one_line(excinfo, str(path))


# --------------------------------------------------------------------------------------------- trimaps


def test_read_trimap_exact_levels_and_rgb(tmp_path):
    levels = np.array([[0, 128, 255], [255, 127, 0]], np.uint8)
    expected = np.array([[0, 0.5, 1], [1, 0.5, 0]], np.float32)
    trimap = read_trimap(write_image(tmp_path / "t.png", levels), shape=(2, 3))
    assert trimap.dtype == np.float32
    np.testing.assert_array_equal(trimap, expected)
    np.testing.assert_array_equal(read_trimap(write_image(tmp_path / "t3.png", np.dstack([levels] * 3))), expected)


def test_read_trimap_snaps_jpeg_noise(tmp_path):
    noisy = np.array([[3, 125, 250], [16, 144, 239]], np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trimap = read_trimap(write_image(tmp_path / "n.png", noisy), strict=True)
    np.testing.assert_array_equal(trimap, [[0, 0.5, 1], [0, 0.5, 1]])
    blocks = np.kron(np.array([[0, 128], [255, 0]], np.uint8), np.ones((16, 16), np.uint8))
    jpeg = read_trimap(write_image(tmp_path / "t.jpg", blocks, quality=90))
    assert set(np.unique(jpeg)) <= {0.0, 0.5, 1.0}
    assert jpeg[0, 0] == 0 and jpeg[0, 31] == 0.5 and jpeg[31, 0] == 1


def test_read_trimap_off_grid_warns_or_raises(tmp_path):
    path = write_image(tmp_path / "off.png", np.array([[0, 60, 128, 200, 255, 60]], np.uint8))
    with pytest.warns(ImageWarning) as record:
        trimap = read_trimap(path)
    np.testing.assert_array_equal(trimap, [[0, 0.5, 0.5, 0.5, 1, 0.5]])
    (warning,) = record
    message = str(warning.message)
    assert str(path) in message and "3 of 6 trimap pixels" in message and "\n" not in message
    with pytest.raises(ImageError) as excinfo:
        read_trimap(path, strict=True)
    message = assert_one_line(excinfo, str(path))
    assert "3 of 6 trimap pixels" in message and "e.g. 60, 200" in message
    with pytest.raises(ValueError):
        read_trimap(path, tolerance=64)


def test_read_trimap_wrong_size_and_colour(tmp_path):
    path = write_image(tmp_path / "t.png", np.zeros((4, 6), np.uint8))
    with pytest.raises(ImageError) as excinfo:
        read_trimap(path, shape=(480, 640))
    assert assert_one_line(excinfo, str(path)).endswith("size 6x4 does not match the image 640x480")
    colour = write_image(tmp_path / "c.png", np.array([[[255, 0, 0]]], np.uint8))
    with pytest.raises(ImageError) as excinfo:
        read_trimap(colour)
    assert "trimap file is colour" in assert_one_line(excinfo, str(colour))


# --------------------------------------------------------------------------------------------- atomic writes


def test_failed_save_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = write_image(tmp_path / "x.png", gradient())
    before = path.read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        Path(fp).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_image(path, np.zeros((2, 2), np.uint8))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]


def test_failed_sixteen_bit_write_leaves_no_temp(tmp_path, monkeypatch):
    monkeypatch.setattr(cv2, "imwrite", lambda *args, **kwargs: False)
    with pytest.raises(ImageError) as excinfo:
        write_alpha(tmp_path / "a.png", np.zeros((2, 2)), bits=16)
    assert_one_line(excinfo, "a.png")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_block_error_and_overwrite(tmp_path):
    path = tmp_path / "sub" / "x.txt"
    with pytest.raises(RuntimeError):
        with atomic_write(path) as tmp:
            assert tmp.exists() and tmp.name.startswith(".") and tmp.suffix == ".txt"
            raise RuntimeError("boom")
    assert list((tmp_path / "sub").iterdir()) == []
    with atomic_write(path, overwrite=False) as tmp:
        tmp.write_text("first")
    with pytest.raises(FileExistsError, match="x.txt"):
        with atomic_write(path, overwrite=False) as tmp:
            pass
    with pytest.raises(FileExistsError):
        with atomic_write(tmp_path / "y.txt", overwrite=False) as tmp:
            tmp.write_text("late")
            (tmp_path / "y.txt").write_text("someone else")  # appears while we write
    assert (tmp_path / "y.txt").read_text() == "someone else"
    assert path.read_text() == "first"
    image = write_image(tmp_path / "i.png", gradient())
    with pytest.raises(FileExistsError):
        write_image(image, np.zeros((2, 2), np.uint8), overwrite=False)
    assert read_image(image).shape == (12, 16, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["i.png", "sub", "y.txt"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_written_files_get_umask_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        path = write_image(tmp_path / "x.png", gradient())
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_write_image_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="NaN"):
        write_image(tmp_path / "x.png", np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="JPEG has no alpha"):
        write_image(tmp_path / "x.jpg", np.zeros((2, 2, 4)))
    with pytest.raises(ValueError, match="16-bit output"):
        write_image(tmp_path / "x.jpg", np.zeros((2, 2)), bits=16)
    with pytest.raises(ValueError, match="unsupported output format"):
        write_image(tmp_path / "x.gif", np.zeros((2, 2)))
    with pytest.raises(ValueError, match="must be"):
        write_alpha(tmp_path / "a.png", np.zeros((2, 2, 3)))
    assert list(tmp_path.iterdir()) == []
