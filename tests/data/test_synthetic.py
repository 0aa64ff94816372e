"""Tests of the synthetic chain generator (shelfwise.data.synthetic)."""

from __future__ import annotations

import itertools
import math
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from shelfwise.data.layouts import LAYOUTS, LayoutName
from shelfwise.data.synthetic import (
    AGE_RESTRICTED_MIN_HEIGHT_CM,
    EDGEREC3D_FOLDER,
    FILE_STEMS,
    PROVENANCE,
    SUBCATEGORIES,
    ChainConfig,
    SyntheticChain,
    generate_chain,
    haversine_km,
)
from shelfwise.domain import Display, DisplayKind, Planogram, Product, gtin_is_valid
from shelfwise.exceptions import InvalidParameterError

SMALL = ChainConfig(n_stores=6, n_products=20, displays_per_store=2, weeks=4)


@pytest.fixture(scope="module")
def chain() -> SyntheticChain:
    """The default-size chain, generated once for the module."""
    return generate_chain(random_state=0)


@pytest.fixture(scope="module")
def small() -> SyntheticChain:
    return generate_chain(SMALL, random_state=7)


# --- configuration -------------------------------------------------------------------------

BAD_CONFIGS: list[tuple[dict[str, Any], str]] = [
    ({"n_stores": 0}, r"n_stores must be >= 2; got 0"),
    ({"n_stores": 3.0}, r"n_stores must be an integer; got 3.0"),
    ({"n_stores": True}, r"n_stores must be an integer; got True"),
    ({"n_products": 4}, r"n_products must be >= 5; got 4"),
    ({"n_products": 500}, r"n_products must be <= 200; got 500"),
    ({"displays_per_store": 0}, r"displays_per_store must be >= 1; got 0"),
    ({"weeks": 0}, r"weeks must be >= 1; got 0"),
    ({"n_clusters": 0}, r"n_clusters must be >= 1; got 0"),
    ({"metros": ()}, r"metros must be a non-empty tuple of city names; got \(\)"),
    ({"metros": ["Dallas"]}, r"metros must be a non-empty tuple"),
    ({"metros": ("Dallas", "Dallas")}, r"metros must not repeat a city"),
    (
        {"n_stores": 2, "metros": ("Dallas", "Denver", "Phoenix")},
        r"n_stores must be >= the number of metros \(3\); got 2",
    ),
    ({"outlier_share": 0.7}, r"outlier_share must be <= 0.5; got 0.7"),
    ({"outlier_share": -0.1}, r"outlier_share must be >= 0; got -0.1"),
    ({"scan_noise_cv": math.nan}, r"scan_noise_cv must be a finite number; got nan"),
    ({"catchment_km": 0.0}, r"catchment_km must be > 0; got 0.0"),
    ({"slow_share": 1.5}, r"slow_share must be <= 1; got 1.5"),
    ({"start_date": "2024-01-01"}, r"start_date must be a datetime.date; got '2024-01-01'"),
    ({"visit_gap_days": (3, 1)}, r"visit_gap_days must satisfy 1 <= low <= high <= 28"),
    ({"visit_hours": (8, 8)}, r"visit_hours must span at least one hour"),
    ({"change_weeks": (0, 4)}, r"change_weeks must satisfy 1 <= low <= high <= 52"),
    ({"outlier_multiplier": (0.5, 2.0)}, r"outlier_multiplier must be a \(low, high\) pair"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_CONFIGS)
def test_config_rejects_bad_values(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        ChainConfig(**kwargs)


def test_config_defaults() -> None:
    cfg = ChainConfig()
    assert (cfg.n_stores, cfg.n_products, cfg.displays_per_store, cfg.weeks) == (40, 60, 3, 26)
    assert cfg.metros == ("Dallas", "Denver")
    assert (cfg.n_clusters, cfg.outlier_share, cfg.start_date) == (4, 0.02, date(2024, 1, 1))
    assert cfg.n_days == 182


def test_generate_rejects_unknown_metro_and_bad_inputs() -> None:
    with pytest.raises(InvalidParameterError, match=r"metros must name US cities .*'Xanadu City'"):
        generate_chain(ChainConfig(n_stores=2, n_products=5, weeks=1, metros=("Xanadu City",)))
    with pytest.raises(InvalidParameterError, match=r"random_state must be an int"):
        generate_chain(SMALL, random_state="seed")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match=r"config must be a ChainConfig; got dict"):
        generate_chain({"n_stores": 6})  # type: ignore[arg-type]


# --- determinism ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_seed_gives_identical_files(tmp_path: Path, fmt: str) -> None:
    a = generate_chain(SMALL, random_state=3).write(tmp_path / "a", fmt=fmt)  # type: ignore[arg-type]
    b = generate_chain(SMALL, random_state=3).write(tmp_path / "b", fmt=fmt)  # type: ignore[arg-type]
    c = generate_chain(SMALL, random_state=4).write(tmp_path / "c", fmt=fmt)  # type: ignore[arg-type]
    assert [p.name for p in a] == [p.name for p in b]
    for pa_, pb_ in zip(a, b, strict=True):
        assert pa_.read_bytes() == pb_.read_bytes(), pa_.name
    by_name = {p.name: p for p in c}
    assert any(p.read_bytes() != by_name[p.name].read_bytes() for p in a)
    visits = f"visits.{fmt}"
    assert (tmp_path / "a" / visits).read_bytes() != (tmp_path / "c" / visits).read_bytes()


def test_generator_random_state_is_accepted() -> None:
    one = generate_chain(SMALL, random_state=np.random.default_rng(11))
    two = generate_chain(SMALL, random_state=np.random.default_rng(11))
    pd.testing.assert_frame_equal(one.visit_log, two.visit_log)


# --- truth ----------------------------------------------------------------------------------


def test_expected_sales_zero_at_zero_increasing_and_strictly_concave(chain: SyntheticChain) -> None:
    table = chain.expected_sales_table
    assert table.shape == (40, 60, 15)
    assert np.all(table[:, :, 0] == 0.0)
    first = np.diff(table, axis=2)
    assert np.all(first > 0)
    assert np.all(np.diff(first, axis=2) < 0)
    sid, pid = chain.truth.store_ids[3], chain.truth.product_ids[5]
    assert chain.expected_sales(sid, pid, 0) == 0.0
    assert chain.expected_sales(sid, pid, 4) == pytest.approx(table[3, 5, 4])
    by_day = [chain.expected_sales(sid, pid, 4, day_of_week=d) for d in range(7)]
    assert np.mean(by_day) == pytest.approx(table[3, 5, 4])
    assert min(by_day[5], by_day[6]) > max(by_day[:4])  # weekend sells more
    many = chain.expected_sales_many([3, 3], [5, 5], [0, 4])
    np.testing.assert_allclose(many, [0.0, table[3, 5, 4]])


def test_expected_sales_rejects_unknown_ids_and_bad_values(chain: SyntheticChain) -> None:
    with pytest.raises(InvalidParameterError, match=r"store_id must be a store of the chain"):
        chain.expected_sales("S99", "P0001", 1)
    with pytest.raises(InvalidParameterError, match=r"product_id must be a product of the chain"):
        chain.expected_sales("S01", "X", 1)
    with pytest.raises(InvalidParameterError, match=r"facings must be >= 0; got -1.0"):
        chain.expected_sales("S01", "P0001", -1)
    with pytest.raises(InvalidParameterError, match=r"day_of_week must be in 0..6"):
        chain.expected_sales("S01", "P0001", 1, day_of_week=7)


def test_every_cluster_has_stores_and_follows_the_segment_mix(chain: SyntheticChain) -> None:
    truth = chain.truth
    assert set(chain.true_cluster.values()) == set(range(chain.config.n_clusters))
    np.testing.assert_allclose(truth.store_mixture.sum(axis=1), 1.0)
    np.testing.assert_allclose(truth.tract_mixture.sum(axis=1), 1.0)
    assert np.array_equal(truth.true_clusters, truth.store_mixture.argmax(axis=1))
    assert list(chain.true_cluster) == [s.store_id for s in chain.stores]
    assert truth.cluster_coefficients.shape == (4, 60)
    assert truth.store_coefficients.shape == (40, 60)


def test_preferences_differ_across_true_clusters(chain: SyntheticChain) -> None:
    """Store-level preferences truly differ between the true clusters.

    For every product, a Kruskal-Wallis test compares the store-level log coefficients
    ``log beta_il`` of the stores in each true cluster; after a Benjamini-Hochberg correction
    over the 60 products, at least half must be significant at the 0.05 level. A permutation
    test then checks the clustering as a whole: the sum over products of the Kruskal-Wallis
    statistic must exceed that of all 199 random relabellings of the stores (p = 0.005).
    """
    log_beta = np.log(chain.truth.store_coefficients)
    labels = chain.truth.true_clusters

    def h_stats(lab: np.ndarray) -> np.ndarray:
        groups = [log_beta[lab == k] for k in np.unique(lab)]
        return np.array(
            [stats.kruskal(*(g[:, i] for g in groups)).statistic for i in range(log_beta.shape[1])]
        )

    pvalues = np.array(
        [
            stats.kruskal(*(log_beta[labels == k, i] for k in np.unique(labels))).pvalue
            for i in range(log_beta.shape[1])
        ]
    )
    adjusted = stats.false_discovery_control(pvalues, method="bh")
    assert np.mean(adjusted < 0.05) >= 0.5
    observed = h_stats(labels).sum()
    rng = np.random.default_rng(0)
    null = np.array([h_stats(rng.permutation(labels)).sum() for _ in range(199)])
    assert observed > null.max()


def test_store_coefficients_scatter_around_cluster_ones(chain: SyntheticChain) -> None:
    truth = chain.truth
    resid = (
        np.log(truth.store_coefficients)
        - np.log(truth.cluster_coefficients[truth.true_clusters])
        - truth.store_traffic[:, None]
    )
    assert abs(float(np.median(resid))) < 0.05
    # Laplace(0, b): E|x| = b
    ratio = np.abs(resid).mean(axis=0) / truth.laplace_scale
    assert 0.6 < float(np.median(ratio)) < 1.4


# --- geography ------------------------------------------------------------------------------


def test_stores_and_tracts_sit_in_the_metros(chain: SyntheticChain) -> None:
    names = chain.tract_names
    assert sum(n.endswith(", TX") for n in names) >= 40  # Dallas area has ~50 places
    assert sum(n.endswith(", CO") for n in names) >= 20  # Denver area ~30
    t_lat = np.array([t.lat for t in chain.tracts])
    t_lon = np.array([t.lon for t in chain.tracts])
    for store in chain.stores:
        assert store.region in chain.config.metros
        assert store.lat is not None and store.lon is not None
        assert haversine_km(store.lat, store.lon, t_lat, t_lon).min() <= 2.0 + 1e-6
        assert "#" in store.name
    assert {"grocery", "convenience"} >= {s.format for s in chain.stores}
    assert len({s.store_id for s in chain.stores}) == 40
    for tract in chain.tracts:
        assert tract.population >= 15_000
        assert set(tract.features) == {
            "median_income",
            "median_age",
            "share_college",
            "avg_household_size",
            "share_under_35",
            "pop_density_per_km2",
        }


# --- catalog --------------------------------------------------------------------------------


def test_catalog_is_realistic(chain: SyntheticChain) -> None:
    products = chain.products
    assert len({p.product_id for p in products}) == 60
    assert len({p.name for p in products}) == 60
    assert all(p.gtin is not None and len(p.gtin) == 12 and gtin_is_valid(p.gtin) for p in products)
    assert len({p.gtin for p in products}) == 60
    assert {p.subcategory for p in products} == set(SUBCATEGORIES)
    assert {p.category for p in products} == {"Beverages"}
    for p in products:
        assert p.price is not None and p.unit_cost is not None
        assert 0.99 <= p.price <= 3.99
        assert 0.45 * p.price - 0.01 <= p.unit_cost <= 0.70 * p.price + 0.01
        assert p.width_cm is not None and 6.0 <= p.width_cm <= 8.5
        assert p.height_cm is not None and 12.0 <= p.height_cm <= 27.5
        assert p.weight_kg is not None and 0.3 <= p.weight_kg <= 1.1
    restricted = [p for p in products if p.age_restricted]
    assert 0.04 <= len(restricted) / len(products) <= 0.12
    assert all(p.subcategory == "Sparkling" for p in restricted)


# --- displays and planograms ----------------------------------------------------------------


def test_displays_are_plausible(chain: SyntheticChain) -> None:
    ids = [d.display_id for d in chain.displays]
    assert len(set(ids)) == len(ids) == 120
    for store in chain.stores:
        kinds = [d.kind for d in chain.displays if d.store_id == store.store_id]
        assert DisplayKind.COOLER in kinds
    for d in chain.displays:
        assert 9 <= d.max_slots <= 52
        assert d.max_slots <= sum(int(s.width_cm // 6.5) for s in d.shelves)
        heights = [s.height_from_floor_cm for s in d.shelves]
        assert heights == sorted(heights) and len(set(heights)) == len(heights)
        assert d.name


def planogram_problems(
    planogram: Planogram, display: Display, products: dict[str, Product]
) -> list[str]:
    """Every broken physical rule of a planogram, in words (empty when valid)."""
    problems: list[str] = []
    shelves = {s.index: s for s in display.shelves}
    total = 0
    by_shelf: dict[int, list[Any]] = {}
    for pos in planogram.positions:
        shelf = shelves.get(pos.shelf_index)
        prod = products[pos.product_id]
        if shelf is None:
            problems.append(f"shelf {pos.shelf_index} does not exist")
            continue
        assert prod.width_cm and prod.height_cm and prod.depth_cm and prod.weight_kg
        by_shelf.setdefault(pos.shelf_index, []).append(pos)
        total += pos.facings_wide
        if prod.height_cm * pos.facings_high > shelf.clearance_cm:
            problems.append(f"{pos.product_id} too tall for shelf {shelf.index}")
        if pos.facings_deep != math.floor(shelf.depth_cm / prod.depth_cm):
            problems.append(f"{pos.product_id} facings_deep {pos.facings_deep}")
        if prod.age_restricted and (
            display.kind == DisplayKind.CHECKOUT
            or shelf.height_from_floor_cm < AGE_RESTRICTED_MIN_HEIGHT_CM
        ):
            problems.append(f"age-restricted {pos.product_id} on shelf {shelf.index}")
    if total > display.max_slots:
        problems.append(f"{total} facings > max_slots {display.max_slots}")
    for index, positions in by_shelf.items():
        shelf = shelves[index]
        positions.sort(key=lambda p: p.x_cm)
        used = 0.0
        load = 0.0
        end = 0.0
        for pos in positions:
            prod = products[pos.product_id]
            assert prod.width_cm and prod.weight_kg
            if pos.x_cm < end - 1e-6:
                problems.append(f"{pos.product_id} overlaps on shelf {index}")
            end = pos.x_cm + pos.facings_wide * prod.width_cm
            used += pos.facings_wide * prod.width_cm
            load += pos.units * prod.weight_kg
        if used > shelf.width_cm + 1e-6 or end > shelf.width_cm + 1e-6:
            problems.append(f"shelf {index} overfull: {used:.1f} cm > {shelf.width_cm} cm")
        if load > shelf.max_load_kg + 1e-6:
            problems.append(f"shelf {index} overloaded: {load:.1f} kg > {shelf.max_load_kg} kg")
    return problems


def test_every_planogram_is_physically_valid(chain: SyntheticChain) -> None:
    displays = {d.display_id: d for d in chain.displays}
    products = {p.product_id: p for p in chain.products}
    problems = [
        (g.display_id, g.version, msg)
        for g in chain.planograms
        for msg in planogram_problems(g, displays[g.display_id], products)
    ]
    assert problems == []
    assert all(g.positions for g in chain.planograms)
    assert all(g.provenance == PROVENANCE for g in chain.planograms)


def test_planograms_change_every_few_weeks(chain: SyntheticChain) -> None:
    by_display: dict[str, list[Planogram]] = {}
    for g in chain.planograms:
        by_display.setdefault(g.display_id, []).append(g)
    assert set(by_display) == {d.display_id for d in chain.displays}
    visit_times = chain.visit_log.groupby("display_id")["visited_at"].agg(set)
    n_changed = 0
    for display_id, versions in by_display.items():
        assert [g.version for g in versions] == list(range(1, len(versions) + 1))
        assert 3 <= len(versions) <= 8  # 26 weeks, a change every 4-8 weeks
        starts = [pd.Timestamp(g.effective_from) for g in versions if g.effective_from]
        assert len(starts) == len(versions)
        assert all(s in visit_times[display_id] for s in starts)
        gaps = np.diff([s.value for s in starts]) / 86_400e9
        assert np.all(gaps >= 28 - 14 / 24)  # whole days apart, visit hours vary
        for old, new in itertools.pairwise(versions):
            n_changed += dict(old.facings()) != dict(new.facings())
    assert n_changed >= 0.9 * (len(chain.planograms) - len(by_display))


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_small_chains_always_give_valid_planograms(seed: int) -> None:
    small = generate_chain(SMALL, random_state=seed)
    displays = {d.display_id: d for d in small.displays}
    products = {p.product_id: p for p in small.products}
    for g in small.planograms:
        assert planogram_problems(g, displays[g.display_id], products) == []


# --- visits, sales and scans ----------------------------------------------------------------


def test_visit_log_semantics(chain: SyntheticChain) -> None:
    log = chain.visit_log
    added = log["prev_facings"] == 0
    assert log.loc[added, "pre_count"].isna().all()
    assert log.loc[~added, "pre_count"].notna().all()
    removed = log["facings"] == 0
    assert (log.loc[removed, "post_count"] == 0).all()
    assert (~(added & removed)).all()
    for col in ("pre_count", "post_count", "true_pre_count", "true_post_count", "sales"):
        values = log[col].dropna().to_numpy()
        assert np.all(values >= 0) and np.all(values == np.round(values)), col
    had = ~added
    # the stock left plus what sold is what the previous visit put on the shelf
    stocked = log.groupby(["display_id", "product_id"])["true_post_count"].shift(1)
    np.testing.assert_array_equal(
        (log["true_pre_count"] + log["sales"])[had].to_numpy(), stocked[had].to_numpy()
    )
    assert (log.loc[had, "sales"] <= log.loc[had, "demand"]).all()
    share = log.loc[had, "outlier"].mean()
    assert 0.01 <= share <= 0.03
    hours = log["visited_at"].dt.hour
    assert hours.between(6, 19).all()
    first = log.drop_duplicates("visit_id")
    gaps = first.groupby("display_id")["visited_at"].diff().dropna().dt.total_seconds() / 86_400
    assert gaps.between(1 - 14 / 24, 3 + 14 / 24).all()
    assert log["visit_id"].is_monotonic_increasing


def test_restock_fills_the_planogram_in_force(chain: SyntheticChain) -> None:
    log = chain.visit_log
    by_display: dict[str, list[Planogram]] = {}
    for g in chain.planograms:
        by_display.setdefault(g.display_id, []).append(g)
    checked = 0
    for display_id, rows in log[log["facings"] > 0].groupby("display_id"):
        versions = by_display[str(display_id)]
        starts = np.array([np.datetime64(g.effective_from, "s") for g in versions])
        which = np.searchsorted(starts, rows["visited_at"].to_numpy(), side="right") - 1
        for g_index in np.unique(which):
            g = versions[int(g_index)]
            cap: dict[str, int] = {}
            for p in g.positions:
                cap[p.product_id] = cap.get(p.product_id, 0) + p.units
            part = rows[which == g_index]
            assert set(part["product_id"]) == set(cap)
            expected = part["product_id"].map(cap).to_numpy(dtype=float)
            np.testing.assert_array_equal(part["true_post_count"].to_numpy(), expected)
            np.testing.assert_array_equal(
                part["facings"].to_numpy(), part["product_id"].map(g.facings()).to_numpy()
            )
            checked += len(part)
    assert checked == int((log["facings"] > 0).sum())


def test_scan_noise_matches_countnet3d(chain: SyntheticChain) -> None:
    """Count MAE about 1.3 units and MAPE about 8% (paper Table 9: 1.28 and 7.7%)."""
    log = chain.visit_log
    true = np.concatenate([log["true_pre_count"], log["true_post_count"]])
    seen = np.concatenate([log["pre_count"], log["post_count"]])
    keep = np.isfinite(true) & (true > 0)
    err = np.abs(seen[keep] - true[keep])
    mae = float(err.mean())
    mape = float((err / true[keep]).mean())
    assert 1.0 <= mae <= 1.6
    assert 0.06 <= mape <= 0.10


def test_many_intervals_sell_nothing(chain: SyntheticChain) -> None:
    log = chain.visit_log
    sold = log.loc[log["prev_facings"] > 0, "sales"]
    assert 0.2 <= float((sold == 0).mean()) <= 0.6
    slow = set(np.array(chain.truth.product_ids)[chain.truth.slow_moving])
    is_slow = log["product_id"].isin(slow) & (log["prev_facings"] > 0)
    assert float((log.loc[is_slow, "sales"] == 0).mean()) > 0.5


def test_edgerec3d_payoff_is_eq4_floored_at_zero(chain: SyntheticChain) -> None:
    frames = chain.to_frames()
    e = frames["edgerec3d"]
    log = chain.visit_log
    assert len(e) == int((log["prev_facings"] > 0).sum())
    assert (e["payoff"] >= 0).all() and e["payoff"].notna().all()
    assert e["previous_post_scan_num_facings"].between(1, 14).all()
    row = log[log["prev_facings"] > 0].iloc[100]
    prev = log[
        (log["display_id"] == row["display_id"])
        & (log["product_id"] == row["product_id"])
        & (log["visited_at"] == row["previous_visit_at"])
    ]
    assert len(prev) == 1
    assert row["payoff"] == max(0.0, prev["post_count"].iloc[0] - row["pre_count"])


def test_iter_visits_gives_domain_records(small: SyntheticChain) -> None:
    visits = list(small.iter_visits())
    assert len(visits) == small.visit_log["visit_id"].nunique()
    assert sum(len(v.items) for v in visits) == len(small.visit_log)
    first = visits[0]
    assert all(item.pre_count is None for item in first.items)


# --- files ----------------------------------------------------------------------------------


def test_frames_have_exactly_the_layout_columns(small: SyntheticChain) -> None:
    frames = small.to_frames()
    assert set(frames) == {name.value for name in LayoutName}
    for name, frame in frames.items():
        expected = [c.name for c in LAYOUTS[LayoutName(name)].columns]
        if name == "tracts":
            assert list(frame.columns[: len(expected)]) == expected
            assert frame.columns[len(expected) :].tolist()
        else:
            assert list(frame.columns) == expected, name


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_written_files_have_exactly_the_layout_columns(
    small: SyntheticChain, tmp_path: Path, fmt: str
) -> None:
    paths = small.write(tmp_path, fmt=fmt)  # type: ignore[arg-type]
    assert sorted(p.name for p in paths) == sorted(f"{s}.{fmt}" for s in FILE_STEMS.values())
    for name in LayoutName:
        folder = tmp_path / EDGEREC3D_FOLDER if name == LayoutName.EDGEREC3D else tmp_path
        path = folder / f"{FILE_STEMS[name]}.{fmt}"
        if fmt == "csv":
            header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
        else:
            header = pq.read_schema(path).names
        expected = [c.name for c in LAYOUTS[name].columns]
        if name == LayoutName.EDGEREC3D:
            assert header[0] == ("" if fmt == "csv" else "Unnamed: 0")
            header = header[1:]
        if name == LayoutName.TRACTS:
            header = header[: len(expected)]
        assert header == expected, name


def test_csv_cells_are_formatted(small: SyntheticChain, tmp_path: Path) -> None:
    small.write(tmp_path)
    visits = pd.read_csv(tmp_path / "visits.csv", dtype=str, keep_default_na=False)
    assert visits["visited_at"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()
    assert (visits["pre_count"] == "").any()
    e = pd.read_csv(tmp_path / EDGEREC3D_FOLDER / "edgerec3d_visits.csv")
    assert e.columns[0] == "Unnamed: 0"
    assert e["Unnamed: 0"].tolist() == list(range(len(e)))
    products = pd.read_csv(tmp_path / "products.csv", dtype={"gtin": str})
    assert products["gtin"].map(gtin_is_valid).all()
    round_trip = pd.read_parquet(small.write(tmp_path / "pq", fmt="parquet")[0])
    assert len(round_trip) == len(small.stores)
