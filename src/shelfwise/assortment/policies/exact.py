"""Exact (dynamic programming) and linear-programming policies."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linprog

from shelfwise.assortment.policies._common import (
    _TIE,
    _check_int,
    _gains,
    _table,
    _to_dict,
)
from shelfwise.assortment.problem import (
    DisplayProblem,
    PayoffEstimator,
)
from shelfwise.assortment.search import best_facings
from shelfwise.exceptions import InvalidParameterError, ShelfwiseError

# --------------------------------------------------------------------------- exact and LP


class DynamicProgrammingPolicy:
    """Exact optimum of the predicted mean payoff (the "Dynamic Program" row of Table 1).

    Maximises ``sum_p mean[p, q_p]`` over the eligible products subject to ``sum_p q_p <=
    max_slots`` and ``q_p <= max_facings`` with the knapsack DP of
    :func:`~shelfwise.assortment.search.best_facings`. It trusts the predicted means fully,
    uncertainty included.

    Parameters
    ----------
    payoffs : PayoffEstimator
        The payoff model.
    name : str
        Label in result tables.
    """

    deterministic: bool = True
    """Whether the same problem always gets the same recommendation (``rng`` unused)."""

    def __init__(self, payoffs: PayoffEstimator, *, name: str = "DP") -> None:
        self.payoffs = payoffs
        self.name = name

    def recommend(self, problem: DisplayProblem, rng: np.random.Generator) -> dict[str, int]:
        """Facings per product for ``problem``; ``rng`` is not used."""
        if not problem.eligible:
            return {}
        gains = _gains(_table(self.payoffs, problem), problem)
        facings, _ = best_facings(
            dict(zip(problem.eligible, gains, strict=True)), problem.max_slots
        )
        return facings


@dataclass(frozen=True)
class LPRelaxation:
    """Solution of the LP relaxation of the facings knapsack.

    Attributes
    ----------
    y : ndarray, shape (n_products, Q)
        ``y[p, q - 1]`` in [0, 1]: share of product p placed at q facings.
    objective : float
        Optimal value ``sum gains[p, q] * y[p, q - 1]``, an upper bound of the integer optimum.
    """

    y: NDArray[np.float64]
    objective: float


def solve_lp_relaxation(gains: NDArray[np.float64], max_slots: int) -> LPRelaxation:
    """LP relaxation of the multiple-choice knapsack, solved with HiGHS (scipy ``linprog``).

    Variables ``y[p, q]`` in [0, 1] for q = 1..Q with ``sum_q y[p, q] <= 1`` per product and
    ``sum_{p, q} q * y[p, q] <= max_slots``; maximise ``sum gains[p, q] * y[p, q]``.

    Parameters
    ----------
    gains : ndarray, shape (n_products, Q + 1)
        Payoff of each product at 0..Q facings (column 0 is the baseline and is not a variable;
        pass payoffs relative to it).
    max_slots : int
        Facings budget (>= 0).
    """
    gains = np.asarray(gains, dtype=np.float64)
    if gains.ndim != 2 or gains.shape[1] < 2 or not np.isfinite(gains).all():
        raise InvalidParameterError(
            f"gains must be a finite 2-d array with >= 2 columns; got shape {gains.shape}"
        )
    max_slots = _check_int("max_slots", max_slots, low=0)
    n, cap = gains.shape[0], gains.shape[1] - 1
    if n == 0:
        return LPRelaxation(np.zeros((0, cap)), 0.0)
    per_product = np.kron(np.eye(n), np.ones((1, cap)))
    slots = np.tile(np.arange(1, cap + 1, dtype=np.float64), n)[None, :]
    res = linprog(
        -gains[:, 1:].ravel(),
        A_ub=np.vstack([per_product, slots]),
        b_ub=np.concatenate([np.ones(n), [float(max_slots)]]),
        bounds=(0.0, 1.0),
        method="highs",
    )
    if res.status != 0:
        raise ShelfwiseError(f"linprog (HiGHS) failed on the facings LP: {res.message}")
    y = np.clip(np.asarray(res.x, dtype=np.float64), 0.0, 1.0).reshape(n, cap)
    return LPRelaxation(y, float(-res.fun))


class LinearProgrammingPolicy:
    """LP relaxation of the facings knapsack, rounded (the "Linear Program" row of Table 1).

    Solves :func:`solve_lp_relaxation` on the predicted mean payoffs, then rounds. The rounding
    is ours (the paper does not give one): per product, take the facings with the largest share
    among ``y[p, 0] = 1 - sum_q y[p, q]`` (leave it out) and ``y[p, 1..Q]``, ties (within 1e-9)
    to fewer facings; then, while over budget, drop whole products in increasing order of
    predicted mean payoff per facing (ties: first in sorted order). Counting the left-out
    share keeps a product the LP holds at, say, 0.3 of one option from being placed. The result
    is feasible but not always the integer optimum.

    Parameters
    ----------
    payoffs : PayoffEstimator
        The payoff model.
    name : str
        Label in result tables.
    """

    deterministic: bool = True
    """Whether the same problem always gets the same recommendation (``rng`` unused)."""

    def __init__(self, payoffs: PayoffEstimator, *, name: str = "LP") -> None:
        self.payoffs = payoffs
        self.name = name

    def recommend(self, problem: DisplayProblem, rng: np.random.Generator) -> dict[str, int]:
        """Facings per product for ``problem``; ``rng`` is not used."""
        if not problem.eligible:
            return {}
        gains = _gains(_table(self.payoffs, problem), problem)
        relax = solve_lp_relaxation(gains, problem.max_slots)
        shares = np.hstack([1.0 - relax.y.sum(axis=1, keepdims=True), relax.y])
        top = shares.max(axis=1, keepdims=True)
        x = np.argmax(shares >= top - _TIE, axis=1).astype(np.int64)  # first = fewest facings
        rows = np.arange(x.size)
        per_facing = gains[rows, x] / np.maximum(x, 1)
        for i in sorted(np.flatnonzero(x > 0), key=lambda i: (per_facing[i], i)):
            if int(x.sum()) <= problem.max_slots:
                break
            x[i] = 0
        return _to_dict(problem.eligible, x)
