"""DDIM scheduler: shortened grids, DDPM equivalence, exact recovery with an oracle epsilon."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest
import torch

from diffpose_ros.sampling.scheduler import DDIMScheduler


def cosine_ac(T: int = 1000) -> torch.Tensor:
    s = 0.008
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    return torch.cumprod(1 - (1 - f[1:] / f[:-1]).clamp(max=0.999), 0)


def linear_ac(T: int = 1000) -> torch.Tensor:
    return torch.cumprod(1 - torch.linspace(1e-4, 0.02, T, dtype=torch.float64), 0)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 33, 999, 1000])
def test_trailing_grid_is_decreasing_distinct_and_starts_at_last(n: int) -> None:
    s = DDIMScheduler(cosine_ac())
    s.set_timesteps(n)
    ts = s.timesteps.tolist()
    assert len(ts) == n == len(set(ts))
    assert ts[0] == 999
    assert all(a > b for a, b in pairwise(ts))
    assert 0 <= ts[-1] < 1000 // n + 1
    # previous timestep comes from the grid, and the last one maps to alpha_bar = 1
    for a, b in pairwise(ts):
        assert s.previous_timestep(a) == b
    assert s.previous_timestep(ts[-1]) == -1
    assert s.alpha_bar(-1) == 1.0


def test_non_dividing_grid_uses_grid_not_naive_stride() -> None:
    s = DDIMScheduler(cosine_ac())
    s.set_timesteps(3)
    assert s.timesteps.tolist() == [999, 666, 332]
    assert s.previous_timestep(999) == 666  # naive t - T // n would give 666 too, but:
    assert s.previous_timestep(666) == 332  # naive gives 333
    s.set_timesteps(7)
    ts = s.timesteps.tolist()
    assert ts == [999, 856, 713, 570, 428, 285, 142]
    with pytest.raises(ValueError):
        s.previous_timestep(500)


@pytest.mark.parametrize("spacing", ["leading", "linspace"])
def test_other_spacings(spacing: str) -> None:
    s = DDIMScheduler(cosine_ac(), timestep_spacing=spacing)
    for n in (1, 4, 10, 1000):
        s.set_timesteps(n)
        ts = s.timesteps.tolist()
        assert len(set(ts)) == n and min(ts) >= 0 and max(ts) <= 999


def test_invalid_step_counts() -> None:
    s = DDIMScheduler(cosine_ac(100))
    for bad in (0, 101, -1):
        with pytest.raises(ValueError):
            s.set_timesteps(bad)


@pytest.mark.parametrize("n", [1, 2, 5, 10, 37, 100])
@pytest.mark.parametrize("ac", [cosine_ac(), linear_ac()], ids=["cosine", "linear"])
def test_oracle_epsilon_recovers_x0_exactly(n: int, ac: torch.Tensor) -> None:
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(4, 17, 3, generator=g, dtype=torch.float64)
    s = DDIMScheduler(ac)
    s.set_timesteps(n)
    x = torch.randn(4, 17, 3, generator=g, dtype=torch.float64)
    for t in s.timesteps.tolist():
        a = s.alpha_bar(t)
        eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)  # oracle: the noise that makes x from x0
        x, pred = s.step(eps, t, x)
        torch.testing.assert_close(pred, x0, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(x, x0, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("ac", [cosine_ac(), linear_ac()], ids=["cosine", "linear"])
def test_eta1_full_grid_matches_ddpm_posterior(ac: torch.Tensor) -> None:
    s = DDIMScheduler(ac)
    s.set_timesteps(1000)
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(2, 17, 3, generator=g, dtype=torch.float64)
    xt = torch.randn(2, 17, 3, generator=g, dtype=torch.float64)
    for t in (999, 500, 37, 1):
        a, a_prev = float(ac[t]), float(ac[t - 1])
        beta = 1 - a / a_prev
        eps = (xt - math.sqrt(a) * x0) / math.sqrt(1 - a)
        mean_ddpm = beta * math.sqrt(a_prev) / (1 - a) * x0 + math.sqrt(1 - beta) * (1 - a_prev) / (1 - a) * xt
        var_ddpm = (1 - a_prev) / (1 - a) * beta
        zero = torch.zeros_like(xt)
        mean, _ = s.step(eps, t, xt, eta=1.0, variance_noise=zero)
        torch.testing.assert_close(mean, mean_ddpm, rtol=1e-9, atol=1e-9)
        assert s.sigma(t, t - 1, 1.0) ** 2 == pytest.approx(var_ddpm, rel=1e-9)
        one = torch.ones_like(xt)
        noisy, _ = s.step(eps, t, xt, eta=1.0, variance_noise=one)
        torch.testing.assert_close(noisy - mean, one * math.sqrt(var_ddpm))


def test_eta_noise_is_seeded_and_eta0_deterministic() -> None:
    s = DDIMScheduler(cosine_ac())
    s.set_timesteps(10)
    x = torch.randn(3, 17, 3)
    eps = torch.randn(3, 17, 3)
    a1, _ = s.step(eps, 999, x, eta=0.5, generator=torch.Generator().manual_seed(3))
    a2, _ = s.step(eps, 999, x, eta=0.5, generator=torch.Generator().manual_seed(3))
    b1, _ = s.step(eps, 999, x, eta=0.0, generator=torch.Generator().manual_seed(3))
    b2, _ = s.step(eps, 999, x, eta=0.0, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(a1, a2)
    torch.testing.assert_close(b1, b2)
    assert not torch.allclose(a1, b1)


def test_final_step_returns_x0_and_clipping() -> None:
    s = DDIMScheduler(cosine_ac(), clip_sample=1.0)
    s.set_timesteps(1)
    x = torch.full((1, 17, 3), 5.0, dtype=torch.float64)
    prev, x0 = s.step(torch.zeros_like(x), 999, x)
    assert float(x0.abs().max()) <= 1.0
    torch.testing.assert_close(prev, x0)  # alpha_bar_prev = 1: the final sample is the x0 estimate


def test_add_noise_and_renoise_consistency() -> None:
    ac = cosine_ac()
    s = DDIMScheduler(ac)
    x0 = torch.randn(2, 17, 3, dtype=torch.float64)
    z = torch.randn_like(x0)
    torch.testing.assert_close(s.add_noise(x0, z, 500), math.sqrt(ac[500]) * x0 + math.sqrt(1 - ac[500]) * z)
    torch.testing.assert_close(s.add_noise(x0, z, -1), x0)
    # renoise of a noiseless sample has the variance of the forward marginal ratio
    r = s.renoise(x0, 500, 200, torch.zeros_like(x0))
    torch.testing.assert_close(r, x0 * math.sqrt(float(ac[500] / ac[200])))


def test_rejects_bad_schedules() -> None:
    with pytest.raises(ValueError):
        DDIMScheduler(np.array([0.9, 0.0]))
    with pytest.raises(ValueError):
        DDIMScheduler(np.array([0.9, 0.5]), timestep_spacing="weird")


def test_clipping_keeps_eps_consistent() -> None:
    s = DDIMScheduler(cosine_ac(), clip_sample=1.0)
    s.set_timesteps(10)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 17, 3, generator=g, dtype=torch.float64) * 3
    eps = torch.randn(2, 17, 3, generator=g, dtype=torch.float64)
    prev, x0 = s.step(eps, 999, x)
    ref = DDIMScheduler(cosine_ac())
    ref.set_timesteps(10)
    # same as an unclipped step from the clipped x0 with the epsilon it implies (diffusers semantics)
    expected, _ = ref.step(ref.epsilon_from_original(x0, 999, x), 999, x, pred_original_sample=x0)
    torch.testing.assert_close(prev, expected)
    # with an override, unclipped coordinates keep the model's epsilon
    override = torch.zeros_like(x)
    p2, _ = s.step(eps, 999, x, pred_original_sample=override)
    e2, _ = ref.step(eps, 999, x, pred_original_sample=override)
    torch.testing.assert_close(p2, e2)


def test_truncated_grid_top() -> None:
    ac = cosine_ac()
    s = DDIMScheduler(ac)
    top = s.timestep_for_alpha_bar(1e-2)
    assert ac[top] >= 1e-2 > ac[top + 1]
    s.set_timesteps(4, max_timestep=top)
    ts = s.timesteps.tolist()
    assert ts[0] == top and len(set(ts)) == 4 and s.previous_timestep(ts[-1]) == -1
    with pytest.raises(ValueError):
        s.set_timesteps(4, max_timestep=1000)


def test_power_warped_grid_spends_more_steps_at_low_noise() -> None:
    s = DDIMScheduler(cosine_ac())
    top = s.timestep_for_alpha_bar(1e-2)
    s.set_timesteps(10, max_timestep=top)
    even = s.timesteps.tolist()
    s.set_timesteps(10, max_timestep=top, power=1.0)
    assert s.timesteps.tolist() == even  # power 1 is the plain trailing grid
    s.set_timesteps(10, max_timestep=top, power=1.5)
    warped = s.timesteps.tolist()
    assert warped[0] == even[0] == top and warped == sorted(set(warped), reverse=True)
    assert warped[-1] < even[-1] and sum(t < top / 2 for t in warped) > sum(t < top / 2 for t in even)
    assert s.previous_timestep(warped[-1]) == -1
    with pytest.raises(ValueError, match="collide"):
        s.set_timesteps(200, max_timestep=top, power=3.0)
    with pytest.raises(ValueError):
        s.set_timesteps(10, power=0.0)
    with pytest.raises(ValueError):
        DDIMScheduler(cosine_ac(), timestep_spacing="leading").set_timesteps(10, power=1.5)
