"""Human3.6M evaluation: calibration constants, projection with distortion, loaders, protocol, resumable runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from diffpose_ros.core.gravity import quaternion_to_matrix
from diffpose_ros.evaluation.h36m_cameras import CAMERA_IDS, h36m_camera
from diffpose_ros.evaluation.h36m_data import Protocol, frame_indices, iter_sequences, load_positions_2d
from diffpose_ros.evaluation.h36m_eval import H36MEvalConfig, run
from diffpose_ros.evaluation.h36m_observations import detection_observation, synthetic_observation
from diffpose_ros.prior.h36m_npz import H36M32_TO_17


def test_quaternion_is_a_rotation_and_matches_hand_case() -> None:
    r = quaternion_to_matrix((np.cos(np.pi / 4), 0.0, 0.0, np.sin(np.pi / 4)))  # 90 deg about z
    np.testing.assert_allclose(r @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    for subject in ("S1", "S9", "S11"):
        for i in range(4):
            cam = h36m_camera(subject, i)
            np.testing.assert_allclose(cam.rotation @ cam.rotation.T, np.eye(3), atol=1e-6)
            assert np.linalg.det(cam.rotation) == pytest.approx(1.0, abs=1e-6)
            # every camera looks at the capture volume: the world origin is ~5 m in front of it
            assert 3.0 < cam.world_to_camera(np.zeros(3))[2] < 8.0
    with pytest.raises(KeyError):
        h36m_camera("S2", 0)


def test_projection_matches_hand_computed_pixels_with_distortion() -> None:
    cam = h36m_camera("S9", 0)
    assert cam.camera_id == CAMERA_IDS[0] == "54138969"
    p = np.array([0.5, -0.25, 5.0])  # camera frame: x = 0.1, y = -0.05 normalised
    x, y = 0.1, -0.05
    r2 = x * x + y * y  # 0.0125
    k1, k2, k3 = -0.20709891617298126, 0.24777518212795258, -0.0030751503072679043
    p1, p2 = -0.0009756988729350269, -0.00142447161488235
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    tan = p1 * x + p2 * y
    xd, yd = x * (radial + tan) + p1 * r2, y * (radial + tan) + p2 * r2
    expected = [1145.0494384765625 * xd + 512.54150390625, 1143.7811279296875 * yd + 515.4514770507812]
    np.testing.assert_allclose(cam.project(p), expected, atol=1e-9)
    # the numbers themselves (independent of the formula above)
    np.testing.assert_allclose(cam.project(p), [626.73747, 458.38940], atol=1e-3)
    np.testing.assert_allclose(cam.project(p, distort=False), [627.04645, 458.26242], atol=1e-3)
    # undistortion inverts the model; world <-> camera round trip
    np.testing.assert_allclose(cam.undistort(cam.project(p)), cam.project(p, distort=False), atol=1e-6)
    world = cam.camera_to_world(p)
    np.testing.assert_allclose(cam.world_to_camera(world), p, atol=1e-12)


def _write_3d(path: Path, subjects=("S9", "S11"), actions=("Walking 1", "Walking", "Sitting"), n=130) -> dict:
    """A data_3d_h36m.npz with a standing person (z up) at the world origin, jittered per frame."""
    rng = np.random.default_rng(0)
    rest17 = np.array([[0, 0, 0.95], [-0.13, 0, 0.95], [-0.13, 0, 0.5], [-0.13, 0, 0.08], [0.13, 0, 0.95],
                       [0.13, 0, 0.5], [0.13, 0, 0.08], [0, 0, 1.2], [0, 0, 1.45], [0, -0.05, 1.55], [0, 0, 1.68],
                       [0.18, 0, 1.42], [0.22, 0, 1.15], [0.25, 0, 0.9], [-0.18, 0, 1.42], [-0.22, 0, 1.15],
                       [-0.25, 0, 0.9]])
    full = np.zeros((32, 3))
    full[list(H36M32_TO_17)] = rest17
    data = {s: {a: full + rng.normal(0, 0.005, (n, 32, 3)) for a in actions} for s in subjects}
    np.savez(path, positions_3d=data)
    return data


def test_loaders_protocol_and_2d_detections(tmp_path: Path) -> None:
    data = _write_3d(tmp_path / "d3.npz")
    seqs = list(iter_sequences(tmp_path / "d3.npz", Protocol(actions=("Walking",))))
    assert [(s.subject, s.action) for s in seqs] == [("S9", "Walking"), ("S9", "Walking 1"), ("S11", "Walking"),
                                                       ("S11", "Walking 1")]
    np.testing.assert_allclose(seqs[0].poses_world, data["S9"]["Walking"][:, list(H36M32_TO_17)])
    assert frame_indices(130, Protocol()).tolist() == [0, 64, 128]
    assert frame_indices(130, Protocol(stride=10, max_frames_per_action=2)).tolist() == [0, 10]

    # VideoPose3D 2D layout: per camera [N, 17, 2] px (one frame shorter: sequences are trimmed to match)
    cams = [h36m_camera("S9", i) for i in range(4)]
    kp = {s: {a: [c.project(c.world_to_camera(v[:-1, list(H36M32_TO_17)])) for c in cams] for a, v in acts.items()}
          for s, acts in data.items()}
    meta = {"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13],
                                                                           [1, 2, 3, 14, 15, 16]]}
    np.savez(tmp_path / "d2.npz", positions_2d=kp, metadata=meta)
    assert len(load_positions_2d(tmp_path / "d2.npz")["S11"]["Sitting"]) == 4
    seq = next(iter_sequences(tmp_path / "d3.npz", Protocol(), tmp_path / "d2.npz"))
    assert len(seq.poses_world) == 129 and seq.detections[2].shape == (129, 17, 2)
    obs = detection_observation(seq.detections[0][5], cams[0])
    ideal = cams[0].project(cams[0].world_to_camera(seq.poses_world[5]), distort=False)
    np.testing.assert_allclose(obs.keypoints, ideal, atol=1e-4)  # undistorted before rendering
    peaks = obs.heatmap_peaks()
    assert np.abs(peaks - ideal).max() < 6.0  # Gaussian heatmaps peak at the undistorted keypoints
    assert obs.heatmaps.shape == (17, 64, 64) and obs.has_heatmap.all()

    np.savez(tmp_path / "coco.npz", positions_2d=kp, metadata={"layout_name": "coco", "num_joints": 17})
    with pytest.raises(ValueError, match="layout"):
        load_positions_2d(tmp_path / "coco.npz")


def test_synthetic_observation_follows_the_detector_contract() -> None:
    cam = h36m_camera("S11", 1)
    kp = np.array([[500 + 10 * j, 300 + 20 * j] for j in range(17)], dtype=np.float64)
    obs = synthetic_observation(kp, np.random.default_rng(1))
    assert obs.heatmaps.shape == (17, 64, 64) and obs.heatmaps.dtype == np.float32
    rows = obs.has_heatmap
    lse = np.log(np.exp(obs.heatmaps[rows].astype(np.float64)).sum((1, 2)))
    np.testing.assert_allclose(lse, 0.0, atol=1e-4)
    assert np.isnan(obs.heatmaps[~rows]).all()
    assert np.nanmedian(np.linalg.norm(obs.heatmap_peaks() - kp, axis=1)) < 15.0
    assert cam.pinhole().width == 1000


def test_evaluation_run_is_resumable_and_writes_reports(tmp_path: Path) -> None:
    from diffpose_ros.prior.pose_prior import PosePrior

    _write_3d(tmp_path / "d3.npz", subjects=("S9", "S11"), actions=("Walking 1", "Sitting"), n=65)
    weights = PosePrior.untrained().save(tmp_path / "prior.pt")
    cfg = H36MEvalConfig(data_3d=str(tmp_path / "d3.npz"), cameras=(0, 3), num_hypotheses=3, num_steps=2,
                         prior_weights=str(weights))
    out = tmp_path / "out"
    first = run(cfg, out, progress=False)
    assert first["frames"] == 2 * 2 * 2 * 2  # subjects x actions x cameras x frames (0 and 64)
    assert set(first["actions"]) == {"Walking", "Sitting"}
    avg = first["average"]
    assert all(np.isfinite(avg[k]) for k in ("mpjpe_best_mm", "mpjpe_mean_mm", "pa_mpjpe_best_mm"))
    assert avg["mpjpe_best_mm"] <= json.loads((out / "results.json").read_text())["average"]["mpjpe_mean_mm"] * 3
    assert "| **average** | 16 |" in (out / "results.md").read_text()
    cached = sorted(p.name for p in (out / "actions").glob("*.json"))
    assert cached == ["S11_Sitting.json", "S11_Walking_1.json", "S9_Sitting.json", "S9_Walking_1.json"]
    # a rerun with the same configuration reuses every cached action and reproduces the numbers
    (out / "actions" / "S9_Sitting.json").unlink()
    again = run(cfg, out, progress=False)
    assert again["average"] == pytest.approx(first["average"])
    # a different configuration invalidates the cache
    other = run(H36MEvalConfig(**{**cfg.__dict__, "num_hypotheses": 2}), out, progress=False)
    assert other["config_key"] != first["config_key"]


def test_undistort_image_moves_a_dot_to_its_ideal_pixel() -> None:
    from diffpose_ros.evaluation.h36m_observations import undistort_image

    cam = h36m_camera("S9", 2)
    ideal = np.array([850.0, 160.0])  # near a corner, where distortion is large
    raw_xy = cam.project(np.r_[(ideal - [cam.cx, cam.cy]) / [cam.fx, cam.fy], 1.0])
    assert np.linalg.norm(raw_xy - ideal) > 10.0
    raw = np.zeros((cam.height, cam.width), np.float32)
    c, r = np.round(raw_xy).astype(int)
    raw[r - 2:r + 3, c - 2:c + 3] = 1.0
    und = undistort_image(raw, cam)
    row, col = np.unravel_index(np.argmax(und), und.shape)
    assert np.hypot(col - ideal[0], row - ideal[1]) < 3.0


def test_detector_source_hook_runs_on_frame_images(tmp_path: Path) -> None:
    import cv2

    from diffpose_ros.detector.base import keypoints_to_heatmaps
    from diffpose_ros.prior.pose_prior import PosePrior

    data = _write_3d(tmp_path / "d3.npz", subjects=("S9",), actions=("Walking",), n=65)
    calls = []

    class StubDetector:  # "detects" the ground truth in the undistorted frame
        def detect(self, rgb):
            i = len(calls) % 2
            calls.append(rgb.shape)
            cam = h36m_camera("S9", 0)
            kp = cam.project(cam.world_to_camera(data["S9"]["Walking"][64 * i][list(H36M32_TO_17)]), distort=False)
            return [keypoints_to_heatmaps(kp, np.ones(17), rgb.shape[:2], score=0.9)]

    for frame in (0, 64):
        path = tmp_path / "frames" / "S9" / "Videos" / "Walking.54138969" / f"{frame:06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.zeros((1002, 1000, 3), np.uint8))
    cfg = H36MEvalConfig(data_3d=str(tmp_path / "d3.npz"), source="detector", images=str(tmp_path / "frames"),
                         subjects=("S9",), cameras=(0,), num_hypotheses=2, num_steps=2,
                         prior_weights=str(PosePrior.untrained().save(tmp_path / "p.pt")))
    result = run(cfg, tmp_path / "out", progress=False, detector=StubDetector())
    assert result["frames"] == 2 and calls == [(1002, 1000, 3)] * 2
    with pytest.raises(FileNotFoundError, match="000064"):
        (tmp_path / "frames" / "S9" / "Videos" / "Walking.54138969" / "000064.jpg").unlink()
        run(H36MEvalConfig(**{**cfg.__dict__, "seed": 1}), tmp_path / "out2", progress=False, detector=StubDetector())


def test_cli_reports_known_and_unknown_gravity(tmp_path: Path) -> None:
    from diffpose_ros.evaluation.h36m_eval import main
    from diffpose_ros.prior.pose_prior import PosePrior

    _write_3d(tmp_path / "d3.npz", subjects=("S9",), actions=("Walking",), n=65)
    weights = PosePrior.untrained().save(tmp_path / "p.pt")
    rc = main(["--data-3d", str(tmp_path / "d3.npz"), "--out", str(tmp_path / "out"), "--subjects", "S9",
               "--cameras", "0", "-m", "2", "--steps", "2", "--prior-weights", str(weights)])
    assert rc == 0
    results = {g: json.loads((tmp_path / "out" / g / "results.json").read_text()) for g in ("known", "unknown")}
    assert {r["config"]["gravity"] for r in results.values()} == {"known", "unknown"}
    assert results["known"]["config_key"] != results["unknown"]["config_key"]
    assert all(r["frames"] == 2 for r in results.values())
    # a preset carries all of its sampler settings, not only the ones with their own flags
    rc = main(["--data-3d", str(tmp_path / "d3.npz"), "--out", str(tmp_path / "acc"), "--subjects", "S9",
               "--cameras", "0", "-m", "2", "--steps", "2", "--prior-weights", str(weights), "--gravity", "known",
               "--preset", "accurate"])
    assert rc == 0
    from diffpose_ros.sampling.config import ACCURATE, DEFAULT

    config = json.loads((tmp_path / "acc" / "results.json").read_text())["config"]
    assert config["restart_below"] == ACCURATE.restart_below != DEFAULT.restart_below
    assert config["restart_refine"] == ACCURATE.restart_refine != DEFAULT.restart_refine
    assert config["evidence_gain"] == ACCURATE.evidence_gain != DEFAULT.evidence_gain
    assert results["known"]["config"]["restart_below"] == DEFAULT.restart_below
    # gravity known plus the camera's height above the floor (the world's z = 0 plane, 1.5-1.6 m for these cameras)
    rc = main(["--data-3d", str(tmp_path / "d3.npz"), "--out", str(tmp_path / "floor"), "--subjects", "S9",
               "--cameras", "0", "-m", "2", "--steps", "2", "--prior-weights", str(weights), "--gravity", "floor"])
    floor = json.loads((tmp_path / "floor" / "results.json").read_text())
    assert rc == 0 and floor["config"]["gravity"] == "floor" and floor["frames"] == 2
    assert floor["config_key"] != results["known"]["config_key"]
    # the camera height reached the sampler: sizes (MPJPE) move, shapes (PA-MPJPE) do not
    known_avg, floor_avg = results["known"]["average"], floor["average"]
    assert floor_avg["mpjpe_best_mm"] != pytest.approx(known_avg["mpjpe_best_mm"], abs=0.1)
    assert floor_avg["pa_mpjpe_best_mm"] == pytest.approx(known_avg["pa_mpjpe_best_mm"], abs=1e-3)
