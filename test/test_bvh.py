"""BVH reader, forward kinematics and rig mapping to H36M-17."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from diffpose_ros.core import skeleton
from diffpose_ros.core.paths import shared_data_dir
from diffpose_ros.prior.bvh import BvhParseError, forward_kinematics, parse_bvh
from diffpose_ros.prior.mocap import iter_tar_bvh
from diffpose_ros.prior.rig_mapping import BANDAI, CHARACTER_CREATOR, bvh_to_h36m, detect_rig, toe_positions

# Root with 6 channels (default ZXY order), a 3-channel joint with a non-default order (X Z Y),
# a 6-channel non-root joint with yet another order (Y X Z), and an End Site.
TOY_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 1 2 3
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Chest
  {
    OFFSET 0 10 0
    CHANNELS 3 Xrotation Zrotation Yrotation
    JOINT Arm
    {
      OFFSET 5 0 0
      CHANNELS 6 Xposition Yposition Zposition Yrotation Xrotation Zrotation
      End Site
      {
        OFFSET 0 0 4
      }
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.5
1 2 3 0 0 0   0 0 0    5 0 0 0 0 0
10 0 0 90 0 0  0 0 90   5 0 0 0 90 0
0 0 0 0 0 0   90 90 0  5 0 0 0 0 0
"""

# Hand-computed (see the comments) positions of Hips, Chest, Arm, Arm_End per frame.
EXPECTED = np.array([
    # frame 0: rest pose, translations only
    [[1, 2, 3], [1, 12, 3], [6, 12, 3], [6, 12, 7]],
    # frame 1: R_hips = Rz90 (x->y, y->-x); Chest = (10,0,0) + Rz90 (0,10,0) = (0,0,0);
    # R_chest = Rz90 Ry90: Ry90 (5,0,0) = (0,0,-5), Rz90 keeps it -> Arm (0,0,-5);
    # R_arm = Rz90 Ry90 Rx90: Rx90 (0,0,4) = (0,-4,0), Ry90 keeps, Rz90 -> (4,0,0) -> End (4,0,-5)
    [[10, 0, 0], [0, 0, 0], [0, 0, -5], [4, 0, -5]],
    # frame 2: R_chest = Rx90 Rz90 (listed order): Rz90 (5,0,0) = (0,5,0), Rx90 -> (0,0,5): Arm (0,10,5);
    # End: Rz90 (0,0,4) = (0,0,4), Rx90 -> (0,-4,0): End (0,6,5)
    [[0, 0, 0], [0, 10, 0], [0, 10, 5], [0, 6, 5]],
], dtype=float)


def test_toy_bvh_hierarchy() -> None:
    bvh = parse_bvh(TOY_BVH)
    assert bvh.names == ["Hips", "Chest", "Arm", "Arm_End"]
    assert [j.parent for j in bvh.joints] == [-1, 0, 1, 2]
    assert bvh.joints[3].is_end_site and bvh.joints[3].channels == []
    assert bvh.joints[1].channels == ["Xrotation", "Zrotation", "Yrotation"]
    assert bvh.motion.shape == (3, 15) and bvh.frame_time == 0.5


def test_toy_bvh_forward_kinematics() -> None:
    positions = forward_kinematics(parse_bvh(TOY_BVH))
    np.testing.assert_allclose(positions, EXPECTED, atol=1e-9)


def test_position_channels_add_mode() -> None:
    positions = forward_kinematics(parse_bvh(TOY_BVH), position_mode="add")
    # frame 0: root = OFFSET + channels = (2, 4, 6); Arm = Chest + (5,0,0) + (5,0,0)
    np.testing.assert_allclose(positions[0, 0], [2, 4, 6])
    np.testing.assert_allclose(positions[0, 2], [12, 14, 6])


def test_malformed_bvh_raises() -> None:
    with pytest.raises(BvhParseError):
        parse_bvh(TOY_BVH.replace("MOTION", ""))
    with pytest.raises(BvhParseError):
        parse_bvh(TOY_BVH.replace("Frames: 3", "Frames: 9"))


def _first_take(tar_path: Path, name: str):
    return next(iter_tar_bvh(tar_path, names={name}))[1]


def _real_take(rig: str, fixtures_dir: Path):
    """CMU (Character Creator rig): the committed fixture (every 40th frame of take 001_001_01). Bandai-Namco is
    CC BY-NC and never committed: read from the shared data, skipped without it."""
    if rig == "cc":
        return parse_bvh((fixtures_dir / "mocap" / "cmu_001_001_01_every40th.bvh").read_text())
    tar = shared_data_dir() / "mocap" / "bandai_namco_ds1_bvh.tar.gz"
    if not tar.is_file():
        pytest.skip(f"Bandai-Namco BVH (CC BY-NC, not redistributable) not found at {tar}")
    return _first_take(tar, "dataset-1_walk_normal_001")


@pytest.mark.parametrize("rig", ["bandai", "cc"])
def test_real_bvh_mapping_is_anatomical(fixtures_dir: Path, rig: str) -> None:
    bvh = _real_take(rig, fixtures_dir)
    assert detect_rig(bvh) is {"bandai": BANDAI, "cc": CHARACTER_CREATOR}[rig]
    frames = np.arange(0, bvh.num_frames, 5)
    poses = bvh_to_h36m(bvh, frames=frames, root_relative=False)
    assert np.isfinite(poses).all()

    # Bone lengths constant across frames: rigid limb bones exactly; torso, head and thorax-shoulder
    # (clavicles move, the spine bends) within a centimetre.
    lengths = skeleton.bone_lengths(poses)
    limb_bones = [c - 1 for c in (1, 2, 3, 4, 5, 6, 12, 13, 15, 16)]
    assert lengths[:, limb_bones].std(0).max() < 1e-6
    assert lengths.std(0).max() < 0.01

    # Upright frames (y down): head top above thorax above pelvis.
    y = poses[..., 1]
    assert (y[:, 10] < y[:, 8]).all() and (y[:, 8] < y[:, 0]).all()

    # Tallest (standing) frame: ankles below knees below hips, realistic stature.
    stand = poses[np.argmin(y[:, 10] - y[:, [3, 6]].mean(1))]
    sy = stand[:, 1]
    assert sy[3] > sy[2] > sy[1] and sy[6] > sy[5] > sy[4]
    stature = sy[[3, 6]].mean() - sy[10] + 0.07
    assert 1.55 < stature < 1.95, stature

    # Left/right on the correct sides: the toes point forward, and left = up x forward (right-handed axes).
    toes = toe_positions(bvh, frames=frames)
    forward = (toes - poses[:, [3, 6]]).mean(1)
    forward[:, 1] = 0
    up = np.array([0.0, -1.0, 0.0])
    left = poses[:, 4] - poses[:, 1]
    assert np.mean(np.einsum("fi,fi->f", left, np.cross(up, forward)) > 0) > 0.95
    shoulders_left = poses[:, 11] - poses[:, 14]
    assert np.mean(np.einsum("fi,fi->f", shoulders_left, left) > 0) > 0.95

    # Root-relative output keeps the pelvis at the origin.
    rel = bvh_to_h36m(bvh, frames=frames[:3])
    np.testing.assert_allclose(rel[:, 0], 0.0, atol=1e-12)
