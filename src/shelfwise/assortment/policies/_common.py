"""Parameter checks and the pieces every policy shares (tables, greedy fill, repair)."""

from __future__ import annotations

import heapq
import math

import numpy as np
from numpy.typing import NDArray

from shelfwise.assortment.problem import (
    DisplayProblem,
    PayoffEstimator,
    PayoffTable,
)
from shelfwise.exceptions import InvalidParameterError

_TIE = 1e-9
"""LP solutions closer than this count as equal when rounding."""


# --------------------------------------------------------------------------- parameter checks


def _check_float(name: str, value: float, *, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidParameterError(f"{name} must be a finite number; got {value!r}")
    if not low <= value <= high:
        rule = f">= {low}" if high == math.inf else f"in [{low}, {high}]"
        raise InvalidParameterError(f"{name} must be {rule}; got {value!r}")
    return float(value)


def _check_int(name: str, value: int, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidParameterError(f"{name} must be an integer; got {value!r}")
    if value < low:
        raise InvalidParameterError(f"{name} must be >= {low}; got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- shared pieces


def _rows(
    table: PayoffTable, matrix: NDArray[np.float64], problem: DisplayProblem, what: str
) -> NDArray[np.float64]:
    """Rows of ``matrix`` (laid out like ``table``) for ``problem.eligible``, columns 0..Q."""
    q = problem.max_facings
    if table.max_facings < q:
        raise InvalidParameterError(
            f"payoff table for store {problem.store_id} must cover 0..max_facings ({q}) "
            f"facings; got 0..{table.max_facings}"
        )
    idx = [table.row(p) for p in problem.eligible]
    out = np.asarray(matrix, dtype=np.float64)[idx, : q + 1]
    if not np.isfinite(out).all():
        raise InvalidParameterError(
            f"payoff table {what} for store {problem.store_id} must be finite; got "
            f"non-finite values for display {problem.display_id}"
        )
    return out


def _table(payoffs: PayoffEstimator, problem: DisplayProblem) -> PayoffTable:
    return payoffs.table(
        problem.store_id, problem.eligible, problem.max_facings, cluster=problem.cluster
    )


def _gains(table: PayoffTable, problem: DisplayProblem) -> NDArray[np.float64]:
    """Predicted mean payoff over no facings, shape (n_eligible, Q + 1), column 0 is 0."""
    mean = _rows(table, table.mean, problem, "mean")
    return np.asarray(mean - mean[:, :1])


def _to_dict(products: tuple[str, ...], facings: NDArray[np.int64]) -> dict[str, int]:
    return {p: int(q) for p, q in zip(products, facings, strict=True) if q > 0}


def _state_vector(problem: DisplayProblem) -> NDArray[np.int64]:
    """The display's current facings over ``problem.eligible``, clipped at max_facings."""
    return np.array(
        [min(int(problem.state.get(p, 0)), problem.max_facings) for p in problem.eligible],
        dtype=np.int64,
    )


def _greedy_fill(
    values: NDArray[np.float64],
    max_slots: int,
    *,
    epsilon: float = 0.0,
    rng: np.random.Generator | None = None,
) -> NDArray[np.int64]:
    """Add one facing at a time to the product with the largest marginal gain.

    ``values[i, q]`` is product i's payoff at q facings. Stops when the budget is used, every
    product is at its cap, or (on a greedy step) no marginal gain is positive. With probability
    ``epsilon`` a step instead gives its facing to a uniformly random product below the cap
    (one ``rng.random()`` draw per step, and one ``rng.integers`` draw per random step). Ties go
    to the lowest row. A heap of marginal gains (stale entries skipped) keeps each step
    O(log n).
    """
    n, width = values.shape
    cap = width - 1
    vals = np.asarray(values, dtype=np.float64).tolist()
    x = [0] * n
    heap: list[tuple[float, int, int]] = []
    if cap > 0:
        heap = [(-(vals[i][1] - vals[i][0]), i, 0) for i in range(n)]
        heapq.heapify(heap)
    open_count = n if cap > 0 else 0
    for _ in range(max_slots):
        if open_count == 0:
            break
        if epsilon > 0.0 and rng is not None and rng.random() < epsilon:
            choices = [k for k in range(n) if x[k] < cap]
            i = choices[int(rng.integers(len(choices)))]
        else:
            while heap and heap[0][2] != x[heap[0][1]]:
                heapq.heappop(heap)
            if not heap or not -heap[0][0] > 0.0:
                break
            i = heapq.heappop(heap)[1]
        x[i] += 1
        if x[i] < cap:
            heapq.heappush(heap, (-(vals[i][x[i] + 1] - vals[i][x[i]]), i, x[i]))
        else:
            open_count -= 1
    return np.asarray(x, dtype=np.int64)


def _random_vector(n: int, cap: int, max_slots: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """Products in a uniformly random order, each given uniform 1..min(cap, budget left)."""
    x = np.zeros(n, dtype=np.int64)
    budget = max_slots
    for i in rng.permutation(n):
        if budget <= 0:
            break
        give = int(rng.integers(1, min(cap, budget) + 1))
        x[i] = give
        budget -= give
    return x


def _random_vectors(
    k: int, n: int, cap: int, max_slots: int, rng: np.random.Generator
) -> NDArray[np.int64]:
    """``k`` vectors drawn as by :func:`_random_vector`, all at once (shape ``(k, n)``).

    Each row visits the products in its own uniformly random order and gives each uniform
    1..min(cap, budget left) facings; the same distribution as ``k`` calls of
    :func:`_random_vector`, from other draws of ``rng``.
    """
    x = np.zeros((k, n), dtype=np.int64)
    if k == 0 or n == 0 or cap < 1:
        return x
    order = np.argsort(rng.random((k, n)), axis=1)
    u = rng.random((k, n))
    budget = np.full(k, int(max_slots), dtype=np.int64)
    rows = np.arange(k)
    for j in range(n):
        most = np.minimum(cap, budget)
        give = np.where(most > 0, np.minimum((u[:, j] * most).astype(np.int64) + 1, most), 0)
        x[rows, order[:, j]] = give
        budget -= give
    return x


def _repair(x: NDArray[np.int64], gains: NDArray[np.float64], max_slots: int) -> NDArray[np.int64]:
    """Clip at 0..Q, then trim the lowest value-per-facing product while over budget.

    ``x`` is one facings vector or a 2-d stack of them (one per row). Each trim removes the
    overshoot (or all of the product's facings, if fewer) from the product whose predicted
    mean payoff per facing is lowest (ties: lowest column).
    """
    cap = gains.shape[1] - 1
    pop = np.atleast_2d(x).astype(np.int64)  # a copy, clipped in place
    np.minimum(pop, cap, out=pop)
    np.maximum(pop, 0, out=pop)
    return _trim(pop, _per_facing(gains), max_slots).reshape(np.shape(x))


def _per_facing(gains: NDArray[np.float64]) -> NDArray[np.float64]:
    """``gains[i, q] / q``: product i's predicted payoff per facing at q facings; ``inf`` at
    q = 0 (a product without facings is never trimmed)."""
    q = np.arange(gains.shape[1])
    per = np.asarray(gains / np.maximum(q, 1), dtype=np.float64)
    per[:, 0] = np.inf
    return per


def _trim(pop: NDArray[np.int64], per: NDArray[np.float64], max_slots: int) -> NDArray[np.int64]:
    """:func:`_repair` for rows already within 0..Q, in place; ``per`` is :func:`_per_facing`.

    A trim leaves every other product's value per facing unchanged and removes the product it
    hits, unless it is the last trim: so the trims take products in stable ascending order of
    value per facing until the overshoot is gone. (Plain fancy indexing and ufuncs, not
    take/put_along_axis or clip: the genetic baseline calls this once per generation, where
    numpy's per-call overhead is most of the cost.)
    """
    over = pop.sum(axis=1) - max_slots
    bad = np.flatnonzero(over > 0)
    if bad.size:
        sub = pop[bad]
        order = np.argsort(per[np.arange(pop.shape[1]), sub], axis=1, kind="stable")
        at = np.arange(bad.size)[:, None]
        held = sub[at, order]
        before = np.cumsum(held, axis=1) - held
        cut = np.minimum(np.maximum(over[bad, None] - before, 0), held)
        sub[at, order] = held - cut
        pop[bad] = sub
    return pop
