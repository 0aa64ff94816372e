"""Current-practice planograms of the synthetic chain, and the merchandiser's changes to them.

A merchandiser fills a display from the chain-wide best sellers (with taste noise), gives each
product one facing plus extra facings for popular ones, and packs them on the shelves bottom to
top, blocked by subcategory. Every few weeks a weak seller (as the merchandiser perceives it)
is swapped for another product and a facing or two moves. Current practice thus ignores the
store's own demographics and is not optimal, which leaves room for a recommender to improve
on it (Jenkins et al., KDD 2024, section 4.2 compare against "current industry practice").

Physical rules every generated planogram keeps
----------------------------------------------
* a product sits on a shelf only if its height <= the shelf's clearance and its depth <= the
  shelf's depth; ``facings_deep = floor(shelf depth / product depth)``, ``facings_high = 1``;
* positions on a shelf run left to right without overlap and end within the shelf width;
* total ``facings_wide`` <= the display's ``max_slots``;
* the weight of full positions on a shelf <= its ``max_load_kg``;
* age-restricted products only on shelves >= 100 cm from the floor, never on checkouts.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from shelfwise.domain import Display, DisplayKind, Position

from .catalog import Catalog
from .truth import ChainTruth

AGE_RESTRICTED_MIN_HEIGHT_CM = 100.0
MAX_FACINGS_PER_PRODUCT = 14

Plan = list[tuple[int, int]]
"""A wish list: (product index, facings wide) in placement order."""


def shelf_accepts(display: Display, catalog: Catalog) -> NDArray[np.bool_]:
    """Which product may stand on which shelf, by size and the age rule.

    Returns
    -------
    ndarray of bool, shape (n_shelves, n_products)
    """
    prods = catalog.products
    h = np.array([p.height_cm or 0.0 for p in prods])
    w = np.array([p.width_cm or 0.0 for p in prods])
    d = np.array([p.depth_cm or 0.0 for p in prods])
    restricted = catalog.age_restricted
    out = np.zeros((len(display.shelves), len(prods)), dtype=bool)
    for s, shelf in enumerate(display.shelves):
        ok = (h <= shelf.clearance_cm) & (d <= shelf.depth_cm) & (w <= shelf.width_cm)
        high_enough = shelf.height_from_floor_cm >= AGE_RESTRICTED_MIN_HEIGHT_CM
        if display.kind == DisplayKind.CHECKOUT or not high_enough:
            ok &= ~restricted
        out[s] = ok
    return out


def place(display: Display, catalog: Catalog, plan: Plan) -> tuple[Position, ...]:
    """Pack a wish list onto the display's shelves, first fit from the bottom shelf.

    A product's facings may spread over several shelves; facings that fit nowhere (width,
    load) are dropped, so the result may hold fewer facings than asked for.

    Parameters
    ----------
    display : Display
        Display with shelf geometry.
    catalog : Catalog
        Product dimensions and weights.
    plan : list of (int, int)
        Product index and facings wide, in placement order.

    Returns
    -------
    tuple of Position
        Sorted by shelf, then ``x_cm``.
    """
    accepts = shelf_accepts(display, catalog)
    shelves = display.shelves
    used_mm = [0] * len(shelves)
    load = [0.0] * len(shelves)
    width_mm = [round(s.width_cm * 10) for s in shelves]
    out: list[Position] = []
    budget = display.max_slots
    for i, want in plan:
        prod = catalog.products[i]
        w_mm = round((prod.width_cm or 0.0) * 10)
        weight = prod.weight_kg or 0.0
        remaining = min(want, budget)
        for s, shelf in enumerate(shelves):
            if remaining == 0:
                break
            if not accepts[s, i]:
                continue
            deep = int(shelf.depth_cm // (prod.depth_cm or shelf.depth_cm))
            by_width = (width_mm[s] - used_mm[s]) // w_mm
            by_load = int((shelf.max_load_kg - load[s] + 1e-9) // (deep * weight))
            k = min(remaining, by_width, by_load)
            if k < 1:
                continue
            out.append(
                Position(
                    shelf_index=s,
                    x_cm=used_mm[s] / 10,
                    product_id=prod.product_id,
                    facings_wide=int(k),
                    facings_high=1,
                    facings_deep=deep,
                )
            )
            used_mm[s] += k * w_mm
            load[s] += k * deep * weight
            remaining -= k
            budget -= k
    return tuple(sorted(out, key=lambda p: (p.shelf_index, p.x_cm)))


def _order(plan: Plan, catalog: Catalog) -> Plan:
    """Block by subcategory, heavier packs first within a block, then by catalog order."""
    return sorted(
        plan,
        key=lambda x: (
            int(catalog.subcategory[x[0]]),
            -(catalog.products[x[0]].weight_kg or 0.0),
            x[0],
        ),
    )


def _gumbel_top(
    weights: NDArray[np.float64], n: int, rng: np.random.Generator
) -> NDArray[np.int64]:
    """Indices of ``n`` draws without replacement with probability proportional to weights."""
    keys = np.where(weights > 0, np.log(np.maximum(weights, 1e-300)), -np.inf)
    keys = keys + rng.gumbel(size=weights.size)
    return np.argsort(-keys, kind="stable")[:n].astype(np.int64)


def _taste(
    display: Display, catalog: Catalog, truth: ChainTruth, rng: np.random.Generator
) -> NDArray[np.float64]:
    """Merchandiser's product weights: chain popularity with noise, zero if it cannot stand."""
    pop = truth.chain_popularity**0.8 * rng.lognormal(0.0, 0.6, size=len(catalog.products))
    if display.kind == DisplayKind.CHECKOUT:
        pop = pop * np.where(catalog.subcategory == 4, 2.0, 1.0)
    eligible = shelf_accepts(display, catalog).any(axis=0)
    return np.asarray(np.where(eligible, pop, 0.0))


