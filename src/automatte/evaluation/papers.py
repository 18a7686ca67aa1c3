"""The papers' published benchmark tables, as data: columns, how each is computed from a report, the figures.

A :class:`PaperTable` names its paper and table number, the benchmark it was measured on, the test strategy and
protocol the authors used, its columns (each a metric of a region, or a per-type / per-category SAD, or the mean
of those groups) and its rows of published figures. :func:`our_row` turns an evaluation
:class:`~automatte.metrics.report.Report` into the same columns, so ours can be printed beside theirs.

Example:
    >>> table = PAPERS["aim"]
    >>> table.table, [c.label for c in table.columns][:6]
    ('Table 2', ['SAD', 'MSE', 'MAD', 'Conn.', 'Grad.', 'SAD'])
    >>> table.rows["AIM-Net (paper)"]["whole/SAD"]
    43.92
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from automatte.metrics.report import Report

__all__ = ["Column", "PaperTable", "PAPERS", "our_row"]


@dataclass(frozen=True)
class Column:
    """One column of a paper's table.

    Attributes:
        key: ``"{region}/{metric}"`` (a mean over all images, e.g. ``"unknown/SAD"``), ``"type/{T}/{metric}"``
            or ``"category/{c}/{metric}"`` (a mean over the images of that type / category), or
            ``"type/avg/{metric}"`` / ``"category/avg/{metric}"`` (the mean of the group's means, as AIM's Avg.).
        label: the paper's column header.
        group: the paper's header above it (``"Whole Image"``, ``"Tran."``, ...).
    """

    key: str
    label: str
    group: str


@dataclass(frozen=True)
class PaperTable:
    """A published table: what was measured, how, and the figures (method -> column key -> value)."""

    key: str
    paper: str
    table: str
    caption: str
    benchmark: str
    protocol: str
    strategy: str
    scales: tuple[float, float]
    columns: tuple[Column, ...]
    rows: dict[str, dict[str, float]]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def regions(self) -> tuple[str, ...]:
        """The regions the columns need, in the order of ``automatte.evaluation.REGIONS``."""
        wanted = {c.key.split("/")[0] for c in self.columns if c.key.count("/") == 1}
        return tuple(r for r in ("whole", "unknown", "fg", "bg") if r in wanted | {"whole"})


_AIM_COLUMNS = (
    Column("whole/SAD", "SAD", "Whole Image"),
    Column("whole/MSE", "MSE", "Whole Image"),
    Column("whole/MAD", "MAD", "Whole Image"),
    Column("whole/Conn", "Conn.", "Whole Image"),
    Column("whole/Grad", "Grad.", "Whole Image"),
    Column("unknown/SAD", "SAD", "Tran."),
    Column("type/SO/SAD", "SO", "SAD-Type"),
    Column("type/STM/SAD", "STM", "SAD-Type"),
    Column("type/NS/SAD", "NS", "SAD-Type"),
    Column("type/avg/SAD", "Avg.", "SAD-Type"),
    Column("category/animal/SAD", "Animal", "SAD-Category"),
    Column("category/portrait/SAD", "Human", "SAD-Category"),
    Column("category/transparent/SAD", "Transp.", "SAD-Category"),
    Column("category/plant/SAD", "Plant", "SAD-Category"),
    Column("category/furniture/SAD", "Furni.", "SAD-Category"),
    Column("category/toy/SAD", "Toy", "SAD-Category"),
    Column("category/fruit/SAD", "Fruit", "SAD-Category"),
    Column("category/avg/SAD", "Avg.", "SAD-Category"),
)


def _rows(columns: tuple[Column, ...], figures: dict[str, tuple[float, ...]]) -> dict[str, dict[str, float]]:
    out = {}
    for method, values in figures.items():
        if len(values) != len(columns):
            raise ValueError(f"published row {method!r}: {len(values)} figures for {len(columns)} columns")
        out[method] = {c.key: v for c, v in zip(columns, values)}
    return out


# AIM (Li, Zhang, Tao, IJCAI 2021) Table 2: quantitative results on AIM-500 (whole image SAD / MSE / MAD /
# Conn. / Grad., transition SAD, SAD per type and per category). Columns as printed; read from
# /work/shared/papers/aim-net-aim500.txt and checked: each Avg. is the mean of its group's figures.
_AIM_TABLE2 = {
    "U2NET": (83.46, 0.0348, 0.0493, 82.14, 51.02, 43.37, 69.69, 120.59, 211.98, 134.09,
              67.67, 89.50, 210.34, 75.72, 87.20, 54.64, 52.24, 91.04),
    "SHM": (170.44, 0.0921, 0.1012, 170.67, 115.29, 69.41, 154.56, 204.67, 329.9, 229.71,
            174.65, 141.49, 333.24, 157.24, 166.81, 126.04, 97.31, 170.97),
    "LF": (191.74, 0.0667, 0.1130, 181.26, 63.51, 78.13, 177.98, 220.22, 331.34, 243.18,
           167.90, 131.96, 276.13, 228.94, 249.70, 224.50, 287.40, 223.79),
    "HATT": (479.17, 0.2700, 0.2806, 473.98, 238.63, 114.23, 509.75, 338.11, 270.07, 372.64,
             579.96, 484.85, 264.35, 433.96, 299.19, 447.01, 401.73, 415.86),
    "GFM": (52.66, 0.0213, 0.0313, 52.69, 46.11, 37.43, 35.45, 123.15, 181.90, 113.50,
            28.18, 27.61, 190.50, 75.77, 80.94, 51.42, 27.87, 68.90),
    "DIM* (GT trimap)": (49.27, 0.0147, 0.0293, 47.10, 29.30, 49.27, 19.51, 115.42, 345.33, 160.09,
                         16.41, 15.10, 273.96, 95.60, 43.06, 34.67, 17.00, 70.83),
    "AIM-Net (paper)": (43.92, 0.0161, 0.0262, 43.18, 33.05, 30.74, 31.80, 94.02, 134.31, 86.71,
                        26.39, 24.68, 148.68, 54.03, 62.70, 53.15, 37.17, 58.11),
}  # fmt: skip

PAPERS: dict[str, PaperTable] = {
    "aim": PaperTable(
        key="aim",
        paper="Li, Zhang, Tao. Deep Automatic Natural Image Matting (IJCAI 2021)",
        table="Table 2",
        caption="Quantitative results on AIM-500 (Tran.: transition area, the trimap's unknown region)",
        benchmark="aim500",
        protocol="aim",
        strategy="hybrid",
        scales=(1 / 3, 1 / 4),  # AIM sec. 4.2: hybrid test, scale factors 1/3 (global) and 1/4 (local)
        columns=_AIM_COLUMNS,
        rows=_rows(_AIM_COLUMNS, _AIM_TABLE2),
        notes=(
            "AIM's code (core/test.py) scores the float prediction; automatte scores the 8-bit PNG it writes "
            "(the file `automatte eval` reads), a difference of at most 1/510 per pixel.",
            "The authors' repository README reports a re-trained AimNet at 41.72 whole SAD (Hybrid 1/3 & 1/4) "
            "and 44.25 (Hybrid 1/2 & 1/4).",
        ),
    ),
}


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return math.fsum(finite) / len(finite) if finite else None


def our_row(report: Report, table: PaperTable) -> tuple[dict[str, float | None], dict[str, int]]:
    """Our figures in ``table``'s columns, from a report of per-image rows, and the image count behind each.

    A column without images (a type or category absent from the data) is None; an ``avg`` column is the mean of
    the group's columns that have images (as AIM's Avg.: the mean of the type / category means).

    Example:
        >>> r = Report()
        >>> r.add("a", {"whole/SAD": 2.0}, type="SO", category="animal")
        >>> r.add("b", {"whole/SAD": 4.0}, type="NS", category="plant")
        >>> values, counts = our_row(r, PAPERS["aim"])
        >>> values["whole/SAD"], values["type/SO/SAD"], values["type/STM/SAD"], values["type/avg/SAD"]
        (3.0, 2.0, None, 3.0)
    """
    values: dict[str, float | None] = {}
    counts: dict[str, int] = {}
    for column in table.columns:
        parts = column.key.split("/")
        if len(parts) == 2:
            rows = [r for r in report.rows if column.key in r["metrics"]]
            values[column.key] = _mean([r["metrics"][column.key] for r in rows])
            counts[column.key] = len(rows)
            continue
        group, name, metric = parts
        if name == "avg":
            continue
        field_name = "type" if group == "type" else "category"
        rows = [r for r in report.rows if (r[field_name] or "") == name and f"whole/{metric}" in r["metrics"]]
        values[column.key] = _mean([r["metrics"][f"whole/{metric}"] for r in rows])
        counts[column.key] = len(rows)
    for column in table.columns:
        group, name, *rest = column.key.split("/")
        if name == "avg" and rest:
            members = [c.key for c in table.columns if c.key.startswith(f"{group}/") and "/avg/" not in c.key]
            values[column.key] = _mean([values[k] for k in members])
            counts[column.key] = sum(counts[k] for k in members)
    return values, counts
