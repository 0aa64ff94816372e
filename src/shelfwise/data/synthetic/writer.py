"""Tables of a synthetic chain in shelfwise's file layouts, and writing them to disk.

Columns and their order follow :data:`shelfwise.data.layouts.LAYOUTS` exactly. Output is
byte-for-byte reproducible: rows are in a fixed order, floats are rounded when the table is
built and written with Python's shortest round-trip representation, datetimes as
``YYYY-MM-DD HH:MM:SS``, and Parquet files carry no timestamps of their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shelfwise.data.layouts import DEPENDENCY_ORDER, LAYOUTS, LayoutName
from shelfwise.exceptions import InvalidParameterError

if TYPE_CHECKING:
    from .world import SyntheticChain

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
INDEX_COLUMN = "Unnamed: 0"
"""Name the published EdgeRec3D logs' leading index column gets when read by pandas."""

FILE_STEMS: dict[LayoutName, str] = {name: name.value for name in LayoutName}
FILE_STEMS[LayoutName.EDGEREC3D] = "edgerec3d_visits"
#: Subfolder of the EdgeRec3D-layout export. It holds the same visits as ``visits.<ext>`` in the
#: published layout, so it lives apart: ingesting the main folder must not store them twice.
EDGEREC3D_FOLDER = "edgerec3d"


def _columns(name: LayoutName) -> list[str]:
    return [c.name for c in LAYOUTS[name].columns]


def edgerec3d_frame(chain: SyntheticChain) -> pd.DataFrame:
    """The visit log in EdgeRec3D's published offline-log layout.

    One row per (visit, product that stood on the display since the previous visit); a
    display's first visit, which stocks it, has no such rows. ``payoff`` is Eq. 4 of Jenkins
    et al. (KDD 2024): the previous visit's post-scan minus this visit's pre-scan, both from
    the noisy 3D scans. It is floored at 0 because the published format only holds
    non-negative payoffs; the scan noise would otherwise make some of them negative.
    ``previous_post_scan_num_facings`` is the facings in place since the previous visit.

    Returns
    -------
    pandas.DataFrame
        Columns of layout ``edgerec3d``, in log order, with a fresh RangeIndex.
    """
    log = chain.visit_log
    rows = log[log["prev_facings"] > 0]
    stores = {s.store_id: s.name for s in chain.stores}
    disp = {d.display_id: d for d in chain.displays}
    names = {p.product_id: p.name for p in chain.products}
    display_ids = rows["display_id"].to_numpy(dtype=object)
    out = pd.DataFrame(
        {
            "store_id": rows["store_id"].to_numpy(dtype=object),
            "store_name": [stores[s] for s in rows["store_id"]],
            "display_id": display_ids,
            "display_extra_info": [disp[d].name for d in display_ids],
            "last_scanned_datetime": rows["visited_at"].to_numpy(),
            "product_id": rows["product_id"].to_numpy(dtype=object),
            "name": [names[p] for p in rows["product_id"]],
            "previous_post_scan_num_facings": rows["prev_facings"].to_numpy(dtype=np.int64),
            "max_slots": [disp[d].max_slots for d in display_ids],
            "payoff": rows["payoff"].to_numpy(dtype=np.float64),
        }
    )
    return out.astype(
        {
            c: "str"
            for c in (
                "store_id",
                "store_name",
                "display_id",
                "display_extra_info",
                "product_id",
                "name",
            )
        }
    )


