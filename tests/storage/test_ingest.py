"""Ingest: bad input is rejected whole with a precise message; re-ingest is a no-op."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shelfwise.exceptions import DataValidationError
from shelfwise.storage import Repository
from shelfwise.storage.ingest import ingest_files
from tests.conftest import assert_same_snapshot, snapshot

STORES = pd.DataFrame(
    {
        "store_id": ["S1", "S2"],
        "name": ["Dallas #1", "Dallas #2"],
        "lat": [32.78, 32.9],
        "lon": [-96.8, -96.7],
        "format": ["convenience", "grocery"],
        "region": ["Dallas", "Dallas"],
    }
)
PRODUCTS = pd.DataFrame(
    {
        "product_id": ["P1", "P2", "P3"],
        "name": ["Fizz Cola 12oz", "Aqua 1L", "Hop Seltzer"],
        "brand": ["Fizz", "Aqua", "Hop"],
        "category": ["Beverages"] * 3,
        "subcategory": ["Sparkling", "Water", "Sparkling"],
        "width_cm": [6.6, 8.0, 6.6],
        "height_cm": [12.2, 27.0, 12.2],
        "depth_cm": [6.6, 8.0, 6.6],
        "weight_kg": [0.37, 1.05, 0.37],
        "price": [1.49, 1.99, 2.99],
        "unit_cost": [0.8, 1.0, 1.6],
        "gtin": ["036000291452", "", "012345678905"],
        "age_restricted": ["false", "false", "true"],
    }
)
DISPLAYS = pd.DataFrame(
    {
        "display_id": ["D1", "D2"],
        "store_id": ["S1", "S2"],
        "kind": ["cooler", "checkout"],
        "max_slots": [20, 9],
    }
)
SHELVES = pd.DataFrame(
    {
        "display_id": ["D1", "D1", "D2"],
        "shelf_index": [0, 1, 0],
        "width_cm": [76.0, 76.0, 60.0],
        "clearance_cm": [30.0, 30.0, 28.0],
        "depth_cm": [45.0, 45.0, 40.0],
        "max_load_kg": [40.0, 40.0, 25.0],
        "height_from_floor_cm": [20.0, 100.0, 80.0],
    }
)
PLANOGRAMS = pd.DataFrame(
    {
        "display_id": ["D1", "D1", "D1"],
        "version": [1, 1, 1],
        "shelf_index": [0, 0, 1],
        "x_cm": [0.0, 13.2, 0.0],
        "product_id": ["P1", "P2", "P3"],
        "facings_wide": [2, 1, 3],
        "facings_high": [1, 1, 1],
        "facings_deep": [6, 5, 6],
        "effective_from": ["2024-01-01 08:00:00"] * 3,
    }
)
VISITS = pd.DataFrame(
    {
        "visit_id": ["V1", "V1", "V2", "V2"],
        "store_id": ["S1"] * 4,
        "display_id": ["D1"] * 4,
        "visited_at": [
            "2024-01-01 09:00:00",
            "2024-01-01 09:00:00",
            "2024-01-03 10:30:00",
            "2024-01-03 10:30:00",
        ],
        "product_id": ["P1", "P2", "P1", "P2"],
        "pre_count": [3.0, None, 5.0, 2.0],
        "post_count": [12.0, 5.0, 12.0, 5.0],
        "facings": [2, 1, 2, 1],
    }
)
EDGEREC3D = pd.DataFrame(
    {
        "store_id": ["X1", "X1", "X1"],
        "store_name": ["Store X"] * 3,
        "display_id": ["XD1"] * 3,
        "display_extra_info": ["cooler left"] * 3,
        "last_scanned_datetime": [
            "2023-05-01 10:00:00",
            "2023-05-01 10:00:00",
            "2023-05-02 11:00:00",
        ],
        "product_id": ["Q1", "Q2", "Q1"],
        "name": ["Cola", "Water", "Cola"],
        "previous_post_scan_num_facings": [3, 0, 3],
        "max_slots": [20, 20, 20],
        "payoff": [2.5, 0.0, 1.25],
    }
)

VALID = {
    "stores": STORES,
    "products": PRODUCTS,
    "displays": DISPLAYS,
    "shelves": SHELVES,
    "planograms": PLANOGRAMS,
    "visits": VISITS,
}


def write(folder: Path, name: str, frame: pd.DataFrame, *, index: bool = False) -> Path:
    """Write ``frame`` as ``folder/name.csv``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    frame.to_csv(path, index=index)
    return path


