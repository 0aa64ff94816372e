"""Closed loop: what EdgeRec3D's uncertainty penalty and exploration cost once models learn.

In the closed loop (each policy's payoff model learns from the sales of its own
recommendations) the exact optimum of the posterior mean (Dynamic Program) is level with
EdgeRec3D on some chains and ahead on others. This benchmark takes EdgeRec3D apart: the same
heuristic search with the penalty ``lam`` (PEPF, Eq. 6) at 1 (the paper's), 0.5 and 0, and
the exploration ``epsilon`` at 0.05 (the paper's) and 0, next to DP, on the chains of
``SEEDS``, ``REPLICATES`` closed-loop runs each (the replicates of ``bench_assortment``: own
candidate draws and sales noise each, the same for every policy of a run).

Each chain is set up as in ``bench_assortment`` (the demo's evaluation settings: training
window, clustered RBP on the epistemic sd, 10 rounds of two weeks' sales). Result keys:
``closed_loop_share[seed][policy]`` with every replicate's share of the oracle, their mean
and sd. Nothing here chooses a default: ``lam = 1`` and ``epsilon = 0.05`` stay the paper's.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _chains import chain_setup

from shelfwise.assortment.payoffs import OnlinePayoffs
from shelfwise.assortment.policies import DynamicProgrammingPolicy, EdgeRec3DPolicy
from shelfwise.assortment.problem import AssortmentPolicy
from shelfwise.pipeline.demo import DemoOptions
from shelfwise.pipeline.evaluate import closed_loop_on_truth
from shelfwise.pipeline.suite import (
    PayoffSuite,
)

SEEDS = (0, 1, 2)
REPLICATES = 3
LAMBDAS = (1.0, 0.5, 0.0)
EPSILONS = (0.05, 0.0)


def _policies(suite: PayoffSuite) -> list[AssortmentPolicy]:
    """DP on the posterior mean and EdgeRec3D at every (lam, epsilon), each learning alone."""
    epistemic = suite.rbp.with_uncertainty("epistemic")
    out: list[AssortmentPolicy] = [
        DynamicProgrammingPolicy(OnlinePayoffs(suite.rbp), name="Dynamic Program")
    ]
    for lam in LAMBDAS:
        for eps in EPSILONS:
            out.append(
                EdgeRec3DPolicy(
                    OnlinePayoffs(epistemic),
                    lam=lam,
                    epsilon=eps,
                    name=f"EdgeRec3D lam={lam:g} epsilon={eps:g}",
                )
            )
    return out


def _chain(seed: int, tmp: Path) -> dict[str, Any]:
    """Every replicate's closed-loop share per policy on the chain of ``seed`` (under ``tmp``)."""
    opts = DemoOptions()
    setup = chain_setup(seed, tmp / f"seed{seed}", with_ensemble=False)
    chain, ws, suite = setup.chain, setup.workspace, setup.suite
    problems, eligible = setup.problems, setup.eligible
    shares: dict[str, list[float]] = {}
    for replicate in range(REPLICATES):
        result = closed_loop_on_truth(
            suite,
            ws,
            problems,
            eligible,
            chain.truth,
            rounds=opts.rounds,
            random_state=seed if replicate == 0 else np.random.default_rng([seed, replicate]),
            policies=_policies(suite),
        )
        for name, share in result.share().items():
            shares.setdefault(str(name), []).append(round(float(share), 4))
    return {
        name: {
            "shares": values,
            "mean": round(statistics.fmean(values), 4),
            "sd": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
        }
        for name, values in shares.items()
    }


def run() -> dict[str, Any]:
    """The closed-loop shares of DP and the EdgeRec3D variants on every seed."""
    started = time.perf_counter()
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp:
        warnings.simplefilter("ignore")
        shares = {str(seed): _chain(seed, Path(tmp)) for seed in SEEDS}
    return {
        "closed_loop_share": shares,
        "seeds": list(SEEDS),
        "replicates": REPLICATES,
        "lambdas": list(LAMBDAS),
        "epsilons": list(EPSILONS),
        "seconds": round(time.perf_counter() - started, 1),
    }
