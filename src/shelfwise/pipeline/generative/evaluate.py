"""The evaluation table on held-out displays (baselines vs models) and sampling latency."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from shelfwise.domain import Display, Planogram
from shelfwise.exceptions import (
    InfeasiblePlanogramError,
    InvalidParameterError,
)
from shelfwise.generative.evaluate import (
    MethodResult,
    popular_assortment,
    run_baseline,
    score,
)
from shelfwise.generative.pipelines.planogram import GeneratedPlanogram, PlanogramPipeline
from shelfwise.pipeline.generative.data import GenerativeData
from shelfwise.pipeline.generative.serving import check_compatible

if TYPE_CHECKING:
    pass


# --------------------------------------------------------------------------- evaluation
def evaluate_generative(
    data: GenerativeData,
    models: Mapping[str, PlanogramPipeline],
    *,
    n_cases: int = 24,
    n_samples: int = 2,
    baselines: bool = True,
    random_state: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[MethodResult]:
    """The evaluation table on held-out displays: baselines and each model, both tasks.

    *arrange*: each held-out display's latest planogram's facings are laid out by the CP-SAT
    solver, the greedy first-fit layout, and each model. *generate*: the greedy generator (the
    store cluster's most stocked products at their median facings, first fit) and the same
    assortment through the solver, against each model generating ``n_samples`` planograms
    per display from the display and the store's cluster alone. A display that repair cannot
    make valid counts as a failure (every sample of it for *generate*), for the baselines and
    the models alike.

    Raises
    ------
    InvalidParameterError
        Without demand truth, or on a bad ``n_cases``.
    ArtifactMismatchError
        When a model was trained on another catalog or other store clusters than ``data``'s.
    """
    if data.revenue is None:
        raise InvalidParameterError(
            "the evaluation scores revenue and needs demand truth (a synthetic chain)"
        )
    revenue = data.revenue
    if isinstance(n_cases, bool) or not isinstance(n_cases, int) or n_cases < 1:
        raise InvalidParameterError(f"n_cases must be an integer >= 1; got {n_cases!r}")
    cases = data.cases(limit=n_cases)
    train = data.training_planograms()
    say = progress if progress is not None else (lambda _: None)
    results: list[MethodResult] = []

    def add(
        method: str, task: str, outs: Sequence[Sequence[GeneratedPlanogram]], failures: int = 0
    ) -> None:
        results.append(
            score(
                method,
                task,
                outs,
                cases,
                data.products,
                data.rulebook,
                revenue=revenue,
                training=train,
                failures=failures,
            )
        )

    if baselines:
        current = [dict(c.facings) for c in cases]
        for method in ("solver", "greedy"):
            say(f"arrange: {method}")
            outs, failed = run_baseline(method, cases, current, data.products, data.rulebook)
            add(method, "arrange", outs, failed)
        by_kind: dict[tuple[int, str], list[Planogram]] = {}
        for plan in train:
            d = data.displays[plan.display_id]
            by_kind.setdefault((data.clusters[d.store_id], d.kind.value), []).append(plan)
        popular = []
        for c in cases:
            fits = np.flatnonzero(data.codec.allowed(c.display, data.rulebook).any(axis=0))
            ok = {data.codec.product_ids[int(k)] for k in fits}
            popular.append(
                popular_assortment(
                    c.display,
                    by_kind.get((c.cluster, c.display.kind.value), train),
                    data.products,
                    lambda pid, ok=ok: pid in ok,  # type: ignore[misc]
                )
            )
        for method in ("greedy", "solver"):
            say(f"generate: {method}")
            outs, failed = run_baseline(method, cases, popular, data.products, data.rulebook)
            add(method, "generate", outs, failed)
    for name, pipe in models.items():
        check_compatible(pipe.codec, data, model=name)
    for name, pipe in models.items():
        for task in ("arrange", "generate"):
            rng = np.random.default_rng(random_state)
            say(f"{task}: {name}")
            made: list[list[GeneratedPlanogram]] = []
            failed = 0
            for c in cases:
                try:  # like the baselines, a case repair cannot save counts as a failure
                    if task == "arrange":
                        made.append([pipe.arrange(c.display, c.cluster, c.facings, rng=rng)])
                    else:
                        made.append(
                            pipe.generate(c.display, c.cluster, n_samples=n_samples, rng=rng)
                        )
                except InfeasiblePlanogramError:
                    made.append([])
                    failed += 1 if task == "arrange" else n_samples
            add(name, task, made, failed)
    return results


@dataclass(frozen=True)
class Latency:
    """Sampling latency of one planogram (batch 1), in milliseconds."""

    name: str
    n: int
    p50_ms: float
    p95_ms: float


def sampling_latency(
    name: str,
    pipe: PlanogramPipeline,
    display: Display,
    cluster: int,
    *,
    n: int = 50,
    warmup: int = 3,
    random_state: int = 0,
) -> Latency:
    """Wall time of sampling one planogram tensor (``pipe.n_steps`` denoiser calls)."""
    for key, value, low in (("n", n, 1), ("warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidParameterError(f"{key} must be an integer >= {low}; got {value!r}")
    cond = pipe.codec.conditions(display, pipe.rulebook)[None]
    label = np.array([pipe.codec.class_label(cluster, display.kind)], dtype=np.int64)
    rng = np.random.default_rng(random_state)
    times = []
    for k in range(warmup + n):
        t0 = time.perf_counter()
        pipe.sample(cond, label, rng=rng)
        if k >= warmup:
            times.append((time.perf_counter() - t0) * 1000.0)
    arr = np.array(times)
    return Latency(name, n, float(np.percentile(arr, 50)), float(np.percentile(arr, 95)))
