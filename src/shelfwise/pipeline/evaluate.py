"""Evaluate EdgeRec3D against baselines and its ablations, offline, two ways side by side.

1. **Replay** (Li et al. 2011, EdgeRec3D Tables 1 and 3): the payoff models are fitted on the
   visits before a time split; the visits after it are replayed, each policy recommending
   facings from the display's previous state; a (visit, product) slot counts when the
   recommended facings equal the logged facings, and its payoff (units per day) is the reward.
   30 runs on a random 50% of the events; mean, sd and median per policy.
2. **Ground truth** (synthetic chain only): the true expected daily sales of each policy's
   recommendations for every display, over successive recommendation rounds, as a share of
   the oracle (the exact best facings under the true demand among the products that fit).

The payoff models and the policies on them come from :mod:`shelfwise.pipeline.suite`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from shelfwise.assortment import generate_candidates
from shelfwise.assortment.candidates import CooccurrenceGraph
from shelfwise.assortment.policies import (
    ReplayAdapter,
)
from shelfwise.assortment.problem import (
    AssortmentPolicy,
    DisplayProblem,
    PayoffEstimator,
)
from shelfwise.domain import Display, Product
from shelfwise.evaluation import (
    ReplayResult,
    SlotContext,
    SlotEvent,
    events_from_log,
    replay,
    replay_table,
)
from shelfwise.evaluation.figures import oracle_share_figure
from shelfwise.evaluation.groundtruth import (
    DemandTruth,
    GroundTruthResult,
    SalesFeedback,
    evaluate_on_truth,
)
from shelfwise.evaluation.problems import candidate_refresher, crc32_of, eligible_products
from shelfwise.exceptions import InvalidParameterError
from shelfwise.storage import Repository

from .assortment import Workspace, build_problems, drop_unknown_candidates, load_workspace
from .models import check_clusters
from .suite import (
    PayoffSuite,
    Progress,
    ablation_policies,
    baseline_policies,
    fit_suite,
    payoff_log,
    payoff_observations,
    time_split,
)


def _quiet(_: str) -> None:
    return None


ORACLE_FIGURE = "oracle_share.png"
CLOSED_LOOP_FIGURE = "oracle_share_closed_loop.png"


class ReplayProblems:
    """Builds (once per event, shared by every policy) the problem a replayed visit poses.

    The state is the display's logged state at its previous visit; candidates are drawn from
    the co-occurrence graph of the training window, pruned to products that fit.
    """

    def __init__(
        self,
        displays: Mapping[str, Display],
        products: Mapping[str, Product],
        graph: CooccurrenceGraph,
        eligible: Mapping[str, Sequence[str]],
        clusters: Mapping[str, str],
        *,
        tau: int = 5,
        max_facings: int = 14,
        unknown: Sequence[str] = (),
        random_state: int = 0,
    ) -> None:
        self.displays = displays
        self.products = products
        self.graph = graph
        self.eligible = {d: set(v) for d, v in eligible.items()}
        self.clusters = clusters
        self.tau = tau
        self.max_facings = max_facings
        self.random_state = random_state
        self.unknown = set(unknown)
        self._cache: dict[str, DisplayProblem] = {}

    def __call__(self, ctx: SlotContext) -> DisplayProblem:
        """The problem of one logged event."""
        found = self._cache.get(ctx.event_id)
        if found is not None:
            return found
        display = self.displays[ctx.display_id]
        state = {p: min(int(q), self.max_facings) for p, q in ctx.previous_state.items() if q > 0}
        rng = np.random.default_rng([self.random_state, crc32_of(ctx.event_id)])
        clearance = max((s.clearance_cm for s in display.shelves), default=None)
        fits = self.eligible.get(ctx.display_id, set())
        cands = [
            c.product_id
            for c in generate_candidates(
                self.graph,
                state,
                self.products,
                tau=self.tau,
                clearance_cm=clearance,
                random_state=rng,
            )
            if c.product_id in fits and c.product_id not in self.unknown
        ]
        problem = DisplayProblem(
            store_id=ctx.store_id,
            display_id=ctx.display_id,
            state=state,
            candidates=tuple(cands),
            max_slots=ctx.max_slots or display.max_slots,
            max_facings=self.max_facings,
            cluster=self.clusters.get(ctx.store_id),
        )
        self._cache[ctx.event_id] = problem
        return problem

    def prepare(self, contexts: Iterable[SlotContext]) -> ReplayProblems:
        """Build the problems of ``contexts`` now and keep them; returns ``self``.

        Each worker process gets its own copy of this object: built before the copies are
        made, the problems are drawn once instead of once per replayed policy (the same
        problems either way: each is seeded by its event id).
        """
        for ctx in contexts:
            self(ctx)
        return self


@dataclass(frozen=True)
class EvaluationRun:
    """What :func:`evaluate_policies` produced."""

    replay_baselines: pd.DataFrame
    """Table 1: mean, sd, median reward per policy (units per day per matched slot)."""
    replay_ablations: pd.DataFrame
    """Table 3: the same for the eight ablation variants."""
    truth_baselines: GroundTruthResult | None
    truth_ablations: GroundTruthResult | None
    split_at: pd.Timestamp
    train_rows: int
    test_events: int
    suite: PayoffSuite
    seconds: dict[str, float]
    """Seconds per step: the fits (``fit``, ``fit_rbp``, ...), ``scoring_wall`` (everything
    after the fits, wall time), and per kind of scoring task ``truth``, ``truth_closed_loop``
    and ``replay``: the sum of those tasks' own times, more than the wall time they took when
    ``n_jobs`` > 1 runs them side by side."""
    notes: tuple[str, ...]
    closed_loop_baselines: GroundTruthResult | None = None
    """The baselines scored in a closed loop (``evaluate_policies(closed_loop=...)``)."""
    closed_loop_ablations: GroundTruthResult | None = None


def evaluate_policies(
    repo: Repository,
    *,
    clusters: Mapping[str, str] | None = None,
    truth: DemandTruth | None = None,
    holdout: float = 0.25,
    runs: int = 30,
    keep: float = 0.5,
    rounds: int = 10,
    lam: float = 1.0,
    closed_loop: SalesFeedback | None = None,
    rbp_options: Mapping[str, object] | None = None,
    ensemble_options: Mapping[str, object] | None = None,
    with_ensemble: bool = True,
    random_state: int = 0,
    n_jobs: int | None = None,
    progress: Progress = _quiet,
    workspace: Workspace | None = None,
) -> EvaluationRun:
    """Fit every payoff model on the training window, replay the rest, score on the truth.

    Parameters
    ----------
    repo : Repository
        Displays, products and visits.
    clusters : mapping of store_id to cluster, optional
        Store clusters (default: one cluster; the "clustering" ablation then equals its
        counterpart and a note says so).
    truth : DemandTruth, optional
        The synthetic chain's truth (``chain.truth``) for the ground-truth evaluation.
    holdout : float
        Share of the log's time span replayed (the models never see it).
    runs, keep : int, float
        Replay runs and the share of events each keeps (30 and 0.5 in the paper).
    rounds : int
        Successive recommendations per display in the ground-truth evaluation.
    lam : float
        PEPF penalty.
    closed_loop : SalesFeedback, optional
        With a truth, also score the policies in a closed loop: each round's sales are drawn
        from the truth and every policy's payoff model learns from its own recommendations'
        sales (:class:`~shelfwise.assortment.payoffs.OnlinePayoffs`), and candidates are
        drawn afresh from each round's state (:func:`candidate_refresher`), as in a
        deployment.
    rbp_options, ensemble_options : mapping, optional
        Keyword arguments of :class:`RBPModel` and :class:`DeepEnsemblePayoffs`.
    with_ensemble : bool
        Train the deep ensemble (Deep Ensembles and MOPO are left out without it).
    random_state : int
        Seeds everything.
    n_jobs : int, optional
        Worker processes for the scoring after the fits (each replayed policy, each truth
        evaluation is one task); ``None`` or 1 runs them here, -1 uses every core. The results
        do not depend on it: every task seeds itself from ``random_state``.
    """
    check_n_jobs(n_jobs)
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise InvalidParameterError(f"runs must be an integer >= 1; got {runs!r}")
    if not 0.0 < keep <= 1.0:
        raise InvalidParameterError(f"keep must be in (0, 1]; got {keep!r}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise InvalidParameterError(f"rounds must be an integer >= 1; got {rounds!r}")
    if closed_loop is not None and not isinstance(closed_loop, SalesFeedback):
        raise InvalidParameterError(
            f"closed_loop must be a SalesFeedback or None; got {closed_loop!r}"
        )
    if closed_loop is not None and truth is None:
        raise InvalidParameterError(
            "closed_loop needs the chain's truth to draw sales from (pass truth; on the CLI, "
            "--closed-loop needs --truth-seed)"
        )
    seconds: dict[str, float] = {}
    ws = workspace or load_workspace(repo)
    notes = list(ws.notes)
    store_ids = [s.store_id for s in repo.list_stores()]
    if clusters:
        check_clusters(clusters, store_ids, source="clusters")
        missing = sorted(set(store_ids) - set(clusters))
        if missing:
            raise InvalidParameterError(
                f"clusters gives no cluster for store {missing[0]!r} "
                f"({len(missing)} stored store(s) without one)"
            )
        labels = {str(s): str(c) for s, c in clusters.items()}
        notes.append(
            "store clusters were chosen on all visits' sales (K by ANOVA), held-out ones "
            "included; the payoff models themselves see only the training window"
        )
    else:
        labels = {s: "all" for s in store_ids}
        notes.append(
            "no store clusters given: one cluster, so the ablations with and without "
            "clustering fit the same kind of model"
        )
    log = payoff_log(ws.visits, ws.displays)
    if log.empty:
        raise InvalidParameterError("the visits give no payoff intervals with facings to evaluate")
    split = time_split(log, holdout)
    train = log[log["visited_at"] < split]
    test = log[log["visited_at"] >= split]
    obs = payoff_observations(train)
    t0 = time.perf_counter()
    suite = fit_suite(
        obs,
        labels,
        rbp_options=rbp_options,
        ensemble_options=ensemble_options,
        with_ensemble=with_ensemble,
        random_state=random_state,
        progress=progress,
    )
    seconds["fit"] = time.perf_counter() - t0
    seconds.update({f"fit_{k}": v for k, v in suite.seconds.items()})
    notes += suite.warnings
    baselines = baseline_policies(suite, lam=lam)
    ablations = ablation_policies(suite, lam=lam)

    if truth is not None and closed_loop is not None:
        progress("Scoring on the chain's true demand (open and closed loop) and replaying")
    elif truth is not None:
        progress("Scoring on the chain's true demand and replaying the held-out visits")
    else:
        progress("Replaying the held-out visits")
    t0 = time.perf_counter()
    tasks: list[tuple[str, Callable[..., object], tuple[object, ...], dict[str, object]]] = []
    if truth is not None:
        problems, eligible = build_problems(ws, clusters=labels, random_state=random_state)
        problems, _ = drop_unknown_candidates(problems, suite.rbp)
        if closed_loop is not None:
            for abl in (False, True):
                tasks.append(
                    (
                        "truth_closed_loop",
                        closed_loop_on_truth,
                        (suite, ws, problems, eligible, truth),
                        {
                            "feedback": closed_loop,
                            "rounds": rounds,
                            "ablations": abl,
                            "lam": lam,
                            "random_state": random_state,
                        },
                    )
                )
        for policies in (baselines, ablations):
            tasks.append(
                (
                    "truth",
                    evaluate_on_truth,
                    (policies, problems, truth),
                    {"eligible": eligible, "rounds": rounds, "random_state": random_state},
                )
            )
    train_visits = ws.visits[ws.visits["visited_at"] < split]
    graph = CooccurrenceGraph.from_visits(train_visits, ws.products)
    eligible_all = {d: eligible_products(disp, ws.products) for d, disp in ws.displays.items()}
    make = ReplayProblems(
        ws.displays,
        ws.products,
        graph,
        eligible_all,
        labels,
        unknown=suite.rbp.unknown_products(sorted(ws.products)),
        random_state=random_state,
    )
    events = events_from_log(log)
    test_ids = set(test["visit_id"])
    events = [e for e in events if e.context.event_id in test_ids and e.context.previous_state]
    if not events:
        raise InvalidParameterError(
            f"no held-out visits to replay after {split:%Y-%m-%d %H:%M}; raise holdout "
            f"(now {holdout})"
        )
    for policy in [*baselines, *ablations]:
        tasks.append(
            (
                "replay",
                _replay_one,
                (policy, make, events),
                {"runs": runs, "keep": keep, "seed": random_state},
            )
        )
    # Each worker gets its own copy of the models: fill their prediction caches once, here
    # (always, so that no prediction depends on which rows a worker happened to ask first).
    # The truth problems and the replay's share max_facings (14, both defaults), so one width
    # fills every table they ask for.
    _warm_caches(suite, labels, sorted(ws.products), max_facings=make.max_facings)
    make.prepare(e.context for e in events)
    done = _run_tasks(tasks, n_jobs)
    for (kind, *_), (_, spent) in zip(tasks, done, strict=True):
        seconds[kind] = seconds.get(kind, 0.0) + spent
    seconds["scoring_wall"] = time.perf_counter() - t0
    results = iter(value for value, _ in done)
    truth_base = truth_abl = loop_base = loop_abl = None
    if truth is not None:
        if closed_loop is not None:
            loop_base, loop_abl = next(results), next(results)
        truth_base, truth_abl = next(results), next(results)
    replays = list(results)
    rep_base, rep_abl = replays[: len(baselines)], replays[len(baselines) :]
    return EvaluationRun(
        replay_baselines=replay_table(rep_base),
        replay_ablations=replay_table(rep_abl),
        truth_baselines=truth_base,
        truth_ablations=truth_abl,
        split_at=split,
        closed_loop_baselines=loop_base,
        closed_loop_ablations=loop_abl,
        train_rows=len(train),
        test_events=len(events),
        suite=suite,
        seconds=seconds,
        notes=tuple(notes),
    )


def closed_loop_on_truth(
    suite: PayoffSuite,
    workspace: Workspace,
    problems: Sequence[DisplayProblem],
    eligible: Mapping[str, Iterable[str]],
    truth: DemandTruth,
    *,
    feedback: SalesFeedback | None = None,
    rounds: int = 10,
    ablations: bool = False,
    lam: float = 1.0,
    random_state: int | np.random.Generator | None = 0,
    policies: Sequence[AssortmentPolicy] | None = None,
) -> GroundTruthResult:
    """Score the baselines, the ablations or ``policies`` on the truth with sales feedback.

    Each policy gets payoff models that learn from its own sales
    (:class:`~shelfwise.assortment.payoffs.OnlinePayoffs`), and each round's candidates are
    drawn afresh from the workspace's co-occurrence graph among the products the clustered
    RBP was fitted on (:func:`~shelfwise.evaluation.problems.candidate_refresher`).

    Parameters
    ----------
    suite : PayoffSuite
        The fitted payoff models (:func:`fit_suite`).
    workspace : Workspace
        Displays, products and visits (:func:`load_workspace`).
    problems : sequence of DisplayProblem
        One per display, state = today's facings (:func:`build_problems`).
    eligible : mapping of display_id to product ids
        Products that physically fit each display.
    truth : DemandTruth
        The chain's true demand; each round's sales are drawn from it.
    feedback : SalesFeedback, optional
        How sales are observed (:class:`~shelfwise.evaluation.SalesFeedback` defaults).
    rounds : int
        Successive recommendations per display.
    ablations : bool
        Score the Table 3 ablations instead of the baselines.
    lam : float
        PEPF's uncertainty penalty.
    random_state : int, Generator or None
        Seed of the candidate draws and of the sales noise; the same for every policy.
    policies : sequence of AssortmentPolicy, optional
        Score these instead (``ablations`` and ``lam`` are then unused); give each its own
        learning model (:class:`~shelfwise.assortment.payoffs.OnlinePayoffs`), or it does not
        learn. Candidates and sales noise are those the baselines get; a policy's own random
        choices come from a generator seeded by ``random_state`` and its name.

    Returns
    -------
    GroundTruthResult
        Every policy's true expected sales per display and round, with the oracle's.

    Raises
    ------
    InvalidParameterError
        ``policies`` given with ``ablations=True``; empty ``policies`` or repeated names
        (from :func:`~shelfwise.evaluation.groundtruth.evaluate_on_truth`).
    """
    if policies is not None and ablations:
        raise InvalidParameterError(
            f"give policies or ablations=True, not both; got ablations=True and "
            f"{len(policies)} policies"
        )
    rng = np.random.default_rng(random_state)
    refresh_seed, run_seed = (int(v) for v in rng.integers(2**63, size=2))
    refresh = candidate_refresher(
        list(workspace.displays.values()),
        workspace.products,
        CooccurrenceGraph.from_visits(workspace.visits, workspace.products),
        allowed=suite.rbp.model.product_ids_,
        random_state=refresh_seed,
    )
    if policies is None:
        make = ablation_policies if ablations else baseline_policies
        policies = make(suite, lam=lam, online=True)
    return evaluate_on_truth(
        policies,
        problems,
        truth,
        eligible=eligible,
        rounds=rounds,
        next_problem=refresh,
        feedback=SalesFeedback() if feedback is None else feedback,
        random_state=run_seed,
    )


class _Memo:
    """Remembers a deterministic policy's recommendation per problem (replay runs repeat
    events; the recommendation cannot differ)."""

    def __init__(self, policy: AssortmentPolicy) -> None:
        self.policy = policy
        self.name = policy.name
        self._seen: dict[int, dict[str, int]] = {}

    def recommend(self, problem: DisplayProblem, rng: np.random.Generator) -> dict[str, int]:
        """The policy's recommendation, computed once per problem object."""
        key = id(problem)
        if key not in self._seen:
            self._seen[key] = self.policy.recommend(problem, rng)
        return dict(self._seen[key])


