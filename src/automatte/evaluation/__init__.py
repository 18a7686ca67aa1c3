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

import importlib

# Imported on first use: the ``automatte`` command builds its parser from ``evaluation.cli`` and must not pay for
# the metrics, torch and the readers on every call.
_LAZY = {
    "run_benchmark": "automatte.evaluation.benchmark",
    "BenchmarkResult": "automatte.evaluation.benchmark",
    "REGIONS": "automatte.evaluation.folder",
    "evaluate_dataset": "automatte.evaluation.folder",
    "evaluate_folder": "automatte.evaluation.folder",
    "exact_levels": "automatte.evaluation.folder",
    "match_predictions": "automatte.evaluation.folder",
    "open_dataset": "automatte.evaluation.folder",
    "PAPERS": "automatte.evaluation.papers",
    "Column": "automatte.evaluation.papers",
    "PaperTable": "automatte.evaluation.papers",
    "our_row": "automatte.evaluation.papers",
    "STRATEGIES": "automatte.evaluation.predict",
    "parse_scales": "automatte.evaluation.predict",
    "predict_alpha": "automatte.evaluation.predict",
    "predict_dataset": "automatte.evaluation.predict",
}
__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'automatte.evaluation' has no attribute {name!r}")
