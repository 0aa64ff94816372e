"""Typed, validated domain records. Units are explicit in field names: cm, kg, currency units.

Every record validates itself on construction and raises
:class:`~shelfwise.exceptions.InvalidParameterError` naming the field, the rule and the value.
Records are frozen; collections inside them are tuples.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from shelfwise.domain._checks import (
    gtin_is_valid,
    optional_number,
    require_int,
    require_number,
    require_text,
)
from shelfwise.exceptions import InvalidParameterError


class DisplayKind(StrEnum):
    """What kind of fixture a display is."""

    COOLER = "cooler"
    SHELF = "shelf"
    END_CAP = "end_cap"
    CHECKOUT = "checkout"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Product:
    """A sellable item (one SKU).

    Dimensions and weight are optional because real display logs (EdgeRec3D's layout) carry no
    product master data; when given they must be > 0.

    Parameters
    ----------
    product_id : str
        Retailer's identifier (natural key).
    name : str
        Display name.
    brand, category, subcategory : str or None
        Merchandising hierarchy; ``subcategory`` is e.g. "Sparkling" or "Energy".
    width_cm, height_cm, depth_cm : float or None
        Size of one unit facing the shopper, in centimetres.
    weight_kg : float or None
        Weight of one unit in kilograms.
    price, unit_cost : float or None
        Shelf price and cost of one unit, in ``currency``.
    currency : str
        ISO 4217 code of ``price`` and ``unit_cost``.
    gtin : str or None
        GTIN-8/12/13/14; its check digit is verified.
    age_restricted : bool
        Sale needs an age check (e.g. alcoholic drinks).
    """

    product_id: str
    name: str
    brand: str | None = None
    category: str | None = None
    subcategory: str | None = None
    width_cm: float | None = None
    height_cm: float | None = None
    depth_cm: float | None = None
    weight_kg: float | None = None
    price: float | None = None
    unit_cost: float | None = None
    currency: str = "USD"
    gtin: str | None = None
    age_restricted: bool = False

    def __post_init__(self) -> None:
        require_text(self.product_id, "product_id", "")
        where = f" for product {self.product_id}"
        require_text(self.name, "name", where)
        for name in ("width_cm", "height_cm", "depth_cm", "weight_kg"):
            optional_number(getattr(self, name), name, where, gt=0)
        for name in ("price", "unit_cost"):
            optional_number(getattr(self, name), name, where, ge=0)
        if len(self.currency) != 3 or not self.currency.isalpha():
            raise InvalidParameterError(
                f"currency must be a 3-letter ISO 4217 code{where}; got {self.currency!r}"
            )
        if self.gtin is not None and not gtin_is_valid(self.gtin):
            raise InvalidParameterError(
                f"gtin must be 8, 12, 13 or 14 digits with a valid GS1 check digit{where}; "
                f"got {self.gtin!r}"
            )

    @property
    def has_dimensions(self) -> bool:
        """Whether width, height and depth are all known."""
        return None not in (self.width_cm, self.height_cm, self.depth_cm)


@dataclass(frozen=True, slots=True)
class Store:
    """A shop of the chain. Coordinates are optional (real logs may have none)."""

    store_id: str
    name: str
    lat: float | None = None
    lon: float | None = None
    format: str | None = None
    region: str | None = None

    def __post_init__(self) -> None:
        require_text(self.store_id, "store_id", "")
        where = f" for store {self.store_id}"
        require_text(self.name, "name", where)
        if (self.lat is None) != (self.lon is None):
            raise InvalidParameterError(
                f"lat and lon must be given together{where}; got lat={self.lat!r}, lon={self.lon!r}"
            )
        if self.lat is not None:
            require_number(self.lat, "lat", where, ge=-90, le=90)
            require_number(self.lon, "lon", where, ge=-180, le=180)


@dataclass(frozen=True, slots=True)
class Shelf:
    """One shelf of a display; ``index`` counts from 0 at the bottom."""

    index: int
    width_cm: float
    clearance_cm: float
    depth_cm: float
    max_load_kg: float
    height_from_floor_cm: float

    def __post_init__(self) -> None:
        require_int(self.index, "index", " for a shelf", ge=0)
        where = f" for shelf {self.index}"
        for name in ("width_cm", "clearance_cm", "depth_cm", "max_load_kg"):
            require_number(getattr(self, name), name, where, gt=0)
        require_number(self.height_from_floor_cm, "height_from_floor_cm", where, ge=0)


@dataclass(frozen=True, slots=True)
class Display:
    """A fixture in a store (cooler, shelf, end cap, checkout) holding products in slots.

    Parameters
    ----------
    display_id : str
        Natural key, unique across the chain.
    store_id : str
        Store the display stands in.
    kind : DisplayKind
        Fixture type.
    max_slots : int
        Capacity in facings (EdgeRec3D's M_j).
    shelves : tuple of Shelf
        Shelves indexed 0..n-1 from the bottom, each higher than the one below. May be empty when
        the geometry is unknown (real logs).
    name : str or None
        Free text, e.g. EdgeRec3D's ``display_extra_info``.
    """

    display_id: str
    store_id: str
    kind: DisplayKind
    max_slots: int
    shelves: tuple[Shelf, ...] = ()
    name: str | None = None

    def __post_init__(self) -> None:
        require_text(self.display_id, "display_id", "")
        where = f" for display {self.display_id}"
        require_text(self.store_id, "store_id", where)
        if not isinstance(self.kind, DisplayKind):
            raise InvalidParameterError(
                f"kind must be one of {[k.value for k in DisplayKind]}{where}; got {self.kind!r}"
            )
        require_int(self.max_slots, "max_slots", where, ge=1)
        indices = [s.index for s in self.shelves]
        if indices != list(range(len(indices))):
            raise InvalidParameterError(
                f"shelf indices must run 0..n-1 from the bottom{where}; got {indices}"
            )
        for lower, upper in zip(self.shelves, self.shelves[1:], strict=False):
            if upper.height_from_floor_cm <= lower.height_from_floor_cm:
                raise InvalidParameterError(
                    f"height_from_floor_cm must increase with shelf index{where}; shelf "
                    f"{upper.index} is at {upper.height_from_floor_cm} cm, shelf {lower.index} "
                    f"at {lower.height_from_floor_cm} cm"
                )


@dataclass(frozen=True, slots=True)
class Position:
    """One product block on a shelf: ``x_cm`` from the shelf's left edge, and its facings."""

    shelf_index: int
    x_cm: float
    product_id: str
    facings_wide: int = 1
    facings_high: int = 1
    facings_deep: int = 1

    def __post_init__(self) -> None:
        require_text(self.product_id, "product_id", " for a position")
        where = f" for product {self.product_id} at shelf {self.shelf_index}"
        require_int(self.shelf_index, "shelf_index", where, ge=0)
        require_number(self.x_cm, "x_cm", where, ge=0)
        for name in ("facings_wide", "facings_high", "facings_deep"):
            require_int(getattr(self, name), name, where, ge=1)

    @property
    def units(self) -> int:
        """Units the position holds when full."""
        return self.facings_wide * self.facings_high * self.facings_deep


@dataclass(frozen=True, slots=True)
class Planogram:
    """Which product sits where on one display, as one numbered version.

    ``provenance`` says where it came from (e.g. ``"synthetic:current-practice"``,
    ``"file:planograms.csv"``, ``"solver"``); ``(display_id, version)`` is the natural key.
    """

    display_id: str
    version: int
    positions: tuple[Position, ...]
    provenance: str = "unknown"
    effective_from: datetime | None = None

    def __post_init__(self) -> None:
        require_text(self.display_id, "display_id", " for a planogram")
        where = f" for planogram of display {self.display_id}"
        require_int(self.version, "version", where, ge=1)
        require_text(self.provenance, "provenance", where)

    def facings(self) -> Mapping[str, int]:
        """Total facings wide per product (EdgeRec3D's q_i): the slots each product takes."""
        out: dict[str, int] = {}
        for p in self.positions:
            out[p.product_id] = out.get(p.product_id, 0) + p.facings_wide
        return MappingProxyType(out)


@dataclass(frozen=True, slots=True)
class VisitItem:
    """What one merchandiser visit recorded for one product on a display.

    shelfwise's own layout fills ``pre_count``, ``post_count`` (perceived unit counts before and
    after restocking) and ``facings`` (facings after restock). EdgeRec3D's published layout fills
    ``prev_facings`` (facings in place since the previous visit) and ``payoff`` (units sold
    since the previous visit, a non-negative real).
    """

    product_id: str
    pre_count: float | None = None
    post_count: float | None = None
    facings: int | None = None
    prev_facings: int | None = None
    payoff: float | None = None

    def __post_init__(self) -> None:
        require_text(self.product_id, "product_id", " for a visit item")
        where = f" for product {self.product_id}"
        optional_number(self.pre_count, "pre_count", where, ge=0)
        optional_number(self.post_count, "post_count", where, ge=0)
        optional_number(self.payoff, "payoff", where, ge=0)
        for name in ("facings", "prev_facings"):
            value = getattr(self, name)
            if value is not None:
                require_int(value, name, where, ge=0)


@dataclass(frozen=True, slots=True)
class DisplayVisit:
    """One merchandiser visit to a display: pre-scan, restock, post-scan."""

    visit_id: str
    store_id: str
    display_id: str
    visited_at: datetime
    items: tuple[VisitItem, ...] = ()

    def __post_init__(self) -> None:
        require_text(self.visit_id, "visit_id", "")
        where = f" for visit {self.visit_id}"
        require_text(self.store_id, "store_id", where)
        require_text(self.display_id, "display_id", where)
        if not isinstance(self.visited_at, datetime):
            raise InvalidParameterError(
                f"visited_at must be a datetime{where}; got {self.visited_at!r}"
            )
        seen: set[str] = set()
        for item in self.items:
            if item.product_id in seen:
                raise InvalidParameterError(
                    f"product_id must appear once per visit{where}; got {item.product_id!r} twice"
                )
            seen.add(item.product_id)


@dataclass(frozen=True, slots=True)
class Tract:
    """A small area around stores (census tract or place) with population and demographics."""

    tract_id: str
    lat: float
    lon: float
    population: int
    features: Mapping[str, float] = field(default_factory=dict)
    name: str | None = None

    def __post_init__(self) -> None:
        require_text(self.tract_id, "tract_id", "")
        where = f" for tract {self.tract_id}"
        require_number(self.lat, "lat", where, ge=-90, le=90)
        require_number(self.lon, "lon", where, ge=-180, le=180)
        require_int(self.population, "population", where, ge=0)
        for key, value in self.features.items():
            require_text(key, "feature name", where)
            require_number(value, f"feature {key!r}", where)
        object.__setattr__(self, "features", MappingProxyType(dict(self.features)))


@dataclass(frozen=True, slots=True)
class RecommendedItem:
    """One product of a display's recommendation: its facings and how the policy scored it.

    ``action`` is ``"keep"`` (on the display, facings unchanged), ``"decay"`` (facings cut),
    ``"add"`` (brought in), ``"raise"`` (more facings) or ``"drop"`` (recommended 0 facings; kept
    so the merchandiser sees what goes).
    """

    product_id: str
    facings: int
    previous_facings: int
    action: str
    expected_payoff: float | None = None
    pepf: float | None = None

    def __post_init__(self) -> None:
        require_text(self.product_id, "product_id", " for a recommended item")
        where = f" for recommended product {self.product_id}"
        require_int(self.facings, "facings", where, ge=0)
        require_int(self.previous_facings, "previous_facings", where, ge=0)
        if self.action not in RECOMMENDATION_ACTIONS:
            raise InvalidParameterError(
                f"action must be one of {RECOMMENDATION_ACTIONS}{where}; got {self.action!r}"
            )
        optional_number(self.expected_payoff, "expected_payoff", where)
        optional_number(self.pepf, "pepf", where)


RECOMMENDATION_ACTIONS: tuple[str, ...] = ("keep", "decay", "add", "raise", "drop")


@dataclass(frozen=True, slots=True)
class DisplayRecommendation:
    """What a merchandiser receives for one display: products, facings and a valid layout.

    ``planogram`` is the laid-out recommendation (``None`` when the display's products have no
    dimensions, e.g. logs in EdgeRec3D's layout); ``layout_note`` says why there is none or what
    the layout step changed.
    """

    display_id: str
    store_id: str
    items: tuple[RecommendedItem, ...]
    planogram: Planogram | None = None
    layout_note: str = ""

    def __post_init__(self) -> None:
        require_text(self.display_id, "display_id", " for a recommendation")
        require_text(self.store_id, "store_id", f" for the recommendation of {self.display_id}")
        seen: set[str] = set()
        for item in self.items:
            if item.product_id in seen:
                raise InvalidParameterError(
                    f"product {item.product_id!r} appears twice in the recommendation for "
                    f"display {self.display_id}"
                )
            seen.add(item.product_id)

    def facings(self) -> Mapping[str, int]:
        """Recommended facings per product (products recommended 0 left out)."""
        return MappingProxyType({i.product_id: i.facings for i in self.items if i.facings > 0})


@dataclass(frozen=True, slots=True)
class RecommendationRun:
    """One ``shelfwise recommend`` run: which policy, with which settings, when."""

    policy: str
    created_at: datetime
    parameters: Mapping[str, str] = field(default_factory=dict)
    recommendations: tuple[DisplayRecommendation, ...] = ()

    def __post_init__(self) -> None:
        require_text(self.policy, "policy", " for a recommendation run")
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))
        seen: set[str] = set()
        for rec in self.recommendations:
            if rec.display_id in seen:
                raise InvalidParameterError(
                    f"display {rec.display_id!r} appears twice in the recommendation run"
                )
            seen.add(rec.display_id)
