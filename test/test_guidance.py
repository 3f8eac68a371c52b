"""Heatmap / keypoint likelihoods, their gradients and the closed-form root translation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffpose_ros.core.camera import PinholeCamera, apply_affine
from diffpose_ros.detector.base import gaussian_log_heatmaps
from diffpose_ros.sampling.guidance import (
    HeatmapLikelihood,
    KeypointLikelihood,
    guidance_delta,
    log_likelihood_gradient,
    make_guidance_schedule,
    normalize_log_heatmaps,
    observation_likelihood,
    weighted_log_likelihood,
)
from diffpose_ros.sampling.interpolation import bicubic_sample, bilinear_sample
from diffpose_ros.sampling.root_translation import solve_root_translation

CAM = PinholeCamera(550.0, 560.0, 322.0, 238.0, 640, 480)
# crop of side 320 px centred at (320, 240) onto a 64x64 map
AFFINE = np.array([[0.2, 0.0, 31.5 - 0.2 * 320], [0.0, 0.2, 31.5 - 0.2 * 240]])


def standing_pose() -> np.ndarray:
    p = np.zeros((17, 3))
    p[1:7, 0] = [-0.13, -0.13, -0.13, 0.13, 0.13, 0.13]
    p[1:7, 1] = [0, 0.45, 0.9, 0, 0.45, 0.9]
    p[7:11, 1] = [-0.25, -0.5, -0.6, -0.75]
    p[9, 2] = -0.08
    p[11:17, 0] = [0.18, 0.2, 0.2, -0.18, -0.2, -0.2]
    p[11:17, 1] = [-0.48, -0.2, 0.05, -0.48, -0.2, 0.05]
    p[[12, 15], 2] = 0.1
    return p


def heatmaps_for(pixels: np.ndarray, sigma_hm: float = 1.5) -> np.ndarray:
    return gaussian_log_heatmaps(apply_affine(AFFINE, pixels), sigma_hm, (64, 64))


@pytest.fixture
def scene():
    gt = standing_pose() + np.array([0.1, 0.05, 4.0])
    peaks = CAM.project(gt)
    return gt, peaks, HeatmapLikelihood(heatmaps_for(peaks), AFFINE)


def test_bilinear_values_and_gradient() -> None:
    rng = np.random.default_rng(0)
    maps = torch.tensor(rng.normal(size=(3, 5, 7)), dtype=torch.float64)
    flat = maps.reshape(3, -1)
    # exact at cell centres
    coords = torch.tensor([[[2.0, 3.0], [0.0, 0.0], [6.0, 4.0]]], dtype=torch.float64)
    np.testing.assert_allclose(bilinear_sample(flat, 5, 7, coords)[0], [maps[0, 3, 2], maps[1, 0, 0], maps[2, 4, 6]])
    # midpoint is the mean of four neighbours
    mid = bilinear_sample(flat, 5, 7, torch.tensor([[[2.5, 1.5]] * 3], dtype=torch.float64))
    np.testing.assert_allclose(mid[0, 1], maps[1, 1:3, 2:4].mean())
    # analytic derivative equals autograd
    c = torch.tensor(rng.uniform(0.2, 3.8, (4, 3, 2)), dtype=torch.float64, requires_grad=True)
    val, grad = bilinear_sample(flat, 5, 7, c, with_grad=True)
    (auto,) = torch.autograd.grad(val.sum(), c)
    torch.testing.assert_close(grad, auto)


def test_bicubic_is_exact_for_quadratics_and_has_the_right_gradient() -> None:
    h, w = 9, 11
    rows, cols = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                                indexing="ij")
    centre = (4.3, 5.7)  # (x, y): a log-Gaussian peak between cell centres

    def quad(x, y):
        return -0.5 * ((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / 1.7**2

    flat = quad(cols, rows).reshape(1, -1)
    rng = np.random.default_rng(7)
    pts = torch.tensor(rng.uniform(1.0, 7.0, (5, 1, 2)), dtype=torch.float64, requires_grad=True)
    val, grad = bicubic_sample(flat, h, w, pts, with_grad=True)
    torch.testing.assert_close(val, quad(pts[..., 0], pts[..., 1]))  # Keys cubic reproduces quadratics
    (auto,) = torch.autograd.grad(val.sum(), pts)
    torch.testing.assert_close(grad, auto)
    at_peak = bicubic_sample(flat, h, w, torch.tensor([[[4.3, 5.7]]], dtype=torch.float64), with_grad=True)[1]
    assert float(at_peak.abs().max()) < 1e-9  # the gradient vanishes at the true sub-pixel peak


def test_normalize_accepts_logits_and_flags_bad_channels() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (4, 8, 8)).astype(np.float32) + 7.0
    logits[1] = np.nan
    logits[2, 0, 0] = np.inf
    logits[3, 0, :] = -np.inf  # zero-probability pixels are fine
    logp, usable = normalize_log_heatmaps(logits, dynamic_range=1e9)
    assert usable.tolist() == [True, False, False, True]
    assert torch.isfinite(logp).all()
    np.testing.assert_allclose(torch.logsumexp(logp[0].flatten(), 0), 0.0, atol=1e-5)
    np.testing.assert_allclose(logp[0], torch.log_softmax(torch.tensor(logits[0]).flatten(), 0).reshape(8, 8),
                               atol=1e-5)
    # already-normalised log-probs are unchanged; the dynamic range clamps the tail
    again, _ = normalize_log_heatmaps(logp[:1].numpy(), dynamic_range=1e9)
    torch.testing.assert_close(again, logp[:1], atol=1e-5, rtol=0)
    clamped, _ = normalize_log_heatmaps(logp[:1].numpy(), dynamic_range=2.0)
    assert float(clamped.min()) >= float(clamped.max()) - 2.0 - 1e-5


def test_gradient_matches_finite_differences(scene) -> None:
    gt, _peaks, lik = scene
    rng = np.random.default_rng(2)
    pose = torch.tensor(gt + rng.normal(0, 0.05, gt.shape), dtype=torch.float64)[None]
    grad, ll = log_likelihood_gradient(lik, pose, CAM)
    auto, ll2 = log_likelihood_gradient(lik, pose, CAM, method="autograd")
    torch.testing.assert_close(grad, auto, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(ll, ll2)
    h = 1e-5
    for j in (2, 9, 13):
        for k in range(3):
            dp = torch.zeros_like(pose)
            dp[0, j, k] = h
            fd = (weighted_log_likelihood(lik, pose + dp, CAM) - weighted_log_likelihood(lik, pose - dp, CAM)) / (2 * h)
            assert float(grad[0, j, k]) == pytest.approx(float(fd[0]), rel=1e-3, abs=1e-2)


@pytest.mark.parametrize("offset_px", [3.0, 12.0, 250.0])  # near, in the tail, off the heatmap entirely
def test_guidance_step_moves_projection_toward_peak(scene, offset_px: float) -> None:
    gt, peaks, lik = scene
    rng = np.random.default_rng(3)
    # push every joint sideways in the image by offset_px (at its depth)
    direction = rng.normal(size=(17, 2))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    shift = np.zeros_like(gt)
    shift[:, :2] = direction * offset_px * gt[:, 2:3] / CAM.fx
    pose = torch.tensor(gt + shift, dtype=torch.float32)[None]
    before = np.linalg.norm(CAM.project(pose[0].numpy()) - peaks, axis=1)
    for _ in range(3):
        delta, _ = guidance_delta(lik, pose, CAM, scale=0.5)
        pose = pose + delta
    after = np.linalg.norm(CAM.project(pose[0].numpy().astype(np.float64)) - peaks, axis=1)
    assert (after < before).all(), (before, after)
    if offset_px <= 12:
        assert after.max() < 0.5 * before.min()


def test_nan_channel_gets_no_guidance(scene) -> None:
    gt, peaks, _ = scene
    heat = heatmaps_for(peaks)
    heat[5] = np.nan
    has = np.ones(17, bool)
    has[7] = False
    lik = HeatmapLikelihood(heat, AFFINE, has_heatmap=has)
    assert lik.weights[5] == 0 and lik.weights[7] == 0 and lik.weights.sum() == 15
    pose = torch.tensor(gt + 0.05, dtype=torch.float32)[None]
    delta, ll = guidance_delta(lik, pose, CAM, scale=0.5)
    assert torch.isfinite(delta).all() and torch.isfinite(ll).all()
    assert float(delta[0, 5].abs().max()) == 0.0 and float(delta[0, 7].abs().max()) == 0.0
    targets, w = lik.targets()
    assert torch.isfinite(targets).all() and w[5] == 0
    # all-NaN heatmaps: nothing to guide with
    assert observation_likelihood({"heatmaps": np.full((17, 8, 8), np.nan), "image_to_heatmap": AFFINE}) is None


def test_heatmap_targets_are_the_peaks(scene) -> None:
    _, peaks, lik = scene
    targets, _ = lik.targets()
    assert np.abs(targets.numpy() - peaks).max() < 1.0  # within 1 image px (0.2 heatmap px)


def test_keypoint_likelihood_gradient_and_newton_step(scene) -> None:
    gt, peaks, _ = scene
    scores = np.full(17, 0.9)
    scores[3] = 0.0
    lik = KeypointLikelihood(peaks, scores, sigma_px=5.0)
    pose = torch.tensor(gt + np.array([0.04, -0.03, 0.0]), dtype=torch.float64)[None]
    grad, _ = log_likelihood_gradient(lik, pose, CAM)
    auto, _ = log_likelihood_gradient(lik, pose, CAM, method="autograd")
    torch.testing.assert_close(grad, auto)
    assert float(grad[0, 3].abs().max()) == 0.0
    delta, _ = guidance_delta(lik, pose, CAM, scale=1.0 / 0.9)  # score-weighted: scale 1/w -> full Newton step
    moved = CAM.project((pose + delta)[0].numpy())
    err = np.linalg.norm(moved - peaks, axis=1)
    assert err[np.arange(17) != 3].max() < 0.5  # one preconditioned step lands (almost) on the keypoints


def test_guidance_schedules() -> None:
    assert make_guidance_schedule("constant")(0.9) == 1.0
    assert make_guidance_schedule("linear")(0.25) == 0.75
    late = make_guidance_schedule("late", start=0.5)
    assert late(0.6) == 0.0 and late(0.4) == 1.0
    with pytest.raises(ValueError):
        make_guidance_schedule("nope")


def test_root_translation_recovers_known_t_exactly() -> None:
    rng = np.random.default_rng(4)
    pose = standing_pose() + rng.normal(0, 0.02, (17, 3))
    pose -= pose[:1]
    T = np.array([-0.7, 0.3, 5.2])
    pix = CAM.project(pose + T)
    weights = rng.uniform(0.2, 1.0, 17)
    pix[4] = np.nan  # a missing target is ignored
    r = solve_root_translation(torch.tensor(pose[None]), torch.tensor(pix), torch.tensor(weights), CAM,
                               prior_weight=0.0)
    np.testing.assert_allclose(r.translation[0].numpy(), T, atol=1e-6)
    assert not r.is_metric and r.determined and not bool(r.clamped.any())
    # batched, float32 poses
    batch = torch.tensor(np.stack([pose, pose]), dtype=torch.float32)
    r2 = solve_root_translation(batch, torch.tensor(pix), torch.tensor(weights), CAM)
    np.testing.assert_allclose(r2.translation.numpy(), np.stack([T, T]), atol=2e-3)


def test_root_translation_underdetermined_known_depth_and_clamp() -> None:
    pose = torch.tensor(standing_pose()[None])
    none = solve_root_translation(pose, torch.full((17, 2), np.nan), torch.ones(17), CAM, depth_prior=3.5)
    np.testing.assert_allclose(none.translation[0].numpy(), [0.0, 0.0, 3.5], atol=1e-6)
    assert not none.determined
    one = torch.full((17, 2), np.nan, dtype=torch.float64)
    one[0] = torch.tensor([CAM.cx + 55.0, CAM.cy])
    single = solve_root_translation(pose, one, torch.ones(17), CAM, depth_prior=3.5)
    t = single.translation[0].numpy()
    assert t[2] == pytest.approx(3.5, abs=1e-3)  # the depth comes from the prior ...
    assert CAM.project(t)[0] == pytest.approx(CAM.cx + 55.0, abs=0.5)  # ... the pelvis lands on its target
    pix = CAM.project(standing_pose() + [0.0, 0.0, 3.0])
    known = solve_root_translation(pose, torch.tensor(pix), torch.ones(17), CAM, known_depth=3.0)
    assert known.is_metric
    np.testing.assert_allclose(known.translation[0].numpy(), [0.0, 0.0, 3.0], atol=1e-5)
    close = solve_root_translation(pose, torch.tensor(pix), torch.ones(17), CAM, known_depth=0.1, min_depth=0.5)
    assert bool(close.clamped[0])
    assert float((pose[0, :, 2] + close.translation[0, 2]).min()) == pytest.approx(0.5)


def test_analytic_gradient_matches_autograd_off_the_map_and_in_the_tail(scene) -> None:
    gt, peaks, _ = scene
    heat = heatmaps_for(peaks)
    heat[3] = np.maximum(heat[3], -1e4)  # the detector contract's floor
    lik = HeatmapLikelihood(heat, AFFINE, dynamic_range=20.0)
    rng = np.random.default_rng(5)
    pose = torch.tensor(gt, dtype=torch.float64)[None].repeat(6, 1, 1)
    pose[:, :, :2] += torch.tensor(rng.normal(0, 0.6, (6, 17, 2)))  # many joints far out / off the map
    grad, ll = log_likelihood_gradient(lik, pose, CAM)
    auto, ll2 = log_likelihood_gradient(lik, pose, CAM, method="autograd")
    assert torch.isfinite(grad).all() and (grad.abs().sum(-1) > 0).all()  # a pull everywhere, never flat
    torch.testing.assert_close(grad, auto, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ll, ll2)