def write_valid(folder: Path) -> list[Path]:
    """The valid master data and own-layout visits, as CSV files."""
    return [write(folder, name, frame) for name, frame in VALID.items()]


def test_valid_files_are_stored_and_readable(repo: Repository, tmp_path: Path) -> None:
    paths = write_valid(tmp_path / "in")
    report = ingest_files(repo, paths)
    totals = report.totals()
    assert totals["visit_items"].new == 4
    assert totals["positions"].new == 3
    counts = repo.counts()
    assert (counts.stores, counts.products, counts.displays, counts.shelves) == (2, 3, 2, 3)
    assert (counts.planograms, counts.visits) == (1, 2)
    assert repo.get_product("P3").age_restricted is True
    display = repo.get_display("D1")
    assert [s.index for s in display.shelves] == [0, 1]
    plano = repo.latest_planogram("D1")
    assert plano.facings() == {"P1": 2, "P2": 1, "P3": 3}
    visits = repo.visits(display_id="D1")
    assert [v.visit_id for v in visits] == ["V1", "V2"]
    assert visits[0].items[1].pre_count is None


def test_reingest_is_a_no_op(repo: Repository, tmp_path: Path) -> None:
    paths = [*write_valid(tmp_path / "in"), write(tmp_path / "in", "edge", EDGEREC3D)]
    ingest_files(repo, paths)
    before = snapshot(repo.engine)
    report = ingest_files(repo, paths)
    after = snapshot(repo.engine)
    assert all(w.new == 0 and w.updated == 0 for w in report.totals().values())
    before.pop("ingest_runs")
    after.pop("ingest_runs")
    assert_same_snapshot(before, after)


def test_changed_master_data_is_updated_not_duplicated(repo: Repository, tmp_path: Path) -> None:
    ingest_files(repo, write_valid(tmp_path / "a"))
    changed = PRODUCTS.assign(price=[1.59, 1.99, 2.99])
    report = ingest_files(repo, [write(tmp_path / "b", "products", changed)])
    counts = report.totals()["products"]
    assert (counts.new, counts.updated, counts.unchanged) == (0, 1, 2)
    assert repo.get_product("P1").price == pytest.approx(1.59)
    assert repo.counts().products == 3


def test_edgerec3d_layout_with_leading_index_column(repo: Repository, tmp_path: Path) -> None:
    path = write(tmp_path, "logs", EDGEREC3D, index=True)
    assert pd.read_csv(path).columns[0] == "Unnamed: 0"
    report = ingest_files(repo, [path])
    assert report.files[0].layout.value == "edgerec3d"
    frame = repo.visits_frame(display_id="XD1")
    assert len(frame) == 3
    assert frame["payoff"].tolist() == [2.5, 0.0, 1.25]
    assert frame["prev_facings"].tolist() == [3, 0, 3]
    display = repo.get_display("XD1")
    assert (display.store_id, display.max_slots, display.name) == ("X1", 20, "cooler left")
    assert repo.get_store("X1").lat is None


