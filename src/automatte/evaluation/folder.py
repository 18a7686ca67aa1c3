"""Evaluate a folder of predicted alpha mattes against a dataset: the project's layout or a public benchmark in
its authors' layout (:mod:`automatte.data.benchmarks`, found by :func:`open_dataset`).

This is the runner behind ``automatte eval`` and ``automatte benchmark``; the metrics themselves are the pure
functions of :mod:`automatte.metrics`. Problems with single files (missing, extra, unreadable or mis-sized
predictions) are recorded in the report, never raised.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from automatte.data.benchmarks import Benchmark, detect_benchmark, read_benchmark
from automatte.data.dataset import MattingFolder, index_by_stem
from automatte.io import read_alpha, read_trimap
from automatte.metrics import compute_all
from automatte.metrics.report import Report

__all__ = ["evaluate_folder", "evaluate_dataset", "open_dataset", "match_predictions", "exact_levels", "REGIONS"]

REGIONS = ("whole", "unknown", "fg", "bg")


def open_dataset(
    data_dir: str | os.PathLike, *, trimap_dir: str = "trimap", benchmark: str | None = None
) -> MattingFolder | Benchmark:
    """The dataset at ``data_dir``: benchmark ``benchmark`` in its authors' layout when named; else the project's
    layout when ``data_dir`` has an ``alpha/`` folder; else the public benchmark whose layout it has.

    Example:
        >>> open_dataset("/nonexistent")
        Traceback (most recent call last):
        ...
        FileNotFoundError: /nonexistent: dataset folder does not exist
    """
    if benchmark is not None:
        return read_benchmark(benchmark, data_dir)
    root = Path(data_dir)
    if root.is_dir() and not (root / "alpha").is_dir() and trimap_dir == "trimap":
        found = detect_benchmark(root)
        if found is not None:
            return read_benchmark(found, root)
    return MattingFolder(root, trimap_dir=trimap_dir)


def match_predictions(pred_dir: Path, names: Iterable[str]) -> tuple[dict[str, Path], list[Path], list[str]]:
    """Match prediction files to dataset names by stem: ``NAME.ext`` or ``NAME_alpha.ext``.

    Returns:
        (matched, extra, problems): ``matched`` maps name -> file; ``extra`` lists prediction files that
        match no name; ``problems`` lists ambiguous matches (both forms present; ``NAME.ext`` wins).
    """
    index, problems = index_by_stem(Path(pred_dir))
    wanted = set(names)
    matched: dict[str, Path] = {}
    used: set[Path] = set()
    for name in sorted(wanted):
        plain, suffixed = index.get(name), index.get(f"{name}_alpha")
        if plain is not None and suffixed is not None:
            problems.append(f"{suffixed}: {plain.name} is also present for {name!r}; using {plain.name}")
        chosen = plain or suffixed
        if chosen is not None:
            matched[name] = chosen
            used.add(chosen)
    extra = [p for p in index.values() if p not in used and not (p.stem.endswith("_alpha") and p.stem[:-6] in wanted)]
    return matched, sorted(extra), problems


def exact_levels(alpha: np.ndarray) -> np.ndarray:
    """Float64 copy of a matte read as float32, restored to the file's exact levels k/255 (or k/65535).

    The protocols compare alpha with thresholds such as 0.6 exactly (DIM: 153/255 passes t = 0.6); a float32
    153/255 is not the float64 153/255 that MATLAB's im2double and the AIM code's /255 produce.

    Example:
        >>> a = np.array([[153 / 255]], dtype=np.float32)
        >>> float(exact_levels(a)[0, 0]) == 153 / 255
        True
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    for top in (255.0, 65535.0):
        k = np.round(alpha * top)
        if np.all(np.abs(k / top - alpha) < 1e-6):  # float32 rounding is < 6e-8
            return k / top
    return alpha


