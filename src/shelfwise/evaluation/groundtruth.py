"""Ground-truth evaluation of assortment policies on a chain whose true demand is known.

On the synthetic chain the true expected daily sales of every product at every facing count
are known (:meth:`ChainTruth.expected_sales_table`), so a policy's recommendation can be scored
exactly instead of by replay. Each policy is run display by display for a few successive
rounds (round ``r``'s recommendation becomes the state of round ``r + 1``), and the true
expected daily sales of each round's state are compared with the *oracle*: the exact best
facings per display under the true demand, found by the dynamic-programming knapsack
:func:`~shelfwise.assortment.search.best_facings` over every product that physically fits the
display. Round 0 is the display's state today (current practice).

The oracle is an upper bound for every policy that only recommends products that fit the
display. It relaxes the packing of facings onto individual shelves (width and load), as the
policies do: the facings budget is the display's ``max_slots`` (EdgeRec3D's M_j).

Display problems and what fits a display live in :mod:`shelfwise.evaluation.problems`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from shelfwise.assortment.payoffs.online import OnlinePayoffs, SalesObservation
from shelfwise.assortment.problem import (
    AssortmentPolicy,
    DisplayProblem,
    PayoffTable,
    check_recommendation,
)
from shelfwise.assortment.search import best_facings
from shelfwise.evaluation.problems import NextProblem, crc32_of, keep_pool
from shelfwise.exceptions import InvalidParameterError

CURRENT_PRACTICE = "current practice"
ORACLE = "oracle"


class DemandTruth(Protocol):
    """True demand of a chain, as :class:`~shelfwise.data.synthetic.ChainTruth` provides it."""

    @property
    def store_ids(self) -> tuple[str, ...]:
        """Row order of the table's stores."""
        ...

    @property
    def product_ids(self) -> tuple[str, ...]:
        """Column order of the table's products."""
        ...

    @property
    def day_of_week(self) -> NDArray[np.float64]:
        """Sales multipliers Monday..Sunday, mean 1."""
        ...

    def expected_sales_table(self, *, max_facings: int = 14) -> NDArray[np.float64]:
        """Expected daily units, shape (n_stores, n_products, max_facings + 1)."""
        ...


# --------------------------------------------------------------------------------------------
# Truth, oracle and evaluation


@dataclass(frozen=True)
class SalesFeedback:
    """How a closed-loop evaluation observes the sales of each round's recommendations.

    A round lasts ``days`` days; its display is visited every ``visit_gap_days`` days, and each
    visit observes the units sold since the last one, drawn as a negative binomial with mean
    the true expected daily sales times the gap and shape ``nb_shape`` (the synthetic chain's
    demand model; scan errors, stock-outs and bulk-purchase outliers are left out).

    Attributes
    ----------
    days : int
        Length of a round (a planogram's time on the shelf) in days.
    visit_gap_days : int
        Days between visits within a round; must divide ``days``.
    nb_shape : float
        Negative binomial shape (smaller is more dispersed; the chain's ``demand_dispersion``).
    """

    days: int = 14
    visit_gap_days: int = 2
    nb_shape: float = 3.0

    def __post_init__(self) -> None:
        for attr in ("days", "visit_gap_days"):
            value = getattr(self, attr)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParameterError(f"{attr} must be an integer >= 1; got {value!r}")
        if self.days % self.visit_gap_days:
            raise InvalidParameterError(
                f"visit_gap_days must divide days ({self.days}); got {self.visit_gap_days}"
            )
        d = self.nb_shape
        if isinstance(d, bool) or not isinstance(d, int | float) or not d > 0:
            raise InvalidParameterError(f"nb_shape must be a number > 0; got {d!r}")

    def simulate(
        self, table: PayoffTable, state: Mapping[str, int], rng: np.random.Generator
    ) -> list[SalesObservation]:
        """Units sold of each product of ``state`` over one round, one record per product.

        Parameters
        ----------
        table : PayoffTable
            True expected daily sales at the display's store (:func:`truth_table`).
        state : mapping of product_id to facings
            The display's state during the round.
        rng : numpy.random.Generator
            Source of the sales noise.

        Returns
        -------
        list of SalesObservation
            One per product with facings > 0, sorted by product id: its facings, the units
            sold over the round and the round's length in days.
        """
        visits = self.days // self.visit_gap_days
        out = []
        for p, q in sorted(state.items()):
            if q <= 0:
                continue
            mu = float(table.mean[table.row(p), min(int(q), table.max_facings)])
            mu *= self.visit_gap_days
            units = 0.0
            if mu > 0:
                r = float(self.nb_shape)
                units = float(rng.negative_binomial(r, r / (r + mu), size=visits).sum())
            out.append(
                SalesObservation(
                    table.store_id, p, int(q), units, float(visits * self.visit_gap_days)
                )
            )
        return out


