"""Tests of the numpy noise schedulers against diffusers' own schedulers and against theory.

diffusers keeps its schedule in float32 while ours is float64, so every comparison allows
float32 rounding and nothing more: betas to 1e-6 relative (measured 1.1e-7), ``alphas_cumprod``
to 1e-6 relative plus 1e-12 absolute (the last cosine value, 2.4e-9, carries diffusers'
float32 rounding of ``1 - 0.999``, 1.3e-5 relative but 3e-14 absolute), steps to 1e-5 (measured
6e-6 on float32 inputs of unit scale).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import diffusers
import numpy as np
import pytest
import torch
from diffusers.schedulers import scheduling_ddpm

from shelfwise.exceptions import ArtifactMismatchError, InvalidParameterError
from shelfwise.generative.schedulers import DDIMScheduler, DDPMScheduler, betas_for

SCHEDULES = ["linear", "squaredcos_cap_v2"]
SHAPE = (3, 2, 4, 6)  # (batch, channels, shelves, slots)
STEP_TOL: dict[str, float] = {"rtol": 1e-5, "atol": 1e-5}


def _inputs(seed: int, shape: tuple[int, ...] = SHAPE) -> tuple[np.ndarray, np.ndarray]:
    """Random float32 ``(x_t, eps)`` of unit scale."""
    rng = np.random.default_rng(seed)
    x_t = rng.standard_normal(shape).astype(np.float32)
    eps = rng.standard_normal(shape).astype(np.float32)
    return x_t, eps


def _realistic_inputs(
    sched: DDIMScheduler | DDPMScheduler, t: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``x_t`` noised from a clean sample in [-1, 1], and a slightly wrong noise estimate.

    Unlike pure noise, these leave most of the predicted clean sample inside the clipping range,
    so the unclipped arithmetic is compared too.
    """
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(-0.9, 0.9, SHAPE).astype(np.float32)
    noise = rng.standard_normal(SHAPE).astype(np.float32)
    x_t = sched.add_noise(x0, noise, np.full(SHAPE[0], t))
    eps = (noise + 0.05 * rng.standard_normal(SHAPE)).astype(np.float32)
    return x_t, eps


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def _in_float64(ref: Any, mine: DDIMScheduler | DDPMScheduler) -> Any:
    """Hold diffusers' schedule in float64 so its step arithmetic can be compared tightly.

    diffusers rounds ``alphas_cumprod`` to float32. Its DDPM step then computes
    ``1 - abar_t / abar_{t-1}`` (about 1e-4 early in the chain) from rounded numbers, which
    costs it up to 2e-4 absolute in the output at t = 2 (measured against the same code in
    float64). To compare the *step formulas* we give diffusers' code our float64
    ``alphas_cumprod``, which ``test_betas_and_alphas_cumprod_match_diffusers`` shows equal to
    diffusers' own up to float32 rounding, and feed it float64 inputs.
    """
    ref.alphas_cumprod = torch.from_numpy(mine.alphas_cumprod.copy())
    ref.one = torch.tensor(1.0, dtype=torch.float64)
    if isinstance(mine, DDIMScheduler):
        ref.final_alpha_cumprod = torch.tensor(mine.final_alpha_cumprod, dtype=torch.float64)
    return ref


F64_TOL: dict[str, float] = {"rtol": 1e-10, "atol": 1e-10}


# ---------------------------------------------------------------------------- schedule


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_betas_and_alphas_cumprod_match_diffusers(schedule: str) -> None:
    ref = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule=schedule)
    mine = DDPMScheduler(n_train_steps=1000, beta_schedule=schedule)
    np.testing.assert_allclose(mine.betas, ref.betas.numpy(), rtol=1e-6, atol=0)
    # alpha = 1 - beta: the float32 rounding of beta (<= 2**-24 for beta < 1) is absolute here.
    np.testing.assert_allclose(mine.alphas, ref.alphas.numpy(), rtol=1e-6, atol=2**-24)
    np.testing.assert_allclose(
        mine.alphas_cumprod, ref.alphas_cumprod.numpy(), rtol=1e-6, atol=1e-12
    )
    np.testing.assert_array_equal(mine.betas, betas_for(schedule, 1000))
    assert mine.betas.dtype == mine.alphas_cumprod.dtype == np.float64
    assert mine.timesteps.dtype == np.int64


