"""Workflows of the generative model: data split, truth revenue, serving, export, evaluation."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from shelfwise.data.synthetic import ChainConfig, SyntheticChain, generate_chain
from shelfwise.domain import DisplayKind
from shelfwise.exceptions import (
    ArtifactMismatchError,
    InvalidParameterError,
    NotFoundError,
)
from shelfwise.generative.checkpoint import CONFIG_FILE, WEIGHTS_FILE
from shelfwise.generative.data import PlanogramCodec
from shelfwise.generative.pipelines.planogram import PlanogramPipeline
from shelfwise.generative.registry import ModelRegistry
from shelfwise.generative.training import PlanogramDiffusion
from shelfwise.pipeline.generative import (
    ONNX_FP32,
    ONNX_INT8,
    ExportRun,
    GateResult,
    GenerativeData,
    accuracy_gate,
    calibration_feeds,
    chain_generative_data,
    check_compatible,
    evaluate_generative,
    export_generative,
    load_generative_data,
    open_pipeline,
    sampling_latency,
    split_stores,
    truth_revenue,
)
from shelfwise.pipeline.generative import export as gen_export
from shelfwise.planogram import validate
from shelfwise.planogram.rules import MandatoryProducts, Rulebook

STEPS = 4


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    # Two torch threads on a busy 2-core machine spin-wait: a 10 ms forward takes a second.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def chain() -> SyntheticChain:
    return generate_chain(
        ChainConfig(n_stores=6, n_products=20, displays_per_store=2, weeks=4), random_state=1
    )


@pytest.fixture(scope="module")
def data(chain: SyntheticChain) -> GenerativeData:
    return chain_generative_data(chain, holdout_share=0.34)


@pytest.fixture(scope="module")
def checkpoint(data: GenerativeData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    est = PlanogramDiffusion(block_out_channels=(8, 16, 16), n_iterations=8, batch_size=8)
    est.fit(data.training_set(), data.codec, data.rulebook)
    return est.save(tmp_path_factory.mktemp("checkpoint"), for_inference=True)


def _forced(accepted: bool) -> object:
    def gate(fp32: object, int8: object, data: GenerativeData, **kw: object) -> GateResult:
        verdict = "forced accept" if accepted else "forced reject"
        return GateResult(accepted, verdict, 0, {}, {}, 0.05, 0.03)

    return gate


@pytest.fixture(scope="module")
def exports(
    checkpoint: Path, data: GenerativeData, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, ExportRun, ExportRun]:
    """A registry with version 1 (the real gate) and version 2 (gate forced to accept)."""
    registry = tmp_path_factory.mktemp("registry") / "models"
    first = export_generative(checkpoint, data, registry, n_gate=3, n_calibration=2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gen_export, "accuracy_gate", _forced(True))
        second = export_generative(checkpoint, data, registry, n_gate=3, n_calibration=2)
    return registry, first, second


# ------------------------------------------------------------------ data
def test_split_stores_is_deterministic_disjoint_and_complete() -> None:
    stores = [f"S{k:02d}" for k in range(1, 11)]
    train, held = split_stores(stores, holdout_share=0.3, random_state=4)
    assert (train, held) == split_stores(stores[::-1], holdout_share=0.3, random_state=4)
    assert not set(train) & set(held)
    assert sorted(train + held) == stores
    assert len(held) == 3
    assert list(train) == sorted(train) and list(held) == sorted(held)
    splits = {split_stores(stores, holdout_share=0.3, random_state=s)[1] for s in range(8)}
    assert len(splits) > 1  # the seed matters
    # at least one store on each side, whatever the share
    assert len(split_stores(stores, holdout_share=0.01, random_state=0)[1]) == 1
    assert len(split_stores(stores, holdout_share=0.99, random_state=0)[0]) == 1
    assert split_stores(["B", "A"], holdout_share=0.5, random_state=0) in {
        (("A",), ("B",)),
        (("B",), ("A",)),
    }


@pytest.mark.parametrize("share", [0.0, 1.0, -0.2, 1.5])
def test_split_stores_rejects_a_bad_share(share: float) -> None:
    with pytest.raises(InvalidParameterError, match="holdout_share must be in"):
        split_stores(["A", "B", "C"], holdout_share=share, random_state=0)


def test_split_stores_needs_two_stores() -> None:
    with pytest.raises(InvalidParameterError, match="at least 2 stores"):
        split_stores(["A"], holdout_share=0.5, random_state=0)


def test_chain_generative_data(chain: SyntheticChain, data: GenerativeData) -> None:
    stores = sorted(s.store_id for s in chain.stores)
    assert (data.train_stores, data.eval_stores) == split_stores(
        stores, holdout_share=0.34, random_state=0
    )
    assert len(data.eval_stores) == 2
    assert data.codec.n_shelves % 4 == 0
    assert data.codec.n_shelves >= max(len(d.shelves) for d in chain.displays)
    assert data.codec.product_ids == tuple(p.product_id for p in chain.products)
    for store, k in data.clusters.items():
        assert data.cluster_names[k] == str(chain.truth.true_cluster[store])
    assert {p.display_id for p in data.training_planograms()} == {
        d.display_id for d in chain.displays if d.store_id in data.train_stores
    }
    assert len(data.training_set()) == len(data.training_planograms())
    assert data.revenue is not None and data.revenue_per_facing is not None
    with pytest.raises(InvalidParameterError, match="limit must be an integer >= 1"):
        data.cases(limit=0)


def test_truth_revenue_by_hand(chain: SyntheticChain) -> None:
    truth, products = chain.truth, list(chain.products)
    per_facing, revenue = truth_revenue(truth, products)
    price = {p.product_id: p.price or 0.0 for p in products}
    store = chain.stores[2].store_id
    facings = {"P0003": 2, "P0007": 1, "P0011": 5, "P0012": 0}
    by_hand = sum(price[p] * truth.expected_sales(store, p, q) for p, q in facings.items())
    assert revenue(store, facings) == pytest.approx(by_hand, rel=1e-12)
    assert by_hand > 0
    assert revenue(store, {}) == 0.0
    assert revenue(store, {"P0003": 0}) == 0.0
    one = [price[p.product_id] * truth.expected_sales(store, p.product_id, 1) for p in products]
    np.testing.assert_allclose(per_facing[store], one, rtol=1e-12)
    assert set(per_facing) == set(truth.store_ids)
    with pytest.raises(InvalidParameterError, match="product_id must be a product"):
        revenue(store, {"NOPE": 1})


def test_load_generative_data_rejects_a_database_with_a_synthetic_seed() -> None:
    with pytest.raises(InvalidParameterError, match="--synthetic-seed reads no database"):
        load_generative_data(synthetic_seed=0, database_url="sqlite:///x.db")
    with pytest.raises(InvalidParameterError, match="--synthetic-seed reads no database"):
        load_generative_data(synthetic_seed=0, truth_seed=0)


# ------------------------------------------------------------------ serving
def test_open_a_checkpoint_folder(checkpoint: Path, data: GenerativeData) -> None:
    loaded = open_pipeline(checkpoint, n_steps=STEPS, eta=0.0, guidance_scale=1.5)
    assert loaded.precision == "torch" and loaded.version is None and loaded.note == ""
    assert loaded.source == str(checkpoint)
    pipe = loaded.pipeline
    assert (pipe.n_steps, pipe.eta, pipe.guidance_scale) == (STEPS, 0.0, 1.5)
    assert pipe.codec.product_ids == data.codec.product_ids
    assert pipe.rulebook == data.rulebook
    case = data.cases()[0]
    for g in pipe.generate(case.display, case.cluster, n_samples=2, rng=np.random.default_rng(0)):
        assert validate(g.planogram, case.display, data.products, data.rulebook).is_valid


def test_precision_errors_are_clear(checkpoint: Path, tmp_path: Path) -> None:
    for precision, name in (("int8", ONNX_INT8), ("fp32", ONNX_FP32)):
        with pytest.raises(InvalidParameterError, match=f"needs {name} in .*generate export"):
            open_pipeline(checkpoint, precision=precision)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="precision must be one of"):
        open_pipeline(checkpoint, precision="fp16")  # type: ignore[arg-type]
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(checkpoint / CONFIG_FILE, bare / CONFIG_FILE)
    with pytest.raises(InvalidParameterError, match=f"needs {WEIGHTS_FILE}"):
        open_pipeline(bare)
    with pytest.raises(ArtifactMismatchError, match=r"must hold config\.json"):
        open_pipeline(tmp_path / "nowhere")
    empty = tmp_path / "empty-registry"
    (empty / "versions").mkdir(parents=True)
    with pytest.raises(NotFoundError, match="no active version"):
        open_pipeline(empty)


def test_export_publishes_a_gated_version(
    exports: tuple[Path, ExportRun, ExportRun], checkpoint: Path
) -> None:
    registry, first, _ = exports
    v1 = ModelRegistry(registry).get(1)
    assert first.version.version == 1
    assert set(v1.files) == {CONFIG_FILE, WEIGHTS_FILE, ONNX_FP32, ONNX_INT8}
    v1.verify()
    assert first.onnx_bytes == (v1.path / ONNX_FP32).stat().st_size
    assert first.int8_bytes == (v1.path / ONNX_INT8).stat().st_size
    gate = first.gate
    assert gate.n == 3
    assert (
        set(gate.fp32)
        == set(gate.int8)
        == {
            "raw_valid",
            "naive_raw_valid",
            "revenue_proxy",
            "facings_changed",
        }
    )
    # the verdict follows from the recorded metrics and tolerances
    rel = abs(gate.int8["revenue_proxy"] - gate.fp32["revenue_proxy"]) / gate.fp32["revenue_proxy"]
    within = rel <= gate.revenue_tolerance and all(
        gate.int8[k] >= gate.fp32[k] - gate.valid_tolerance
        for k in ("raw_valid", "naive_raw_valid")
    )
    assert gate.accepted == within
    assert (v1.int8_accepted, v1.int8_reason) == (gate.accepted, gate.reason)
    assert v1.metadata["gate"] == {"n": 3, "fp32": dict(gate.fp32), "int8": dict(gate.int8)}
    assert v1.metadata["source_checkpoint"] == str(checkpoint)
    assert v1.metadata["n_iterations_done"] == 8
    assert v1.metadata["training"]["block_out_channels"] == [8, 16, 16]


def test_auto_precision_follows_the_gate_and_rollback(
    exports: tuple[Path, ExportRun, ExportRun], data: GenerativeData, tmp_path: Path
) -> None:
    original, first, second = exports
    registry = tmp_path / "models"
    shutil.copytree(original, registry)
    reg = ModelRegistry(registry)
    assert second.version.version == 2 and second.gate.reason == "forced accept"
    assert reg.current().version == 2 and reg.current().int8_accepted
    loaded = open_pipeline(registry, n_steps=STEPS)
    assert (loaded.precision, loaded.version, loaded.note) == ("int8", 2, "")
    assert loaded.source == str(registry / "versions" / "v0002")
    # rollback: version 1, whose own gate decides
    assert reg.rollback().version == 1
    loaded = open_pipeline(registry, n_steps=STEPS)
    assert loaded.version == 1
    if first.gate.accepted:
        assert (loaded.precision, loaded.note) == ("int8", "")
    else:
        assert loaded.precision == "fp32"
        assert first.gate.reason in loaded.note and "serving fp32" in loaded.note
    # a version whose INT8 model the gate rejected serves fp32 and says why
    v2 = reg.get(2)
    rejected = reg.publish(
        {name: v2.path / name for name in v2.files},
        metadata={},
        int8_accepted=False,
        int8_reason="revenue proxy differs by 9.9%",
    )
    loaded = open_pipeline(registry, n_steps=STEPS)
    assert (loaded.version, loaded.precision) == (rejected.version, "fp32")
    assert loaded.note == (
        "INT8 model not accepted by the accuracy gate (revenue proxy differs by 9.9%); serving fp32"
    )
    # explicit precisions still serve what was asked
    assert open_pipeline(registry, precision="int8").precision == "int8"
    assert open_pipeline(registry, precision="torch").precision == "torch"
    # a version whose file no longer matches its checksum is not served
    with (rejected.path / ONNX_FP32).open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ArtifactMismatchError, match="does not match its checksum"):
        open_pipeline(registry)


def test_a_plain_folder_with_both_onnx_files_serves_fp32(
    exports: tuple[Path, ExportRun, ExportRun], tmp_path: Path
) -> None:
    """Outside a registry no gate has judged the INT8 file: auto serves fp32 and says so."""
    _, _, second = exports
    folder = tmp_path / "plain"
    shutil.copytree(second.version.path, folder)
    loaded = open_pipeline(folder, n_steps=STEPS)
    assert (loaded.precision, loaded.version) == ("fp32", None)
    assert loaded.note == (
        "INT8 model outside a model registry has no accuracy-gate verdict; serving fp32"
    )
    assert open_pipeline(folder, precision="int8").precision == "int8"


def test_onnx_fp32_samples_like_torch(
    exports: tuple[Path, ExportRun, ExportRun], checkpoint: Path, data: GenerativeData
) -> None:
    registry, _, _ = exports
    onnx = open_pipeline(registry, precision="fp32", n_steps=STEPS).pipeline
    torch_pipe = open_pipeline(checkpoint, n_steps=STEPS).pipeline
    int8 = open_pipeline(registry, precision="int8", n_steps=STEPS).pipeline
    case = data.cases()[1]
    cond = data.codec.conditions(case.display, data.rulebook)[None].repeat(2, axis=0)
    label = np.full(2, data.codec.class_label(case.cluster, case.display.kind))
    a = onnx.sample(cond, label, rng=np.random.default_rng(5))
    b = torch_pipe.sample(cond, label, rng=np.random.default_rng(5))
    np.testing.assert_allclose(a, b, atol=2e-3)
    for g in int8.generate(case.display, case.cluster, n_samples=2, rng=np.random.default_rng(1)):
        assert validate(g.planogram, case.display, data.products, data.rulebook).is_valid


def test_export_refuses_data_of_another_catalog(
    checkpoint: Path, data: GenerativeData, tmp_path: Path
) -> None:
    other = chain_generative_data(
        generate_chain(
            ChainConfig(n_stores=6, n_products=20, displays_per_store=2, weeks=4), random_state=2
        ),
        holdout_share=0.34,
    )
    assert other.codec.product_ids == data.codec.product_ids  # same ids, other products
    with pytest.raises(ArtifactMismatchError, match="another catalog"):
        export_generative(checkpoint, other, tmp_path / "models", n_gate=2, n_calibration=1)
    assert (
        not (tmp_path / "models" / "versions").exists()
        or not ModelRegistry(tmp_path / "models").versions()
    )
    pipe = open_pipeline(checkpoint, n_steps=STEPS).pipeline
    with pytest.raises(ArtifactMismatchError, match="another catalog"):
        evaluate_generative(other, {"m": pipe}, n_cases=1, baselines=False)
    relabelled = replace(data, cluster_names=tuple(f"c{k}" for k in data.cluster_names))
    with pytest.raises(ArtifactMismatchError, match="store clusters"):
        evaluate_generative(relabelled, {"m": pipe}, n_cases=1, baselines=False)
    # new product names or codes do not matter to the model; a new width does
    codec = data.codec

    def recoded(**change: object) -> GenerativeData:
        catalog = [replace(p, **change) if p.product_id == "P0005" else p for p in codec.catalog]
        new = PlanogramCodec(
            catalog,
            n_shelves=codec.n_shelves,
            n_slots=codec.n_slots,
            n_clusters=codec.n_clusters,
            cluster_names=codec.cluster_names,
        )
        return replace(data, codec=new)

    check_compatible(pipe.codec, recoded(name="Polar Peak, new label", gtin=None), model="m")
    with pytest.raises(ArtifactMismatchError, match="product 4 is 'P0005'"):
        check_compatible(pipe.codec, recoded(width_cm=9.9), model="m")


# ------------------------------------------------------------------ gate and calibration
def test_the_gate_accepts_a_model_against_itself(checkpoint: Path, data: GenerativeData) -> None:
    pipe = open_pipeline(checkpoint, n_steps=STEPS, naive=True).pipeline
    gate = accuracy_gate(pipe, pipe, data, n_cases=3)
    assert gate.accepted and gate.reason.startswith("within tolerance on 3 held-out displays")
    assert gate.fp32 == gate.int8
    assert 0.0 <= gate.fp32["raw_valid"] <= 1.0 and gate.fp32["revenue_proxy"] > 0
    with pytest.raises(InvalidParameterError, match="n_cases must be an integer >= 1"):
        accuracy_gate(pipe, pipe, data, n_cases=0)


def test_calibration_feeds_record_every_step(checkpoint: Path, data: GenerativeData) -> None:
    pipe = open_pipeline(checkpoint, n_steps=STEPS).pipeline
    inner = pipe.denoiser
    feeds = calibration_feeds(pipe, data, n_planograms=3, random_state=1)
    assert pipe.denoiser is inner  # the recorder is taken off again
    assert len(feeds) == 3 * STEPS
    codec = data.codec
    for f in feeds:
        assert set(f) == {"sample", "timestep", "conditions", "class_labels"}
        assert f["sample"].shape == (1, codec.n_channels, codec.n_shelves, codec.n_slots)
        assert f["conditions"].shape == (1, codec.n_conditions, codec.n_shelves, codec.n_slots)
    assert [int(f["timestep"][0]) for f in feeds[:STEPS]] == pipe.scheduler.timesteps.tolist()
    # generate, then arrange (mix channels given) alternately
    assert feeds[0]["conditions"][0, -1].max() == 0.0
    assert feeds[STEPS]["conditions"][0, -1].min() == 1.0


# ------------------------------------------------------------------ evaluation
def test_evaluate_generative_table(checkpoint: Path, data: GenerativeData) -> None:
    pipe = open_pipeline(checkpoint, n_steps=STEPS, naive=True).pipeline
    said: list[str] = []
    results = evaluate_generative(
        data, {"tiny": pipe}, n_cases=3, n_samples=2, progress=said.append
    )
    rows = {(r.task, r.method): r for r in results}
    assert set(rows) == {
        (task, method)
        for task in ("arrange", "generate")
        for method in ("solver", "greedy", "tiny")
    }
    assert len(said) == 6
    for (task, method), r in rows.items():
        assert r.n == (2 * 3 if (task, method) == ("generate", "tiny") else 3)
        assert 0.0 <= r.raw_valid <= 1.0 and 0.0 <= r.novelty <= 1.0
        assert 0.0 <= r.style_layout <= 1.0 and 0.0 <= r.style_products <= 1.0
        assert r.revenue_per_day > 0 and r.p95_ms >= r.p50_ms > 0
        assert r.failures == 0 and r.valid_after_repair == 1.0
    assert rows[("arrange", "solver")].raw_valid == 1.0
    assert rows[("arrange", "solver")].facings_changed == 0.0
    assert rows[("arrange", "tiny")].naive_raw_valid is not None
    assert rows[("arrange", "solver")].naive_raw_valid is None
    assert rows[("arrange", "greedy")].diversity == 0.0
    only = evaluate_generative(data, {"tiny": pipe}, n_cases=3, baselines=False)
    assert [(r.task, r.method) for r in only] == [("arrange", "tiny"), ("generate", "tiny")]
    # the same seed gives the same table
    again = evaluate_generative(data, {"tiny": pipe}, n_cases=3, baselines=False)
    assert [r.revenue_per_day for r in again] == [r.revenue_per_day for r in only]
    with pytest.raises(InvalidParameterError, match="n_cases must be an integer >= 1"):
        evaluate_generative(data, {"tiny": pipe}, n_cases=0)
    with pytest.raises(InvalidParameterError, match="needs demand truth"):
        evaluate_generative(replace(data, revenue=None), {"tiny": pipe}, n_cases=3)


def test_evaluate_counts_what_repair_cannot_save(checkpoint: Path, data: GenerativeData) -> None:
    """A mandatory product outside the catalog on end caps: every method fails there."""
    rules = Rulebook(
        name="impossible-end-caps",
        rules=(
            *data.rulebook.rules,
            MandatoryProducts(
                id="ghost", product_ids=("NOPE",), display_kinds=(DisplayKind.END_CAP,)
            ),
        ),
    )
    strict = replace(data, rulebook=rules)
    loaded = open_pipeline(checkpoint, n_steps=STEPS).pipeline
    pipe = PlanogramPipeline(loaded.denoiser, loaded.codec, rules, n_steps=STEPS)
    cases = strict.cases()
    end_caps = sum(c.display.kind == DisplayKind.END_CAP for c in cases)
    assert 0 < end_caps < len(cases)
    results = evaluate_generative(strict, {"tiny": pipe}, n_cases=len(cases), n_samples=2)
    for r in results:
        per_case = 2 if (r.task, r.method) == ("generate", "tiny") else 1
        assert r.failures == end_caps * per_case
        assert r.n == (len(cases) - end_caps) * per_case
        assert r.valid_after_repair == pytest.approx(1 - end_caps / len(cases))


def test_sampling_latency(checkpoint: Path, data: GenerativeData) -> None:
    pipe = open_pipeline(checkpoint, n_steps=2).pipeline
    case = data.cases()[0]
    lat = sampling_latency("tiny", pipe, case.display, case.cluster, n=5, warmup=1)
    assert (lat.name, lat.n) == ("tiny", 5)
    assert 0 < lat.p50_ms <= lat.p95_ms
    for kw in ({"n": 0}, {"warmup": -1}, {"n": 2.5}):
        with pytest.raises(InvalidParameterError, match="must be an integer"):
            sampling_latency("tiny", pipe, case.display, case.cluster, **kw)  # type: ignore[arg-type]


def test_psa_files_are_a_training_source(chain: SyntheticChain, tmp_path: Path) -> None:
    from shelfwise.pipeline.generative import load_generative_data
    from shelfwise.planogram.psa import PsaDocument, write_psa

    displays = {d.display_id: d for d in chain.displays}
    latest = {p.display_id: p for p in chain.planograms}  # by display, the newest version
    for k, plan in enumerate(latest.values()):
        d = displays[plan.display_id]
        used = set(plan.facings())
        products = tuple(p for p in chain.products if p.product_id in used)
        write_psa(PsaDocument(f"project {k}", d, products, plan), tmp_path / f"{k}.psa")
    data = load_generative_data(psa=tmp_path)
    assert len(data.planograms) == len(latest)
    assert data.cluster_names == ("all",)
    assert data.revenue is None
    assert any("one cluster" in n for n in data.notes)
    ts = data.training_set()
    assert len(ts) == sum(
        displays[p.display_id].store_id in set(data.train_stores) for p in latest.values()
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidParameterError, match=r"must hold \.psa files; folder .* has none"):
        load_generative_data(psa=tmp_path / "empty")
    with pytest.raises(InvalidParameterError, match=r"must be an existing \.psa file or folder"):
        load_generative_data(psa=tmp_path / "missing")
    with pytest.raises(InvalidParameterError, match="--psa reads planogram files only"):
        load_generative_data(psa=tmp_path, synthetic_seed=0)
