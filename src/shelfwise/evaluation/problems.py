"""Display problems for ground-truth evaluation: what fits a display and what may be proposed.

:func:`eligible_products` says which products physically fit a display (height, depth and
width on at least one shelf, and the age rule at checkouts); :func:`display_problems` builds
one :class:`~shelfwise.assortment.problem.DisplayProblem` per display from its state today and
candidates from the co-occurrence graph, pruned to products that fit. Between rounds of
:func:`~shelfwise.evaluation.groundtruth.evaluate_on_truth`, :func:`keep_pool` keeps each
display's pool and :func:`candidate_refresher` draws candidates afresh from the new state, as
a deployment would.

Candidates from :func:`~shelfwise.assortment.candidates.generate_candidates` are pruned there
only by height (no taller than the tallest seed product or the display's largest shelf
clearance); it knows neither shelf depth nor width nor the age rule, nor that all sizes must
fit on the *same* shelf. :func:`display_problems` therefore keeps only candidates that
:func:`eligible_products` accepts, so a policy cannot beat the oracle by recommending a
product that could never stand on the display.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import replace

import numpy as np
import pandas as pd

from shelfwise.assortment.candidates import CooccurrenceGraph, generate_candidates
from shelfwise.assortment.problem import DisplayProblem
from shelfwise.data.synthetic import AGE_RESTRICTED_MIN_HEIGHT_CM
from shelfwise.domain import Display, DisplayKind, Product
from shelfwise.exceptions import InvalidParameterError

NextProblem = Callable[[DisplayProblem, Mapping[str, int]], DisplayProblem]
"""Builds round ``r + 1``'s problem from round ``r``'s problem and its recommendation."""


def eligible_products(
    display: Display,
    products: Iterable[Product] | Mapping[str, Product],
    *,
    age_min_height_cm: float = AGE_RESTRICTED_MIN_HEIGHT_CM,
) -> tuple[str, ...]:
    """Products that physically fit at least one shelf of ``display``, sorted by id.

    A product fits a shelf when its height <= the shelf's clearance, its depth <= the shelf's
    depth and its width <= the shelf's width; an age-restricted product needs a shelf at least
    ``age_min_height_cm`` above the floor and never stands on a checkout display (the synthetic
    chain's rules, :mod:`shelfwise.data.synthetic.planograms`). Unknown product sizes do not
    rule a product out; a display without shelf geometry accepts every product (but still no
    age-restricted product on a checkout).

    Parameters
    ----------
    display : Display
        The display, with its shelves.
    products : iterable of Product, or mapping of product_id to Product
        The catalog.
    age_min_height_cm : float
        Lowest shelf (height from the floor) for age-restricted products.

    Returns
    -------
    tuple of str
        Product ids.
    """
    catalog = _catalog(products)
    out = []
    for pid in sorted(catalog):
        prod = catalog[pid]
        if prod.age_restricted and display.kind == DisplayKind.CHECKOUT:
            continue
        if not display.shelves or any(
            _fits(prod, shelf.clearance_cm, shelf.depth_cm, shelf.width_cm)
            and (not prod.age_restricted or shelf.height_from_floor_cm >= age_min_height_cm)
            for shelf in display.shelves
        ):
            out.append(pid)
    return tuple(out)


def _fits(prod: Product, clearance: float, depth: float, width: float) -> bool:
    return all(
        size is None or size <= room + 1e-9
        for size, room in (
            (prod.height_cm, clearance),
            (prod.depth_cm, depth),
            (prod.width_cm, width),
        )
    )


def _catalog(products: Iterable[Product] | Mapping[str, Product]) -> dict[str, Product]:
    if isinstance(products, Mapping):
        return dict(products)
    return {p.product_id: p for p in products}


def current_states(visits: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Facings in place after each display's last visit (products with facings > 0).

    Parameters
    ----------
    visits : DataFrame
        Visit rows with ``display_id``, ``visited_at``, ``product_id`` and ``facings``
        (after the visit); where ``facings`` is missing, ``prev_facings`` stands in (as in
        :meth:`CooccurrenceGraph.from_visits`).

    Returns
    -------
    dict
        ``display_id`` -> ``product_id`` -> facings.
    """
    needed = ["display_id", "visited_at", "product_id", "facings"]
    missing = [c for c in needed if c not in visits.columns]
    if missing:
        raise InvalidParameterError(
            f"visits must have columns {needed}; missing {missing} (got {list(visits.columns)})"
        )
    facings = visits["facings"].astype("Float64")
    if "prev_facings" in visits.columns:
        facings = facings.fillna(visits["prev_facings"].astype("Float64"))
    frame = pd.DataFrame(
        {
            "display_id": visits["display_id"].astype(str).to_numpy(),
            "visited_at": pd.to_datetime(visits["visited_at"]).to_numpy(),
            "product_id": visits["product_id"].astype(str).to_numpy(),
            "facings": facings.fillna(0).to_numpy(dtype=float),
        }
    )
    last = frame.groupby("display_id")["visited_at"].transform("max")
    at_last = frame.loc[(frame["visited_at"] == last) & (frame["facings"] > 0)]
    out: dict[str, dict[str, int]] = {d: {} for d in frame["display_id"].unique()}
    for d, p, q in zip(
        at_last["display_id"], at_last["product_id"], at_last["facings"], strict=True
    ):
        if q != int(q):
            raise InvalidParameterError(
                f"facings must be whole numbers; display {d} product {p} has {q}"
            )
        out[d][p] = out[d].get(p, 0) + int(q)
    return out


def _problem(
    display: Display,
    state: Mapping[str, int],
    graph: CooccurrenceGraph,
    catalog: Mapping[str, Product],
    fits: set[str],
    *,
    tau: int,
    max_facings: int,
    cluster: str | None,
    rng: np.random.Generator,
) -> DisplayProblem:
    """One display's problem: candidates from the graph, kept only when they fit."""
    clearance = max((s.clearance_cm for s in display.shelves), default=None)
    proposed = generate_candidates(
        graph, state, catalog, tau=tau, clearance_cm=clearance, random_state=rng
    )
    return DisplayProblem(
        store_id=display.store_id,
        display_id=display.display_id,
        state={p: int(q) for p, q in state.items() if q > 0},
        candidates=tuple(c.product_id for c in proposed if c.product_id in fits),
        max_slots=display.max_slots,
        max_facings=max_facings,
        cluster=cluster,
    )


def display_problems(
    displays: Iterable[Display],
    products: Iterable[Product] | Mapping[str, Product],
    visits: pd.DataFrame,
    graph: CooccurrenceGraph | None = None,
    *,
    tau: int = 5,
    max_facings: int = 14,
    clusters: Mapping[str, str | int] | None = None,
    random_state: int | np.random.Generator | None = None,
) -> list[DisplayProblem]:
    """The assortment problem of every display, from domain records and a visits frame.

    For each display: the state is the facings in place after its last visit
    (:func:`current_states`); candidates come from
    :func:`~shelfwise.assortment.candidates.generate_candidates` with the state's products as
    seeds and the display's largest shelf clearance, and only those that physically fit the
    display (:func:`eligible_products`) are kept; the budget is ``display.max_slots``.
    Displays that were never visited are left out.

    Parameters
    ----------
    displays : iterable of Display
        Displays with shelf geometry (e.g. ``chain.displays``).
    products : iterable of Product, or mapping of product_id to Product
        The catalog (e.g. ``chain.products``).
    visits : DataFrame
        Visit rows (``chain.visit_log`` or ``Repository.visits_frame()``).
    graph : CooccurrenceGraph, optional
        Fitted co-occurrence graph; built from ``visits`` when not given.
    tau : int
        Neighbours drawn per seed product.
    max_facings : int
        Q, the most facings per product.
    clusters : mapping of store_id to cluster label, optional
        Sets :attr:`DisplayProblem.cluster` (labels are turned into strings).
    random_state : int, Generator or None
        Seed of the candidate sampling.

    Returns
    -------
    list of DisplayProblem
        In display id order.
    """
    catalog = _catalog(products)
    if graph is None:
        graph = CooccurrenceGraph.from_visits(visits, catalog)
    states = current_states(visits)
    rng = np.random.default_rng(random_state)
    out = []
    for display in sorted(displays, key=lambda d: d.display_id):
        state = states.get(display.display_id)
        if state is None:
            continue
        label = None if clusters is None else clusters.get(display.store_id)
        out.append(
            _problem(
                display,
                state,
                graph,
                catalog,
                set(eligible_products(display, catalog)),
                tau=tau,
                max_facings=max_facings,
                cluster=None if label is None else str(label),
                rng=rng,
            )
        )
    return out


def candidate_refresher(
    displays: Iterable[Display],
    products: Iterable[Product] | Mapping[str, Product],
    graph: CooccurrenceGraph,
    *,
    tau: int = 5,
    allowed: Collection[str] | None = None,
    random_state: int | np.random.Generator | None = None,
) -> NextProblem:
    """A ``next_problem`` for ``evaluate_on_truth`` that regenerates candidates each round.

    The returned callable takes a problem and its recommendation and returns the problem of the
    next visit: the recommendation as the state, candidates drawn afresh from ``graph`` with the
    new state's products as seeds (and pruned to products that fit), the same budget and
    cluster. With ``allowed``, candidates outside it are dropped too (e.g. products the payoff
    model was not fitted on).

    The candidate draw depends only on ``random_state``, the display and the state it is in
    (a generator is seeded from the three), so every policy that reaches the same state on the
    same display gets the same candidates, whatever other policies ran before: policies are
    compared on the same random numbers.
    """
    catalog = _catalog(products)
    by_id = {d.display_id: d for d in displays}
    fits = {d: set(eligible_products(display, catalog)) for d, display in by_id.items()}
    keep = None if allowed is None else {str(p) for p in allowed}
    base = int(np.random.default_rng(random_state).integers(2**63))

    def next_problem(problem: DisplayProblem, facings: Mapping[str, int]) -> DisplayProblem:
        display = by_id.get(problem.display_id)
        if display is None:
            raise InvalidParameterError(
                f"display_id {problem.display_id!r} is not among the refresher's displays"
            )
        fit = fits[display.display_id]
        state = sorted((str(p), int(q)) for p, q in facings.items() if q > 0)
        rng = np.random.default_rng([base, crc32_of(display.display_id), crc32_of(repr(state))])
        return _problem(
            display,
            facings,
            graph,
            catalog,
            fit if keep is None else fit & keep,
            tau=tau,
            max_facings=problem.max_facings,
            cluster=problem.cluster,
            rng=rng,
        )

    return next_problem


def crc32_of(text: str) -> int:
    """A stable 32-bit hash of ``text`` (Python's ``hash`` of a string changes per process)."""
    return zlib.crc32(text.encode("utf-8"))


def keep_pool(problem: DisplayProblem, facings: Mapping[str, int]) -> DisplayProblem:
    """The default ``next_problem``: the recommendation becomes the state, the pool stays.

    The products a policy may choose from (state plus candidates) stay the same in every round:
    products the recommendation dropped rejoin the end of the candidate list. This keeps rounds
    comparable and the evaluation free of candidate-sampling noise; pass
    :func:`candidate_refresher` to
    :func:`~shelfwise.evaluation.groundtruth.evaluate_on_truth` to regenerate candidates instead.
    """
    state = {p: int(q) for p, q in facings.items() if q > 0}
    pool = [c for c in problem.candidates if c not in state]
    pool += [p for p in sorted(problem.state) if problem.state[p] > 0 and p not in state]
    return replace(problem, state=state, candidates=tuple(dict.fromkeys(pool)))
