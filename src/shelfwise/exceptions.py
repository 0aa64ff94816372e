"""The one exception tree of shelfwise, rooted at :class:`ShelfwiseError`.

Messages name the parameter (or file, row and column), the rule and the value received, e.g.
``"width_cm must be > 0 for shelf 3 of display D17; got -12.0"``.
"""

from __future__ import annotations

from dataclasses import dataclass


class ShelfwiseError(Exception):
    """Root of every error shelfwise raises on purpose."""


class InvalidParameterError(ShelfwiseError, ValueError):
    """A function or record received a value that breaks a documented rule."""


class NotFittedError(ShelfwiseError, AttributeError):
    """An estimator method was called before ``fit``."""


class ArtifactMismatchError(ShelfwiseError):
    """A saved artifact does not match the code or configuration loading it."""


class StorageError(ShelfwiseError):
    """The database could not be reached, migrated or written."""


class NotFoundError(ShelfwiseError, LookupError):
    """A record that was asked for by its key does not exist."""


@dataclass(frozen=True)
class DataProblem:
    """One bad cell (or row) in an input file.

    Attributes
    ----------
    file : str
        Path (or name) of the file.
    row : int | None
        1-based data row (the header is not counted); ``None`` for a whole-file problem.
    column : str | None
        Column name, or ``None`` for a row- or file-level problem.
    value : object
        The offending value as read.
    rule : str
        The rule that was broken, in words.
    """

    file: str
    row: int | None
    column: str | None
    value: object
    rule: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        return f"{where}: {self.rule}; got {self.value!r}"


class DataValidationError(ShelfwiseError, ValueError):
    """Input data broke a rule. Carries every problem found (the first is the headline).

    Parameters
    ----------
    problems : list of DataProblem
        What was wrong, in file order. Must not be empty.
    truncated : bool
        More problems were found than are listed (the reader stopped counting).
    """

    def __init__(self, problems: list[DataProblem], *, truncated: bool = False) -> None:
        if not problems:
            raise InvalidParameterError("problems must not be empty for DataValidationError")
        self.problems = list(problems)
        self.truncated = truncated
        first = self.problems[0]
        self.file = first.file
        self.row = first.row
        self.column = first.column
        self.value = first.value
        self.rule = first.rule
        msg = str(first)
        if len(self.problems) > 1:
            shown = "\n  ".join(str(p) for p in self.problems[1:10])
            more = len(self.problems) - 10
            msg += f"\n  {shown}"
            if more > 0:
                msg += f"\n  ... and {more} more problem(s)"
        super().__init__(msg)


class InfeasiblePlanogramError(ShelfwiseError):
    """No planogram satisfies the hard rules; the message names the conflicting rules."""
