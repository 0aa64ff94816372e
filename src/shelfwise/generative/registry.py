"""A file-system registry of denoiser versions, with an active version and rollback.

Layout under ``root``::

    versions/v0001/manifest.json     version, created_at (UTC ISO 8601), files with sha256,
    versions/v0001/model.onnx        free-form metadata, int8_accepted and int8_reason
    versions/v0002/...
    CURRENT                          the active version, e.g. "v0002"
    history.json                     activation stack (for rollback) and an event log
    .lock                            advisory lock serialising writers (fcntl)

Every write is atomic: a version is assembled in a temporary folder inside ``root`` and renamed
into ``versions/`` only when complete, and ``CURRENT`` and ``history.json`` are replaced with
``os.replace``. A crash or a failed copy therefore never leaves a half-written version, and a
reader sees either the old active version or the new one. Checksums are verified when a file is
read through :meth:`ModelVersion.file` and when a version is activated.

The registry imports neither torch nor onnx: a serving process can use it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from shelfwise.exceptions import ArtifactMismatchError, InvalidParameterError, NotFoundError

MANIFEST: Final = "manifest.json"
CURRENT: Final = "CURRENT"
HISTORY: Final = "history.json"
#: Version of the manifest layout written by this module.
MANIFEST_FORMAT: Final = 1

_VERSION_DIR = re.compile(r"^v(\d{4,})$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_CHUNK: Final = 1 << 20


def _dir_name(version: int) -> str:
    return f"v{version:04d}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary sibling and ``os.replace``."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _check_version_number(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidParameterError(f"version must be an integer >= 1; got {version!r}")
    return version


@dataclass(frozen=True)
class ModelVersion:
    """One published version: its folder, files with checksums and metadata.

    Attributes
    ----------
    version : int
        Version number (1, 2, ...).
    path : Path
        The version's folder.
    created_at : datetime
        Publication time (UTC).
    files : Mapping of str to str
        File name -> sha256 (hex) of its content at publication.
    metadata : Mapping of str to object
        Free-form JSON metadata (training config, metrics, ...).
    int8_accepted : bool
        Whether an int8 model of this version passed its acceptance check.
    int8_reason : str
        Why (or why not), in words.
    """

    version: int
    path: Path
    created_at: datetime
    files: Mapping[str, str] = field(hash=False)
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)
    int8_accepted: bool = False
    int8_reason: str = ""

    def file(self, name: str) -> Path:
        """Path of a file of this version, after checking its sha256.

        Parameters
        ----------
        name : str
            A key of :attr:`files`.

        Returns
        -------
        Path

        Raises
        ------
        NotFoundError
            The version has no file ``name``.
        ArtifactMismatchError
            The file is missing on disk or its content no longer matches its checksum.
        """
        if name not in self.files:
            raise NotFoundError(
                f"name must be a file of model version {self.version} "
                f"({sorted(self.files)}); got {name!r}"
            )
        path = self.path / name
        if not path.is_file():
            raise ArtifactMismatchError(
                f"file {name!r} of model version {self.version} is missing from {self.path}"
            )
        digest = _sha256(path)
        if digest != self.files[name]:
            raise ArtifactMismatchError(
                f"file {name!r} of model version {self.version} does not match its checksum: "
                f"manifest sha256 {self.files[name]}, file sha256 {digest}"
            )
        return path

    def verify(self) -> None:
        """Check every file against its checksum.

        Raises
        ------
        ArtifactMismatchError
            A file is missing or altered.
        """
        for name in self.files:
            self.file(name)


@dataclass(frozen=True)
class Activation:
    """One entry of the registry's event log.

    Attributes
    ----------
    version : int
        The version made active.
    at : datetime
        When (UTC).
    action : str
        ``"publish"``, ``"activate"`` or ``"rollback"``.
    """

    version: int
    at: datetime
    action: str


class ModelRegistry:
    """Versions of the planogram denoiser on disk, one of them active.

    Parameters
    ----------
    root : Path
        The registry folder; created (with its parents) if missing.

    Notes
    -----
    Writers (``publish``, ``activate``, ``rollback``) take an advisory ``fcntl`` lock on
    ``root/.lock``, so several processes may share a registry on one machine (POSIX only).
    Readers take no lock: they only ever see complete versions and a complete ``CURRENT``.
    """

    root: Path

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # ------------------------------------------------------------------ paths
    @property
    def _versions_dir(self) -> Path:
        return self.root / "versions"

    def _ensure_layout(self) -> None:
        try:
            self._versions_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InvalidParameterError(
                f"root must be a folder the registry can write to; got {str(self.root)!r} ({err})"
            ) from err

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self._ensure_layout()
        with (self.root / ".lock").open("a") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    # ------------------------------------------------------------------ reading
    def _load(self, folder: Path) -> ModelVersion:
        manifest = folder / MANIFEST
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            version = ModelVersion(
                version=int(data["version"]),
                path=folder,
                created_at=datetime.fromisoformat(data["created_at"]),
                files=MappingProxyType(dict(data["files"])),
                metadata=MappingProxyType(dict(data["metadata"])),
                int8_accepted=bool(data["int8_accepted"]),
                int8_reason=str(data["int8_reason"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ArtifactMismatchError(f"{manifest} is not a readable manifest: {err}") from err
        if _dir_name(version.version) != folder.name:
            raise ArtifactMismatchError(
                f"{manifest} records version {version.version} but lies in folder {folder.name}"
            )
        return version

    def versions(self) -> list[ModelVersion]:
        """Every published version, oldest first.

        Returns
        -------
        list of ModelVersion
        """
        if not self._versions_dir.is_dir():
            return []
        found = []
        for folder in self._versions_dir.iterdir():
            match = _VERSION_DIR.match(folder.name)
            if match and (folder / MANIFEST).is_file():
                found.append((int(match.group(1)), folder))
        return [self._load(folder) for _, folder in sorted(found)]

    def get(self, version: int) -> ModelVersion:
        """One version by number.

        Parameters
        ----------
        version : int

        Returns
        -------
        ModelVersion

        Raises
        ------
        NotFoundError
            No such version.
        """
        version = _check_version_number(version)
        folder = self._versions_dir / _dir_name(version)
        if not (folder / MANIFEST).is_file():
            known = [v.version for v in self.versions()]
            raise NotFoundError(
                f"version must be a published model version of {self.root} ({known}); got {version}"
            )
        return self._load(folder)

    def _current_number(self) -> int | None:
        path = self.root / CURRENT
        if not path.is_file():
            return None
        text = path.read_text(encoding="utf-8").strip()
        match = _VERSION_DIR.match(text)
        if not match:
            raise ArtifactMismatchError(f"{path} must name a version such as 'v0001'; got {text!r}")
        return int(match.group(1))

    def current(self) -> ModelVersion:
        """The active version.

        Returns
        -------
        ModelVersion

        Raises
        ------
        NotFoundError
            Nothing has been activated yet (the registry is empty), or the active version's
            folder is gone.
        """
        number = self._current_number()
        if number is None:
            raise NotFoundError(
                f"the model registry at {self.root} has no active version; "
                "publish one with publish(..., activate=True) or call activate(version)"
            )
        return self.get(number)

    def _read_history(self) -> dict[str, list[Any]]:
        path = self.root / HISTORY
        if not path.is_file():
            return {"stack": [], "events": []}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return {"stack": list(data["stack"]), "events": list(data["events"])}
        except (ValueError, KeyError, TypeError) as err:
            raise ArtifactMismatchError(f"{path} is not a readable history: {err}") from err

    def history(self) -> list[Activation]:
        """Every activation (publish, activate, rollback), oldest first.

        Returns
        -------
        list of Activation
        """
        return [
            Activation(
                version=int(e["version"]),
                at=datetime.fromisoformat(e["at"]),
                action=str(e["action"]),
            )
            for e in self._read_history()["events"]
        ]

    # ------------------------------------------------------------------ writing
    def _set_current(self, version: int, action: str, *, pop: bool = False) -> None:
        """Record an activation in ``history.json``, then point ``CURRENT`` at ``version``.

        The history is written first: after a crash in between, ``CURRENT`` still names the old
        version, and :meth:`_stack` reconciles the two on the next write.
        """
        history = self._read_history()
        stack = self._stack(history)
        if pop:
            stack.pop()
        elif not stack or stack[-1] != version:
            stack.append(version)
        history["stack"] = stack
        history["events"].append(
            {"version": version, "at": datetime.now(UTC).isoformat(), "action": action}
        )
        _atomic_write_text(self.root / HISTORY, json.dumps(history, indent=2) + "\n")
        _atomic_write_text(self.root / CURRENT, _dir_name(version) + "\n")

    def _stack(self, history: dict[str, list[Any]]) -> list[int]:
        """The activation stack, its top being the version ``CURRENT`` names."""
        stack = [int(v) for v in history["stack"]]
        current = self._current_number()
        while stack and stack[-1] != current:
            stack.pop()  # recorded but never made current (crash between the two writes)
        if current is not None and not stack:
            stack.append(current)
        return stack

    def publish(
        self,
        files: Mapping[str, Path],
        *,
        metadata: Mapping[str, object],
        activate: bool = True,
        int8_accepted: bool = False,
        int8_reason: str = "",
    ) -> ModelVersion:
        """Copy files into a new version (numbered one past the highest) and optionally activate it.

        The files are copied into a temporary folder inside ``root`` with their checksums and
        manifest, and the folder is renamed into ``versions/`` only when complete: on any error
        nothing is left behind and the active version is unchanged.

        Parameters
        ----------
        files : Mapping of str to Path
            Name inside the version (a plain file name such as ``"model.onnx"``) -> source file.
        metadata : Mapping of str to object
            Free-form JSON-serialisable metadata (training config, metrics, ...).
        activate : bool
            Make the new version the active one.
        int8_accepted : bool
            Whether the version's int8 model passed its acceptance check.
        int8_reason : str
            Why (or why not), in words.

        Returns
        -------
        ModelVersion

        Raises
        ------
        InvalidParameterError
            No files, a bad file name, or metadata that is not JSON-serialisable.
        NotFoundError
            A source file does not exist.
        """
        if not files:
            raise InvalidParameterError("files must name at least one file; got none")
        for name in files:
            if not isinstance(name, str) or not _FILE_NAME.match(name) or name == MANIFEST:
                raise InvalidParameterError(
                    "files keys must be plain file names (letters, digits, '.', '_', '-'; not "
                    f"{MANIFEST!r}); got {name!r}"
                )
        try:
            metadata_json = json.loads(json.dumps(dict(metadata), allow_nan=False))
        except (TypeError, ValueError) as err:
            raise InvalidParameterError(
                f"metadata must be JSON-serialisable; got {metadata!r} ({err})"
            ) from err
        if not isinstance(int8_accepted, bool):
            raise InvalidParameterError(f"int8_accepted must be a bool; got {int8_accepted!r}")
        with self._lock():
            staging = Path(tempfile.mkdtemp(prefix=".publish-", dir=self.root))
            try:
                checksums: dict[str, str] = {}
                for name, source in files.items():
                    source = Path(source)
                    if not source.is_file():
                        raise NotFoundError(
                            f"files[{name!r}] must be an existing file; got {str(source)!r}"
                        )
                    target = staging / name
                    shutil.copyfile(source, target)
                    with target.open("rb") as fh:
                        os.fsync(fh.fileno())
                    checksums[name] = _sha256(target)
                created_at = datetime.now(UTC)
                number = max((v.version for v in self.versions()), default=0) + 1
                manifest = {
                    "format": MANIFEST_FORMAT,
                    "version": number,
                    "created_at": created_at.isoformat(),
                    "files": checksums,
                    "metadata": metadata_json,
                    "int8_accepted": int8_accepted,
                    "int8_reason": int8_reason,
                }
                _atomic_write_text(staging / MANIFEST, json.dumps(manifest, indent=2) + "\n")
                final = self._versions_dir / _dir_name(number)
                os.rename(staging, final)  # fails, rather than merges, if ``final`` exists
                _fsync_dir(self._versions_dir)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            if activate:
                self._set_current(number, "publish")
        return self._load(final)

    def activate(self, version: int) -> ModelVersion:
        """Make ``version`` the active version, after verifying its checksums.

        Parameters
        ----------
        version : int

        Returns
        -------
        ModelVersion

        Raises
        ------
        NotFoundError
            No such version.
        ArtifactMismatchError
            One of its files is missing or altered.
        """
        with self._lock():
            chosen = self.get(version)
            chosen.verify()
            self._set_current(chosen.version, "activate")
        return chosen

    def rollback(self) -> ModelVersion:
        """Re-activate the version that was active before the current one.

        Repeated rollbacks walk further back through earlier activations.

        Returns
        -------
        ModelVersion

        Raises
        ------
        NotFoundError
            No version is active, or none was active before it.
        ArtifactMismatchError
            The previous version's files are missing or altered (nothing is changed).
        """
        with self._lock():
            stack = self._stack(self._read_history())
            if not stack:
                raise NotFoundError(
                    f"cannot roll back the model registry at {self.root}: no version is active"
                )
            if len(stack) < 2:
                raise NotFoundError(
                    f"cannot roll back the model registry at {self.root}: version {stack[-1]} is "
                    "active and no version was active before it"
                )
            previous = self.get(stack[-2])
            previous.verify()
            self._set_current(previous.version, "rollback", pop=True)
        return previous