def test_linear_betas_other_range_match_diffusers() -> None:
    ref = diffusers.DDIMScheduler(
        num_train_timesteps=200, beta_start=3e-4, beta_end=0.05, beta_schedule="linear"
    )
    np.testing.assert_allclose(
        betas_for("linear", 200, beta_start=3e-4, beta_end=0.05),
        ref.betas.numpy(),
        rtol=1e-6,
        atol=0,
    )


def test_cosine_betas_by_hand() -> None:
    """Nichol and Dhariwal (2021), eq. 17, for T = 4, written out independently."""
    t_grid = np.arange(5) / 4
    abar = np.cos((t_grid + 0.008) / 1.008 * np.pi / 2) ** 2
    expected = [min(1 - abar[i + 1] / abar[i], 0.999) for i in range(4)]
    np.testing.assert_allclose(betas_for("squaredcos_cap_v2", 4), expected, rtol=1e-14)
    assert betas_for("squaredcos_cap_v2", 4)[-1] == 0.999  # capped


@pytest.mark.parametrize("n_steps", [20, 50, 1000, 7])
def test_timesteps_match_diffusers(n_steps: int) -> None:
    for mine, ref in (
        (DDPMScheduler(), diffusers.DDPMScheduler()),
        (DDIMScheduler(), diffusers.DDIMScheduler()),
    ):
        mine.set_timesteps(n_steps)
        ref.set_timesteps(n_steps)
        np.testing.assert_array_equal(mine.timesteps, ref.timesteps.numpy())
        assert mine.timesteps.dtype == np.int64


def test_timesteps_before_set_timesteps_are_all_training_steps() -> None:
    for mine, ref in (
        (DDPMScheduler(n_train_steps=50), diffusers.DDPMScheduler(num_train_timesteps=50)),
        (DDIMScheduler(n_train_steps=50), diffusers.DDIMScheduler(num_train_timesteps=50)),
    ):
        np.testing.assert_array_equal(mine.timesteps, ref.timesteps.numpy())


# ---------------------------------------------------------------------------- forward process


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_noise_matches_diffusers_and_formula(dtype: type) -> None:
    mine = DDPMScheduler(beta_schedule="linear")
    ref = diffusers.DDPMScheduler(beta_schedule="linear")
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-1, 1, SHAPE).astype(dtype)
    noise = rng.standard_normal(SHAPE).astype(dtype)
    t = np.array([0, 499, 999])
    out = mine.add_noise(x0, noise, t)
    assert out.dtype == dtype and out.shape == SHAPE
    expected = ref.add_noise(_t(x0), _t(noise), torch.from_numpy(t)).numpy()
    np.testing.assert_allclose(out, expected, **STEP_TOL)
    # By hand for item 1: sqrt(abar) x0 + sqrt(1 - abar) eps with abar = prod(1 - beta[:500]).
    abar = np.prod(1 - np.linspace(1e-4, 0.02, 1000)[:500])
    np.testing.assert_allclose(
        out[1], np.sqrt(abar) * x0[1] + np.sqrt(1 - abar) * noise[1], rtol=1e-5, atol=1e-6
    )


def test_add_noise_scalar_t_and_any_rank() -> None:
    sched = DDIMScheduler()
    x0 = np.ones((5, 7))
    noise = np.zeros((5, 7))
    out = sched.add_noise(x0, noise, 10)
    np.testing.assert_allclose(out, np.sqrt(sched.alphas_cumprod[10]))
    out1 = sched.add_noise(np.ones(4), np.zeros(4), np.array([0, 1, 2, 3]))
    np.testing.assert_allclose(out1, np.sqrt(sched.alphas_cumprod[:4]))


@pytest.mark.parametrize("clip_sample", [False, True])
def test_predict_x0_inverts_add_noise(clip_sample: bool) -> None:
    sched = DDPMScheduler(clip_sample=clip_sample)
    rng = np.random.default_rng(1)
    x0 = rng.uniform(-3, 3, (4, 10))
    noise = rng.standard_normal((4, 10))
    t = np.array([0, 10, 300, 700])
    x_t = sched.add_noise(x0, noise, t)
    expected = np.clip(x0, -1, 1) if clip_sample else x0
    np.testing.assert_allclose(sched.predict_x0(x_t, noise, t), expected, rtol=1e-9, atol=1e-9)
    assert sched.predict_x0(x_t.astype(np.float32), noise.astype(np.float32), t).dtype == (
        np.float32
    )


