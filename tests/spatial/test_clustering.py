"""Store clustering: ANOVA criterion, K choice, recovery of the chain's clusters, contract, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from matplotlib.figure import Figure
from scipy.stats import f_oneway
from sklearn.base import clone
from typer.testing import CliRunner

from shelfwise.cli.cluster import cluster_cmd
from shelfwise.data.synthetic import ChainConfig, SyntheticChain, generate_chain
from shelfwise.domain import Store
from shelfwise.exceptions import ArtifactMismatchError, InvalidParameterError, NotFittedError
from shelfwise.perception import SalesTable, sales_from_visits
from shelfwise.spatial.clustering import StoreClustering, adjusted_rand, metro_groups
from shelfwise.spatial.figures import cluster_map_figure, k_curve_figure
from shelfwise.spatial.selection import benjamini_hochberg, choose_k, product_anova
from shelfwise.storage import Repository, sqlite_url
from shelfwise.storage.ingest import ingest_files


def test_product_anova_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    labels = {f"S{i}": i % 3 for i in range(12)}
    rows = [
        (s, p, rng.gamma(2.0, 1.0 + (p == "A") * k)) for s, k in labels.items() for p in ("A", "B")
    ]
    rates = pd.DataFrame(rows, columns=["store_id", "product_id", "rate_per_day"])
    rates.loc[0, "rate_per_day"] = np.nan  # a store without an estimate is left out
    res = product_anova(rates, labels).set_index("product_id")
    for p in ("A", "B"):
        sub = rates[(rates["product_id"] == p) & rates["rate_per_day"].notna()]
        groups = [g["rate_per_day"].to_numpy() for _, g in sub.groupby(sub["store_id"].map(labels))]
        ref = f_oneway(*groups)
        assert res.loc[p, "f_stat"] == pytest.approx(ref.statistic)
        assert res.loc[p, "p_value"] == pytest.approx(ref.pvalue)
    assert res.loc["A", "n_stores"] == 11 and res.loc["B", "n_groups"] == 3


def test_untestable_products_get_no_p_value() -> None:
    labels = {"S1": 0, "S2": 0, "S3": 1}
    rates = pd.DataFrame(
        {
            "store_id": ["S1", "S2", "S3", "S1", "S3"],
            "product_id": ["flat", "flat", "flat", "one-each", "one-each"],
            "rate_per_day": [1.0, 1.0, 1.0, 2.0, 3.0],
        }
    )
    res = product_anova(rates, labels).set_index("product_id")
    assert res["p_value"].isna().all()  # zero within variance; no residual dof


def test_benjamini_hochberg() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.2, np.nan])
    # sorted 0.01, 0.03, 0.04, 0.2 against 0.05 * i / 4: 0.0125, 0.025, 0.0375, 0.05
    np.testing.assert_array_equal(benjamini_hochberg(p, 0.05), [True, False, False, False, False])
    np.testing.assert_array_equal(
        benjamini_hochberg(np.array([0.01, 0.02, 0.03]), 0.05), [True, True, True]
    )


@pytest.mark.parametrize(
    ("shares", "min_gain", "k"),
    [
        ([0.15, 0.25, 0.42, 0.35, 0.31], 0.05, 4),  # clear peak
        ([0.10, 0.30, 0.33, 0.34, 0.34], 0.05, 3),  # diminishing returns
        ([0.10, 0.30, 0.26, 0.40, 0.41], 0.05, 5),  # a dip does not stop the search
        ([0.20, 0.20, 0.20, 0.20, 0.20], 0.0, 2),
        ([0.10, 0.20, 0.30, 0.40, 0.50], 0.05, 6),
    ],
)
def test_choose_k(shares: list[float], min_gain: float, k: int) -> None:
    curve = pd.DataFrame({"k": range(2, 7), "share_significant": shares})
    assert choose_k(curve, min_gain=min_gain) == k


def test_metro_groups_split_far_apart_stores() -> None:
    stores = np.array([[32.8, -96.8], [32.9, -96.7], [39.7, -105.0], [39.6, -104.9]])
    tracts = np.vstack([stores + 0.02, stores - 0.02])
    s_grp, t_grp = metro_groups(stores, tracts, 150.0)
    np.testing.assert_array_equal(s_grp, [0, 0, 1, 1])
    np.testing.assert_array_equal(t_grp, [0, 0, 1, 1, 0, 0, 1, 1])
    assert set(metro_groups(stores, tracts, None)[0]) == {0}
    # A metro with fewer than 3 tracts joins its nearest neighbour.
    s_grp, _ = metro_groups(stores, tracts[[0, 1, 4, 5, 2]], 150.0)
    assert set(s_grp) == {0}


@pytest.fixture(scope="module")
def small() -> tuple[SyntheticChain, SalesTable]:
    chain = generate_chain(
        ChainConfig(n_stores=12, n_products=15, displays_per_store=1, weeks=6), random_state=2
    )
    return chain, sales_from_visits(chain.visit_log)


def _fit(small: tuple[SyntheticChain, SalesTable], **params: object) -> StoreClustering:
    chain, sales = small
    model = StoreClustering(k_max=5, n_init=4, random_state=0, **params)  # type: ignore[arg-type]
    return model.fit(chain.stores, chain.tracts, sales)


def test_fit_gives_labels_profiles_and_a_curve(small: tuple[SyntheticChain, SalesTable]) -> None:
    chain, _ = small
    m = _fit(small)
    assert set(m.labels_) == {s.store_id for s in chain.stores}
    assert set(m.labels_.values()) == set(range(m.k_))
    assert m.curve_ is not None and m.k_ == m.curve_.chosen_k
    assert list(m.curve_.frame["k"]) == [2, 3, 4, 5]
    assert (m.curve_.frame["n_products"] == 15).all()
    assert list(m.profiles_.columns) == list(chain.tracts[0].features)
    assert len(m.spagmm_) == 2 and set(m.metro_.values()) == {0, 1}  # Dallas and Denver
    assert m.cluster_sizes().sum() == 12
    fixed = _fit(small, k=3)
    assert fixed.k_ == 3 and fixed.curve_ is None


@pytest.fixture(scope="module")
def default_chain() -> tuple[SyntheticChain, SalesTable]:
    chain = generate_chain(random_state=0)
    return chain, sales_from_visits(chain.visit_log)


def test_recovers_the_default_chains_true_clusters(
    default_chain: tuple[SyntheticChain, SalesTable],
) -> None:
    chain, sales = default_chain
    m = StoreClustering(random_state=0).fit(chain.stores, chain.tracts, sales)
    # Measured: K = 4 (the truth), adjusted Rand 0.78; a single SpAGMM across both metros
    # (the paper's setup, metro_gap_km=None) gives only about 0.2.
    assert m.k_ == 4
    assert adjusted_rand(m.labels_, chain.true_cluster) > 0.6
    assert m.curve_ is not None
    frame = m.curve_.frame.set_index("k")
    assert frame["share_significant"].idxmax() == 4
    one = StoreClustering(k=4, metro_gap_km=None, random_state=0).fit(chain.stores, chain.tracts)
    assert adjusted_rand(one.labels_, chain.true_cluster) < adjusted_rand(
        m.labels_, chain.true_cluster
    )


def test_estimator_contract(small: tuple[SyntheticChain, SalesTable], tmp_path: Path) -> None:
    with pytest.raises(NotFittedError, match=r"StoreClustering is not fitted yet; call fit\(\)"):
        StoreClustering().save(tmp_path / "x.json")
    m = _fit(small)
    c = clone(m)
    assert c.get_params() == m.get_params() and not hasattr(c, "labels_")
    again = _fit(small)
    assert dict(again.labels_) == dict(m.labels_)
    assert m.curve_ is not None and again.curve_ is not None
    pd.testing.assert_frame_equal(again.curve_.frame, m.curve_.frame)
    path = m.save(tmp_path / "model.json")
    loaded = StoreClustering.load(path)
    assert loaded.get_params() == m.get_params()
    assert dict(loaded.labels_) == dict(m.labels_) and loaded.k_ == m.k_
    assert dict(loaded.metro_) == dict(m.metro_)
    pd.testing.assert_frame_equal(loaded.profiles_, m.profiles_)
    assert loaded.curve_ is not None
    pd.testing.assert_frame_equal(loaded.curve_.frame, m.curve_.frame)
    np.testing.assert_array_equal(loaded.cluster_centers_, m.cluster_centers_)
    for a, b in zip(loaded.spagmm_, m.spagmm_, strict=True):
        np.testing.assert_array_equal(a.covariances_, b.covariances_)
    data = json.loads(path.read_text())
    path.write_text(json.dumps(data | {"version": 99}))
    with pytest.raises(ArtifactMismatchError, match="artifact version 99"):
        StoreClustering.load(path)
    path.write_text(json.dumps(data | {"format": "something.else"}))
    with pytest.raises(ArtifactMismatchError, match=r"must hold a shelfwise\.spatial"):
        StoreClustering.load(path)
    path.write_text("{not json")
    with pytest.raises(ArtifactMismatchError, match="not a readable JSON artifact"):
        StoreClustering.load(path)


def _tracts_frame(chain: SyntheticChain) -> pd.DataFrame:
    return chain.to_frames()["tracts"]


@pytest.mark.parametrize(
    ("params", "change", "match"),
    [
        ({"k": 13}, None, r"k must be <= the number of stores with coordinates \(12\); got 13"),
        ({"k_min": 12, "k_max": 12}, None, "choosing k needs at least k_min \\+ 1 = 13 stores"),
        ({}, "nan_lat", "tracts must have coordinates; got lat=NaN for tract"),
        ({}, "nan_feature", "tract features must not be NaN; got NaN for feature 'median_age'"),
        ({}, "no_sales", "sales must be given to choose k"),
        ({"k": 0}, None, "k must be None or an integer >= 1; got 0"),
        ({"k_max": 1}, None, r"k_max must be an integer >= k_min \(2\); got 1"),
        ({"alpha": 0.0}, None, r"alpha must be a number in \(0, 1\); got 0.0"),
        ({"correction": "bonferroni"}, None, "correction must be 'none' or 'fdr_bh'"),
        ({"metro_gap_km": -5}, None, "metro_gap_km must be None or > 0; got -5"),
    ],
)
def test_bad_input_is_refused(
    small: tuple[SyntheticChain, SalesTable],
    params: dict[str, object],
    change: str | None,
    match: str,
) -> None:
    chain, sales = small
    tracts = _tracts_frame(chain)
    if change == "nan_lat":
        tracts.loc[3, "lat"] = np.nan
    if change == "nan_feature":
        tracts.loc[5, "median_age"] = np.nan
    with pytest.raises(InvalidParameterError, match=match):
        StoreClustering(**params).fit(  # type: ignore[arg-type]
            chain.stores, tracts, None if change == "no_sales" else sales
        )


def test_stores_without_coordinates_do_not_crash(small: tuple[SyntheticChain, SalesTable]) -> None:
    chain, sales = small
    bare = [Store(store_id=s.store_id, name=s.name) for s in chain.stores]
    m = StoreClustering().fit(bare, chain.tracts, sales)
    assert m.k_ == 1 and set(m.labels_.values()) == {0}
    assert "no store has coordinates" in m.notes_[0]
    no_tracts = StoreClustering().fit(chain.stores, [], sales)
    assert no_tracts.k_ == 1 and "no tracts" in no_tracts.notes_[0]
    # Some stores located: the others join a cluster by their sales.
    mixed = [*chain.stores[:10], *bare[10:]]
    part = StoreClustering(k=3, n_init=4, random_state=0).fit(mixed, chain.tracts, sales)
    assert set(part.labels_) == {s.store_id for s in chain.stores}
    assert set(part.labels_.values()) <= {0, 1, 2}
    assert len(part.profiles_) == 10 and "2 store(s) without coordinates" in part.notes_[0]


def test_figures(small: tuple[SyntheticChain, SalesTable], tmp_path: Path) -> None:
    chain, _ = small
    m = _fit(small)
    assert m.curve_ is not None
    curve = k_curve_figure(m.curve_)
    assert isinstance(curve, Figure) and len(curve.axes) == 1
    assert any(f"chosen K = {m.k_}" in t.get_text() for t in curve.axes[0].texts)
    fig = cluster_map_figure(chain.stores, m.labels_, chain.tracts, metro=m.metro_)
    assert [ax.get_title() for ax in fig.axes] == ["Dallas: 6 stores", "Denver: 6 stores"]
    fig.savefig(tmp_path / "map.png", dpi=60)
    assert (tmp_path / "map.png").stat().st_size > 5_000
    with pytest.raises(InvalidParameterError, match="at least one store with coordinates"):
        cluster_map_figure([Store(store_id="S1", name="x")], {"S1": 0}, chain.tracts)


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(cluster_cmd)
    return app


def test_cli_clusters_a_database_and_writes_its_files(
    small: tuple[SyntheticChain, SalesTable], tmp_path: Path
) -> None:
    chain, _ = small
    written = chain.write(tmp_path / "data")
    url = sqlite_url(tmp_path / "chain.db")
    ingest_files(Repository.from_url(url), [p for p in written if "edgerec3d" not in p.name])
    out = tmp_path / "out"
    args = ["--database-url", url, "--out", str(out), "--k-max", "4", "--seed", "1"]
    result = CliRunner().invoke(_cli(), args)
    assert result.exit_code == 0, result.output
    assert "K selection" in result.output and "Chosen K =" in result.output
    assert "Sales from scans" in result.output
    for name in ("store_clusters.csv", "store_clustering.json", "k_curve.png", "cluster_map.png"):
        assert (out / name).is_file(), name
    labels = pd.read_csv(out / "store_clusters.csv")
    assert len(labels) == 12 and {"store_id", "cluster", "metro"} <= set(labels.columns)
    model = StoreClustering.load(out / "store_clustering.json")
    assert dict(model.labels_) == dict(zip(labels["store_id"], labels["cluster"], strict=True))
    fixed = CliRunner().invoke(_cli(), ["--database-url", url, "--out", str(out), "--k", "2"])
    assert fixed.exit_code == 0 and "Clusters (K = 2)" in fixed.output


def test_cli_without_coordinates_falls_back_to_one_cluster(
    small: tuple[SyntheticChain, SalesTable], tmp_path: Path
) -> None:
    chain, _ = small
    written = chain.write(tmp_path / "data")
    url = sqlite_url(tmp_path / "edgerec.db")
    ingest_files(Repository.from_url(url), [p for p in written if "edgerec3d" in p.name])
    result = CliRunner().invoke(_cli(), ["--database-url", url, "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "payoff" in result.output and "Clusters (K = 1)" in result.output
    assert "every store is put in one cluster" in result.output
    assert not (tmp_path / "o" / "cluster_map.png").exists()


def test_cli_reports_errors_without_a_traceback(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "empty.db")
    Repository.from_url(url)
    result = CliRunner().invoke(_cli(), ["--database-url", url, "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "Error:" in result.output and "at least 1 store" in result.output
