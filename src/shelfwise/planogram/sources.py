"""Load a planogram with its display and catalog from a file or from the database.

A ``.psa`` file is self-contained (fixtures, products and positions). A CSV / Parquet positions
file, or a display id, needs the database for the display's geometry and the products.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from shelfwise.data.validate import ProblemLog
from shelfwise.domain import Display, Planogram, Product
from shelfwise.exceptions import (
    DataProblem,
    DataValidationError,
    InvalidParameterError,
    NotFoundError,
)
from shelfwise.planogram.io import read_planograms
from shelfwise.planogram.psa import read_psa
from shelfwise.storage import Repository

PLANOGRAM_SUFFIXES = (".psa", ".csv", ".parquet", ".pq")


@dataclass(frozen=True)
class PlanogramBundle:
    """A planogram with what is needed to judge, draw or export it."""

    planogram: Planogram
    display: Display
    catalog: Mapping[str, Product] = field(default_factory=dict)
    project_name: str = "shelfwise"

    def __post_init__(self) -> None:
        if self.planogram.display_id != self.display.display_id:
            raise InvalidParameterError(
                f"planogram.display_id must equal display.display_id; got "
                f"{self.planogram.display_id!r} and {self.display.display_id!r}"
            )
        object.__setattr__(self, "catalog", MappingProxyType(dict(self.catalog)))

    def with_planogram(self, planogram: Planogram) -> PlanogramBundle:
        """The same display and catalog with another planogram."""
        return PlanogramBundle(planogram, self.display, self.catalog, self.project_name)


def catalog_of(products: list[Product] | tuple[Product, ...]) -> dict[str, Product]:
    """Products keyed by id."""
    return {p.product_id: p for p in products}


def load_from_file(
    path: str | Path,
    *,
    repo: Repository | None = None,
    display_id: str | None = None,
    version: int | None = None,
) -> PlanogramBundle:
    """Load a planogram file: ``.psa`` on its own, CSV / Parquet positions with ``repo``.

    A positions file may hold several displays and versions: ``display_id`` and ``version``
    choose one (default: the only display in the file, its highest version).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".psa":
        doc = read_psa(p)
        return PlanogramBundle(
            doc.planogram, doc.display, catalog_of(doc.products), doc.project_name
        )
    if suffix not in PLANOGRAM_SUFFIXES:
        raise InvalidParameterError(
            f"planogram file suffix must be one of {PLANOGRAM_SUFFIXES}; got {suffix!r} ({p})"
        )
    if repo is None:
        raise InvalidParameterError(
            f"a {suffix} positions file needs a database for display geometry and products; "
            f"got none for {p}"
        )
    planograms = read_planograms(p)
    displays = sorted({pl.display_id for pl in planograms})
    if display_id is None:
        if len(displays) != 1:
            raise InvalidParameterError(
                f"display_id must be given when {p} holds several displays; got {displays}"
            )
        display_id = displays[0]
    chosen = [pl for pl in planograms if pl.display_id == display_id]
    if version is not None:
        chosen = [pl for pl in chosen if pl.version == version]
    if not chosen:
        raise NotFoundError(f"{p} holds no planogram for display {display_id!r} version {version}")
    planogram = max(chosen, key=lambda pl: pl.version)
    return PlanogramBundle(
        planogram, repo.get_display(display_id), catalog_of(repo.list_products())
    )


def load_from_database(
    repo: Repository, display_id: str, *, version: int | None = None
) -> PlanogramBundle:
    """The stored planogram of a display (``version`` or the latest) with its display/catalog."""
    versions = repo.planograms(display_id)
    if version is not None:
        versions = [v for v in versions if v.version == version]
    if not versions:
        raise NotFoundError(
            f"display_id {display_id!r} has no stored planogram"
            + (f" with version {version}" if version is not None else "")
        )
    return PlanogramBundle(
        versions[-1], repo.get_display(display_id), catalog_of(repo.list_products())
    )


def _read_two_columns(path: Path, key: str, value: str) -> tuple[pd.DataFrame, ProblemLog]:
    if not path.is_file():
        raise DataValidationError(
            [DataProblem(str(path), None, None, str(path), "file must exist")]
        )
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataValidationError(
            [DataProblem(str(path), None, None, type(exc).__name__, f"must be a CSV file: {exc}")]
        ) from exc
    missing = [c for c in (key, value) if c not in frame.columns]
    if missing:
        raise DataValidationError(
            [
                DataProblem(str(path), None, c, list(frame.columns), f"column '{c}' is required")
                for c in missing
            ]
        )
    log = ProblemLog(str(path))
    ids = frame[key].str.strip()
    log.add_rows((ids == "").to_numpy(), key, frame[key], "must not be empty")
    log.add_rows(
        ids.duplicated().to_numpy() & (ids != "").to_numpy(),
        key,
        frame[key],
        "must appear once in the file",
    )
    return frame.assign(**{key: ids}), log


def read_facings(
    path: str | Path, *, catalog: Mapping[str, Product] | None = None
) -> dict[str, int]:
    """Read a ``product_id,facings`` CSV (a product -> facings request for the solver).

    Raises
    ------
    DataValidationError
        Naming file, row, column and value for a missing column, an empty or repeated id, an
        id not in ``catalog``, or facings that are not whole numbers >= 0.
    """
    p = Path(path)
    frame, log = _read_two_columns(p, "product_id", "facings")
    raw = frame["facings"]
    values = pd.to_numeric(raw.str.strip(), errors="coerce").to_numpy(dtype=float)
    whole = np.isfinite(values) & (values == np.round(values)) & (values >= 0)
    log.add_rows(~whole, "facings", raw, "must be a whole number >= 0")
    if catalog is not None:
        unknown = ~frame["product_id"].isin(list(catalog)).to_numpy()
        log.add_rows(
            unknown & (frame["product_id"] != "").to_numpy(),
            "product_id",
            frame["product_id"],
            "must be a product in the database",
        )
    log.raise_if_any()
    return {pid: int(v) for pid, v in zip(frame["product_id"], values, strict=True) if v > 0}


def read_unit_sales(path: str | Path) -> dict[str, float]:
    """Read a ``product_id,units_per_day`` CSV (sales for heat maps and days of supply).

    Raises
    ------
    DataValidationError
        Naming file, row, column and value for bad cells.
    """
    p = Path(path)
    frame, log = _read_two_columns(p, "product_id", "units_per_day")
    raw = frame["units_per_day"]
    values = pd.to_numeric(raw.str.strip(), errors="coerce").to_numpy(dtype=float)
    log.add_rows(
        ~(np.isfinite(values) & (values >= 0)), "units_per_day", raw, "must be a number >= 0"
    )
    log.raise_if_any()
    return dict(zip(frame["product_id"], values.tolist(), strict=True))
