"""The payoff models a policy comparison draws on, and the policies built on them.

:func:`payoff_log` turns visits into (visit, product) payoff intervals, :func:`time_split`
cuts them into a training window and a held-out one, :func:`fit_suite` fits every payoff model
on the training window (clustered and global RBP, the two linear regressions, the deep
ensemble), and :func:`baseline_policies` / :func:`ablation_policies` build Table 1's and
Table 3's policies on them. :mod:`shelfwise.pipeline.evaluate` scores those policies.

Every search baseline (DP, LP, epsilon-greedy, genetic) optimises the same payoff model as
EdgeRec3D (the clustered RBP's posterior mean), so the comparison is between search
algorithms; deep ensembles use EdgeRec3D's search on an ensemble's PEPF (§8.1.2); MOPO
penalises the ensemble's disagreement. Ablations follow Table 3: without clustering (one global
model), without RBP (linear regression on x_q), without heuristic search (greedy on the mean).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

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
)
from shelfwise.assortment.problem import AssortmentPolicy, PayoffEstimator, PayoffTable
from shelfwise.demand import ConvergenceWarning, RBPModel
from shelfwise.domain import Display
from shelfwise.exceptions import InvalidParameterError
from shelfwise.perception.sales import ESTIMATED_FLAGS, sales_from_visits

Progress = Callable[[str], None]

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