# ---------------------------------------------------------------------------- DDIM step


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("n_steps", [20, 50])
@pytest.mark.parametrize("clip_sample", [True, False])
def test_ddim_step_eta0_matches_diffusers(schedule: str, n_steps: int, clip_sample: bool) -> None:
    mine = DDIMScheduler(beta_schedule=schedule, clip_sample=clip_sample)
    ref = diffusers.DDIMScheduler(beta_schedule=schedule, clip_sample=clip_sample)
    mine.set_timesteps(n_steps)
    ref.set_timesteps(n_steps)
    for i, t in enumerate(mine.timesteps.tolist()):
        x_t, eps = _realistic_inputs(mine, t, seed=i) if i % 2 else _inputs(seed=i)
        out = mine.step(eps, t, x_t)
        expected = ref.step(_t(eps), t, _t(x_t), eta=0.0).prev_sample.numpy()
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, expected, **STEP_TOL, err_msg=f"t={t}")


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("eta", [1.0, 0.3])
def test_ddim_step_stochastic_matches_diffusers_with_same_noise(schedule: str, eta: float) -> None:
    """Our step draws ``rng.standard_normal(x_t.shape)``; diffusers gets that noise directly."""
    mine = DDIMScheduler(beta_schedule=schedule)
    ref = diffusers.DDIMScheduler(beta_schedule=schedule)
    mine.set_timesteps(20)
    ref.set_timesteps(20)
    for i, t in enumerate(mine.timesteps.tolist()):
        x_t, eps = _realistic_inputs(mine, t, seed=100 + i)
        noise = np.random.default_rng(i).standard_normal(SHAPE).astype(np.float32)
        out = mine.step(eps, t, x_t, eta=eta, rng=np.random.default_rng(i))
        expected = ref.step(
            _t(eps), t, _t(x_t), eta=eta, variance_noise=_t(noise)
        ).prev_sample.numpy()
        np.testing.assert_allclose(out, expected, **STEP_TOL, err_msg=f"t={t}")
        # The noise really enters: a different draw gives a different sample (except at the
        # last step, whose variance is 0 with set_alpha_to_one).
        other = mine.step(eps, t, x_t, eta=eta, rng=np.random.default_rng(10_000 + i))
        assert (t == 0) == bool(np.allclose(other, out, atol=1e-7))


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("eta", [0.0, 1.0])
@pytest.mark.parametrize("set_alpha_to_one", [True, False])
def test_ddim_step_formula_matches_diffusers_in_float64(
    schedule: str, eta: float, set_alpha_to_one: bool
) -> None:
    mine = DDIMScheduler(beta_schedule=schedule, set_alpha_to_one=set_alpha_to_one)
    ref = _in_float64(
        diffusers.DDIMScheduler(beta_schedule=schedule, set_alpha_to_one=set_alpha_to_one), mine
    )
    mine.set_timesteps(20)
    ref.set_timesteps(20)
    for i, t in enumerate(mine.timesteps.tolist()):
        x_t, eps = (a.astype(np.float64) for a in _realistic_inputs(mine, t, seed=300 + i))
        noise = np.random.default_rng(i).standard_normal(SHAPE)
        out = mine.step(eps, t, x_t, eta=eta, rng=np.random.default_rng(i))
        expected = ref.step(
            _t(eps), t, _t(x_t), eta=eta, variance_noise=_t(noise) if eta else None
        ).prev_sample.numpy()
        assert out.dtype == np.float64
        np.testing.assert_allclose(out, expected, **F64_TOL, err_msg=f"t={t}")