def _bad_cases() -> list[tuple[str, str, pd.DataFrame, str]]:
    """(case, file name, frame, expected message regex)."""
    return [
        (
            "missing column",
            "visits",
            VISITS.drop(columns=["facings"]),
            r"visits\.csv, column 'facings': column 'facings' is required in a visits file",
        ),
        (
            "wrong type",
            "visits",
            VISITS.assign(pre_count=["3", "x7", "5", "2"]),
            r"visits\.csv, row 2, column 'pre_count': must be a number >= 0.*got 'x7'",
        ),
        (
            "zero dimension",
            "products",
            PRODUCTS.assign(width_cm=[6.6, 0.0, 6.6]),
            r"products\.csv, row 2, column 'width_cm': must be a number > 0.*got '0\.0'",
        ),
        (
            "negative dimension",
            "shelves",
            SHELVES.assign(depth_cm=[45.0, -3.0, 40.0]),
            r"shelves\.csv, row 2, column 'depth_cm': must be a number > 0.*got '-3\.0'",
        ),
        (
            "unknown store",
            "displays",
            DISPLAYS.assign(store_id=["S1", "S9"]),
            r"displays\.csv, row 2, column 'store_id': must refer to a known store.*got 'S9'",
        ),
        (
            "unknown display",
            "visits",
            VISITS.assign(display_id=["D1", "D1", "D7", "D7"]),
            r"visits\.csv, row 3, column 'display_id': must refer to a known display.*got 'D7'",
        ),
        (
            "unknown product",
            "planograms",
            PLANOGRAMS.assign(product_id=["P1", "P2", "P404"]),
            r"planograms\.csv, row 3, column 'product_id': must refer to a known product.*'P404'",
        ),
        (
            "duplicate key",
            "stores",
            pd.concat([STORES, STORES.iloc[[0]]]),
            r"stores\.csv, row 3, column 'store_id': \(store_id\) must be unique within the file; "
            r"got 'S1'",
        ),
        (
            "bad gtin",
            "products",
            PRODUCTS.assign(gtin=["036000291453", "", ""]),
            r"products\.csv, row 1, column 'gtin': must be 8, 12, 13 or 14 digits with a valid GS1 "
            r"check digit; got '036000291453'",
        ),
        (
            "gtin that lost its leading zeros",
            "products",
            PRODUCTS.assign(gtin=["36000291452", "", ""]),
            r"products\.csv, row 1, column 'gtin': must be 8, 12, 13 or 14 digits with a valid GS1 "
            r"check digit; it looks like a UPC-A whose leading zeros were lost \(read as a "
            r"number\?\): pad it with zeros to 12 digits; got '36000291452'",
        ),
        (
            "unparseable time",
            "visits",
            VISITS.assign(
                visited_at=[
                    "2024-01-01 09:00:00",
                    "2024-01-01 09:00:00",
                    "yesterday noon",
                    "yesterday noon",
                ]
            ),
            r"visits\.csv, row 3, column 'visited_at': must be a date-time.*got 'yesterday noon'",
        ),
        (
            "negative payoff",
            "edgerec3d",
            EDGEREC3D.assign(payoff=[2.5, -1.0, 1.0]),
            r"edgerec3d\.csv, row 2, column 'payoff': must be a number >= 0.*got '-1\.0'",
        ),
        (
            "display in another store",
            "visits",
            VISITS.assign(store_id=["S1", "S1", "S2", "S2"]),
            r"visits\.csv, row 3, column 'store_id': must be the store the display belongs to",
        ),
        (
            "shelves not rising",
            "shelves",
            SHELVES.assign(height_from_floor_cm=[20.0, 10.0, 80.0]),
            r"shelves\.csv, row 2, column 'height_from_floor_cm': must increase with shelf_index",
        ),
    ]


@pytest.mark.parametrize(
    ("case", "name", "frame", "message"), _bad_cases(), ids=[c[0] for c in _bad_cases()]
)
def test_bad_file_is_rejected_whole_and_database_unchanged(
    repo: Repository, tmp_path: Path, case: str, name: str, frame: pd.DataFrame, message: str
) -> None:
    # Something is stored already; a rejected ingest must leave it exactly as it was.
    ingest_files(repo, [write(tmp_path / "seed", "stores", STORES.iloc[[0]])])
    before = snapshot(repo.engine)
    files = {**VALID, "edgerec3d": EDGEREC3D}
    files[name] = frame
    paths = [write(tmp_path / "in", n, f) for n, f in files.items()]
    with pytest.raises(DataValidationError, match=message) as info:
        ingest_files(repo, paths)
    err = info.value
    assert err.file.endswith(f"{name}.csv")
    assert err.rule
    assert_same_snapshot(before, snapshot(repo.engine))


