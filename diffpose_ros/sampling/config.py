"""The sampler's settings in one place: the defaults the node, the evaluators and the CLIs all share.

The defaults were chosen on the proxy benchmark (``python -m diffpose_ros.evaluation.proxy_benchmark``); the
model card and README hold the table that led to them. ``FAST`` is the cheaper preset for small CPUs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

DEFAULT_BODY_HEIGHT = (1.70, 0.04)  # (stature m, relative sd) of adults: for priors that record no training statures


@dataclass(frozen=True)
class SamplerConfig:
    """Keyword arguments of :class:`.sampler.GuidedSampler` that matter to users (see its docstring)."""

    num_hypotheses: int = 16
    num_steps: int = 10
    guidance_scale: float = 1.5
    guidance_iters: int = 2
    eta: float = 1.0
    min_alpha_bar: float = 0.01
    max_guidance_step: float = 0.3
    tilt_prior_deg: tuple[float, float] = (0.0, 0.0)
    align_yaw_above: float = 0.3
    body_height: tuple[float, float] | None = None  # None: the prior's training statures, else 1.70 m +- 4 %
    robust_k: float = 2.0
    outlier_hypotheses: float = 0.5
    evidence_gain: float = 2.0
    plausibility_weight: float = 0.03
    plausibility_timesteps: tuple[int, ...] = (30, 100)
    resample_every: int = 2
    single_guidance_above: float = 1.0  # 0.5: ~9 % faster, top-w ~1.5 mm worse over 3 seeds (see GuidedSampler)
    timestep_power: float = 1.0
    outlier_drop_below: float = 0.2  # drop joints the hypotheses agree are a detector's gross errors (0 = off)
    outlier_drop_sigma: float = 1.5
    outlier_drop_max: int = 2
    restart_below: float = 0.0  # after the drop step, re-run from t/T < this (0 = off): who lost a joint to the drop,
    restart_all: bool = False  # or everyone (restart sampling; ~1.4-1.5x the time, 1.2x for the first)
    restart_refine: int = 1  # the re-run takes this many steps per main-grid step it repeats

    def build(self, prior, seed: int | None = 0, **extra: Any):
        """A :class:`.sampler.GuidedSampler` with these settings (``extra`` passes any other keyword)."""
        from .sampler import GuidedSampler

        return GuidedSampler(prior, seed=seed, **self.kwargs(), **extra)

    def kwargs(self) -> dict[str, Any]:
        return asdict(self)

    def with_(self, **changes: Any) -> "SamplerConfig":
        """A copy with some fields changed (unknown names raise)."""
        return replace(self, **changes)

    @classmethod
    def from_strings(cls, values: dict[str, str], base: "SamplerConfig | None" = None) -> "SamplerConfig":
        """Overrides given as text (CLI ``name=value``), parsed by each field's type."""
        base = base or cls()
        types = {f.name: type(getattr(base, f.name)) if getattr(base, f.name) is not None else tuple  # None: a tuple
                 for f in fields(cls)}
        changes: dict[str, Any] = {}
        for name, text in values.items():
            if name not in types:
                raise ValueError(f"unknown sampler setting {name!r} (have {', '.join(types)})")
            if types[name] is tuple:
                changes[name] = tuple(float(v) for v in text.replace(",", " ").split())
            elif types[name] is bool:
                if text.strip().lower() not in ("true", "false", "1", "0"):
                    raise ValueError(f"{name} takes true or false, got {text!r}")
                changes[name] = text.strip().lower() in ("true", "1")
            else:
                changes[name] = types[name](text)
        return replace(base, **changes)


DEFAULT = SamplerConfig()
FAST = SamplerConfig(num_steps=6, guidance_iters=1)
# ~2x the default's time (README); its re-run ends at a lower noise level, where the squared evidence gain starved
# the last steps of 2D evidence (clean maps: reprojection 2.1 vs 0.8 px): 1.5 there
ACCURATE = SamplerConfig(restart_below=0.5, restart_all=True, restart_refine=2, evidence_gain=1.5)
PRESETS = {"default": DEFAULT, "fast": FAST, "accurate": ACCURATE}
# The settings a preset gives and a user sets per run: node parameters, EstimatorConfig and H36MEvalConfig fields
# of these names (the presets' other fields are the same in every preset and stay internal).
PRESET_SETTINGS = ("num_hypotheses", "num_steps", "guidance_scale", "guidance_iters", "eta", "resample_every",
                   "restart_below", "restart_all", "restart_refine", "evidence_gain")