def truth_table(truth: DemandTruth, store_id: str, *, max_facings: int = 14) -> PayoffTable:
    """True expected daily sales of every product at ``store_id`` for 0..``max_facings`` facings.

    Returned as a :class:`PayoffTable` with zero standard deviation, so the true value of a
    recommendation is ``table.value(facings)``.
    """
    try:
        row = truth.store_ids.index(store_id)
    except ValueError:
        raise InvalidParameterError(
            f"store_id must be a store of the truth; got {store_id!r}"
        ) from None
    mean = np.asarray(truth.expected_sales_table(max_facings=max_facings)[row], dtype=float)
    return PayoffTable(store_id, tuple(truth.product_ids), mean, np.zeros_like(mean))


def oracle(
    table: PayoffTable,
    eligible: Iterable[str],
    max_slots: int,
    max_facings: int,
) -> tuple[dict[str, int], float]:
    """Exact best facings of a display under the true demand (knapsack by dynamic programming).

    Parameters
    ----------
    table : PayoffTable
        True expected daily sales at the display's store (e.g. :func:`truth_table`); its
        ``mean[row, q]`` is the value of a product at ``q`` facings.
    eligible : iterable of str
        Products that may stand on the display.
    max_slots : int
        Facings budget.
    max_facings : int
        Most facings per product; must not exceed the table's last column.

    Returns
    -------
    (dict, float)
        Facings per product (zeros left out) and the true expected daily sales they give.
    """
    if max_facings > table.max_facings:
        raise InvalidParameterError(
            f"max_facings must be <= the table's last facings column {table.max_facings}; "
            f"got {max_facings}"
        )
    values = {p: table.mean[table.row(p), : max_facings + 1] for p in set(eligible)}
    return best_facings(values, max_slots)


@dataclass(frozen=True)
class GroundTruthResult:
    """True expected daily sales of each policy's successive recommendations.

    Attributes
    ----------
    frame : DataFrame
        One row per (policy, display, round) with columns ``policy``, ``display_id``,
        ``store_id``, ``round`` (0 = the state today), ``true_sales`` (expected units per day
        of that round's state) and ``oracle_sales`` (of the display's oracle state).
    states : mapping
        ``(policy, display_id, round)`` -> the facings of that round's state.
    oracle_states : mapping
        ``display_id`` -> the oracle's facings.
    """

    frame: pd.DataFrame
    states: Mapping[tuple[str, str, int], Mapping[str, int]] = field(repr=False)
    oracle_states: Mapping[str, Mapping[str, int]] = field(repr=False)

    @property
    def rounds(self) -> int:
        """The last round."""
        return int(self.frame["round"].max())

    def share(self, round: int | None = None) -> pd.Series:
        """Sum of true sales over displays / sum of oracle sales, per policy.

        Parameters
        ----------
        round : int, optional
            Which round; the last one by default, 0 for the state today.
        """
        r = self.rounds if round is None else round
        if not 0 <= r <= self.rounds:
            raise InvalidParameterError(f"round must be in 0..{self.rounds}; got {r}")
        at = self.frame.loc[self.frame["round"] == r]
        sums = at.groupby("policy", sort=False)[["true_sales", "oracle_sales"]].sum()
        out = sums["true_sales"] / sums["oracle_sales"]
        out.name = "share"
        return out

    def table(self, round: int | None = None) -> pd.DataFrame:
        """Per policy (plus current practice and the oracle), at the last or a given round.

        Columns: ``sales_per_display`` (mean true expected units per display per day),
        ``sd`` (its standard deviation over displays), ``share`` (of the oracle, summed over
        displays), ``displays``.
        """
        r = self.rounds if round is None else round
        if not 0 <= r <= self.rounds:
            raise InvalidParameterError(f"round must be in 0..{self.rounds}; got {r}")
        rows: dict[str, dict[str, float | int]] = {}
        first = self.frame.loc[self.frame["policy"] == self.frame["policy"].iloc[0]]
        start = first.loc[first["round"] == 0]
        rows[CURRENT_PRACTICE] = _summary(start["true_sales"], start["oracle_sales"])
        for name, group in self.frame.loc[self.frame["round"] == r].groupby("policy", sort=False):
            rows[str(name)] = _summary(group["true_sales"], group["oracle_sales"])
        rows[ORACLE] = _summary(start["oracle_sales"], start["oracle_sales"])
        return pd.DataFrame.from_dict(rows, orient="index")


