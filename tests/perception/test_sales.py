"""Sales from scans (Eq. 4): hand-computed logs, messy scans, both layouts, the chain's truth."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shelfwise.data.synthetic import ChainConfig, SyntheticChain, generate_chain
from shelfwise.exceptions import InvalidParameterError
from shelfwise.perception import ESTIMATED_FLAGS, SalesFlag, sales_from_visits

T = pd.to_datetime(["2024-01-01 08:00", "2024-01-03 08:00", "2024-01-04 20:00", "2024-01-06 08:00"])
NAN = np.nan


def _log(rows: list[tuple[int, str, float, float, int]], display: str = "D1") -> pd.DataFrame:
    """Rows of (visit index, product, pre, post, facings after the visit)."""
    return pd.DataFrame(
        {
            "visit_id": [f"{display}-V{v}" for v, *_ in rows],
            "store_id": "S1",
            "display_id": display,
            "visited_at": [T[v] for v, *_ in rows],
            "product_id": [p for _, p, *_ in rows],
            "pre_count": [r[2] for r in rows],
            "post_count": [r[3] for r in rows],
            "facings": [r[4] for r in rows],
        }
    )


# P1: sells 6, then scan noise (-1), then a missing pre-scan.
# P2: added at visit 1, sells 3 by visit 2.  P3: removed at visit 2 (post 0, facings 0).
# P4: stocked at visit 0, missing from visit 1's log (removed without a scan); visit 3 logs P1
# only, so P2 and P5 vanish the same way.
# P5: its post-scan at visit 1 is missing, so visit 2 has no estimate.
HAND = _log(
    [
        (0, "P1", NAN, 10, 2),
        (1, "P1", 4, 10, 2),
        (2, "P1", 11, 10, 2),
        (3, "P1", NAN, 10, 2),
        (1, "P2", NAN, 8, 1),
        (2, "P2", 5, 8, 1),
        (0, "P3", NAN, 6, 1),
        (1, "P3", 6, 6, 1),
        (2, "P3", 2, 0, 0),
        (0, "P4", NAN, 5, 1),
        (0, "P5", NAN, 7, 1),
        (1, "P5", 3, NAN, 1),
        (2, "P5", 2, 7, 1),
    ]
)


def _row(table: pd.DataFrame, product: str, end: int) -> pd.Series:
    hit = table[(table["product_id"] == product) & (table["period_end"] == T[end])]
    assert len(hit) == 1, hit
    return hit.iloc[0]


def test_hand_computed_intervals_and_flags() -> None:
    t = sales_from_visits(HAND)
    f = t.frame
    r = _row(f, "P1", 1)
    assert (r["flag"], r["units"], r["days"], r["rate_per_day"]) == ("ok", 6.0, 2.0, 3.0)
    assert (r["facings"], r["day_of_week"], r["visit_id"]) == (2.0, 2, "D1-V1")  # Wednesday
    r = _row(f, "P1", 2)
    assert r["flag"] == SalesFlag.NEGATIVE and r["raw_units"] == -1.0 and r["units"] == 0.0
    assert r["days"] == pytest.approx(1.5)
    assert _row(f, "P1", 3)["flag"] == SalesFlag.MISSING_PRE
    assert np.isnan(_row(f, "P1", 3)["units"])
    assert _row(f, "P1", 0)["flag"] == SalesFlag.ADDED
    assert np.isnan(_row(f, "P1", 0)["days"])  # first visit of the display
    assert _row(f, "P2", 1)["flag"] == SalesFlag.ADDED and _row(f, "P2", 1)["facings"] == 0.0
    r = _row(f, "P2", 2)
    assert (r["flag"], r["units"], r["facings"]) == ("ok", 3.0, 1.0)
    r = _row(f, "P3", 2)  # the interval ending at the removal is a normal interval
    assert (r["flag"], r["units"]) == ("ok", 4.0)
    assert not (f["product_id"].eq("P3") & f["period_end"].eq(T[3])).any()
    r = _row(f, "P4", 1)
    assert r["flag"] == SalesFlag.REMOVED and np.isnan(r["units"])
    assert (r["period_start"], r["facings"], r["visit_id"]) == (T[0], 1.0, "D1-V1")
    assert _row(f, "P5", 1)["flag"] == "ok" and _row(f, "P5", 1)["units"] == 4.0
    assert _row(f, "P5", 2)["flag"] == SalesFlag.MISSING_POST
    assert t.counts[SalesFlag.OK] == 5
    # Visit 3 lists only P1: P2 and P5, stocked at visit 2, vanished without a scan too.
    assert _row(f, "P2", 3)["flag"] == _row(f, "P5", 3)["flag"] == SalesFlag.REMOVED
    assert t.counts[SalesFlag.REMOVED] == 3
    assert sum(t.counts.values()) == len(f) == len(HAND) + 3
    assert set(t.estimated()["flag"]) <= {f.value for f in ESTIMATED_FLAGS}


def test_a_pre_scan_without_a_previous_post_scan_is_missing_post() -> None:
    # P9 was not recorded at visit 0 yet is found on the shelf at visit 1.
    log = _log([(0, "P1", NAN, 5, 1), (1, "P1", 2, 5, 1), (1, "P9", 3, 6, 1)])
    f = sales_from_visits(log).frame
    assert _row(f, "P9", 1)["flag"] == SalesFlag.MISSING_POST


@pytest.mark.parametrize(
    ("negative", "units", "rate"),
    [("flag_and_zero", 0.0, 0.0), ("keep", -1.0, -1 / 1.5), ("drop", NAN, NAN)],
)
def test_negative_treatments_are_explicit(negative: str, units: float, rate: float) -> None:
    t = sales_from_visits(HAND, negative=negative)  # type: ignore[arg-type]
    r = _row(t.frame, "P1", 2)
    assert r["flag"] == SalesFlag.NEGATIVE and r["raw_units"] == -1.0
    np.testing.assert_equal([r["units"], r["rate_per_day"]], [units, rate])
    assert any("negative" in n for n in t.notes)
    assert (_row(t.frame, "P1", 2)["flag"] in set(t.estimated()["flag"])) == (negative != "drop")


def _edgerec(display: str = "D1") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "visit_id": [f"{display}@1", f"{display}@1", f"{display}@2", f"{display}@3"],
            "store_id": "S1",
            "display_id": display,
            "visited_at": [T[1], T[1], T[2], T[3]],
            "source": "edgerec3d",
            "product_id": ["P1", "P2", "P1", "P1"],
            "pre_count": NAN,
            "post_count": NAN,
            "facings": pd.array([None] * 4, dtype="Int64"),
            "prev_facings": pd.array([2, 1, 2, 3], dtype="Int64"),
            "payoff": [3.0, 0.0, 4.5, 0.0],
        }
    )


def test_payoff_rows_are_used_as_given() -> None:
    t = sales_from_visits(_edgerec())
    f = t.frame
    assert _row(f, "P1", 1)["flag"] == SalesFlag.PAYOFF_UNKNOWN_DAYS  # previous visit not logged
    r = _row(f, "P1", 2)
    assert (r["flag"], r["units"], r["days"], r["rate_per_day"], r["facings"]) == (
        "payoff",
        4.5,
        1.5,
        3.0,
        2.0,
    )
    r = _row(f, "P1", 3)
    assert (r["units"], r["facings"], r["source"]) == (0.0, 3.0, "payoff")
    assert t.counts[SalesFlag.PAYOFF] == 2 and t.counts[SalesFlag.PAYOFF_UNKNOWN_DAYS] == 2
    # Without a source column a payoff with no scan counts is recognised the same way.
    same = sales_from_visits(_edgerec().drop(columns="source")).frame
    pd.testing.assert_frame_equal(same, f)


def test_a_display_logged_in_both_layouts_uses_one_of_them() -> None:
    scans = HAND.assign(source="visits")
    both = pd.concat([scans, _edgerec()], ignore_index=True)
    t = sales_from_visits(both)
    assert t.n_duplicate_source_rows == 4
    assert set(t.frame["source"]) == {"scans"}
    assert any("both layouts" in n for n in t.notes)
    p = sales_from_visits(both, prefer="payoff")
    assert set(p.frame["source"]) == {"payoff"} and p.n_duplicate_source_rows == len(HAND)
    # Different displays in different layouts are both used.
    mixed = pd.concat([scans, _edgerec("D2")], ignore_index=True)
    assert set(sales_from_visits(mixed).frame["source"]) == {"scans", "payoff"}


def test_visits_without_items_are_counted_not_crashing() -> None:
    empty = HAND.iloc[:1].assign(product_id=None, visit_id="D1-V9", visited_at=T[3])
    t = sales_from_visits(pd.concat([HAND, empty], ignore_index=True))
    assert t.n_empty_visit_rows == 1 and t.n_input_rows == len(HAND) + 1
    assert "intervals" in t.summary()


@pytest.mark.parametrize(
    ("visits", "kwargs", "match"),
    [
        ([1, 2], {}, "visits must be a pandas DataFrame"),
        (HAND.drop(columns="display_id"), {}, r"missing \['display_id'\]"),
        (HAND, {"negative": "clip"}, "negative must be 'flag_and_zero', 'keep' or 'drop'"),
        (HAND, {"prefer": "both"}, "prefer must be 'scans' or 'payoff'"),
        (pd.concat([HAND, HAND.iloc[:1]]), {}, "one row per display, visit time and product"),
    ],
)
def test_bad_input_is_refused(visits: object, kwargs: dict[str, str], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        sales_from_visits(visits, **kwargs)  # type: ignore[arg-type]


def test_store_product_rates_are_time_weighted() -> None:
    rates = sales_from_visits(HAND, negative="keep").store_product_rates()
    p1 = rates.set_index("product_id").loc["P1"]
    # intervals: 6 units in 2 days, -1 unit in 1.5 days (missing pre-scan has no estimate)
    assert (p1["units"], p1["days"], p1["n_intervals"]) == (5.0, 3.5, 2)
    assert p1["rate_per_day"] == pytest.approx(5 / 3.5)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.booleans(),
            st.one_of(st.none(), st.integers(0, 12)),
            st.one_of(st.none(), st.integers(0, 12)),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_every_row_is_accounted_for(steps: list[tuple[bool, int | None, int | None]]) -> None:
    rows = [
        (v % 4, "P1", NAN if pre is None else float(pre), NAN if post is None else float(post), 1)
        for v, (listed, pre, post) in enumerate(steps[:4])
        if listed
    ]
    log = pd.concat([_log(rows), _log([(v, "P0", 1.0, 5.0, 1) for v in range(4)])])
    t = sales_from_visits(log, negative="keep")
    f = t.frame
    assert sum(t.counts.values()) == len(f) == len(log) + t.counts[SalesFlag.REMOVED]
    est = t.estimated()
    assert (est["days"] > 0).all()
    np.testing.assert_array_equal(est["units"], est["raw_units"])
    assert (f.loc[f["flag"] == "ok", "units"] >= 0).all()
    assert (f.loc[f["flag"] == "negative", "units"] < 0).all()


@pytest.fixture(scope="module")
def chain() -> SyntheticChain:
    return generate_chain(ChainConfig(n_stores=6, n_products=20, weeks=6), random_state=5)


def _with_truth(chain: SyntheticChain, negative: str) -> pd.DataFrame:
    t = sales_from_visits(chain.visit_log, negative=negative)  # type: ignore[arg-type]
    truth = chain.visit_log[
        ["display_id", "visited_at", "product_id", "sales", "payoff", "prev_facings"]
    ]
    f = t.frame.merge(
        truth,
        left_on=["display_id", "period_end", "product_id"],
        right_on=["display_id", "visited_at", "product_id"],
        how="left",
        validate="one_to_one",
    )
    return f[f["flag"].isin(["ok", "negative"])]


def test_estimates_track_true_sales_within_scan_noise(chain: SyntheticChain) -> None:
    t = sales_from_visits(chain.visit_log)
    # The chain's log: products are added (first visits, planogram changes), never lost.
    assert set(t.frame["flag"]) == {"ok", "negative", "added"}
    zeroed = _with_truth(chain, "flag_and_zero")
    kept = _with_truth(chain, "keep")
    # Difference of two scans with ~1.3 units MAE each (CountNet3D level).
    mae_zero = float((zeroed["units"] - zeroed["sales"]).abs().mean())
    mae_keep = float((kept["units"] - kept["sales"]).abs().mean())
    assert 0.8 < mae_zero < 2.0 and 0.8 < mae_keep < 2.5
    # Keeping negatives is unbiased; flooring them at zero is biased upwards, as documented.
    assert abs(float((kept["units"] - kept["sales"]).mean())) < 0.15
    assert float((zeroed["units"] - zeroed["sales"]).mean()) > 0.2
    # Facings in place are the previous visit's; floored units equal the chain's payoff.
    np.testing.assert_array_equal(zeroed["facings"], zeroed["prev_facings"])
    np.testing.assert_array_equal(zeroed["units"], zeroed["payoff"])


def test_layout_frames_and_edgerec3d_export_agree_with_the_log(chain: SyntheticChain) -> None:
    frames = chain.to_frames()
    from_log = sales_from_visits(chain.visit_log).frame
    pd.testing.assert_frame_equal(sales_from_visits(frames["visits"]).frame, from_log)
    e = frames["edgerec3d"].rename(
        columns={
            "last_scanned_datetime": "visited_at",
            "previous_post_scan_num_facings": "prev_facings",
        }
    )
    from_payoff = sales_from_visits(e).frame
    keys = ["display_id", "product_id", "period_end"]
    both = from_payoff.merge(from_log, on=keys, suffixes=("_p", "_s"))
    assert len(both) == len(from_payoff)
    np.testing.assert_array_equal(both["units_p"], both["units_s"])
    known = both["flag_p"] == "payoff"
    np.testing.assert_allclose(both.loc[known, "days_p"], both.loc[known, "days_s"])


def test_fast_on_a_full_size_log() -> None:
    log = generate_chain(random_state=0).visit_log  # 40 stores, 26 weeks: ~135k rows
    start = time.perf_counter()
    t = sales_from_visits(log)
    elapsed = time.perf_counter() - start
    assert len(t.frame) == len(log) > 100_000
    assert elapsed < 3.0, f"{elapsed:.2f} s for {len(log):,} rows"
