"""Field-experiment workflows: simulate one on the synthetic chain, or analyse a user's panel.

Simulated (§4.2-4.3 of EdgeRec3D): within every store, displays are randomly assigned to
treatment or control; treated displays get the stored recommendation, adopted by a compliant
merchandiser with probability ``compliance_share``; daily sales come from the chain's true
demand; the difference-in-differences estimate, its permutation p-value and bootstrap interval
are computed overall and for high and low compliance, beside the true effect.

A user's panel (CSV or Parquet, one row per unit and period) goes through the same
difference-in-differences with the columns the user names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from shelfwise.evaluation.did import DIDResult, difference_in_differences, read_panel
from shelfwise.evaluation.experiment import (
    ExperimentAnalysis,
    FieldExperiment,
    analyse_experiment,
    simulate_field_experiment,
)
from shelfwise.evaluation.figures import did_trend_figure
from shelfwise.evaluation.groundtruth import DemandTruth
from shelfwise.exceptions import InvalidParameterError
from shelfwise.storage import Repository

from .assortment import build_problems, load_workspace

EXPERIMENT_FIGURE = "experiment_trend.png"
EXPERIMENT_TABLE = "experiment.csv"


@dataclass(frozen=True)
class SimulatedExperimentRun:
    """What :func:`simulate_experiment` produced."""

    experiment: FieldExperiment
    analysis: ExperimentAnalysis
    table: pd.DataFrame
    written: tuple[Path, ...]


def stored_recommendations(
    repo: Repository, run_id: int | None = None
) -> dict[str, dict[str, int]]:
    """Recommended facings per display of a stored run (default: the newest)."""
    frame = repo.recommendations_frame(run_id)
    out: dict[str, dict[str, int]] = {}
    facings = frame["facings"].to_numpy(dtype=int)
    for d, p, q in zip(frame["display_id"], frame["product_id"], facings, strict=True):
        if q > 0:
            out.setdefault(str(d), {})[str(p)] = int(q)
    return out


def simulate_experiment(
    repo: Repository,
    truth: DemandTruth,
    *,
    recommendations: Mapping[str, Mapping[str, int]] | None = None,
    run_id: int | None = None,
    compliance_share: float = 0.6,
    pre_days: int = 21,
    post_days: int = 28,
    permutations: int = 5000,
    bootstrap: int = 2000,
    random_state: int = 0,
    out: Path | None = None,
) -> SimulatedExperimentRun:
    """Simulate a within-store randomised field experiment of the recommendations and analyse it.

    Parameters
    ----------
    repo : Repository
        Displays, products and visits (today's state of every display).
    truth : DemandTruth
        The synthetic chain's true demand.
    recommendations : mapping, optional
        Facings per product per display; default: the stored run ``run_id`` (or the newest).
    compliance_share : float
        Probability that a treated display's merchandiser adopts the recommendation.
    pre_days, post_days : int
        Days before and after the change.
    permutations, bootstrap : int
        Resamples of the permutation test and the bootstrap interval.
    random_state : int
        Seeds assignment, compliance, sales and resampling.
    out : Path, optional
        Folder for the table (CSV) and the trend figure (PNG).
    """
    recs: dict[str, Mapping[str, int]] = (
        dict(recommendations)
        if recommendations is not None
        else dict(stored_recommendations(repo, run_id))
    )
    ws = load_workspace(repo)
    problems, _ = build_problems(ws, random_state=random_state)
    problems = [p for p in problems if p.display_id in recs]
    if not problems:
        raise InvalidParameterError(
            "no display has both a recommendation and visits; run `shelfwise recommend` first"
        )
    exp = simulate_field_experiment(
        truth,
        problems,
        {p.display_id: recs[p.display_id] for p in problems},
        compliance_share=compliance_share,
        pre_days=pre_days,
        post_days=post_days,
        random_state=random_state,
    )
    analysis = analyse_experiment(
        exp, permutations=permutations, bootstrap=bootstrap, random_state=random_state
    )
    table = analysis.table()
    written: list[Path] = []
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / EXPERIMENT_TABLE)
        written.append(out / EXPERIMENT_TABLE)
        fig = analysis.figure("all")
        fig.savefig(out / EXPERIMENT_FIGURE, dpi=110, bbox_inches="tight")
        written.append(out / EXPERIMENT_FIGURE)
    return SimulatedExperimentRun(exp, analysis, table, tuple(written))


@dataclass(frozen=True)
class PanelExperimentRun:
    """What :func:`analyse_panel_file` produced."""

    result: DIDResult
    panel: pd.DataFrame
    written: tuple[Path, ...]


def analyse_panel_file(
    path: Path,
    *,
    unit: str = "unit",
    treated: str = "treated",
    post: str = "post",
    outcome: str = "outcome",
    stratum: str | None = None,
    time: str | None = None,
    permutations: int = 5000,
    bootstrap: int = 2000,
    random_state: int = 0,
    out: Path | None = None,
) -> PanelExperimentRun:
    """Difference-in-differences on a user's unit x period panel (CSV or Parquet).

    ``time`` names a column to draw the trend figure over (dates or period numbers); without
    it the figure shows pre and post only.
    """
    panel = read_panel(
        path, unit=unit, treated=treated, post=post, outcome=outcome, stratum=stratum
    )
    if time is not None and time not in panel.columns:
        raise InvalidParameterError(
            f"time column {time!r} is not in {path}; columns are {list(panel.columns)}"
        )
    result = difference_in_differences(
        panel,
        unit=unit,
        treated=treated,
        post=post,
        outcome=outcome,
        stratum=stratum,
        n_permutations=permutations,
        n_bootstrap=bootstrap,
        random_state=random_state,
    )
    written: list[Path] = []
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        result.means.to_csv(out / EXPERIMENT_TABLE)
        written.append(out / EXPERIMENT_TABLE)
        frame = panel.copy()
        tcol = time
        if tcol is None:
            tcol = "_period"
            frame[tcol] = pd.Categorical(
                frame[post].map({False: "pre", True: "post"}), ["pre", "post"], ordered=True
            )
        else:
            as_number = pd.to_numeric(frame[tcol], errors="coerce")
            if as_number.notna().all():
                frame[tcol] = as_number
            else:
                as_date = pd.to_datetime(frame[tcol], errors="coerce")
                if as_date.notna().all():
                    frame[tcol] = as_date
        fig = did_trend_figure(frame, result, time=tcol, treated=treated, outcome=outcome)
        fig.savefig(out / EXPERIMENT_FIGURE, dpi=110, bbox_inches="tight")
        written.append(out / EXPERIMENT_FIGURE)
    return PanelExperimentRun(result, panel, tuple(written))