def _summary(sales: pd.Series, oracle_sales: pd.Series) -> dict[str, float | int]:
    return {
        "sales_per_display": float(sales.mean()),
        "sd": float(sales.std(ddof=1)) if len(sales) > 1 else 0.0,
        "share": float(sales.sum() / oracle_sales.sum()),
        "displays": len(sales),
    }


def evaluate_on_truth(
    policies: Sequence[AssortmentPolicy],
    problems: Sequence[DisplayProblem],
    truth: DemandTruth,
    *,
    eligible: Mapping[str, Iterable[str]],
    rounds: int = 1,
    next_problem: NextProblem = keep_pool,
    feedback: SalesFeedback | None = None,
    random_state: int | np.random.Generator | None = None,
) -> GroundTruthResult:
    """Score policies' successive recommendations with the true expected daily sales.

    Rounds run in step across displays, as a chain's planogram resets do: every display gets
    round ``r``'s recommendation, then (with ``feedback``) the sales of round ``r``'s states are
    simulated from the truth and handed to each policy's learning payoff models before round
    ``r + 1`` is recommended.

    Parameters
    ----------
    policies : sequence of AssortmentPolicy
        Policies with distinct names.
    problems : sequence of DisplayProblem
        One per display (e.g. :func:`~shelfwise.evaluation.problems.display_problems`),
        state = today's facings.
    truth : DemandTruth
        The true demand (``chain.truth``).
    eligible : mapping of display_id to product ids
        Products that physically fit each display (e.g.
        :func:`~shelfwise.evaluation.problems.eligible_products`); the oracle chooses among
        them and today's state's products. A recommendation naming a product outside this set
        raises, since the oracle would then no longer be an upper bound.
    rounds : int
        Successive recommendations per display; round ``r``'s recommendation is the state of
        round ``r + 1``.
    next_problem : callable
        ``next_problem(problem, facings)`` -> the next round's problem. The default
        :func:`~shelfwise.evaluation.problems.keep_pool` keeps each display's product pool
        fixed; :func:`~shelfwise.evaluation.problems.candidate_refresher` regenerates
        candidates from the new state, as a deployment would.
    feedback : SalesFeedback, optional
        Close the loop: after each round, the sales each recommended state brings (drawn from
        the truth by :meth:`SalesFeedback.simulate`) are observed by the policy's payoff model
        where it is an :class:`~shelfwise.assortment.payoffs.OnlinePayoffs` (the policy's
        ``payoffs`` attribute, or MOPO's ``ensemble``). ``None`` (default): models stay as
        fitted. Such models are reset before each policy runs, with or without feedback, so
        each policy learns only from its own recommendations.
    random_state : int, Generator or None
        Seed. Each policy gets its own generator for its own choices, seeded from
        ``random_state`` and the policy's name (so a policy's result does not depend on which
        other policies are scored beside it, or in what order), used display by display
        within each round; the simulated sales of round ``r`` at a display use a
        generator seeded from ``random_state``, ``r`` and the display, the same for every
        policy (policies that reach the same state see the same sales).

    Returns
    -------
    GroundTruthResult

    Raises
    ------
    InvalidParameterError
        Duplicate policy names or displays, a display without an ``eligible`` entry, or a
        recommendation that fails :func:`check_recommendation` or names a product that does
        not fit its display.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise InvalidParameterError(f"rounds must be an integer >= 1; got {rounds!r}")
    names = [p.name for p in policies]
    if len(set(names)) != len(names) or not names:
        raise InvalidParameterError(f"policies must be non-empty with distinct names; got {names}")
    ids = [p.display_id for p in problems]
    if len(set(ids)) != len(ids):
        raise InvalidParameterError("problems must hold each display_id once")
    lacking = [d for d in ids if d not in eligible]
    if lacking:
        raise InvalidParameterError(
            f"eligible must name the products of every display; missing {lacking[:5]}"
        )
    q_table = max(
        [p.max_facings for p in problems] + [q for p in problems for q in p.state.values()],
        default=1,
    )
    clusters = {p.store_id: p.cluster for p in problems if p.cluster is not None}
    tables = {
        s: truth_table(truth, s, max_facings=q_table)
        for s in sorted({p.store_id for p in problems})
    }
    fits = {p.display_id: set(eligible[p.display_id]) | set(p.state) for p in problems}
    oracle_states: dict[str, dict[str, int]] = {}
    oracle_values: dict[str, float] = {}
    for prob in problems:
        facings, value = oracle(
            tables[prob.store_id], fits[prob.display_id], prob.max_slots, prob.max_facings
        )
        oracle_states[prob.display_id] = facings
        oracle_values[prob.display_id] = value
    rng = np.random.default_rng(random_state)
    sales_seed, policy_seed = (int(v) for v in rng.integers(2**63, size=2))
    rows: list[tuple[str, str, str, int, float, float]] = []
    states: dict[tuple[str, str, int], Mapping[str, int]] = {}
    for policy in policies:
        child = np.random.default_rng([policy_seed, crc32_of(policy.name)])
        learners = _learners(policy)
        for model in learners:
            model.reset()
        current = {prob.display_id: prob for prob in problems}
        for r in range(rounds + 1):
            observed: list[SalesObservation] = []
            for prob in problems:
                now = current[prob.display_id]
                state = {p: int(q) for p, q in now.state.items() if q > 0}
                states[(policy.name, prob.display_id, r)] = state
                table = tables[prob.store_id]
                rows.append(
                    (
                        policy.name,
                        prob.display_id,
                        prob.store_id,
                        r,
                        table.value(state),
                        oracle_values[prob.display_id],
                    )
                )
                if r < rounds and feedback is not None:
                    # the same noise for every policy at this display and round
                    noise = np.random.default_rng([sales_seed, r, crc32_of(prob.display_id)])
                    observed += feedback.simulate(table, state, noise)
            if r == rounds:
                break
            if observed:
                for model in learners:
                    model.observe(observed, clusters=clusters)
            for prob in problems:
                now = current[prob.display_id]
                rec = _recommend(policy, now, child, fits[prob.display_id])
                current[prob.display_id] = next_problem(now, rec)
    frame = pd.DataFrame(
        rows,
        columns=["policy", "display_id", "store_id", "round", "true_sales", "oracle_sales"],
    )
    return GroundTruthResult(frame, states, oracle_states)


def _learners(policy: AssortmentPolicy) -> list[OnlinePayoffs]:
    """The policy's payoff models that learn from feedback (distinct objects)."""
    found: list[OnlinePayoffs] = []
    for attr in ("payoffs", "ensemble"):
        model = getattr(policy, attr, None)
        if isinstance(model, OnlinePayoffs) and all(model is not m for m in found):
            found.append(model)
    return found


