"""Rulebooks load from YAML/JSON, round-trip, and bad files get errors naming file, rule, field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shelfwise.domain import DisplayKind
from shelfwise.exceptions import DataValidationError
from shelfwise.planogram.rules import (
    HARD_RULE_TYPES,
    BrandShare,
    Rulebook,
    ShelfWidth,
    default_rulebook,
    load_rulebook,
)
from shelfwise.planogram.violations import Severity


def test_default_rulebook_round_trips_through_yaml_and_json(tmp_path: Path) -> None:
    book = default_rulebook()
    path = tmp_path / "rules.yaml"
    path.write_text(book.to_yaml())
    assert load_rulebook(path) == book
    jpath = tmp_path / "rules.json"
    jpath.write_text(json.dumps(book.model_dump(mode="json")))
    assert load_rulebook(jpath) == book


def test_rulebook_built_in_python_and_its_helpers() -> None:
    book = Rulebook(
        name="chain",
        rules=(
            ShelfWidth(id="w", gap_cm=0.5),
            BrandShare(
                id="acme",
                brand="Acme",
                min_share=0.2,
                max_share=0.5,
                display_kinds=(DisplayKind.COOLER,),
            ),
        ),
    )
    assert [r.id for r in book.of_type("brand_share")] == ["acme"]
    acme = book.rules[1]
    assert acme.applies_to(DisplayKind.COOLER) and not acme.applies_to(DisplayKind.CHECKOUT)
    assert acme.severity == Severity.HARD
    soft = [r for r in default_rulebook().rules if r.type not in HARD_RULE_TYPES]
    assert soft and all(r.severity == Severity.SOFT for r in soft)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "rules:\n  - {id: x, type: nope}\n",
            r"rules\.yaml, column 'rules\.0': Input tag 'nope' found using 'type' does not match",
        ),
        (
            "rules:\n  - {id: x, type: brand_share, brand: A, min_share: 0.6, max_share: 0.2}\n",
            r"rules\.yaml, column 'rules\.0\.brand_share': .*max_share must be >= min_share",
        ),
        (
            "rules:\n  - {id: x, type: shelf_width, gap_cm: -1}\n",
            r"rules\.yaml, column 'rules\.0\.shelf_width\.gap_cm': Input should be greater than",
        ),
        (
            "rules:\n  - {id: x, type: depth}\n  - {id: x, type: shelf_load}\n",
            r"rule ids must be unique; got 'x' twice",
        ),
        (
            "rules:\n  - {id: x, type: depth, colour: red}\n",
            r"rules\.0\.depth\.colour': Extra inputs are not permitted",
        ),
        ("rules: [unclosed\n", r"rules\.yaml: must be readable YAML/JSON"),
    ],
)
def test_bad_rulebook_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(DataValidationError, match=message):
        load_rulebook(path)


def test_missing_rulebook_file(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match=r"nothere\.yaml: must be readable"):
        load_rulebook(tmp_path / "nothere.yaml")
