"""Synthetic detector output for evaluation: held-out 3D poses -> camera -> per-joint log-prob heatmaps.

Mimics the detector contract of :mod:`diffpose_ros.detector.base` exactly (``[17, H, W]`` float32
log-probabilities, NaN rows for joints without a channel, ``image_to_heatmap`` affine over a square person
crop with heatmap cell centres at integer coordinates) and returns the ground truth in the camera frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.camera import PinholeCamera, apply_affine, invert_affine
from ..core.skeleton import LEFT_JOINTS, MIRROR_PERMUTATION, NUM_JOINTS, RIGHT_JOINTS

NEG_LOG_FLOOR = -1e4  # the detector contract's floor for log-probabilities

# Relative heatmap spread per joint (detectors are less sure of hips and ankles than of the head / wrists).
JOINT_SIGMA_FACTOR = np.array([1.8, 1.6, 1.2, 1.4, 1.6, 1.2, 1.4, 1.5, 1.1, 1.0, 1.1, 1.0, 1.1, 1.2, 1.0, 1.1, 1.2])


@dataclass
class SyntheticConfig:
    """Knobs of the synthetic detector (distances in metres, sizes in pixels)."""

    image_size: tuple[int, int] = (480, 640)  # (height, width)
    focal_range: tuple[float, float] = (500.0, 600.0)
    principal_jitter_px: float = 5.0
    distance_range: tuple[float, float] = (2.5, 6.0)
    heatmap_size: int = 64
    crop_margin: float = 1.25  # crop side = margin * larger side of the 2D box
    crop_jitter: float = 0.05  # relative jitter of the crop centre and size
    sigma_hm: float = 1.5  # base Gaussian std (heatmap px), times JOINT_SIGMA_FACTOR and a per-frame factor
    sigma_jitter: tuple[float, float] = (0.85, 1.25)
    centre_noise_hm: float = 0.6  # std of the peak's localisation error (heatmap px)
    offset_prob: float = 0.05  # per joint: peak displaced by offset_range sigmas (a gross detector error)
    offset_range: tuple[float, float] = (3.0, 8.0)
    swap_prob: float = 0.0  # per frame: left/right channels swapped
    drop_prob: float = 0.08  # per joint: no channel (occlusion)
    offsets_missing: bool = False  # the gross errors come as missing joints (an oracle of outlier rejection)
    background: float = 0.03  # probability mass of the noisy background
    background_noise: float = 1.0  # std of the log-normal background speckle
    random_yaw: bool = True


@dataclass
class SyntheticFrame:
    """One synthetic observation (detector-contract fields) plus ground truth."""

    heatmaps: np.ndarray  # [17, H, W] float32 log-probs, NaN rows where has_heatmap is False
    has_heatmap: np.ndarray  # [17] bool
    image_to_heatmap: np.ndarray  # [2, 3]
    keypoints: np.ndarray  # [17, 2] image px (heatmap peak), NaN where dropped
    scores: np.ndarray  # [17] in [0, 1], 0 where dropped
    camera: PinholeCamera
    pose_camera: np.ndarray  # [17, 3] ground truth, camera frame, metres
    pose_root_relative: np.ndarray  # [17, 3] ground truth (yawed), pelvis at 0
    translation: np.ndarray  # [3] pelvis in the camera frame
    keypoints_true: np.ndarray  # [17, 2] exact projections
    yaw: float
    offset_joints: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS, bool))

    def to_observation(self):
        """As a :class:`diffpose_ros.detector.base.PersonObservation`."""
        from ..detector.base import PersonObservation

        kp = self.keypoints_true
        box = np.r_[kp.min(0), kp.max(0)]
        return PersonObservation(keypoints=self.keypoints, scores=self.scores, heatmaps=self.heatmaps,
                                 has_heatmap=self.has_heatmap, image_to_heatmap=self.image_to_heatmap, box=box,
                                 score=1.0)


def yaw_matrix(yaw: float) -> np.ndarray:
    """Rotation about the vertical (y, pointing down) axis."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def crop_affine(centre: np.ndarray, side: float, size: int) -> np.ndarray:
    """Affine image px -> heatmap px of a square crop (side px, centred) onto a size x size map."""
    s = size / side
    return np.array([[s, 0.0, (size - 1) / 2 - s * centre[0]], [0.0, s, (size - 1) / 2 - s * centre[1]]])


