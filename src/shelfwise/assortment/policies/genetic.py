"""The genetic-algorithm baseline (70% crossover, 30% random action)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from shelfwise.assortment.policies._common import (
    _check_float,
    _check_int,
    _gains,
    _per_facing,
    _random_vectors,
    _repair,
    _state_vector,
    _table,
    _to_dict,
    _trim,
)
from shelfwise.assortment.problem import (
    DisplayProblem,
    PayoffEstimator,
)

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
        per = _per_facing(gains)
        n, cap, budget = len(ids), problem.max_facings, problem.max_slots
        rows = np.arange(n)

        def fitness(pop: NDArray[np.int64]) -> NDArray[np.float64]:
            return np.asarray(gains[rows, pop].sum(axis=1))

        pop = np.vstack(
            [
                _repair(_state_vector(problem), gains, budget)[None, :],
                _random_vectors(self.population - 1, n, cap, budget, rng),
            ]
        )
        fit = fitness(pop)
        k = self.population - 1  # children per generation, next to the elite
        each = np.arange(k)
        for _ in range(self.generations):
            # tournaments of two: column 0 picks the mother (or the parent to mutate)
            draws = rng.integers(self.population, size=(k, 2, 2))
            firsts = fit[draws[..., 0]] >= fit[draws[..., 1]]
            parents = np.where(firsts, draws[..., 0], draws[..., 1])
            mother, father = pop[parents[:, 0]], pop[parents[:, 1]]
            crossed = np.where(rng.random((k, n)) < 0.5, mother, father)
            mutated = mother  # a copy already (fancy indexing), free to change
            mutated[each, rng.integers(n, size=k)] = rng.integers(cap + 1, size=k)
            use_cross = rng.random(k) < self.crossover
            children = np.where(use_cross[:, None], crossed, mutated)
            nxt = np.empty_like(pop)
            nxt[0] = pop[int(np.argmax(fit))]  # the elite
            # parents lie within 0..cap and mutations draw from it: only the budget to mend
            nxt[1:] = _trim(children, per, budget)
            pop = nxt
            fit = fitness(pop)
        return _to_dict(ids, pop[int(np.argmax(fit))])
