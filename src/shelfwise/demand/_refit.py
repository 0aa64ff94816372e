"""Per-product convergence diagnostics of a fit, and one exact re-run of the products that fail.

The posterior factorises across products, so a product whose chains did not converge can be
sampled again on its own without touching the others. A re-run is a fresh, complete NUTS run
of the same exact posterior, with twice the warm-up and twice the draws thinned by 2 (the same
number of kept draws, less autocorrelated): first in the same store parameterisation with
``target_accept >= 0.9``, then, for products still failing, in the other one with
``target_accept >= 0.95``. A re-run's draws replace the current ones only when they pass the
convergence checks or fail them less badly. Nothing is approximated or mixed within a product.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._config import RBPPriors
from ._diagnostics import ProductDiagnostics, RBPDiagnostics, ess_bulk, rhat
from ._sampler import RawDraws, sample
from ._stats import CellStats

RETRY_TARGET_ACCEPT: tuple[float, float] = (0.9, 0.95)
"""Least target acceptance of the same-form and the other-form re-runs."""

RETRY_FACTOR = 2
"""A re-run warms up this many times longer and draws this many times more, thinned back."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    """What a product must reach to count as converged."""

    max_rhat: float
    min_ess: float

    def passes(self, p: ProductDiagnostics) -> bool:
        """Whether a product's chains pass R-hat, bulk ESS and divergence checks."""
        return (
            p.rhat_max <= self.max_rhat and p.ess_bulk_min >= self.min_ess and (p.divergences == 0)
        )

    def score(self, p: ProductDiagnostics) -> tuple[bool, float, float, int]:
        """Sort key: smaller is better (passing first, then R-hat, ESS, divergences)."""
        rh = p.rhat_max if math.isfinite(p.rhat_max) else math.inf
        es = p.ess_bulk_min if math.isfinite(p.ess_bulk_min) else 0.0
        return (not self.passes(p), rh, -es, p.divergences)


def diagnose(raw: RawDraws, stats: CellStats, seconds: float, *, tune: int) -> RBPDiagnostics:
    """R-hat, bulk ESS, divergences and tree sizes per product, on the unconstrained draws.

    Covers every sampled coordinate: ``log beta_il`` of every store slot and, for non-centred
    slots, the sampler's own logistic coordinate as well.
    """
    c, d, n_p = raw.divergent.shape
    per = []
    for i in range(n_p):
        real = stats.slot_mask[i] > 0
        parts = []
        for name, arr in raw.params.items():
            a = arr[:, :, i]
            if name in ("lbs", "es"):
                a = a[..., real]
            elif name == "zs":  # the sampler's own coordinate where it differs from lbs
                a = a[..., real & raw.noncentred[i]]
            parts.append(a.reshape(c, d, -1))
        x = np.concatenate(parts, axis=2).astype(np.float64)
        r = rhat(x)
        e = ess_bulk(x)
        per.append(
            ProductDiagnostics(
                product_id=stats.product_ids[i],
                rhat_max=float(np.nanmax(r)) if np.isfinite(r).any() else math.nan,
                ess_bulk_min=float(np.nanmin(e)) if np.isfinite(e).any() else math.nan,
                divergences=int(raw.divergent[:, :, i].sum()),
                mean_tree_size=float(raw.n_leapfrog[:, :, i].mean()),
            )
        )
    rh = [p.rhat_max for p in per if math.isfinite(p.rhat_max)]
    es = [p.ess_bulk_min for p in per if math.isfinite(p.ess_bulk_min)]
    return RBPDiagnostics(
        rhat_max=max(rh) if rh else math.nan,
        ess_bulk_min=min(es) if es else math.nan,
        divergences=int(raw.divergent.sum()),
        chains=c,
        draws=d,
        tune=tune,
        sampling_seconds=seconds,
        products=tuple(per),
    )


def subset_stats(stats: CellStats, index: NDArray[np.int64]) -> CellStats:
    """The statistics of the products ``index`` only (padding widths unchanged)."""
    return replace(
        stats,
        product_ids=tuple(stats.product_ids[int(i)] for i in index),
        slot_store=stats.slot_store[index],
        slot_mask=stats.slot_mask[index],
        cell_slot=stats.cell_slot[index],
        cell_facings=stats.cell_facings[index],
        n_pos=stats.n_pos[index],
        n_zero=stats.n_zero[index],
        sum_r=stats.sum_r[index],
        sum_log_r=stats.sum_log_r[index],
        sum_r2=stats.sum_r2[index],
        n_obs=stats.n_obs[index],
    )


