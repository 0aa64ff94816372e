"""Workflows of the assortment decisions: build every display's problem, recommend, store.

:func:`load_workspace` reads what every decision needs from the database (displays, products,
visits) and says what is missing (coordinates, dimensions), so the later steps degrade in the
open: one cluster when stores cannot be clustered, no height pruning and no layout when products
have no sizes. :func:`recommend_all` runs EdgeRec3D (candidates, PEPF, heuristic search) on
every display, lays each recommendation out with the CP-SAT solver, stores the run and writes
CSV and before/after pictures.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from shelfwise.assortment import CooccurrenceGraph
from shelfwise.assortment.payoffs import RBPPayoffs
from shelfwise.assortment.policies import EdgeRec3DPolicy
from shelfwise.assortment.problem import DisplayProblem
from shelfwise.assortment.recommend import recommend_display
from shelfwise.demand import RBPModel
from shelfwise.domain import Display, DisplayRecommendation, Product, RecommendationRun
from shelfwise.evaluation.problems import display_problems, eligible_products
from shelfwise.exceptions import InvalidParameterError, NotFoundError
from shelfwise.planogram.render import render_to_file
from shelfwise.storage import Repository

from .models import check_clusters

RECOMMENDATIONS_FILE = "recommendations.csv"


@dataclass(frozen=True)
class Workspace:
    """What the decision workflows read from the database, and what it lacks."""

    displays: dict[str, Display]
    products: dict[str, Product]
    visits: pd.DataFrame
    notes: tuple[str, ...]
    """Plain-language notes on missing data and how the workflows degrade because of it."""

    @property
    def has_dimensions(self) -> bool:
        """Whether every product has width, height and depth (layout and pruning possible)."""
        return all(p.has_dimensions for p in self.products.values())


def load_workspace(repo: Repository) -> Workspace:
    """Read displays, products and visits; note missing coordinates and dimensions."""
    displays = {d.display_id: d for d in repo.list_displays()}
    products = {p.product_id: p for p in repo.list_products()}
    visits = repo.visits_frame()
    if visits.empty or visits["product_id"].isna().all():
        raise InvalidParameterError(
            "the database has no visits to recommend from; ingest visits first (shelfwise ingest)"
        )
    notes = []
    stores = repo.list_stores()
    if any(s.lat is None or s.lon is None for s in stores):
        notes.append(
            "some stores have no coordinates: stores cannot be clustered by geography, so "
            "unless store clusters are given every store is in one cluster"
        )
    unsized = [p for p in products.values() if not p.has_dimensions]
    if unsized:
        notes.append(
            f"{len(unsized)} of {len(products)} products have no dimensions: candidates are not "
            "pruned by height and displays holding them get no planogram layout"
        )
    no_shelves = [d for d in displays.values() if not d.shelves]
    if no_shelves:
        notes.append(
            f"{len(no_shelves)} display(s) have no shelf geometry: no physical pruning or layout"
        )
    return Workspace(displays, products, visits, tuple(notes))


def build_problems(
    ws: Workspace,
    *,
    clusters: Mapping[str, str] | None = None,
    tau: int = 5,
    max_facings: int = 14,
    display_ids: Sequence[str] | None = None,
    random_state: int | np.random.Generator | None = None,
) -> tuple[list[DisplayProblem], dict[str, tuple[str, ...]]]:
    """Every visited display's problem (state, candidates, budget) and its fitting products.

    Returns
    -------
    (list of DisplayProblem, dict)
        Problems in display order, and per display the products that physically fit it.
    """
    chosen = list(ws.displays.values())
    if display_ids is not None:
        wanted = list(dict.fromkeys(display_ids))
        unknown = sorted(set(wanted) - set(ws.displays))
        if unknown:
            raise NotFoundError(f"display_id {unknown[0]!r} is not stored")
        visited = set(ws.visits["display_id"].dropna().astype(str))
        idle = [d for d in wanted if d not in visited]
        if idle:
            raise InvalidParameterError(
                f"display_id {idle[0]!r} has no visits to recommend from "
                f"({len(idle)} requested display(s) without visits)"
            )
        chosen = [ws.displays[d] for d in wanted]
    graph = CooccurrenceGraph.from_visits(ws.visits, ws.products)
    problems = display_problems(
        chosen,
        ws.products,
        ws.visits,
        graph,
        tau=tau,
        max_facings=max_facings,
        clusters=clusters,
        random_state=random_state,
    )
    eligible = {d.display_id: eligible_products(d, ws.products) for d in chosen}
    return problems, eligible


@dataclass(frozen=True)
class RecommendRun:
    """What :func:`recommend_all` produced."""

    run: RecommendationRun
    run_id: int | None
    """The stored run's id (None when not stored)."""
    notes: tuple[str, ...]
    written: tuple[Path, ...]
    seconds: float


