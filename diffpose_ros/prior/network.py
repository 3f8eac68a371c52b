"""Denoiser networks eps_theta(x_t, t) over flattened poses.

Two candidates (same call signature ``net(x [B, in_dim], t [B]) -> [B, out_dim]``):

* :class:`ResidualMLP`: pre-norm residual MLP blocks (LayerNorm, SiLU, Linear) with a
  sinusoidal time embedding added inside every block. The shipped prior uses it.
* :class:`JointTransformer`: a small transformer over joint tokens (one token per joint
  plus a time token), kept for the speed/quality comparison in ``training/measure_networks.py``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn


def sinusoidal_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Transformer-style sinusoidal embedding of (possibly fractional) timesteps: [B] -> [B, dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


@dataclass
class NetworkConfig:
    """Hyper-parameters of a denoiser network (stored in checkpoints)."""

    kind: str = "mlp"  # "mlp" | "transformer"
    in_dim: int = 48
    out_dim: int = 48
    width: int = 512
    depth: int = 4
    dropout: float = 0.0
    time_dim: int = 128
    heads: int = 4  # transformer only

    def to_dict(self) -> dict:
        return asdict(self)


class TimeEmbedding(nn.Module):
    """Sinusoidal features followed by a 2-layer MLP."""

    def __init__(self, time_dim: int, width: int) -> None:
        super().__init__()
        self.time_dim = time_dim
        self.mlp = nn.Sequential(nn.Linear(time_dim, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(sinusoidal_embedding(t, self.time_dim))


class ResidualBlock(nn.Module):
    """x + Linear(SiLU(LN(Linear(SiLU(LN(x))) + time_bias))) ."""

    def __init__(self, width: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc2 = nn.Linear(width, width)

    def forward(self, x: Tensor, time_bias: Tensor) -> Tensor:
        h = self.fc1(nn.functional.silu(self.norm1(x))) + time_bias
        h = self.fc2(self.dropout(nn.functional.silu(self.norm2(h))))
        return x + h


class ResidualMLP(nn.Module):
    """Residual MLP denoiser on a flattened pose.

    The timestep enters every block as an additive bias; :meth:`time_biases` depends on t only, so an
    inference caller can tabulate it for all integer t once (see ``PosePrior``) and call :meth:`forward_biased`.
    """

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed_time = TimeEmbedding(cfg.time_dim, cfg.width)
        self.time_proj = nn.Linear(cfg.width, cfg.depth * cfg.width)
        self.inp = nn.Linear(cfg.in_dim, cfg.width)
        self.blocks = nn.ModuleList(ResidualBlock(cfg.width, cfg.dropout) for _ in range(cfg.depth))
        self.out_norm = nn.LayerNorm(cfg.width)
        self.out = nn.Linear(cfg.width, cfg.out_dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def time_biases(self, t: Tensor) -> Tensor:
        """Per-block additive time biases, [B] -> [B, depth, width]."""
        temb = self.time_proj(nn.functional.silu(self.embed_time(t)))
        return temb.view(t.shape[0], self.cfg.depth, self.cfg.width)

    def forward_biased(self, x: Tensor, biases: Tensor) -> Tensor:
        """Forward pass given precomputed :meth:`time_biases`."""
        h = self.inp(x)
        for i, block in enumerate(self.blocks):
            h = block(h, biases[:, i])
        return self.out(nn.functional.silu(self.out_norm(h)))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return self.forward_biased(x, self.time_biases(t))


class JointTransformer(nn.Module):
    """Tiny transformer: one token per joint (3 coords) plus a time token."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        if cfg.in_dim % 3 or cfg.out_dim % 3:
            raise ValueError("JointTransformer needs in_dim and out_dim divisible by 3")
        self.cfg = cfg
        self.num_tokens = cfg.in_dim // 3
        self.embed_time = TimeEmbedding(cfg.time_dim, cfg.width)
        self.inp = nn.Linear(3, cfg.width)
        self.pos = nn.Parameter(torch.randn(self.num_tokens, cfg.width) * 0.02)
        layer = nn.TransformerEncoderLayer(cfg.width, cfg.heads, 2 * cfg.width, cfg.dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.depth, enable_nested_tensor=False)
        self.out = nn.Linear(cfg.width, cfg.out_dim // self.num_tokens)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        tokens = self.inp(x.view(x.shape[0], self.num_tokens, 3)) + self.pos
        tokens = torch.cat([self.embed_time(t)[:, None], tokens], dim=1)
        return self.out(self.encoder(tokens)[:, 1:]).reshape(x.shape[0], -1)


def build_network(cfg: NetworkConfig) -> nn.Module:
    """Instantiate the network named by ``cfg.kind``."""
    if cfg.kind == "mlp":
        return ResidualMLP(cfg)
    if cfg.kind == "transformer":
        return JointTransformer(cfg)
    raise ValueError(f"unknown network kind {cfg.kind!r} (expected 'mlp' or 'transformer')")
