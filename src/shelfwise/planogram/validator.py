"""The independent planogram validator: planogram + display + catalog + rulebook -> violations.

The validator knows nothing about how a planogram was made: the layout solver, repair, the
assortment recommender and the diffusion generator are all judged by :func:`validate`. Each
rule type has one checker (``shelfwise.planogram._checks.CHECKERS``); the exact definition of
every rule is in its checker's docstring and in :func:`validate`.

Examples
--------
>>> from shelfwise.domain import Display, DisplayKind, Planogram, Position, Product, Shelf
>>> shelf = Shelf(0, width_cm=60, clearance_cm=30, depth_cm=40, max_load_kg=50,
...               height_from_floor_cm=20)
>>> display = Display("D1", "S1", DisplayKind.SHELF, max_slots=10, shelves=(shelf,))
>>> cola = Product("P1", "Cola", width_cm=7, height_cm=25, depth_cm=7, weight_kg=0.4)
>>> plan = Planogram("D1", 1, (Position(0, 55.0, "P1", facings_wide=2),))
>>> report = validate(plan, display, {"P1": cola})
>>> [(v.rule_id, v.measured, v.limit) for v in report.hard]
[('shelf-width', 69.0, 60.0)]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from shelfwise.domain import Display, Planogram, Product
from shelfwise.exceptions import InvalidParameterError
from shelfwise.planogram._checks import CHECKERS, MISSING_DATA, Block, CheckContext
from shelfwise.planogram.rules import Rulebook, default_rulebook
from shelfwise.planogram.violations import Severity, ValidationReport, Violation

__all__ = [
    "CHECKERS",
    "MISSING_DATA",
    "UNKNOWN_PRODUCT",
    "UNKNOWN_SHELF",
    "RuleTally",
    "ValidationSummary",
    "summarize",
    "validate",
    "violations_frame",
]

UNKNOWN_PRODUCT = "unknown_product"
"""``rule_type`` (and ``rule_id``) of a position whose product is not in the catalog."""
UNKNOWN_SHELF = "unknown_shelf"
"""``rule_type`` (and ``rule_id``) of a position on a shelf index the display lacks."""


def validate(
    planogram: Planogram,
    display: Display,
    catalog: Mapping[str, Product],
    rulebook: Rulebook | None = None,
    *,
    unit_sales_per_day: Mapping[str, float] | None = None,
) -> ValidationReport:
    """Check a planogram against every rule of a rulebook that acts on the display's kind.

    Besides the rulebook's rules, three input problems are reported as hard violations:

    * ``unknown_product``: a position's product is not in ``catalog`` (one per position); such
      positions are then ignored by every rule.
    * ``unknown_shelf``: a position's ``shelf_index`` is not a shelf of the display (one per
      position; measured: the index, limit: the highest index). Shelf rules ignore such
      positions; display rules (capacity, facings range, mandatory products, brand share,
      forbidden display kinds, days of supply) still count them.
    * ``missing_data`` (with the id of the rule concerned): a product lacks a field a hard rule
      needs (``width_cm`` for shelf_width, no_overlap, brand_share and category_blocking across
      shelves; ``height_cm`` for height_clearance; ``depth_cm`` for depth; ``weight_kg`` for
      shelf_load). One per rule and product; the message names the field.

    Rules with ``display_kinds`` act only on displays of those kinds. Violations come in this
    order: input problems, then rule by rule in rulebook order.

    Parameters
    ----------
    planogram : Planogram
        The planogram to check; its ``display_id`` must be ``display``'s.
    display : Display
        The display with its shelf geometry.
    catalog : Mapping[str, Product]
        Products by product id.
    rulebook : Rulebook, optional
        Rules to apply; :func:`~shelfwise.planogram.rules.default_rulebook` when ``None``.
    unit_sales_per_day : Mapping[str, float], optional
        Units sold per day of each product on this display. Only ``balanced_days_of_supply``
        uses it, and that rule is skipped silently when it is not given.

    Returns
    -------
    ValidationReport
        Every violation; ``is_valid`` is true when no hard rule is broken.

    Raises
    ------
    InvalidParameterError
        If the planogram is for another display or a daily sales figure is negative or not
        finite.
    """
    if planogram.display_id != display.display_id:
        raise InvalidParameterError(
            f"planogram.display_id must match display.display_id; got "
            f"{planogram.display_id!r} for display {display.display_id!r}"
        )
    if unit_sales_per_day is not None:
        for pid, value in unit_sales_per_day.items():
            if not (math.isfinite(value) and value >= 0):
                raise InvalidParameterError(
                    f"unit_sales_per_day must be finite and >= 0 for product {pid}; got {value!r}"
                )
    rules = (rulebook if rulebook is not None else default_rulebook()).rules
    n_shelves = len(display.shelves)
    problems: list[Violation] = []
    blocks: list[Block] = []
    for i, pos in enumerate(planogram.positions):
        on_shelf = pos.shelf_index < n_shelves
        if not on_shelf:
            top = f"0..{n_shelves - 1}" if n_shelves else "none"
            problems.append(
                Violation(
                    UNKNOWN_SHELF,
                    UNKNOWN_SHELF,
                    Severity.HARD,
                    f"product {pos.product_id} is on shelf {pos.shelf_index}, which display "
                    f"{display.display_id} does not have (shelves: {top})",
                    shelf_index=pos.shelf_index,
                    product_ids=(pos.product_id,),
                    measured=float(pos.shelf_index),
                    limit=float(n_shelves - 1),
                )
            )
        product = catalog.get(pos.product_id)
        if product is None:
            problems.append(
                Violation(
                    UNKNOWN_PRODUCT,
                    UNKNOWN_PRODUCT,
                    Severity.HARD,
                    f"product {pos.product_id} on shelf {pos.shelf_index} is not in the catalog",
                    shelf_index=pos.shelf_index,
                    product_ids=(pos.product_id,),
                )
            )
            continue
        shelf = display.shelves[pos.shelf_index] if on_shelf else None
        blocks.append(Block(i, pos, product, shelf))
    by_shelf: dict[int, list[Block]] = {}
    for b in sorted((b for b in blocks if b.shelf is not None), key=lambda b: (b.x0, b.index)):
        by_shelf.setdefault(b.position.shelf_index, []).append(b)
    active = [r for r in rules if r.applies_to(display.kind)]
    mandatory: dict[str, None] = {}
    for r in active:
        if r.type == "mandatory_products":
            mandatory.update(dict.fromkeys(r.product_ids))
    ctx = CheckContext(
        planogram=planogram,
        display=display,
        catalog=catalog,
        blocks=tuple(blocks),
        by_shelf={s: tuple(by_shelf[s]) for s in sorted(by_shelf)},
        unit_sales_per_day=unit_sales_per_day,
        mandatory=tuple(mandatory),
    )
    violations = problems
    for rule in active:
        checker = CHECKERS.get(rule.type)
        if checker is None:  # pragma: no cover - a test checks every rule type has a checker
            raise InvalidParameterError(f"rule type must have a checker; got {rule.type!r}")
        violations.extend(checker(rule, ctx))
    return ValidationReport(display.display_id, tuple(violations))


# ------------------------------------------------------------------------------ summaries
@dataclass(frozen=True, slots=True)
class RuleTally:
    """Violations of one rule id and type in a report."""

    rule_id: str
    rule_type: str
    severity: Severity
    count: int
    penalty: float
    shelves: tuple[int, ...]
    """Shelves named by these violations, ascending."""


@dataclass(frozen=True, slots=True)
class ValidationSummary:
    """What a person needs first: valid or not, how many violations of which rule, where."""

    display_id: str
    is_valid: bool
    n_hard: int
    n_soft: int
    soft_penalty: float
    rules: tuple[RuleTally, ...]
    """One tally per (rule id, rule type), hard ones first, in order of first appearance."""

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form (for ``--json`` output and the service)."""
        return {
            "display_id": self.display_id,
            "is_valid": self.is_valid,
            "n_hard": self.n_hard,
            "n_soft": self.n_soft,
            "soft_penalty": self.soft_penalty,
            "rules": [
                {
                    "rule_id": t.rule_id,
                    "rule_type": t.rule_type,
                    "severity": t.severity.value,
                    "count": t.count,
                    "penalty": t.penalty,
                    "shelves": list(t.shelves),
                }
                for t in self.rules
            ],
        }

    def __str__(self) -> str:
        verdict = "valid" if self.is_valid else "INVALID"
        head = (
            f"display {self.display_id}: {verdict}; {self.n_hard} hard violation(s), "
            f"{self.n_soft} soft (penalty {self.soft_penalty:.3g})"
        )
        lines = [head]
        for t in self.rules:
            where = f" on shelves {', '.join(map(str, t.shelves))}" if t.shelves else ""
            pen = f", penalty {t.penalty:.3g}" if t.severity == Severity.SOFT else ""
            lines.append(
                f"  [{t.severity.value}] {t.rule_id} ({t.rule_type}): {t.count}{where}{pen}"
            )
        return "\n".join(lines)


