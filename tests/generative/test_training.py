"""Training the planogram diffusion model: fit, options, checkpoints, resume.

A tiny network (77k weights, a few iterations) keeps every test to a few seconds; what is
checked is bookkeeping that does not depend on the model being any good: the loss history, the
float16 checkpoint, bit-for-bit resumption, and the refusals.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from shelfwise.data.synthetic import ChainConfig, generate_chain
from shelfwise.data.synthetic.world import SyntheticChain
from shelfwise.exceptions import ArtifactMismatchError, InvalidParameterError, NotFittedError
from shelfwise.generative.checkpoint import read_config
from shelfwise.generative.data import PlanogramCodec, TrainingSet, build_training_set
from shelfwise.generative.models import PlanogramUNet
from shelfwise.generative.training import PlanogramDiffusion
from shelfwise.planogram.rules import default_rulebook

TINY: dict[str, Any] = {"block_out_channels": (8, 16, 16), "batch_size": 8, "random_state": 3}
COLUMNS = ["iteration", "loss", "diffusion", "constraint", "revenue"]


@pytest.fixture(scope="module")
def chain() -> SyntheticChain:
    return generate_chain(
        ChainConfig(n_stores=6, n_products=20, displays_per_store=2, weeks=4), random_state=1
    )


@pytest.fixture(scope="module")
def codec(chain: SyntheticChain) -> PlanogramCodec:
    return PlanogramCodec(chain.products, n_clusters=4)


@pytest.fixture(scope="module")
def data(chain: SyntheticChain, codec: PlanogramCodec) -> TrainingSet:
    rng = np.random.default_rng(0)
    revenue = {s.store_id: rng.uniform(0.5, 3.0, codec.n_products) for s in chain.stores}
    return build_training_set(
        codec,
        chain.planograms,
        {d.display_id: d for d in chain.displays},
        chain.truth.true_cluster,
        revenue=revenue,
    )


@pytest.fixture(scope="module")
def straight(
    data: TrainingSet, codec: PlanogramCodec, tmp_path_factory: pytest.TempPathFactory
) -> tuple[PlanogramDiffusion, Path]:
    """Six iterations straight through, checkpointing every 3; and a copy of the checkpoint
    the folder held after iteration 3 (what a run killed during iteration 5 leaves)."""
    run = tmp_path_factory.mktemp("run")
    snapshot = tmp_path_factory.mktemp("killed") / "checkpoint"

    def copy_at_4(i: int, n: int, losses: Mapping[str, float]) -> None:
        if i == 4:
            shutil.copytree(run, snapshot)

    est = PlanogramDiffusion(n_iterations=6, **TINY).fit(
        data, codec, callback=copy_at_4, checkpoint_dir=run, checkpoint_every=3
    )
    return est, snapshot


@pytest.fixture(scope="module")
def fitted(straight: tuple[PlanogramDiffusion, Path]) -> PlanogramDiffusion:
    return straight[0]


@pytest.fixture(scope="module")
def halfway(
    data: TrainingSet, codec: PlanogramCodec, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A resumable checkpoint after three iterations."""
    folder = tmp_path_factory.mktemp("halfway")
    PlanogramDiffusion(n_iterations=3, **TINY).fit(
        data, codec, checkpoint_dir=folder, checkpoint_every=3
    )
    return folder


def _batch(data: TrainingSet, codec: PlanogramCodec) -> tuple[torch.Tensor, ...]:
    """A fixed noisy batch to compare networks on."""
    gen = torch.Generator().manual_seed(0)
    x = torch.from_numpy(data.x0[:4]) + 0.3 * torch.randn(data.x0[:4].shape, generator=gen)
    t = torch.tensor([1, 50, 300, 900])
    return x, t, torch.from_numpy(data.conditions[:4]), torch.from_numpy(data.class_labels[:4])


