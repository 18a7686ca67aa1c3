"""Tiny on-disk datasets for the automatte.data tests (built in tmp_path, a few kB each)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from automatte.io import write_alpha, write_image
from automatte.ops.composition import composite

TYPES = ("SO", "STM", "NS", "SO")


def soft_disc(h: int, w: int, cy: float, cx: float, r: float, soft: float = 4.0) -> np.ndarray:
    """A disc matte with a linear soft edge ``soft`` pixels wide (exact 0 outside, 1 inside)."""
    yy, xx = np.mgrid[:h, :w]
    d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
    return np.clip((r - d) / soft + 0.5, 0.0, 1.0).astype(np.float32)


@pytest.fixture
def matting_root(tmp_path: Path) -> Path:
    """4 samples (80 x 96) with image/, alpha/, fg/, bg/, trimap/ and meta.csv (types SO, STM, NS, SO)."""
    root = tmp_path / "matting"
    rng = np.random.default_rng(123)
    rows = ["name,type,category"]
    for i, kind in enumerate(TYPES):
        name = f"s{i}"
        alpha = soft_disc(80, 96, 40 + 3 * i, 48 - 2 * i, 22)
        fg = rng.random((80, 96, 3)).astype(np.float32)
        bg = rng.random((80, 96, 3)).astype(np.float32)
        write_alpha(root / "alpha" / f"{name}.png", alpha)
        write_image(root / "fg" / f"{name}.png", fg)
        write_image(root / "bg" / f"{name}.png", bg)
        write_image(root / "image" / f"{name}.png", composite(alpha, fg, bg))
        trimap = np.where(alpha >= 1, 255, np.where(alpha <= 0, 0, 128)).astype(np.uint8)
        write_image(root / "trimap" / f"{name}.png", trimap)
        rows.append(f"{name},{kind},cat{i}")
    (root / "meta.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture
def bg_dir(tmp_path: Path) -> Path:
    """3 background photos of different sizes (one in a sub-folder: pools are searched recursively)."""
    folder = tmp_path / "backgrounds"
    rng = np.random.default_rng(7)
    for i, (h, w) in enumerate([(70, 110), (120, 90), (64, 64)]):
        sub = folder / ("sub" if i == 2 else "")
        write_image(sub / f"bg{i}.jpg", rng.random((h, w, 3)).astype(np.float32))
    return folder


@pytest.fixture
def coarse_root(tmp_path: Path) -> Path:
    """5 image/mask pairs (64 x 80): the mask is the left part of the frame, a straight vertical edge."""
    root = tmp_path / "coarse"
    rng = np.random.default_rng(5)
    for i in range(5):
        mask = np.zeros((64, 80), np.uint8)
        mask[:, : 34 + i] = 255
        write_image(root / "image" / f"c{i}.jpg", rng.random((64, 80, 3)).astype(np.float32))
        write_image(root / "mask" / f"c{i}.png", mask)
    return root


@pytest.fixture
def object_root(tmp_path: Path) -> Path:
    """3 photos (60 x 70) with a rectangular object mask; the last one touches the bottom border."""
    root = tmp_path / "objects"
    rng = np.random.default_rng(9)
    for i in range(3):
        mask = np.zeros((60, 70), np.uint8)
        mask[15:60, 20:50] = 255 if i == 2 else 0
        if i < 2:
            mask[15:45, 20:50] = 255
        write_image(root / "image" / f"o{i}.png", rng.random((60, 70, 3)).astype(np.float32))
        write_image(root / "mask" / f"o{i}.png", mask)
    return root
