"""Typed results of planogram validation: one :class:`Violation` per broken rule instance."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    """Hard rules must hold; soft rules add a weighted penalty."""

    HARD = "hard"
    SOFT = "soft"


@dataclass(frozen=True)
class Violation:
    """One instance of a broken rule.

    Parameters
    ----------
    rule_id : str
        The ``id`` of the rule in the rulebook (e.g. ``"shelf-width"``).
    rule_type : str
        The rule's type (e.g. ``"shelf_width"``).
    severity : Severity
        Hard or soft.
    message : str
        What is wrong, in words a space planner understands.
    shelf_index : int or None
        The shelf concerned, if one.
    product_ids : tuple of str
        The products concerned.
    measured : float or None
        The measured value (e.g. 81.4 cm of facings).
    limit : float or None
        The limit it was compared with (e.g. 76.0 cm shelf width).
    penalty : float
        Weighted penalty for soft rules (0 for hard rules).
    """

    rule_id: str
    rule_type: str
    severity: Severity
    message: str
    shelf_index: int | None = None
    product_ids: tuple[str, ...] = ()
    measured: float | None = None
    limit: float | None = None
    penalty: float = 0.0


@dataclass(frozen=True)
class ValidationReport:
    """Every violation of a planogram against a rulebook, with a summary."""

    display_id: str
    violations: tuple[Violation, ...] = field(default_factory=tuple)

    @property
    def hard(self) -> tuple[Violation, ...]:
        """Violations of hard rules."""
        return tuple(v for v in self.violations if v.severity == Severity.HARD)

    @property
    def soft(self) -> tuple[Violation, ...]:
        """Violations of soft rules."""
        return tuple(v for v in self.violations if v.severity == Severity.SOFT)

    @property
    def is_valid(self) -> bool:
        """Whether every hard rule holds."""
        return not self.hard

    @property
    def soft_penalty(self) -> float:
        """Sum of weighted soft-rule penalties (lower is better)."""
        return float(sum(v.penalty for v in self.soft))

    def by_rule_type(self) -> dict[str, int]:
        """Number of violations per rule type."""
        out: dict[str, int] = {}
        for v in self.violations:
            out[v.rule_type] = out.get(v.rule_type, 0) + 1
        return out