def test_ddim_set_alpha_to_one_false_matches_diffusers() -> None:
    mine = DDIMScheduler(set_alpha_to_one=False, beta_schedule="linear")
    ref = diffusers.DDIMScheduler(set_alpha_to_one=False, beta_schedule="linear")
    mine.set_timesteps(10)
    ref.set_timesteps(10)
    x_t, eps = _realistic_inputs(mine, 0, seed=3)
    np.testing.assert_allclose(
        mine.step(eps, 0, x_t), ref.step(_t(eps), 0, _t(x_t)).prev_sample.numpy(), **STEP_TOL
    )
    assert mine.final_alpha_cumprod == pytest.approx(1 - 1e-4)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_ddim_loop_with_oracle_eps_recovers_x0(dtype: type, schedule: str) -> None:
    sched = DDIMScheduler(beta_schedule=schedule)
    sched.set_timesteps(25)
    rng = np.random.default_rng(7)
    x0 = rng.uniform(-1, 1, SHAPE).astype(dtype)
    x = rng.standard_normal(SHAPE).astype(dtype)  # pure noise, as at sampling time
    for t in sched.timesteps:
        abar = sched.alphas_cumprod[t]
        eps = ((x - np.sqrt(abar) * x0) / np.sqrt(1 - abar)).astype(dtype)
        x = sched.step(eps, t, x)
        assert x.dtype == dtype
    np.testing.assert_allclose(x, x0, rtol=0, atol=1e-4)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_keeps_forward_marginals(eta: float) -> None:
    """Song et al. (2021), Lemma 1: for every eta, x_t' ~ N(sqrt(abar_t') x0, 1 - abar_t')
    when x_t ~ q(x_t | x0) and the noise estimate is exact. Checked by Monte Carlo."""
    sched = DDIMScheduler(beta_schedule="linear", clip_sample=False)
    sched.set_timesteps(10)
    n = 40_000
    x0 = np.full((n,), 0.7)
    rng = np.random.default_rng(11)
    t_start = int(sched.timesteps[0])
    x = sched.add_noise(x0, rng.standard_normal(n), t_start)
    for t in sched.timesteps[:5]:
        abar = sched.alphas_cumprod[t]
        x = sched.step((x - np.sqrt(abar) * x0) / np.sqrt(1 - abar), t, x, eta=eta, rng=rng)
    t_end = int(sched.timesteps[5])
    abar_end = sched.alphas_cumprod[t_end]
    se = np.sqrt((1 - abar_end) / n)
    assert abs(x.mean() - np.sqrt(abar_end) * 0.7) < 5 * se
    assert abs(x.var() / (1 - abar_end) - 1) < 5 * np.sqrt(2 / n)


# ---------------------------------------------------------------------------- DDPM step


@pytest.fixture
def shared_ddpm_noise(monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    """Make diffusers' DDPMScheduler.step use a noise array we choose.

    diffusers draws the step noise with ``randn_tensor(shape, generator=...)`` from its own
    torch generator, which cannot reproduce ``numpy.random.Generator.standard_normal``. We
    replace ``randn_tensor`` in ``scheduling_ddpm`` by a function returning the array held in
    the returned dict (set it to what our ``rng`` will draw), so both implementations add
    exactly the same ``z`` and the whole step, variance included, is compared.
    """
    box: dict[str, np.ndarray] = {}

    def fake_randn_tensor(shape: Any, **_: Any) -> torch.Tensor:
        box["calls"] = np.append(box.get("calls", np.zeros(0)), 1)
        assert tuple(shape) == box["noise"].shape
        return _t(box["noise"])

    monkeypatch.setattr(scheduling_ddpm, "randn_tensor", fake_randn_tensor)
    return box


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("n_steps", [20, 50])
def test_ddpm_step_matches_diffusers_with_same_noise(
    schedule: str, n_steps: int, shared_ddpm_noise: dict[str, np.ndarray]
) -> None:
    """Strided chains, float32 in and out, against diffusers as it ships."""
    mine = DDPMScheduler(beta_schedule=schedule)
    ref = diffusers.DDPMScheduler(beta_schedule=schedule)
    mine.set_timesteps(n_steps)
    ref.set_timesteps(n_steps)
    steps = mine.timesteps.tolist()
    for i, t in enumerate(steps):
        x_t, eps = _realistic_inputs(mine, t, seed=200 + i) if i % 2 else _inputs(seed=200 + i)
        shared_ddpm_noise["noise"] = (
            np.random.default_rng(i).standard_normal(SHAPE).astype(np.float32)
        )
        out = mine.step(eps, t, x_t, rng=np.random.default_rng(i))
        expected = ref.step(_t(eps), t, _t(x_t)).prev_sample.numpy()
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, expected, **STEP_TOL, err_msg=f"t={t}")
    # diffusers drew noise for every step but the last (t = 0), as ours does.
    assert len(shared_ddpm_noise["calls"]) == len(steps) - 1


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("n_steps", [20, None])
def test_ddpm_step_formula_matches_diffusers_in_float64(
    schedule: str, n_steps: int | None, shared_ddpm_noise: dict[str, np.ndarray]
) -> None:
    """Every training step (n_steps=None: prev = t - 1) and a strided chain, in float64."""
    mine = DDPMScheduler(beta_schedule=schedule)
    ref = _in_float64(diffusers.DDPMScheduler(beta_schedule=schedule), mine)
    if n_steps is None:
        steps = [999, 998, 600, 37, 2, 1, 0]
    else:
        mine.set_timesteps(n_steps)
        ref.set_timesteps(n_steps)
        steps = mine.timesteps.tolist()
    for i, t in enumerate(steps):
        pair = _realistic_inputs(mine, t, seed=400 + i) if i % 2 else _inputs(seed=400 + i)
        x_t, eps = (a.astype(np.float64) for a in pair)
        shared_ddpm_noise["noise"] = np.random.default_rng(i).standard_normal(SHAPE)
        out = mine.step(eps, t, x_t, rng=np.random.default_rng(i))
        expected = ref.step(_t(eps), t, _t(x_t)).prev_sample.numpy()
        assert out.dtype == np.float64
        np.testing.assert_allclose(out, expected, **F64_TOL, err_msg=f"t={t}")


