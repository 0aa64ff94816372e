"""Run any assortment policy inside the replay evaluator."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Generic, Protocol, TypeVar

import numpy as np

from shelfwise.assortment.problem import (
    AssortmentPolicy,
    DisplayProblem,
    check_recommendation,
)
from shelfwise.exceptions import NotFittedError

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
