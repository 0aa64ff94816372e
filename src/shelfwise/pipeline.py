"""End-to-end workflows over the database, shared by the CLI, the demo and (later) the service.

Each step reads what it needs from a :class:`~shelfwise.storage.Repository`, runs the library,
and writes its artefacts into a folder; the CLI only adds progress bars and printing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from shelfwise.perception.sales import SalesTable, sales_from_visits
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
