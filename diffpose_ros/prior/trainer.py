"""Training loop for the pose prior: weighted batches, augmentation, EMA, validation, checkpoints, resume."""

from __future__ import annotations

import copy
import json
import math
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from diffpose_ros.core.skeleton import stature_statistics
from diffpose_ros.prior.augment import AugmentConfig, PoseAugmenter
from diffpose_ros.prior.diffusion import epsilon_loss, q_sample
from diffpose_ros.prior.mocap import MocapConfig, PoseSet, load_pose_set
from diffpose_ros.prior.network import NetworkConfig
from diffpose_ros.prior.pose_prior import PosePrior


@dataclass
class TrainConfig:
    """Optimisation and bookkeeping settings."""

    steps: int = 200_000
    batch_size: int = 256
    lr: float = 1e-3
    min_lr_fraction: float = 0.05
    warmup_steps: int = 1000
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    log_every: int = 200
    val_every: int = 2000
    ckpt_every: int = 2000
    val_size: int = 4096
    threads: int = 1
    seed: int = 0
    init_weights: str | None = None  # start from these prior weights (fine-tuning; same architecture and scale)


@dataclass
class PriorExperiment:
    """Everything a training run is configured by (the YAML file mirrors this)."""

    data: MocapConfig = field(default_factory=MocapConfig)
    source_weights: dict[str, float] = field(default_factory=dict)  # share of each source in a batch
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: NetworkConfig = field(default_factory=NetworkConfig)
    num_train_timesteps: int = 1000
    schedule: str = "cosine"
    train: TrainConfig = field(default_factory=TrainConfig)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "PriorExperiment":
        raw = dict(raw)
        aug = dict(raw.get("augment", {}))
        if "height_range_m" in aug:
            aug["height_range_m"] = tuple(aug["height_range_m"])
        return cls(
            data=MocapConfig(**raw.get("data", {})),
            source_weights=dict(raw.get("source_weights", {})),
            augment=AugmentConfig(**aug),
            model=NetworkConfig(**raw.get("model", {})),
            num_train_timesteps=int(raw.get("num_train_timesteps", 1000)),
            schedule=str(raw.get("schedule", "cosine")),
            train=TrainConfig(**raw.get("train", {})),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up then cosine decay to ``min_lr_fraction * lr``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    return cfg.lr * (cfg.min_lr_fraction + (1 - cfg.min_lr_fraction) * 0.5 * (1 + math.cos(math.pi * progress)))


def pose_sampling_weights(pose_set: PoseSet, source_weights: dict[str, float]) -> torch.Tensor:
    """Per-pose sampling weights so each source gets its share of a batch (default: proportional to size)."""
    sources = pose_set.source_of_pose()
    weights = np.ones(len(sources))
    if source_weights:
        missing = sorted(set(np.unique(sources).tolist()) - set(source_weights))
        if missing:
            raise ValueError(f"source_weights has no weight for source(s) {missing}")
        for source in np.unique(sources):
            mask = sources == source
            weights[mask] = source_weights[str(source)] / mask.sum()
    return torch.as_tensor(weights / weights.sum(), dtype=torch.float64)


def rms_scale(poses: np.ndarray) -> float:
    """Global normalisation scale: RMS of the non-root coordinates (metres)."""
    return float(np.sqrt(np.mean(poses[:, 1:].astype(np.float64) ** 2)))


class PriorTrainer:
    """Trains a :class:`PosePrior` on the mocap cache; writes ``last.pt`` (resumable) and ``ema_prior.pt``."""

    def __init__(self, exp: PriorExperiment, out_dir: str | Path, device: str | torch.device = "cpu",
                 pose_set: PoseSet | None = None, progress: bool = True) -> None:
        self.exp, self.out_dir, self.device, self.progress = exp, Path(out_dir), torch.device(device), progress
        self.out_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(exp.train.seed)
        pose_set = pose_set if pose_set is not None else load_pose_set(exp.data, progress=progress)
        self.data_summary = pose_set.summary()
        train, val = pose_set.split("train"), pose_set.split("val")
        if len(train.poses) == 0:
            raise ValueError("no training poses")
        self.train_poses = torch.as_tensor(train.poses, device=self.device)
        self.train_weights = pose_sampling_weights(train, exp.source_weights).to(self.device)
        # the statures of the training performers (before augmentation), weighted like the batches
        self.body_height = stature_statistics(train.poses, self.train_weights.cpu().numpy())
        scale = rms_scale(train.poses)
        self.prior = PosePrior(exp.model, exp.num_train_timesteps, exp.schedule, scale).to(self.device)
        if exp.train.init_weights:  # fine-tune: the start's weights and model space (its scale)
            start = PosePrior.load(exp.train.init_weights, self.device)
            if start.network_config.to_dict() != exp.model.to_dict():
                raise ValueError(f"init_weights {exp.train.init_weights}: network {start.network_config} differs "
                                 f"from the configured {exp.model}")
            self.prior.load_state_dict(start.state_dict())
        self.ema = copy.deepcopy(self.prior).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.optimizer = torch.optim.AdamW(self.prior.parameters(), lr=exp.train.lr,
                                           weight_decay=exp.train.weight_decay)
        self.augmenter = PoseAugmenter(exp.augment)
        self.generator = torch.Generator().manual_seed(exp.train.seed)
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.elapsed_s = 0.0
        self._val_batch = self._make_val_batch(val.poses if len(val.poses) else train.poses)

    # ---- data ---------------------------------------------------------------------------------------------------
    def _make_val_batch(self, poses: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Fixed (x0, t, noise) for a comparable validation loss (no augmentation)."""
        gen = torch.Generator().manual_seed(1234)
        idx = torch.randperm(len(poses), generator=gen)[: self.exp.train.val_size]
        x0 = torch.as_tensor(poses[idx.numpy()], device=self.device)
        t = torch.randint(0, self.exp.num_train_timesteps, (len(idx),), generator=gen).to(self.device)
        noise = torch.randn(x0.shape, generator=gen).to(self.device)
        noise[:, 0] = 0.0
        return x0, t, noise

    def sample_batch(self) -> torch.Tensor:
        """An augmented training batch in metres, ``[B, 17, 3]``."""
        idx = torch.multinomial(self.train_weights.cpu(), self.exp.train.batch_size, replacement=True,
                                generator=self.generator).to(self.device)
        return self.augmenter(self.train_poses[idx], self.generator)

    # ---- steps --------------------------------------------------------------------------------------------------
    def loss(self, prior: PosePrior, poses_m: torch.Tensor) -> torch.Tensor:
        """Epsilon loss on the 16 non-root joints (the pelvis noise is known in closed form)."""
        x0 = prior.to_model_space(poses_m)[:, 1:].reshape(len(poses_m), -1)
        return epsilon_loss(prior.network, x0, prior.alphas_cumprod)

    @torch.no_grad()
    def validation_loss(self, prior: PosePrior | None = None) -> float:
        prior = prior or self.ema
        x0_m, t, noise = self._val_batch
        x0 = prior.to_model_space(x0_m)
        x_t = q_sample(x0, t, noise, prior.alphas_cumprod)
        eps = prior.predict_noise(x_t, t)
        return float(torch.mean((eps[:, 1:] - noise[:, 1:]) ** 2))

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = min(self.exp.train.ema_decay, (1 + self.step) / (10 + self.step))
        for ema_p, p in zip(self.ema.parameters(), self.prior.parameters(), strict=True):
            ema_p.lerp_(p, 1 - decay)
        self.ema._time_table = None

    def train_step(self) -> float:
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(self.step, self.exp.train)
        loss = self.loss(self.prior, self.sample_batch())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.exp.train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.prior.parameters(), self.exp.train.grad_clip)
        self.optimizer.step()
        self.step += 1
        self._update_ema()
        return loss.item()

    def fit(self, steps: int | None = None) -> list[dict[str, float]]:
        """Train until ``steps`` (default: the configured total), logging, validating and checkpointing."""
        cfg = self.exp.train
        target = steps if steps is not None else cfg.steps
        self.prior.train()
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=target, initial=self.step, desc="prior", unit="step", mininterval=5.0)
        window: list[float] = []
        tic = time.perf_counter()
        while self.step < target:
            window.append(self.train_step())
            if bar is not None:
                bar.update(1)
            last = self.step >= target
            if self.step % cfg.log_every == 0 or last:
                record: dict[str, float] = {"step": self.step, "loss": float(np.mean(window)),
                                            "lr": lr_at(self.step - 1, cfg)}
                window = []
                if self.step % cfg.val_every == 0 or last:
                    record["val_loss"] = self.validation_loss()
                self.elapsed_s += time.perf_counter() - tic
                tic = time.perf_counter()
                record["time_s"] = round(self.elapsed_s, 1)
                self.history.append(record)
                with open(self.out_dir / "log.jsonl", "a") as fh:
                    fh.write(json.dumps(record) + "\n")
                if bar is not None:
                    bar.set_postfix({k: f"{v:.4f}" for k, v in record.items() if "loss" in k})
            if self.step % cfg.ckpt_every == 0 or last:
                self.elapsed_s += time.perf_counter() - tic
                tic = time.perf_counter()
                self.save_checkpoint()
        if bar is not None:
            bar.close()
        return self.history

    # ---- checkpoints --------------------------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        val = [h["val_loss"] for h in self.history if "val_loss" in h]
        return {
            "steps": self.step,
            "train_time_s": round(self.elapsed_s, 1),
            "hardware": f"{platform.processor() or platform.machine()} ({self.device.type}, "
                        f"{torch.get_num_threads()} thread(s))",
            "final_val_loss": val[-1] if val else None,
            "body_height": [round(v, 4) for v in self.body_height],
            "data": self.data_summary,
            "experiment": self.exp.to_dict(),
        }

    def save_checkpoint(self) -> Path:
        """Write ``last.pt`` (full training state) and ``ema_prior.pt`` (the EMA PosePrior alone)."""
        self.ema.metadata = self.metadata()
        state = {
            "prior": self.ema.checkpoint_dict(),
            "model": self.prior.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "elapsed_s": self.elapsed_s,
            "history": self.history,
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
        }
        path = self.out_dir / "last.pt"
        torch.save(state, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)
        self.ema.save(self.out_dir / "ema_prior.pt")
        return path

    def load_checkpoint(self, path: str | Path | None = None) -> None:
        """Resume from ``last.pt`` (default: in ``out_dir``)."""
        path = Path(path) if path else self.out_dir / "last.pt"
        state = torch.load(path, map_location=self.device, weights_only=False)
        self.prior.load_state_dict(state["model"])
        ema = PosePrior.from_checkpoint_dict(state["prior"], self.device)
        self.ema.load_state_dict(ema.state_dict())
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.elapsed_s = float(state.get("elapsed_s", 0.0))
        self.history = list(state.get("history", []))
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
