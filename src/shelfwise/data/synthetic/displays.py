"""Display fixtures of the synthetic stores: coolers, shelves, end caps and checkout racks.

Shelves are indexed from 0 at the bottom and stand higher with each index. A display's
``max_slots`` (EdgeRec3D's M_j) is drawn below the number of narrowest packs (6.5 cm) its
shelves can hold side by side, and kept within 9-52 as in the published logs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shelfwise.domain import Display, DisplayKind, Shelf, Store

MIN_PACK_WIDTH_CM = 6.5
"""Width of the narrowest pack in the catalog; bounds ``max_slots`` from above."""

MAX_SLOTS_RANGE = (9, 52)


@dataclass(frozen=True, slots=True)
class _Fixture:
    """Geometry ranges of one display kind."""

    shelves: tuple[int, int]
    widths: tuple[float, ...]
    clearance: tuple[float, float]
    depth: tuple[float, float]
    max_load: tuple[float, float]
    first_height: float
    names: tuple[str, ...]


_FIXTURES: dict[DisplayKind, _Fixture] = {
    DisplayKind.COOLER: _Fixture(
        (4, 5),
        (61.0, 76.0),
        (28.0, 31.0),
        (50.0, 62.0),
        (55.0, 90.0),
        12.0,
        ("Walk-in cooler door", "Cooler by entrance", "Reach-in cooler", "Cooler at rear wall"),
    ),
    DisplayKind.SHELF: _Fixture(
        (4, 5),
        (61.0, 76.0, 91.0),
        (29.0, 34.0),
        (40.0, 50.0),
        (70.0, 110.0),
        15.0,
        ("Beverage aisle shelf", "Aisle 4 shelf", "Ambient drinks shelf"),
    ),
    DisplayKind.END_CAP: _Fixture(
        (3, 4),
        (76.0, 91.0),
        (30.0, 36.0),
        (40.0, 48.0),
        (60.0, 100.0),
        20.0,
        ("End cap by registers", "Promo end cap", "Front end cap"),
    ),
    DisplayKind.CHECKOUT: _Fixture(
        (2, 3),
        (38.0, 42.0, 46.0),
        (21.5, 23.0),
        (25.0, 32.0),
        (15.0, 25.0),
        20.0,
        ("Checkout rack", "Register cooler rack", "Impulse rack at till"),
    ),
}

_KIND_ODDS: dict[str, tuple[tuple[DisplayKind, float], ...]] = {
    "convenience": (
        (DisplayKind.COOLER, 0.35),
        (DisplayKind.CHECKOUT, 0.30),
        (DisplayKind.END_CAP, 0.20),
        (DisplayKind.SHELF, 0.15),
    ),
    "grocery": (
        (DisplayKind.COOLER, 0.30),
        (DisplayKind.SHELF, 0.30),
        (DisplayKind.END_CAP, 0.30),
        (DisplayKind.CHECKOUT, 0.10),
    ),
}


def _shelves(fix: _Fixture, rng: np.random.Generator) -> tuple[Shelf, ...]:
    """Shelves of one fixture, bottom to top; the same width and depth on every shelf."""
    n = int(rng.integers(fix.shelves[0], fix.shelves[1] + 1))
    width = float(rng.choice(np.array(fix.widths)))
    depth = float(np.round(rng.uniform(*fix.depth), 1))
    load = float(np.round(rng.uniform(*fix.max_load), 0))
    out = []
    height = fix.first_height
    for i in range(n):
        clearance = float(np.round(rng.uniform(*fix.clearance), 1))
        out.append(
            Shelf(
                index=i,
                width_cm=width,
                clearance_cm=clearance,
                depth_cm=depth,
                max_load_kg=load,
                height_from_floor_cm=round(height, 1),
            )
        )
        height += clearance + 3.0  # shelf board and rail
    return tuple(out)


def build_displays(
    stores: tuple[Store, ...], displays_per_store: int, rng: np.random.Generator
) -> tuple[Display, ...]:
    """Draw the displays of every store.

    Parameters
    ----------
    stores : tuple of Store
        Stores, whose ``format`` ("grocery" or "convenience") sets the odds of each kind.
    displays_per_store : int
        Displays per store; display 1 is always a cooler.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    tuple of Display
        Displays in store order, ids ``"<store_id>-D<n>"`` unique chain-wide.
    """
    out: list[Display] = []
    for store in stores:
        odds = _KIND_ODDS.get(store.format or "convenience", _KIND_ODDS["convenience"])
        kinds = [k for k, _ in odds]
        p = np.array([w for _, w in odds])
        for j in range(displays_per_store):
            kind = DisplayKind.COOLER if j == 0 else kinds[int(rng.choice(len(kinds), p=p))]
            fix = _FIXTURES[kind]
            shelves = _shelves(fix, rng)
            fit = sum(int(s.width_cm // MIN_PACK_WIDTH_CM) for s in shelves)
            slots = round(fit * float(rng.uniform(0.8, 1.0)))
            slots = int(np.clip(slots, MAX_SLOTS_RANGE[0], min(MAX_SLOTS_RANGE[1], fit)))
            out.append(
                Display(
                    display_id=f"{store.store_id}-D{j + 1}",
                    store_id=store.store_id,
                    kind=kind,
                    max_slots=slots,
                    shelves=shelves,
                    name=str(rng.choice(np.array(fix.names))),
                )
            )
    return tuple(out)
