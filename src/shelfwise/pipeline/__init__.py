"""End-to-end workflows over the database, shared by the CLI, the demo and (later) the service.

Each step reads what it needs from a :class:`~shelfwise.storage.Repository`, runs the library,
and writes its artefacts into a folder; the CLI only adds progress bars and printing.
"""

from shelfwise.pipeline.demo import DemoRun, run_demo
from shelfwise.pipeline.models import (
    CURVE_FIGURE,
    CURVE_FILE,
    LABELS_FILE,
    MAP_FIGURE,
    MODEL_FILE,
    ClusterRun,
    FitRun,
    cluster_stores,
    fit_payoffs,
    observations_from_visits,
    payoff_figures,
    read_clusters,
)

__all__ = [
    "CURVE_FIGURE",
    "CURVE_FILE",
    "LABELS_FILE",
    "MAP_FIGURE",
    "MODEL_FILE",
    "ClusterRun",
    "DemoRun",
    "FitRun",
    "cluster_stores",
    "fit_payoffs",
    "observations_from_visits",
    "payoff_figures",
    "read_clusters",
    "run_demo",
]
