"""Figures of store clustering: the K-selection curve and a map of stores by cluster.

Figures are :class:`matplotlib.figure.Figure` objects with their own Agg canvas (no pyplot
state); write them with :func:`shelfwise.planogram.render.save_figure` or ``fig.savefig``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from shelfwise.domain import Store, Tract
from shelfwise.exceptions import InvalidParameterError
from shelfwise.spatial.selection import KCurve

_PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h", "<", ">")


def k_curve_figure(curve: KCurve, *, title: str | None = None) -> Figure:
    """Share of products whose sales differ across clusters, against K, chosen K marked.

    Parameters
    ----------
    curve : KCurve
        From :attr:`StoreClustering.curve_`.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One panel: raw-p share (solid) and Benjamini-Hochberg share (dashed).
    """
    f = curve.frame.sort_values("k")
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(
        f["k"],
        f["share_significant"],
        "o-",
        color="#1f77b4",
        lw=2,
        label=f"p < {curve.alpha:g} (as in the paper)",
    )
    ax.plot(
        f["k"],
        f["share_significant_bh"],
        "s--",
        color="#7f7f7f",
        lw=1.5,
        label=f"Benjamini-Hochberg, FDR {curve.alpha:g}",
    )
    chosen = f[f["k"] == curve.chosen_k]
    if len(chosen):
        y = float(chosen[curve.share_column].iloc[0])
        ax.axvline(curve.chosen_k, color="#d62728", lw=1, ls=":")
        ax.plot([curve.chosen_k], [y], "o", ms=14, mfc="none", mec="#d62728", mew=2)
        ax.annotate(
            f"chosen K = {curve.chosen_k}",
            (curve.chosen_k, y),
            xytext=(12, 12),
            textcoords="offset points",
            color="#d62728",
            fontsize=11,
            fontweight="bold",
        )
    ax.set_xlabel("number of clusters K")
    ax.set_ylabel("products whose sales differ across clusters")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xticks(f["k"].tolist())
    top = float(np.nanmax(f[["share_significant", "share_significant_bh"]].to_numpy()))
    ax.set_ylim(0, min(1.0, max(0.1, top * 1.25)))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", frameon=False)
    n = int(f["n_products"].iloc[0]) if len(f) else 0
    ax.set_title(
        title
        or f"Choosing K by one-way ANOVA per product ({n} products; min gain {curve.min_gain:.0%})",
        fontsize=11,
    )
    return fig


def _stores_frame(stores: Sequence[Store] | pd.DataFrame) -> pd.DataFrame:
    if isinstance(stores, pd.DataFrame):
        f = stores.copy()
    else:
        f = pd.DataFrame(
            [(s.store_id, s.lat, s.lon, s.region) for s in stores],
            columns=["store_id", "lat", "lon", "region"],
        )
    if "region" not in f.columns:
        f["region"] = None
    return f


def _tracts_frame(tracts: Sequence[Tract] | pd.DataFrame) -> pd.DataFrame:
    if isinstance(tracts, pd.DataFrame):
        return tracts[["lat", "lon", "population"]].copy()
    return pd.DataFrame(
        [(t.lat, t.lon, t.population) for t in tracts], columns=["lat", "lon", "population"]
    )


def cluster_map_figure(
    stores: Sequence[Store] | pd.DataFrame,
    labels: Mapping[str, int],
    tracts: Sequence[Tract] | pd.DataFrame,
    *,
    metro: Mapping[str, int] | None = None,
    title: str | None = None,
) -> Figure:
    """Map of stores coloured by cluster over tracts sized by population, one panel per metro.

    Parameters
    ----------
    stores : sequence of Store, or DataFrame with store_id, lat, lon (and region)
        Stores; those without coordinates are counted in the title, not drawn.
    labels : Mapping of str to int
        Cluster of each store.
    tracts : sequence of Tract, or DataFrame with lat, lon, population
        Tracts, drawn as light dots (area proportional to population).
    metro : Mapping of str to int, optional
        Metro of each store (:attr:`StoreClustering.metro_`); one panel for all when absent.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Longitude/latitude panels with a shared cluster legend.

    Raises
    ------
    InvalidParameterError
        If no store has coordinates.
    """
    s = _stores_frame(stores)
    t = _tracts_frame(tracts)
    s["cluster"] = s["store_id"].map(dict(labels))
    located = s[s["lat"].notna() & s["lon"].notna() & s["cluster"].notna()].copy()
    if located.empty:
        raise InvalidParameterError(
            "stores must include at least one store with coordinates "
            "and a cluster to draw a map; got none"
        )
    located["metro"] = located["store_id"].map(dict(metro)).fillna(0) if metro else 0
    groups = sorted(located["metro"].unique())
    n = len(groups)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(5.2 * ncols, 4.9 * nrows + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    clusters = sorted(int(c) for c in located["cluster"].unique())
    pop_max = float(t["population"].max()) if len(t) else 1.0
    for i, g in enumerate(groups):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        part = located[located["metro"] == g]
        lat0 = float(part["lat"].mean())
        pad_lat = max(0.08, 0.12 * float(np.ptp(part["lat"])))
        pad_lon = max(0.08 / math.cos(math.radians(lat0)), 0.12 * float(np.ptp(part["lon"])))
        box = (
            part["lat"].min() - pad_lat,
            part["lat"].max() + pad_lat,
            part["lon"].min() - pad_lon,
            part["lon"].max() + pad_lon,
        )
        near = t[t["lat"].between(box[0], box[1]) & t["lon"].between(box[2], box[3])]
        ax.scatter(
            near["lon"],
            near["lat"],
            s=6 + 220 * np.sqrt(near["population"] / pop_max),
            color="#a8a8a8",
            alpha=0.5,
            edgecolors="none",
            zorder=1,
        )
        for c in clusters:
            pc = part[part["cluster"] == c]
            ax.scatter(
                pc["lon"],
                pc["lat"],
                s=70,
                color=_PALETTE[c % len(_PALETTE)],
                marker=_MARKERS[c % len(_MARKERS)],
                edgecolors="black",
                linewidths=0.7,
                zorder=3,
            )
        ax.set_xlim(box[2], box[3])
        ax.set_ylim(box[0], box[1])
        ax.set_aspect(1.0 / math.cos(math.radians(lat0)))
        regions = part["region"].dropna()
        name = str(regions.mode().iloc[0]) if len(regions) else f"metro {int(g) + 1}"
        ax.set_title(f"{name}: {len(part)} stores", fontsize=11)
        ax.set_xlabel("longitude")
        ax.set_ylabel("latitude")
        ax.grid(alpha=0.25)
    handles = [
        Line2D(
            [],
            [],
            ls="none",
            marker=_MARKERS[c % len(_MARKERS)],
            ms=9,
            mec="black",
            color=_PALETTE[c % len(_PALETTE)],
            label=f"cluster {c} ({int((located['cluster'] == c).sum())})",
        )
        for c in clusters
    ]
    handles.append(
        Line2D(
            [], [], ls="none", marker="o", ms=8, color="#a8a8a8", label="tract (area ~ population)"
        )
    )
    fig.legend(
        handles=handles, loc="outside lower center", ncols=min(len(handles), 6), frameon=False
    )
    unlocated = int(len(s) - len(located))
    extra = f"; {unlocated} store(s) without coordinates not drawn" if unlocated else ""
    fig.suptitle(title or f"Stores by cluster (K = {len(clusters)}){extra}", fontsize=12)
    return fig
