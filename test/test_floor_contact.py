"""Body size from the floor: a camera at a known height above the floor, gravity known (real prior and sampler)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from diffpose_ros.core.camera import PinholeCamera
from diffpose_ros.core.gravity import gravity_from_pitch_roll, level_to_camera
from diffpose_ros.core.skeleton import STATURE_TO_NOMINAL, nominal_height
from diffpose_ros.estimator import EstimatorConfig, PoseEstimator
from diffpose_ros.evaluation.h36m_observations import synthetic_observation
from diffpose_ros.evaluation.proxy_benchmark import CLEAN
from diffpose_ros.prior.pose_prior import PosePrior
from diffpose_ros.sampling.config import SamplerConfig
from diffpose_ros.sampling.floor_contact import FLOOR_CLEARANCE_M

CAM = PinholeCamera(550.0, 550.0, 319.5, 239.5, 640, 480)
DROP = 1.3  # the lowest joint lies this far below the camera centre


@pytest.fixture(scope="module")
def prior() -> PosePrior:
    return PosePrior.load()


@pytest.fixture(scope="module")
def people(prior: PosePrior) -> np.ndarray:
    """Upright poses (the prior's own unguided samples), root-relative, level frame."""
    torch.manual_seed(0)
    return SamplerConfig().build(prior, seed=5).sample(None, None, num_hypotheses=4).poses_root_relative.astype(
        np.float64)


def _view(pose: np.ndarray, stature: float, pitch: float, distance: float = 4.0):
    """``pose`` scaled to ``stature``, lowest joint ``DROP`` below a camera pitched ``pitch`` degrees down."""
    pose = pose * (STATURE_TO_NOMINAL * stature / nominal_height(pose))
    g = gravity_from_pitch_roll(pitch)
    level = pose + np.array([0.2, DROP - pose[:, 1].max(), distance])
    return level @ level_to_camera(g).T, g


def _statures(result) -> np.ndarray:
    return nominal_height(result.poses_root_relative.astype(np.float64)) / STATURE_TO_NOMINAL


@pytest.mark.parametrize("stature", [1.56, 1.86])
def test_the_floor_sets_size_and_distance_where_the_stature_prior_cannot(prior, people, stature) -> None:
    sampler = SamplerConfig().build(prior, seed=0)
    floor = DROP + FLOOR_CLEARANCE_M[0]
    for i, pose in enumerate(people[:2]):
        pc, g = _view(pose, stature, pitch=20.0)
        obs = synthetic_observation(CAM.project(pc), np.random.default_rng(i), CLEAN)
        without = sampler.sample(obs, CAM, num_hypotheses=32, gravity=g)
        with_floor = sampler.sample(obs, CAM, num_hypotheses=32, gravity=g, camera_height=floor)
        # 2D cannot tell size: without the floor the hypotheses keep the 1.70 m prior, 8-9 % off these people;
        # the floor (+-3 cm of clearance over 1.3 m: +-2.3 %) outweighs that prior (+-4 %) about 3 : 1
        size_error = {k: abs(np.log(np.median(_statures(r)) / stature)) for k, r in (("without", without),
                                                                                    ("floor", with_floor))}
        depth_error = {k: abs(np.log(np.median(r.poses_camera[:, 0, 2]) / pc[0, 2]))
                       for k, r in (("without", without), ("floor", with_floor))}
        assert size_error["without"] > 0.05
        assert size_error["floor"] < 0.6 * size_error["without"]
        assert depth_error["floor"] < 0.5 * depth_error["without"]  # the distance follows the size
        reproj = np.linalg.norm(CAM.project(with_floor.poses_camera.astype(np.float64)) - CAM.project(pc), axis=-1)
        assert np.median(reproj) < 8.0  # and the 2D fit is the same


def test_a_person_off_the_floor_keeps_the_stature_prior(prior, people) -> None:
    """A jump (lowest joint 0.5 m above the floor) would read as a 2.4 m giant: the gate keeps the prior's size."""
    sampler = SamplerConfig().build(prior, seed=0)
    pc, g = _view(people[0], 1.70, pitch=15.0)
    obs = synthetic_observation(CAM.project(pc), np.random.default_rng(0), CLEAN)
    r = sampler.sample(obs, CAM, num_hypotheses=32, gravity=g, camera_height=DROP + 0.5 + FLOOR_CLEARANCE_M[0])
    assert np.median(_statures(r)) == pytest.approx(1.70, rel=0.04)


def test_camera_height_needs_gravity(prior, people) -> None:
    obs = synthetic_observation(CAM.project(_view(people[0], 1.7, 0.0)[0]), np.random.default_rng(0), CLEAN)
    with pytest.raises(ValueError, match="camera_height"):
        SamplerConfig().build(prior, seed=0).sample(obs, CAM, num_hypotheses=4, camera_height=1.4)


def test_the_estimator_uses_its_camera_height_only_with_gravity(prior, people) -> None:
    pc, g = _view(people[1], 1.86, pitch=20.0)
    obs = synthetic_observation(CAM.project(pc), np.random.default_rng(3), CLEAN)
    est = PoseEstimator(EstimatorConfig(camera_height=DROP + FLOOR_CLEARANCE_M[0], tracking=False, seed=0))
    known = est.estimate_from_observations([obs], CAM, g).people[0]
    unknown = est.estimate_from_observations([obs], CAM, None).people[0]  # no gravity: the floor is not used
    size = {k: np.median(nominal_height(p.hypotheses - p.hypotheses[:, :1]) / STATURE_TO_NOMINAL)
            for k, p in (("known", known), ("unknown", unknown))}
    assert size["known"] == pytest.approx(1.86, rel=0.035)
    assert size["unknown"] < 1.78
    est.reconfigure(camera_height=0.0)  # live: 0 = unknown
    off = est.estimate_from_observations([obs], CAM, g).people[0]
    assert np.median(nominal_height(off.hypotheses - off.hypotheses[:, :1]) / STATURE_TO_NOMINAL) < 1.78


def test_a_tracked_person_keeps_measuring_its_size_on_the_floor(prior, people) -> None:
    """Video: warm-started frames keep each hypothesis's body height, and where the floor measures it again the
    height follows the running mean of those measurements (instead of the first frame's draw alone)."""
    est = PoseEstimator(EstimatorConfig(camera_height=DROP + FLOOR_CLEARANCE_M[0], seed=0))
    depths, warm = [], []
    for k in range(5):  # a 1.86 m person walking slowly across the view
        pc, g = _view(people[1], 1.86, pitch=20.0)
        pc = pc + np.array([0.05 * k, 0.0, 0.0])
        obs = dataclasses.replace(synthetic_observation(CAM.project(pc), np.random.default_rng(k), CLEAN), track_id=7)
        frame = est.estimate_from_observations([obs], CAM, g)
        person = frame.people[0]
        warm.append(frame.warm_people)
        depths.append(np.log(np.median(person.hypotheses[:, 0, 2]) / pc[0, 2]))
    assert warm[1:] == [1, 1, 1, 1]  # the later frames were warm-started
    assert np.abs(depths).max() < 0.045, depths
    memory = est._memory[7]
    assert memory.floor_counts.max() >= 4 and memory.floor_counts.min() >= 1  # measured on every frame
