"""The rulebook: declarative hard and soft planogram rules, from YAML/JSON or Python.

A rulebook is a named list of rules. Each rule has an ``id`` (unique in the rulebook, used in
violations), a ``type`` (which check it is) and its parameters. Hard rules must hold; soft
rules carry a ``weight`` and add a penalty. Physical rules act on every display; the others can
be limited to some display kinds with ``display_kinds``.

Example (YAML)::

    name: my-chain
    rules:
      - {id: shelf-width, type: shelf_width, gap_cm: 0.5}
      - {id: age-zone, type: regulatory_zone, flag: age_restricted,
         min_height_from_floor_cm: 100, forbidden_display_kinds: [checkout]}
      - {id: acme-share, type: brand_share, brand: Acme, min_share: 0.2, max_share: 0.5}
      - {id: eye-level, type: eye_level, weight: 2.0}

The constraint families follow the planogram-diffusion paper (shelf weight, category grouping,
regulatory placement, brand agreements) and EdgeRec3D §3.4 (physical fit by height).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shelfwise.domain import DisplayKind
from shelfwise.exceptions import DataProblem, DataValidationError
from shelfwise.planogram.violations import Severity


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    display_kinds: tuple[DisplayKind, ...] | None = None
    """Apply only to these display kinds (``None``: every display)."""

    @property
    def severity(self) -> Severity:
        """Hard unless the rule type is soft."""
        return Severity.HARD

    def applies_to(self, kind: DisplayKind) -> bool:
        """Whether the rule acts on a display of ``kind``."""
        return self.display_kinds is None or kind in self.display_kinds


class _SoftRule(_Rule):
    weight: float = Field(default=1.0, ge=0)

    @property
    def severity(self) -> Severity:
        return Severity.SOFT


# ---------------------------------------------------------------- hard rules
class ShelfWidth(_Rule):
    """Per shelf, facings_wide x width summed, plus ``gap_cm`` between blocks, within the width."""

    type: Literal["shelf_width"] = "shelf_width"
    gap_cm: float = Field(default=0.0, ge=0)


class HeightClearance(_Rule):
    """facings_high x product height within the shelf's clearance."""

    type: Literal["height_clearance"] = "height_clearance"


class Depth(_Rule):
    """facings_deep x product depth within the shelf's depth."""

    type: Literal["depth"] = "depth"


class ShelfLoad(_Rule):
    """Units x unit weight on a shelf within its max load."""

    type: Literal["shelf_load"] = "shelf_load"


class NoOverlap(_Rule):
    """Position blocks on a shelf do not overlap (x to x + facings_wide x width)."""

    type: Literal["no_overlap"] = "no_overlap"


class DisplayCapacity(_Rule):
    """Total facings wide on the display within its ``max_slots``."""

    type: Literal["display_capacity"] = "display_capacity"


