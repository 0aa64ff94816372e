"""Assortment decisions per display: candidate generation, EdgeRec3D's heuristic search, and the
exact knapsack optimum used as the oracle on the synthetic chain."""

from shelfwise.assortment.candidates import Candidate, CooccurrenceGraph, generate_candidates
from shelfwise.assortment.search import SearchResult, best_facings, heuristic_search

__all__ = [
    "Candidate",
    "CooccurrenceGraph",
    "SearchResult",
    "best_facings",
    "generate_candidates",
    "heuristic_search",
]
