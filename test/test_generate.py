"""Generation loop, CLI output and sample-quality metrics (metrics checked on hand-made poses)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from test_mocap import STANDING

from diffpose_ros.core import skeleton
from diffpose_ros.prior import sample_quality as sq
from diffpose_ros.prior.generate import sample_poses
from diffpose_ros.prior.network import NetworkConfig
from diffpose_ros.prior.pose_prior import PosePrior

REPO = Path(__file__).resolve().parents[1]


def test_sample_poses_shape_determinism_and_root() -> None:
    prior = PosePrior.untrained(NetworkConfig("mlp", width=32, depth=1, time_dim=16)).eval()
    a = sample_poses(prior, 4, steps=5, seed=3)
    b = sample_poses(prior, 4, steps=5, seed=3)
    assert a.shape == (4, 17, 3) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a[:, 0], 0.0)
    assert not np.allclose(a, sample_poses(prior, 4, steps=5, seed=4))


def test_quality_checks_on_hand_made_poses() -> None:
    good = np.stack([STANDING, skeleton.mirror(STANDING)]).astype(np.float64)
    checks = sq.joint_angle_checks(good)
    assert all(v.all() for v in checks.values()), checks
    bad = good.copy()
    bad[:, 3, 2] -= 0.3  # right ankle 30 cm in front (the pose faces -z): knee bent backwards = hyper-extension
    bad[:, 10, 1] = 0.3  # head top below the thorax
    checks = sq.joint_angle_checks(bad)
    assert not checks["no_knee_hyperextension"].any() and not checks["head_above_thorax"].any()
    bent = good.copy()
    bent[:, 3, 2] += 0.3  # ankle behind: a normal knee flexion
    assert sq.joint_angle_checks(bent)["no_knee_hyperextension"].all()
    assert sq.symmetry_error(good).max() < 0.01
    longer = good.copy()
    longer[:, 13] = longer[:, 12] + 1.5 * (longer[:, 13] - longer[:, 12])  # left forearm 50 % longer
    assert sq.symmetry_error(longer).min() > 0.03


def test_distribution_distances() -> None:
    rng = np.random.default_rng(0)
    base = STANDING[None] + rng.normal(scale=0.03, size=(300, 17, 3))
    base -= base[:, :1]
    other = STANDING[None] + rng.normal(scale=0.03, size=(300, 17, 3))
    other -= other[:, :1]
    shifted = other.copy()
    shifted[:, 11:] += np.array([0.0, -0.2, 0.1])  # arms raised and forward
    flat = [sq.yaw_canonicalise(p)[:, 1:].reshape(300, -1) for p in (base, other, shifted)]
    bw = sq.median_bandwidth(flat[0])
    assert sq.mmd_rbf(flat[0], flat[1], bw) < 0.1 * sq.mmd_rbf(flat[0], flat[2], bw)
    assert sq.nn_mpjpe(other, base).mean() < sq.nn_mpjpe(shifted, base).mean()
    # Yaw canonicalisation undoes a rotation about the vertical axis.
    c, s = np.cos(1.0), np.sin(1.0)
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    np.testing.assert_allclose(sq.yaw_canonicalise(base @ rot.T), sq.yaw_canonicalise(base), atol=1e-9)


def test_shipped_prior_samples_are_plausible() -> None:
    torch.set_num_threads(1)
    poses = sample_poses(PosePrior.load(), 128, steps=10, seed=0)
    checks = sq.joint_angle_checks(poses)
    assert checks["all"].mean() > 0.8
    assert sq.symmetry_error(poses).mean() < 0.1
    height = sq.nominal_height(poses)
    assert 1.4 < np.median(height) < 2.0


def test_generate_cli_writes_npz_and_png(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "diffpose_ros.prior.generate", "--num", "4", "--steps", "5",
                    "--out", str(tmp_path)], cwd=REPO, check=True, capture_output=True)
    with np.load(tmp_path / "poses.npz") as data:
        assert data["poses"].shape == (4, 17, 3)
    assert (tmp_path / "poses.png").stat().st_size > 1000
