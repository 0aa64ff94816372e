"""Arranging a recommendation run with the diffusion model (the demo's arrange stage)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from shelfwise.data.synthetic import SyntheticChain
from shelfwise.exceptions import (
    ArtifactMismatchError,
    InvalidParameterError,
)
from shelfwise.generative.checkpoint import CONFIG_FILE, read_config
from shelfwise.pipeline.generative.data import chain_generative_data
from shelfwise.pipeline.generative.serving import Precision, check_compatible, open_pipeline
from shelfwise.storage import Repository

if TYPE_CHECKING:
    pass


# --------------------------------------------------------------------------- demo
SHIPPED_MODEL = Path(__file__).resolve().parents[2] / "generative" / "assets" / "default"
"""The small checkpoint shipped with shelfwise (``make generative-model`` retrains it)."""


def shipped_model_fits(chain: SyntheticChain) -> bool:
    """Whether the shipped checkpoint exists and was trained on this chain's catalog."""
    if not (SHIPPED_MODEL / CONFIG_FILE).is_file():
        return False
    try:
        codec = read_config(SHIPPED_MODEL).codec
        check_compatible(codec, chain_generative_data(chain), model=str(SHIPPED_MODEL))
    except ArtifactMismatchError:
        return False
    return True


@dataclass(frozen=True)
class ArrangeRun:
    """Recommended assortments arranged by the diffusion model."""

    table: pd.DataFrame
    written: tuple[Path, ...]
    notes: tuple[str, ...]
    precision: str


def arrange_recommendations(
    repo: Repository,
    *,
    style: Mapping[str, str],
    out: Path,
    model: Path = SHIPPED_MODEL,
    run_id: int | None = None,
    pictures: int = 3,
    precision: Precision = "torch",
    random_state: int = 0,
) -> ArrangeRun:
    """Arrange a recommendation run's assortments with the diffusion model, render them.

    Parameters
    ----------
    repo : Repository
        Holds the recommendation run and the displays.
    style : Mapping[str, str]
        Store id -> the label of the model's cluster whose style to use.
    out : Path
        Folder for ``<display>_generated.png``.
    model : Path
        Checkpoint folder or registry (default: the shipped checkpoint).
    run_id : int, optional
        Recommendation run (default: the newest).
    pictures : int
        Displays to arrange (the first ones of the run with facings).
    precision : {"auto", "int8", "fp32", "torch"}
        See :func:`open_pipeline`.
    random_state : int
        Seed of the sampler.
    """
    from shelfwise.planogram.render import render_to_file

    loaded = open_pipeline(model, precision=precision)
    pipe = loaded.pipeline
    frame = repo.recommendations_frame(run_id)
    frame = frame[frame["facings"] > 0]
    displays = {d.display_id: d for d in repo.list_displays()}
    notes = [loaded.note] if loaded.note else []
    unknown = sorted(set(frame["product_id"]) - set(pipe.codec.product_ids))
    if unknown:
        notes.append(
            f"{len(unknown)} recommended product(s) are not in the model's catalog (e.g. "
            f"{unknown[0]}); displays holding them are skipped"
        )
    rng = np.random.default_rng(random_state)
    rows: list[dict[str, object]] = []
    written: list[Path] = []
    out.mkdir(parents=True, exist_ok=True)
    catalog = {p.product_id: p for p in pipe.codec.catalog}
    for display_id, items in frame.groupby("display_id", sort=True):
        if len(rows) >= pictures:
            break
        display = displays.get(str(display_id))
        if display is None or not display.shelves or set(items["product_id"]) & set(unknown):
            continue
        wanted = {
            str(p): int(q) for p, q in zip(items["product_id"], items["facings"], strict=True)
        }
        if display.store_id not in style:
            raise InvalidParameterError(
                f"style must give a cluster for store {display.store_id!r} (display "
                f"{display.display_id}); got none"
            )
        cluster = pipe.codec.cluster_index(style[display.store_id])
        g = pipe.arrange(display, cluster, wanted, rng=rng)
        path = render_to_file(
            g.planogram,
            display,
            catalog,
            out / f"{display.display_id}_generated.png",
            title=f"{display.display_id} recommended, arranged by the diffusion model",
        )
        written.append(path)
        rows.append(
            {
                "display": display.display_id,
                "products": len(wanted),
                "facings asked": sum(wanted.values()),
                "raw valid": g.raw_valid,
                "raw violations": ", ".join(sorted({v.rule_type for v in g.raw_report.hard}))
                or "-",
                "facings changed": g.facings_changed,
                "ms": round(g.total_ms),
            }
        )
    return ArrangeRun(pd.DataFrame(rows), tuple(written), tuple(notes), loaded.precision)
