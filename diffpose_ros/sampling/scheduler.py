"""DDIM / DDPM sampling scheduler on a shortened timestep grid (diffusers-style API, no diffusers dependency).

``set_timesteps(n)`` picks ``n`` of the ``T`` training timesteps; ``step`` moves a sample from one grid
timestep to the previous one on the grid (``alpha_bar_prev = 1`` after the last). ``eta = 0`` is deterministic
DDIM; ``eta = 1`` on the full grid is ancestral DDPM (its mean and variance are the DDPM posterior's).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor


class DDIMScheduler:
    """Noise schedule bookkeeping plus the DDIM update ``x_t -> x_{t_prev}``.

    Args:
        alphas_cumprod: ``[T]`` cumulative products alpha_bar of the trained model.
        timestep_spacing: ``"trailing"`` (first step at ``T - 1``, default), ``"leading"`` or ``"linspace"``.
        clip_sample: if set, clamp the predicted clean sample to ``[-clip_sample, clip_sample]``.
    """

    def __init__(self, alphas_cumprod: Tensor | np.ndarray, timestep_spacing: str = "trailing",
                 clip_sample: float | None = None) -> None:
        ac = torch.as_tensor(alphas_cumprod, dtype=torch.float64).flatten()
        if ac.numel() < 1 or not torch.isfinite(ac).all() or (ac <= 0).any() or (ac > 1).any():
            raise ValueError("alphas_cumprod must be finite and in (0, 1]")
        if timestep_spacing not in ("trailing", "leading", "linspace"):
            raise ValueError(f"unknown timestep_spacing {timestep_spacing!r}")
        self.alphas_cumprod = ac
        self._ac = ac.tolist()  # python floats: scalar lookups without tensor overhead
        self.num_train_timesteps = int(ac.numel())
        self.timestep_spacing = timestep_spacing
        self.clip_sample = clip_sample
        self.final_alpha_cumprod = 1.0
        self.set_timesteps(self.num_train_timesteps)

    # ------------------------------------------------------------------ grid
    def set_timesteps(self, num_inference_steps: int, max_timestep: int | None = None, power: float = 1.0) -> None:
        """Choose ``num_inference_steps`` distinct timesteps in ``[0, max_timestep]``, in decreasing order.

        ``max_timestep`` (default ``T - 1``) truncates the grid's top, e.g. to skip the near-zero-SNR steps
        where an epsilon-model's x0 estimate is pure amplified error (cosine schedule: alpha_bar_999 ~ 2e-9).
        ``power`` (``"trailing"`` only) warps the grid, ``t_i ~ T (1 - i / n)^power``: > 1 spends more of the
        steps at low noise (as Karras-style schedules do), 1 = evenly spaced.
        """
        T = self.num_train_timesteps if max_timestep is None else int(max_timestep) + 1
        if not 1 <= T <= self.num_train_timesteps:
            raise ValueError(f"max_timestep must be in [0, {self.num_train_timesteps - 1}], got {max_timestep}")
        n = int(num_inference_steps)
        if not 1 <= n <= T:
            raise ValueError(f"num_inference_steps must be in [1, {T}], got {num_inference_steps}")
        if not math.isfinite(power) or power <= 0 or (power != 1.0 and self.timestep_spacing != "trailing"):
            raise ValueError(f"power must be > 0 (and != 1 only with trailing spacing), got {power}")
        if self.timestep_spacing == "trailing" and power != 1.0:
            ts = np.round(T * (1.0 - np.arange(n) / n) ** power).astype(np.int64) - 1
            if len(np.unique(ts)) != n or ts.min() < 0:
                raise ValueError(f"{n} steps with power {power} collide at low noise: use fewer steps or a lower power")
        elif self.timestep_spacing == "trailing":
            ts = np.round(np.arange(T, 0, -T / n)).astype(np.int64) - 1
        elif self.timestep_spacing == "leading":
            ts = (np.arange(n) * (T // n))[::-1].astype(np.int64)
        else:
            ts = np.round(np.linspace(0, T - 1, n))[::-1].astype(np.int64)
        ts = ts[:n]
        if len(np.unique(ts)) != n or ts.min() < 0 or ts.max() > T - 1:  # pragma: no cover - guarded by math
            raise RuntimeError(f"degenerate timestep grid {ts}")
        self.num_inference_steps = n
        self.timesteps = torch.from_numpy(ts.copy())
        self._grid = [int(t) for t in ts]
        self._prev = {t: (self._grid[i + 1] if i + 1 < n else -1) for i, t in enumerate(self._grid)}

    def previous_timestep(self, timestep: int) -> int:
        """The next-lower timestep on the grid (``-1`` after the last step, i.e. alpha_bar_prev = 1)."""
        t = int(timestep)
        if t not in self._prev:
            raise ValueError(f"timestep {t} is not on the current grid")
        return self._prev[t]

    def timestep_for_alpha_bar(self, min_alpha_bar: float) -> int:
        """The largest timestep whose alpha_bar is at least ``min_alpha_bar`` (0 if none)."""
        ok = np.flatnonzero(np.asarray(self._ac) >= float(min_alpha_bar))
        return int(ok.max()) if len(ok) else 0

    def alpha_bar(self, timestep: int) -> float:
        """alpha_bar at ``timestep`` (``1`` for ``-1``)."""
        return self.final_alpha_cumprod if timestep < 0 else self._ac[int(timestep)]

    # ------------------------------------------------------------------ maths
    def predict_original(self, model_output: Tensor, timestep: int, sample: Tensor) -> Tensor:
        """x0 estimate from an epsilon prediction."""
        a = self.alpha_bar(timestep)
        return (sample - math.sqrt(1.0 - a) * model_output) / math.sqrt(a)

    def epsilon_from_original(self, pred_original_sample: Tensor, timestep: int, sample: Tensor) -> Tensor:
        """The epsilon consistent with ``sample`` and a (possibly corrected) x0."""
        a = self.alpha_bar(timestep)
        return (sample - math.sqrt(a) * pred_original_sample) / math.sqrt(1.0 - a)

    def sigma(self, timestep: int, prev_timestep: int, eta: float) -> float:
        """DDIM noise std for the step (eta=1: the DDPM posterior std)."""
        a, a_prev = self.alpha_bar(timestep), self.alpha_bar(prev_timestep)
        var = (1.0 - a_prev) / (1.0 - a) * (1.0 - a / a_prev)
        return float(eta) * math.sqrt(max(var, 0.0))

    def step(self, model_output: Tensor, timestep: int, sample: Tensor, eta: float = 0.0,
             generator: torch.Generator | None = None, pred_original_sample: Tensor | None = None,
             variance_noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One update ``x_t -> x_{t_prev}``; returns ``(prev_sample, pred_original_sample)``.

        ``pred_original_sample`` overrides the x0 derived from ``model_output`` (e.g. a guided x0); the
        direction term then keeps the model's epsilon (corrected only for clipping, if enabled).
        """
        t = int(timestep)
        prev_t = self.previous_timestep(t)
        a_prev = self.alpha_bar(prev_t)
        x0 = self.predict_original(model_output, t, sample) if pred_original_sample is None else pred_original_sample
        eps = model_output
        if self.clip_sample is not None:
            clipped = x0.clamp(-self.clip_sample, self.clip_sample)
            # keep eps consistent with the clipping (equals epsilon_from_original(clipped) without an override)
            a = self.alpha_bar(t)
            eps = eps - math.sqrt(a / (1.0 - a)) * (clipped - x0)
            x0 = clipped
        sigma = self.sigma(t, prev_t, eta) if eta > 0 else 0.0
        prev = math.sqrt(a_prev) * x0 + math.sqrt(max(1.0 - a_prev - sigma * sigma, 0.0)) * eps
        if sigma > 0:
            if variance_noise is None:
                variance_noise = torch.randn(sample.shape, generator=generator, dtype=sample.dtype,
                                             device=sample.device)
            prev = prev + sigma * variance_noise
        return prev, x0

    def add_noise(self, original_samples: Tensor, noise: Tensor, timestep: int) -> Tensor:
        """Forward process q(x_t | x0) at one timestep (``-1``: no noise)."""
        a = self.alpha_bar(int(timestep))
        return math.sqrt(a) * original_samples + math.sqrt(1.0 - a) * noise

    def renoise(self, sample: Tensor, timestep: int, prev_timestep: int, noise: Tensor) -> Tensor:
        """q(x_t | x_{t_prev}): undo one grid step with fresh noise (RePaint resampling)."""
        ratio = self.alpha_bar(int(timestep)) / self.alpha_bar(int(prev_timestep))
        return math.sqrt(ratio) * sample + math.sqrt(max(1.0 - ratio, 0.0)) * noise
