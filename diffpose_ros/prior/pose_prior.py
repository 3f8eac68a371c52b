"""PosePrior: the unconditional 3D pose diffusion prior, the interface the guided sampler codes against.

Spaces
------
* **Metric space**: ``[B, 17, 3]`` H36M-17 poses in metres, root-relative (pelvis = 0), canonical
  camera-style axes (x right, y down, z forward), see :mod:`diffpose_ros.core.skeleton`.
* **Model space**: the metric pose divided by one global scale, ``x = pose_m / scale``
  (``scale`` = RMS of the non-root training coordinates, 0.306 m for the shipped weights, stored in the
  checkpoint; ``DEFAULT_SCALE`` only for untrained priors). A single
  isotropic scale keeps the pelvis at exactly 0 and keeps rotations/mirroring equivariant.

Diffusion
---------
DDPM with epsilon prediction, ``num_train_timesteps`` steps (1000), ``alphas_cumprod`` = alpha_bar_t
(a cosine schedule truncated so that alpha_bar_{T-1} ~ 5e-4: samplers may start at t = T-1).
The data distribution has the pelvis pinned at 0, so its noise is known in closed form:
``eps_pelvis = x_t[:, 0] / sqrt(1 - alpha_bar_t)``; the network predicts the noise of the 16 other
joints from their 48 noisy coordinates. Any DDPM/DDIM sampler therefore keeps x0's pelvis at 0.

Cost: one ``predict_noise`` of batch 16 is ~0.3 ms on one CPU thread (eval mode without autograd: the network's
time embedding is tabulated per integer t and its forward pass traced once with ``torch.jit.trace``, which cuts
the Python overhead of the tiny batches by ~25 %). Gradients w.r.t. ``x_t`` flow normally (untraced).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from diffpose_ros.core import skeleton
from diffpose_ros.prior.diffusion import make_alphas_cumprod
from diffpose_ros.prior.network import NetworkConfig, build_network

FORMAT_VERSION = 1
SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "weights" / "h36m17_prior.pt"
DEFAULT_SCALE = 0.3  # metres; replaced by the training data RMS when a model is trained


class PosePrior(nn.Module):
    """Unconditional diffusion prior over root-relative H36M-17 poses (epsilon prediction)."""

    def __init__(self, network_config: NetworkConfig | None = None, num_train_timesteps: int = 1000,
                 schedule: str = "cosine", scale: float = DEFAULT_SCALE,
                 metadata: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.network_config = network_config or NetworkConfig()
        expected = 3 * (skeleton.NUM_JOINTS - 1)
        if self.network_config.in_dim != expected or self.network_config.out_dim != expected:
            raise ValueError(f"PosePrior network must map {expected} -> {expected} (non-root joint coordinates)")
        self.network = build_network(self.network_config)
        self.num_train_timesteps = int(num_train_timesteps)
        self.schedule = schedule
        self.register_buffer("alphas_cumprod", make_alphas_cumprod(schedule, self.num_train_timesteps))
        self.register_buffer("scale", torch.tensor(float(scale), dtype=torch.float32))
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._time_table: Tensor | None = None  # eval-mode cache of the network's per-t time biases
        self._traced: Any = None  # eval-mode, no-grad traced forward_biased (see _network_forward)
        self._traced_key: tuple | None = None

    # ---- construction -------------------------------------------------------------------------------------------
    @classmethod
    def untrained(cls, network_config: NetworkConfig | None = None, **kwargs: Any) -> "PosePrior":
        """A randomly initialised prior with the default architecture (for wiring up code before weights exist)."""
        return cls(network_config, **kwargs)

    @property
    def device(self) -> torch.device:
        return self.alphas_cumprod.device

    @property
    def body_height(self) -> tuple[float, float] | None:
        """``(stature_m, relative_sd)`` of the performers the prior was trained on, if its trainer recorded them
        (before size augmentation; see ``core.skeleton.stature_statistics``)."""
        value = self.metadata.get("body_height")
        try:
            stature, sd = (float(v) for v in value)
        except (TypeError, ValueError):
            return None
        return (stature, sd) if 0.5 < stature < 2.5 and 0.0 <= sd < 0.5 else None

    def train(self, mode: bool = True) -> "PosePrior":
        self._time_table, self._traced = None, None
        return super().train(mode)

    def load_state_dict(self, *args: Any, **kwargs: Any) -> Any:
        self._time_table, self._traced = None, None
        return super().load_state_dict(*args, **kwargs)

    def _network_forward(self, x: Tensor, t: Tensor) -> Tensor:
        """Network call; in eval mode the time-only part of an MLP is looked up in a per-t table (same result)."""
        if self.training or not hasattr(self.network, "forward_biased"):
            return self.network(x, t)
        table = self._time_table
        if table is None or table.device != x.device or table.dtype != x.dtype:
            with torch.no_grad():
                steps = torch.arange(self.num_train_timesteps, device=x.device)
                table = self.network.time_biases(steps).to(x.dtype)
            self._time_table = table
        if torch.is_grad_enabled():
            return self.network.forward_biased(x, table[t])
        return self._traced_forward(x, table[t])

    def _traced_forward(self, x: Tensor, biases: Tensor) -> Tensor:
        """``network.forward_biased`` through a graph traced on first use (per device and dtype); the untraced
        call wherever tracing is unavailable (the result is the same)."""
        key = (x.device, x.dtype)
        if self._traced is None or self._traced_key != key:
            self._traced, self._traced_key = self.network.forward_biased, key
            try:
                with torch.no_grad(), warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is in maintenance mode
                    traced = torch.jit.trace_module(self.network, {"forward_biased": (x, biases)}, check_trace=False)
                self._traced = traced.forward_biased
            except Exception:  # e.g. a torch build without TorchScript: keep the plain call
                pass
        return self._traced(x, biases)

    # ---- the interface ------------------------------------------------------------------------------------------
    def predict_noise(self, x_t: Tensor, t: Tensor) -> Tensor:
        """Noise estimate for x_t ``[B, 17, 3]`` (model space) at integer timesteps t ``[B]`` in [0, T)."""
        if x_t.dim() != 3 or x_t.shape[1:] != (skeleton.NUM_JOINTS, 3):
            raise ValueError(f"x_t must be [B, {skeleton.NUM_JOINTS}, 3], got {tuple(x_t.shape)}")
        t = t.to(device=x_t.device).long().expand(x_t.shape[0]) if t.dim() == 0 else t.to(x_t.device).long()
        batch = x_t.shape[0]
        eps_body = self._network_forward(x_t[:, 1:].reshape(batch, -1), t).view(batch, skeleton.NUM_JOINTS - 1, 3)
        eps_root = x_t[:, :1] / (1 - self.alphas_cumprod[t]).sqrt().view(batch, 1, 1)
        return torch.cat([eps_root, eps_body], dim=1)

    def to_model_space(self, pose_m: Tensor) -> Tensor:
        """Metric root-relative pose ``[B, 17, 3]`` -> model space (divided by the global scale)."""
        return pose_m / self.scale

    def from_model_space(self, x: Tensor) -> Tensor:
        """Model space -> metres."""
        return x * self.scale

    # ---- persistence --------------------------------------------------------------------------------------------
    def checkpoint_dict(self, half: bool = False) -> dict[str, Any]:
        """Everything needed to rebuild the prior: weights, config, normalisation, metadata."""
        state = {k: (v.half() if half and v.is_floating_point() and k.startswith("network.") else v).cpu()
                 for k, v in self.state_dict().items()}
        return {
            "format": "diffpose_ros.PosePrior",
            "format_version": FORMAT_VERSION,
            "skeleton": skeleton.NAME,
            "network_config": self.network_config.to_dict(),
            "num_train_timesteps": self.num_train_timesteps,
            "schedule": self.schedule,
            "normalisation": {"kind": "global_scale", "scale_m": float(self.scale)},
            "metadata": self.metadata,
            "state_dict": state,
        }

    def save(self, path: str | Path, half: bool = False) -> Path:
        """Write one self-contained file (``half`` stores network weights as float16 to halve the size)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(self.checkpoint_dict(half=half), tmp)
        tmp.replace(path)
        return path

    @classmethod
    def from_checkpoint_dict(cls, ckpt: dict[str, Any], device: str | torch.device = "cpu") -> "PosePrior":
        """Rebuild from :meth:`checkpoint_dict` output."""
        if ckpt.get("format") != "diffpose_ros.PosePrior" or ckpt.get("skeleton") != skeleton.NAME:
            raise ValueError("not a diffpose_ros PosePrior checkpoint for the h36m17 skeleton")
        if ckpt.get("format_version", 0) > FORMAT_VERSION:
            raise ValueError(f"checkpoint format {ckpt['format_version']} is newer than this code ({FORMAT_VERSION})")
        prior = cls(NetworkConfig(**ckpt["network_config"]), ckpt["num_train_timesteps"], ckpt["schedule"],
                    ckpt["normalisation"]["scale_m"], ckpt.get("metadata"))
        state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
        prior.load_state_dict(state)
        return prior.to(device).eval()

    @classmethod
    def load(cls, path: str | Path | None = None, device: str | torch.device = "cpu") -> "PosePrior":
        """Load a saved prior (``None``: the shipped weights). Raises FileNotFoundError / ValueError clearly."""
        path = Path(path) if path is not None else SHIPPED_WEIGHTS
        if not path.is_file():
            raise FileNotFoundError(f"pose prior weights not found: {path}")
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for truncated / foreign files
            raise ValueError(f"cannot read pose prior weights {path}: {exc}") from exc
        if not isinstance(ckpt, dict):
            raise ValueError(f"{path} does not contain a PosePrior checkpoint")
        if "prior" in ckpt and isinstance(ckpt["prior"], dict):  # a training checkpoint: use its EMA prior
            ckpt = ckpt["prior"]
        try:
            return cls.from_checkpoint_dict(ckpt, device)
        except (KeyError, TypeError, RuntimeError) as exc:
            raise ValueError(f"corrupt pose prior checkpoint {path}: {exc}") from exc
