"""Evaluation reports: per-image metric rows, means overall / per type / per category, and problems.

A :class:`Report` collects one row per image (any metric names, e.g. ``"whole/SAD"``), the images that
had no prediction (``missing``) and the files that could not be used (``problems``); it renders all of
them as Markdown, CSV, JSON or a plain-text table, and saves atomically.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

from automatte.io import atomic_write

__all__ = ["Report", "TYPE_ORDER", "FORMATS"]

TYPE_ORDER = ("SO", "STM", "NS")  # AIM-500: salient opaque, salient transparent/meticulous, non-salient
FORMATS = ("table", "md", "csv", "json")
_FORMAT_ALIASES = {"txt": "table", "text": "table", "markdown": "md"}
_SUFFIX_FORMATS = {".txt": "table", ".md": "md", ".markdown": "md", ".csv": "csv", ".json": "json"}


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return math.fsum(finite) / len(finite) if finite else None


class Report:
    """Per-image metrics plus summaries, missing images and problems.

    Args:
        title: heading of the Markdown output.
        digits: significant digits in the Markdown and table outputs (CSV and JSON keep full precision).

    Example:
        >>> r = Report()
        >>> r.add("a", {"SAD": 1.0}, type="SO", category="animal")
        >>> r.add("b", {"SAD": 3.0}, type="NS", category="animal")
        >>> r.add_missing("c", "no prediction")
        >>> [(s["group"], s["name"], s["count"], s["metrics"]["SAD"]) for s in r.summary()]
        [('overall', 'all', 2, 2.0), ('type', 'SO', 1, 1.0), ('type', 'NS', 1, 3.0), ('category', 'animal', 2, 2.0)]
    """

    def __init__(self, title: str = "automatte evaluation", digits: int = 5):
        self.title = title
        self.digits = digits
        self.rows: list[dict] = []
        self.missing: list[tuple[str, str]] = []
        self.problems: list[tuple[str, str]] = []

    def __len__(self) -> int:
        return len(self.rows)

    # ------------------------------------------------------------------------------------ filling
    def add(self, name: str, metrics: dict, type: str | None = None, category: str | None = None) -> None:
        """Add one image's metrics; ``type`` is e.g. SO / STM / NS, ``category`` e.g. "animal"."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"Report.add: name must be a non-empty string, got {name!r}")
        if any(row["name"] == name for row in self.rows):
            raise ValueError(f"Report.add: {name!r} was already added")
        values = {}
        for key, value in metrics.items():
            try:
                values[str(key)] = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"Report.add: metric {key!r} of {name!r} is not a number: {value!r}") from None
        self.rows.append({"name": name, "type": type, "category": category, "metrics": values})

    def add_missing(self, name: str, problem: str) -> None:
        """Record an image that has no prediction."""
        self.missing.append((str(name), str(problem)))

    def add_problem(self, name: str, problem: str) -> None:
        """Record a file or image that could not be evaluated."""
        self.problems.append((str(name), str(problem)))

    # ----------------------------------------------------------------------------------- summaries
    @property
    def metric_names(self) -> list[str]:
        """Metric names in the order they first appear."""
        names: dict[str, None] = {}
        for row in self.rows:
            names.update(dict.fromkeys(row["metrics"]))
        return list(names)

    def _group(self, group: str, name: str, rows: list[dict]) -> dict:
        metrics = {m: _mean([r["metrics"][m] for r in rows if m in r["metrics"]]) for m in self.metric_names}
        return {"group": group, "name": name, "count": len(rows), "metrics": metrics}

    def summary(self) -> list[dict]:
        """Means over all images, per type (SO, STM, NS first) and per category (sorted).

        Returns:
            Rows ``{"group": "overall" | "type" | "category", "name", "count", "metrics": {name: mean}}``;
            a mean skips non-finite values and is None where a group has none.
        """
        out = [self._group("overall", "all", self.rows)]
        types = [r["type"] for r in self.rows if r["type"] is not None]
        ordered = [t for t in TYPE_ORDER if t in types] + list(dict.fromkeys(t for t in types if t not in TYPE_ORDER))
        out += [self._group("type", t, [r for r in self.rows if r["type"] == t]) for t in ordered]
        categories = sorted({r["category"] for r in self.rows if r["category"] is not None})
        out += [self._group("category", c, [r for r in self.rows if r["category"] == c]) for c in categories]
        return out

    # ----------------------------------------------------------------------------------- rendering
    def _fmt(self, value: float | None) -> str:
        return "-" if value is None or not math.isfinite(value) else f"{value:.{self.digits}g}"

    def _problem_lines(self) -> list[str]:
        lines = [f"missing: {len(self.missing)}"] + [f"  {n}: {p}" for n, p in self.missing]
        return lines + [f"problems: {len(self.problems)}"] + [f"  {n}: {p}" for n, p in self.problems]

    def table(self) -> str:
        """A plain-text summary table with the missing images and problems below it."""
        names = self.metric_names
        header = ["group", "name", "count", *names]
        body = [
            [s["group"], s["name"], str(s["count"])] + [self._fmt(s["metrics"][m]) for m in names]
            for s in self.summary()
        ]
        widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
        lines = [
            "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
            for row in [header, *body]
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines + self._problem_lines())

    def to_markdown(self) -> str:
        """Summary table, per-image table, and the missing / problem lists as Markdown."""

        def cell(text) -> str:
            return "" if text is None else str(text).replace("|", "\\|").replace("\n", " ")

        def table(header: list[str], rows: list[list[str]]) -> list[str]:
            out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
            return out + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]

        names = self.metric_names
        counts = f"{len(self.rows)} evaluated, {len(self.missing)} missing, {len(self.problems)} with problems."
        lines = [f"# {self.title}", "", counts, "", "## Summary", ""]
        lines += table(
            ["group", "name", "count", *names],
            [[s["group"], s["name"], s["count"], *(self._fmt(s["metrics"][m]) for m in names)] for s in self.summary()],
        )
        lines += ["", "## Per image", ""]
        lines += table(
            ["name", "type", "category", *names],
            [
                [r["name"], r["type"], r["category"], *(self._fmt(r["metrics"].get(m)) for m in names)]
                for r in self.rows
            ],
        )
        for heading, items in (("Missing", self.missing), ("Problems", self.problems)):
            lines += ["", f"## {heading} ({len(items)})", ""]
            lines += [f"- {cell(n)}: {cell(p)}" for n, p in items] or ["none"]
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        """One CSV table: ``row`` is image, overall, type, category, missing or problem."""
        names = self.metric_names
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["row", "name", "type", "category", "count", *names, "problem"])

        def num(value: float | None) -> str:
            return "" if value is None or not math.isfinite(value) else repr(value)

        for r in self.rows:
            writer.writerow(
                [
                    "image",
                    r["name"],
                    r["type"] or "",
                    r["category"] or "",
                    1,
                    *(num(r["metrics"].get(m)) for m in names),
                    "",
                ]
            )
        for s in self.summary():
            writer.writerow([s["group"], s["name"], "", "", s["count"], *(num(s["metrics"][m]) for m in names), ""])
        for kind, items in (("missing", self.missing), ("problem", self.problems)):
            for n, p in items:
                writer.writerow([kind, n, "", "", "", *([""] * len(names)), p])
        return buf.getvalue()

    def to_json(self) -> str:
        """``{"title", "metrics", "images", "summary", "missing", "problems"}``; non-finite values are null."""

        def clean(metrics: dict) -> dict:
            return {k: (v if v is not None and math.isfinite(v) else None) for k, v in metrics.items()}

        data = {
            "title": self.title,
            "metrics": self.metric_names,
            "images": [{**r, "metrics": clean(r["metrics"])} for r in self.rows],
            "summary": [{**s, "metrics": clean(s["metrics"])} for s in self.summary()],
            "missing": [{"name": n, "problem": p} for n, p in self.missing],
            "problems": [{"name": n, "problem": p} for n, p in self.problems],
        }
        return json.dumps(data, indent=2, allow_nan=False) + "\n"

    def render(self, format: str = "table") -> str:
        """The report as text in ``format``: "table", "md", "csv" or "json"."""
        fmt = _FORMAT_ALIASES.get(format, format)
        renderers = {"table": self.table, "md": self.to_markdown, "csv": self.to_csv, "json": self.to_json}
        if fmt not in renderers:
            raise ValueError(f"unknown report format {format!r}; expected one of {', '.join(FORMATS)}")
        text = renderers[fmt]()
        return text if text.endswith("\n") else text + "\n"

    def save(self, path: str | os.PathLike, format: str | None = None) -> Path:
        """Write the report atomically; ``format`` defaults to the suffix (.txt, .md, .csv, .json).

        Example:
            >>> import tempfile, pathlib
            >>> r = Report(); r.add("a", {"SAD": 1.5})
            >>> p = r.save(pathlib.Path(tempfile.mkdtemp()) / "r.json")
            >>> '"SAD": 1.5' in p.read_text()
            True
        """
        path = Path(path)
        if format is None:
            format = _SUFFIX_FORMATS.get(path.suffix.lower())
            if format is None:
                raise ValueError(f"{path}: cannot tell the report format from the suffix; pass format=")
        text = self.render(format)
        with atomic_write(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
        return path