def test_error_lists_every_bad_row(repo: Repository, tmp_path: Path) -> None:
    bad = VISITS.assign(facings=[-1, 1, "two", 1])
    with pytest.raises(DataValidationError) as info:
        ingest_files(repo, [*write_valid(tmp_path / "ok"), write(tmp_path / "bad", "visits", bad)])
    rows = [(p.row, p.column) for p in info.value.problems]
    assert sorted(rows) == [(1, "facings"), (3, "facings")]


def test_unrecognised_file_names_the_closest_layout(repo: Repository, tmp_path: Path) -> None:
    path = write(tmp_path, "mystery", pd.DataFrame({"sku": ["a"], "qty": [1]}))
    with pytest.raises(DataValidationError, match=r"mystery\.csv, column '.*' is required"):
        ingest_files(repo, [path])


def test_parquet_files_are_accepted(repo: Repository, tmp_path: Path) -> None:
    folder = tmp_path / "pq"
    folder.mkdir()
    for name, frame in VALID.items():
        frame.to_parquet(folder / f"{name}.parquet")
    report = ingest_files(repo, [folder])
    assert report.totals()["visit_items"].new == 4
    assert repo.counts().positions == 3


def test_parquet_gtins_stored_as_numbers_get_their_leading_zeros_back(
    repo: Repository, tmp_path: Path
) -> None:
    folder = tmp_path / "pq"
    folder.mkdir()
    # int64 as an ERP export writes them: UPC-A 036000291452 and 012345678905 and an EAN-13;
    # float64 where a missing GTIN forces NaN, with a GTIN-8 that has a leading zero
    numbers = PRODUCTS.assign(
        product_id=["P1", "P2", "P3"], gtin=[36000291452, 4006381333931, 12345678905]
    )
    numbers.to_parquet(folder / "products.parquet")
    with_gap = PRODUCTS.iloc[:2].assign(product_id=["P4", "P5"], gtin=[np.nan, 1234565.0])
    with_gap.to_parquet(folder / "more_products.parquet")
    ingest_files(repo, [folder])
    got = {p: repo.get_product(p).gtin for p in ("P1", "P2", "P3", "P4", "P5")}
    assert got == {
        "P1": "036000291452",
        "P2": "4006381333931",
        "P3": "012345678905",
        "P4": None,
        "P5": "01234565",
    }
    # no GTIN: a fraction, 0 (an integer column's "none"), a float32 (too narrow for 12
    # digits: its number is not the one written); refused with the value, nothing stored
    for case, column in [
        ("fraction", pd.Series([36000291452.5])),
        ("zero", pd.Series([0], dtype="int64")),
        ("float32", pd.Series([36000291452], dtype="float32")),
    ]:
        bad = PRODUCTS.iloc[:1].assign(product_id=["P6"], gtin=column)
        bad.to_parquet(folder / f"bad_{case}.parquet")
        with pytest.raises(DataValidationError, match=r"column 'gtin': must be 8, 12, 13 or 14"):
            ingest_files(repo, [folder / f"bad_{case}.parquet"])
    assert repo.counts().products == 5


# ---------------------------------------------------------------- stored data is never lost
def test_file_without_optional_columns_keeps_stored_values(
    repo: Repository, tmp_path: Path
) -> None:
    ingest_files(repo, write_valid(tmp_path / "a"))
    renamed = PRODUCTS[["product_id", "name"]].assign(name=["Fizz Cola", "Aqua 1L", "Hop"])
    report = ingest_files(repo, [write(tmp_path / "b", "products", renamed)])
    assert report.totals()["products"].updated == 2
    p1 = repo.get_product("P1")
    assert p1.name == "Fizz Cola"
    assert (p1.width_cm, p1.price, p1.gtin) == (6.6, 1.49, "036000291452")
    assert repo.get_product("P3").age_restricted is True
    ingest_files(repo, [write(tmp_path / "c", "stores", STORES[["store_id", "name"]])])
    assert repo.get_store("S1").lat == pytest.approx(32.78)