def render_log_heatmaps(centres_hm: np.ndarray, sigmas_hm: np.ndarray, size: int, rng: np.random.Generator,
                        background: float, background_noise: float) -> np.ndarray:
    """Log-probabilities ``[J, size, size]``: Gaussian peak (mass 1 - background) plus noisy background."""
    grid = np.arange(size, dtype=np.float64)
    d2 = ((grid[None, None, :] - centres_hm[:, 0, None, None]) ** 2
          + (grid[None, :, None] - centres_hm[:, 1, None, None]) ** 2)
    log_g = -0.5 * d2 / sigmas_hm[:, None, None] ** 2
    log_g -= np.log(np.exp(log_g - log_g.max((1, 2), keepdims=True)).sum((1, 2), keepdims=True)) + log_g.max(
        (1, 2), keepdims=True)
    bg = np.exp(background_noise * rng.standard_normal(d2.shape))
    bg /= bg.sum((1, 2), keepdims=True)
    p = (1 - background) * np.exp(log_g) + background * bg
    return np.maximum(np.log(np.maximum(p, 1e-300)), NEG_LOG_FLOOR).astype(np.float32)


def _refined_peaks(logp: np.ndarray, radius: int = 2) -> np.ndarray:
    """Argmax plus local soft-argmax, heatmap px ``[J, 2]``."""
    J, H, W = logp.shape
    out = np.zeros((J, 2))
    for j in range(J):
        r, c = divmod(int(np.argmax(logp[j])), W)
        r0, r1, c0, c1 = max(r - radius, 0), min(r + radius + 1, H), max(c - radius, 0), min(c + radius + 1, W)
        p = np.exp(logp[j, r0:r1, c0:c1].astype(np.float64))
        rr, cc = np.mgrid[r0:r1, c0:c1]
        out[j] = [(p * cc).sum() / p.sum(), (p * rr).sum() / p.sum()]
    return out


@dataclass
class NoisyHeatmaps:
    """Detector-like heatmaps around true keypoints (see :func:`noisy_heatmaps`)."""

    heat: np.ndarray  # [17, H, W] log-probabilities, NaN rows for dropped joints
    has: np.ndarray  # [17] bool
    affine: np.ndarray  # [2, 3] image px -> heatmap px
    centres_hm: np.ndarray  # [17, 2] where the blobs were drawn (heatmap px)
    offset: np.ndarray  # [17] bool: gross offset (or left/right swap) applied
    scores: np.ndarray  # [17] confidence from the blob width
    box: np.ndarray  # [4] keypoint bounding box, image px


def noisy_heatmaps(kp_true: np.ndarray, rng: np.random.Generator, cfg: SyntheticConfig) -> NoisyHeatmaps:
    """The noise model: jittered person crop, per-joint blob width, centre noise, gross offsets, left/right
    swaps, background noise and dropped joints, around exact keypoints ``[17, 2]`` (image px)."""
    size = cfg.heatmap_size
    lo, hi = kp_true.min(0), kp_true.max(0)
    side = cfg.crop_margin * float((hi - lo).max()) * (1 + rng.uniform(-cfg.crop_jitter, cfg.crop_jitter))
    centre = (lo + hi) / 2 + rng.uniform(-cfg.crop_jitter, cfg.crop_jitter, 2) * side
    affine = crop_affine(centre, side, size)
    sig = cfg.sigma_hm * JOINT_SIGMA_FACTOR * rng.uniform(*cfg.sigma_jitter)
    centres = apply_affine(affine, kp_true) + rng.normal(0, cfg.centre_noise_hm, (NUM_JOINTS, 2))
    offset = rng.random(NUM_JOINTS) < cfg.offset_prob
    if offset.any():
        ang = rng.uniform(0, 2 * np.pi, NUM_JOINTS)
        mag = rng.uniform(*cfg.offset_range, NUM_JOINTS) * sig
        centres = centres + offset[:, None] * mag[:, None] * np.stack([np.cos(ang), np.sin(ang)], 1)
    if rng.random() < cfg.swap_prob:
        centres = centres[list(MIRROR_PERMUTATION)]
        offset = offset | np.isin(np.arange(NUM_JOINTS), LEFT_JOINTS + RIGHT_JOINTS)
    heat = render_log_heatmaps(centres, sig, size, rng, cfg.background, cfg.background_noise)
    has = rng.random(NUM_JOINTS) >= cfg.drop_prob
    if cfg.offsets_missing:
        has &= ~offset
    heat[~has] = np.nan
    scores = np.where(has, np.clip(cfg.sigma_hm / sig, 0.0, 1.0), 0.0)
    return NoisyHeatmaps(heat, has, affine, centres, offset, scores, np.r_[lo, hi])


