"""Evaluation: difference-in-differences with permutation tests, compliance, figures.

(The replay evaluator and ground-truth evaluation of policies come with the assortment work.)
"""

from shelfwise.evaluation.compliance import jaccard
from shelfwise.evaluation.did import (
    DIDResult,
    difference_in_differences,
    read_panel,
    unit_changes,
)
from shelfwise.evaluation.figures import did_trend_figure

__all__ = [
    "DIDResult",
    "did_trend_figure",
    "difference_in_differences",
    "jaccard",
    "read_panel",
    "unit_changes",
]