def recommend_all(
    repo: Repository,
    model: RBPModel,
    *,
    clusters: Mapping[str, str] | None = None,
    lam: float = 1.0,
    n_swaps: int = 2,
    epsilon: float = 0.05,
    tau: int = 5,
    uncertainty: Literal["epistemic", "predictive"] = "epistemic",
    fill: Literal["marginal", "keep"] = "marginal",
    display_ids: Sequence[str] | None = None,
    layout: bool = True,
    store: bool = True,
    out: Path | None = None,
    pictures: int = 3,
    random_state: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
) -> RecommendRun:
    """Recommend products and facings for displays with EdgeRec3D and lay them out.

    Parameters
    ----------
    repo : Repository
        The database (displays, products, visits; the run is stored there).
    model : RBPModel
        The fitted payoff model.
    clusters : mapping of store_id to cluster, optional
        Store clusters the model was fitted with (stores the model never saw need one).
    lam, n_swaps, epsilon, tau
        PEPF penalty, swaps per display (V), epsilon of the epsilon-greedy refill, neighbours
        drawn per seed product for candidates.
    uncertainty : {"epistemic", "predictive"}
        The sd PEPF penalises: the posterior sd of the expected payoff (default; measured
        better on the synthetic chains, see the README) or the posterior predictive sd of the
        payoff (EdgeRec3D's Eq. 6 as published).
    fill : {"marginal", "keep"}
        The heuristic search's fill step (see :mod:`shelfwise.assortment.search`).
    display_ids : sequence of str, optional
        Only these displays (default: every display with visits).
    layout : bool
        Lay each recommendation out with the solver (when the products have sizes).
    store : bool
        Store the run in the database.
    out : Path, optional
        Folder for ``recommendations.csv`` and before/after PNGs of the first ``pictures``
        displays.
    random_state : int
        Seeds candidate sampling and the epsilon-greedy choice.
    on_progress : callable, optional
        Called with (done, total) after each display.
    """
    started = time.perf_counter()
    ws = load_workspace(repo)
    notes = list(ws.notes)
    labels = {str(s): str(c) for s, c in model.store_clusters_.items()}
    if clusters is not None:
        check_clusters(clusters, (s.store_id for s in repo.list_stores()), source="clusters")
        fitted = {str(c) for c in model.cluster_labels_}
        strange = sorted({str(c) for c in clusters.values()} - fitted)
        if strange:
            raise InvalidParameterError(
                f"clusters names cluster {strange[0]!r}, which the model was not fitted on; "
                f"its clusters are {sorted(fitted)}"
            )
        labels.update({str(s): str(c) for s, c in clusters.items()})
    rng = np.random.default_rng(random_state)
    problems, _ = build_problems(
        ws, clusters=labels, tau=tau, display_ids=display_ids, random_state=rng
    )
    if not problems:
        raise InvalidParameterError("no display has visits to recommend from")
    unknown = sorted({p.store_id for p in problems if p.cluster is None})
    if unknown:
        shown = ", ".join(unknown[:3]) + (", ..." if len(unknown) > 3 else "")
        notes.append(
            f"{len(unknown)} store(s) have no cluster ({shown}): they are scored at the "
            "model's first cluster"
        )
        first = model.cluster_labels_[0]
        problems = [p if p.cluster is not None else _with_cluster(p, str(first)) for p in problems]
    payoffs = RBPPayoffs(model, uncertainty=uncertainty)
    problems, dropped = drop_unknown_candidates(problems, payoffs)
    if dropped:
        notes.append(
            f"{dropped} candidate(s) were left out because the payoff model has no estimate "
            "for them (products it was not fitted on)"
        )
    policy = EdgeRec3DPolicy(payoffs, lam=lam, n_swaps=n_swaps, epsilon=epsilon, fill=fill)
    recs: list[DisplayRecommendation] = []
    for i, prob in enumerate(problems):
        display = ws.displays[prob.display_id]
        recs.append(
            recommend_display(
                prob,
                policy,
                payoffs,
                rng=rng,
                lam=lam,
                display=display if layout else None,
                catalog=ws.products if layout else None,
            )
        )
        if on_progress is not None:
            on_progress(i + 1, len(problems))
    params = {
        "lam": str(lam),
        "n_swaps": str(n_swaps),
        "epsilon": str(epsilon),
        "tau": str(tau),
        "uncertainty": uncertainty,
        "fill": fill,
        "seed": str(random_state),
        "model_products": str(len(model.product_ids_)),
    }
    run = RecommendationRun(policy.name, datetime.now(), params, tuple(recs))
    run_id = repo.add_recommendation_run(run) if store else None
    written: list[Path] = []
    if out is not None:
        written += write_recommendations(run, ws, out, pictures=pictures, repo=repo)
    return RecommendRun(run, run_id, tuple(notes), tuple(written), time.perf_counter() - started)


