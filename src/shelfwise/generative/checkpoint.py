"""Reading a checkpoint's ``config.json`` without torch (for serving from ONNX alone)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from shelfwise.domain import Product
from shelfwise.exceptions import ArtifactMismatchError
from shelfwise.generative.data import PlanogramCodec
from shelfwise.planogram.rules import Rulebook

FORMAT_VERSION: Final = 1
CONFIG_FILE: Final = "config.json"
WEIGHTS_FILE: Final = "weights.pt"


@dataclass(frozen=True)
class CheckpointConfig:
    """What a checkpoint says about its model, apart from the weights.

    Attributes
    ----------
    codec : PlanogramCodec
        The encoding (catalog, grid, number of clusters).
    rulebook : Rulebook
        The rules the model was trained for.
    scheduler : dict
        The training noise schedule (``n_train_steps``, ``beta_schedule``, ...).
    unet : dict
        Network sizes.
    params : dict
        Training options.
    n_iterations_done : int
        Optimizer steps taken.
    revenue_scale : float
        Divisor of the revenue loss.
    shelfwise_version : str
        Version that wrote it.
    raw : dict
        The whole parsed file.
    """

    codec: PlanogramCodec
    rulebook: Rulebook
    scheduler: dict[str, Any]
    unet: dict[str, Any]
    params: dict[str, Any]
    n_iterations_done: int
    revenue_scale: float
    shelfwise_version: str
    raw: dict[str, Any]


def read_config(path: str | Path) -> CheckpointConfig:
    """Read ``config.json`` from a checkpoint folder (or the file itself).

    Raises
    ------
    ArtifactMismatchError
        If the file is missing, unreadable, or of another format version.
    """
    p = Path(path)
    file = p / CONFIG_FILE if p.is_dir() else p
    if not file.is_file():
        raise ArtifactMismatchError(f"checkpoint {p} must hold {CONFIG_FILE}; it does not")
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactMismatchError(
            f"{file} is not a readable JSON checkpoint config: {exc}"
        ) from exc
    if not isinstance(config, dict) or config.get("format_version") != FORMAT_VERSION:
        got = config.get("format_version") if isinstance(config, dict) else None
        raise ArtifactMismatchError(
            f"checkpoint {file} has format_version {got!r}; this shelfwise reads {FORMAT_VERSION}"
        )
    try:
        c = config["codec"]
        codec = PlanogramCodec(
            [Product(**prod) for prod in c["catalog"]],
            n_shelves=c["n_shelves"],
            n_slots=c["n_slots"],
            n_clusters=c["n_clusters"],
            cluster_names=c.get("cluster_names"),
        )
        return CheckpointConfig(
            codec=codec,
            rulebook=Rulebook.from_dict(config["rulebook"], source=str(file)),
            scheduler=dict(config["scheduler"]),
            unet=dict(config["unet"]),
            params=dict(config["params"]),
            n_iterations_done=int(config["n_iterations_done"]),
            revenue_scale=float(config["revenue_scale"]),
            shelfwise_version=str(config.get("shelfwise_version", "?")),
            raw=config,
        )
    except (KeyError, TypeError) as exc:
        raise ArtifactMismatchError(f"checkpoint config {file} lacks a field: {exc}") from exc
