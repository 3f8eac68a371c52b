"""Gravity in the camera frame, and gravity-aware sampling on pitched cameras (shipped prior)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffpose_ros.core import metrics
from diffpose_ros.core.camera import PinholeCamera
from diffpose_ros.core.gravity import (
    gravity_from_accelerometer,
    gravity_from_pitch_roll,
    level_to_camera,
    pitch_roll_from_gravity,
    quaternion_to_matrix,
)
from diffpose_ros.core.skeleton import STATURE_TO_NOMINAL, nominal_height
from diffpose_ros.evaluation.h36m_observations import synthetic_observation
from diffpose_ros.evaluation.proxy_benchmark import CLEAN
from diffpose_ros.prior.pose_prior import PosePrior
from diffpose_ros.sampling.config import ACCURATE, SamplerConfig


def test_level_camera_is_identity_and_rotations_are_proper() -> None:
    np.testing.assert_allclose(level_to_camera([0.0, 1.0, 0.0]), np.eye(3), atol=1e-12)
    for pitch, roll in [(25.0, 0.0), (-10.0, 7.0), (89.9, 0.0), (90.0, 0.0)]:
        g = gravity_from_pitch_roll(pitch, roll)
        r = level_to_camera(g * 9.81)
        np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-9)
        assert np.linalg.det(r) == pytest.approx(1.0)
        np.testing.assert_allclose(r @ [0.0, 1.0, 0.0], g, atol=1e-9)  # level "down" is gravity
        if abs(pitch) < 89:
            assert pitch_roll_from_gravity(g) == pytest.approx((pitch, roll), abs=1e-9)
    g = gravity_from_pitch_roll(30.0)
    assert g[2] > 0 and g[1] > 0  # looking down: gravity has a forward component
    with pytest.raises(ValueError, match="gravity"):
        level_to_camera([0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="gravity"):
        level_to_camera([np.nan, 1.0, 0.0])


def test_accelerometer_and_quaternions() -> None:
    np.testing.assert_allclose(gravity_from_accelerometer([0.0, -9.81, 0.0]), [0.0, 1.0, 0.0])  # reads "up"
    q_wxyz = (np.cos(np.pi / 4), 0.0, 0.0, np.sin(np.pi / 4))  # 90 degrees about z
    r = quaternion_to_matrix(q_wxyz)
    np.testing.assert_allclose(r @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(quaternion_to_matrix(np.roll(q_wxyz, -1), scalar_first=False), r, atol=1e-12)
    np.testing.assert_allclose(gravity_from_accelerometer([-9.81, 0.0, 0.0], r), [0.0, 1.0, 0.0], atol=1e-12)
    with pytest.raises(ValueError, match="quaternion"):
        quaternion_to_matrix([0.0, 0.0, 0.0, 0.0])


@pytest.fixture(scope="module")
def prior() -> PosePrior:
    return PosePrior.load()


def _pitched_views(prior: PosePrior, pitch: float, n: int = 6):
    """Upright people (the prior's own unguided samples) seen by a camera ``pitch`` degrees down."""
    torch.manual_seed(0)
    people = SamplerConfig().build(prior, seed=5).sample(None, None, num_hypotheses=n).poses_root_relative
    cam = PinholeCamera(550.0, 550.0, 319.5, 239.5, 640, 480)
    g = gravity_from_pitch_roll(pitch)
    r = level_to_camera(g)
    views = []
    for p in people.astype(np.float64):
        level = p + np.array([0.0, 1.3 - p[:, 1].max(), 3.5])  # feet on a floor 1.3 m below the camera
        views.append((level @ r.T, g))
    return cam, views


def test_known_gravity_beats_a_level_assumption_on_a_pitched_camera(prior: PosePrior) -> None:
    cam, views = _pitched_views(prior, 30.0)
    sampler = SamplerConfig(align_yaw_above=0.5, guidance_iters=2).build(prior, seed=0)
    errors = {"known": [], "level": []}
    for i, (pc, g) in enumerate(views):
        obs = synthetic_observation(cam.project(pc), np.random.default_rng(i), CLEAN)
        gt = pc - pc[:1]
        for mode, gravity in (("known", g), ("level", None)):
            r = sampler.sample(obs, cam, num_hypotheses=16, gravity=gravity)
            errors[mode].append(metrics.best_of_m(r.poses_root_relative.astype(np.float64), gt))
            if mode == "known":  # upright in the world: the pelvis-to-thorax axis leans < 30 deg from gravity
                spine = r.mean_root_relative[8] - r.mean_root_relative[0]
                assert np.degrees(np.arccos(-spine @ g / np.linalg.norm(spine))) < 30.0
    known, level = np.mean(errors["known"]), np.mean(errors["level"])
    assert known < 0.8 * level, (known, level)


def test_hypotheses_take_the_body_height_prior_without_losing_their_2d_fit(prior: PosePrior) -> None:
    cam, views = _pitched_views(prior, 0.0, n=2)
    pc, g = views[0]
    obs = synthetic_observation(cam.project(pc), np.random.default_rng(0), CLEAN)
    for stature in (1.55, 1.85):
        r = SamplerConfig(body_height=(stature, 0.04)).build(prior, seed=0).sample(obs, cam, num_hypotheses=64,
                                                                                   gravity=g)
        heights = nominal_height(r.poses_root_relative.astype(np.float64)) / STATURE_TO_NOMINAL
        assert np.median(heights) == pytest.approx(stature, rel=0.02)
        assert 0.02 < np.std(np.log(heights)) < 0.06
        reproj = np.linalg.norm(cam.project(r.poses_camera.astype(np.float64)) - cam.project(pc), axis=-1)
        assert np.median(reproj) < 8.0  # the distance followed the size


def test_a_detectors_gross_error_is_dropped_and_clean_joints_are_kept(prior: PosePrior) -> None:
    cam, views = _pitched_views(prior, 15.0, n=3)
    sampler = SamplerConfig().build(prior, seed=0)
    off = SamplerConfig(outlier_drop_below=0.0).build(prior, seed=0)
    for i, (pc, g) in enumerate(views):
        kp = cam.project(pc)
        clean = synthetic_observation(kp, np.random.default_rng(i), CLEAN)
        assert sampler.sample(clean, cam, num_hypotheses=16, gravity=g).info["dropped_joints"] == []
        wrong = kp.copy()  # the right wrist's peak out of the arm's reach (on someone else, say)
        wrong[16] = kp[14] + [0.7 * (kp[:, 1].max() - kp[:, 1].min()), 0.0]
        obs = synthetic_observation(wrong, np.random.default_rng(i), CLEAN)
        r = sampler.sample(obs, cam, num_hypotheses=16, gravity=g)
        # the wrist first; the second joint the rule may drop is one the false peak pulled along (its arm)
        assert 16 in r.info["dropped_joints"] and set(r.info["dropped_joints"]) <= {14, 15, 16}, r.info
        kept = off.sample(obs, cam, num_hypotheses=16, gravity=g)
        assert "dropped_joints" not in kept.info
        # without the false peak the rest of the body follows its own (right) peaks instead of reaching for it
        reproj = [np.median(np.linalg.norm(cam.project(res.poses_camera.astype(np.float64))[:, :16] - kp[:16], axis=-1))
                  for res in (r, kept)]
        assert reproj[0] < 2.0 < 5.0 < reproj[1], reproj
        best = [np.linalg.norm(res.poses_root_relative[:, :16] - (pc - pc[:1])[:16], axis=-1).mean(-1).min()
                for res in (r, kept)]
        assert best[0] < best[1], best


def test_a_displaced_pelvis_peak_is_held_out_and_a_true_one_comes_back(prior: PosePrior) -> None:
    cam, views = _pitched_views(prior, 15.0, n=3)
    sampler = SamplerConfig().build(prior, seed=0)
    best: dict[str, list] = {"checked": [], "unchecked": []}
    for i, (pc, g) in enumerate(views):
        kp = cam.project(pc)
        clean = synthetic_observation(kp, np.random.default_rng(i), CLEAN)
        assert sampler.sample(clean, cam, num_hypotheses=16, gravity=g).info["dropped_joints"] == []
        one_hip = synthetic_observation(kp, np.random.default_rng(i), CLEAN)
        one_hip.heatmaps[1], one_hip.has_heatmap[1], one_hip.scores[1] = np.nan, False, 0.0
        # held out while the right hip is not seen, back at the check: the hypotheses agree with it
        assert 0 not in sampler.sample(one_hip, cam, num_hypotheses=16, gravity=g).info["dropped_joints"]
        wrong = kp.copy()  # the pelvis peak a third of the body's height off to the side, the hips where they are
        wrong[0] = kp[0] + [0.3 * (kp[:, 1].max() - kp[:, 1].min()), 0.0]
        obs = synthetic_observation(wrong, np.random.default_rng(i), CLEAN)
        r = sampler.sample(obs, cam, num_hypotheses=16, gravity=g)
        assert 0 in r.info["dropped_joints"], r.info
        for name, kwargs in (("checked", {}), ("unchecked", {"pelvis_check_sigma": 0.0})):  # same draws otherwise
            res = SamplerConfig().build(prior, seed=0, **kwargs).sample(obs, cam, num_hypotheses=16, gravity=g)
            best[name].append(metrics.best_of_m(res.poses_root_relative.astype(np.float64), pc - pc[:1]))
    # the false root peak no longer drags the body: the best hypothesis is closer
    assert np.mean(best["checked"]) < np.mean(best["unchecked"]), best


def test_a_person_who_lost_a_joint_reruns_the_late_steps_without_it(prior: PosePrior) -> None:
    cam, views = _pitched_views(prior, 15.0, n=3)
    restart = SamplerConfig(restart_below=0.5).build(prior, seed=0)
    everyone = ACCURATE.build(prior, seed=0)  # the accurate preset re-runs everyone
    drop_only = SamplerConfig().build(prior, seed=0)
    grid = restart.scheduler.timesteps.tolist()
    T = restart.scheduler.num_train_timesteps
    check = next(i for i, t in enumerate(grid) if t / T < restart.outlier_drop_below)
    again = next(i for i, t in enumerate(grid) if t / T < restart.restart_below)
    errors: dict[str, list] = {"restart": [], "drop_only": []}
    for i, (pc, g) in enumerate(views):
        kp = cam.project(pc)
        wrong = kp.copy()
        wrong[16] = kp[14] + [0.7 * (kp[:, 1].max() - kp[:, 1].min()), 0.0]
        obs = synthetic_observation(wrong, np.random.default_rng(i), CLEAN)
        r = restart.sample(obs, cam, num_hypotheses=16, gravity=g)
        d = drop_only.sample(obs, cam, num_hypotheses=16, gravity=g)
        assert r.info["restarted"] and 16 in r.info["dropped_joints"]
        assert set(r.info["dropped_joints"]) <= {14, 15, 16}, r.info  # the wrist, perhaps the arm it pulled
        assert r.info["steps_run"] == check + 1 + len(grid) - again
        assert "restarted" not in d.info and d.info["steps_run"] == len(grid)
        reproj = np.median(np.linalg.norm(cam.project(r.poses_camera.astype(np.float64))[:, :16] - kp[:16], axis=-1))
        assert reproj < 2.0
        for name, res in (("restart", r), ("drop_only", d)):
            errors[name].append(np.linalg.norm(res.poses_root_relative[:, :16] - (pc - pc[:1])[:16], axis=-1).mean())
        clean = synthetic_observation(kp, np.random.default_rng(i), CLEAN)
        assert "restarted" not in restart.sample(clean, cam, num_hypotheses=16, gravity=g).info
        r = everyone.sample(clean, cam, num_hypotheses=16, gravity=g)
        assert r.info["restarted"] and r.info["dropped_joints"] == []
        # on a grid everyone.restart_refine times finer
        assert r.info["steps_run"] == check + 1 + everyone.restart_refine * (len(grid) - again)
    # re-run from half the noise, the other joints no longer carry the false peak's pull of the earlier steps
    assert np.mean(errors["restart"]) < np.mean(errors["drop_only"]), errors


def test_a_rerun_person_does_not_change_the_others_results(prior: PosePrior) -> None:
    cam, views = _pitched_views(prior, 15.0, n=2)
    sampler = SamplerConfig(restart_below=0.5).build(prior, seed=0)
    (pc_a, g), (pc_b, _) = views
    pc_b = pc_b + [1.2, 0.0, 1.0]  # a second person beside the first
    kp_a = cam.project(pc_a)
    wrong = kp_a.copy()
    wrong[16] = kp_a[14] + [0.7 * (kp_a[:, 1].max() - kp_a[:, 1].min()), 0.0]
    obs = [synthetic_observation(wrong, np.random.default_rng(0), CLEAN),
           synthetic_observation(cam.project(pc_b), np.random.default_rng(1), CLEAN)]
    both = sampler.sample_many(obs, cam, num_hypotheses=16, gravity=g,
                               generators=[torch.Generator().manual_seed(s) for s in (3, 4)])
    alone = [sampler.sample(o, cam, num_hypotheses=16, gravity=g, generator=torch.Generator().manual_seed(s))
             for o, s in zip(obs, (3, 4))]
    assert both[0].info["restarted"] and "restarted" not in both[1].info
    for b, a in zip(both, alone):
        np.testing.assert_allclose(b.poses_camera, a.poses_camera, atol=2e-4)
        assert b.info["steps_run"] == a.info["steps_run"]