def test_ddpm_last_step_is_deterministic_and_uses_no_noise() -> None:
    sched = DDPMScheduler()
    sched.set_timesteps(10)
    x_t, eps = _inputs(0)
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    out = sched.step(eps, 0, x_t, rng=rng)
    assert rng.bit_generator.state == state
    # At t = 0 after t = 100: abar_prev = 1, so the mean is the clipped x0 prediction.
    np.testing.assert_allclose(out, sched.predict_x0(x_t, eps, 0), rtol=1e-6, atol=1e-6)


def test_ddpm_posterior_by_hand_and_marginals() -> None:
    """Ho et al. (2020), eq. 6-7, with T = 3, and the forward marginal after ancestral steps."""
    sched = DDPMScheduler(n_train_steps=3, beta_schedule="linear", beta_start=0.1, beta_end=0.3)
    betas = np.array([0.1, 0.2, 0.3])
    abar = np.cumprod(1 - betas)
    x0, x_t = np.array([[0.5]]), np.array([[0.2]])
    eps = (x_t - np.sqrt(abar[2]) * x0) / np.sqrt(1 - abar[2])
    mean = (np.sqrt(abar[1]) * betas[2] / (1 - abar[2])) * x0 + (
        np.sqrt(1 - betas[2]) * (1 - abar[1]) / (1 - abar[2])
    ) * x_t
    std = np.sqrt((1 - abar[1]) / (1 - abar[2]) * betas[2])
    z = np.random.default_rng(5).standard_normal((1, 1))
    out = sched.step(eps, 2, x_t, rng=np.random.default_rng(5))
    np.testing.assert_allclose(out, mean + std * z, rtol=1e-12)

    # Strided chain, Monte Carlo: x_t ~ q(x_t | x0) stays on the forward marginals.
    big = DDPMScheduler(beta_schedule="squaredcos_cap_v2", clip_sample=False)
    big.set_timesteps(8)
    n = 40_000
    rng = np.random.default_rng(12)
    x0s = np.full(n, -0.4)
    x = big.add_noise(x0s, rng.standard_normal(n), int(big.timesteps[0]))
    for t in big.timesteps[:4]:
        a = big.alphas_cumprod[t]
        x = big.step((x - np.sqrt(a) * x0s) / np.sqrt(1 - a), t, x, rng=rng)
    a_end = big.alphas_cumprod[big.timesteps[4]]
    assert abs(x.mean() + 0.4 * np.sqrt(a_end)) < 5 * np.sqrt((1 - a_end) / n)
    assert abs(x.var() / (1 - a_end) - 1) < 5 * np.sqrt(2 / n)


# ---------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (DDPMScheduler, {"beta_schedule": "linear", "beta_end": 0.03, "clip_range": 2.0}),
        (DDIMScheduler, {"n_train_steps": 500, "clip_sample": False, "set_alpha_to_one": False}),
    ],
)
def test_config_round_trips_through_json(cls: Any, kwargs: dict[str, Any]) -> None:
    sched = cls(**kwargs)
    config = sched.to_dict()
    assert config["_class_name"] == cls.__name__
    loaded = cls.from_dict(json.loads(json.dumps(config)))
    assert loaded.to_dict() == config
    np.testing.assert_array_equal(loaded.alphas_cumprod, sched.alphas_cumprod)
    for key, value in kwargs.items():
        assert getattr(loaded, key) == value