def facings_of(positions: tuple[Position, ...], catalog: Catalog) -> NDArray[np.int64]:
    """Total facings wide per product (catalog order) of a set of positions."""
    index = {p.product_id: i for i, p in enumerate(catalog.products)}
    out = np.zeros(len(catalog.products), dtype=np.int64)
    for pos in positions:
        out[index[pos.product_id]] += pos.facings_wide
    return out


def initial_plan(
    display: Display, catalog: Catalog, truth: ChainTruth, rng: np.random.Generator
) -> Plan:
    """The current-practice wish list of a display (version 1).

    Parameters
    ----------
    display : Display
        The display to fill.
    catalog : Catalog
        Products.
    truth : ChainTruth
        Supplies chain-wide popularity (not the store's own preferences).
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    list of (int, int)
        Product indices and facings, at most ``max_slots`` facings in all, in placement order.
    """
    weights = _taste(display, catalog, truth, rng)
    n_ok = int(np.count_nonzero(weights))
    target = max(1, round(display.max_slots * float(rng.uniform(0.8, 1.0))))
    n_sel = round(target / float(rng.uniform(2.0, 3.5)))
    n_sel = int(np.clip(n_sel, 1, min(n_ok, target)))
    chosen = _gumbel_top(weights, n_sel, rng)
    share = weights[chosen] ** 0.5 * rng.lognormal(0.0, 0.4, size=n_sel)
    extra = rng.multinomial(target - n_sel, share / share.sum())
    facings = np.minimum(1 + extra, MAX_FACINGS_PER_PRODUCT)
    return _order([(int(i), int(f)) for i, f in zip(chosen, facings, strict=True)], catalog)


def changed_plan(
    current: NDArray[np.int64],
    display: Display,
    store_index: int,
    catalog: Catalog,
    truth: ChainTruth,
    rng: np.random.Generator,
) -> Plan:
    """The merchandiser's next version: swap one or two weak sellers, move a facing or two.

    Parameters
    ----------
    current : ndarray of int, shape (n_products,)
        Facings per product in the planogram in force.
    display : Display
        The display.
    store_index : int
        Row of the display's store in ``truth``.
    catalog : Catalog
        Products.
    truth : ChainTruth
        True store-level rates, which the merchandiser perceives with heavy noise.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    list of (int, int)
        The new wish list, at most ``max_slots`` facings in all.
    """
    fac = current.copy()
    present = np.flatnonzero(fac > 0)
    rate = truth.expected_sales_many(store_index, present, fac[present]) / fac[present]
    perceived = rate * rng.lognormal(0.0, 0.6, size=present.size)
    weights = _taste(display, catalog, truth, rng)
    weights[present] = 0.0
    n_swap = min(
        int(rng.choice([1, 2], p=[0.6, 0.4])), present.size - 1, int(np.count_nonzero(weights))
    )
    if n_swap > 0:
        out_idx = present[np.argsort(perceived, kind="stable")[:n_swap]]
        in_idx = _gumbel_top(weights, n_swap, rng)
        for o, i in zip(out_idx, in_idx, strict=True):
            fac[i] = max(1, int(fac[o]) + int(rng.integers(-1, 2)))
            fac[o] = 0
    for _ in range(int(rng.integers(0, 3))):
        donors = np.flatnonzero(fac > 1)
        takers = np.flatnonzero((fac > 0) & (fac < MAX_FACINGS_PER_PRODUCT))
        if donors.size == 0 or takers.size == 0:
            break
        fac[int(rng.choice(donors))] -= 1
        fac[int(rng.choice(takers))] += 1
    while fac.sum() > display.max_slots:
        fac[int(np.argmax(fac))] -= 1
    return _order([(int(i), int(fac[i])) for i in np.flatnonzero(fac > 0)], catalog)
