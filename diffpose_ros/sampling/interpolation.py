"""Differentiable lookups in stacks of 2D maps ``flat [J, H*W]`` at per-joint coordinates ``[B, J, 2]``.

Coordinates are (x = column, y = row) with cell centres at integers; points are clamped to the map. Each
sampler can also return its analytic derivative w.r.t. the coordinates (used by the guidance, which avoids
autograd for speed).
"""

from __future__ import annotations

import torch
from torch import Tensor


def bilinear_sample(flat: Tensor, height: int, width: int, coords: Tensor, with_grad: bool = False):
    """Bilinear lookup of ``flat [J, H*W]`` maps at ``coords [B, J, 2]`` (x=col, y=row), clamped to the map.

    Differentiable w.r.t. ``coords`` (autograd). Returns ``[B, J]``; with ``with_grad`` also the analytic
    derivative ``[B, J, 2]`` w.r.t. the coordinates (zero across the clamped border).
    """
    j = coords.shape[-2]
    x = coords[..., 0].clamp(0.0, width - 1.0)
    y = coords[..., 1].clamp(0.0, height - 1.0)
    x0 = x.detach().floor().clamp(max=max(width - 2, 0))
    y0 = y.detach().floor().clamp(max=max(height - 2, 0))
    fx = x - x0
    fy = y - y0
    base = (torch.arange(j, device=coords.device) * (height * width))[None] + (y0 * width + x0).long()
    dx = 1 if width > 1 else 0
    dy = width if height > 1 else 0
    f = flat.reshape(-1)
    v00, v01, v10, v11 = f[base], f[base + dx], f[base + dy], f[base + dx + dy]
    top = v00 + (v01 - v00) * fx
    bottom = v10 + (v11 - v10) * fx
    value = top + (bottom - top) * fy
    if not with_grad:
        return value
    gx = (v01 - v00) + (v11 - v10 - v01 + v00) * fy
    gy = bottom - top
    inside_x = (coords[..., 0] >= 0) & (coords[..., 0] <= width - 1)
    inside_y = (coords[..., 1] >= 0) & (coords[..., 1] <= height - 1)
    grad = torch.stack([gx * inside_x, gy * inside_y], dim=-1)
    return value, grad


# Keys (a = -0.5, Catmull-Rom) cubic convolution: tap weights for offsets -1, 0, 1, 2 as [1, t, t^2, t^3] @ _KEYS;
# their derivatives d/dt as [1, t, t^2, t^3] @ _DKEYS. _KEYS_AND_DERIVATIVES gives both in one product: [..., 8].
_KEYS = torch.tensor([[0.0, 1.0, 0.0, 0.0], [-0.5, 0.0, 0.5, 0.0], [1.0, -2.5, 2.0, -0.5], [-0.5, 1.5, -1.5, 0.5]])
_DKEYS = torch.cat([_KEYS[1:] * torch.tensor([[1.0], [2.0], [3.0]]), torch.zeros(1, 4)])
_KEYS_AND_DERIVATIVES = torch.cat([_KEYS, _DKEYS], dim=1)  # [4 powers, 8 = (weights, derivatives) x 4 taps]
_TAPS = torch.arange(-1, 3)
_CONSTANTS: dict = {}


def _powers(t: Tensor) -> Tensor:
    t2 = t * t
    return torch.stack([torch.ones_like(t), t, t2, t2 * t], dim=-1)


def _constants(num_maps: int, height: int, width: int, device: torch.device, dtype: torch.dtype) -> tuple:
    """Per map geometry, built once: border (x, y), last cell, tap offsets, per map flat offsets, key matrix."""
    key = (num_maps, height, width, device, dtype)
    if key not in _CONSTANTS:
        if len(_CONSTANTS) > 64:
            _CONSTANTS.clear()
        size = torch.tensor([width - 1.0, height - 1.0], device=device, dtype=dtype)
        _CONSTANTS[key] = (size, (size - 1).clamp_min(0), _TAPS.to(device),
                           (torch.arange(num_maps, device=device) * (height * width))[:, None, None],
                           _KEYS_AND_DERIVATIVES.to(device=device, dtype=dtype))
    return _CONSTANTS[key]


def bicubic_sample(flat: Tensor, height: int, width: int, coords: Tensor, with_grad: bool = False):
    """Bicubic (Catmull-Rom) lookup of ``flat [J, H*W]`` at ``coords [B, J, 2]``, clamped to the map.

    C1-smooth and exact for quadratics, so the maximum of a sampled log-Gaussian is at its true sub-pixel
    peak (bilinear snaps maxima to cell centres). Differentiable w.r.t. ``coords``; with ``with_grad`` also
    returns the analytic derivative ``[B, J, 2]`` (zero across the clamped border).
    """
    size, last, taps, base, keys = _constants(coords.shape[-2], height, width, coords.device, coords.dtype)
    c = torch.minimum(coords.clamp_min(0.0), size)
    c0 = torch.minimum(c.detach().floor(), last)
    both = _powers(c - c0) @ keys  # [B, J, 2(x, y), 8]: 4 tap weights, then their derivatives
    idx = c0.long()[..., None] + taps  # [B, J, 2, 4]
    ix = idx[..., 0, :].clamp(0, width - 1)
    iy = idx[..., 1, :].clamp(0, height - 1)
    patch = flat.reshape(-1)[base + iy[..., :, None] * width + ix[..., None, :]]  # [B, J, 4(y), 4(x)]
    if patch.dtype != both.dtype:
        patch = patch.to(both.dtype)
    if not with_grad:
        return ((patch @ both[..., 0, :4, None])[..., 0] * both[..., 1, :4]).sum(-1)
    rows = patch @ both[..., 0, :].unflatten(-1, (2, 4)).transpose(-1, -2)  # [B, J, 4(y), 2(value, d/dx)]
    out = both[..., 1, :].unflatten(-1, (2, 4)) @ rows  # [B, J, 2(wy, dwy), 2]: [[v, dv/dx], [dv/dy, .]]
    inside = (coords >= 0) & (coords <= size)
    grad = out.flatten(-2)[..., 1:3] * inside  # (out[0, 1], out[1, 0]) = (d/dx, d/dy)
    return out[..., 0, 0], grad


def blur_matrix(n: int, sigma: float) -> Tensor:
    """Row-normalised Gaussian smoothing matrix ``[n, n]`` (uniform maps stay uniform)."""
    i = torch.arange(n, dtype=torch.float32)
    g = torch.exp(-0.5 * ((i[:, None] - i[None, :]) / sigma) ** 2)
    return g / g.sum(1, keepdim=True)
