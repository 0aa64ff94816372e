"""Assortment policies: EdgeRec3D, its search ablation and the baselines of its offline study.

EdgeRec3D (§4.1, Table 1; §8.1.2; Table 3) compares its heuristic search to a dynamic program,
a linear program, epsilon-greedy, a genetic algorithm, deep ensembles and MOPO, and ablates the
search by "a greedy search without the penalized reward ranking statistic". Every policy here
implements :class:`~shelfwise.assortment.problem.AssortmentPolicy`: it asks its payoff model
for the display's eligible products (``payoffs.table(store_id, eligible, max_facings,
cluster=cluster)``) and returns facings per product (zeros left out) within ``max_slots`` and
``max_facings``. All of them optimise the *predicted* payoff; none of them sees outcomes.

Payoffs are used relative to column 0 (no facings); the tables normally have 0 there.

:class:`ReplayAdapter` lets any of them run in the replay evaluator
(:mod:`shelfwise.evaluation.replay`) without this module importing the evaluation layer: the
replay protocol is structural, and the adapter only needs context objects with ``store_id``,
``display_id``, ``previous_state`` and ``max_slots`` (:class:`SlotContextLike`).
"""

from shelfwise.assortment.policies.exact import (
    DynamicProgrammingPolicy,
    LinearProgrammingPolicy,
    LPRelaxation,
    solve_lp_relaxation,
)
from shelfwise.assortment.policies.genetic import GeneticPolicy
from shelfwise.assortment.policies.greedy import (
    EdgeRec3DPolicy,
    EpsilonGreedyPolicy,
    GreedyPolicy,
    RandomPolicy,
)
from shelfwise.assortment.policies.mopo import EnsemblePayoffEstimator, MOPOPolicy
from shelfwise.assortment.policies.replay import ReplayAdapter, SlotContextLike

__all__ = [
    "POLICY_NAMES",
    "DynamicProgrammingPolicy",
    "EdgeRec3DPolicy",
    "EnsemblePayoffEstimator",
    "EpsilonGreedyPolicy",
    "GeneticPolicy",
    "GreedyPolicy",
    "LPRelaxation",
    "LinearProgrammingPolicy",
    "MOPOPolicy",
    "RandomPolicy",
    "ReplayAdapter",
    "SlotContextLike",
    "solve_lp_relaxation",
]

#: Default names of the policies, in the order of EdgeRec3D's Table 1 plus the ablations.
POLICY_NAMES: tuple[str, ...] = (
    "DP",
    "LP",
    "epsilon-greedy",
    "genetic",
    "MOPO",
    "EdgeRec3D",
    "greedy",
    "random",
)
