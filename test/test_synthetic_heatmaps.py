"""The synthetic detector follows the detector contract and keeps exact ground truth."""

from __future__ import annotations

import numpy as np

from diffpose_ros.core.camera import apply_affine
from diffpose_ros.core.skeleton import bone_lengths
from diffpose_ros.evaluation.synthetic_heatmaps import SyntheticConfig, render_dataset, render_frame
from diffpose_ros.sampling.guidance import HeatmapLikelihood, observation_likelihood


def pose() -> np.ndarray:
    p = np.zeros((17, 3))
    p[1:7, 0] = [-0.13, -0.13, -0.13, 0.13, 0.13, 0.13]
    p[1:7, 1] = [0, 0.45, 0.9, 0, 0.45, 0.9]
    p[7:11, 1] = [-0.25, -0.5, -0.6, -0.75]
    p[11:17, 0] = [0.18, 0.2, 0.2, -0.18, -0.2, -0.2]
    p[11:17, 1] = [-0.48, -0.2, 0.05, -0.48, -0.2, 0.05]
    p[[12, 15], 2] = 0.1
    return p


def logsumexp(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=(-1, -2), keepdims=True)
    return (np.log(np.exp(x - m).sum(axis=(-1, -2), keepdims=True)) + m)[..., 0, 0]


def test_contract_and_ground_truth() -> None:
    rng = np.random.default_rng(0)
    cfg = SyntheticConfig(drop_prob=0.3)
    for _ in range(10):
        fr = render_frame(pose(), rng, cfg)
        assert fr.heatmaps.shape == (17, 64, 64) and fr.heatmaps.dtype == np.float32
        has = fr.has_heatmap
        assert np.isnan(fr.heatmaps[~has]).all() and np.isfinite(fr.heatmaps[has]).all()
        np.testing.assert_allclose(logsumexp(fr.heatmaps[has].astype(np.float64)), 0.0, atol=1e-4)
        assert (fr.scores[~has] == 0).all() and np.isnan(fr.keypoints[~has]).all()
        assert ((fr.scores[has] > 0) & (fr.scores[has] <= 1)).all()
        # ground truth: camera frame = yawed root-relative pose + translation, projecting onto keypoints_true
        np.testing.assert_allclose(fr.pose_camera, fr.pose_root_relative + fr.translation)
        np.testing.assert_allclose(fr.camera.project(fr.pose_camera), fr.keypoints_true)
        np.testing.assert_allclose(bone_lengths(fr.pose_root_relative), bone_lengths(pose()), atol=1e-12)
        assert 2.5 <= fr.translation[2] <= 6.0
        assert 500 <= fr.camera.fx <= 600
        kp = fr.keypoints_true
        assert (kp >= 0).all() and (kp[:, 0] < 640).all() and (kp[:, 1] < 480).all()
        # the affine maps the person into the map; peaks sit where the joints are (no gross errors here)
        hm = apply_affine(fr.image_to_heatmap, kp)
        assert (hm > -0.5).all() and (hm < 63.5).all()
        good = has & ~fr.offset_joints
        px_per_hm = 1.0 / np.sqrt(abs(np.linalg.det(fr.image_to_heatmap[:, :2])))
        err_hm = np.linalg.norm(fr.keypoints[good] - kp[good], axis=1) / px_per_hm
        assert err_hm.max() < 3.0


def test_peak_of_map_matches_heatmap_cell_centre_convention() -> None:
    rng = np.random.default_rng(1)
    cfg = SyntheticConfig(centre_noise_hm=0.0, offset_prob=0.0, drop_prob=0.0, background=0.0)
    fr = render_frame(pose(), rng, cfg)
    hm = apply_affine(fr.image_to_heatmap, fr.keypoints_true)
    for j in range(17):
        r, c = divmod(int(np.argmax(fr.heatmaps[j])), 64)
        assert abs(c - hm[j, 0]) <= 0.5 + 1e-9 and abs(r - hm[j, 1]) <= 0.5 + 1e-9
    lik = HeatmapLikelihood(fr.heatmaps, fr.image_to_heatmap)
    targets, _ = lik.targets()
    px_per_hm = 1.0 / np.sqrt(abs(np.linalg.det(fr.image_to_heatmap[:, :2])))
    assert np.abs(targets.numpy() - fr.keypoints_true).max() < 0.25 * px_per_hm  # sub-pixel peaks


def test_deterministic_and_usable_as_observation() -> None:
    a = render_dataset(np.stack([pose(), pose()]), seed=5)
    b = render_dataset(np.stack([pose(), pose()]), seed=5)
    np.testing.assert_array_equal(a[1].heatmaps, b[1].heatmaps)
    assert a[0].yaw != a[1].yaw
    obs = a[0].to_observation()
    assert observation_likelihood(obs) is not None
    assert obs.heatmap_peaks().shape == (17, 2)


def test_offsets_missing_reports_the_gross_errors_as_missing_joints() -> None:
    from diffpose_ros.evaluation.synthetic_heatmaps import noisy_heatmaps

    kp = np.stack([np.linspace(100, 300, 17), np.linspace(50, 400, 17)], 1)
    cfg = SyntheticConfig(offset_prob=0.4, drop_prob=0.0)
    plain = noisy_heatmaps(kp, np.random.default_rng(3), cfg)
    oracle = noisy_heatmaps(kp, np.random.default_rng(3), SyntheticConfig(offset_prob=0.4, drop_prob=0.0,
                                                                           offsets_missing=True))
    assert plain.offset.any() and plain.has.all()
    np.testing.assert_array_equal(oracle.offset, plain.offset)  # the same draws ...
    np.testing.assert_array_equal(oracle.has, ~plain.offset)  # ... with the displaced joints missing
    np.testing.assert_array_equal(oracle.heat[oracle.has], plain.heat[oracle.has])
