"""Small validators shared by the domain records; each raises InvalidParameterError."""

from __future__ import annotations

import math

from shelfwise.exceptions import InvalidParameterError


def require_text(value: object, name: str, where: str) -> str:
    """Return ``value`` if it is a non-blank string, else raise."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameterError(f"{name} must be a non-empty string{where}; got {value!r}")
    return value


def require_number(
    value: object,
    name: str,
    where: str,
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
) -> float:
    """Return ``value`` as float if it is finite and within the bounds, else raise."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidParameterError(f"{name} must be a finite number{where}; got {value!r}")
    v = float(value)
    if gt is not None and not v > gt:
        raise InvalidParameterError(f"{name} must be > {gt:g}{where}; got {value!r}")
    if ge is not None and not v >= ge:
        raise InvalidParameterError(f"{name} must be >= {ge:g}{where}; got {value!r}")
    if le is not None and not v <= le:
        raise InvalidParameterError(f"{name} must be <= {le:g}{where}; got {value!r}")
    return v


def require_int(value: object, name: str, where: str, *, ge: int | None = None) -> int:
    """Return ``value`` if it is an integer (not bool) and ``>= ge``, else raise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterError(f"{name} must be an integer{where}; got {value!r}")
    if ge is not None and value < ge:
        raise InvalidParameterError(f"{name} must be >= {ge}{where}; got {value!r}")
    return value


def optional_number(
    value: object, name: str, where: str, *, gt: float | None = None, ge: float | None = None
) -> float | None:
    """Like :func:`require_number` but ``None`` passes through."""
    if value is None:
        return None
    return require_number(value, name, where, gt=gt, ge=ge)


#: GTIN lengths, shortest first. GS1 right-aligns every GTIN in a 14-digit field, so leading
#: zeros change neither which item a GTIN names nor its check digit.
GTIN_LENGTHS = (8, 12, 13, 14)


def gtin_is_valid(gtin: str) -> bool:
    """Whether ``gtin`` is a GTIN-8/12/13/14 of digits with a correct GS1 mod-10 check digit.

    The check digit makes the weighted digit sum (weights 3, 1, 3, ... from the rightmost body
    digit) a multiple of 10. All zeros (which GS1 never assigns, and which systems without
    empty numbers write for "no GTIN") is not valid.
    """
    if not (gtin.isascii() and gtin.isdigit()) or len(gtin) not in GTIN_LENGTHS:
        return False
    if not gtin.strip("0"):
        return False
    body, check = gtin[:-1], int(gtin[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def gtin_zero_padded(digits: str) -> str:
    """``digits`` with leading zeros up to the shortest GTIN length that holds them (a GTIN
    whose zeros were lost, e.g. stored as a number); longer texts unchanged."""
    width = next((n for n in GTIN_LENGTHS if n >= len(digits)), len(digits))
    return digits.zfill(width)
