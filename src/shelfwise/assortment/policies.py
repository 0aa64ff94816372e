"""Assortment policies: EdgeRec3D, its search ablation and the baselines of its offline study.

EdgeRec3D (§4.1, Table 1; §8.1.2; Table 3) compares its heuristic search to a dynamic program,
a linear program, epsilon-greedy, a genetic algorithm, deep ensembles and MOPO, and ablates the
search by "a greedy search without the penalized reward ranking statistic". Every policy here
implements :class:`~shelfwise.assortment.problem.AssortmentPolicy`: it asks its payoff model
for the display's eligible products (``payoffs.table(store_id, eligible, max_facings,
cluster=cluster)``) and returns facings per product (zeros left out) within ``max_slots`` and
``max_facings``. All of them optimise the *predicted* payoff; none of them sees outcomes.

Payoffs are used relative to column 0 (no facings); the tables normally have 0 there.

:class:`ReplayAdapter` lets any of them run in the replay evaluator
(:mod:`shelfwise.evaluation.replay`) without this module importing the evaluation layer: the
replay protocol is structural, and the adapter only needs context objects with ``store_id``,
``display_id``, ``previous_state`` and ``max_slots`` (:class:`SlotContextLike`).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linprog

from shelfwise.assortment.problem import (
    AssortmentPolicy,
    DisplayProblem,
    PayoffEstimator,
    PayoffTable,
    check_recommendation,
)
from shelfwise.assortment.search import best_facings, heuristic_search
from shelfwise.exceptions import InvalidParameterError, NotFittedError, ShelfwiseError

__all__ = [
    "POLICY_NAMES",
    "DynamicProgrammingPolicy",
    "EdgeRec3DPolicy",
    "EnsemblePayoffEstimator",
    "EpsilonGreedyPolicy",
    "GeneticPolicy",
    "GreedyPolicy",
    "LPRelaxation",
    "LinearProgrammingPolicy",
    "MOPOPolicy",
    "RandomPolicy",
    "ReplayAdapter",
    "SlotContextLike",
    "solve_lp_relaxation",
]

#: Default names of the policies, in the order of EdgeRec3D's Table 1 plus the ablations.
POLICY_NAMES: tuple[str, ...] = (
    "DP",
    "LP",
    "epsilon-greedy",
    "genetic",
    "MOPO",
    "EdgeRec3D",
    "greedy",
    "random",
)

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


def _repair(x: NDArray[np.int64], gains: NDArray[np.float64], max_slots: int) -> NDArray[np.int64]:
    """Clip at 0..Q, then trim the lowest value-per-facing product while over budget.

    ``x`` is one facings vector or a 2-d stack of them (one per row). Each trim removes the
    overshoot (or all of the product's facings, if fewer) from the product whose predicted
    mean payoff per facing is lowest (ties: lowest column).
    """
    cap = gains.shape[1] - 1
    pop = np.atleast_2d(np.clip(x, 0, cap)).astype(np.int64)
    cols = np.arange(pop.shape[1])[None, :]
    while True:
        over = pop.sum(axis=1) - max_slots
        bad = np.flatnonzero(over > 0)
        if bad.size == 0:
            break
        sub = pop[bad]
        per_facing = np.where(sub > 0, gains[cols, sub] / np.maximum(sub, 1), np.inf)
        worst = np.argmin(per_facing, axis=1)
        pop[bad, worst] -= np.minimum(sub[np.arange(bad.size), worst], over[bad])
    return pop.reshape(np.shape(x))


# --------------------------------------------------------------------------- EdgeRec3D and greedy


class EdgeRec3DPolicy:
    """EdgeRec3D: PEPF scores fed to the heuristic search (Algorithm 2, §3.5).

    Each product is scored by PEPF, ``E[r] - lam * sd[r]`` (Eq. 6), from the payoff model; the
    ``n_swaps`` lowest-scoring products on the display are halved, the freed facings go to
    candidates epsilon-greedily, and the rest of the budget keeps the best products already on
    the display (:func:`~shelfwise.assortment.search.heuristic_search`). Facings above
    ``max_facings`` (a display may hold more than the model's cap) are clipped to it.

    Parameters
    ----------
    payoffs : PayoffEstimator
        The payoff model (RBP in EdgeRec3D; a deep ensemble for the "Deep Ensembles" row).
    lam : float
        Uncertainty penalty lambda of Eq. 6 (>= 0; 1.0 in the paper's §8.2).
    n_swaps : int
        V, products decayed and replaced per recommendation (2 in the paper).
    epsilon : float
        Probability of a random candidate per swap (0.05 in the paper).
    name : str
        Label in result tables.
    """

    deterministic: bool = False
    """Whether the same problem always gets the same recommendation (``rng`` unused)."""

    def __init__(
        self,
        payoffs: PayoffEstimator,
        *,
        lam: float = 1.0,
        n_swaps: int = 2,
        epsilon: float = 0.05,
        name: str = "EdgeRec3D",
    ) -> None:
        self.payoffs = payoffs
        self.lam = _check_float("lam", lam, low=0.0)
        self.n_swaps = _check_int("n_swaps", n_swaps, low=0)
        self.epsilon = _check_float("epsilon", epsilon, low=0.0, high=1.0)
        self.name = name

    def recommend(self, problem: DisplayProblem, rng: np.random.Generator) -> dict[str, int]:
        """Facings per product for ``problem`` (see the class docstring)."""
        if not problem.eligible:
            return {}
        table = _table(self.payoffs, problem)
        scores = _rows(table, table.pepf(self.lam), problem, "PEPF")
        result = heuristic_search(
            problem.state,
            problem.candidates,
            dict(zip(problem.eligible, scores, strict=True)),
            max_slots=problem.max_slots,
            n_swaps=self.n_swaps,
            epsilon=self.epsilon,
            rng=rng,
        )
        return {p: min(q, problem.max_facings) for p, q in result.facings.items() if q > 0}


class GreedyPolicy:
    """Greedy fill by predicted mean payoff: EdgeRec3D's "without heuristic search" ablation.

    Starting from an empty display, repeatedly add one facing to the eligible product with the
    largest marginal gain in predicted *mean* payoff (no uncertainty penalty, no decay), until
    the budget is used, every product is at ``max_facings``, or no gain is positive. Ties go to
    the first product in sorted order. When every product's payoff is concave in its facings
    this is the exact optimum (the marginal gains are then a sorted list to take from).

    Parameters
    ----------
    payoffs : PayoffEstimator
        The payoff model.
    name : str
        Label in result tables.
    """

    deterministic: bool = True
    """Whether the same problem always gets the same recommendation (``rng`` unused)."""

    def __init__(self, payoffs: PayoffEstimator, *, name: str = "greedy") -> None:
        self.payoffs = payoffs
        self.name = name

    def recommend(self, problem: DisplayProblem, rng: np.random.Generator) -> dict[str, int]:
        """Facings per product for ``problem``; ``rng`` is not used."""
        if not problem.eligible:
            return {}
        gains = _gains(_table(self.payoffs, problem), problem)
        return _to_dict(problem.eligible, _greedy_fill(gains, problem.max_slots))


class EpsilonGreedyPolicy:
    """Epsilon-greedy fill (EdgeRec3D §8.1.2 uses epsilon = 0.1).

    The greedy marginal-gain fill of :class:`GreedyPolicy`, except that each facing, with
    probability ``epsilon``, goes to a uniformly random eligible product that is below
    ``max_facings``. The fill stops when the budget is used, every product is at the cap, or a
    greedy step finds no positive gain. With ``epsilon = 0`` it is :class:`GreedyPolicy`.

    Parameters
    ----------
    payoffs : PayoffEstimator
        The payoff model.
    epsilon : float
        Probability, per facing, of a random product (in [0, 1]).
    name : str
        Label in result tables.
    """

    deterministic: bool = False
    """Whether the same problem always gets the same recommendation (``rng`` unused)."""

    def __init__(
        self, payoffs: PayoffEstimator, *, epsilon: float = 0.1, name: str = "epsilon-greedy"
    ) -> None:
        self.payoffs = payoffs
        self.epsilon = _check_float("epsilon", epsilon, low=0.0, high=1.0)
        self.name = name

    def recommend(self, problem: DisplayProblem, rng: np.random.Generator) -> dict[str, int]:
        """Facings per product for ``problem``."""
        if not problem.eligible:
            return {}
        gains = _gains(_table(self.payoffs, problem), problem)
        x = _greedy_fill(gains, problem.max_slots, epsilon=self.epsilon, rng=rng)
        return _to_dict(problem.eligible, x)


class RandomPolicy:
    """Random facings: the floor every search policy should beat.

    Exactly: the eligible products are put in a uniformly random order (``rng.permutation``);
    each in turn gets a number of facings drawn uniformly from ``1..min(max_facings, budget
    left)``, until the budget ``max_slots`` is used up or every eligible product has been
    placed. Needs no payoff model.

    Parameters
    ----------
    name : str
        Label in result tables.
    """

    deterministic: bool = False
    """Whether the same problem always gets the same recommendation (``rng`` unused)."""

    def __init__(self, *, name: str = "random") -> None:
        self.name = name

    def recommend(self, problem: DisplayProblem, rng: np.random.Generator) -> dict[str, int]:
        """Random facings per product for ``problem``."""
        ids = problem.eligible
        return _to_dict(ids, _random_vector(len(ids), problem.max_facings, problem.max_slots, rng))


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


# --------------------------------------------------------------------------- genetic


class GeneticPolicy:
    """Genetic algorithm over facings vectors (the "Genetic" row of Table 1, §8.1.2).

    The population holds feasible facings vectors over the eligible products: the display's
    current state (clipped at ``max_facings`` and repaired to the budget) and random feasible
    vectors (drawn as by :class:`RandomPolicy`). Fitness is the predicted mean payoff. Each
    generation keeps its best individual (elitism) and makes ``population - 1`` new ones: with
    probability ``crossover`` (0.7: the paper "randomly marr[ies] 70% of pairs together to form
    a new configuration") a uniform crossover of two parents, each the fitter of two drawn at
    random (tournament of 2); otherwise ("choose a random action 30% of the time") a random
    *mutation*: a tournament-chosen parent with one random product's facings redrawn uniformly
    from 0..max_facings. Children are repaired: clipped at max_facings, then, while over
    budget, the product with the lowest predicted payoff per facing loses the overshoot (or all
    its facings). The best individual seen is returned. Deterministic given ``rng``.

    Parameters
    ----------
    payoffs : PayoffEstimator
        The payoff model.
    population : int
        Individuals per generation (>= 2).
    generations : int
        Generations after the initial one (>= 0).
    crossover : float
        Share of new individuals made by crossover (in [0, 1]); the rest are mutations.
    name : str
        Label in result tables.
    """

    deterministic: bool = False
    """Whether the same problem always gets the same recommendation (``rng`` unused)."""

    def __init__(
        self,
        payoffs: PayoffEstimator,
        *,
        population: int = 40,
        generations: int = 30,
        crossover: float = 0.7,
        name: str = "genetic",
    ) -> None:
        self.payoffs = payoffs
        self.population = _check_int("population", population, low=2)
        self.generations = _check_int("generations", generations, low=0)
        self.crossover = _check_float("crossover", crossover, low=0.0, high=1.0)
        self.name = name

    def recommend(self, problem: DisplayProblem, rng: np.random.Generator) -> dict[str, int]:
        """Facings per product for ``problem``."""
        ids = problem.eligible
        if not ids:
            return {}
        gains = _gains(_table(self.payoffs, problem), problem)
        n, cap, budget = len(ids), problem.max_facings, problem.max_slots
        rows = np.arange(n)

        def fitness(pop: NDArray[np.int64]) -> NDArray[np.float64]:
            return np.asarray(gains[rows, pop].sum(axis=1))

        pop = np.stack(
            [_repair(_state_vector(problem), gains, budget)]
            + [_random_vector(n, cap, budget, rng) for _ in range(self.population - 1)]
        )
        fit = fitness(pop)
        k = self.population - 1  # children per generation, next to the elite
        for _ in range(self.generations):
            # tournaments of two: column 0 picks the mother (or the parent to mutate)
            draws = rng.integers(self.population, size=(k, 2, 2))
            firsts = fit[draws[..., 0]] >= fit[draws[..., 1]]
            parents = np.where(firsts, draws[..., 0], draws[..., 1])
            mother, father = pop[parents[:, 0]], pop[parents[:, 1]]
            crossed = np.where(rng.random((k, n)) < 0.5, mother, father)
            mutated = mother.copy()
            mutated[np.arange(k), rng.integers(n, size=k)] = rng.integers(cap + 1, size=k)
            use_cross = rng.random(k) < self.crossover
            children = np.where(use_cross[:, None], crossed, mutated)
            elite = pop[int(np.argmax(fit))]
            pop = np.vstack([elite[None, :], _repair(children, gains, budget)])
            fit = fitness(pop)
        return _to_dict(ids, pop[int(np.argmax(fit))])


# --------------------------------------------------------------------------- MOPO


class EnsemblePayoffEstimator(PayoffEstimator, Protocol):
    """A payoff model that is an ensemble and reports its members' disagreement."""

    def epistemic_sd(
        self,
        store_id: str,
        product_ids: Sequence[str],
        max_facings: int,
        cluster: str | None = None,
    ) -> NDArray[np.float64]:
        """Standard deviation of the members' mean payoffs, shape (n_products, Q + 1), rows in
        ``product_ids`` order."""
        ...


class MOPOPolicy:
    """MOPO-style uncertainty-penalised model-based policy (Yu et al., NeurIPS 2020).

    MOPO learns a dynamics ensemble, penalises the model reward by the ensemble's disagreement,
    ``r~ = r - lam * u``, and optimises a policy on rollouts of the model that start from real
    states. A display visit is one decision with no long transition dynamics, so this is a
    one-step (bandit) adaptation, not MOPO's full model-based RL; EdgeRec3D §8.1.2 describes
    its MOPO as "5 rollouts with the dynamics ensemble at each step, and update a tabular
    policy with a buffer of real observations and rollouts". Here, per recommendation:

    1. ``u`` is the ensemble's epistemic sd (sd of its members' means) per product and facings.
    2. The tabular value ``T[p, q]`` averages ``1 + rollouts`` episodes. The real-data episode
       starts from the current state: it credits each product on the display with the
       penalised model mean ``mean - lam * u`` at 1..(its facings). Each rollout draws an
       ensemble-consistent sample ``mean + u * z_p``, one ``z_p ~ N(0, 1)`` per product (from
       ``rng``), runs the greedy marginal-gain fill on the penalised sample ``sample - lam *
       u`` and credits each product the penalised sample at 1..(the facings the fill gave it).
       Entries an episode does not reach get 0 in that episode.
    3. The recommendation is the exact optimum (knapsack DP) of ``T``.

    Parameters
    ----------
    ensemble : EnsemblePayoffEstimator
        A payoff model with ``table(...)`` and ``epistemic_sd(...)``.
    lam : float
        Uncertainty penalty (>= 0).
    rollouts : int
        Model rollouts per recommendation (5 in the paper).
    name : str
        Label in result tables.

    Raises
    ------
    InvalidParameterError
        When ``ensemble`` has no ``epistemic_sd`` method.
    """

    deterministic: bool = False
    """Whether the same problem always gets the same recommendation (``rng`` unused)."""

    def __init__(
        self,
        ensemble: EnsemblePayoffEstimator,
        *,
        lam: float = 1.0,
        rollouts: int = 5,
        name: str = "MOPO",
    ) -> None:
        if not callable(getattr(ensemble, "epistemic_sd", None)):
            raise InvalidParameterError(
                "ensemble must have an epistemic_sd(store_id, product_ids, max_facings, "
                f"cluster=None) method for MOPO; got {type(ensemble).__name__}"
            )
        self.ensemble = ensemble
        self.lam = _check_float("lam", lam, low=0.0)
        self.rollouts = _check_int("rollouts", rollouts, low=1)
        self.name = name

    def recommend(self, problem: DisplayProblem, rng: np.random.Generator) -> dict[str, int]:
        """Facings per product for ``problem``."""
        ids = problem.eligible
        if not ids:
            return {}
        gains = _gains(_table(self.ensemble, problem), problem)
        q = problem.max_facings
        u = np.asarray(
            self.ensemble.epistemic_sd(problem.store_id, ids, q, cluster=problem.cluster),
            dtype=np.float64,
        )
        if u.ndim != 2 or u.shape[0] != len(ids) or u.shape[1] < q + 1:
            raise InvalidParameterError(
                f"epistemic_sd must have shape ({len(ids)}, >= {q + 1}) for store "
                f"{problem.store_id}; got {u.shape}"
            )
        u = u[:, : q + 1]
        if not np.isfinite(u).all() or (u < 0).any():
            raise InvalidParameterError(
                f"epistemic_sd must be finite and >= 0 for store {problem.store_id}; got "
                f"min {float(np.nanmin(u))!r}"
            )
        cols = np.arange(q + 1)[None, :]

        def credit(values: NDArray[np.float64], x: NDArray[np.int64]) -> NDArray[np.float64]:
            reached = (cols >= 1) & (cols <= x[:, None])
            return np.where(reached, values, 0.0)

        table = credit(gains - self.lam * u, _state_vector(problem))
        for _ in range(self.rollouts):
            z = rng.standard_normal(len(ids))
            penalised = gains + u * z[:, None] - self.lam * u
            table += credit(penalised, _greedy_fill(penalised, problem.max_slots))
        table /= 1 + self.rollouts
        facings, _ = best_facings(dict(zip(ids, table, strict=True)), problem.max_slots)
        return facings


# --------------------------------------------------------------------------- replay adapter


class SlotContextLike(Protocol):
    """What :class:`ReplayAdapter` may read from a replay context (e.g. ``SlotContext``)."""

    @property
    def store_id(self) -> str:
        """The store."""
        ...

    @property
    def display_id(self) -> str:
        """The display."""
        ...

    @property
    def previous_state(self) -> Mapping[str, int]:
        """The display's facings at its previous logged visit."""
        ...

    @property
    def max_slots(self) -> int | None:
        """The display's facings budget, when logged."""
        ...


ContextT = TypeVar("ContextT", bound=SlotContextLike)


class ReplayAdapter(Generic[ContextT]):
    """Runs an :class:`AssortmentPolicy` in the replay evaluator (its ``ReplayPolicy`` protocol).

    The replay evaluator hands over contexts, not problems; ``problems`` builds the
    :class:`DisplayProblem` of a context (state from ``previous_state``, candidates, budget).
    The policies here are fixed offline (their payoff model was fitted beforehand), so
    :meth:`update` ignores the feedback. Each recommendation is checked with
    :func:`~shelfwise.assortment.problem.check_recommendation`.

    Parameters
    ----------
    policy : AssortmentPolicy
        The policy to run.
    problems : callable
        ``problems(context) -> DisplayProblem``.
    name : str or None
        Label in result tables; defaults to ``policy.name``.
    """

    def __init__(
        self,
        policy: AssortmentPolicy,
        problems: Callable[[ContextT], DisplayProblem],
        *,
        name: str | None = None,
    ) -> None:
        self.policy = policy
        self.problems = problems
        self.name = policy.name if name is None else name
        self._rng: np.random.Generator | None = None

    def reset(self, rng: np.random.Generator) -> None:
        """Start a run: the policy's randomness comes from ``rng`` from now on."""
        self._rng = rng

    def recommend(self, context: ContextT) -> Mapping[str, int]:
        """Facings per product for the context's display."""
        if self._rng is None:
            raise NotFittedError(f"ReplayAdapter {self.name!r} has no generator yet; call reset()")
        problem = self.problems(context)
        rec = self.policy.recommend(problem, self._rng)
        check_recommendation(problem, rec)
        return rec

    def update(self, context: ContextT, matched: Mapping[str, tuple[int, float]]) -> None:
        """Does nothing: the wrapped policy does not learn online."""
