"""Planogram positions as CSV / Parquet tables in the ``planograms`` ingest layout."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shelfwise.data.layouts import LAYOUTS, LayoutName
from shelfwise.data.synthetic import ChainConfig, generate_chain
from shelfwise.domain import Planogram, Position
from shelfwise.exceptions import DataValidationError, InvalidParameterError
from shelfwise.planogram.io import (
    planograms_from_frame,
    planograms_to_frame,
    read_planograms,
    write_planograms,
)


@pytest.fixture
def planograms() -> list[Planogram]:
    return [
        Planogram(
            display_id="S01-D1",
            version=1,
            positions=(
                Position(shelf_index=0, x_cm=0.0, product_id="P1", facings_wide=3),
                Position(shelf_index=0, x_cm=0.1 + 0.2, product_id="P2", facings_deep=7),
                Position(shelf_index=2, x_cm=41.123456789012345, product_id="P,3", facings_high=2),
            ),
            provenance="synthetic:current-practice",
            effective_from=datetime(2024, 1, 1, 18, 32, 17, 250000),
        ),
        Planogram(
            display_id="S01-D1",
            version=2,
            positions=(Position(shelf_index=1, x_cm=12.5, product_id="P1"),),
            provenance="solver",
        ),
        Planogram(
            display_id='S02-D1 "Café"',
            version=7,
            positions=(Position(shelf_index=0, x_cm=3.0, product_id="P2", facings_wide=4),),
            provenance="file:old.psa",
            effective_from=datetime(2023, 12, 31),
        ),
    ]


def test_frame_has_the_layout_columns_and_types(planograms: list[Planogram]) -> None:
    frame = planograms_to_frame(planograms)
    layout = LAYOUTS[LayoutName.PLANOGRAMS]
    assert list(frame.columns) == [c.name for c in layout.columns]
    assert len(frame) == 5
    assert frame["version"].dtype == "int64" and frame["x_cm"].dtype == "float64"
    assert pd.api.types.is_datetime64_any_dtype(frame["effective_from"])
    assert frame["effective_from"].isna().tolist() == [False, False, False, True, False]
    assert planograms_from_frame(frame) == planograms


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".pq"])
def test_round_trip_through_files(planograms: list[Planogram], tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"planograms{suffix}"
    write_planograms(planograms, path)
    assert read_planograms(path) == planograms


def test_synthetic_chain_round_trips(tmp_path: Path) -> None:
    chain = generate_chain(
        ChainConfig(n_stores=3, n_products=15, displays_per_store=2, weeks=3), random_state=2
    )
    for suffix in (".csv", ".parquet"):
        write_planograms(chain.planograms, tmp_path / f"chain{suffix}")
        assert read_planograms(tmp_path / f"chain{suffix}") == list(chain.planograms)


# cells reading as missing in every layout ("nan", "none", "null", "<na>") are left out
text_st = (
    st.text(min_size=1, max_size=8)
    .map(str.strip)
    .filter(lambda t: t and t.lower() not in {"nan", "none", "null", "<na>"})
)
position_st = st.builds(
    Position,
    shelf_index=st.integers(0, 6),
    x_cm=st.floats(0.0, 1e4, allow_nan=False),
    product_id=text_st,
    facings_wide=st.integers(1, 30),
    facings_high=st.integers(1, 5),
    facings_deep=st.integers(1, 20),
)
planogram_st = st.builds(
    Planogram,
    display_id=text_st,
    version=st.integers(1, 10**6),
    positions=st.lists(
        position_st, min_size=1, max_size=6, unique_by=lambda p: (p.shelf_index, p.x_cm)
    ).map(tuple),
    provenance=text_st,
    effective_from=st.none() | st.datetimes(datetime(1900, 1, 1), datetime(2200, 1, 1)),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(planogram_st, max_size=4, unique_by=lambda g: (g.display_id, g.version)))
def test_random_planograms_round_trip(planograms: list[Planogram]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in (".csv", ".parquet"):
            path = Path(tmp) / f"p{suffix}"
            write_planograms(planograms, path)
            assert read_planograms(path) == planograms


def test_timezone_aware_dates_come_back_as_naive_utc(tmp_path: Path) -> None:
    when = datetime(2024, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=-5)))
    plan = Planogram("D1", 1, (Position(0, 1.0, "P1"),), "solver", when)
    write_planograms([plan], tmp_path / "tz.csv")
    back = read_planograms(tmp_path / "tz.csv")[0]
    assert back.effective_from == datetime(2024, 3, 1, 14, 0)
    assert back.effective_from == when.astimezone(UTC).replace(tzinfo=None)


def test_planograms_without_positions_have_no_rows(planograms: list[Planogram]) -> None:
    empty = Planogram("D9", 1, ())
    assert planograms_from_frame(planograms_to_frame([empty, *planograms])) == planograms


def test_empty_provenance_defaults_to_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "store_plans.csv"
    path.write_text(
        "display_id,version,shelf_index,x_cm,product_id,facings_wide,facings_high,facings_deep\n"
        "D1,1,0,0,P1,2,1,5\n"
        "D1,1,0,13.2,P2,1,1,5\n",
        encoding="utf-8",
    )
    (plan,) = read_planograms(path)
    assert plan.provenance == "file:store_plans.csv" and plan.effective_from is None
    assert plan.positions[1] == Position(0, 13.2, "P2", facings_deep=5)


HEADER = "display_id,version,shelf_index,x_cm,product_id,facings_wide,facings_high,facings_deep\n"


@pytest.mark.parametrize(
    ("rows", "row", "column", "value"),
    [
        ("D1,1,0,0,P1,2,1,5\nD1,1,0,5,P2,two,1,5\n", 2, "facings_wide", "two"),
        ("D1,1,0,-3,P1,2,1,5\n", 1, "x_cm", "-3"),
        ("D1,0,0,0,P1,2,1,5\n", 1, "version", "0"),
        ("D1,1,0,0,,2,1,5\n", 1, "product_id", ""),
        (
            "D1,1,0,0,P1,2,1,5\nD1,1,0,0,P2,2,1,5\n",
            2,
            "display_id/version/shelf_index/x_cm",
            "D1/1/0/0.0",
        ),
    ],
)
def test_bad_cells_name_file_row_and_column(
    tmp_path: Path, rows: str, row: int, column: str, value: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    with pytest.raises(DataValidationError) as info:
        read_planograms(path)
    err = info.value
    assert (err.file, err.row, err.column, err.value) == (str(path), row, column, value)


def test_positions_sharing_shelf_and_x_are_refused(tmp_path: Path) -> None:
    twice = Planogram("D1", 1, (Position(0, 5.0, "P1"), Position(0, 5.0, "P2")))
    with pytest.raises(InvalidParameterError, match="same shelf_index and x_cm"):
        write_planograms([twice], tmp_path / "twice.csv")
    assert not (tmp_path / "twice.csv").exists()


def test_missing_column_and_bad_suffix(tmp_path: Path, planograms: list[Planogram]) -> None:
    path = tmp_path / "short.csv"
    path.write_text("display_id,version,shelf_index,x_cm,product_id\nD1,1,0,0,P1\n")
    with pytest.raises(DataValidationError, match="facings_wide"):
        read_planograms(path)
    with pytest.raises(InvalidParameterError, match="suffix"):
        write_planograms(planograms, tmp_path / "plans.xlsx")
    with pytest.raises(InvalidParameterError, match="suffix"):
        read_planograms(tmp_path / "plans.json")
    with pytest.raises(DataValidationError, match="file must exist"):
        read_planograms(tmp_path / "absent.csv")
