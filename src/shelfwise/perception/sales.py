"""Units sold between merchandiser visits, from pre- and post-scan counts (Eq. 4).

EdgeRec3D (Jenkins et al., "Personalized Product Assortment with Real-time 3D Perception and
Bayesian Payoff Estimation", KDD 2024, section 3.1) estimates the sales of product ``i`` on
display ``j`` between two visits as

    sales_ijt = c_post(i, j, t-1) - c_pre(i, j, t)                                  (Eq. 4)

the count the previous visit left on the shelf (post-scan) minus the count this visit found
(pre-scan), assuming that every missing unit was sold. Real scans are messier than the
equation; :func:`sales_from_visits` turns every logged (visit, product) row into at most one
interval and says with a :class:`SalesFlag` what happened to it, never dropping rows silently.

Negative differences
--------------------
Perception noise (about 1.3 units of count error, paper Table 9) makes some differences
negative, mostly when nothing sold. Flooring them at zero biases the mean upward; keeping them
gives an unbiased but impossible value. The treatment is a parameter, always flagged
(:attr:`SalesFlag.NEGATIVE`) and the untreated difference is kept in ``raw_units``:

* ``"flag_and_zero"`` (default): ``units = 0``. This is the convention of EdgeRec3D's published
  logs, whose ``payoff`` is never negative, so scan-derived rows and payoff rows mean the same
  thing when both sources are mixed. Its upward bias is measured in the tests.
* ``"keep"``: ``units`` is the negative difference (unbiased under symmetric noise).
* ``"drop"``: no estimate (``units`` and ``rate_per_day`` are NaN); the row stays, flagged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd

from shelfwise.exceptions import InvalidParameterError

NegativeTreatment = Literal["flag_and_zero", "keep", "drop"]
SourcePreference = Literal["scans", "payoff"]

REQUIRED_COLUMNS: tuple[str, ...] = ("store_id", "display_id", "visited_at", "product_id")
OUTPUT_COLUMNS: tuple[str, ...] = (
    "store_id",
    "display_id",
    "product_id",
    "visit_id",
    "period_start",
    "period_end",
    "days",
    "facings",
    "raw_units",
    "units",
    "rate_per_day",
    "day_of_week",
    "source",
    "flag",
)


class SalesFlag(StrEnum):
    """What happened to one (display, product, interval) of the visit log.

    Rows flagged ``OK``, ``NEGATIVE`` (unless treated with ``"drop"``) and ``PAYOFF`` carry an
    estimate (:data:`ESTIMATED_FLAGS`); every other flag means no estimate (``units`` NaN).
    """

    OK = "ok"
    """Eq. 4 from a previous post-scan and this pre-scan; the difference is >= 0."""
    NEGATIVE = "negative"
    """Eq. 4 gave a negative difference (count noise); treated as the ``negative`` option says."""
    PAYOFF = "payoff"
    """EdgeRec3D layout: the logged payoff (units since the previous visit) is used as is."""
    PAYOFF_UNKNOWN_DAYS = "payoff_unknown_days"
    """EdgeRec3D layout, but the display's previous visit is not in the log (the stocking visit
    of the published logs has no rows): units are known, the interval length is not."""
    MISSING_PAYOFF = "missing_payoff"
    """EdgeRec3D layout row without a payoff value."""
    ADDED = "added"
    """The product was not on the display before this visit (new product, or the display's
    first logged visit): there is no interval to estimate."""
    REMOVED = "removed"
    """The product stood on the display after a visit but the display's next visit has no row
    for it at all (removed without a scan): units unknown. These rows are created here."""
    MISSING_PRE = "missing_pre"
    """The product stood on the display since the previous visit but has no pre-scan count."""
    MISSING_POST = "missing_post"
    """The product has a pre-scan count but the previous visit left no post-scan count for it
    (post-scan missing, or the product was not recorded at the previous visit)."""


ESTIMATED_FLAGS: frozenset[SalesFlag] = frozenset(
    {SalesFlag.OK, SalesFlag.NEGATIVE, SalesFlag.PAYOFF}
)


@dataclass(frozen=True, eq=False)
class SalesTable:
    """Intervals between visits with their estimated sales, and how each row was treated.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per interval, sorted by store, display, product and ``period_end``. Columns:
        ``store_id``, ``display_id``, ``product_id``, ``visit_id`` (the visit ending the
        interval), ``period_start`` and ``period_end`` (visit times; ``period_start`` NaT when
        unknown), ``days`` (float), ``facings`` (facings in place during the interval: the
        previous visit's facings; float, NaN when unknown), ``raw_units`` (Eq. 4 before any
        treatment, or the payoff), ``units`` (after the ``negative`` treatment; NaN when there
        is no estimate), ``rate_per_day`` (``units / days``), ``day_of_week`` (of
        ``period_end``, 0 = Monday), ``source`` (``"scans"`` or ``"payoff"``) and ``flag``
        (a :class:`SalesFlag` value).
    negative : {"flag_and_zero", "keep", "drop"}
        Treatment applied to negative differences.
    counts : Mapping of SalesFlag to int
        Rows per flag (every flag present, zeros included).
    n_input_rows : int
        Rows of the visit frame given.
    n_empty_visit_rows : int
        Input rows without a product (visits that recorded no item); they make no interval.
    n_duplicate_source_rows : int
        Input rows ignored because their display is logged in both layouts (a database that
        ingested both exports of one chain) and the other layout was preferred.
    """

    frame: pd.DataFrame
    negative: NegativeTreatment
    counts: Mapping[SalesFlag, int]
    n_input_rows: int
    n_empty_visit_rows: int = 0
    n_duplicate_source_rows: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def estimated(self) -> pd.DataFrame:
        """Rows with a finite ``rate_per_day`` (flags ok, negative unless dropped, payoff)."""
        f = self.frame
        keep = np.isfinite(f["rate_per_day"].to_numpy(dtype=np.float64))
        out: pd.DataFrame = f.loc[keep].reset_index(drop=True)
        return out

    def store_product_rates(self, *, min_days: float = 0.0) -> pd.DataFrame:
        """Mean daily sales of each product in each store, over intervals with an estimate.

        The rate is ``sum(units) / sum(days)`` over the intervals of all the store's displays
        that had the product on them (facings > 0 or unknown): the maximum-likelihood rate of a
        Poisson process, which weights long intervals more than a mean of per-interval rates.

        Parameters
        ----------
        min_days : float
            Pairs observed for fewer days in total get a NaN rate.

        Returns
        -------
        pandas.DataFrame
            Columns ``store_id``, ``product_id``, ``units``, ``days``, ``n_intervals``,
            ``rate_per_day``; sorted by store and product.
        """
        f = self.estimated()
        fac = f["facings"].to_numpy(dtype=np.float64)
        f = f[~(fac <= 0)]
        out = (
            f.groupby(["store_id", "product_id"], sort=True)
            .agg(
                units=("units", "sum"),
                days=("days", "sum"),
                n_intervals=("units", "size"),
            )
            .reset_index()
        )
        rate = out["units"] / out["days"]
        out["rate_per_day"] = rate.where(out["days"] >= max(min_days, 1e-12))
        return out

    def summary(self) -> str:
        """One line per flag with its row count, for consoles and reports."""
        total = sum(self.counts.values())
        lines = [f"{total:,} intervals from {self.n_input_rows:,} visit rows"]
        lines += [f"  {flag.value:<20} {n:>9,}" for flag, n in self.counts.items() if n]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _validate(visits: object, negative: object, prefer: object) -> pd.DataFrame:
    if not isinstance(visits, pd.DataFrame):
        raise InvalidParameterError(
            f"visits must be a pandas DataFrame; got {type(visits).__name__}"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in visits.columns]
    if missing:
        raise InvalidParameterError(
            f"visits must have columns {list(REQUIRED_COLUMNS)}; missing {missing}"
        )
    if negative not in ("flag_and_zero", "keep", "drop"):
        raise InvalidParameterError(
            f"negative must be 'flag_and_zero', 'keep' or 'drop'; got {negative!r}"
        )
    if prefer not in ("scans", "payoff"):
        raise InvalidParameterError(f"prefer must be 'scans' or 'payoff'; got {prefer!r}")
    return visits


def _prepare(visits: pd.DataFrame) -> pd.DataFrame:
    """Typed working copy with every optional column present."""
    v = visits.reset_index(drop=True)
    f = pd.DataFrame(
        {
            "store_id": v["store_id"].astype("str"),
            "display_id": v["display_id"].astype("str"),
            "product_id": v["product_id"].astype("str"),
            "visited_at": pd.to_datetime(v["visited_at"]),
        }
    )
    f["visit_id"] = (
        v["visit_id"].astype("str")
        if "visit_id" in v.columns
        else f["display_id"] + "@" + f["visited_at"].astype("str")
    )
    for col in ("pre_count", "post_count", "facings", "prev_facings", "payoff"):
        f[col] = (
            pd.to_numeric(v[col], errors="coerce").astype("float64").to_numpy(na_value=np.nan)
            if col in v.columns
            else np.nan
        )
    if "source" in v.columns:
        f["source_in"] = v["source"].astype("object").to_numpy()
    else:
        f["source_in"] = None
    return f


def _payoff_rows(f: pd.DataFrame) -> pd.Series:
    """Rows in EdgeRec3D's layout: ``source == "edgerec3d"``, or, where no source is given, a
    payoff without any scan count (a row with scans is differenced from its scans)."""
    src = f["source_in"]
    no_source = src.isna()
    scans_absent = f["pre_count"].isna() & f["post_count"].isna()
    guessed = f["payoff"].notna() & scans_absent
    return (src == "edgerec3d").fillna(False).astype(bool) | (no_source & guessed)


def _display_visits(f: pd.DataFrame) -> pd.DataFrame:
    """Distinct visit times per display with the previous and next visit of that display."""
    dv = (
        f[["display_id", "visited_at", "visit_id"]]
        .drop_duplicates(["display_id", "visited_at"])
        .sort_values(["display_id", "visited_at"], kind="stable")
        .reset_index(drop=True)
    )
    same_prev = dv["display_id"].eq(dv["display_id"].shift())
    same_next = dv["display_id"].eq(dv["display_id"].shift(-1))
    dv["prev_at"] = dv["visited_at"].shift().where(same_prev)
    dv["next_at"] = dv["visited_at"].shift(-1).where(same_next)
    dv["next_visit_id"] = dv["visit_id"].shift(-1).where(same_next)
    return dv.drop(columns="visit_id")


def _scan_intervals(s: pd.DataFrame) -> pd.DataFrame:
    """Eq. 4 on rows with pre/post scans, plus the REMOVED rows they imply."""
    dv = _display_visits(s)
    s = s.merge(dv, on=["display_id", "visited_at"], how="left")
    s = s.sort_values(["display_id", "product_id", "visited_at"], kind="stable").reset_index(
        drop=True
    )
    same = s["display_id"].eq(s["display_id"].shift()) & s["product_id"].eq(s["product_id"].shift())
    same_next = s["display_id"].eq(s["display_id"].shift(-1)) & s["product_id"].eq(
        s["product_id"].shift(-1)
    )
    pre = s["pre_count"]
    post = s["post_count"]
    fac = s["facings"]
    # A product is on the shelf after a visit unless the visit says it left (0 units, 0 facings).
    on_after = (post > 0) | (fac > 0) | (post.isna() & fac.isna())
    prev_at_row = s["visited_at"].shift().where(same)
    linked = same & prev_at_row.eq(s["prev_at"])
    prev_post = post.shift().where(linked)
    prev_fac = fac.shift().where(linked)
    prev_on = linked & on_after.shift(fill_value=False)

    flag = np.full(len(s), SalesFlag.OK.value, dtype=object)
    missing_post = (prev_on & prev_post.isna()) | (~prev_on & (pre > 0))
    added = ~prev_on & ~(pre > 0)
    missing_pre = prev_on & prev_post.notna() & pre.isna()
    raw = (prev_post - pre).where(prev_on & prev_post.notna() & pre.notna())
    flag[(raw < 0).to_numpy()] = SalesFlag.NEGATIVE.value
    flag[missing_pre.to_numpy()] = SalesFlag.MISSING_PRE.value
    flag[added.to_numpy()] = SalesFlag.ADDED.value
    flag[missing_post.to_numpy()] = SalesFlag.MISSING_POST.value
    facings = prev_fac.where(prev_fac.notna(), s["prev_facings"])
    facings = facings.where(~added | facings.notna(), 0.0)
    out = pd.DataFrame(
        {
            "store_id": s["store_id"],
            "display_id": s["display_id"],
            "product_id": s["product_id"],
            "visit_id": s["visit_id"],
            "period_start": s["prev_at"],
            "period_end": s["visited_at"],
            "facings": facings,
            "raw_units": raw,
            "source": "scans",
            "flag": flag,
        }
    )
    # Stood on the shelf after a visit, but the display's next visit does not list it.
    next_row_at = s["visited_at"].shift(-1).where(same_next)
    gone = on_after & s["next_at"].notna() & ~next_row_at.eq(s["next_at"])
    g = s[gone]
    removed = pd.DataFrame(
        {
            "store_id": g["store_id"],
            "display_id": g["display_id"],
            "product_id": g["product_id"],
            "visit_id": g["next_visit_id"],
            "period_start": g["visited_at"],
            "period_end": g["next_at"],
            "facings": g["facings"].where(g["facings"].notna(), np.nan),
            "raw_units": np.nan,
            "source": "scans",
            "flag": SalesFlag.REMOVED.value,
        }
    )
    return pd.concat([out, removed], ignore_index=True) if len(removed) else out


def _payoff_intervals(p: pd.DataFrame) -> pd.DataFrame:
    """EdgeRec3D rows: payoff as is, days since the display's previous logged visit."""
    dv = _display_visits(p)
    p = p.merge(dv[["display_id", "visited_at", "prev_at"]], on=["display_id", "visited_at"])
    flag = np.where(
        p["payoff"].isna(),
        SalesFlag.MISSING_PAYOFF.value,
        np.where(p["prev_at"].isna(), SalesFlag.PAYOFF_UNKNOWN_DAYS.value, SalesFlag.PAYOFF.value),
    ).astype(object)
    flag[(p["payoff"] < 0).to_numpy()] = SalesFlag.NEGATIVE.value
    return pd.DataFrame(
        {
            "store_id": p["store_id"],
            "display_id": p["display_id"],
            "product_id": p["product_id"],
            "visit_id": p["visit_id"],
            "period_start": p["prev_at"],
            "period_end": p["visited_at"],
            "facings": p["prev_facings"],
            "raw_units": p["payoff"],
            "source": "payoff",
            "flag": flag,
        }
    )


