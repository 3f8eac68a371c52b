"""The 2D detector interface: what every detector hands to the 3D lifting / diffusion guidance.

Contract (shared with the guidance code; keep it exact):

* Coordinates are image pixels with the centre of the top-left pixel at (0, 0), x right, y down
  (the OpenCV / ROS CameraInfo convention used in :mod:`diffpose_ros.core.camera`).
* Joints are in the H36M-17 order of :data:`diffpose_ros.core.skeleton.JOINT_NAMES`.
* ``heatmaps[j]`` is a float32 ``[H, W]`` map of **log-probabilities**: ``logsumexp(heatmaps[j]) == 0``
  (a log-softmax over all pixels). Rows of joints without a channel (``has_heatmap[j] == False``) are NaN.
* ``image_to_heatmap`` is a 2x3 affine ``A``: ``h = A[:, :2] @ p + A[:, 2]`` maps an image pixel ``p`` to
  heatmap coordinates ``h = (col, row)`` in which the centre of heatmap cell ``[row, col]`` is at integer
  ``(col, row)``. To score a projected joint, map it with ``A`` and sample ``heatmaps[j]`` bilinearly at
  ``h`` (e.g. ``grid_sample(..., align_corners=True)`` after normalising by ``W - 1`` / ``H - 1``); points
  outside ``[0, W-1] x [0, H-1]`` are off the map (clamp to the border value or treat as very unlikely).
* ``scores[j]`` in [0, 1]: how much to trust the joint; 0 means "no guidance" (keypoint may still be
  given for display, e.g. a synthesised pelvis).

Detectors that only regress keypoints plug in through :func:`keypoints_to_heatmaps`, which renders
Gaussian log-probability maps under the same contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from ..core.camera import apply_affine
from ..core.skeleton import NUM_JOINTS

NEG_LOG_FLOOR = -1e4  # log-probability used instead of -inf, so samplers never see inf


@dataclass(frozen=True, eq=False)
class PersonObservation:
    """One person in one image, joints in the H36M-17 order (compared by identity: it holds arrays)."""

    keypoints: np.ndarray  # [17, 2] image px, NaN where unknown
    scores: np.ndarray  # [17] confidence in [0, 1]; 0 = unknown / no guidance
    heatmaps: np.ndarray | None  # [17, H, W] float32 log-probabilities; NaN rows where has_heatmap is False
    has_heatmap: np.ndarray  # [17] bool
    image_to_heatmap: np.ndarray  # [2, 3] affine image px -> heatmap px (cell centres at integers)
    box: np.ndarray  # [4] x0, y0, x1, y1 image px
    score: float  # person detection / presence score in [0, 1]
    raw_landmarks: np.ndarray | None = None  # [33, 5] BlazePose (x, y, z, visibility, presence), image px
    track_id: int = -1  # stable id across video frames (-1: single image / untracked)

    def heatmap_to_image(self) -> np.ndarray:
        """The inverse affine: heatmap px -> image px."""
        from ..core.camera import invert_affine

        return invert_affine(self.image_to_heatmap)

    def heatmap_peaks(self) -> np.ndarray:
        """[17, 2] argmax of each heatmap mapped back to image px (NaN without a usable heatmap)."""
        out = np.full((NUM_JOINTS, 2), np.nan)
        if self.heatmaps is None:
            return out
        w = self.heatmaps.shape[-1]
        back = self.heatmap_to_image()
        for j in np.flatnonzero(self.has_heatmap):
            idx = int(np.argmax(self.heatmaps[j]))
            out[j] = apply_affine(back, np.array([idx % w, idx // w], dtype=np.float64))
        return out


@runtime_checkable
class PoseDetector(Protocol):
    """Anything that finds people in an RGB image."""

    def detect(self, image_rgb: np.ndarray) -> list[PersonObservation]:
        """All people in ``image_rgb`` ([H, W, 3] uint8 RGB; detectors also accept grey [H, W])."""
        ...


def log_softmax_heatmaps(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stable per-channel log-softmax over pixels of ``[C, H, W]`` logits.

    Returns ``(log_probs float32 [C, H, W], usable bool [C])``. ``-inf`` entries (log of 0) are allowed;
    a channel with any NaN or ``+inf``, or with no finite value, is marked unusable and filled with NaN.
    Log-probabilities are floored at ``NEG_LOG_FLOOR`` so they are always finite. Never raises on bad values.
    """
    x = np.asarray(logits, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"heatmap logits must be [C, H, W], got shape {x.shape}")
    flat = x.reshape(x.shape[0], -1)
    ok_values = np.isfinite(flat) | (flat == -np.inf)
    usable = ok_values.all(axis=1) & np.isfinite(flat).any(axis=1)
    out = np.full(flat.shape, np.nan)
    if usable.any():
        good = flat[usable]
        shifted = good - good.max(axis=1, keepdims=True)  # max is finite: each usable row has a finite value
        lse = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        out[usable] = np.maximum(shifted - lse, NEG_LOG_FLOOR)
    return out.reshape(x.shape).astype(np.float32), usable


