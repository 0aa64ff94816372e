"""Rulebooks load from YAML/JSON, round-trip, and bad files get errors naming file, rule, field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from shelfwise.domain import DisplayKind
from shelfwise.exceptions import DataValidationError
from shelfwise.planogram.rules import (
    HARD_RULE_TYPES,
    BrandShare,
    EyeLevel,
    FacingsRange,
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
            r"rules\.yaml, column 'rules\.0': rule 'x' \(rules\.0\): Input tag 'nope' found using",
        ),
        (
            "rules:\n  - {id: x, type: brand_share, brand: A, min_share: 0.6, max_share: 0.2}\n",
            r"column 'rules\.0\.brand_share': rule 'x' \(rules\.0\): "
            r"max_share must be >= min_share",
        ),
        (
            "rules:\n  - {id: x, type: shelf_width, gap_cm: -1}\n",
            r"'rules\.0\.shelf_width\.gap_cm': rule 'x' \(rules\.0\): Input should be greater than",
        ),
        (
            "rules:\n  - {id: x, type: depth}\n  - {id: x, type: shelf_load}\n",
            r"rule ids must be unique; got 'x' twice",
        ),
        (
            "rules:\n  - {id: x, type: depth, colour: red}\n",
            r"rules\.0\.depth\.colour': rule 'x' \(rules\.0\): Extra inputs are not permitted",
        ),
        ("rules: [unclosed\n", r"rules\.yaml: must be readable YAML/JSON"),
        (
            "rules:\n  - {id: w, type: depth}\n"
            "  - {id: eye-level, type: eye_level, min_cm: 170, max_cm: 110}\n",
            r"'rules\.1\.eye_level': rule 'eye-level' \(rules\.1\): max_cm must be >= min_cm; "
            r"got 110\.0 < 170\.0",
        ),
        (
            "rules:\n  - {id: fr, type: facings_range, per_product: {P1: [4, 2]}}\n",
            r"rule 'fr' \(rules\.0\): per_product maximum must be >= 1 and >= its minimum "
            r"for product P1; got \[4, 2\]",
        ),
        (
            "rules:\n  - {id: fr, type: facings_range, per_product: {P1: [-2, 3]}}\n",
            r"rule 'fr' \(rules\.0\): per_product minimum must be >= 0 for product P1; got -2",
        ),
        (
            "rules:\n  - {id: fr, type: facings_range, per_product: {P1: [0, 0]}}\n",
            r"per_product maximum must be >= 1",
        ),
        (
            "rules:\n  - {type: depth}\n",
            r"column 'rules\.0\.depth\.id': rule at rules\.0: Field required",
        ),
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


def test_consistent_rules_built_in_python() -> None:
    with pytest.raises(ValidationError, match="max_cm must be >= min_cm"):
        EyeLevel(id="e", min_cm=150.0, max_cm=120.0)
    with pytest.raises(ValidationError, match="per_product minimum must be >= 0"):
        FacingsRange(id="f", per_product={"P1": (-1, 3)})
    assert EyeLevel(id="e", min_cm=120.0, max_cm=120.0).max_cm == 120.0
    ok = FacingsRange(id="f", per_product={"P1": (0, None), "P2": (2, 2)})
    assert ok.per_product["P2"] == (2, 2)
