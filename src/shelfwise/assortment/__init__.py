"""Assortment decisions per display: candidate generation, payoff models seen as tables,
EdgeRec3D's heuristic search and the baseline policies behind one interface, and turning a
policy's facings into a laid-out recommendation."""

from shelfwise.assortment.candidates import Candidate, CooccurrenceGraph, generate_candidates
from shelfwise.assortment.problem import (
    AssortmentPolicy,
    DisplayProblem,
    PayoffEstimator,
    PayoffTable,
    check_recommendation,
)
from shelfwise.assortment.search import SearchResult, best_facings, heuristic_search

__all__ = [
    "AssortmentPolicy",
    "Candidate",
    "CooccurrenceGraph",
    "DisplayProblem",
    "PayoffEstimator",
    "PayoffTable",
    "SearchResult",
    "best_facings",
    "check_recommendation",
    "generate_candidates",
    "heuristic_search",
]