def sales_from_visits(
    visits: pd.DataFrame,
    *,
    negative: NegativeTreatment = "flag_and_zero",
    prefer: SourcePreference = "scans",
) -> SalesTable:
    """Units sold per display, product and interval between visits (Eq. 4 of EdgeRec3D).

    For each display and product, consecutive visits give one interval: ``units`` = the
    previous visit's ``post_count`` minus this visit's ``pre_count``; ``days`` = time between
    the two visits of the display; ``rate_per_day = units / days``; ``facings`` = the facings
    the previous visit left. Rows in EdgeRec3D's published layout (``source == "edgerec3d"``,
    or, without a ``source`` column, a ``payoff`` and no scan counts) use the payoff as is,
    with ``days`` since the display's previous logged visit and ``facings = prev_facings``.

    Parameters
    ----------
    visits : pandas.DataFrame
        One row per visit and product: ``Repository.visits_frame()`` (visit_id, store_id,
        display_id, visited_at, source, product_id, pre_count, post_count, facings,
        prev_facings, payoff), the synthetic chain's ``to_frames()["visits"]`` or its
        ``visit_log``. Only ``store_id``, ``display_id``, ``visited_at`` and ``product_id`` are
        required; rows without a product (empty visits) are counted and skipped.
    negative : {"flag_and_zero", "keep", "drop"}
        Treatment of negative differences, see the module docstring. They are always flagged
        :attr:`SalesFlag.NEGATIVE` and their difference is kept in ``raw_units``.
    prefer : {"scans", "payoff"}
        When one display is logged in both layouts (both exports of one chain ingested), the
        layout whose rows are used; the other one's rows are counted in
        ``n_duplicate_source_rows`` and ignored.

    Returns
    -------
    SalesTable
        The intervals with their flags and per-flag counts.

    Raises
    ------
    InvalidParameterError
        If ``visits`` is not a DataFrame or lacks a required column, an option is unknown, or
        a display lists one product twice at the same visit time.

    Examples
    --------
    >>> import pandas as pd
    >>> v = pd.DataFrame({"store_id": "S1", "display_id": "D1", "product_id": "P1",
    ...     "visited_at": pd.to_datetime(["2024-01-01 08:00", "2024-01-03 08:00"]),
    ...     "pre_count": [None, 4.0], "post_count": [10.0, 10.0], "facings": [2, 2]})
    >>> t = sales_from_visits(v)
    >>> t.frame[["days", "units", "rate_per_day", "flag"]].iloc[1].tolist()
    [2.0, 6.0, 3.0, 'ok']
    """
    _validate(visits, negative, prefer)
    f = _prepare(visits)
    n_input = len(f)
    empty = visits["product_id"].isna().to_numpy()
    f = f[~empty]
    dup = f.duplicated(["display_id", "visited_at", "product_id"], keep=False)
    is_payoff = _payoff_rows(f)
    notes: list[str] = []
    n_dup_source = 0
    if is_payoff.any() and (~is_payoff).any():
        kinds = f.assign(_p=is_payoff).groupby("display_id")["_p"].agg(["any", "all"])
        both = kinds.index[kinds["any"] & ~kinds["all"]]
        if len(both):
            in_both = f["display_id"].isin(both)
            drop = in_both & (is_payoff if prefer == "scans" else ~is_payoff)
            n_dup_source = int(drop.sum())
            notes.append(
                f"{len(both)} display(s) are logged in both layouts; used their "
                f"{prefer} rows and ignored {n_dup_source:,} others"
            )
            f, is_payoff = f[~drop], is_payoff[~drop]
            dup = f.duplicated(["display_id", "visited_at", "product_id"], keep=False)
    if dup.any():
        first = f[dup].iloc[0]
        raise InvalidParameterError(
            "visits must hold one row per display, visit time and product; got "
            f"{int(dup.sum())} duplicated rows, first display {first['display_id']!r} at "
            f"{first['visited_at']} product {first['product_id']!r}"
        )
    parts = [_scan_intervals(f[~is_payoff]), _payoff_intervals(f[is_payoff])]
    out = pd.concat([p for p in parts if len(p)], ignore_index=True) if len(f) else parts[0]
    out["days"] = (out["period_end"] - out["period_start"]).dt.total_seconds() / 86_400.0
    raw = out["raw_units"].to_numpy(dtype=np.float64)
    units = raw.copy()
    neg = out["flag"].to_numpy() == SalesFlag.NEGATIVE.value
    if negative == "flag_and_zero":
        units[neg] = 0.0
    elif negative == "drop":
        units[neg] = np.nan
    out["units"] = units
    days = out["days"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rate_per_day"] = np.where(days > 0, units / days, np.nan)
    out["day_of_week"] = out["period_end"].dt.day_of_week.astype("int64")
    out["facings"] = out["facings"].astype("float64")
    out = out.sort_values(
        ["store_id", "display_id", "product_id", "period_end"], kind="stable"
    ).reset_index(drop=True)[list(OUTPUT_COLUMNS)]
    vc = out["flag"].value_counts()
    counts = {flag: int(vc.get(flag.value, 0)) for flag in SalesFlag}
    if counts[SalesFlag.NEGATIVE]:
        notes.append(
            f"{counts[SalesFlag.NEGATIVE]:,} negative difference(s) treated with "
            f"negative={negative!r}"
        )
    return SalesTable(
        frame=out,
        negative=negative,
        counts=MappingProxyType(counts),
        n_input_rows=n_input,
        n_empty_visit_rows=int(empty.sum()),
        n_duplicate_source_rows=n_dup_source,
        notes=tuple(notes),
    )
