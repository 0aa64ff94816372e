"""The MOPO-style uncertainty-penalised model-based baseline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from shelfwise.assortment.policies._common import (
    _check_float,
    _check_int,
    _gains,
    _greedy_fill,
    _state_vector,
    _table,
)
from shelfwise.assortment.problem import (
    DisplayProblem,
    PayoffEstimator,
)
from shelfwise.assortment.search import best_facings
from shelfwise.exceptions import InvalidParameterError

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