def test_from_dict_refuses_other_class_and_unknown_keys() -> None:
    with pytest.raises(ArtifactMismatchError, match="config is for 'DDPMScheduler'"):
        DDIMScheduler.from_dict(DDPMScheduler().to_dict())
    with pytest.raises(InvalidParameterError, match=r"unknown key.*'eta'"):
        DDPMScheduler.from_dict({"n_train_steps": 10, "eta": 0.0})


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"beta_schedule": "cosine"},
            r"beta_schedule must be one of 'linear', 'squaredcos_cap_v2'; got 'cosine'",
        ),
        ({"n_train_steps": 0}, r"n_train_steps must be an integer >= 1; got 0"),
        ({"n_train_steps": 10.0}, r"n_train_steps must be an integer >= 1; got 10\.0"),
        ({"beta_start": 0.0}, r"beta_start must be in \(0, 1\); got 0\.0"),
        ({"beta_end": 1.5}, r"beta_end must be in \(0, 1\); got 1\.5"),
        ({"beta_start": 0.1, "beta_end": 0.01}, r"beta_start must be <= beta_end"),
        ({"clip_range": 0.0}, r"clip_range must be > 0; got 0\.0"),
        ({"clip_sample": "yes"}, r"clip_sample must be True or False; got 'yes'"),
    ],
)
def test_constructor_refuses_bad_parameters(kwargs: dict[str, Any], message: str) -> None:
    for cls in (DDPMScheduler, DDIMScheduler):
        with pytest.raises(InvalidParameterError, match=message):
            cls(**kwargs)


def test_constructor_refuses_bad_set_alpha_to_one() -> None:
    with pytest.raises(InvalidParameterError, match="set_alpha_to_one must be True or False"):
        DDIMScheduler(set_alpha_to_one=1)


@pytest.mark.parametrize("n_steps", [0, 1001, 2.5, True, -3])
def test_set_timesteps_refuses_bad_n_steps(n_steps: Any) -> None:
    for sched in (DDPMScheduler(), DDIMScheduler()):
        with pytest.raises(
            InvalidParameterError,
            match=rf"n_steps must be an integer in \[1, 1000\]; got {n_steps!r}",
        ):
            sched.set_timesteps(n_steps)


def test_step_refuses_bad_inputs() -> None:
    ddim, ddpm = DDIMScheduler(), DDPMScheduler()
    ddim.set_timesteps(20)
    ddpm.set_timesteps(20)
    x_t, eps = _inputs(0)
    rng = np.random.default_rng(0)
    for bad_t in (7, 1000, -1, 950.0):
        with pytest.raises(
            InvalidParameterError, match=r"t must be one of the 20 timesteps .*950, 900"
        ):
            ddim.step(eps, bad_t, x_t)
        with pytest.raises(InvalidParameterError, match=rf"got {bad_t!r}"):
            ddpm.step(eps, bad_t, x_t, rng=rng)
    for eta in (1.5, -0.1, float("nan")):
        with pytest.raises(InvalidParameterError, match=r"eta must be a number in \[0, 1\]"):
            ddim.step(eps, 950, x_t, eta=eta, rng=rng)
    with pytest.raises(InvalidParameterError, match=r"rng must be a numpy\.random\.Generator when"):
        ddim.step(eps, 950, x_t, eta=0.5)
    with pytest.raises(InvalidParameterError, match=r"rng must be a numpy\.random\.Generator"):
        ddpm.step(eps, 950, x_t, rng=np.random.RandomState(0))
    with pytest.raises(InvalidParameterError, match=r"eps must have the shape of x_t"):
        ddim.step(eps[:2], 950, x_t)


def test_forward_process_refuses_bad_timesteps() -> None:
    sched = DDPMScheduler(n_train_steps=100)
    x = np.zeros((2, 3))
    with pytest.raises(InvalidParameterError, match=r"t must be in \[0, 99\]; got 100"):
        sched.add_noise(x, x, np.array([3, 100]))
    with pytest.raises(InvalidParameterError, match="t must hold integers"):
        sched.add_noise(x, x, np.array([3.0, 4.0]))
    with pytest.raises(InvalidParameterError, match=r"t must be a scalar or have shape \(2,\)"):
        sched.predict_x0(x, x, np.array([1, 2, 3]))
    with pytest.raises(InvalidParameterError, match="x0 must have a batch axis"):
        sched.add_noise(np.float64(1.0), np.float64(0.0), 3)


# ---------------------------------------------------------------------------- serving


def test_importing_schedulers_does_not_import_torch() -> None:
    code = (
        "import sys, shelfwise.generative.schedulers; "
        "print(sorted(m for m in ('torch', 'diffusers') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