def _replay_one(
    policy: AssortmentPolicy,
    make: ReplayProblems,
    events: Sequence[SlotEvent],
    *,
    runs: int,
    keep: float,
    seed: int,
) -> ReplayResult:
    used: AssortmentPolicy = _Memo(policy) if getattr(policy, "deterministic", False) else policy
    adapter = ReplayAdapter(used, make, name=policy.name)
    return replay(adapter, events, runs=runs, keep=keep, random_state=seed)


def check_n_jobs(n_jobs: object) -> None:
    """Raise unless ``n_jobs`` is None, -1 or an integer >= 1 (joblib's meaning)."""
    if n_jobs is not None and (
        isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1
    ):
        raise InvalidParameterError(f"n_jobs must be None, -1 or an integer >= 1; got {n_jobs!r}")


def _warm_caches(
    suite: PayoffSuite, clusters: Mapping[str, str], product_ids: Sequence[str], max_facings: int
) -> None:
    """Ask every model of ``suite`` for every store's table once, so its caches are full."""
    models: list[PayoffEstimator] = [suite.rbp, suite.rbp_global]
    if suite.ensemble is not None:
        models.append(suite.ensemble)
    for store, cluster in clusters.items():
        for model in models:
            model.table(store, product_ids, max_facings, cluster=cluster)