def _recommend(
    policy: AssortmentPolicy,
    problem: DisplayProblem,
    rng: np.random.Generator,
    fits: set[str],
) -> dict[str, int]:
    raw = policy.recommend(problem, rng)
    try:
        check_recommendation(problem, raw)
    except InvalidParameterError as exc:
        raise InvalidParameterError(f"policy {policy.name!r}: {exc}") from exc
    out = {p: int(q) for p, q in raw.items() if q > 0}
    outside = sorted(set(out) - fits)
    if outside:
        raise InvalidParameterError(
            f"policy {policy.name!r} recommends {outside} for display {problem.display_id}, "
            "which do not fit it physically"
        )
    return out


def oracle_recommendations(
    problems: Sequence[DisplayProblem],
    truth: DemandTruth,
    *,
    eligible: Mapping[str, Iterable[str]],
) -> dict[str, dict[str, int]]:
    """The oracle's facings for each display (e.g. the best a field experiment could test).

    Parameters
    ----------
    problems : sequence of DisplayProblem
        The displays.
    truth : DemandTruth
        The true demand.
    eligible : mapping of display_id to product ids
        Products that fit each display; today's state's products are added.
    """
    lacking = [p.display_id for p in problems if p.display_id not in eligible]
    if lacking:
        raise InvalidParameterError(
            f"eligible must name the products of every display; missing {lacking[:5]}"
        )
    q_table = max([p.max_facings for p in problems], default=1)
    out = {}
    tables: dict[str, PayoffTable] = {}
    for prob in problems:
        if prob.store_id not in tables:
            tables[prob.store_id] = truth_table(truth, prob.store_id, max_facings=q_table)
        pool = set(eligible[prob.display_id]) | set(prob.state)
        out[prob.display_id] = oracle(
            tables[prob.store_id], pool, prob.max_slots, prob.max_facings
        )[0]
    return out