def test_changed_planogram_version_is_refused(repo: Repository, tmp_path: Path) -> None:
    ingest_files(repo, write_valid(tmp_path / "a"))
    extra = pd.concat([PLANOGRAMS, PLANOGRAMS.iloc[[2]].assign(x_cm=30.0)], ignore_index=True)
    before = snapshot(repo.engine)
    with pytest.raises(
        DataValidationError,
        match=r"planograms\.csv, row 1, column 'version': "
        r"planogram version 1 of display D1 is already stored with other "
        r"positions; store a change as a new version",
    ):
        ingest_files(repo, [write(tmp_path / "b", "planograms", extra)])
    assert_same_snapshot(before, snapshot(repo.engine))
    new_version = extra.assign(version=2)
    ingest_files(repo, [write(tmp_path / "c", "planograms", new_version)])
    assert len(repo.latest_planogram("D1").positions) == 4


def test_changed_visit_is_refused_not_silently_ignored(repo: Repository, tmp_path: Path) -> None:
    ingest_files(repo, write_valid(tmp_path / "a"))
    before = snapshot(repo.engine)
    corrected = VISITS.assign(post_count=[12.0, 5.0, 13.0, 5.0])
    with pytest.raises(
        DataValidationError,
        match=r"visits\.csv, row 3, column 'post_count': "
        r"must equal the stored visit_items row with this key \(stored: 12\.0\)",
    ):
        ingest_files(repo, [write(tmp_path / "b", "visits", corrected)])
    moved = VISITS.assign(visited_at=["2024-01-01 09:00:00"] * 2 + ["2024-01-04 10:30:00"] * 2)
    with pytest.raises(DataValidationError, match=r"row 3, column 'visited_at'"):
        ingest_files(repo, [write(tmp_path / "c", "visits", moved)])
    assert_same_snapshot(before, snapshot(repo.engine))


def test_display_with_visits_cannot_move_store(repo: Repository, tmp_path: Path) -> None:
    ingest_files(repo, write_valid(tmp_path / "a"))
    moved = DISPLAYS.assign(store_id=["S2", "S2"])
    with pytest.raises(
        DataValidationError,
        match=r"displays\.csv, row 1, column 'store_id': "
        r"must stay the display's stored store",
    ):
        ingest_files(repo, [write(tmp_path / "b", "displays", moved)])


def test_same_key_in_two_files_of_one_ingest_is_refused(repo: Repository, tmp_path: Path) -> None:
    a = write(tmp_path / "a", "products", PRODUCTS)
    b = write(tmp_path / "b", "products", PRODUCTS.iloc[[1]].assign(price=9.99))
    with pytest.raises(
        DataValidationError,
        match=r"products\.csv, row 1, column 'product_id': "
        r"\(product_id\) must come from one file per ingest; it is also in",
    ):
        ingest_files(repo, [a, b])
    assert repo.counts().products == 0


