"""BlazePose heatmap detector on real images with the real TFLite models."""

from __future__ import annotations

import shutil
from dataclasses import replace

import cv2
import numpy as np
import pytest

from diffpose_ros.core.camera import apply_affine
from diffpose_ros.core.skeleton import JOINT_INDEX
from diffpose_ros.detector.base import PersonObservation, PoseDetector
from diffpose_ros.detector.blazepose import BlazePoseDetector
from diffpose_ros.detector.h36m_mapping import blazepose_to_h36m_keypoints
from diffpose_ros.detector.model_files import (
    CENTERNET_MODEL,
    DETECTION_MODEL,
    LANDMARK_MODELS,
    ModelFileError,
    resolve,
)
from diffpose_ros.detector.peaks import subpixel_peak
from diffpose_ros.detector.person_detection import sigmoid
from diffpose_ros.detector.tracking import BlazePoseTracker

# mp.solutions.pose (mediapipe 0.10.21, complexity 1) on messi5.jpg, from docs/blazepose-heatmap-detector.md
MESSI_REFERENCE = {
    "neck_nose": (250.1, 113.9), "left_shoulder": (271.2, 128.1), "right_shoulder": (201.9, 137.3),
    "left_elbow": (308.0, 148.3), "right_elbow": (152.2, 122.1), "left_wrist": (348.6, 166.4),
    "right_wrist": (103.4, 101.9), "left_hip": (290.6, 224.7), "right_hip": (251.7, 243.8),
    "left_knee": (340.5, 246.2), "right_knee": (236.5, 286.4), "left_ankle": (406.1, 261.8),
    "right_ankle": (282.6, 310.8),
}


