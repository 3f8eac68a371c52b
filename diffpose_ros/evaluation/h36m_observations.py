"""2D evidence for Human3.6M frames, in the detector contract and in ideal (undistorted) pixels.

The sampler projects with a distortion-free pinhole, so every source is brought to undistorted pixels:

* ``synthetic``: ground truth projected into the real camera, then heatmaps with detector-like noise
  (the noise model and knobs of :mod:`diffpose_ros.evaluation.synthetic_heatmaps`).
* ``detections``: VideoPose3D 2D keypoints (distorted px) -> undistorted -> Gaussian heatmaps.
* ``detector``: the BlazePose detector on the user's video frames, undistorted first (:func:`undistort_image`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..core.camera import apply_affine, invert_affine
from ..core.skeleton import NUM_JOINTS
from ..detector.base import PersonObservation, gaussian_log_heatmaps
from .h36m_cameras import H36MCamera
from .synthetic_heatmaps import SyntheticConfig, crop_affine, noisy_heatmaps


def stable_seed(*parts: object) -> int:
    """A seed from names (stable across runs and machines, unlike ``hash``)."""
    return int.from_bytes(hashlib.sha1(":".join(map(str, parts)).encode()).digest()[:4], "big")


def synthetic_observation(keypoints_px: np.ndarray, rng: np.random.Generator,
                          config: SyntheticConfig | None = None) -> PersonObservation:
    """Noisy crop heatmaps around exact keypoints ``[17, 2]`` (same noise model as ``render_frame``)."""
    cfg = config or SyntheticConfig()
    noisy = noisy_heatmaps(np.asarray(keypoints_px, dtype=np.float64), rng, cfg)
    keypoints = np.where(noisy.has[:, None], apply_affine(invert_affine(noisy.affine), noisy.centres_hm), np.nan)
    return PersonObservation(keypoints=keypoints, scores=noisy.scores, heatmaps=noisy.heat, has_heatmap=noisy.has,
                             image_to_heatmap=noisy.affine, box=noisy.box, score=1.0)


def detection_observation(keypoints_distorted: np.ndarray, camera: H36MCamera, sigma_px: float = 8.0,
                          heatmap_size: int = 64, crop_margin: float = 1.25) -> PersonObservation:
    """VideoPose3D keypoints (distorted px) -> undistorted Gaussian heatmaps over a square person crop.

    All joints get score 1 (VideoPose3D's 2D files carry no confidences).
    """
    kp = camera.undistort(np.asarray(keypoints_distorted, dtype=np.float64))
    lo, hi = kp.min(0), kp.max(0)
    side = max(crop_margin * float((hi - lo).max()), 8.0 * sigma_px)
    affine = crop_affine((lo + hi) / 2, side, heatmap_size)
    heat = gaussian_log_heatmaps(apply_affine(affine, kp), sigma_px * heatmap_size / side,
                                 (heatmap_size, heatmap_size))
    return PersonObservation(keypoints=kp, scores=np.ones(NUM_JOINTS), heatmaps=heat,
                             has_heatmap=np.ones(NUM_JOINTS, bool), image_to_heatmap=affine, box=np.r_[lo, hi],
                             score=1.0)


def undistort_image(image: np.ndarray, camera: H36MCamera) -> np.ndarray:
    """Resample a raw frame onto the ideal pinhole image of the same intrinsics (cv2.remap, bilinear)."""
    import cv2

    h, w = image.shape[:2]
    cols, rows = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    xy = np.stack([(cols - camera.cx) / camera.fx, (rows - camera.cy) / camera.fy], -1)
    src = camera._distort_normalised(xy) * np.array([camera.fx, camera.fy]) + np.array([camera.cx, camera.cy])
    return cv2.remap(image, src[..., 0].astype(np.float32), src[..., 1].astype(np.float32), cv2.INTER_LINEAR)


DEFAULT_IMAGE_PATTERN = "{root}/{subject}/Videos/{action}.{camera_id}/{frame:06d}.jpg"


def detector_source(root: "str | Path", pattern: str = DEFAULT_IMAGE_PATTERN, detector=None
                    ) -> Callable[[str, str, H36MCamera, int], "PersonObservation | None"]:
    """A source running a PoseDetector on extracted video frames (``pattern`` with root/subject/action/
    camera_id/frame fields; the detector defaults to BlazePose 'full', untracked). Returns None when no person."""
    import cv2

    if detector is None:
        from ..detector.blazepose import BlazePoseDetector

        detector = BlazePoseDetector("full", max_people=1)

    def source(subject: str, action: str, camera: H36MCamera, frame: int) -> "PersonObservation | None":
        path = pattern.format(root=root, subject=subject, action=action, camera_id=camera.camera_id, frame=frame)
        bgr = cv2.imread(path)
        if bgr is None:
            raise FileNotFoundError(f"frame image not found: {path}")
        rgb = np.ascontiguousarray(undistort_image(bgr, camera)[..., ::-1])
        people = detector.detect(rgb)
        return max(people, key=lambda p: p.score) if people else None

    return source