def chain_frames(chain: SyntheticChain) -> dict[str, pd.DataFrame]:
    """All tables of ``chain`` keyed by layout name; see :meth:`SyntheticChain.to_frames`."""
    stores = pd.DataFrame(
        [(s.store_id, s.name, s.lat, s.lon, s.format, s.region) for s in chain.stores],
        columns=_columns(LayoutName.STORES),
    )
    products = pd.DataFrame(
        [
            (
                p.product_id,
                p.name,
                p.brand,
                p.category,
                p.subcategory,
                p.width_cm,
                p.height_cm,
                p.depth_cm,
                p.weight_kg,
                p.price,
                p.unit_cost,
                p.currency,
                p.gtin,
                p.age_restricted,
            )
            for p in chain.products
        ],
        columns=_columns(LayoutName.PRODUCTS),
    )
    displays = pd.DataFrame(
        [(d.display_id, d.store_id, d.kind.value, d.max_slots, d.name) for d in chain.displays],
        columns=_columns(LayoutName.DISPLAYS),
    )
    shelves = pd.DataFrame(
        [
            (
                d.display_id,
                s.index,
                s.width_cm,
                s.clearance_cm,
                s.depth_cm,
                s.max_load_kg,
                s.height_from_floor_cm,
            )
            for d in chain.displays
            for s in d.shelves
        ],
        columns=_columns(LayoutName.SHELVES),
    )
    feature_names = list(chain.tracts[0].features) if chain.tracts else []
    tracts = pd.DataFrame(
        [
            (t.tract_id, t.lat, t.lon, t.population, name, *(t.features[f] for f in feature_names))
            for t, name in zip(chain.tracts, chain.tract_names, strict=True)
        ],
        columns=[*_columns(LayoutName.TRACTS), *feature_names],
    )
    planograms = pd.DataFrame(
        [
            (
                g.display_id,
                g.version,
                p.shelf_index,
                p.x_cm,
                p.product_id,
                p.facings_wide,
                p.facings_high,
                p.facings_deep,
                g.provenance,
                g.effective_from,
            )
            for g in chain.planograms
            for p in g.positions
        ],
        columns=_columns(LayoutName.PLANOGRAMS),
    )
    planograms["effective_from"] = planograms["effective_from"].astype("datetime64[s]")
    visits = chain.visit_log[_columns(LayoutName.VISITS)].reset_index(drop=True)
    frames = {
        LayoutName.STORES: stores,
        LayoutName.PRODUCTS: products,
        LayoutName.DISPLAYS: displays,
        LayoutName.SHELVES: shelves,
        LayoutName.TRACTS: tracts,
        LayoutName.PLANOGRAMS: planograms,
        LayoutName.VISITS: visits,
        LayoutName.EDGEREC3D: edgerec3d_frame(chain),
    }
    return {name.value: frame for name, frame in frames.items()}


def write_frames(
    frames: dict[str, pd.DataFrame],
    out_dir: str | Path,
    *,
    fmt: Literal["csv", "parquet"] = "csv",
) -> list[Path]:
    """Write layout tables to ``out_dir`` as ``<layout>.csv`` (or ``.parquet``).

    The ``edgerec3d`` table goes to ``edgerec3d/edgerec3d_visits.<ext>`` with a leading unnamed
    index column, as the published EdgeRec3D logs have it (in Parquet the column is named
    ``"Unnamed: 0"``, which is what pandas calls it when reading such a CSV). It describes the
    same visits as ``visits.<ext>`` in the other layout, so it sits in its own subfolder:
    ``shelfwise ingest out_dir`` stores each visit once; ingest the subfolder into another
    database to work with the published layout.

    Parameters
    ----------
    frames : dict of str to pandas.DataFrame
        Tables keyed by layout name, as :meth:`SyntheticChain.to_frames` returns them.
    out_dir : str or Path
        Target folder; created if missing.
    fmt : {"csv", "parquet"}
        File format. CSV datetimes are ``YYYY-MM-DD HH:MM:SS``, empty cells are missing
        values; Parquet keeps native types (timestamps without time zone).

    Returns
    -------
    list of Path
        Written files in layout dependency order.

    Raises
    ------
    InvalidParameterError
        If ``fmt`` is not "csv" or "parquet", or a layout table is missing.
    """
    if fmt not in ("csv", "parquet"):
        raise InvalidParameterError(f"fmt must be 'csv' or 'parquet'; got {fmt!r}")
    missing = [n.value for n in DEPENDENCY_ORDER if n.value not in frames]
    if missing:
        raise InvalidParameterError(f"frames must hold every layout; missing {missing}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for name in DEPENDENCY_ORDER:
        frame = frames[name.value]
        with_index = name == LayoutName.EDGEREC3D
        folder = out / EDGEREC3D_FOLDER if with_index else out
        folder.mkdir(exist_ok=True)
        path = folder / f"{FILE_STEMS[name]}.{fmt}"
        if fmt == "csv":
            frame.to_csv(
                path,
                index=with_index,
                date_format=DATETIME_FORMAT,
                lineterminator="\n",
                encoding="utf-8",
            )
        else:
            data = frame.reset_index(drop=True)
            if with_index:
                data.insert(0, INDEX_COLUMN, np.arange(len(data), dtype=np.int64))
            table = pa.Table.from_pandas(data, preserve_index=False)
            pq.write_table(table, path, compression="snappy", write_statistics=True)
        paths.append(path)
    return paths
