"""EdgeRec3D's search policy, the greedy ablation, epsilon-greedy and random."""

from __future__ import annotations

from typing import Literal

import numpy as np

from shelfwise.assortment.policies._common import (
    _check_float,
    _check_int,
    _gains,
    _greedy_fill,
    _random_vector,
    _rows,
    _table,
    _to_dict,
)
from shelfwise.assortment.problem import (
    DisplayProblem,
    PayoffEstimator,
)
from shelfwise.assortment.search import heuristic_search
from shelfwise.exceptions import InvalidParameterError

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
    steps : int
        T, search steps per recommendation (used by ``fill="marginal"``).
    fill : {"marginal", "keep"}
        How the search fills the budget after the swaps: ``"marginal"`` (default) facing by
        facing by PEPF gain, over ``steps`` improving steps; ``"keep"`` the paper's pseudo-code
        read literally (one pass, products keep their facings). See
        :mod:`shelfwise.assortment.search`.
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
        steps: int = 5,
        fill: Literal["marginal", "keep"] = "marginal",
        name: str = "EdgeRec3D",
    ) -> None:
        self.payoffs = payoffs
        self.lam = _check_float("lam", lam, low=0.0)
        self.n_swaps = _check_int("n_swaps", n_swaps, low=0)
        self.epsilon = _check_float("epsilon", epsilon, low=0.0, high=1.0)
        self.steps = _check_int("steps", steps, low=1)
        if fill not in ("marginal", "keep"):
            raise InvalidParameterError(f"fill must be 'marginal' or 'keep'; got {fill!r}")
        self.fill = fill
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
            steps=self.steps,
            fill=self.fill,
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
