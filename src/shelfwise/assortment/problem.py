"""The records and protocols every assortment policy shares.

A policy decides for one display at a time. It sees a :class:`DisplayProblem` (the display's
current state, its candidate products, its facings budget) and a payoff model behind the
:class:`PayoffEstimator` protocol, which gives, for one store, the predicted payoff (units per
day) of each product at 0..Q facings as a :class:`PayoffTable` (mean and standard deviation).
EdgeRec3D's search, the classic baselines and the ablations all meet here, so the replay
evaluator, the ground-truth evaluation on the synthetic chain and the CLI drive them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from shelfwise.exceptions import InvalidParameterError


@dataclass(frozen=True)
class DisplayProblem:
    """One display's decision: what is on it, what could go on it, how much room there is.

    Attributes
    ----------
    store_id, display_id : str
        Where.
    state : mapping of product_id to int
        Facings per product on the display now (the seed set S with Q_S).
    candidates : tuple of str
        Products not on the display that may be brought in (candidate set C), best vote first.
    max_slots : int
        Facings budget M of the display.
    max_facings : int
        Most facings one product may get (Q); payoff tables run 0..Q.
    cluster : str or None
        The store's cluster label, for payoff models that need it for a store they never saw.
    """

    store_id: str
    display_id: str
    state: Mapping[str, int]
    candidates: tuple[str, ...]
    max_slots: int
    max_facings: int = 14
    cluster: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.max_slots, bool) or not isinstance(self.max_slots, int):
            raise InvalidParameterError(
                f"max_slots must be an integer for display {self.display_id}; "
                f"got {self.max_slots!r}"
            )
        if self.max_slots < 1:
            raise InvalidParameterError(
                f"max_slots must be >= 1 for display {self.display_id}; got {self.max_slots}"
            )
        if isinstance(self.max_facings, bool) or not isinstance(self.max_facings, int):
            raise InvalidParameterError(f"max_facings must be an integer; got {self.max_facings!r}")
        if self.max_facings < 1:
            raise InvalidParameterError(f"max_facings must be >= 1; got {self.max_facings}")
        for p, q in self.state.items():
            if isinstance(q, bool) or not isinstance(q, int | np.integer) or q < 0:
                raise InvalidParameterError(
                    f"state facings must be integers >= 0 for display {self.display_id}; "
                    f"product {p!r} has {q!r}"
                )

    @cached_property
    def eligible(self) -> tuple[str, ...]:
        """Products a policy may recommend: those on the display and the candidates, sorted."""
        return tuple(sorted({p for p, q in self.state.items() if q > 0} | set(self.candidates)))


@dataclass(frozen=True, eq=False)
class PayoffTable:
    """Predicted payoff of products at one store, at 0..Q facings.

    Attributes
    ----------
    store_id : str
        The store.
    product_ids : tuple of str
        Row order.
    mean, sd : ndarray, shape (n_products, Q + 1)
        Predictive mean and standard deviation of the payoff (units per day) at ``q`` facings,
        column ``q``; column 0 is 0 (no facings, no sales).
    """

    store_id: str
    product_ids: tuple[str, ...]
    mean: NDArray[np.float64]
    sd: NDArray[np.float64]
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.mean.shape != self.sd.shape or self.mean.ndim != 2:
            raise InvalidParameterError(
                f"mean and sd must be 2-d arrays of one shape; got {self.mean.shape} "
                f"and {self.sd.shape}"
            )
        if self.mean.shape[0] != len(self.product_ids):
            raise InvalidParameterError(
                f"mean must have one row per product ({len(self.product_ids)}); "
                f"got {self.mean.shape[0]}"
            )
        object.__setattr__(self, "_index", {p: i for i, p in enumerate(self.product_ids)})

    @property
    def max_facings(self) -> int:
        """Q, the last facings column."""
        return int(self.mean.shape[1] - 1)

    def row(self, product_id: str) -> int:
        """Row of ``product_id``."""
        try:
            return self._index[product_id]
        except KeyError:
            raise InvalidParameterError(
                f"product_id {product_id!r} is not in this payoff table for store {self.store_id}"
            ) from None

    def pepf(self, lam: float) -> NDArray[np.float64]:
        """``mean - lam * sd`` per product and facings (EdgeRec3D Eq. 6)."""
        return np.asarray(self.mean - lam * self.sd)

    def value(self, facings: Mapping[str, int]) -> float:
        """Sum of predicted mean payoffs of a recommendation (facings beyond Q use column Q)."""
        q_max = self.max_facings
        return float(
            sum(self.mean[self.row(p), min(int(q), q_max)] for p, q in facings.items() if q > 0)
        )


@runtime_checkable
class PayoffEstimator(Protocol):
    """A fitted payoff model, seen the way policies use it."""

    name: str

    def table(
        self,
        store_id: str,
        product_ids: Sequence[str],
        max_facings: int,
        *,
        cluster: str | None = None,
    ) -> PayoffTable:
        """Predicted payoff of ``product_ids`` at ``store_id`` for 0..``max_facings`` facings."""
        ...


@runtime_checkable
class AssortmentPolicy(Protocol):
    """Recommends facings per product for one display."""

    name: str

    def recommend(self, problem: DisplayProblem, rng: np.random.Generator) -> dict[str, int]:
        """Facings per product (products at 0 left out); total facings <= ``max_slots``,
        each product <= ``max_facings``, products from ``problem.eligible`` only."""
        ...


def check_recommendation(problem: DisplayProblem, facings: Mapping[str, int]) -> None:
    """Raise when a recommendation breaks the budget, the per-product cap or eligibility."""
    allowed = set(problem.eligible)
    for p, q in facings.items():
        if p not in allowed:
            raise InvalidParameterError(
                f"recommendation for display {problem.display_id} names product {p!r}, which is "
                "neither on the display nor a candidate"
            )
        if isinstance(q, bool) or not isinstance(q, int | np.integer) or q < 0:
            raise InvalidParameterError(
                f"recommended facings must be integers >= 0; product {p!r} has {q!r}"
            )
        if q > problem.max_facings:
            raise InvalidParameterError(
                f"recommended facings of {p!r} ({q}) exceed max_facings {problem.max_facings}"
            )
    total = int(sum(facings.values()))
    if total > problem.max_slots:
        raise InvalidParameterError(
            f"recommendation for display {problem.display_id} uses {total} facings; "
            f"max_slots is {problem.max_slots}"
        )
