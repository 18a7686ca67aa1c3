"""One call from a model and a benchmark folder to a paper's table with the published figures beside ours.

:func:`run_benchmark` reads the benchmark in its authors' layout, predicts every sample with the paper's test
strategy (:mod:`automatte.evaluation.predict`), scores the written predictions with the paper's protocol
(:func:`automatte.evaluation.folder.evaluate_dataset`, what ``automatte eval`` runs) and lays the result out as
the paper's table (:mod:`automatte.evaluation.papers`). :class:`BenchmarkResult` renders Markdown and JSON and
saves them atomically.

Example:
    >>> result = run_benchmark("aimnet.safetensors", "AIM-500", "out", paper="aim")  # doctest: +SKIP
    >>> print(result.to_markdown())  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from automatte.evaluation.folder import evaluate_dataset, open_dataset
from automatte.evaluation.papers import PAPERS, PaperTable, our_row
from automatte.evaluation.predict import predict_dataset
from automatte.io import atomic_write
from automatte.metrics.report import Report

__all__ = ["BenchmarkResult", "run_benchmark"]


def _fmt(value: float | None, key: str) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.4f}" if key.endswith(("/MSE", "/MAD")) else f"{value:.2f}"


@dataclass
class BenchmarkResult:
    """Our figures in a paper's table, the published rows, and the per-image report behind ours.

    Example:
        >>> r = Report(); r.add("a", {"whole/SAD": 40.0, "unknown/SAD": 30.0}, type="SO", category="animal")
        >>> res = BenchmarkResult(PAPERS["aim"], "mine", "AIM-500", "hybrid", (1 / 3, 1 / 4), r)
        >>> res.ours["whole/SAD"], res.counts["type/SO/SAD"]
        (40.0, 1)
        >>> "| AIM-Net (paper) | 43.92 |" in res.to_markdown()
        True
    """

    table: PaperTable
    model: str
    data: str
    strategy: str
    scales: tuple[float, float]
    report: Report
    protocol: str = ""
    failures: list[str] = field(default_factory=list)
    ours: dict[str, float | None] = field(init=False)
    counts: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.protocol = self.protocol or self.table.protocol
        self.ours, self.counts = our_row(self.report, self.table)

    @property
    def our_label(self) -> str:
        how = (
            f"{self.strategy} {self.scales[0]:.3g} & {self.scales[1]:.3g}"
            if self.strategy == "hybrid"
            else self.strategy
        )
        return f"ours: {self.model} ({how}, {self.protocol} protocol)"

    def to_markdown(self) -> str:
        """The paper's table (published rows, then ours), image counts, missing and problem lines."""
        t = self.table
        header = ["method", *(f"{c.group} {c.label}" if c.group != "SAD-Category" else c.label for c in t.columns)]
        lines = [
            f"# {t.paper}, {t.table}: {t.caption}",
            "",
            f"Data: {self.data} ({len(self.report)} images scored, {len(self.report.missing)} missing, "
            f"{len(self.failures)} failed). Published figures are the paper's; the last row is ours.",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "|".join("---" for _ in header) + "|",
        ]
        for method, figures in t.rows.items():
            lines.append("| " + " | ".join([method, *(_fmt(figures.get(c.key), c.key) for c in t.columns)]) + " |")
        lines.append("| " + " | ".join([self.our_label, *(_fmt(self.ours[c.key], c.key) for c in t.columns)]) + " |")
        lines.append("| images | " + " | ".join(str(self.counts[c.key]) for c in t.columns) + " |")
        lines += ["", *(f"- {note}" for note in t.notes)]
        for heading, items in (
            ("Missing", self.report.missing),
            ("Problems", self.report.problems),
            ("Failed", [(f, "") for f in self.failures]),
        ):
            if items:
                lines += ["", f"## {heading} ({len(items)})", ""] + [f"- {n}{': ' + p if p else ''}" for n, p in items]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """Everything in the table plus the per-image rows, JSON-ready (non-finite values are None)."""

        def clean(values: dict) -> dict:
            return {k: (v if v is not None and math.isfinite(v) else None) for k, v in values.items()}

        t = self.table
        return {
            "paper": t.paper,
            "table": t.table,
            "caption": t.caption,
            "benchmark": t.benchmark,
            "data": self.data,
            "model": self.model,
            "strategy": self.strategy,
            "scales": list(self.scales),
            "protocol": self.protocol,
            "columns": [{"key": c.key, "label": c.label, "group": c.group} for c in t.columns],
            "published": t.rows,
            "ours": clean(self.ours),
            "counts": self.counts,
            "notes": list(t.notes),
            "report": json.loads(self.report.to_json()),
            "failures": self.failures,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    def save(self, folder: str | os.PathLike) -> tuple[Path, Path]:
        """Write ``folder/table.md`` and ``folder/table.json`` atomically; returns both paths."""
        folder = Path(folder)
        paths = folder / "table.md", folder / "table.json"
        for path, text in zip(paths, (self.to_markdown(), self.to_json())):
            with atomic_write(path) as tmp:
                tmp.write_text(text, encoding="utf-8")
        return paths


def run_benchmark(
    model: Any,
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    paper: str = "aim",
    benchmark: str | None = None,
    strategy: str | None = None,
    scales: tuple[float, float] | None = None,
    protocol: str | None = None,
    max_side: int = 1600,
    use_trimaps: bool = False,
    overwrite: bool = False,
    device: str = "cpu",
    arch: str | None = None,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> BenchmarkResult:
    """Predict ``data_dir`` with ``model`` into ``out_dir/pred`` and lay the scores out as ``paper``'s table.

    Args:
        model: a Pipeline or what :func:`automatte.load_model` takes (shipped name, pipeline, file).
        data_dir: the benchmark folder in its authors' layout (or the project's layout).
        out_dir: where ``pred/NAME.png``, ``table.md`` and ``table.json`` go.
        paper: a key of :data:`automatte.evaluation.papers.PAPERS`.
        benchmark: the reader (default: the paper's benchmark).
        strategy, scales, protocol: default to the paper's (AIM: hybrid 1/3 & 1/4, the AIM protocol).
        max_side, use_trimaps, overwrite, device, arch, progress: see :func:`predict_dataset`.

    Returns:
        A :class:`BenchmarkResult` (not yet saved: call ``.save(out_dir)``).
    """
    if paper not in PAPERS:
        raise ValueError(f"unknown paper {paper!r}; expected one of {', '.join(PAPERS)}")
    table = PAPERS[paper]
    data = open_dataset(data_dir, benchmark=benchmark or table.benchmark)
    strategy = strategy or table.strategy
    scales = scales or table.scales
    protocol = protocol or table.protocol
    pred_dir = Path(out_dir) / "pred"
    _, failures = predict_dataset(
        model,
        data,
        pred_dir,
        strategy=strategy,
        scales=scales,
        max_side=max_side,
        use_trimaps=use_trimaps,
        overwrite=overwrite,
        device=device,
        arch=arch,
        progress=progress,
    )
    report = evaluate_dataset(pred_dir, data, protocol=protocol, regions=table.regions)
    name = Path(str(model)).name if isinstance(model, (str, os.PathLike)) else getattr(model, "name", "model")
    return BenchmarkResult(table, name, str(data_dir), strategy, scales, report, protocol, failures)