def summarize(report: ValidationReport) -> ValidationSummary:
    """Tally a report by rule: counts, soft penalties and the shelves concerned."""
    counts: dict[tuple[str, str, Severity], list[Violation]] = {}
    for v in report.violations:
        counts.setdefault((v.rule_id, v.rule_type, v.severity), []).append(v)
    tallies = [
        RuleTally(
            rule_id,
            rule_type,
            severity,
            len(vs),
            float(sum(v.penalty for v in vs)),
            tuple(sorted({v.shelf_index for v in vs if v.shelf_index is not None})),
        )
        for (rule_id, rule_type, severity), vs in counts.items()
    ]
    tallies.sort(key=lambda t: t.severity != Severity.HARD)
    return ValidationSummary(
        report.display_id,
        report.is_valid,
        len(report.hard),
        len(report.soft),
        report.soft_penalty,
        tuple(tallies),
    )


VIOLATION_COLUMNS = (
    "rule_id",
    "rule_type",
    "severity",
    "shelf_index",
    "product_ids",
    "measured",
    "limit",
    "penalty",
    "message",
)


def violations_frame(report: ValidationReport) -> pd.DataFrame:
    """One row per violation (columns :data:`VIOLATION_COLUMNS`); ``product_ids`` joined by ","."""
    rows = [
        (
            v.rule_id,
            v.rule_type,
            v.severity.value,
            v.shelf_index,
            ",".join(v.product_ids),
            v.measured,
            v.limit,
            v.penalty,
            v.message,
        )
        for v in report.violations
    ]
    frame = pd.DataFrame(rows, columns=list(VIOLATION_COLUMNS))
    frame["shelf_index"] = frame["shelf_index"].astype("Int64")
    frame["measured"] = frame["measured"].astype("float64")
    frame["limit"] = frame["limit"].astype("float64")
    frame["penalty"] = frame["penalty"].astype("float64")
    return frame
