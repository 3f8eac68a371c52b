"""Detector contract pieces that need no model: log-softmax, Gaussian heatmaps, affines, input checks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from diffpose_ros.core.camera import apply_affine, invert_affine
from diffpose_ros.core.skeleton import JOINT_INDEX
from diffpose_ros.detector.anchors import pose_detection_anchors
from diffpose_ros.detector.base import keypoints_to_heatmaps, log_softmax_heatmaps
from diffpose_ros.detector.h36m_mapping import H36M_FROM_BLAZEPOSE, to_person_observation
from diffpose_ros.detector.image_input import downscale, downscale_affine, to_rgb_uint8
from diffpose_ros.detector.peaks import refine_from_heatmaps, subpixel_peak
from diffpose_ros.detector.person_detection import letterbox
from diffpose_ros.detector.roi import Roi, image_to_heatmap_affine, roi_from_points, warp_crop


def test_log_softmax_normalised_and_nan_safe():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 64, 64)) * 30 - 50
    logits[0, 3, 4] = 1e4  # huge but finite: must not overflow
    logits[1, :10] = -np.inf  # log(0) is a valid log-probability
    logits[2, 0, 0] = np.nan
    logits[3, 5, 5] = np.inf
    logits[4] = -np.inf
    logits[5] = np.nan
    logp, usable = log_softmax_heatmaps(logits)
    assert usable.tolist() == [True, True, False, False, False, False]
    assert logp.dtype == np.float32
    for c in (0, 1):
        assert abs(np.log(np.exp(logp[c].astype(np.float64)).sum())) < 1e-4
    assert np.isnan(logp[2:]).all()
    assert np.isfinite(logp[:2]).all()


def test_keypoints_to_heatmaps_peaks_at_keypoints():
    rng = np.random.default_rng(1)
    kp = rng.uniform([20, 30], [600, 450], size=(17, 2))
    kp[JOINT_INDEX["head_top"]] = np.nan
    scores = np.full(17, 0.9)
    scores[JOINT_INDEX["spine"]] = 0.0
    obs = keypoints_to_heatmaps(kp, scores, image_size=(480, 640), sigma_px=6.0)
    assert obs.heatmaps.shape == (17, 128, 128)
    assert not obs.has_heatmap[JOINT_INDEX["head_top"]] and not obs.has_heatmap[JOINT_INDEX["spine"]]
    assert obs.scores[JOINT_INDEX["head_top"]] == 0.0
    back = invert_affine(obs.image_to_heatmap)
    for j in np.flatnonzero(obs.has_heatmap):
        peak, _ = subpixel_peak(obs.heatmaps[j])
        assert np.linalg.norm(apply_affine(back, peak) - kp[j]) < 1.5  # sub-pixel: 1 cell is 5 px here
        assert abs(np.log(np.exp(obs.heatmaps[j].astype(np.float64)).sum())) < 1e-4
    assert np.isnan(obs.heatmaps[~obs.has_heatmap]).all()
    with pytest.raises(ValueError):
        keypoints_to_heatmaps(kp[:5], scores[:5], image_size=(480, 640))
    with pytest.raises(ValueError):
        keypoints_to_heatmaps(kp, scores, image_size=(0, 640))


def test_anchor_layout():
    a = pose_detection_anchors()
    assert a.shape == (2254, 2)
    assert np.allclose(a[0], [0.5 / 28, 0.5 / 28]) and np.allclose(a[1], a[0])  # 2 anchors per stride-8 cell
    assert np.allclose(a[2], [1.5 / 28, 0.5 / 28])
    assert np.allclose(a[-1], [6.5 / 7, 6.5 / 7]) and np.allclose(a[-6], a[-1])  # 6 anchors per stride-32 cell


def test_roi_affine_round_trip_and_corners():
    roi = Roi(centre=np.array([312.3, 207.9]), size=301.7, rotation=0.61)
    a = image_to_heatmap_affine(roi)
    pts = np.random.default_rng(2).uniform(0, 600, size=(50, 2))
    assert np.allclose(apply_affine(invert_affine(a), apply_affine(a, pts)), pts, atol=1e-9)
    # ROI outer corners -> crop outer edges (-0.5 and 255.5 in pixel-centre coords) -> heatmap (0 and 64) - 0.5 + 0.125
    corners_hm = apply_affine(a, roi.corners())
    assert np.allclose(corners_hm, [[0, 0], [64, 0], [64, 64], [0, 64]], atol=1e-9)
    # rotation convention: the size point ends up straight above the centre in the crop
    r = roi_from_points(np.array([100.0, 100.0]), np.array([160.0, 100.0]))  # size point to the right
    from diffpose_ros.detector.roi import image_to_crop_affine

    up = apply_affine(image_to_crop_affine(r), np.array([[100.0, 100.0], [160.0, 100.0]]))
    assert np.allclose(up[1, 0], up[0, 0]) and up[1, 1] < up[0, 1]


def test_warp_matches_affine_exactly():
    """A bright dot drawn at a sub-pixel image point lands in the crop where the affine says."""
    img = np.zeros((400, 500, 3), np.uint8)
    p = np.array([231.0, 177.0])
    img[int(p[1]), int(p[0])] = 255
    roi = Roi(centre=np.array([250.0, 200.0]), size=128.0, rotation=0.3)  # 2x magnification
    crop, to_crop = warp_crop(img, roi)
    q = apply_affine(to_crop, p)
    w = crop[..., 0].astype(np.float64)
    yy, xx = np.mgrid[: w.shape[0], : w.shape[1]]
    centroid = np.array([(w * xx).sum(), (w * yy).sum()]) / w.sum()
    assert np.linalg.norm(centroid - q) < 0.15


def test_letterbox_affine_exact():
    img = np.zeros((300, 600, 3), np.uint8)
    img[150:152, 400:402] = 255  # 2x2 block centred at (400.5, 150.5)
    boxed, a = letterbox(img)
    w = boxed[..., 0].astype(np.float64)
    yy, xx = np.mgrid[:224, :224]
    centroid = np.array([(w * xx).sum(), (w * yy).sum()]) / w.sum()
    assert np.linalg.norm(centroid - apply_affine(a, np.array([400.5, 150.5]))) < 0.2


def test_downscale_affine_exact():
    img = np.zeros((4000, 3000, 3), np.uint8)
    img[2000:2008, 1000:1008] = 255  # centre (1003.5, 2003.5), aligned to the 4x4 area cells
    small, s = downscale(img, 1000)
    a = downscale_affine(img.shape, small.shape)
    w = small[..., 0].astype(np.float64)
    yy, xx = np.mgrid[: w.shape[0], : w.shape[1]]
    centroid = np.array([(w * xx).sum(), (w * yy).sum()]) / w.sum()
    assert max(small.shape[:2]) == 1000 and np.isclose(s, 0.25)
    assert np.linalg.norm(centroid - apply_affine(a, np.array([1003.5, 2003.5]))) < 0.01


def test_input_normalisation_and_errors():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    rgb = to_rgb_uint8(grey)
    assert rgb.shape == (3, 4, 3) and (rgb[..., 0] == grey).all() and (rgb[..., 2] == grey).all()
    assert to_rgb_uint8(np.zeros((3, 4, 1), np.uint8)).shape == (3, 4, 3)
    assert to_rgb_uint8(np.zeros((3, 4, 4), np.uint8)).shape == (3, 4, 3)
    f = to_rgb_uint8(np.full((2, 2, 3), np.nan, np.float32))
    assert f.dtype == np.uint8 and (f == 0).all()
    for bad in (np.zeros((0, 5, 3), np.uint8), np.zeros((5, 0), np.uint8), np.zeros((4, 4, 2), np.uint8),
                np.zeros((2, 2, 2, 3), np.uint8), np.zeros((4, 4, 3), bool), np.zeros((4, 4, 3), object)):
        with pytest.raises(ValueError):
            to_rgb_uint8(bad)
    with pytest.raises(ValueError):
        to_rgb_uint8([[1, 2], [3, 4]])  # type: ignore[arg-type]


def test_h36m_mapping_indices_and_nan_heatmaps():
    lm = np.zeros((33, 5))
    lm[:, 0] = np.arange(33) * 10.0  # x encodes the landmark index
    lm[:, 1] = 5.0
    lm[:, 3:] = 0.8
    logits = np.random.default_rng(3).normal(size=(33, 64, 64))
    logits[27] = np.nan  # left ankle channel broken
    obs = to_person_observation(lm, logits, np.array([[0.25, 0, 0], [0, 0.25, 0]]), score=0.9)
    for name, b in H36M_FROM_BLAZEPOSE.items():
        assert obs.keypoints[JOINT_INDEX[name], 0] == 10.0 * b
    la = JOINT_INDEX["left_ankle"]
    assert not obs.has_heatmap[la] and np.isnan(obs.heatmaps[la]).all()
    assert obs.scores[la] == pytest.approx(0.8) and np.isfinite(obs.keypoints[la]).all()  # keypoint kept
    for name in ("pelvis", "spine", "thorax", "head_top"):
        j = JOINT_INDEX[name]
        assert not obs.has_heatmap[j] and obs.scores[j] == 0.0 and np.isfinite(obs.keypoints[j]).all()
    assert obs.keypoints[JOINT_INDEX["pelvis"], 0] == pytest.approx(0.5 * (230 + 240))
    assert obs.has_heatmap.sum() == 12
    with pytest.raises(ValueError):
        to_person_observation(lm, logits[:10], np.eye(2, 3), score=0.9)


def test_letterbox_of_tiny_and_wide_images():
    for shape in ((1, 1, 3), (3, 1000, 3), (1000, 2, 3)):
        boxed, a = letterbox(np.full(shape, 200, np.uint8))
        assert boxed.shape == (224, 224, 3) and np.isfinite(a).all()
    assert cv2 is not None


def test_refine_from_heatmaps_moves_to_confident_peak_only():
    yy, xx = np.mgrid[:64, :64]
    centre = np.array([20.3, 40.7])
    blob = 4.0 - ((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / 2.0  # sigmoid peak ~0.98
    logits = np.stack([blob, blob - 10.0, blob, np.full((64, 64), np.nan)])  # 2nd: peak sigmoid < 0.5
    start = np.array([[22.0, 39.0], [22.0, 39.0], [np.nan, 3.0], [22.0, 39.0]])
    out = refine_from_heatmaps(start, logits)
    # window centred at the (rounded) start point, as in MediaPipe: pulled most of the way to the blob centre
    assert np.linalg.norm(out[0] - centre) < 0.35 * np.linalg.norm(start[0] - centre)
    assert np.array_equal(out[1], start[1]) and np.isnan(out[2, 0]) and np.array_equal(out[3], start[3])
    assert np.isnan(subpixel_peak(logits[3])[0]).all()