def drop_unknown_candidates(
    problems: Sequence[DisplayProblem], payoffs: object
) -> tuple[list[DisplayProblem], int]:
    """Remove candidates the payoff model knows nothing about (they would score 0, which can
    beat known products with a negative PEPF); returns the problems and how many went."""
    unknown_of = getattr(payoffs, "unknown_products", None)
    if unknown_of is None:
        return list(problems), 0
    out, dropped = [], 0
    for prob in problems:
        unknown = set(unknown_of(prob.candidates))
        if unknown:
            dropped += len(unknown)
            prob = replace(prob, candidates=tuple(c for c in prob.candidates if c not in unknown))
        out.append(prob)
    return out, dropped


def _with_cluster(problem: DisplayProblem, cluster: str) -> DisplayProblem:
    return replace(problem, cluster=cluster)


def recommendations_frame(run: RecommendationRun) -> pd.DataFrame:
    """One row per display and product: facings before and after, action, scores, layout note."""
    rows = [
        {
            "display_id": rec.display_id,
            "store_id": rec.store_id,
            "product_id": it.product_id,
            "previous_facings": it.previous_facings,
            "facings": it.facings,
            "action": it.action,
            "expected_payoff": it.expected_payoff,
            "pepf": it.pepf,
            "layout_note": rec.layout_note,
        }
        for rec in run.recommendations
        for it in rec.items
    ]
    return pd.DataFrame(rows)


def write_recommendations(
    run: RecommendationRun,
    ws: Workspace,
    out: Path,
    *,
    pictures: int = 3,
    repo: Repository | None = None,
) -> list[Path]:
    """Write ``recommendations.csv`` and before/after PNGs for the first ``pictures`` displays
    that have a layout (the "before" is the display's newest stored planogram)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / RECOMMENDATIONS_FILE
    recommendations_frame(run).to_csv(path, index=False, quoting=csv.QUOTE_MINIMAL)
    written = [path]
    shown = 0
    for rec in run.recommendations:
        if shown >= pictures or rec.planogram is None or repo is None:
            continue
        display = ws.displays[rec.display_id]
        try:
            before = repo.latest_planogram(rec.display_id)
        except NotFoundError:
            continue
        written.append(
            render_to_file(
                before,
                display,
                ws.products,
                out / f"{rec.display_id}_before.png",
                title=f"{rec.display_id} now (planogram v{before.version})",
            )
        )
        written.append(
            render_to_file(
                rec.planogram,
                display,
                ws.products,
                out / f"{rec.display_id}_after.png",
                title=f"{rec.display_id} recommended ({run.policy})",
            )
        )
        shown += 1
    return written
