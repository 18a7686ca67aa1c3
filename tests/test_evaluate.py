"""The eval runner: matching by stem, problems reported (not raised), per-type aggregation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from automatte.evaluate import evaluate_folder, match_predictions
from automatte.io import write_alpha, write_image
from automatte.ops.trimap import trimap_from_alpha


def _make_dataset(root, n=4, size=(24, 32)):
    rng = np.random.default_rng(0)
    (root / "meta.csv").parent.mkdir(parents=True, exist_ok=True)
    rows = ["name,type,category"]
    gts = {}
    for i in range(n):
        name = f"s{i}"
        alpha = np.zeros(size, np.float32)
        alpha[6:18, 8 + i : 24] = 1.0
        alpha[5, 8:24] = 0.5
        write_image(root / "image" / f"{name}.png", rng.random((*size, 3)))
        write_alpha(root / "alpha" / f"{name}.png", alpha)
        write_alpha(root / "trimap" / f"{name}.png", trimap_from_alpha(alpha, 3))
        rows.append(f"{name},{'SO' if i % 2 == 0 else 'NS'},cat{i % 2}")
        gts[name] = alpha
    (root / "meta.csv").write_text("\n".join(rows) + "\n")
    return gts


def test_match_predictions_by_stem(tmp_path):
    for stem in ("a", "b_alpha", "c", "c_alpha", "zzz"):
        write_alpha(tmp_path / f"{stem}.png", np.zeros((2, 2)))
    matched, extra, problems = match_predictions(tmp_path, ["a", "b", "c", "d"])
    assert matched["a"].name == "a.png"
    assert matched["b"].name == "b_alpha.png"
    assert matched["c"].name == "c.png" and len(problems) == 1 and "c_alpha.png" in problems[0]
    assert "d" not in matched
    assert [p.name for p in extra] == ["zzz.png"]


def test_perfect_predictions_score_zero(tmp_path):
    gts = _make_dataset(tmp_path / "data")
    for name, alpha in gts.items():
        write_alpha(tmp_path / "pred" / f"{name}_alpha.png", alpha)
    report = evaluate_folder(tmp_path / "pred", tmp_path / "data")
    assert len(report.rows) == 4
    for row in report.rows:
        for key in ("whole/SAD", "whole/MSE", "whole/Grad", "whole/Conn", "unknown/SAD"):
            assert row["metrics"][key] == pytest.approx(0.0, abs=1e-12), key


def test_problems_are_reported_not_raised(tmp_path):
    gts = _make_dataset(tmp_path / "data", n=4)
    pred = tmp_path / "pred"
    write_alpha(pred / "s0.png", gts["s0"])  # good
    write_alpha(pred / "s1.png", np.zeros((10, 10)))  # wrong size
    (pred / "s2.png").write_bytes(b"not an image")  # corrupt
    write_alpha(pred / "extra.png", np.zeros((24, 32)))  # no ground truth
    # s3 missing
    report = evaluate_folder(pred, tmp_path / "data")
    assert [r["name"] for r in report.rows] == ["s0"]
    text = "\n".join(f"{a} {b}" for a, b in report.problems + report.missing)
    assert "s1" in text and "does not match" in text
    assert "s2" in text
    assert "extra.png" in text
    assert "s3" in text


def test_one_point_error_and_types(tmp_path):
    gts = _make_dataset(tmp_path / "data", n=2)
    for name, alpha in gts.items():
        pred = alpha.copy()
        pred[0, 0] = 1.0  # one background pixel wrong by 1 -> SAD 1/1000, MSE 1/(24*32)
        write_alpha(tmp_path / "pred" / f"{name}.png", pred)
    report = evaluate_folder(tmp_path / "pred", tmp_path / "data", regions=["whole"])
    for row in report.rows:
        assert row["metrics"]["whole/SAD"] == pytest.approx(1e-3)
        assert row["metrics"]["whole/MSE"] == pytest.approx(1 / (24 * 32))
    data = json.loads(report.to_json())
    assert {r["type"] for r in report.rows} == {"SO", "NS"}
    assert data  # serialisable


def test_missing_dataset_is_a_clear_error(tmp_path):
    (tmp_path / "pred").mkdir()
    with pytest.raises(FileNotFoundError, match="nowhere"):
        evaluate_folder(tmp_path / "pred", tmp_path / "nowhere")
    with pytest.raises(ValueError, match="region"):
        _make_dataset(tmp_path / "data", n=1)
        evaluate_folder(tmp_path / "pred", tmp_path / "data", regions=["middle"])


def test_exact_levels_restores_8_and_16_bit_values():
    from automatte.evaluate import exact_levels

    eight = (np.arange(256) / 255).astype(np.float32)
    assert np.array_equal(exact_levels(eight), np.arange(256) / 255.0)
    sixteen = (np.array([1, 1000, 257 * 3 + 1, 65535]) / 65535).astype(np.float32)
    assert np.array_equal(exact_levels(sixteen), np.array([1, 1000, 257 * 3 + 1, 65535]) / 65535.0)