def evaluate_folder(
    pred_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    *,
    protocol: str = "dim",
    trimap_dir: str = "trimap",
    regions: Iterable[str] = ("whole", "unknown"),
    progress: Callable[[Iterable], Iterable] | None = None,
    benchmark: str | None = None,
) -> Report:
    """Compute SAD, MSE, MAD, Grad and Conn for every prediction that matches a dataset sample.

    Args:
        pred_dir: folder of predicted alphas (``NAME.png`` or ``NAME_alpha.png``; 8- or 16-bit grey).
        data_dir: dataset in the project's layout (:class:`automatte.data.dataset.MattingFolder`) or a public
            benchmark in its authors' layout (:func:`open_dataset`).
        protocol: ``"dim"`` (DIM MATLAB code) or ``"aim"`` (AIM-500 / GFM code).
        trimap_dir: folder name of the trimaps inside ``data_dir``.
        regions: regions to report; regions other than ``whole`` are skipped (and said so) for samples
            without a trimap.
        progress: optional wrapper for the iteration, e.g. ``tqdm``.
        benchmark: read ``data_dir`` as this public benchmark (``automatte.data.benchmarks.BENCHMARKS``).

    Returns:
        A :class:`automatte.metrics.report.Report` with one row per evaluated sample (keys
        ``"{region}/{metric}"``), and the missing / extra / problem files.
    """
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise FileNotFoundError(f"{pred_dir}: prediction folder does not exist")
    data = open_dataset(data_dir, trimap_dir=trimap_dir, benchmark=benchmark)
    return evaluate_dataset(pred_dir, data, protocol=protocol, regions=regions, progress=progress)


def evaluate_dataset(
    pred_dir: str | os.PathLike,
    data: MattingFolder | Benchmark,
    *,
    protocol: str = "dim",
    regions: Iterable[str] = ("whole", "unknown"),
    progress: Callable[[Iterable], Iterable] | None = None,
) -> Report:
    """:func:`evaluate_folder` on a dataset already read (``MattingFolder`` or ``Benchmark``).

    Example:
        >>> from automatte.data.benchmarks import read_benchmark
        >>> report = evaluate_dataset("out/pred", read_benchmark("aim500", "AIM-500"), protocol="aim")  # doctest: +SKIP
    """
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise FileNotFoundError(f"{pred_dir}: prediction folder does not exist")
    regions = list(regions)
    for region in regions:
        if region not in REGIONS:
            raise ValueError(f"unknown region {region!r}; expected one of {', '.join(REGIONS)}")
    trimap_dir = getattr(data, "trimap_dir", "trimap")
    report = Report()
    for problem in data.problems:
        report.add_problem(str(data.root), problem)
    matched, extra, problems = match_predictions(pred_dir, data.names)
    for problem in problems:
        report.add_problem(str(pred_dir), problem)
    for path in extra:
        report.add_problem(str(path), "extra prediction: no ground truth of that name")
    for name in data.names:
        if name not in matched:
            report.add_missing(name, f"no prediction {name}.png or {name}_alpha.png in {pred_dir}")

    names = [n for n in data.names if n in matched]
    for name in progress(names) if progress else names:
        kind, category = data.meta.get(name, (None, None))
        try:
            gt = exact_levels(read_alpha(data.alphas[name]))
            pred = exact_levels(read_alpha(matched[name], shape=gt.shape))
            trimap_path = data.trimaps.get(name)
            trimap = read_trimap(trimap_path, shape=gt.shape) if trimap_path else None
        except (ValueError, OSError) as exc:
            report.add_problem(name, str(exc))
            continue
        row: dict[str, float] = {}
        for region in regions:
            if region != "whole" and trimap is None:
                continue
            values = compute_all(pred, gt, trimap, region=region, protocol=protocol)
            row.update({f"{region}/{metric}": float(v) for metric, v in values.items()})
        report.add(name, row, type=kind, category=category)
    if not any(data.trimaps.get(n) for n in names) and any(r != "whole" for r in regions):
        report.add_problem(str(data.root / trimap_dir), "no trimaps: only whole-image metrics were computed")
    return report