def observed_keypoints(noisy: NoisyHeatmaps) -> np.ndarray:
    """The detector's keypoints ``[17, 2]`` (image px, refined heatmap peaks; NaN for dropped joints)."""
    peaks = apply_affine(invert_affine(noisy.affine),
                         _refined_peaks(np.where(noisy.has[:, None, None], noisy.heat, 0.0)))
    return np.where(noisy.has[:, None], peaks, np.nan)


def synthetic_observation(kp_true: np.ndarray, rng: np.random.Generator, cfg: SyntheticConfig | None = None,
                          track_id: int = -1):
    """A detector-contract :class:`PersonObservation` for exact keypoints ``[17, 2]`` (image px)."""
    from ..detector.base import PersonObservation

    cfg = cfg or SyntheticConfig()
    noisy = noisy_heatmaps(kp_true, rng, cfg)
    return PersonObservation(keypoints=observed_keypoints(noisy), scores=noisy.scores, heatmaps=noisy.heat,
                             has_heatmap=noisy.has, image_to_heatmap=noisy.affine, box=noisy.box, score=1.0,
                             track_id=track_id)


def render_frame(pose_root_relative: np.ndarray, rng: np.random.Generator,
                 config: SyntheticConfig | None = None) -> SyntheticFrame:
    """Place one root-relative pose ``[17, 3]`` in front of a random camera and render its heatmaps."""
    cfg = config or SyntheticConfig()
    img_h, img_w = cfg.image_size
    pose = np.asarray(pose_root_relative, dtype=np.float64)
    pose = pose - pose[:1]
    yaw = float(rng.uniform(-np.pi, np.pi)) if cfg.random_yaw else 0.0
    pose = pose @ yaw_matrix(yaw).T
    f = float(rng.uniform(*cfg.focal_range))
    cam = PinholeCamera(f, f, (img_w - 1) / 2 + rng.normal(0, cfg.principal_jitter_px),
                        (img_h - 1) / 2 + rng.normal(0, cfg.principal_jitter_px), img_w, img_h)
    depth = float(rng.uniform(*cfg.distance_range))
    trans = np.array([0.0, 0.0, depth])
    for _ in range(20):  # random placement with the whole body inside the image
        pix = np.array([rng.uniform(0.2, 0.8) * img_w, rng.uniform(0.3, 0.7) * img_h])
        cand = cam.unproject(pix, depth)
        kp = cam.project(pose + cand)
        if (kp.min(0) >= 0).all() and kp[:, 0].max() < img_w and kp[:, 1].max() < img_h:
            trans = cand
            break
    pose_cam = pose + trans
    kp_true = cam.project(pose_cam)

    noisy = noisy_heatmaps(kp_true, rng, cfg)
    keypoints = observed_keypoints(noisy)
    heat, has, affine, offset = noisy.heat, noisy.has, noisy.affine, noisy.offset
    scores = noisy.scores
    return SyntheticFrame(heatmaps=heat, has_heatmap=has, image_to_heatmap=affine, keypoints=keypoints,
                          scores=scores, camera=cam, pose_camera=pose_cam, pose_root_relative=pose,
                          translation=trans, keypoints_true=kp_true, yaw=yaw, offset_joints=offset)


def render_dataset(poses_root_relative: np.ndarray, seed: int = 0, config: SyntheticConfig | None = None
                   ) -> list[SyntheticFrame]:
    """One synthetic frame per pose ``[N, 17, 3]`` (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    return [render_frame(p, rng, config) for p in np.asarray(poses_root_relative)]