def _timed(
    func: Callable[..., object], args: tuple[object, ...], kwargs: dict[str, object]
) -> tuple[object, float]:
    t0 = time.perf_counter()
    value = func(*args, **kwargs)
    return value, time.perf_counter() - t0


def _run_tasks(
    tasks: Sequence[tuple[str, Callable[..., object], tuple[object, ...], dict[str, object]]],
    n_jobs: int | None,
) -> list[tuple[Any, float]]:
    """Run ``(kind, func, args, kwargs)`` tasks, in worker processes when ``n_jobs`` > 1.

    Every task seeds itself from its own arguments, so results do not depend on ``n_jobs``.
    Returns each task's value and its own wall time, in task order.
    """
    if n_jobs is None or n_jobs == 1:
        return [_timed(func, args, kwargs) for _, func, args, kwargs in tasks]
    parallel = Parallel(n_jobs=n_jobs, batch_size=1)
    return list(parallel(delayed(_timed)(func, args, kwargs) for _, func, args, kwargs in tasks))


def write_tables(run: EvaluationRun, out: Path) -> list[Path]:
    """Write the replay and ground-truth tables (CSV) and the oracle-share figure under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in (
        ("replay_baselines.csv", run.replay_baselines),
        ("replay_ablations.csv", run.replay_ablations),
    ):
        frame.to_csv(out / name)
        written.append(out / name)
    for name, res in (
        ("truth_baselines.csv", run.truth_baselines),
        ("truth_ablations.csv", run.truth_ablations),
        ("closed_loop_baselines.csv", run.closed_loop_baselines),
        ("closed_loop_ablations.csv", run.closed_loop_ablations),
    ):
        if res is not None:
            res.table().to_csv(out / name)
            written.append(out / name)
    if run.truth_baselines is not None:
        path = out / ORACLE_FIGURE
        oracle_share_figure(run.truth_baselines).savefig(path, dpi=110, bbox_inches="tight")
        written.append(path)
    if run.closed_loop_baselines is not None:
        path = out / CLOSED_LOOP_FIGURE
        fig = oracle_share_figure(
            run.closed_loop_baselines,
            title="Closed loop: models learn from each round's sales; candidates redrawn",
        )
        fig.savefig(path, dpi=110, bbox_inches="tight")
        written.append(path)
    return written
