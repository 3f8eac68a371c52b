"""Mocap dataset split, VideoPose3D loader and training augmentation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from diffpose_ros.core import skeleton
from diffpose_ros.prior import augment
from diffpose_ros.prior.h36m_npz import H36M32_TO_17, load_videopose3d_npz, z_up_to_canonical
from diffpose_ros.prior.mocap import take_split

# A plausible standing H36M-17 pose in canonical axes (x right, y down, z forward), metres, facing -z.
STANDING = np.array([
    [0, 0, 0], [-0.13, 0, 0], [-0.13, 0.45, 0], [-0.13, 0.9, 0], [0.13, 0, 0], [0.13, 0.45, 0], [0.13, 0.9, 0],
    [0, -0.23, 0], [0, -0.48, 0], [0, -0.58, -0.08], [0, -0.7, 0], [0.16, -0.48, 0], [0.18, -0.2, 0],
    [0.19, 0.05, 0], [-0.16, -0.48, 0], [-0.18, -0.2, 0], [-0.19, 0.05, 0],
], dtype=np.float32)


def _batch(n: int = 8) -> torch.Tensor:
    return torch.as_tensor(STANDING).expand(n, 17, 3).clone()


def test_take_split_is_deterministic_and_by_take() -> None:
    names = [f"src/take_{i:04d}" for i in range(2000)]
    splits = [take_split(n) for n in names]
    assert splits == [take_split(n) for n in names]
    counts = {s: splits.count(s) for s in ("train", "val", "test")}
    assert 0.07 < counts["val"] / 2000 < 0.13 and 0.07 < counts["test"] / 2000 < 0.13
    assert take_split("a", seed=0) == take_split("a", seed=0)
    assert [take_split(n, seed=1) for n in names[:50]] != splits[:50]


def test_yaw_rotation_preserves_bone_lengths_and_vertical() -> None:
    poses = _batch()
    rotated = augment.rotate(poses, augment.rotation_y(torch.linspace(0, 2 * math.pi, 8)))
    np.testing.assert_allclose(skeleton.bone_lengths(rotated.numpy()), skeleton.bone_lengths(poses.numpy()),
                               atol=1e-6)
    np.testing.assert_allclose(rotated[..., 1], poses[..., 1], atol=1e-6)  # heights unchanged
    assert not torch.allclose(rotated[1:], poses[1:], atol=1e-3)


def test_mirror_swaps_sides() -> None:
    poses = _batch(2)
    mirrored = augment.mirror(poses)
    # The left hip (index 4, at +x) becomes the right hip, now at -x ... mirrored x of the old left side.
    np.testing.assert_allclose(mirrored[:, 1], poses[:, 4] * torch.tensor([-1.0, 1, 1]))
    np.testing.assert_allclose(mirrored.numpy(), skeleton.mirror(poses.numpy()), atol=1e-7)
    assert torch.allclose(augment.mirror(mirrored), poses)


def test_limb_scaling_changes_only_that_limb() -> None:
    poses = _batch(3)
    scaled = augment.scale_limbs(poses, {"left_arm": torch.tensor([1.1, 1.2, 0.9])})
    before, after = skeleton.bone_lengths(poses.numpy()), skeleton.bone_lengths(scaled.numpy())
    ratio = after / before
    arm = [c - 1 for c in skeleton.LIMB_GROUPS["left_arm"]]
    others = [b for b in range(16) if b not in arm]
    np.testing.assert_allclose(ratio[:, arm], np.array([[1.1], [1.2], [0.9]]).repeat(3, 1), rtol=1e-5)
    np.testing.assert_allclose(ratio[:, others], 1.0, rtol=1e-5)
    # Only the left-arm joints move, and bone directions are kept.
    moved = (scaled - poses).norm(dim=-1).amax(0) > 1e-6
    assert set(torch.nonzero(moved).flatten().tolist()) == set(skeleton.LIMB_GROUPS["left_arm"])
    b0, b1 = augment.bone_vectors(poses), augment.bone_vectors(scaled)
    cos = torch.nn.functional.cosine_similarity(b0, b1, dim=-1)
    assert torch.allclose(cos, torch.ones_like(cos), atol=1e-5)


def test_augmenter_output_is_plausible() -> None:
    gen = torch.Generator().manual_seed(0)
    out = augment.PoseAugmenter()(_batch(512), gen)
    assert torch.isfinite(out).all() and torch.all(out[:, 0] == 0)
    height = augment.nominal_height(out)
    assert 1.49 < float(height.min()) and float(height.max()) < 1.96
    lengths = skeleton.bone_lengths(out.numpy())
    sym = np.array([lengths[:, l_] / lengths[:, r_] for l_, r_ in skeleton.SYMMETRIC_BONES])
    assert np.abs(sym - 1).max() < 0.05  # limbs scaled together, small asymmetry only
    head_up = out[:, 10, 1] < out[:, 0, 1]  # tilt is small: still upright (y down)
    assert bool(head_up.all())


def test_videopose3d_loader(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    # World frame z-up: put the standing pose into 32-joint arrays at the H36M indices, plus a translation.
    canonical = STANDING.astype(np.float64)
    world17 = np.stack([canonical[:, 0], canonical[:, 2], -canonical[:, 1]], axis=-1)  # inverse of z_up_to_canonical
    frames = np.zeros((5, 32, 3))
    frames[:, H36M32_TO_17] = world17
    frames[:, [4, 5, 9, 10, 11, 16, 20, 21, 22, 23, 24, 28, 29, 30, 31]] = rng.normal(size=(5, 15, 3))
    frames += np.array([1.0, 2.0, 0.9])
    data = {"S1": {"Walking": frames, "Eating 2": frames[:2]}, "S9": {"Posing": frames[:3]}}
    path = tmp_path / "data_3d_h36m.npz"
    np.savez_compressed(path, positions_3d=data)

    loaded = load_videopose3d_npz(path)
    assert set(loaded) == {"S1", "S9"} and set(loaded["S1"]) == {"Walking", "Eating 2"}
    poses = loaded["S1"]["Walking"]
    assert poses.shape == (5, 17, 3)
    np.testing.assert_allclose(poses, np.broadcast_to(canonical, poses.shape), atol=1e-6)
    assert (poses[:, 10, 1] < poses[:, 0, 1]).all()  # head above pelvis in y-down axes
    only_s9 = load_videopose3d_npz(path, subjects=["S9"])
    assert list(only_s9) == ["S9"]
    np.testing.assert_allclose(z_up_to_canonical(np.array([[0.0, 0.0, 1.0]])), [[0.0, -1.0, 0.0]])
    with pytest.raises(FileNotFoundError):
        load_videopose3d_npz(tmp_path / "missing.npz")
