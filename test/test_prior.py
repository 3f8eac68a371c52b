"""PosePrior interface, diffusion process, training loop and the shipped weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from diffpose_ros.prior.diffusion import make_alphas_cumprod, q_sample
from diffpose_ros.prior.mocap import PoseSet
from diffpose_ros.prior.network import NetworkConfig
from diffpose_ros.prior.pose_prior import SHIPPED_WEIGHTS, PosePrior
from diffpose_ros.prior.trainer import PriorExperiment, PriorTrainer, TrainConfig

TINY = NetworkConfig("mlp", width=64, depth=2, time_dim=32)


def test_schedule_is_decreasing_and_bounded() -> None:
    abar = make_alphas_cumprod("cosine", 1000)
    assert abar.dtype == torch.float32 and abar.shape == (1000,)
    assert torch.all(abar[1:] < abar[:-1])
    assert 0.999 < float(abar[0]) <= 1.0 and 1e-4 < float(abar[-1]) < 1e-3  # invertible at t = T-1


def test_q_sample_endpoints() -> None:
    abar = make_alphas_cumprod("cosine", 1000)
    x0, noise = torch.randn(4, 17, 3), torch.randn(4, 17, 3)
    assert torch.allclose(q_sample(x0, torch.zeros(4, dtype=torch.long), noise, abar), x0, atol=0.05)
    far = q_sample(x0, torch.full((4,), 999, dtype=torch.long), noise, abar)
    assert torch.allclose(far, noise, atol=0.1)


def test_interface_shapes_spaces_and_pelvis() -> None:
    prior = PosePrior.untrained(TINY).eval()
    assert prior.num_train_timesteps == 1000 and prior.alphas_cumprod.shape == (1000,)
    assert prior.device == torch.device("cpu")
    pose = torch.randn(5, 17, 3) * 0.3
    pose = pose - pose[:, :1]
    x = prior.to_model_space(pose)
    assert torch.all(x[:, 0] == 0)
    assert torch.allclose(prior.from_model_space(x), pose, atol=1e-6)
    x_t, t = torch.randn(5, 17, 3), torch.tensor([0, 10, 500, 900, 999])
    eps = prior.predict_noise(x_t, t)
    assert eps.shape == (5, 17, 3) and torch.isfinite(eps).all()
    # The pelvis is pinned at 0 in the data, so its noise is known exactly.
    expected_root = x_t[:, 0] / (1 - prior.alphas_cumprod[t]).sqrt()[:, None]
    assert torch.allclose(eps[:, 0], expected_root)
    with pytest.raises(ValueError):
        prior.predict_noise(torch.randn(5, 16, 3), t)


def test_eval_time_table_matches_training_path() -> None:
    prior = PosePrior.untrained(TINY)
    torch.nn.init.normal_(prior.network.out.weight, std=0.1)  # the output layer starts at zero
    x_t, t = torch.randn(6, 17, 3), torch.randint(0, 1000, (6,))
    with torch.no_grad():
        direct = prior.train().predict_noise(x_t, t)
        cached = prior.eval().predict_noise(x_t, t)
    assert torch.allclose(direct, cached, atol=1e-5)
    # Gradients w.r.t. x_t (used by guidance) flow through the cached path.
    x = x_t.clone().requires_grad_(True)
    prior.predict_noise(x, t).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_traced_inference_matches_the_module_and_follows_new_weights() -> None:
    prior = PosePrior.untrained(TINY).eval()
    torch.nn.init.normal_(prior.network.out.weight, std=0.1)
    x_t, t = torch.randn(16, 17, 3), torch.randint(0, 1000, (16,))
    with torch.no_grad():
        traced = prior.predict_noise(x_t, t)
        assert prior._traced is not None and prior._traced_key == (x_t.device, x_t.dtype)
        other_batch = prior.predict_noise(x_t[:5], t[:5])  # traced once, any batch size
    plain = prior.predict_noise(x_t, t)  # autograd on: the module itself
    torch.testing.assert_close(traced, plain.detach(), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(other_batch, traced[:5], atol=1e-6, rtol=1e-5)
    # new weights (load_state_dict) drop the trace: the next call uses them
    state = {k: v + 0.05 * torch.randn_like(v) if k.startswith("network.") else v
             for k, v in prior.state_dict().items()}
    prior.load_state_dict(state)
    with torch.no_grad():
        retraced = prior.predict_noise(x_t, t)
    torch.testing.assert_close(retraced, prior.predict_noise(x_t, t).detach(), atol=1e-6, rtol=1e-5)
    assert not torch.allclose(retraced, traced, atol=1e-3)


def test_save_load_roundtrip_and_errors(tmp_path: Path) -> None:
    prior = PosePrior.untrained(TINY, scale=0.31, metadata={"steps": 7})
    torch.nn.init.normal_(prior.network.out.weight, std=0.1)
    path = prior.save(tmp_path / "p.pt")
    loaded = PosePrior.load(path)
    assert loaded.metadata["steps"] == 7 and abs(float(loaded.scale) - 0.31) < 1e-6
    x_t, t = torch.randn(3, 17, 3), torch.tensor([1, 2, 3])
    with torch.no_grad():
        assert torch.allclose(prior.eval().predict_noise(x_t, t), loaded.predict_noise(x_t, t), atol=1e-6)
    with pytest.raises(FileNotFoundError):
        PosePrior.load(tmp_path / "missing.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError):
        PosePrior.load(tmp_path / "corrupt.pt")
    torch.save({"format": "something else"}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError):
        PosePrior.load(tmp_path / "foreign.pt")


def _synthetic_pose_set(n: int = 2000, seed: int = 0) -> PoseSet:
    """Standing-ish poses with random joint jitter, split into 10 takes."""
    from test_mocap import STANDING

    rng = np.random.default_rng(seed)
    poses = STANDING[None] + rng.normal(scale=0.05, size=(n, 17, 3)).astype(np.float32)
    poses -= poses[:, :1]
    takes = np.array([f"synthetic/take_{i}" for i in range(10)])
    split = np.array(["train"] * 8 + ["val", "test"])
    return PoseSet(poses, (np.arange(n) % 10).astype(np.int32), takes, split, np.array(["synthetic"] * 10))


def test_tiny_model_loss_falls(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    exp = PriorExperiment(model=TINY, train=TrainConfig(steps=300, batch_size=64, lr=2e-3, warmup_steps=20,
                                                        log_every=10, val_every=100, ckpt_every=1000, val_size=256))
    trainer = PriorTrainer(exp, tmp_path / "run", pose_set=_synthetic_pose_set(), progress=False)
    val_before = trainer.validation_loss(trainer.prior)
    history = trainer.fit()
    losses = [h["loss"] for h in history]
    assert losses[-1] < 0.7 * losses[0], losses
    assert history[-1]["val_loss"] < 0.7 * val_before
    # Checkpoint written, loadable as a PosePrior (EMA weights) and resumable.
    assert (tmp_path / "run" / "last.pt").is_file()
    PosePrior.load(tmp_path / "run" / "ema_prior.pt")
    resumed = PriorTrainer(exp, tmp_path / "run", pose_set=_synthetic_pose_set(), progress=False)
    resumed.load_checkpoint()
    assert resumed.step == 300


def test_fine_tune_starts_from_the_given_weights(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    base = PriorExperiment(model=TINY, train=TrainConfig(steps=200, batch_size=64, lr=2e-3, warmup_steps=20,
                                                         log_every=50, val_every=100, ckpt_every=1000, val_size=256))
    start = PriorTrainer(base, tmp_path / "start", pose_set=_synthetic_pose_set(), progress=False)
    start.fit()
    weights = tmp_path / "start" / "ema_prior.pt"
    tune = TrainConfig(**{**base.train.__dict__, "steps": 100, "init_weights": str(weights)})
    trainer = PriorTrainer(PriorExperiment(model=TINY, train=tune), tmp_path / "tune", pose_set=_synthetic_pose_set(),
                           progress=False)
    loaded = PosePrior.load(weights)
    for name, value in loaded.state_dict().items():  # the start's weights and model space (scale)
        torch.testing.assert_close(trainer.prior.state_dict()[name], value)
        torch.testing.assert_close(trainer.ema.state_dict()[name], value)
    fresh = PriorTrainer(base, tmp_path / "fresh", pose_set=_synthetic_pose_set(), progress=False)
    assert trainer.validation_loss(trainer.prior) < 0.7 * fresh.validation_loss(fresh.prior)  # a trained start
    with pytest.raises(ValueError, match="differs"):
        PriorTrainer(PriorExperiment(model=NetworkConfig("mlp", width=32, depth=2, time_dim=32), train=tune),
                     tmp_path / "bad", pose_set=_synthetic_pose_set(), progress=False)


def test_stature_statistics_weigh_the_performers() -> None:
    from test_mocap import STANDING

    from diffpose_ros.core.skeleton import STATURE_TO_NOMINAL, nominal_height, stature_statistics

    poses = np.stack([0.9 * STANDING, 1.1 * STANDING]).astype(np.float64)
    small, tall = np.log(nominal_height(poses) / STATURE_TO_NOMINAL)
    assert stature_statistics(poses) == pytest.approx((np.exp((small + tall) / 2), (tall - small) / 2), rel=1e-6)
    mean, sd = stature_statistics(poses, np.array([3.0, 1.0]))  # weights move the mean toward the small body
    log_mean = 0.75 * small + 0.25 * tall
    assert mean == pytest.approx(np.exp(log_mean), rel=1e-6)
    assert sd == pytest.approx(np.sqrt(0.75 * (small - log_mean) ** 2 + 0.25 * (tall - log_mean) ** 2), rel=1e-6)
    for bad in (np.array([1.0]), np.array([-1.0, 2.0]), np.zeros(2)):
        with pytest.raises(ValueError):
            stature_statistics(poses, bad)


def test_sampler_takes_the_body_height_the_prior_records() -> None:
    from diffpose_ros.estimator import EstimatorConfig
    from diffpose_ros.sampling.config import DEFAULT_BODY_HEIGHT, SamplerConfig

    recorded = PosePrior.untrained(TINY, metadata={"body_height": [1.62, 0.03]})
    assert recorded.body_height == (1.62, 0.03)
    assert SamplerConfig().build(recorded).body_height == (1.62, 0.03)
    assert SamplerConfig(body_height=(1.8, 0.05)).build(recorded).body_height == (1.8, 0.05)  # explicit wins
    for metadata in ({}, {"body_height": [17.0, 0.03]}, {"body_height": "tall"}):  # none or nonsense: adults
        assert SamplerConfig().build(PosePrior.untrained(TINY, metadata=metadata)).body_height == DEFAULT_BODY_HEIGHT
    # The node / evaluators: a negative body_height defers to the prior, a set one is used as given, live too.
    assert EstimatorConfig().sampler_config().build(recorded).body_height == (1.62, 0.03)
    sampler = EstimatorConfig(body_height=1.75, body_height_sd=0.02).sampler_config().build(recorded)
    assert sampler.body_height == (1.75, 0.02)
    sampler.set_body_height(None)
    assert sampler.body_height == (1.62, 0.03)


def test_shipped_weights_load_and_predict() -> None:
    assert SHIPPED_WEIGHTS.stat().st_size < 5_000_000
    prior = PosePrior.load()
    assert prior.metadata.get("steps", 0) > 0
    x_t = torch.randn(16, 17, 3)
    eps = prior.predict_noise(x_t, torch.full((16,), 500, dtype=torch.long))
    assert eps.shape == (16, 17, 3) and torch.isfinite(eps).all()
