"""Field positions and constants of the ``.psa`` format (see :mod:`shelfwise.planogram.psa`).

Private to :mod:`shelfwise.planogram.psa`, which re-exports the public constants.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

FIRST_LINE: Final = "PROSPACE SCHEMATIC FILE"
HEADER: Final = (FIRST_LINE, "; Version 2017.2.0", "; Codepage=1252")
ENCODING: Final = "cp1252"
NEWLINE: Final = "\r\n"
DEFAULT_MAX_LOAD_KG: Final = 1000.0
"""Shelf load limit assumed when a fixture gives no Weight capacity."""
SHELF_FIXTURE_TYPE: Final = 0
_THICKNESS: Final = Decimal("2.5")
_X_TOLERANCE: Final = Decimal("0.01")


# Field positions, record type at 0 (see the shelfwise.planogram.psa docstring for the sources).
def _spec(text: str) -> dict[str, int]:
    """``"Name=1|Width=3"`` -> ``{"Name": 1, "Width": 3}``."""
    return {k: int(v) for k, v in (item.split("=") for item in text.split("|"))}


_PROJECT = _spec("Name=1")
_PLANOGRAM = _spec(
    "Name=1|Width=3|Height=4|Depth=5|Desc 1=56|Desc 2=57|Desc 3=58|Desc 4=59|Desc 5=60|"
    "Desc 6=61|Value 1=106|Value 2=107"
)
_FIXTURE = _spec("Type=1|Name=2|X=4|Width=5|Y=6|Height=7|Z=8|Depth=9|Merch=23|Weight capacity=149")
_PRODUCT = _spec(
    "UPC=1|ID=2|Name=3|Width=5|Height=6|Depth=7|Category=13|Price=33|Case cost=34|"
    "Case total number=60|Desc 1=114|Flag 1=214|Brand=232|Subcategory=233|Weight=234"
)
_POSITION = _spec(
    "UPC=1|ID=2|X=4|Width=5|Y=6|Height=7|Z=8|Depth=9|HFacings=14|VFacings=15|DFacings=16"
)
_UNESCAPE = {",": ",", "\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}
_ESCAPE = {",": "\\,", "\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_INCH: Final = Decimal("2.54")
_POUND: Final = Decimal("0.45359237")


# Number formatting for the writer.
def _fmt_dec(value: Decimal) -> str:
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def _dec(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def _fmt(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return _fmt_dec(_dec(value))
