"""Figures for RBP: posterior predictive, recovery, the §8.3 claims (Fig. 7) and PEPF (Fig. 9a).

Every function returns a :class:`matplotlib.figure.Figure` (no global pyplot state); save it
with ``fig.savefig(path)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ._config import facing_feature
from .evidence import ClaimCurve, RecoveryResult
from .rbp import RBPModel


def posterior_predictive_figure(
    model: RBPModel,
    product_id: str,
    store_id: str,
    *,
    max_facings: int = 10,
    observations: pd.DataFrame | None = None,
    cluster: object = None,
) -> Figure:
    """``p(r | q)`` over facings: mean, 50% and 90% bands, P(r = 0), and observed payoffs."""
    q = np.arange(0, max_facings + 1, dtype=np.float64)
    pred = model.predict(product_id, store_id, q, cluster=cluster)
    levels = list(pred.quantile_levels)
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.fill_between(
        q,
        pred.quantiles[:, levels.index(0.05)],
        pred.quantiles[:, levels.index(0.95)],
        alpha=0.2,
        color="C0",
        label="90% predictive interval",
    )
    ax.fill_between(
        q,
        pred.quantiles[:, levels.index(0.25)],
        pred.quantiles[:, levels.index(0.75)],
        alpha=0.35,
        color="C0",
        label="50% predictive interval",
    )
    ax.plot(q, pred.mean, color="C0", lw=2, label="E[r]")
    if observations is not None:
        sel = (observations["product_id"].astype(str) == str(product_id)) & (
            observations["store_id"].astype(str) == str(store_id)
        )
        rows = observations[sel]
        jitter = np.random.default_rng(0).uniform(-0.12, 0.12, size=len(rows))
        ax.scatter(
            rows["facings"].to_numpy(dtype=float) + jitter,
            rows["rate"].to_numpy(dtype=float),
            s=12,
            color="k",
            alpha=0.6,
            label="observed payoffs",
        )
    ax2 = ax.twinx()
    ax2.plot(q, pred.p_zero, color="C3", ls="--", label="P(r = 0)")
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("P(r = 0)", color="C3")
    where = "store-level" if pred.store_seen else f"cluster {pred.cluster} (store unseen)"
    ax.set_title(f"Posterior predictive payoff: {product_id} at {store_id} ({where})")
    ax.set_xlabel("facings q")
    ax.set_ylabel("payoff r (units per day)")
    handles = ax.get_legend_handles_labels()
    handles2 = ax2.get_legend_handles_labels()
    ax.legend(handles[0] + handles2[0], handles[1] + handles2[1], loc="upper left", fontsize=8)
    return fig


def recovery_figure(result: RecoveryResult, *, title: str = "RBP recovery") -> Figure:
    """Posterior means with 90% intervals against the true values (log-log)."""
    fig = Figure(figsize=(5.5, 5.0), layout="constrained")
    ax = fig.add_subplot()
    covered = (result.truth >= result.lower) & (result.truth <= result.upper)
    for mask, color, label in ((covered, "C0", "covered"), (~covered, "C3", "missed")):
        ax.errorbar(
            result.truth[mask],
            result.mean[mask],
            yerr=[
                result.mean[mask] - result.lower[mask],
                result.upper[mask] - result.mean[mask],
            ],
            fmt="o",
            ms=3,
            lw=0.6,
            color=color,
            alpha=0.7,
            label=f"{label} ({int(mask.sum())})",
        )
    lo = float(min(result.truth.min(), result.lower.min()))
    hi = float(max(result.truth.max(), result.upper.max()))
    ax.plot([lo, hi], [lo, hi], color="k", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("true value")
    ax.set_ylabel("posterior mean and 90% interval")
    ax.set_title(
        f"{title}\ncoverage90 = {result.coverage90:.2f}, store RMSE = {result.store_rmse:.3f}, "
        f"cluster RMSE = {result.cluster_rmse:.3f}",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    return fig


def claims_figure(curves: Sequence[ClaimCurve]) -> Figure:
    """The three panels of EdgeRec3D Fig. 7 from :mod:`.evidence` curves."""
    fig = Figure(figsize=(4.2 * len(curves), 3.8), layout="constrained")
    axes = fig.subplots(1, len(curves), squeeze=False)[0]
    for ax, curve in zip(axes, curves, strict=True):
        ylabel = "posterior sd of store coefficient" if curve.baseline is None else "store RMSE"
        ax.plot(curve.x, curve.rbp, "o-", color="C0", label="RBP")
        if curve.baseline is not None:
            name = "per-store OLS" if curve.name.startswith("(a)") else "pooled OLS"
            ax.plot(curve.x, curve.baseline, "s--", color="C1", label=f"{name} (linear regression)")
        if not curve.name.startswith("(a)"):
            ax.set_xscale("log", base=2)
        ax.set_title(curve.name, fontsize=10)
        ax.set_xlabel(curve.x_label, fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
    return fig


def pepf_figure(ranking: pd.DataFrame, *, lam: float, title: str = "PEPF") -> Figure:
    """Expected payoff and PEPF per candidate with posterior sd (cf. EdgeRec3D Fig. 9a)."""
    frame = ranking.sort_values("mean", ascending=False).reset_index(drop=True)
    labels = [f"{p} x{int(q)}" for p, q in zip(frame["product_id"], frame["facings"], strict=True)]
    y = np.arange(len(frame))
    fig = Figure(figsize=(7.0, 0.35 * len(frame) + 1.5), layout="constrained")
    ax = fig.add_subplot()
    ax.barh(y - 0.2, frame["mean"], height=0.4, color="C0", label="E[r]")
    ax.barh(y + 0.2, frame["pepf"], height=0.4, color="goldenrod", label=f"PEPF (lambda={lam:g})")
    ax.errorbar(frame["mean"], y - 0.2, xerr=frame["sd"], fmt="none", color="k", lw=1)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("payoff (units per day)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def facing_feature_figure(kinds: Sequence[str] = ("log2", "linear", "sqrt")) -> Figure:
    """The facings features ``x_q`` available to RBP."""
    q = np.linspace(0, 10, 101)
    fig = Figure(figsize=(4.5, 3.5), layout="constrained")
    ax = fig.add_subplot()
    for kind in kinds:
        ax.plot(q, facing_feature(q, kind), label=kind)
    ax.set_xlabel("facings q")
    ax.set_ylabel("x_q")
    ax.legend()
    return fig
