"""Workflows of the models: cluster the stores, fit the payoff model, over the database."""

from __future__ import annotations

import csv
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from shelfwise.data.synthetic import ChainConfig, generate_chain
from shelfwise.data.synthetic.truth import ChainTruth
from shelfwise.demand import ConvergenceWarning, RBPModel, rank_candidates
from shelfwise.demand.figures import pepf_figure, posterior_predictive_figure
from shelfwise.exceptions import InvalidParameterError
from shelfwise.perception.sales import ESTIMATED_FLAGS, SalesTable, sales_from_visits
from shelfwise.spatial.clustering import StoreClustering
from shelfwise.spatial.figures import cluster_map_figure, k_curve_figure
from shelfwise.storage import Repository

#: File names written by :func:`cluster_stores`.
LABELS_FILE = "store_clusters.csv"
MODEL_FILE = "store_clustering.json"
CURVE_FILE = "k_curve.csv"
CURVE_FIGURE = "k_curve.png"
MAP_FIGURE = "cluster_map.png"

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class ClusterRun:
    """What :func:`cluster_stores` produced."""

    model: StoreClustering
    sales: SalesTable
    written: tuple[Path, ...]


def cluster_stores(
    repo: Repository,
    out: Path,
    *,
    k: int | None = None,
    k_max: int = 10,
    random_state: int = 0,
    progress: Progress = _quiet,
) -> ClusterRun:
    """Sales from scans, SpAGMM profiles and K-means clusters for the stores in ``repo``.

    Writes the labels CSV (with metro and profile), the model JSON, the K curve (CSV and PNG)
    and a map of stores by cluster (when stores have coordinates) into ``out``.
    """
    progress("Reading stores, tracts and visits")
    stores = repo.list_stores()
    tracts = repo.list_tracts()
    visits = repo.visits_frame()
    progress(f"Sales from {len(visits):,} visit rows")
    sales = sales_from_visits(visits)
    progress("Fitting SpAGMM profiles and K-means")
    model = StoreClustering(k=k, k_max=k_max, random_state=random_state).fit(stores, tracts, sales)
    progress("Writing labels, model and figures")
    out.mkdir(parents=True, exist_ok=True)
    written = [out / LABELS_FILE]
    labels = pd.DataFrame(
        {"store_id": list(model.labels_), "cluster": list(model.labels_.values())}
    )
    labels["metro"] = labels["store_id"].map(dict(model.metro_)).astype("Int64")
    labels = labels.merge(model.profiles_.reset_index(), on="store_id", how="left")
    labels.to_csv(written[0], index=False, lineterminator="\n")
    written.append(model.save(out / MODEL_FILE))
    if model.curve_ is not None:
        model.curve_.frame.to_csv(out / CURVE_FILE, index=False, lineterminator="\n")
        k_curve_figure(model.curve_).savefig(out / CURVE_FIGURE, dpi=120)
        written += [out / CURVE_FILE, out / CURVE_FIGURE]
    if any(s.lat is not None for s in stores) and len(model.profiles_):
        cluster_map_figure(stores, model.labels_, tracts, metro=model.metro_).savefig(
            out / MAP_FIGURE, dpi=120
        )
        written.append(out / MAP_FIGURE)
    return ClusterRun(model=model, sales=sales, written=tuple(written))