def test_failure_while_writing_rolls_everything_back(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_files(repo, [write(tmp_path / "seed", "stores", STORES.iloc[[0]])])
    before = snapshot(repo.engine)
    import shelfwise.storage.ingest as ingest_module

    calls = {"n": 0}
    real = ingest_module.write_frame

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "write_frame", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_files(repo, write_valid(tmp_path / "in"))
    assert calls["n"] == 4
    assert_same_snapshot(before, snapshot(repo.engine))


# ---------------------------------------------------------------- awkward cells
def test_time_zones_become_utc_in_csv_and_parquet_alike(repo: Repository, tmp_path: Path) -> None:
    ingest_files(repo, [write(tmp_path / "m", n, f) for n, f in VALID.items() if n != "visits"])
    aware = VISITS.assign(
        visited_at=["2024-01-01 09:00:00-06:00"] * 2 + ["2024-01-03 10:30:00"] * 2
    )
    ingest_files(repo, [write(tmp_path / "csv", "visits", aware)])
    got = repo.visits_frame(display_id="D1")["visited_at"].drop_duplicates().tolist()
    assert got == [pd.Timestamp("2024-01-01 15:00:00"), pd.Timestamp("2024-01-03 10:30:00")]
    folder = tmp_path / "pq"
    folder.mkdir()
    typed = VISITS.assign(
        visit_id=["W1", "W1", "W2", "W2"],
        visited_at=pd.to_datetime(["2024-02-01 09:00"] * 2 + ["2024-02-03 10:30"] * 2).tz_localize(
            "America/Chicago"
        ),
    )
    typed.to_parquet(folder / "visits.parquet")
    ingest_files(repo, [folder / "visits.parquet"])
    stored = repo.visits_frame(display_id="D1")
    assert stored.loc[stored["visit_id"] == "W1", "visited_at"].iloc[0] == pd.Timestamp(
        "2024-02-01 15:00:00"
    )


@pytest.mark.parametrize(
    ("name", "frame", "message"),
    [
        (
            "displays",
            DISPLAYS.assign(max_slots=[20, 1e30]),
            r"row 2, column 'max_slots': must be a whole number of at most 2,147,483,647",
        ),
        (
            "products",
            PRODUCTS.assign(gtin=["03600029145²", "", ""]),
            r"row 1, column 'gtin': must be 8, 12, 13 or 14 digits",
        ),
        (
            "stores",
            STORES.assign(store_id=["S" * 200, "S2"]),
            r"row 1, column 'store_id': must be at most 128 characters long",
        ),
        (
            "visits",
            VISITS.assign(visited_at=["today"] * 2 + ["2024-01-03 10:30:00"] * 2),
            r"row 1, column 'visited_at': must be a date-time",
        ),
        (
            "edgerec3d",
            EDGEREC3D.assign(name=["Cola", "Water", "Cola Zero"]),
            r"row 3, column 'name': must be the same on every row of one product_id",
        ),
    ],
    ids=["huge-int", "unicode-digit-gtin", "long-id", "word-as-date", "renamed-product"],
)
def test_awkward_cells_get_clear_errors(
    repo: Repository, tmp_path: Path, name: str, frame: pd.DataFrame, message: str
) -> None:
    files = {**VALID, "edgerec3d": EDGEREC3D, name: frame}
    with pytest.raises(DataValidationError, match=message):
        ingest_files(repo, [write(tmp_path, n, f) for n, f in files.items()])
    assert repo.counts().stores == 0


def test_subsecond_scans_are_separate_visits(repo: Repository, tmp_path: Path) -> None:
    log = EDGEREC3D.assign(
        last_scanned_datetime=[
            "2023-05-01 10:00:00.4",
            "2023-05-01 10:00:00.4",
            "2023-05-01 10:00:00.8",
        ]
    )
    ingest_files(repo, [write(tmp_path, "logs", log)])
    ids = repo.visits_frame(display_id="XD1")["visit_id"].drop_duplicates().tolist()
    assert ids == ["XD1@2023-05-01T10:00:00.400000", "XD1@2023-05-01T10:00:00.800000"]


def test_a_product_may_be_called_none(repo: Repository, tmp_path: Path) -> None:
    products = PRODUCTS.assign(name=["None", "Aqua 1L", "Hop"], price=["1.49", "NaN", "2.99"])
    ingest_files(repo, [write(tmp_path, "products", products)])
    assert repo.get_product("P1").name == "None"
    assert repo.get_product("P2").price is None


def test_problem_cap_says_at_least(repo: Repository, tmp_path: Path) -> None:
    many = pd.concat([VISITS] * 20, ignore_index=True).assign(facings=-1)
    with pytest.raises(DataValidationError) as info:
        ingest_files(repo, [*write_valid(tmp_path / "ok"), write(tmp_path / "b", "visits", many)])
    assert info.value.truncated
    assert len(info.value.problems) == 50
