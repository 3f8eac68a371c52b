"""Gaussian diffusion process (DDPM, epsilon prediction): noise schedule, forward noising, training loss."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor


def cosine_alphas_cumprod(num_timesteps: int, s: float = 0.008, max_beta: float = 0.999, end: float = 0.985) -> Tensor:
    """Cosine schedule of Nichol & Dhariwal (2021): alpha_bar(t) for t = 0..T-1 (float64, decreasing).

    The schedule is evaluated on [0, ``end``] instead of [0, 1] so the last alpha_bar stays ~5e-4 rather than
    ~2e-9: with the full cosine, x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar) amplifies noise-prediction errors
    20,000-fold at t = T-1, which breaks samplers that start there. Betas are also clipped to ``max_beta``.
    """
    steps = torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps * end
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=max_beta)
    return torch.cumprod(1 - betas, dim=0)


def linear_alphas_cumprod(num_timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:
    """Linear beta schedule of Ho et al. (2020), scaled for T=1000."""
    scale = 1000 / num_timesteps
    betas = torch.linspace(scale * beta_start, scale * beta_end, num_timesteps, dtype=torch.float64)
    return torch.cumprod(1 - betas, dim=0)


def make_alphas_cumprod(schedule: str, num_timesteps: int) -> Tensor:
    """alpha_bar for a named schedule ("cosine" or "linear"), float32."""
    if schedule == "cosine":
        return cosine_alphas_cumprod(num_timesteps).float()
    if schedule == "linear":
        return linear_alphas_cumprod(num_timesteps).float()
    raise ValueError(f"unknown noise schedule {schedule!r}")


def q_sample(x0: Tensor, t: Tensor, noise: Tensor, alphas_cumprod: Tensor) -> Tensor:
    """Forward process: x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise (broadcast over trailing dims)."""
    abar = alphas_cumprod[t].view(-1, *([1] * (x0.dim() - 1)))
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def epsilon_loss(predict_noise: Callable[[Tensor, Tensor], Tensor], x0: Tensor, alphas_cumprod: Tensor,
                 generator: torch.Generator | None = None) -> Tensor:
    """Simple DDPM loss: E_t,eps || eps - eps_theta(x_t, t) ||^2 with t uniform in [0, T).

    ``predict_noise`` maps (x_t, t) to a noise estimate of the same shape as ``x0``.
    """
    num_timesteps = alphas_cumprod.shape[0]
    t = torch.randint(0, num_timesteps, (x0.shape[0],), device=x0.device, generator=generator)
    noise = torch.randn(x0.shape, device=x0.device, generator=generator)
    x_t = q_sample(x0, t, noise, alphas_cumprod)
    return torch.mean((predict_noise(x_t, t) - noise) ** 2)


def predict_x0(x_t: Tensor, t: Tensor, eps: Tensor, alphas_cumprod: Tensor) -> Tensor:
    """Invert the forward process given a noise estimate."""
    abar = alphas_cumprod[t].view(-1, *([1] * (x_t.dim() - 1)))
    return (x_t - (1 - abar).sqrt() * eps) / abar.sqrt()
