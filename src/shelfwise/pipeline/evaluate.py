"""Evaluate EdgeRec3D against baselines and its ablations, offline, two ways side by side.

1. **Replay** (Li et al. 2011, EdgeRec3D Tables 1 and 3): the payoff models are fitted on the
   visits before a time split; the visits after it are replayed, each policy recommending
   facings from the display's previous state; a (visit, product) slot counts when the
   recommended facings equal the logged facings, and its payoff (units per day) is the reward.
   30 runs on a random 50% of the events; mean, sd and median per policy.
2. **Ground truth** (synthetic chain only): the true expected daily sales of each policy's
   recommendations for every display, over successive recommendation rounds, as a share of
   the oracle (the exact best facings under the true demand among the products that fit).

Every search baseline (DP, LP, epsilon-greedy, genetic) optimises the same payoff model as
EdgeRec3D (the clustered RBP's posterior mean), so the comparison is between search
algorithms; deep ensembles use EdgeRec3D's search on an ensemble's PEPF (§8.1.2); MOPO
penalises the ensemble's disagreement. Ablations follow Table 3: without clustering (one global
model), without RBP (linear regression on x_q), without heuristic search (greedy on the mean).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from shelfwise.assortment import generate_candidates
from shelfwise.assortment.candidates import CooccurrenceGraph
from shelfwise.assortment.payoffs import (
    DeepEnsemblePayoffs,
    LinearPayoffs,
    OnlinePayoffs,
    RBPPayoffs,
)
from shelfwise.assortment.policies import (
    DynamicProgrammingPolicy,
    EdgeRec3DPolicy,
    EpsilonGreedyPolicy,
    GeneticPolicy,
    GreedyPolicy,
    LinearProgrammingPolicy,
    MOPOPolicy,
    RandomPolicy,
    ReplayAdapter,
)
from shelfwise.assortment.problem import (
    AssortmentPolicy,
    DisplayProblem,
    PayoffEstimator,
    PayoffTable,
)
from shelfwise.demand import ConvergenceWarning, RBPModel
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
from shelfwise.perception.sales import ESTIMATED_FLAGS, sales_from_visits
from shelfwise.storage import Repository

from .assortment import Workspace, build_problems, drop_unknown_candidates, load_workspace
from .models import check_clusters

Progress = Callable[[str], None]

ORACLE_FIGURE = "oracle_share.png"
CLOSED_LOOP_FIGURE = "oracle_share_closed_loop.png"

ABLATIONS: tuple[tuple[bool, bool, bool], ...] = tuple(
    (c, r, h) for r in (False, True) for c in (False, True) for h in (False, True)
)
"""Table 3's rows in its order: (clustering, RBP, heuristic search), #1 .. #8."""


def _quiet(_: str) -> None:
    return None


def payoff_log(visits: pd.DataFrame, displays: Mapping[str, Display]) -> pd.DataFrame:
    """One row per (visit, product) interval with facings in place and an estimated payoff.

    Columns: visit_id, store_id, display_id, visited_at (end of the interval), product_id,
    prev_facings (facings in place during the interval), payoff (units per day, EdgeRec3D
    Eq. 4 or the log's own payoff), max_slots.
    """
    table = sales_from_visits(visits).frame
    keep = table["flag"].isin([f.value for f in ESTIMATED_FLAGS]) & table["rate_per_day"].notna()
    keep &= table["facings"].fillna(0) >= 1
    t = table[keep]
    return pd.DataFrame(
        {
            "visit_id": t["visit_id"].astype(str),
            "store_id": t["store_id"].astype(str),
            "display_id": t["display_id"].astype(str),
            "visited_at": pd.to_datetime(t["period_end"]),
            "product_id": t["product_id"].astype(str),
            "prev_facings": t["facings"].astype(int),
            "payoff": t["rate_per_day"].astype(float),
            "max_slots": [displays[d].max_slots for d in t["display_id"].astype(str)],
        }
    ).reset_index(drop=True)


def payoff_observations(log: pd.DataFrame) -> pd.DataFrame:
    """Rows of a :func:`payoff_log` as payoff-model observations (store_id, product_id,
    facings, rate), e.g. to fit the models on a training window."""
    return pd.DataFrame(
        {
            "store_id": log["store_id"],
            "product_id": log["product_id"],
            "facings": log["prev_facings"].astype(float),
            "rate": log["payoff"],
        }
    ).reset_index(drop=True)


def time_split(log: pd.DataFrame, holdout: float) -> pd.Timestamp:
    """The time after which the last ``holdout`` share of the log's time span lies."""
    if not 0.0 < holdout < 1.0:
        raise InvalidParameterError(f"holdout must be in (0, 1); got {holdout!r}")
    start, end = log["visited_at"].min(), log["visited_at"].max()
    return pd.Timestamp(start + (end - start) * (1.0 - holdout))