# ------------------------------------------------------------------------------ fit
def test_fit_records_one_finite_row_per_iteration(
    fitted: PlanogramDiffusion, data: TrainingSet, codec: PlanogramCodec
) -> None:
    h = fitted.loss_history_
    assert list(h.columns) == COLUMNS
    assert h["iteration"].tolist() == [1, 2, 3, 4, 5, 6]
    assert np.isfinite(h[COLUMNS[1:]].to_numpy()).all()
    assert fitted.n_iterations_done_ == 6
    # The total is Eq. (6): diffusion + lambda_c * constraint - lambda_r * revenue, the
    # revenue column being already divided by the revenue scale.
    total = h["diffusion"] + 0.1 * h["constraint"] - 0.02 * h["revenue"]
    np.testing.assert_allclose(h["loss"], total, rtol=1e-5)
    assert (h["diffusion"] > 0).all() and (h["constraint"] >= 0).all()
    # revenue_scale_ is the mean expected revenue per day of the training planograms, here
    # computed by hand (every slot sold as slot / width facings of the product it holds).
    assert data.revenue is not None
    want = []
    for i, x in enumerate(data.x0):
        total_i = 0.0
        for s, k in zip(*np.nonzero(x[0] > 0), strict=True):
            p = int(np.argmin(np.abs(codec.attributes - x[:, s, k]).sum(axis=1)))
            slot = float(data.geometry.width_cm[i, s]) / codec.n_slots
            total_i += slot / (codec.catalog[p].width_cm or 1.0) * float(data.revenue[i, p])
        want.append(total_i)
    assert fitted.revenue_scale_ == pytest.approx(float(np.mean(want)), rel=1e-4)
    assert fitted.codec_ is codec and fitted.rulebook_ == default_rulebook()
    assert isinstance(fitted.model_, PlanogramUNet) and not fitted.model_.training


def test_fit_moves_the_weights_and_reports_progress(
    data: TrainingSet, codec: PlanogramCodec
) -> None:
    calls: list[tuple[int, int, dict[str, float]]] = []
    est = PlanogramDiffusion(n_iterations=2, lambda_constraint=0.0, lambda_revenue=0.0, **TINY).fit(
        data, codec, callback=lambda i, n, losses: calls.append((i, n, dict(losses)))
    )
    assert [(i, n) for i, n, _ in calls] == [(1, 2), (2, 2)]
    h = est.loss_history_
    # Both extra terms off: the loss is the diffusion loss, and the other columns are empty.
    np.testing.assert_array_equal(h["loss"], h["diffusion"])
    assert h["constraint"].isna().all() and h["revenue"].isna().all()
    assert [c[2]["loss"] for c in calls] == h["loss"].tolist()
    # The weights moved away from their (seeded) initialisation.
    torch.manual_seed(TINY["random_state"])
    init = PlanogramUNet(est.model_.config).state_dict()
    moved = [not torch.equal(init[k], v) for k, v in est.model_.state_dict().items()]
    assert any(moved)


def test_learning_rate_schedule() -> None:
    est = PlanogramDiffusion(n_iterations=1100, learning_rate=1e-3)
    # Linear warm-up over 100 steps, then cosine decay to a tenth at the last step.
    assert est._lr(0) == pytest.approx(1e-5)
    assert est._lr(49) == pytest.approx(5e-4)
    assert est._lr(99) == pytest.approx(1e-3)
    assert est._lr(100) == pytest.approx(1e-3)
    assert est._lr(600) == pytest.approx(1e-3 * (0.1 + 0.45 * (1 + math.cos(math.pi * 0.5))))
    assert est._lr(1100) == pytest.approx(1e-4)
    rates = [est._lr(i) for i in range(100, 1101)]
    assert all(a >= b for a, b in itertools.pairwise(rates))


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("n_iterations", 0),
        ("n_iterations", 2.0),
        ("n_iterations", True),
        ("batch_size", 0),
        ("n_train_steps", 1),
        ("random_state", -1),
        ("lambda_constraint", -1),
        ("lambda_revenue", math.nan),
        ("learning_rate", 0.0),
        ("class_dropout", 2),
        ("mix_dropout", -0.1),
        ("block_out_channels", (8, 16, 12)),
    ],
)
def test_bad_options_are_refused_by_name(
    data: TrainingSet, codec: PlanogramCodec, option: str, value: object
) -> None:
    est = PlanogramDiffusion(**{**TINY, "n_iterations": 1, option: value})
    with pytest.raises(
        InvalidParameterError, match=rf"^{option} must .*got {re.escape(repr(value))}"
    ):
        est.fit(data, codec)
    assert not hasattr(est, "model_")


def test_fit_refuses_bad_fit_arguments(
    data: TrainingSet, codec: PlanogramCodec, chain: SyntheticChain
) -> None:
    est = PlanogramDiffusion(n_iterations=1, **TINY)
    with pytest.raises(InvalidParameterError, match=r"checkpoint_every must .*got 0"):
        est.fit(data, codec, checkpoint_every=0)
    other = PlanogramCodec(chain.products, n_slots=12, n_clusters=4)
    with pytest.raises(InvalidParameterError, match=r"data\.x0 must have shape"):
        est.fit(data, other)