# ---------------------------------------------------------------------------- payoff model
def observations_from_visits(visits: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Payoff observations (store_id, product_id, facings, rate) from a visit frame.

    Uses :func:`shelfwise.perception.sales.sales_from_visits` (Eq. 4, with its default
    treatment of negative differences: flagged and read as 0 sold) and keeps the intervals with
    an estimate and at least one facing in place.

    Returns
    -------
    (pandas.DataFrame, int)
        The observations and the number of estimated intervals left out for having no facings.
    """
    table = sales_from_visits(visits).frame
    estimated = (
        table["flag"].isin([f.value for f in ESTIMATED_FLAGS]) & table["rate_per_day"].notna()
    )
    sales = table[estimated]
    usable = sales["facings"].fillna(0) >= 1
    obs = pd.DataFrame(
        {
            "store_id": sales.loc[usable, "store_id"].astype(str),
            "product_id": sales.loc[usable, "product_id"].astype(str),
            "facings": sales.loc[usable, "facings"].astype(float),
            "rate": sales.loc[usable, "rate_per_day"].astype(float),
        }
    ).reset_index(drop=True)
    return obs, int((~usable).sum())


def read_clusters(path: Path) -> dict[str, str]:
    """Read a ``store_id,cluster`` CSV (as ``shelfwise cluster`` writes it)."""
    if not path.is_file():
        raise InvalidParameterError(f"clusters file {path} does not exist or is not a file")
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or not {"store_id", "cluster"} <= set(reader.fieldnames):
                raise InvalidParameterError(
                    f"{path} must have columns store_id and cluster; got {reader.fieldnames}"
                )
            out: dict[str, str] = {}
            for i, row in enumerate(reader, start=2):
                store, label = (row["store_id"] or "").strip(), (row["cluster"] or "").strip()
                if not store or not label:
                    raise InvalidParameterError(
                        f"{path}, row {i}: store_id and cluster must be non-empty; got "
                        f"{row['store_id']!r}, {row['cluster']!r}"
                    )
                if store in out and out[store] != label:
                    raise InvalidParameterError(
                        f"{path}, row {i}: store {store!r} is given two clusters "
                        f"({out[store]!r} and {label!r})"
                    )
                out[store] = label
    except UnicodeDecodeError as exc:
        raise InvalidParameterError(f"{path} is not a UTF-8 CSV file: {exc}") from exc
    if not out:
        raise InvalidParameterError(f"{path} has no rows")
    return out


def check_clusters(clusters: Mapping[str, str], stores: Iterable[str], *, source: str) -> None:
    """Every store in ``clusters`` must be a stored store; raise naming the first stranger."""
    known = set(stores)
    unknown = sorted(set(clusters) - known)
    if unknown:
        raise InvalidParameterError(
            f"{source} names store {unknown[0]!r}, which is not in the database "
            f"({len(unknown)} unknown store(s))"
        )


@dataclass(frozen=True)
class FitRun:
    """What :func:`fit_payoffs` produced."""

    model: RBPModel
    observations: pd.DataFrame
    no_facings: int
    warnings: tuple[str, ...]
    written: tuple[Path, ...]


def payoff_figures(model: RBPModel, obs: pd.DataFrame, folder: Path, *, lam: float) -> list[Path]:
    """Posterior predictive figures for the three best-observed (product, store) pairs and the
    PEPF ranking (2 facings each) at the best-observed store."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    counts = obs.groupby(["product_id", "store_id"]).size().sort_values(ascending=False)
    for product, store in list(counts.index[:3]):
        fig = posterior_predictive_figure(model, str(product), str(store), observations=obs)
        path = folder / f"rbp_predictive_{product}_{store}.png"
        fig.savefig(path, dpi=110)
        written.append(path)
    store = str(obs["store_id"].value_counts().index[0])
    ranking = rank_candidates(model, store, [(p, 2.0) for p in model.product_ids_], lam=lam)
    fig = pepf_figure(ranking.head(15), lam=lam, title=f"PEPF at {store}, 2 facings each")
    path = folder / f"rbp_pepf_{store}.png"
    fig.savefig(path, dpi=110)
    written.append(path)
    return written


def fit_payoffs(
    repo: Repository,
    model: RBPModel,
    out: Path,
    *,
    clusters: dict[str, str] | None = None,
    figures: Path | None = None,
    lam: float = 1.0,
    on_progress: Callable[[int, int], None] | None = None,
) -> FitRun:
    """Fit the RBP model on the stored visits; save it to ``out`` and write its figures.

    ``clusters`` maps store_id to cluster (default: one cluster). Convergence warnings are
    collected (and returned) rather than printed.
    """
    obs, no_facings = observations_from_visits(repo.visits_frame())
    if obs.empty:
        raise InvalidParameterError(
            "the database has no visit intervals with sales and facings to fit on; "
            "ingest visits first (shelfwise ingest)"
        )
    labels = clusters or {s: "all" for s in sorted(set(obs["store_id"]))}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(obs, labels, on_progress=on_progress)
    messages = tuple(str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning))
    written = [model.save(out)]
    written += payoff_figures(model, obs, figures or out.parent / "rbp-figures", lam=lam)
    return FitRun(model, obs, no_facings, messages, tuple(written))


def chain_truth(repo: Repository, config: ChainConfig, *, seed: int) -> ChainTruth:
    """The true demand of the synthetic chain ``(config, seed)``, checked against the database.

    The chain is regenerated (it is deterministic); its store and product ids must be the
    stored ones, else the database holds another chain (or a user's data) and there is no truth.
    """
    chain = generate_chain(config, random_state=seed)
    stored_stores = {s.store_id for s in repo.list_stores()}
    stored_products = {p.product_id for p in repo.list_products()}
    if stored_stores != set(chain.truth.store_ids) or stored_products != set(
        chain.truth.product_ids
    ):
        raise InvalidParameterError(
            f"the database does not hold the synthetic chain of seed {seed} with {config.n_stores} "
            f"stores and {config.n_products} products (its {len(stored_stores)} stores / "
            f"{len(stored_products)} products differ); ground truth exists only for the chain "
            "the data came from (shelfwise synth / demo with the same options)"
        )
    return chain.truth
