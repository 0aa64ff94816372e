"""Saving and loading fitted RBP models: one ``.npz`` with the draws and a JSON header."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from shelfwise.exceptions import ArtifactMismatchError

ARTIFACT_KIND = "shelfwise.demand.RBPModel"
FORMAT_VERSION = 1
"""Bumped whenever the layout of a saved model changes; a different one refuses to load."""


def write_artifact(path: Path, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` and the JSON ``header`` (kind and format version added) to ``path``."""
    meta = {"artifact": ARTIFACT_KIND, "format_version": FORMAT_VERSION, **header}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        payload: dict[str, Any] = {"__header__": np.array(json.dumps(meta)), **arrays}
        np.savez_compressed(fh, **payload)
    return path


def read_artifact(path: Path, config_keys: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read and check a saved model; return ``(header, arrays)``.

    Raises
    ------
    ArtifactMismatchError
        If the file is not an RBP artifact, has another format version, or was saved with a
        configuration schema other than ``config_keys``.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise ArtifactMismatchError(
            f"{path} is not an RBP model (an .npz file written by `shelfwise fit`): "
            f"{type(exc).__name__}"
        ) from exc
    if "__header__" not in arrays:
        raise ArtifactMismatchError(f"{path} has no shelfwise header; it is not an RBP model")
    try:
        header = json.loads(str(arrays.pop("__header__")))
    except json.JSONDecodeError as exc:
        raise ArtifactMismatchError(f"{path} has a corrupt shelfwise header: {exc}") from exc
    if header.get("artifact") != ARTIFACT_KIND:
        raise ArtifactMismatchError(
            f"{path} holds a {header.get('artifact')!r} artifact, not {ARTIFACT_KIND!r}"
        )
    if header.get("format_version") != FORMAT_VERSION:
        raise ArtifactMismatchError(
            f"{path} was saved with RBP format version {header.get('format_version')!r} "
            f"(shelfwise {header.get('shelfwise_version')!r}); this shelfwise reads version "
            f"{FORMAT_VERSION}. Refit the model with this version."
        )
    saved = set(header.get("config", {}))
    if saved != config_keys:
        raise ArtifactMismatchError(
            f"{path} was saved with configuration keys {sorted(saved)}, but RBPModel now has "
            f"{sorted(config_keys)} (missing {sorted(config_keys - saved)}, unknown "
            f"{sorted(saved - config_keys)}). Refit the model with this version."
        )
    return header, arrays
