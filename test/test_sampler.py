"""GuidedSampler and PoseCompleter: mechanics (any prior) and guidance quality (shipped prior, once trained)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from diffpose_ros.core.camera import PinholeCamera
from diffpose_ros.evaluation.synthetic_heatmaps import SyntheticConfig, render_frame
from diffpose_ros.prior.network import NetworkConfig
from diffpose_ros.prior.pose_prior import SHIPPED_WEIGHTS, PosePrior
from diffpose_ros.sampling.completion import PoseCompleter
from diffpose_ros.sampling.guidance import HeatmapLikelihood
from diffpose_ros.sampling.sampler import GuidedSampler

# the trained prior: shipped weights, or DIFFPOSE_PRIOR_WEIGHTS (e.g. a training run's ema_prior.pt)
WEIGHTS = Path(os.environ.get("DIFFPOSE_PRIOR_WEIGHTS", SHIPPED_WEIGHTS))
needs_weights = pytest.mark.skipif(not WEIGHTS.is_file(), reason=f"trained prior not found: {WEIGHTS}")


def pose() -> np.ndarray:
    p = np.zeros((17, 3))
    p[1:7, 0] = [-0.13, -0.13, -0.13, 0.13, 0.13, 0.13]
    p[1:7, 1] = [0, 0.45, 0.88, 0, 0.45, 0.88]
    p[7:11, 1] = [-0.25, -0.5, -0.6, -0.75]
    p[9, 2] = -0.08
    p[11:17, 0] = [0.17, 0.2, 0.22, -0.17, -0.2, -0.22]
    p[11:17, 1] = [-0.47, -0.2, 0.04, -0.47, -0.2, 0.04]
    p[[12, 13, 15, 16], 2] = [0.05, -0.1, 0.05, -0.1]
    return p


@pytest.fixture(scope="module")
def untrained() -> PosePrior:
    torch.manual_seed(0)
    prior = PosePrior.untrained(NetworkConfig(width=64, depth=2))
    with torch.no_grad():  # a non-zero output layer so samples are not trivial
        prior.network.out.weight.normal_(0, 0.01)
    return prior.eval()


@pytest.fixture(scope="module")
def shipped() -> PosePrior:
    return PosePrior.load(WEIGHTS)


@pytest.fixture(scope="module")
def frame():
    return render_frame(pose(), np.random.default_rng(3), SyntheticConfig(offset_prob=0.0, drop_prob=0.0))


def reprojection_px(result, frame, targets: np.ndarray) -> np.ndarray:
    """Per hypothesis median distance (px) over joints of the projected joints to the heatmap peaks."""
    proj = frame.camera.project(result.poses_camera.astype(np.float64))
    return np.median(np.linalg.norm(proj - targets, axis=-1), axis=-1)


def test_unconditional_sampling(untrained) -> None:
    r = GuidedSampler(untrained, num_steps=5, num_hypotheses=8, seed=1).sample()
    assert r.poses_camera.shape == (8, 17, 3) and r.poses_root_relative.shape == (8, 17, 3)
    assert r.translation.shape == (8, 3) and r.mean.shape == (17, 3) and r.spread.shape == (17,)
    assert np.isfinite(r.poses_camera).all()
    np.testing.assert_allclose(r.poses_root_relative[:, 0], 0.0)
    np.testing.assert_allclose(r.poses_camera, r.poses_root_relative + r.translation[:, None], atol=1e-6)
    np.testing.assert_allclose(r.weights, 1 / 8)
    assert not r.guided and not r.translation_is_metric
    assert r.spread[0] == pytest.approx(0.0, abs=1e-6) and (r.spread[1:] > 0).all()


def test_seeded_and_step_counts(untrained, frame) -> None:
    a = GuidedSampler(untrained, num_steps=3, num_hypotheses=4, seed=7).sample(frame, frame.camera)
    b = GuidedSampler(untrained, num_steps=3, num_hypotheses=4, seed=7).sample(frame, frame.camera)
    np.testing.assert_array_equal(a.poses_camera, b.poses_camera)
    for n in (1, 2, 7):
        s = GuidedSampler(untrained, num_steps=n, num_hypotheses=2, eta=0.5, seed=0)
        assert np.isfinite(s.sample(frame, frame.camera).poses_camera).all()


def test_guided_output_fields_and_known_depth(untrained, frame) -> None:
    s = GuidedSampler(untrained, num_steps=4, num_hypotheses=6, seed=0)
    r = s.sample(frame.to_observation(), frame.camera)
    assert r.guided and not r.translation_is_metric
    assert r.weights.sum() == pytest.approx(1.0) and (r.weights >= 0).all()
    assert np.isfinite(r.log_likelihood).all()
    m = s.sample(frame, frame.camera, known_depth=3.3)
    assert m.translation_is_metric
    lowest = m.poses_root_relative[..., 2].min(-1)  # an untrained prior's poses can be huge: min-depth clamp
    np.testing.assert_allclose(m.translation[:, 2], np.maximum(3.3, 0.5 - lowest), atol=1e-4)
    with pytest.raises(ValueError):
        s.sample(frame)  # guidance needs a camera


def test_nan_heatmaps_do_not_crash(untrained, frame) -> None:
    s = GuidedSampler(untrained, num_steps=3, num_hypotheses=4, seed=0)
    heat = frame.heatmaps.copy()
    heat[[2, 5, 13]] = np.nan
    heat[7, 3, 3] = np.inf
    obs = {"heatmaps": heat, "image_to_heatmap": frame.image_to_heatmap, "keypoints": frame.keypoints,
           "scores": frame.scores}
    r = s.sample(obs, frame.camera)
    assert r.guided and np.isfinite(r.poses_camera).all()
    obs["heatmaps"] = np.full_like(heat, np.nan)  # nothing usable: falls back to the keypoints
    assert s.sample(obs, frame.camera).guided
    obs["keypoints"] = None
    r = s.sample(obs, frame.camera)
    assert not r.guided and np.isfinite(r.poses_camera).all()


def test_completion_keeps_known_joints_fixed(untrained) -> None:
    known = pose()
    mask = np.zeros(17, bool)
    mask[[0, 1, 2, 3, 4, 5, 6, 7, 8]] = True  # lower body and torso known
    c = PoseCompleter(untrained, num_steps=5, num_hypotheses=6, resample_steps=2)
    r = c.complete(known, mask)
    np.testing.assert_allclose(r.poses_root_relative[:, mask], np.broadcast_to(known[mask], (6, 9, 3)), atol=1e-6)
    assert np.isfinite(r.poses_root_relative).all()
    assert r.spread[mask].max() < 1e-6 and r.spread[~mask].min() > 0
    # 2D + 3D: known 3D joints stay fixed while the rest follows the keypoints
    cam = PinholeCamera(550.0, 550.0, 320.0, 240.0, 640, 480)
    kp = cam.project(known + [0.2, 0.1, 4.0])
    r2 = c.complete(known, mask, keypoints=kp, scores=np.ones(17), camera=cam)
    assert r2.guided
    np.testing.assert_allclose(r2.poses_root_relative[:, mask], np.broadcast_to(known[mask], (6, 9, 3)), atol=1e-6)
    with pytest.raises(ValueError):
        c.complete(known)  # a mask is required
    only_2d = c.complete(keypoints=kp, scores=np.ones(17), camera=cam)  # 2D-only completion
    assert only_2d.guided and np.isfinite(only_2d.poses_camera).all()
    with pytest.raises(ValueError):
        c.complete(keypoints=kp)  # 2D needs a camera


@needs_weights
def test_guided_samples_reproject_onto_heatmap_peaks(shipped, frame) -> None:
    lik = HeatmapLikelihood(frame.heatmaps, frame.image_to_heatmap, frame.has_heatmap)
    targets = lik.targets()[0].numpy()
    guided = GuidedSampler(shipped, num_steps=10, num_hypotheses=16, seed=0).sample(frame, frame.camera)
    unguided = GuidedSampler(shipped, num_steps=10, num_hypotheses=16, seed=0, guidance_scale=0.0).sample(
        frame, frame.camera)  # same translation fit, no pose guidance
    g, u = reprojection_px(guided, frame, targets), reprojection_px(unguided, frame, targets)
    assert np.median(g) < 4.0, g
    assert np.median(u) > 12.0, u
    # guided hypotheses are close to the truth in 3D (root-relative), far closer than unguided ones
    err_g = np.linalg.norm(guided.poses_root_relative - frame.pose_root_relative, axis=-1).mean(-1)
    err_u = np.linalg.norm(unguided.poses_root_relative - frame.pose_root_relative, axis=-1).mean(-1)
    assert err_g.min() < 0.1 and np.median(err_g) < np.median(err_u)


@needs_weights
def test_shipped_prior_completion_is_plausible(shipped) -> None:
    known = pose()
    mask = np.zeros(17, bool)
    mask[:11] = True  # arms unknown
    r = PoseCompleter(shipped, num_steps=25, num_hypotheses=8).complete(known, mask)
    np.testing.assert_allclose(r.poses_root_relative[:, mask], np.broadcast_to(known[mask], (8, 11, 3)), atol=1e-6)
    # completed arms hang off the known shoulders with human-sized bones (upper arm 0.2-0.4 m)
    upper = np.linalg.norm(r.poses_root_relative[:, [12, 15]] - known[[11, 14]], axis=-1)
    assert ((upper > 0.15) & (upper < 0.45)).mean() > 0.8, upper


def test_keypoint_only_observation(untrained, frame) -> None:
    obs = {"keypoints": frame.keypoints_true, "scores": np.full(17, 0.9), "heatmaps": None}
    s = GuidedSampler(untrained, num_steps=3, num_hypotheses=4, seed=0)
    r = s.sample(obs, frame.camera)
    assert r.guided and np.isfinite(r.poses_camera).all()
    with pytest.raises(ValueError):
        GuidedSampler(untrained, likelihood="heatmap").sample(obs, frame.camera)


def test_sample_many_stacks_people_and_matches_per_person_calls(untrained, frame) -> None:
    """People whose likelihoods stack are guided side by side; the others (keypoints only, nothing usable)
    one by one; every person's result equals its own ``sample`` call with the same generator."""
    other = render_frame(pose()[:, [0, 1, 2]] * [1.0, 0.9, 1.0], np.random.default_rng(8),
                         SyntheticConfig(offset_prob=0.0, drop_prob=0.0))
    heat = other.heatmaps.copy()
    heat[[3, 9]] = np.nan  # unusable channels in one person only
    people = [frame.to_observation(),
              {"heatmaps": heat, "image_to_heatmap": other.image_to_heatmap, "scores": other.scores},
              {"keypoints": frame.keypoints_true, "scores": np.full(17, 0.9), "heatmaps": None},
              {"keypoints": None, "heatmaps": None}]
    s = GuidedSampler(untrained, num_steps=4, num_hypotheses=5, seed=0)
    gens = lambda: [torch.Generator().manual_seed(10 + i) for i in range(len(people))]  # noqa: E731
    many = s.sample_many(people, frame.camera, generators=gens())
    single = [s.sample(p, frame.camera, generator=g) for p, g in zip(people, gens())]
    assert [r.guided for r in many] == [True, True, True, False]
    for a, b in zip(many, single):
        np.testing.assert_allclose(a.poses_camera, b.poses_camera, atol=1e-4)
        np.testing.assert_allclose(a.weights, b.weights, atol=1e-5)
    assert not np.allclose(many[0].poses_camera, many[1].poses_camera)  # each person follows its own maps


