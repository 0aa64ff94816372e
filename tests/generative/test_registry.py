"""The file-system model registry: publish, activate, rollback, atomicity and checksums."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shelfwise.exceptions import ArtifactMismatchError, InvalidParameterError, NotFoundError
from shelfwise.generative.registry import ModelRegistry, ModelVersion


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "build"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"fp32 weights " * 1000)
    (folder / "model_int8.onnx").write_bytes(b"int8 weights " * 300)
    return {"model.onnx": folder / "model.onnx", "model_int8.onnx": folder / "model_int8.onnx"}


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(tmp_path / "registry")


def _leftovers(root: Path) -> list[str]:
    """Everything under ``root`` except published versions, CURRENT, history and the lock."""
    keep = {"CURRENT", "history.json", ".lock", "versions"}
    out = [p.name for p in root.iterdir() if p.name not in keep]
    out += [p.name for p in (root / "versions").iterdir() if not p.name.startswith("v")]
    return sorted(out)


def test_empty_registry(registry: ModelRegistry) -> None:
    assert registry.versions() == []
    with pytest.raises(NotFoundError, match="has no active version; publish one"):
        registry.current()
    with pytest.raises(NotFoundError, match="no version is active"):
        registry.rollback()
    with pytest.raises(NotFoundError, match=r"version must be a published model version .*got 1"):
        registry.get(1)


def test_publish_writes_manifest_and_checksums(
    registry: ModelRegistry, sources: dict[str, Path]
) -> None:
    before = datetime.now(UTC)
    metadata = {"config": {"block_out_channels": [32, 64, 64]}, "metrics": {"loss": 0.031}}
    v1 = registry.publish(
        sources, metadata=metadata, int8_accepted=True, int8_reason="eps rel. error 3.8 % < 5 %"
    )
    assert v1.version == 1
    assert v1.path == registry.root / "versions" / "v0001"
    assert before - timedelta(seconds=1) <= v1.created_at <= datetime.now(UTC)
    assert v1.created_at.utcoffset() == timedelta(0)
    # Checksums against an independent computation on the sources.
    for name, source in sources.items():
        assert v1.files[name] == hashlib.sha256(source.read_bytes()).hexdigest()
        assert v1.file(name).read_bytes() == source.read_bytes()
    manifest = json.loads((v1.path / "manifest.json").read_text())
    assert manifest["version"] == 1
    assert manifest["metadata"] == metadata
    assert manifest["files"] == dict(v1.files)
    assert manifest["int8_accepted"] is True
    assert manifest["int8_reason"] == "eps rel. error 3.8 % < 5 %"
    assert datetime.fromisoformat(manifest["created_at"]) == v1.created_at
    assert (registry.root / "CURRENT").read_text() == "v0001\n"
    assert registry.current() == v1
    assert _leftovers(registry.root) == []
    # Another handle on the same folder sees the same state.
    assert ModelRegistry(registry.root).current() == v1


def test_model_version_is_frozen(registry: ModelRegistry, sources: dict[str, Path]) -> None:
    v1 = registry.publish(sources, metadata={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        v1.version = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        v1.metadata["x"] = 1  # type: ignore[index]


def test_publish_without_activation_and_versions(
    registry: ModelRegistry, sources: dict[str, Path]
) -> None:
    v1 = registry.publish(sources, metadata={"run": 1})
    v2 = registry.publish(sources, metadata={"run": 2}, activate=False)
    assert [v.version for v in registry.versions()] == [1, 2]
    assert registry.current() == v1
    assert registry.get(2) == v2
    assert v2.metadata == {"run": 2}
    assert v2.int8_accepted is False


def test_activate_and_rollback_walk_back(registry: ModelRegistry, sources: dict[str, Path]) -> None:
    for run in (1, 2, 3):
        registry.publish(sources, metadata={"run": run})
    assert registry.current().version == 3
    assert registry.rollback().version == 2
    assert registry.current().version == 2
    assert registry.rollback().version == 1
    with pytest.raises(NotFoundError, match="version 1 is active and no version was active before"):
        registry.rollback()
    assert registry.current().version == 1
    # Activating 3 then rolling back returns to 1, the version active just before.
    assert registry.activate(3).version == 3
    assert registry.rollback().version == 1
    actions = [(a.version, a.action) for a in registry.history()]
    assert actions == [
        (1, "publish"),
        (2, "publish"),
        (3, "publish"),
        (2, "rollback"),
        (1, "rollback"),
        (3, "activate"),
        (1, "rollback"),
    ]


def test_activate_unknown_or_bad_version(registry: ModelRegistry, sources: dict[str, Path]) -> None:
    registry.publish(sources, metadata={})
    with pytest.raises(NotFoundError, match=r"\(\[1\]\); got 7"):
        registry.activate(7)
    with pytest.raises(InvalidParameterError, match="version must be an integer >= 1; got 0"):
        registry.get(0)
    assert registry.current().version == 1


def test_publish_missing_source_leaves_nothing(
    registry: ModelRegistry, sources: dict[str, Path], tmp_path: Path
) -> None:
    registry.publish(sources, metadata={})
    broken = {**sources, "zzz_missing.bin": tmp_path / "build" / "missing.bin"}
    # The missing file comes last, so the other files are already copied when it fails.
    with pytest.raises(NotFoundError, match=r"files\['zzz_missing.bin'\] must be an existing"):
        registry.publish(broken, metadata={})
    assert [v.version for v in registry.versions()] == [1]
    assert registry.current().version == 1
    assert _leftovers(registry.root) == []


def test_publish_copy_failure_leaves_nothing(
    registry: ModelRegistry, sources: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real_copy = shutil.copyfile

    def failing_copy(src: Path, dst: Path) -> None:
        calls.append(src)
        if len(calls) == 2:
            raise OSError("disk full")
        real_copy(src, dst)

    monkeypatch.setattr(shutil, "copyfile", failing_copy)
    with pytest.raises(OSError, match="disk full"):
        registry.publish(sources, metadata={})
    assert len(calls) == 2
    assert registry.versions() == []
    assert not (registry.root / "CURRENT").exists()
    assert _leftovers(registry.root) == []


@pytest.mark.parametrize(
    ("files", "metadata", "match"),
    [
        ({}, {}, "files must name at least one file"),
        ({"../escape.onnx": None}, {}, "files keys must be plain file names"),
        ({"manifest.json": None}, {}, "files keys must be plain file names"),
        ({".hidden": None}, {}, "files keys must be plain file names"),
        ({"model.onnx": None}, {"bad": object()}, "metadata must be JSON-serialisable"),
        ({"model.onnx": None}, {"loss": float("nan")}, "metadata must be JSON-serialisable"),
    ],
)
def test_publish_rejects_bad_input(
    registry: ModelRegistry,
    sources: dict[str, Path],
    files: dict[str, Path | None],
    metadata: dict[str, object],
    match: str,
) -> None:
    files = {name: sources["model.onnx"] for name in files}
    with pytest.raises(InvalidParameterError, match=match):
        registry.publish(files, metadata=metadata)  # type: ignore[arg-type]
    assert registry.versions() == []


def test_tampered_file_is_detected(registry: ModelRegistry, sources: dict[str, Path]) -> None:
    v1 = registry.publish(sources, metadata={})
    v2 = registry.publish(sources, metadata={})
    path = v1.path / "model_int8.onnx"
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01  # flip one bit
    path.write_bytes(bytes(data))
    with pytest.raises(
        ArtifactMismatchError, match=r"'model_int8\.onnx' of model version 1 does not"
    ):
        v1.file("model_int8.onnx")
    assert v1.file("model.onnx").is_file()  # untouched files still verify
    with pytest.raises(ArtifactMismatchError):
        registry.rollback()  # to the tampered version 1: refused, nothing changes
    assert registry.current() == v2
    with pytest.raises(ArtifactMismatchError):
        registry.activate(1)
    assert registry.current() == v2
    (v2.path / "model.onnx").unlink()
    with pytest.raises(ArtifactMismatchError, match="is missing"):
        registry.current().file("model.onnx")
    with pytest.raises(NotFoundError, match="name must be a file of model version 2"):
        v2.file("weights.pt")


def test_corrupt_manifest_is_reported(registry: ModelRegistry, sources: dict[str, Path]) -> None:
    v1 = registry.publish(sources, metadata={})
    (v1.path / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactMismatchError, match="is not a readable manifest"):
        registry.current()


def test_concurrent_publishers_get_distinct_versions(
    registry: ModelRegistry, sources: dict[str, Path]
) -> None:
    results: list[ModelVersion] = []
    errors: list[BaseException] = []

    def publish(run: int) -> None:
        try:
            # A separate handle per thread, as separate processes would have.
            results.append(ModelRegistry(registry.root).publish(sources, metadata={"run": run}))
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=publish, args=(run,)) for run in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(v.version for v in results) == [1, 2, 3, 4, 5, 6]
    assert sorted(v.metadata["run"] for v in registry.versions()) == [0, 1, 2, 3, 4, 5]
    assert registry.current().version == 6  # numbered and activated under one lock
    for v in registry.versions():
        v.verify()