def failing(diag: RBPDiagnostics, limits: Thresholds) -> NDArray[np.int64]:
    """Indices of the products that do not pass ``limits``."""
    return np.array(
        [i for i, p in enumerate(diag.products) if not limits.passes(p)], dtype=np.int64
    )


def merge(
    raw: RawDraws,
    diag: RBPDiagnostics,
    retry: RawDraws,
    retry_diag: RBPDiagnostics,
    index: NDArray[np.int64],
    limits: Thresholds,
) -> tuple[RawDraws, NDArray[np.int64]]:
    """Take the re-run's draws for the products of ``index`` where they score better.

    Returns
    -------
    (RawDraws, ndarray of int)
        The merged draws and the indices of the products whose draws were replaced.
    """
    take = [
        j
        for j, i in enumerate(index)
        if limits.score(retry_diag.products[j]) < limits.score(diag.products[int(i)])
    ]
    if not take:
        return raw, np.zeros(0, dtype=np.int64)
    src = np.asarray(take, dtype=np.int64)
    dst = index[src]
    params = {k: v.copy() for k, v in raw.params.items()}
    for k in params:
        params[k][:, :, dst] = retry.params[k][:, :, src]
    divergent, n_lf = raw.divergent.copy(), raw.n_leapfrog.copy()
    divergent[:, :, dst] = retry.divergent[:, :, src]
    n_lf[:, :, dst] = retry.n_leapfrog[:, :, src]
    step, nc = raw.step_size.copy(), raw.noncentred.copy()
    step[:, dst] = retry.step_size[:, src]
    nc[dst] = retry.noncentred[src]
    merged = RawDraws(
        params=params, noncentred=nc, divergent=divergent, n_leapfrog=n_lf, step_size=step
    )
    return merged, dst


def thin(raw: RawDraws, step: int) -> RawDraws:
    """Every ``step``-th draw; a kept draw counts as divergent if any transition since the last
    kept one was, and its tree size is their mean."""
    c, d = raw.divergent.shape[:2]
    keep = d // step

    def pairs(a: NDArray[Any]) -> NDArray[Any]:
        return a[:, : keep * step].reshape(c, keep, step, *a.shape[2:])

    return RawDraws(
        params={k: v[:, step - 1 : keep * step : step] for k, v in raw.params.items()},
        noncentred=raw.noncentred,
        divergent=np.asarray(pairs(raw.divergent).any(axis=2)),
        n_leapfrog=np.rint(pairs(raw.n_leapfrog).mean(axis=2)).astype(np.int64),
        step_size=raw.step_size,
    )


def refit_failing(
    raw: RawDraws,
    stats: CellStats,
    priors: RBPPriors,
    *,
    limits: Thresholds,
    tune: int,
    draws: int,
    target_accept: float,
    seed: int,
    sampler_options: dict[str, Any],
) -> tuple[RawDraws, NDArray[np.int64]]:
    """Re-run the products failing ``limits`` (see the module docstring); keep better draws.

    Returns
    -------
    (RawDraws, ndarray of int)
        The draws and the sorted indices of the products whose draws were replaced.
    """
    replaced: set[int] = set()
    for attempt, least_accept in enumerate(RETRY_TARGET_ACCEPT):
        diag = diagnose(raw, stats, 0.0, tune=tune)
        bad = failing(diag, limits)
        if not bad.size:
            break
        sub = subset_stats(stats, bad)
        nc = raw.noncentred[bad]
        if attempt == 1:  # the other parameterisation, product by product
            nc = ~nc.any(axis=1, keepdims=True) & (sub.slot_mask > 0)
        retry = sample(
            sub,
            priors,
            tune=tune * RETRY_FACTOR,
            draws=draws * RETRY_FACTOR,
            seed=seed + 1 + attempt,
            target_accept=max(target_accept, least_accept),
            noncentred=nc,
            **sampler_options,
        )
        retry = thin(retry, RETRY_FACTOR)
        raw, took = merge(raw, diag, retry, diagnose(retry, sub, 0.0, tune=tune), bad, limits)
        replaced.update(int(i) for i in took)
    return raw, np.array(sorted(replaced), dtype=np.int64)


__all__ = [
    "RETRY_FACTOR",
    "RETRY_TARGET_ACCEPT",
    "Thresholds",
    "diagnose",
    "failing",
    "merge",
    "refit_failing",
    "subset_stats",
    "thin",
]