@needs_weights
def test_prior_denoising_error_ranks_people_above_distorted_poses(shipped) -> None:
    """The plausibility term of the hypothesis weights: the shipped prior's denoising error is lower for a
    standing person than for the same pose with jittered joints or upside down."""
    real = torch.tensor(pose(), dtype=torch.float32)
    jittered = real + 0.04 * torch.randn(8, 17, 3, generator=torch.Generator().manual_seed(0))
    upside_down = real * torch.tensor([-1.0, -1.0, 1.0])  # turned 180 degrees about the optical axis
    poses = torch.cat([real[None], jittered - jittered[:, :1], upside_down[None]])
    err = GuidedSampler(shipped)._denoising_error(shipped.to_model_space(poses)[None])[0]
    assert (err[0] < err[1:]).all(), err
    assert err[-1] > 2 * err[0], err


def test_resampling_keeps_the_hypotheses_that_explain_the_2d(untrained, frame) -> None:
    """Systematic resampling by the weights: a hypothesis at the true pose outweighs badly jittered ones and
    takes most rows; with equal fits every row keeps its own hypothesis."""
    s = GuidedSampler(untrained, plausibility_weight=0.0, seed=0)
    lik = HeatmapLikelihood(frame.heatmaps, frame.image_to_heatmap, frame.has_heatmap)
    (grp,) = s._groups([lik], frame.camera, None, [None])
    truth = torch.tensor(frame.pose_root_relative, dtype=torch.float32)
    jitter = 0.15 * torch.randn(7, 17, 3, generator=torch.Generator().manual_seed(1))
    poses = torch.cat([truth[None], truth + jitter - jitter[:, :1]])[None]  # [1, 8, J, 3]
    grp.trans = grp.solver(poses)
    x0 = untrained.to_model_space(poses)
    idx, _ = s._resample_index(x0, grp, frame.camera, [torch.Generator().manual_seed(0)])
    assert idx.shape == (1, 8) and (idx == 0).sum() >= 5, idx  # tempered weights: most rows, not all
    same = untrained.to_model_space(truth.expand(1, 8, 17, 3).contiguous())
    grp.trans = grp.solver(truth.expand(1, 8, 17, 3))
    idx, _ = s._resample_index(same, grp, frame.camera, [torch.Generator().manual_seed(0)])
    assert idx.tolist() == [list(range(8))], idx
