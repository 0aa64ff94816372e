"""Operating the synthetic chain: visit schedules, planogram changes, sales and 3D scans.

Each display is visited every ``visit_gap_days`` days at a random time of day. At a visit the
merchandiser pre-scans the display, restocks every product to the full capacity of the
planogram in force (changing the planogram first when one is due), and post-scans it, as in
EdgeRec3D's workflow (Jenkins et al., KDD 2024, section 3.1). Between visits, true demand for a
product is negative binomial with mean equal to the integral of its true expected daily sales
(store coefficient x facing response x day-of-week multiplier) over the elapsed time, plus a
rare bulk purchase; realised sales are capped by the stock on the shelf.

Scans perceive the true count ``c`` as ``max(0, rint(c + e))`` with ``e ~ Normal(0, cv * c)``,
a count error that grows with the count; ``cv = 0.1`` gives a count MAE of about 1.3 units and
a MAPE of about 8% on the counts of this chain, as CountNet3D reports (paper, Table 9).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from shelfwise.domain import Display, Planogram

from .catalog import Catalog
from .config import ChainConfig
from .planograms import changed_plan, facings_of, initial_plan, place
from .truth import ChainTruth

PROVENANCE = "synthetic:current-practice"
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True, slots=True)
class _Schedule:
    """Visit times of one display and the planogram version in force after each visit."""

    seconds: NDArray[np.int64]
    version: NDArray[np.int64]


def _schedule(config: ChainConfig, rng: np.random.Generator) -> _Schedule:
    """Visit times (seconds from the start date's midnight) and the version after each visit."""
    lo, hi = config.visit_gap_days
    n_max = config.n_days + 1
    days = np.concatenate([[0], np.cumsum(rng.integers(lo, hi + 1, size=n_max))])
    days = days[days < config.n_days]
    h0, h1 = config.visit_hours
    seconds = days * SECONDS_PER_DAY + rng.integers(h0 * 3600, h1 * 3600, size=days.size)
    version = np.zeros(days.size, dtype=np.int64)
    w0, w1 = config.change_weeks
    due = int(rng.integers(7 * w0, 7 * w1 + 1))
    while True:
        later = np.flatnonzero((days >= due) & (np.arange(days.size) > 0))
        if later.size == 0:
            break
        v = int(later[0])
        version[v:] += 1
        due = int(days[v]) + int(rng.integers(7 * w0, 7 * w1 + 1))
    return _Schedule(seconds.astype(np.int64), version)


def scan(
    true_counts: NDArray[np.float64], cv: float, rng: np.random.Generator
) -> NDArray[np.float64]:
    """Perceive counts the way a 3D counting model does.

    Parameters
    ----------
    true_counts : ndarray
        True unit counts (>= 0); NaN entries stay NaN.
    cv : float
        Coefficient of variation of the count error.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    ndarray
        Non-negative whole-number counts as floats.
    """
    noise = rng.normal(0.0, 1.0, size=true_counts.shape) * cv * np.nan_to_num(true_counts)
    return np.asarray(np.maximum(0.0, np.rint(true_counts + noise)))


def cumulative_intensity(
    seconds: NDArray[np.int64], n_days: int, start_weekday: int, day_of_week: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Integral of the day-of-week multiplier from the start midnight to each time, in days."""
    w = day_of_week[(start_weekday + np.arange(n_days + 1)) % 7]
    cum = np.concatenate([[0.0], np.cumsum(w)])
    day = seconds // SECONDS_PER_DAY
    frac = (seconds % SECONDS_PER_DAY) / SECONDS_PER_DAY
    return np.asarray(cum[day] + frac * w[day])


def simulate_operations(
    config: ChainConfig,
    displays: tuple[Display, ...],
    catalog: Catalog,
    truth: ChainTruth,
    *,
    plan_rng: np.random.Generator,
    sales_rng: np.random.Generator,
    scan_rng: np.random.Generator,
) -> tuple[tuple[Planogram, ...], pd.DataFrame]:
    """Run the chain for ``config.weeks`` weeks.

    Parameters
    ----------
    config : ChainConfig
        Period, visit and noise settings.
    displays : tuple of Display
        Every display of the chain.
    catalog : Catalog
        Products.
    truth : ChainTruth
        True expected sales.
    plan_rng, sales_rng, scan_rng : numpy.random.Generator
        Independent streams for schedules and planograms, for demand, and for scan noise.

    Returns
    -------
    planograms : tuple of Planogram
        Every version of every display's planogram, by display then version.
    log : pandas.DataFrame
        One row per (visit, product on the display before or after the visit), sorted by
        display, visit time and product; see :attr:`SyntheticChain.visit_log`.
    """
    n_i = len(catalog.products)
    store_row = {s: i for i, s in enumerate(truth.store_ids)}
    start = datetime.combine(config.start_date, datetime.min.time())
    planograms: list[Planogram] = []
    index = {p.product_id: i for i, p in enumerate(catalog.products)}
    cols: dict[str, list[NDArray[np.int64]]] = {
        k: []
        for k in (
            "display",
            "visit",
            "t",
            "t_prev",
            "product",
            "fac_prev",
            "cap_prev",
            "fac",
            "cap",
        )
    }
    for j, display in enumerate(displays):
        l_idx = store_row[display.store_id]
        sched = _schedule(config, plan_rng)
        n_versions = int(sched.version[-1]) + 1
        fac = np.zeros((n_versions + 1, n_i), dtype=np.int64)  # last row: "nothing" (before v0)
        cap = np.zeros((n_versions + 1, n_i), dtype=np.int64)
        positions = place(display, catalog, initial_plan(display, catalog, truth, plan_rng))
        for ver in range(n_versions):
            if ver > 0:
                plan = changed_plan(fac[ver - 1], display, l_idx, catalog, truth, plan_rng)
                positions = place(display, catalog, plan)
            fac[ver] = facings_of(positions, catalog)
            for pos in positions:
                cap[ver, index[pos.product_id]] += pos.units
            first = int(np.argmax(sched.version == ver))
            planograms.append(
                Planogram(
                    display_id=display.display_id,
                    version=ver + 1,
                    positions=positions,
                    provenance=PROVENANCE,
                    effective_from=start + timedelta(seconds=int(sched.seconds[first])),
                )
            )
        prev_ver = np.concatenate([[n_versions], sched.version[:-1]])
        cache: dict[tuple[int, int], NDArray[np.int64]] = {}
        for v in range(sched.seconds.size):
            key = (int(prev_ver[v]), int(sched.version[v]))
            if key not in cache:
                cache[key] = np.flatnonzero((fac[key[0]] > 0) | (fac[key[1]] > 0)).astype(np.int64)
            idx = cache[key]
            n = idx.size
            cols["display"].append(np.full(n, j, dtype=np.int64))
            cols["visit"].append(np.full(n, v, dtype=np.int64))
            cols["t"].append(np.full(n, sched.seconds[v], dtype=np.int64))
            cols["t_prev"].append(np.full(n, sched.seconds[v - 1] if v else -1, dtype=np.int64))
            cols["product"].append(idx)
            cols["fac_prev"].append(fac[key[0], idx])
            cols["cap_prev"].append(cap[key[0], idx])
            cols["fac"].append(fac[key[1], idx])
            cols["cap"].append(cap[key[1], idx])
    a = {k: np.concatenate(v) for k, v in cols.items()}
    n_rows = a["product"].size
    disp_store = np.array([store_row[d.store_id] for d in displays], dtype=np.int64)
    l_rows = disp_store[a["display"]]
    had = a["fac_prev"] > 0

    # Demand and sales since the previous visit.
    big_f = cumulative_intensity(
        np.maximum(a["t"], 0), config.n_days, config.start_date.weekday(), truth.day_of_week
    )
    big_f_prev = cumulative_intensity(
        np.maximum(a["t_prev"], 0), config.n_days, config.start_date.weekday(), truth.day_of_week
    )
    rate = truth.store_coefficients[l_rows, a["product"]] * truth.facing_response(
        a["product"], a["fac_prev"]
    )
    expected = np.where(had, rate * (big_f - big_f_prev), 0.0)
    r = config.demand_dispersion
    demand = sales_rng.negative_binomial(r, r / (r + expected)).astype(np.float64)
    outlier = had & (sales_rng.uniform(size=n_rows) < config.outlier_share)
    lo, hi = config.outlier_multiplier
    bulk = np.ceil(np.maximum(expected, 1.0) * sales_rng.uniform(lo, hi, size=n_rows))
    demand = np.where(outlier, demand + bulk, demand)
    sold = np.where(had, np.minimum(demand, a["cap_prev"]), np.nan)
    true_pre = np.where(had, a["cap_prev"] - sold, np.nan)
    true_post = a["cap"].astype(np.float64)

    # Scans: pre-scan only for products that stood there; post-scan only for products kept.
    pre = np.where(had, scan(true_pre, config.scan_noise_cv, scan_rng), np.nan)
    post_noisy = scan(true_post, config.scan_noise_cv, scan_rng)
    post = np.where(a["fac"] > 0, post_noisy, 0.0)

    # Eq. 4: payoff = previous post-scan - current pre-scan, for products present since then.
    order = np.lexsort((a["visit"], a["product"], a["display"]))
    prev_post = np.full(n_rows, np.nan)
    same = (a["display"][order][1:] == a["display"][order][:-1]) & (
        a["product"][order][1:] == a["product"][order][:-1]
    )
    prev_post[order[1:]] = np.where(same, post[order[:-1]], np.nan)
    payoff = np.where(had, np.maximum(prev_post - pre, 0.0), np.nan)

    width = max(3, len(str(config.n_days)))
    display_ids = np.array([d.display_id for d in displays], dtype=object)
    store_ids = np.array([d.store_id for d in displays], dtype=object)
    product_ids = np.array([p.product_id for p in catalog.products], dtype=object)
    visit_ids = np.char.add(
        np.char.add(display_ids[a["display"]].astype(str), "-V"),
        np.char.zfill((a["visit"] + 1).astype(str), width),
    )
    t0 = np.datetime64(config.start_date, "s")
    log = pd.DataFrame(
        {
            "visit_id": pd.array(visit_ids.astype(object), dtype="str"),
            "store_id": pd.array(store_ids[a["display"]], dtype="str"),
            "display_id": pd.array(display_ids[a["display"]], dtype="str"),
            "visited_at": t0 + a["t"].astype("timedelta64[s]"),
            "product_id": pd.array(product_ids[a["product"]], dtype="str"),
            "pre_count": pre,
            "post_count": post,
            "facings": a["fac"],
            "prev_facings": a["fac_prev"],
            "previous_visit_at": np.where(
                a["t_prev"] >= 0, t0 + a["t_prev"].astype("timedelta64[s]"), np.datetime64("NaT")
            ).astype("datetime64[s]"),
            "true_pre_count": true_pre,
            "true_post_count": true_post,
            "expected_sales": expected,
            "demand": np.where(had, demand, np.nan),
            "sales": sold,
            "outlier": outlier,
            "payoff": payoff,
        }
    )
    return tuple(planograms), log