def read_rgb(path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, path
    return np.ascontiguousarray(bgr[:, :, ::-1])


def vtest_crop(images_dir, frames: int) -> list[np.ndarray]:
    """vtest.avi, the region with two walking people, upscaled 2x (people are ~130 px tall then)."""
    cap = cv2.VideoCapture(str(images_dir / "vtest.avi"))
    out = []
    for _ in range(frames):
        ok, bgr = cap.read()
        assert ok
        out.append(cv2.resize(bgr[140:330, 420:720, ::-1], None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC))
    cap.release()
    return out


@pytest.fixture(scope="module")
def detector() -> BlazePoseDetector:
    return BlazePoseDetector("full", max_people=4, threads=1)


@pytest.fixture(scope="module")
def messi(images_dir) -> np.ndarray:
    return read_rgb(images_dir / "messi5.jpg")


@pytest.fixture(scope="module")
def messi_person(detector, messi) -> PersonObservation:
    people = detector.detect(messi)
    # The multi-person detector also finds the spectators on the bench behind him (each under 60 px tall).
    heights = sorted(p.box[3] - p.box[1] for p in people)
    assert heights[-1] > 250 and all(h < 60 for h in heights[:-1]), heights
    return tallest(people)


def tallest(people: list[PersonObservation]) -> PersonObservation:
    return max(people, key=lambda p: p.box[3] - p.box[1])


def test_messi_one_person_matches_reference(detector, messi_person):
    assert isinstance(detector, PoseDetector)
    p = messi_person
    assert p.score > 0.9 and p.keypoints.shape == (17, 2) and p.heatmaps.shape == (17, 64, 64)
    errors = {n: float(np.linalg.norm(p.keypoints[JOINT_INDEX[n]] - ref)) for n, ref in MESSI_REFERENCE.items()}
    assert max(errors.values()) < 25.0, errors
    assert np.median(list(errors.values())) < 5.0, errors  # 2.2 px measured (same heatmap refinement)
    # person's left = H36M left: Messi faces the camera, so his left shoulder is at larger x
    assert p.keypoints[JOINT_INDEX["left_shoulder"], 0] > p.keypoints[JOINT_INDEX["right_shoulder"], 0]
    assert (p.scores[p.has_heatmap] > 0.5).all()
    assert p.raw_landmarks.shape == (33, 5) and (p.raw_landmarks[:, 3:] <= 1).all()


def test_messi_heatmaps_agree_with_landmarks(detector, messi, messi_person):
    p = messi_person
    for j in np.flatnonzero(p.has_heatmap):  # proper log-probabilities
        assert abs(np.log(np.exp(p.heatmaps[j].astype(np.float64)).sum())) < 1e-3
    # heatmap argmax mapped back through the inverse affine vs the *regressed* (unrefined) landmarks
    raw = detector.find_people(detector.prepare(messi)[0])[0]
    unrefined = replace(p, keypoints=blazepose_to_h36m_keypoints(raw.landmarks)[0])
    dist = np.linalg.norm(unrefined.heatmap_peaks() - unrefined.keypoints, axis=1)
    assert np.median(dist[p.has_heatmap]) < 12.0, dist
    assert dist[JOINT_INDEX["left_wrist"]] < 12.0 and dist[JOINT_INDEX["right_wrist"]] < 12.0, dist


def test_heatmap_cell_centre_convention(detector, images_dir):
    """Sub-pixel heatmap peaks must coincide with the regressed landmarks on average (no half-cell bias).

    With the "cell i covers crop px [4i, 4i+4)" reading the mean offset is about +0.5 cell in x and y.
    """
    offsets = []
    for name in ("messi5.jpg", "basketball1.png", "camera.png"):
        work, _ = detector.prepare(read_rgb(images_dir / name))
        for r in detector.find_people(work):
            lm_hm = apply_affine(r.image_to_heatmap, r.landmarks[:33, :2])
            for k in range(33):
                peak, _ = subpixel_peak(r.heatmap_logits[k])
                if sigmoid(r.heatmap_logits[k]).max() > 0.5 and (3 <= peak).all() and (peak <= 60).all():
                    offsets.append(peak - lm_hm[k])
    offsets = np.array(offsets)
    assert len(offsets) > 40
    assert (np.abs(offsets.mean(axis=0)) < 0.25).all(), offsets.mean(axis=0)


def test_no_person_in_blank_or_noise(detector):
    assert detector.detect(np.full((480, 640, 3), 128, np.uint8)) == []
    noise = np.random.default_rng(0).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    assert detector.detect(noise) == []


def test_two_players_basketball(detector, images_dir):
    people = detector.detect(read_rgb(images_dir / "basketball2.png"))
    assert len(people) == 2
    xs = sorted(float(np.nanmean(p.keypoints[:, 0])) for p in people)
    assert xs[0] < 200 and xs[1] > 450  # the full-body player on the left, the cut-off one on the right


@pytest.fixture(scope="module")
def tiled_detector() -> BlazePoseDetector:
    return BlazePoseDetector("full", max_people=4, threads=1, tile_detection=True, person_detector="mediapipe")


def test_two_people_side_by_side_composite(tiled_detector, messi, images_dir):
    astronaut = read_rgb(images_dir / "astronaut.png")
    left = cv2.resize(messi, (round(messi.shape[1] * 512 / messi.shape[0]), 512))
    composite = np.concatenate([left, astronaut], axis=1)  # 1332 x 512: needs the tiled detector
    people = tiled_detector.detect(composite)
    assert len(people) == 2
    nose_x = sorted(p.keypoints[JOINT_INDEX["neck_nose"], 0] for p in people)
    assert nose_x[0] < left.shape[1] < nose_x[1]


def test_mirrored_twin_is_mirrored(tiled_detector, messi, messi_person):
    """messi5 next to its mirror image: two people, the twin's joints mirrored with left and right swapped."""
    w = messi.shape[1]
    people = tiled_detector.detect(np.ascontiguousarray(np.concatenate([messi, messi[:, ::-1]], axis=1)))
    assert len(people) == 2
    orig, twin = sorted(people, key=lambda p: p.keypoints[JOINT_INDEX["neck_nose"], 0])
    assert np.median(np.linalg.norm(orig.keypoints - messi_person.keypoints, axis=1)) < 12.0  # other ROI
    from diffpose_ros.core.skeleton import MIRROR_PERMUTATION

    mirrored = twin.keypoints[list(MIRROR_PERMUTATION)].copy()
    mirrored[:, 0] = 2 * w - 1 - mirrored[:, 0]
    err = np.linalg.norm(mirrored - messi_person.keypoints, axis=1)
    assert np.median(err) < 12.0, err


def test_small_walking_people_and_tracking(images_dir):
    frames = vtest_crop(images_dir, 12)
    tracker = BlazePoseTracker(BlazePoseDetector("full", max_people=2, threads=1))
    ids = [sorted(p.track_id for p in tracker.detect(f)) for f in frames]
    assert all(i == [0, 1] for i in ids), ids
    assert tracker.detector_runs == 1  # every later frame reused the landmark ROIs


def test_grey_input_same_as_rgb(detector, images_dir):
    grey = cv2.imread(str(images_dir / "basketball1.png"), cv2.IMREAD_GRAYSCALE)
    assert grey.ndim == 2
    a = detector.detect(grey)
    b = detector.detect(np.repeat(grey[:, :, None], 3, axis=2))
    assert len(a) == len(b) == 2  # the full-body player on the left and the cut-off one on the right
    assert all(np.allclose(p.keypoints, q.keypoints) for p, q in zip(a, b, strict=True))


def test_huge_image_downscaled_and_mapped_back(detector, messi, messi_person):
    s = 5  # 2740 x 1710, shrunk to 1920 wide for inference
    big = cv2.resize(messi, None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR)
    people = [tallest(detector.detect(big))]  # + the spectators behind him, as in messi_person
    expected = s * (messi_person.keypoints + 0.5) - 0.5
    err = np.linalg.norm(people[0].keypoints - expected, axis=1)
    assert np.median(err) < 5 * 6.0, err
    # the heatmap affine is for the full-size image: peaks still land on the keypoints
    peaks_err = np.linalg.norm(people[0].heatmap_peaks() - people[0].keypoints, axis=1)[people[0].has_heatmap]
    assert np.median(peaks_err) < 5 * 12.0


def test_bad_images_raise_value_error(detector):
    for bad in (np.zeros((0, 0, 3), np.uint8), np.zeros((10, 0), np.uint8), np.zeros((8, 8, 2), np.uint8)):
        with pytest.raises(ValueError):
            detector.detect(bad)
    assert detector.detect(np.zeros((1, 1), np.uint8)) == []


def test_model_file_errors_name_setup_command(tmp_path):
    with pytest.raises(ModelFileError, match="make setup"):
        BlazePoseDetector("full", model_dir=tmp_path)  # missing
    shutil.copy(resolve(DETECTION_MODEL), tmp_path / DETECTION_MODEL)
    shutil.copy(resolve(CENTERNET_MODEL), tmp_path / CENTERNET_MODEL)
    data = resolve(LANDMARK_MODELS["lite"]).read_bytes()
    (tmp_path / LANDMARK_MODELS["lite"]).write_bytes(data[: len(data) // 3])  # truncated
    with pytest.raises(ModelFileError, match=r"corrupt.*make setup"):
        BlazePoseDetector("lite", model_dir=tmp_path)
    with pytest.raises(ModelFileError, match="unknown landmark model"):
        BlazePoseDetector("medium")


def test_nan_model_outputs_degrade_gracefully(detector, messi, monkeypatch):
    real_run = detector.landmark_model.model.run

    def nan_heatmaps(x):
        out = dict(real_run(x))
        out["Identity_3"] = np.full_like(out["Identity_3"], np.nan)
        return out

    monkeypatch.setattr(detector.landmark_model.model, "run", nan_heatmaps)
    p = tallest(detector.detect(messi))
    assert not p.has_heatmap.any() and np.isnan(p.heatmaps).all()
    assert np.isfinite(p.keypoints).all() and p.scores.max() > 0.5  # regressed keypoints survive

    monkeypatch.setattr(detector.landmark_model.model, "run",
                        lambda x: {k: np.full_like(v, np.nan) for k, v in real_run(x).items()})
    assert detector.detect(messi) == []  # NaN presence -> no person


def test_cli_writes_overlay(images_dir, tmp_path):
    from diffpose_ros.detector import cli

    assert cli.main([str(images_dir / "messi5.jpg"), "--out", str(tmp_path), "--model", "lite"]) == 0
    png = cv2.imread(str(tmp_path / "messi5_lite.png"))
    assert png is not None and png.shape == (342, 2 * 548, 3)
    assert (tmp_path / "messi5_lite.json").is_file()
