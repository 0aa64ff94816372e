"""Load a planogram with its display and catalog from a file or from the database.

A ``.psa`` file is self-contained (fixtures, products and positions). A CSV / Parquet positions
file, or a display id, needs the database for the display's geometry and the products.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from shelfwise.domain import Display, Planogram, Product
from shelfwise.exceptions import InvalidParameterError, NotFoundError
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
