"""Recommendation runs are stored whole (items and layout) or not at all, on every backend."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine

from shelfwise.domain import (
    Display,
    DisplayKind,
    DisplayRecommendation,
    Planogram,
    Position,
    Product,
    RecommendationRun,
    RecommendedItem,
    Shelf,
    Store,
)
from shelfwise.exceptions import InvalidParameterError, NotFoundError, StorageError
from shelfwise.storage import Repository


def _repo(engine: Engine) -> Repository:
    repo = Repository(engine)
    repo.add_stores([Store("S1", "Store 1"), Store("S2", "Store 2")])
    repo.add_products([Product(f"P{i}", f"Product {i}", width_cm=8.0) for i in range(1, 4)])
    shelf = Shelf(0, 76.0, 30.0, 45.0, 40.0, 20.0)
    repo.add_displays(
        [
            Display("D1", "S1", DisplayKind.COOLER, 10, (shelf,)),
            Display("D2", "S2", DisplayKind.COOLER, 10, (shelf,)),
        ]
    )
    return repo


def _run(product: str = "P3", store: str = "S1") -> RecommendationRun:
    items = (
        RecommendedItem("P1", 3, 4, "decay", expected_payoff=1.5, pepf=0.9),
        RecommendedItem("P2", 0, 2, "drop"),
        RecommendedItem(product, 2, 0, "add", expected_payoff=2.0, pepf=1.1),
    )
    layout = Planogram(
        "D1",
        1,
        (Position(0, 0.0, "P1", 3), Position(0, 24.0, product, 2)),
        provenance="solver",
    )
    rec = DisplayRecommendation("D1", store, items, planogram=layout, layout_note="solved")
    return RecommendationRun("EdgeRec3D", datetime(2026, 11, 23, 12), {"lam": "1.0"}, (rec,))


def test_run_round_trips(engine: Engine) -> None:
    repo = _repo(engine)
    first = repo.add_recommendation_run(_run())
    second = repo.add_recommendation_run(_run())
    assert second == first + 1
    frame = repo.recommendations_frame()
    assert set(frame["run_id"]) == {second}
    got = dict(zip(frame["product_id"], frame["facings"], strict=True))
    assert got == {"P1": 3, "P2": 0, "P3": 2}
    assert frame.set_index("product_id").loc["P2", "action"] == "drop"
    assert frame.set_index("product_id").loc["P3", "pepf"] == pytest.approx(1.1)
    plan = repo.recommended_planogram("D1", first)
    assert dict(plan.facings()) == {"P1": 3, "P3": 2}
    assert plan.provenance == f"recommendation:{first}"
    runs = repo.recommendation_runs()
    assert list(runs["run_id"]) == [first, second]
    assert runs["parameters"].iloc[0] == '{"lam": "1.0"}'


def test_failed_run_stores_nothing(engine: Engine) -> None:
    repo = _repo(engine)
    with pytest.raises(NotFoundError, match=r"product_id 'P9'.*display 'D1'"):
        repo.add_recommendation_run(_run(product="P9"))
    assert repo.recommendation_runs().empty
    with pytest.raises(StorageError, match=r"display 'D1' names store 'S2'.*stored at 'S1'"):
        repo.add_recommendation_run(_run(store="S2"))
    assert repo.recommendation_runs().empty


def test_missing_runs_are_clear_errors(engine: Engine) -> None:
    repo = _repo(engine)
    with pytest.raises(NotFoundError, match="shelfwise recommend"):
        repo.recommendations_frame()
    run_id = repo.add_recommendation_run(_run())
    with pytest.raises(NotFoundError, match="run_id 99"):
        repo.recommendations_frame(99)
    with pytest.raises(NotFoundError, match="D2"):
        repo.recommended_planogram("D2", run_id)


def test_records_refuse_bad_values() -> None:
    with pytest.raises(InvalidParameterError, match="action must be one of"):
        RecommendedItem("P1", 1, 0, "swap")
    with pytest.raises(InvalidParameterError, match="facings must be >= 0"):
        RecommendedItem("P1", -1, 0, "keep")
    item = RecommendedItem("P1", 1, 0, "add")
    with pytest.raises(InvalidParameterError, match="appears twice"):
        DisplayRecommendation("D1", "S1", (item, item))
