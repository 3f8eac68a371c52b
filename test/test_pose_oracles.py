"""The proxy's pose oracles on a real mocap frame (the committed CMU fixture) and the real sampler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from diffpose_ros.core.camera import PinholeCamera
from diffpose_ros.core.skeleton import JOINT_INDEX, SYMMETRIC_BONES, bone_lengths
from diffpose_ros.evaluation.pose_oracles import (
    FLIP_JOINTS,
    flip_joint,
    flip_oracle,
    score_view,
    symmetric_lengths,
    with_bone_lengths,
)
from diffpose_ros.evaluation.synthetic_heatmaps import SyntheticConfig, synthetic_observation
from diffpose_ros.prior.bvh import parse_bvh
from diffpose_ros.prior.rig_mapping import bvh_to_h36m

FIXTURES = Path(__file__).parent / "fixtures"
CAMERA = PinholeCamera(1145.0, 1144.0, 512.0, 515.0, 1000, 1002)


@pytest.fixture(scope="module")
def truth() -> np.ndarray:
    """A real CMU frame in a camera frame: 4 m in front of the camera, turned 40 degrees."""
    bvh = parse_bvh((FIXTURES / "mocap" / "cmu_001_001_01_every40th.bvh").read_text())
    pose = bvh_to_h36m(bvh, frames=np.array([3]))[0].astype(np.float64)
    c, s = np.cos(0.7), np.sin(0.7)
    return pose @ np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]).T + np.array([0.2, 0.1, 4.0])


@pytest.mark.parametrize("joint", FLIP_JOINTS)
def test_a_flip_keeps_the_2d_and_the_bones_and_undoes_itself(truth, joint) -> None:
    flipped = flip_joint(truth, joint)
    np.testing.assert_allclose(CAMERA.project(flipped), CAMERA.project(truth), atol=1e-9)
    np.testing.assert_allclose(bone_lengths(flipped), bone_lengths(truth), atol=1e-9)
    assert np.linalg.norm(flipped[joint] - truth[joint]) > 0.005  # it moved (along its ray)
    np.testing.assert_allclose(flip_joint(flipped, joint), truth, atol=1e-9)


def test_the_flip_oracle_finds_a_flipped_knee_and_wrist(truth) -> None:
    wrong = flip_joint(flip_joint(truth, JOINT_INDEX["left_knee"]), JOINT_INDEX["right_wrist"])
    found, flips = flip_oracle(wrong, truth)
    assert flips == 2
    np.testing.assert_allclose(found, truth, atol=1e-9)
    assert flip_oracle(truth, truth)[1] == 0


def test_bone_oracles_set_the_lengths_and_keep_the_directions(truth) -> None:
    rr = truth - truth[:1]
    stretched = with_bone_lengths(rr, bone_lengths(rr) * np.linspace(0.9, 1.1, 16))
    restored = with_bone_lengths(stretched, bone_lengths(rr))
    np.testing.assert_allclose(restored, rr, atol=1e-9)
    sym = symmetric_lengths(bone_lengths(stretched))
    assert all(sym[left] == pytest.approx(sym[right]) for left, right in SYMMETRIC_BONES)


def test_score_view_on_the_sampler_s_hypotheses(truth) -> None:
    from diffpose_ros.prior.pose_prior import PosePrior
    from diffpose_ros.sampling.config import DEFAULT

    sampler = DEFAULT.build(PosePrior.load(), seed=0)
    obs = synthetic_observation(CAMERA.project(truth), np.random.default_rng(0), SyntheticConfig())
    hyp = sampler.sample(obs, CAMERA, num_hypotheses=32).poses_camera
    row = score_view(hyp, truth)
    assert 5.0 < row["best"] < 150.0, row  # a real fit of the real frame
    assert row["flip_oracle"] <= row["best"] + 1e-9 and row["flipped"] in (0.0, 1.0), row
    assert row["pa"] < row["best"] and row["pa_true_bones"] < 100.0, row
    exact = score_view(np.concatenate([hyp, truth[None]]), truth)  # the truth among them: the oracles read 0
    assert max(exact[k] for k in ("best", "flip_oracle", "pa", "pa_true_bones")) < 1e-6, exact
    assert exact["flipped"] == 0.0 and exact["pa_symmetric_bones"] > 0.0, exact  # CMU's rig is not symmetric