def gaussian_log_heatmaps(centres_hm: np.ndarray, sigma_hm: "float | np.ndarray", size: tuple[int, int]) -> np.ndarray:
    """Normalised Gaussian log-probability maps ``[J, H, W]`` centred at heatmap coords ``[J, 2]``.

    Non-finite centres give NaN rows. ``sigma_hm`` is in heatmap pixels (scalar or per joint).
    """
    h, w = size
    centres_hm = np.asarray(centres_hm, dtype=np.float64).reshape(-1, 2)
    sig = np.broadcast_to(np.asarray(sigma_hm, dtype=np.float64), (len(centres_hm),))
    if not (np.isfinite(sig) & (sig > 0)).all():
        raise ValueError(f"sigma must be finite and > 0, got {sig}")
    cols = np.arange(w, dtype=np.float64)
    rows = np.arange(h, dtype=np.float64)
    d2 = ((cols[None, None, :] - centres_hm[:, 0, None, None]) ** 2
          + (rows[None, :, None] - centres_hm[:, 1, None, None]) ** 2)
    logits = -0.5 * d2 / sig[:, None, None] ** 2
    logp, _ = log_softmax_heatmaps(logits)
    return logp


def keypoints_to_heatmaps(
    keypoints: np.ndarray,
    scores: np.ndarray,
    image_size: tuple[int, int],
    sigma_px: float = 8.0,
    heatmap_size: tuple[int, int] = (128, 128),
    min_score: float = 0.0,
    box: np.ndarray | None = None,
    score: float | None = None,
) -> PersonObservation:
    """Wrap keypoint-only detections (``[17, 2]`` px + ``[17]`` scores) as a :class:`PersonObservation`.

    Renders one Gaussian (std ``sigma_px`` image pixels) per joint with a finite keypoint and
    ``score > min_score`` on a ``heatmap_size`` (H, W) grid that covers the whole image
    (``image_size`` = (height, width)) with one uniform scale, so circles stay circles.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    sc = np.asarray(scores, dtype=np.float64)
    if kp.shape != (NUM_JOINTS, 2) or sc.shape != (NUM_JOINTS,):
        raise ValueError(f"expected keypoints [17, 2] and scores [17], got {kp.shape} and {sc.shape}")
    img_h, img_w = int(image_size[0]), int(image_size[1])
    if img_h <= 0 or img_w <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    if not (np.isfinite(sigma_px) and sigma_px > 0):
        raise ValueError(f"sigma_px must be finite and > 0, got {sigma_px}")
    hm_h, hm_w = heatmap_size
    # Uniform scale mapping the image's pixel-centre extent onto the grid's, centred.
    scale = min((hm_w - 1) / max(img_w - 1, 1), (hm_h - 1) / max(img_h - 1, 1))
    tx = (hm_w - 1) / 2 - scale * (img_w - 1) / 2
    ty = (hm_h - 1) / 2 - scale * (img_h - 1) / 2
    affine = np.array([[scale, 0.0, tx], [0.0, scale, ty]])
    sc = np.where(np.isfinite(sc), np.clip(sc, 0.0, 1.0), 0.0)
    has = np.isfinite(kp).all(axis=1) & (sc > min_score)
    sc = np.where(has, sc, 0.0)
    heat = np.full((NUM_JOINTS, hm_h, hm_w), np.nan, dtype=np.float32)
    if has.any():
        heat[has] = gaussian_log_heatmaps(apply_affine(affine, kp[has]), sigma_px * scale, (hm_h, hm_w))
    if box is None:
        pts = kp[np.isfinite(kp).all(axis=1)]
        box = np.r_[pts.min(0), pts.max(0)] if len(pts) else np.full(4, np.nan)
    person_score = float(score) if score is not None else (float(sc[has].mean()) if has.any() else 0.0)
    return PersonObservation(keypoints=kp, scores=sc, heatmaps=heat, has_heatmap=has, image_to_heatmap=affine,
                             box=np.asarray(box, dtype=np.float64), score=person_score)