# ---------------------------------------------------------------------- save / load
def test_save_for_inference_writes_float16_weights_that_load_back(
    fitted: PlanogramDiffusion, data: TrainingSet, codec: PlanogramCodec, tmp_path: Path
) -> None:
    folder = fitted.save(tmp_path / "model", for_inference=True)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "weights.pt"]
    half = torch.load(folder / "weights.pt", weights_only=True)
    full = fitted.model_.state_dict()
    assert half.keys() == full.keys()
    assert all(v.dtype == torch.float16 for v in half.values())

    loaded = PlanogramDiffusion.load(folder)
    state = loaded.model_.state_dict()
    for key, value in full.items():
        assert state[key].dtype == torch.float32
        # Round to nearest float16: within half an ulp, 2^-11 relative (normal numbers) or
        # 2^-25 absolute (subnormals below 6.1e-5).
        err = (state[key] - value).abs()
        assert bool(torch.all(err <= 2.0**-11 * value.abs() + 2.0**-25)), key
        assert torch.equal(state[key], value.half().float()), key
    # Outputs: identical to the fitted network with its weights rounded to float16, and close
    # to the unrounded one (relative 2^-11 per weight; measured ~1e-4 overall).
    x, t, cond, labels = _batch(data, codec)
    rounded = PlanogramUNet(fitted.model_.config)
    rounded.load_state_dict({k: v.half().float() for k, v in full.items()})
    rounded.eval()
    with torch.no_grad():
        out_loaded = loaded.model_(x, t, cond, labels)
        out_rounded = rounded(x, t, cond, labels)
        out_fitted = fitted.model_(x, t, cond, labels)
    assert torch.equal(out_loaded, out_rounded)
    rel = float((out_loaded - out_fitted).norm() / out_fitted.norm())
    assert 0.0 < rel < 5e-3
    # Everything but the weights comes back exactly.
    assert loaded.get_params() == fitted.get_params()
    assert loaded.codec_.catalog == codec.catalog
    assert loaded.codec_.cluster_names == codec.cluster_names
    assert (loaded.codec_.n_shelves, loaded.codec_.n_slots) == (codec.n_shelves, codec.n_slots)
    np.testing.assert_array_equal(loaded.codec_.attributes, codec.attributes)
    assert loaded.rulebook_ == fitted.rulebook_
    assert loaded.n_iterations_done_ == 6
    assert loaded.revenue_scale_ == fitted.revenue_scale_
    assert loaded.model_.config == fitted.model_.config
    assert list(loaded.loss_history_.columns) == COLUMNS and loaded.loss_history_.empty
    assert not loaded.model_.training


def test_save_keeps_the_training_state_by_default(
    fitted: PlanogramDiffusion, tmp_path: Path
) -> None:
    folder = fitted.save(tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "training_state.pt",
        "weights.pt",
    ]
    state = torch.load(folder / "training_state.pt", weights_only=False)
    assert state["iteration"] == 6 and len(state["history"]) == 6
    # The training state keeps the float32 weights.
    for key, value in fitted.model_.state_dict().items():
        assert torch.equal(state["model"][key], value)


def test_save_before_fit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotFittedError, match="fit"):
        PlanogramDiffusion().save(tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_read_config_describes_the_checkpoint(
    fitted: PlanogramDiffusion, codec: PlanogramCodec, tmp_path: Path
) -> None:
    folder = fitted.save(tmp_path / "model", for_inference=True)
    for where in (folder, folder / "config.json"):
        cfg = read_config(where)
        assert cfg.codec.catalog == codec.catalog
        assert cfg.rulebook == default_rulebook()
        assert cfg.n_iterations_done == 6
        assert cfg.revenue_scale == fitted.revenue_scale_
        assert cfg.unet == fitted.model_.config.to_dict()
        assert cfg.params == fitted.get_params()
        assert cfg.scheduler == fitted.scheduler().to_dict()


def test_read_config_does_not_import_torch(fitted: PlanogramDiffusion, tmp_path: Path) -> None:
    folder = fitted.save(tmp_path / "model", for_inference=True)
    script = (
        "import sys\n"
        "import shelfwise.generative.checkpoint as c\n"
        f"cfg = c.read_config({str(folder)!r})\n"
        "print(cfg.n_iterations_done, cfg.codec.n_products, 'torch' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["6", "20", "False"]


def test_load_refuses_broken_folders(fitted: PlanogramDiffusion, tmp_path: Path) -> None:
    with pytest.raises(ArtifactMismatchError, match=r"config\.json"):
        PlanogramDiffusion.load(tmp_path)  # empty folder
    folder = fitted.save(tmp_path / "model", for_inference=True)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "format_version": 99}))
    with pytest.raises(ArtifactMismatchError, match="format_version 99"):
        PlanogramDiffusion.load(folder)
    (folder / "config.json").write_text(json.dumps({"codec": config["codec"]}))
    with pytest.raises(ArtifactMismatchError, match="format_version None"):
        PlanogramDiffusion.load(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ArtifactMismatchError, match="not a readable JSON"):
        PlanogramDiffusion.load(folder)
    missing = {k: v for k, v in config.items() if k != "rulebook"}
    (folder / "config.json").write_text(json.dumps(missing))
    with pytest.raises(ArtifactMismatchError, match="rulebook"):
        PlanogramDiffusion.load(folder)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "weights.pt").unlink()
    with pytest.raises(ArtifactMismatchError, match=r"weights\.pt"):
        PlanogramDiffusion.load(folder)