class OneCluster:
    """A payoff model fitted with every store in one cluster, asked as such whatever the
    problem's cluster (the "without clustering" ablation)."""

    def __init__(self, inner: PayoffEstimator, cluster: str, *, name: str) -> None:
        self.inner = inner
        self.cluster = cluster
        self.name = name

    def table(
        self,
        store_id: str,
        product_ids: Sequence[str],
        max_facings: int,
        *,
        cluster: str | None = None,
    ) -> PayoffTable:
        """The inner model's table at its single cluster."""
        return self.inner.table(store_id, product_ids, max_facings, cluster=self.cluster)


@dataclass(frozen=True)
class PayoffSuite:
    """The payoff models every policy of the comparison draws on, fitted on one window."""

    rbp: RBPPayoffs
    rbp_global: OneCluster
    linear: LinearPayoffs
    linear_global: LinearPayoffs
    ensemble: DeepEnsemblePayoffs | None
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    """Convergence warnings of the RBP fits (collected, not printed)."""


def fit_suite(
    observations: pd.DataFrame,
    clusters: Mapping[str, str],
    *,
    rbp_options: Mapping[str, object] | None = None,
    ensemble_options: Mapping[str, object] | None = None,
    with_ensemble: bool = True,
    random_state: int = 0,
    progress: Progress = _quiet,
) -> PayoffSuite:
    """Fit the clustered and the global RBP, the two linear regressions and the ensemble."""
    opts: dict[str, object] = {"random_state": random_state, **dict(rbp_options or {})}
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    progress("Fitting RBP on the training window (clustered)")
    one = {s: "all" for s in clusters}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        rbp = RBPModel(**opts).fit(observations, dict(clusters))  # type: ignore[arg-type]
        seconds["rbp"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        progress("Fitting RBP without clustering (ablation)")
        rbp_global = RBPModel(**opts).fit(observations, one)  # type: ignore[arg-type]
        seconds["rbp_global"] = time.perf_counter() - t0
    messages = tuple(
        f"evaluation fit: {w.message}" for w in caught if issubclass(w.category, ConvergenceWarning)
    )
    t0 = time.perf_counter()
    linear = LinearPayoffs(by_cluster=True).fit(observations, clusters)
    linear_global = LinearPayoffs(by_cluster=False, name="linear_global").fit(observations)
    seconds["linear"] = time.perf_counter() - t0
    ensemble = None
    if with_ensemble:
        t0 = time.perf_counter()
        progress("Training the deep ensemble")
        eopts: dict[str, object] = {"random_state": random_state, **dict(ensemble_options or {})}
        ensemble = DeepEnsemblePayoffs(**eopts).fit(  # type: ignore[arg-type]
            observations, clusters
        )
        seconds["ensemble"] = time.perf_counter() - t0
    return PayoffSuite(
        RBPPayoffs(rbp, name="rbp"),
        OneCluster(RBPPayoffs(rbp_global), "all", name="rbp_global"),
        linear,
        linear_global,
        ensemble,
        seconds,
        messages,
    )


LITERAL_EDGEREC3D = "EdgeRec3D (literal Algorithm 2)"
"""Row label of EdgeRec3D run as the paper's pseudo-code reads literally (one pass, products
keep their facings, PEPF on the predictive sd)."""


def _epistemic(model: PayoffEstimator) -> PayoffEstimator:
    """``model`` with its PEPF on the epistemic sd, where the model has both (RBP)."""
    if isinstance(model, RBPPayoffs):
        return model.with_uncertainty("epistemic")
    if isinstance(model, OneCluster) and isinstance(model.inner, RBPPayoffs):
        return OneCluster(model.inner.with_uncertainty("epistemic"), model.cluster, name=model.name)
    return model


def _learning(model: PayoffEstimator, online: bool) -> PayoffEstimator:
    """``model`` itself, or (``online``) a fresh :class:`OnlinePayoffs` over it."""
    return OnlinePayoffs(model) if online else model


def baseline_policies(
    suite: PayoffSuite, *, lam: float = 1.0, epsilon: float = 0.05, online: bool = False
) -> list[AssortmentPolicy]:
    """Table 1's policies: the baselines and EdgeRec3D, all on the same payoff models.

    The search baselines optimise the RBP's posterior mean; EdgeRec3D ranks by PEPF on the
    RBP's epistemic sd (:class:`RBPPayoffs` ``uncertainty="epistemic"``) with the marginal fill
    of :func:`~shelfwise.assortment.search.heuristic_search`. The paper's pseudo-code read
    literally (predictive sd, one pass, facings kept) is reported beside it as
    :data:`LITERAL_EDGEREC3D`. With ``online``, every policy's model is wrapped in its own
    :class:`~shelfwise.assortment.payoffs.OnlinePayoffs` (for a closed-loop evaluation, where
    each policy learns from the sales of its own recommendations).
    """
    rbp = suite.rbp

    def m(model: PayoffEstimator) -> PayoffEstimator:
        return _learning(model, online)

    out: list[AssortmentPolicy] = [
        RandomPolicy(),
        DynamicProgrammingPolicy(m(rbp), name="Dynamic Program"),
        LinearProgrammingPolicy(m(rbp), name="Linear Program"),
        EpsilonGreedyPolicy(m(rbp), epsilon=0.1),
        GeneticPolicy(m(rbp), name="Genetic"),
    ]
    if suite.ensemble is not None:
        out.append(
            EdgeRec3DPolicy(m(suite.ensemble), lam=lam, epsilon=epsilon, name="Deep Ensembles")
        )
        ensemble = OnlinePayoffs(suite.ensemble) if online else suite.ensemble
        out.append(MOPOPolicy(ensemble, lam=lam, name="MOPO"))
    out.append(
        EdgeRec3DPolicy(m(rbp), lam=lam, epsilon=epsilon, fill="keep", name=LITERAL_EDGEREC3D)
    )
    out.append(EdgeRec3DPolicy(m(_epistemic(rbp)), lam=lam, epsilon=epsilon, name="EdgeRec3D"))
    return out


def ablation_name(clustering: bool, rbp: bool, search: bool) -> str:
    """Row label of Table 3, e.g. ``"#8 C+R+H"``."""
    number = ABLATIONS.index((clustering, rbp, search)) + 1
    parts = [s for s, on in (("C", clustering), ("R", rbp), ("H", search)) if on]
    return f"#{number} " + ("+".join(parts) if parts else "none")


def ablation_policies(
    suite: PayoffSuite, *, lam: float = 1.0, epsilon: float = 0.05, online: bool = False
) -> list[AssortmentPolicy]:
    """Table 3's eight variants: clustering x RBP x heuristic search (``online`` as for
    :func:`baseline_policies`)."""
    out: list[AssortmentPolicy] = []
    for clustering, rbp, search in ABLATIONS:
        model: PayoffEstimator
        if rbp:
            model = suite.rbp if clustering else suite.rbp_global
        else:
            model = suite.linear if clustering else suite.linear_global
        name = ablation_name(clustering, rbp, search)
        if search:
            learner = _learning(_epistemic(model), online)
            out.append(EdgeRec3DPolicy(learner, lam=lam, epsilon=epsilon, name=name))
        else:
            out.append(GreedyPolicy(_learning(model, online), name=name))
    return out


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
    """
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

    truth_base = truth_abl = loop_base = loop_abl = None
    if truth is not None:
        t0 = time.perf_counter()
        progress("Scoring recommendations on the chain's true demand")
        problems, eligible = build_problems(ws, clusters=labels, random_state=random_state)
        problems, _ = drop_unknown_candidates(problems, suite.rbp)
        truth_base = evaluate_on_truth(
            baselines,
            problems,
            truth,
            eligible=eligible,
            rounds=rounds,
            random_state=random_state,
        )
        truth_abl = evaluate_on_truth(
            ablations,
            problems,
            truth,
            eligible=eligible,
            rounds=rounds,
            random_state=random_state,
        )
        seconds["truth"] = time.perf_counter() - t0
        if closed_loop is not None:
            t0 = time.perf_counter()
            progress("Scoring recommendations in a closed loop (sales feedback each round)")
            loop_base, loop_abl = (
                closed_loop_on_truth(
                    suite,
                    ws,
                    problems,
                    eligible,
                    truth,
                    feedback=closed_loop,
                    rounds=rounds,
                    ablations=abl,
                    lam=lam,
                    random_state=random_state,
                )
                for abl in (False, True)
            )
            seconds["truth_closed_loop"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    progress("Replaying the held-out visits")
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
    rep_base = _replay_all(baselines, make, events, runs=runs, keep=keep, seed=random_state)
    rep_abl = _replay_all(ablations, make, events, runs=runs, keep=keep, seed=random_state)
    seconds["replay"] = time.perf_counter() - t0
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
) -> GroundTruthResult:
    """Score the baselines (or the ablations) on the truth with sales feedback between rounds.

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
    """
    rng = np.random.default_rng(random_state)
    refresh_seed, run_seed = (int(v) for v in rng.integers(2**63, size=2))
    refresh = candidate_refresher(
        list(workspace.displays.values()),
        workspace.products,
        CooccurrenceGraph.from_visits(workspace.visits, workspace.products),
        allowed=suite.rbp.model.product_ids_,
        random_state=refresh_seed,
    )
    make = ablation_policies if ablations else baseline_policies
    return evaluate_on_truth(
        make(suite, lam=lam, online=True),
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


def _replay_all(
    policies: Sequence[AssortmentPolicy],
    make: ReplayProblems,
    events: Sequence[SlotEvent],
    *,
    runs: int,
    keep: float,
    seed: int,
) -> list[ReplayResult]:
    out = []
    for policy in policies:
        used: AssortmentPolicy = (
            _Memo(policy) if getattr(policy, "deterministic", False) else policy
        )
        adapter = ReplayAdapter(used, make, name=policy.name)
        out.append(replay(adapter, events, runs=runs, keep=keep, random_state=seed))
    return out


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
