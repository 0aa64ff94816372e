"""``shelfwise generate`` through Typer's CliRunner, on a tiny model of the default chain.

The default chain (``--synthetic-seed 0``) takes seconds to generate, so it is generated once
here and ``generate_chain`` is patched to hand that chain back; and ``generate train`` would
train the full-size model, so its test patches in a tiny one (the CLI's wiring is what is
tested there, not the model).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from shelfwise.cli.main import app
from shelfwise.data import synthetic
from shelfwise.data.synthetic import SyntheticChain
from shelfwise.generative import training
from shelfwise.generative.checkpoint import CONFIG_FILE, WEIGHTS_FILE
from shelfwise.generative.registry import ModelRegistry
from shelfwise.generative.training import PlanogramDiffusion
from shelfwise.pipeline.generative import GenerativeData, chain_generative_data
from shelfwise.planogram import validate
from shelfwise.planogram.io import read_planograms

runner = CliRunner()
DISPLAY = "S01-D1"


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    # Two torch threads on a busy 2-core machine spin-wait: a 10 ms forward takes a second.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def chain() -> Iterator[SyntheticChain]:
    """The default chain of seed 0, generated once; ``generate_chain`` hands it back."""
    made = synthetic.generate_chain(random_state=0)
    real = synthetic.generate_chain

    def cached(config: Any = None, *, random_state: int = 0) -> SyntheticChain:
        if config is None and random_state == 0:
            return made
        return real(*([] if config is None else [config]), random_state=random_state)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(synthetic, "generate_chain", cached)
        yield made


@pytest.fixture(scope="module")
def data(chain: SyntheticChain) -> GenerativeData:
    return chain_generative_data(chain)


@pytest.fixture(scope="module")
def checkpoint(data: GenerativeData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    est = PlanogramDiffusion(block_out_channels=(8, 16, 16), n_iterations=2, batch_size=8)
    est.fit(data.training_set(), data.codec, data.rulebook)
    return est.save(tmp_path_factory.mktemp("tiny"), for_inference=True)


def _invoke(*args: str | Path) -> Any:
    return runner.invoke(app, ["generate", *[str(a) for a in args]])


def _rows(output: str) -> list[list[str]]:
    """The version rows of ``generate versions`` (split on blanks)."""
    return [line.split() for line in output.splitlines() if line.strip()[:1].isdigit()]


def _registry_with_two_versions(checkpoint: Path, root: Path) -> Path:
    reg = ModelRegistry(root)
    files = {name: checkpoint / name for name in (CONFIG_FILE, WEIGHTS_FILE)}
    reg.publish(files, metadata={"n_iterations_done": 2}, int8_reason="no INT8 file")
    reg.publish(files, metadata={"n_iterations_done": 5}, int8_reason="no INT8 file")
    return root


# ------------------------------------------------------------------ sample and arrange
def test_sample_writes_valid_planograms(
    checkpoint: Path, data: GenerativeData, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = _invoke(
        "sample", "--display", DISPLAY, "--synthetic-seed", "0", "--model", checkpoint,
        "--steps", "2", "--n", "2", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "passed the validator" in result.output
    assert (out / f"generated-{DISPLAY}-1.png").stat().st_size > 0
    assert (out / f"generated-{DISPLAY}-2.png").stat().st_size > 0
    plans = read_planograms(out / f"generated-{DISPLAY}.csv")
    assert [p.version for p in plans] == [1, 2]
    display = data.displays[DISPLAY]
    for plan in plans:
        assert plan.display_id == DISPLAY and plan.positions
        assert validate(plan, display, data.products, data.rulebook).is_valid


def test_arrange_places_a_facings_file(
    checkpoint: Path, data: GenerativeData, tmp_path: Path
) -> None:
    own = [p for p in data.planograms if p.display_id == DISPLAY][-1].facings()
    wanted = dict(list(own.items())[:6])
    facings = tmp_path / "facings.csv"
    facings.write_text("product_id,facings\n" + "".join(f"{p},{q}\n" for p, q in wanted.items()))
    out = tmp_path / "out"
    result = _invoke(
        "arrange", "--display", DISPLAY, "--facings", facings, "--synthetic-seed", "0",
        "--model", checkpoint, "--steps", "2", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "passed the validator" in result.output
    assert (out / f"arranged-{DISPLAY}-1.png").is_file()
    (plan,) = read_planograms(out / f"arranged-{DISPLAY}.csv")
    assert validate(plan, data.displays[DISPLAY], data.products, data.rulebook).is_valid
    assert set(plan.facings()) <= set(wanted)


def test_unknown_display_is_named(checkpoint: Path, tmp_path: Path) -> None:
    result = _invoke(
        "sample", "--display", "S999-D9", "--synthetic-seed", "0", "--model", checkpoint,
        "--steps", "2", "--out", tmp_path,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "'S999-D9' is not a known display" in result.output
    assert "Traceback" not in result.output


def test_int8_without_an_export_is_refused_clearly(checkpoint: Path, tmp_path: Path) -> None:
    result = _invoke(
        "sample", "--display", DISPLAY, "--synthetic-seed", "0", "--model", checkpoint,
        "--precision", "int8", "--out", tmp_path,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "model.int8.onnx" in result.output and "shelfwise generate export" in result.output
    assert not list(tmp_path.iterdir())


def test_a_facings_file_with_an_unknown_product_is_rejected(
    checkpoint: Path, tmp_path: Path
) -> None:
    facings = tmp_path / "facings.csv"
    facings.write_text("product_id,facings\nP0001,2\nP9999,1\n")
    result = _invoke(
        "arrange", "--display", DISPLAY, "--facings", facings, "--synthetic-seed", "0",
        "--model", checkpoint, "--steps", "2", "--out", tmp_path / "out",
    )  # fmt: skip
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "facings.csv" in text and "row 2" in text and "P9999" in text
    assert not (tmp_path / "out").exists()


def test_arrange_needs_facings_without_a_database(checkpoint: Path, tmp_path: Path) -> None:
    result = _invoke(
        "arrange", "--display", DISPLAY, "--synthetic-seed", "0", "--model", checkpoint,
        "--out", tmp_path / "out",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "give --facings with --synthetic-seed" in result.output


def test_an_unknown_cluster_is_named(checkpoint: Path, tmp_path: Path) -> None:
    result = _invoke(
        "sample", "--display", DISPLAY, "--synthetic-seed", "0", "--model", checkpoint,
        "--cluster", "nine", "--steps", "2", "--out", tmp_path,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "cluster must be one of the model's clusters" in result.output
    assert "'nine'" in result.output


# ------------------------------------------------------------------ registry
def test_versions_and_rollback(checkpoint: Path, tmp_path: Path) -> None:
    registry = _registry_with_two_versions(checkpoint, tmp_path / "models")
    listed = _invoke("versions", "--registry", registry)
    assert listed.exit_code == 0, listed.output
    rows = _rows(listed.output)
    assert [r[0] for r in rows] == ["1", "2"]
    assert rows[1][1] == "*" and rows[0][1] != "*"  # version 2 is active
    assert [r[-5] for r in rows] == ["2", "5"]  # iterations
    assert "rejected: no INT8 file" in listed.output
    back = _invoke("rollback", "--registry", registry)
    assert back.exit_code == 0, back.output
    assert "Active version is now 1" in back.output
    assert ModelRegistry(registry).current().version == 1
    listed = _invoke("versions", "--registry", registry)
    rows = _rows(listed.output)
    assert rows[0][1] == "*" and rows[1][1] != "*"
    again = _invoke("rollback", "--registry", registry)
    assert again.exit_code == 1
    assert "Error" in again.output and "Traceback" not in again.output
    # the registry serves its active version to sample
    out = tmp_path / "out"
    sample = _invoke(
        "sample", "--display", DISPLAY, "--synthetic-seed", "0", "--model", registry,
        "--steps", "2", "--n", "1", "--out", out,
    )  # fmt: skip
    assert sample.exit_code == 0, sample.output
    assert (out / f"generated-{DISPLAY}-1.png").is_file()


def test_activate_rolls_forward_again(checkpoint: Path, tmp_path: Path) -> None:
    registry = _registry_with_two_versions(checkpoint, tmp_path / "models")
    assert _invoke("rollback", "--registry", registry).exit_code == 0
    forward = _invoke("activate", "2", "--registry", registry)
    assert forward.exit_code == 0, forward.output
    assert "Active version is now 2" in forward.output
    assert ModelRegistry(registry).current().version == 2
    missing = _invoke("activate", "9", "--registry", registry)
    assert missing.exit_code == 1 and "9" in missing.output


def test_versions_without_an_active_one_still_lists(checkpoint: Path, tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "models")
    reg.publish({CONFIG_FILE: checkpoint / CONFIG_FILE}, metadata={}, activate=False)
    listed = _invoke("versions", "--registry", tmp_path / "models")
    assert listed.exit_code == 0, listed.output
    assert [r[0] for r in _rows(listed.output)] == ["1"]
    assert "*" not in listed.output


def test_versions_of_an_empty_registry(tmp_path: Path) -> None:
    listed = _invoke("versions", "--registry", tmp_path / "nothing")
    assert listed.exit_code == 1
    assert "holds no versions yet" in listed.output
    assert not (tmp_path / "nothing").exists()  # listing creates nothing


# ------------------------------------------------------------------ train
class _Tiny(PlanogramDiffusion):
    """The estimator at a size a test can train in a second."""

    def __init__(self, **kw: Any) -> None:
        kw.update(block_out_channels=(8, 16, 16), batch_size=8)
        super().__init__(**kw)


def test_train_saves_and_resumes(
    chain: SyntheticChain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(training, "PlanogramDiffusion", _Tiny)
    out = tmp_path / "ckpt"
    first = _invoke("train", "--synthetic-seed", "0", "--iterations", "2", "--out", out)
    assert first.exit_code == 0, first.output
    assert "Saved" in first.output and "after 2 iterations" in first.output
    assert "stores held out" in first.output
    assert {p.name for p in out.iterdir()} >= {CONFIG_FILE, WEIGHTS_FILE, "training_state.pt"}
    more = _invoke("train", "--synthetic-seed", "0", "--iterations", "3", "--out", out, "--resume")
    assert more.exit_code == 0, more.output
    assert "after 3 iterations" in more.output
    config = json.loads((out / CONFIG_FILE).read_text())
    assert config["n_iterations_done"] == 3
    ship = tmp_path / "ship"
    small = _invoke(
        "train", "--synthetic-seed", "0", "--iterations", "1", "--out", ship, "--for-inference"
    )
    assert small.exit_code == 0, small.output
    assert not (ship / "training_state.pt").exists()
    bad = _invoke("train", "--synthetic-seed", "0", "--iterations", "0", "--out", tmp_path / "x")
    assert bad.exit_code == 1
    assert "n_iterations" in bad.output


def test_help_of_every_generate_command() -> None:
    for cmd in ("train", "export", "sample", "arrange", "evaluate", "versions", "rollback"):
        result = _invoke(cmd, "--help")
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


# ------------------------------------------------------------------ export and evaluate
def test_export_then_evaluate(checkpoint: Path, data: GenerativeData, tmp_path: Path) -> None:
    registry = tmp_path / "models"
    export = _invoke(
        "export", checkpoint, "--registry", registry, "--synthetic-seed", "0",
        "--gate-displays", "2",
    )  # fmt: skip
    assert export.exit_code == 0, export.output
    version = ModelRegistry(registry).current()
    assert version.version == 1
    assert set(version.files) == {CONFIG_FILE, WEIGHTS_FILE, "model.onnx", "model.int8.onnx"}
    verdict = "INT8 accepted" if version.int8_accepted else "INT8 REJECTED (fp32 is served)"
    text = " ".join(export.output.split())
    assert verdict in text and "Published version 1" in text
    assert version.int8_reason.split(";")[0] in text
    out = tmp_path / "table.json"
    evaluate = _invoke(
        "evaluate", "--model", registry, "--synthetic-seed", "0", "--displays", "2",
        "--samples", "1", "--out", out,
    )  # fmt: skip
    assert evaluate.exit_code == 0, evaluate.output
    payload = json.loads(out.read_text())
    name = "diffusion-int8" if version.int8_accepted else "diffusion-fp32"
    assert set(payload["methods"]) == {
        f"{task}/{method}"
        for task in ("arrange", "generate")
        for method in ("solver", "greedy", name)
    }
    for key, row in payload["methods"].items():
        assert row["n"] == 2, key
        assert row["valid_after_repair"] == 1.0, key
    assert payload["sampling_latency"]["precision"] == name
    assert 0 < payload["sampling_latency"]["p50_ms"] <= payload["sampling_latency"]["p95_ms"]
    assert "Table written to" in evaluate.output
    zero = _invoke("evaluate", "--model", registry, "--synthetic-seed", "0", "--displays", "0")
    assert zero.exit_code == 1
    assert "n_cases must be an integer >= 1" in zero.output
