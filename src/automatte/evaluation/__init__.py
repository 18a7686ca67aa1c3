"""Evaluation in one place: score prediction folders (``automatte eval``), run a model over a benchmark with a
paper's test strategy, and lay the scores out as the paper's table beside its published figures
(``automatte benchmark``).

* :mod:`automatte.evaluation.folder`: prediction folder + dataset -> per-image :class:`~automatte.metrics.Report`.
* :mod:`automatte.evaluation.predict`: model + dataset -> prediction folder (hybrid / whole / tiled strategies).
* :mod:`automatte.evaluation.papers`: the papers' published tables as data, with their table numbers.
* :mod:`automatte.evaluation.benchmark`: the three together, Markdown and JSON output.

Example:
    >>> from automatte.evaluation import PAPERS
    >>> PAPERS["aim"].table, PAPERS["aim"].benchmark
    ('Table 2', 'aim500')
"""

from automatte.evaluation.benchmark import BenchmarkResult, run_benchmark
from automatte.evaluation.folder import (
    REGIONS,
    evaluate_dataset,
    evaluate_folder,
    exact_levels,
    match_predictions,
    open_dataset,
)
from automatte.evaluation.papers import PAPERS, Column, PaperTable, our_row
from automatte.evaluation.predict import STRATEGIES, parse_scales, predict_alpha, predict_dataset

__all__ = [
    "evaluate_folder",
    "evaluate_dataset",
    "open_dataset",
    "match_predictions",
    "exact_levels",
    "REGIONS",
    "predict_alpha",
    "predict_dataset",
    "parse_scales",
    "STRATEGIES",
    "PAPERS",
    "PaperTable",
    "Column",
    "our_row",
    "run_benchmark",
    "BenchmarkResult",
]
