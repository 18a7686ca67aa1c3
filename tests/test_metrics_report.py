"""Report: summaries per type and category, and the Markdown / CSV / JSON / table outputs."""

from __future__ import annotations

import csv
import io
import json

import pytest

from automatte.metrics.report import Report


@pytest.fixture
def report():
    r = Report(title="test run")
    r.add("a", {"SAD": 1.0, "MSE": 0.01}, type="SO", category="animal")
    r.add("b", {"SAD": 3.0, "MSE": 0.03}, type="SO", category="plant")
    r.add("c", {"SAD": 8.0, "MSE": 0.08}, type="NS", category="animal")
    r.add("d", {"SAD": 4.0, "MSE": float("nan")}, type="STM", category="animal")
    r.add_missing("e", "no prediction e.png")
    r.add_problem("f.png", "unreadable | corrupt")
    return r


def test_summary_means_and_counts(report):
    rows = {(s["group"], s["name"]): s for s in report.summary()}
    assert list(rows) == [
        ("overall", "all"),
        ("type", "SO"),
        ("type", "STM"),
        ("type", "NS"),
        ("category", "animal"),
        ("category", "plant"),
    ]
    assert rows["overall", "all"]["count"] == 4
    assert rows["overall", "all"]["metrics"]["SAD"] == 4.0  # (1 + 3 + 8 + 4) / 4
    assert rows["overall", "all"]["metrics"]["MSE"] == pytest.approx(0.04)  # NaN skipped: 0.12 / 3
    assert rows["type", "SO"]["metrics"]["SAD"] == 2.0 and rows["type", "SO"]["count"] == 2
    assert rows["type", "STM"]["metrics"]["MSE"] is None  # only a NaN
    assert rows["category", "animal"]["metrics"]["SAD"] == pytest.approx(13 / 3)
    assert rows["category", "animal"]["count"] == 3


def test_markdown(report):
    text = report.to_markdown()
    assert text.startswith("# test run\n")
    assert "| group | name | count | SAD | MSE |" in text
    assert "| overall | all | 4 | 4 | 0.04 |" in text
    assert "| type | SO | 2 | 2 | 0.02 |" in text
    assert "| category | animal | 3 | 4.3333 | 0.045 |" in text
    assert "| d | STM | animal | 4 | - |" in text
    assert "## Missing (1)\n\n- e: no prediction e.png" in text
    assert "- f.png: unreadable \\| corrupt" in text


def test_csv(report):
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert [r["row"] for r in rows] == ["image"] * 4 + ["overall", "type", "type", "type", "category", "category"] + [
        "missing",
        "problem",
    ]
    assert rows[0] == {
        "row": "image",
        "name": "a",
        "type": "SO",
        "category": "animal",
        "count": "1",
        "SAD": "1.0",
        "MSE": "0.01",
        "problem": "",
    }
    assert rows[3]["MSE"] == ""
    assert float(rows[4]["SAD"]) == 4.0 and rows[4]["count"] == "4"
    assert (rows[-2]["name"], rows[-2]["problem"]) == ("e", "no prediction e.png")
    assert (rows[-1]["name"], rows[-1]["problem"]) == ("f.png", "unreadable | corrupt")


def test_json(report):
    data = json.loads(report.to_json())
    assert data["metrics"] == ["SAD", "MSE"]
    assert data["images"][0] == {"name": "a", "type": "SO", "category": "animal", "metrics": {"SAD": 1.0, "MSE": 0.01}}
    assert data["images"][3]["metrics"]["MSE"] is None
    assert data["summary"][0]["metrics"]["SAD"] == 4.0
    assert data["missing"] == [{"name": "e", "problem": "no prediction e.png"}]
    assert data["problems"] == [{"name": "f.png", "problem": "unreadable | corrupt"}]


def test_table(report):
    lines = report.table().splitlines()
    assert lines[0].split() == ["group", "name", "count", "SAD", "MSE"]
    assert lines[2].split() == ["overall", "all", "4", "4", "0.04"]
    assert "missing: 1" in lines and "  e: no prediction e.png" in lines and "problems: 1" in lines


def test_save_atomically_by_suffix_or_format(report, tmp_path):
    for name in ("r.md", "r.csv", "r.json", "r.txt"):
        path = report.save(tmp_path / name)
        assert path.read_text() == report.render({"md": "md", "csv": "csv", "json": "json", "txt": "table"}[name[2:]])
    report.save(tmp_path / "out.report", "json")
    assert json.loads((tmp_path / "out.report").read_text())["title"] == "test run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.report", "r.csv", "r.json", "r.md", "r.txt"]
    with pytest.raises(ValueError, match="suffix"):
        report.save(tmp_path / "r.xlsx")
    with pytest.raises(ValueError, match="format"):
        report.render("xlsx")


def test_add_rejects_duplicates_and_non_numbers():
    r = Report()
    r.add("a", {"SAD": 1})
    with pytest.raises(ValueError, match="already"):
        r.add("a", {"SAD": 2})
    with pytest.raises(ValueError, match="not a number"):
        r.add("b", {"SAD": "high"})
    assert len(r) == 1 and r.summary()[0]["count"] == 1


def test_empty_report_renders():
    r = Report()
    r.add_missing("x", "no prediction")
    assert "## Missing (1)" in r.to_markdown()
    assert json.loads(r.to_json())["images"] == []
    assert "missing: 1" in r.table()