class FacingsRange(_Rule):
    """Total facings wide per product within [min, max]; per-product overrides."""

    type: Literal["facings_range"] = "facings_range"
    min_facings: int = Field(default=1, ge=0)
    max_facings: int | None = Field(default=None, ge=1)
    per_product: dict[str, tuple[int, int | None]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ordered(self) -> FacingsRange:
        if self.max_facings is not None and self.max_facings < self.min_facings:
            raise ValueError(
                f"max_facings must be >= min_facings; got {self.max_facings} < {self.min_facings}"
            )
        for pid, (lo, hi) in self.per_product.items():
            if lo < 0:
                raise ValueError(f"per_product minimum must be >= 0 for product {pid}; got {lo}")
            if hi is not None and hi < max(lo, 1):
                raise ValueError(
                    f"per_product maximum must be >= 1 and >= its minimum for product {pid}; "
                    f"got [{lo}, {hi}]"
                )
        return self


class MandatoryProducts(_Rule):
    """These products must be on the display."""

    type: Literal["mandatory_products"] = "mandatory_products"
    product_ids: tuple[str, ...] = ()


class RegulatoryZone(_Rule):
    """Products with a flag (e.g. age_restricted) only at or above a height; never on some kinds."""

    type: Literal["regulatory_zone"] = "regulatory_zone"
    flag: Literal["age_restricted"] = "age_restricted"
    min_height_from_floor_cm: float = Field(default=100.0, ge=0)
    forbidden_display_kinds: tuple[DisplayKind, ...] = (DisplayKind.CHECKOUT,)


class CategoryBlocking(_Rule):
    """A group's positions are contiguous on each shelf; optionally one rectangle across shelves."""

    type: Literal["category_blocking"] = "category_blocking"
    level: Literal["category", "subcategory", "brand"] = "subcategory"
    across_shelves: bool = False


class BrandShare(_Rule):
    """A brand's share of the display's linear space (facings wide x width) within bounds."""

    type: Literal["brand_share"] = "brand_share"
    brand: str = Field(min_length=1)
    min_share: float = Field(default=0.0, ge=0, le=1)
    max_share: float = Field(default=1.0, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> BrandShare:
        if self.max_share < self.min_share:
            raise ValueError(
                f"max_share must be >= min_share; got {self.max_share} < {self.min_share}"
            )
        return self


# ---------------------------------------------------------------- soft rules
class EyeLevel(_SoftRule):
    """The highest-margin products sit on shelves between ``min_cm`` and ``max_cm``."""

    type: Literal["eye_level"] = "eye_level"
    min_cm: float = Field(default=110.0, ge=0)
    max_cm: float = Field(default=165.0, ge=0)
    top_fraction: float = Field(default=0.25, gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> EyeLevel:
        if self.max_cm < self.min_cm:
            raise ValueError(f"max_cm must be >= min_cm; got {self.max_cm} < {self.min_cm}")
        return self


class VerticalBrandBlocks(_SoftRule):
    """A brand on several shelves sits in overlapping horizontal spans (a vertical block)."""

    type: Literal["vertical_brand_blocks"] = "vertical_brand_blocks"


class Adjacency(_SoftRule):
    """Pairs of products (or categories) that should sit next to each other on a shelf."""

    type: Literal["adjacency"] = "adjacency"
    pairs: tuple[tuple[str, str], ...] = ()


class BalancedDaysOfSupply(_SoftRule):
    """Days of supply (capacity / daily unit sales) similar across products (needs sales)."""

    type: Literal["balanced_days_of_supply"] = "balanced_days_of_supply"
    target_days: float | None = Field(default=None, gt=0)


Rule = Annotated[
    ShelfWidth
    | HeightClearance
    | Depth
    | ShelfLoad
    | NoOverlap
    | DisplayCapacity
    | FacingsRange
    | MandatoryProducts
    | RegulatoryZone
    | CategoryBlocking
    | BrandShare
    | EyeLevel
    | VerticalBrandBlocks
    | Adjacency
    | BalancedDaysOfSupply,
    Field(discriminator="type"),
]

HARD_RULE_TYPES: tuple[str, ...] = (
    "shelf_width",
    "height_clearance",
    "depth",
    "shelf_load",
    "no_overlap",
    "display_capacity",
    "facings_range",
    "mandatory_products",
    "regulatory_zone",
    "category_blocking",
    "brand_share",
)


class Rulebook(BaseModel):
    """A named, ordered set of rules with unique ids."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "custom"
    rules: tuple[Rule, ...] = ()

    @model_validator(mode="after")
    def _unique_ids(self) -> Rulebook:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule ids must be unique; got {rule.id!r} twice")
            seen.add(rule.id)
        return self

    def of_type(self, rule_type: str) -> tuple[Rule, ...]:
        """The rules of one type, in order."""
        return tuple(r for r in self.rules if r.type == rule_type)

    def to_yaml(self) -> str:
        """The rulebook as YAML (round-trips through :func:`load_rulebook`)."""
        return yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=False), sort_keys=False)

    @classmethod
    def from_dict(cls, data: object, *, source: str = "<dict>") -> Rulebook:
        """Validate a parsed YAML/JSON document; errors name the source, rule and field.

        A problem inside a rule names the rule by its id and position, e.g. ``rule
        'eye-level' (rules.2): max_cm must be >= min_cm; ...``, with the full location
        (``rules.2.eye_level.max_cm``) as the problem's column.
        """
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                msg = err["msg"].removeprefix("Value error, ")
                rule = _rule_label(data, err["loc"])
                problems.append(
                    DataProblem(
                        source,
                        None,
                        loc or None,
                        err.get("input"),
                        f"{rule}: {msg}" if rule else msg,
                    )
                )
            raise DataValidationError(problems) from exc


def _rule_label(data: object, loc: tuple[int | str, ...]) -> str | None:
    """``"rule 'eye-level' (rules.2)"`` for an error located in rule 2, else ``None``."""
    if len(loc) < 2 or loc[0] != "rules" or not isinstance(loc[1], int):
        return None
    rules = data.get("rules") if isinstance(data, dict) else None
    entry = rules[loc[1]] if isinstance(rules, list | tuple) and loc[1] < len(rules) else None
    rule_id = entry.get("id") if isinstance(entry, dict) else getattr(entry, "id", None)
    where = f"rules.{loc[1]}"
    return f"rule {rule_id!r} ({where})" if isinstance(rule_id, str) else f"rule at {where}"


def load_rulebook(path: str | Path) -> Rulebook:
    """Load a rulebook from a ``.yaml``/``.yml`` or ``.json`` file.

    Raises
    ------
    DataValidationError
        Naming the file, the rule (by position and field) and the rule broken.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, json.JSONDecodeError, yaml.YAMLError) as exc:
        raise DataValidationError(
            [
                DataProblem(
                    str(p), None, None, type(exc).__name__, f"must be readable YAML/JSON: {exc}"
                )
            ]
        ) from exc
    return Rulebook.from_dict(data, source=str(p))


def default_rulebook() -> Rulebook:
    """The default rules: every physical rule, regulatory zones, blocking, soft placement."""
    return Rulebook(
        name="default",
        rules=(
            ShelfWidth(id="shelf-width", gap_cm=0.0),
            HeightClearance(id="height-clearance"),
            Depth(id="depth"),
            ShelfLoad(id="shelf-load"),
            NoOverlap(id="no-overlap"),
            DisplayCapacity(id="display-capacity"),
            FacingsRange(id="facings-range", min_facings=1, max_facings=None),
            RegulatoryZone(id="age-restricted-zone"),
            CategoryBlocking(id="subcategory-blocks", level="subcategory"),
            EyeLevel(id="eye-level-margin", weight=1.0),
            VerticalBrandBlocks(id="vertical-brand-blocks", weight=0.5),
            BalancedDaysOfSupply(id="balanced-days-of-supply", weight=0.5),
        ),
    )