# --------------------------------------------------------------------------- resume
def _assert_same_fit(a: PlanogramDiffusion, b: PlanogramDiffusion) -> None:
    sa, sb = a.model_.state_dict(), b.model_.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    pd.testing.assert_frame_equal(a.loss_history_, b.loss_history_)
    assert a.n_iterations_done_ == b.n_iterations_done_
    assert a.revenue_scale_ == b.revenue_scale_


def test_resume_continues_bit_for_bit(
    fitted: PlanogramDiffusion, halfway: Path, data: TrainingSet, codec: PlanogramCodec
) -> None:
    assert read_config(halfway).n_iterations_done == 3
    resumed = PlanogramDiffusion(n_iterations=6, **TINY).fit(data, codec, resume_from=halfway)
    _assert_same_fit(fitted, resumed)


def test_resume_after_an_interruption(
    straight: tuple[PlanogramDiffusion, Path], data: TrainingSet, codec: PlanogramCodec
) -> None:
    # The realistic case: a 6-iteration run checkpointing every 3 dies after iteration 4; its
    # folder then holds the checkpoint of iteration 3.
    fitted, killed = straight
    assert read_config(killed).n_iterations_done == 3
    resumed = PlanogramDiffusion(n_iterations=6, **TINY).fit(data, codec, resume_from=killed)
    _assert_same_fit(fitted, resumed)


@pytest.mark.parametrize(
    ("option", "value"),
    [("learning_rate", 5e-4), ("batch_size", 4), ("random_state", 4), ("class_dropout", 0.3)],
)
def test_resume_with_other_options_is_refused(
    halfway: Path, data: TrainingSet, codec: PlanogramCodec, option: str, value: object
) -> None:
    est = PlanogramDiffusion(**{**TINY, "n_iterations": 6, option: value})
    with pytest.raises(ArtifactMismatchError, match=rf"other options \({option}\)"):
        est.fit(data, codec, resume_from=halfway)


def test_resume_with_another_codec_is_refused(
    halfway: Path, chain: SyntheticChain, data: TrainingSet
) -> None:
    est = PlanogramDiffusion(n_iterations=6, **TINY)
    # Same sizes, so the weights would load: the catalog order is what differs.
    products = list(chain.products)
    products[0], products[1] = products[1], products[0]
    swapped = PlanogramCodec(products, n_clusters=4)
    with pytest.raises(ArtifactMismatchError, match=r"another codec \(catalog\)"):
        est.fit(data, swapped, resume_from=halfway)
    # More clusters: the class embedding would not even fit.
    more = PlanogramCodec(chain.products, n_clusters=5)
    more_data = build_training_set(
        more,
        chain.planograms,
        {d.display_id: d for d in chain.displays},
        chain.truth.true_cluster,
    )
    with pytest.raises(ArtifactMismatchError, match=r"another codec \(cluster_names\)"):
        est.fit(more_data, more, resume_from=halfway)


def test_resume_needs_the_training_state(
    fitted: PlanogramDiffusion, data: TrainingSet, codec: PlanogramCodec, tmp_path: Path
) -> None:
    folder = fitted.save(tmp_path / "model", for_inference=True)
    with pytest.raises(ArtifactMismatchError, match=r"training_state\.pt"):
        PlanogramDiffusion(n_iterations=8, **TINY).fit(data, codec, resume_from=folder)
