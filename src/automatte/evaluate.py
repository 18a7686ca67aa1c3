"""Kept for existing imports: the evaluation runner lives in :mod:`automatte.evaluation` (``evaluation.folder``).

Example:
    >>> from automatte.evaluate import evaluate_folder
    >>> evaluate_folder.__module__
    'automatte.evaluation.folder'
"""

from automatte.evaluation.folder import REGIONS, evaluate_folder, exact_levels, match_predictions

__all__ = ["evaluate_folder", "match_predictions", "exact_levels", "REGIONS"]
