"""Figures for experiment analysis (matplotlib ``Figure`` objects; pyplot is never used)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from matplotlib.figure import Figure

from shelfwise.evaluation.did import DIDResult
from shelfwise.exceptions import InvalidParameterError

if TYPE_CHECKING:
    from shelfwise.evaluation.groundtruth import GroundTruthResult


def did_trend_figure(
    panel: pd.DataFrame,
    result: DIDResult,
    *,
    time: str = "date",
    treated: str = "treated",
    outcome: str = "outcome",
    cutover: object = None,
    labels: tuple[str, str] = ("treatment", "control"),
    title: str | None = None,
) -> Figure:
    """Mean outcome per group over time with the intervention marked (like EdgeRec3D Fig. 3).

    Parameters
    ----------
    panel : DataFrame
        Observations with a ``time`` column (dates or periods), the group and the outcome.
    result : DIDResult
        The estimate to annotate.
    time, treated, outcome : str
        Column names.
    cutover : optional
        When the intervention began (a value comparable with ``time``); drawn as a line.
    labels : tuple of str
        Legend names of the treated and the control group (e.g. ("high compliance",
        "low compliance")).
    title : str, optional
        Figure title.
    """
    for col in (time, treated, outcome):
        if col not in panel.columns:
            raise InvalidParameterError(
                f"panel must have column {col!r}; got {list(panel.columns)}"
            )
    means = panel.groupby([time, treated])[outcome].mean().unstack(treated).sort_index()
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    styles = {True: ("#0072B2", labels[0]), False: ("#D55E00", labels[1])}
    for flag in (True, False):
        if flag in means.columns:
            color, name = styles[flag]
            ax.plot(means.index, means[flag], marker="o", ms=3, lw=1.6, color=color, label=name)
    if cutover is not None:
        ax.axvline(cutover, color="0.3", ls="--", lw=1)  # type: ignore[arg-type]
        ax.annotate(
            "intervention",
            xy=(cutover, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(4, -14),
            textcoords="offset points",
            fontsize=9,
            color="0.3",
        )
    ax.set_xlabel(time)
    ax.set_ylabel(f"mean {outcome}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", frameon=False)
    ax.set_title(
        title
        or f"DID {result.estimate:+.2f} ({result.estimate_pct:+.1%}), p = {result.p_value:.3f}",
        fontsize=11,
    )
    return fig


def oracle_share_figure(result: GroundTruthResult, *, title: str | None = None) -> Figure:
    """Share of the oracle's true sales per policy over successive recommendation rounds.

    Round 0 is today's state (current practice), the same for every policy; the dashed line
    at 1 is the oracle (the exact best facings under the true demand).

    Parameters
    ----------
    result : GroundTruthResult
        From :func:`~shelfwise.evaluation.groundtruth.evaluate_on_truth`.
    title : str, optional
        Figure title.
    """
    frame = result.frame
    sums = frame.groupby(["policy", "round"], sort=False)[["true_sales", "oracle_sales"]].sum()
    share = (sums["true_sales"] / sums["oracle_sales"]).unstack("policy")
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for name in share.columns:
        ax.plot(share.index, share[name], marker="o", ms=4, lw=1.6, label=str(name))
    ax.axhline(1.0, color="0.3", ls="--", lw=1, label="oracle")
    ax.set_xticks(list(share.index))
    ax.set_xticklabels(["current" if r == 0 else str(r) for r in share.index])
    ax.set_xlabel("recommendation round")
    ax.set_ylabel("share of oracle true sales")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", frameon=False)
    ax.set_title(title or "True expected sales as a share of the oracle", fontsize=11)
    return fig
