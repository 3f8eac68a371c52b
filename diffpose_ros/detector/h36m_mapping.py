"""BlazePose-33 landmarks + heatmaps -> H36M-17 :class:`PersonObservation`.

Left/right: BlazePose ``LEFT_*`` landmarks are the person's own left (on a person facing the camera they
appear on the image's right); H36M ``left_*`` joints are the subject's left too, so left maps to left
(checked on messi5 and astronaut overlays: the left shoulder of a person facing the camera is at larger x).

Joints with a BlazePose heatmap channel: hips 23/24, knees 25/26, ankles 27/28, shoulders 11/12,
elbows 13/14, wrists 15/16, and the nose 0 for H36M ``neck_nose``. The other four have **no heatmap**
(NaN rows, ``has_heatmap`` False) and score 0 (no guidance); their keypoints are synthesised for display:
pelvis = mid-hips, thorax = mid-shoulders, spine = midway pelvis-thorax,
head_top = ear midpoint + 0.6 (ear midpoint - thorax).

Anatomical offset: BlazePose (like COCO) hips are labelled on the body outline near the greater
trochanters, whereas H36M hips are mocap-derived femoral-head centres. Expect the BlazePose hips to be
wider apart and somewhat lower than the H36M hip joints (and the mid-hip pelvis correspondingly lower),
a systematic, pose-dependent bias of a few cm; H36M ``neck_nose`` likewise sits between the neck and
the nose, not on the nose tip. Guidance should down-weight or calibrate these joints. The heatmaps of
hips and ankles are also blurrier and less confident than those of wrists or the nose.

Scores: ``min(visibility, presence)`` of the landmark (both sigmoid probabilities), 0 when the
landmark is not finite. A heatmap channel with NaN/inf logits is marked unusable (``has_heatmap``
False) without touching the keypoint.
"""

from __future__ import annotations

import numpy as np

from ..core.skeleton import JOINT_INDEX, NUM_JOINTS
from .base import PersonObservation, log_softmax_heatmaps

# H36M joint -> BlazePose landmark with its own heatmap channel.
H36M_FROM_BLAZEPOSE: dict[str, int] = {
    "right_hip": 24,
    "right_knee": 26,
    "right_ankle": 28,
    "left_hip": 23,
    "left_knee": 25,
    "left_ankle": 27,
    "neck_nose": 0,
    "left_shoulder": 11,
    "left_elbow": 13,
    "left_wrist": 15,
    "right_shoulder": 12,
    "right_elbow": 14,
    "right_wrist": 16,
}
SYNTHESISED_JOINTS: tuple[str, ...] = ("pelvis", "spine", "thorax", "head_top")
HEAD_TOP_EXTRAPOLATION = 0.6
LEFT_EAR, RIGHT_EAR = 7, 8


def blazepose_to_h36m_keypoints(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[>=33, 5]`` landmarks (x, y, z, visibility, presence) -> ``([17, 2] keypoints, [17] scores)``."""
    lm = np.asarray(landmarks, dtype=np.float64)
    kp = np.full((NUM_JOINTS, 2), np.nan)
    sc = np.zeros(NUM_JOINTS)
    for name, b in H36M_FROM_BLAZEPOSE.items():
        j = JOINT_INDEX[name]
        if np.isfinite(lm[b, :2]).all():
            kp[j] = lm[b, :2]
            conf = min(lm[b, 3], lm[b, 4])
            sc[j] = float(np.clip(conf, 0.0, 1.0)) if np.isfinite(conf) else 0.0
    mid_hip = 0.5 * (lm[23, :2] + lm[24, :2])
    thorax = 0.5 * (lm[11, :2] + lm[12, :2])
    ears = 0.5 * (lm[LEFT_EAR, :2] + lm[RIGHT_EAR, :2])
    kp[JOINT_INDEX["pelvis"]] = mid_hip
    kp[JOINT_INDEX["thorax"]] = thorax
    kp[JOINT_INDEX["spine"]] = 0.5 * (mid_hip + thorax)
    kp[JOINT_INDEX["head_top"]] = ears + HEAD_TOP_EXTRAPOLATION * (ears - thorax)
    return kp, sc


def blazepose_to_h36m_heatmaps(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[33, H, W]`` heatmap logits -> ``([17, H, W]`` float32 log-probabilities, ``[17]`` bool has_heatmap)``."""
    logits = np.asarray(logits)
    if logits.ndim != 3 or logits.shape[0] < 33:
        raise ValueError(f"expected [33, H, W] heatmap logits, got shape {logits.shape}")
    joints = [JOINT_INDEX[n] for n in H36M_FROM_BLAZEPOSE]
    logp, usable = log_softmax_heatmaps(logits[list(H36M_FROM_BLAZEPOSE.values())])
    heat = np.full((NUM_JOINTS, *logits.shape[1:]), np.nan, dtype=np.float32)
    has = np.zeros(NUM_JOINTS, dtype=bool)
    heat[joints] = logp
    has[joints] = usable
    return heat, has


def to_person_observation(landmarks: np.ndarray, heatmap_logits: np.ndarray, image_to_heatmap: np.ndarray,
                          score: float, box: np.ndarray | None = None, track_id: int = -1) -> PersonObservation:
    """Assemble the H36M-17 observation from BlazePose outputs in image px."""
    kp, sc = blazepose_to_h36m_keypoints(landmarks)
    heat, has = blazepose_to_h36m_heatmaps(heatmap_logits)
    if box is None:
        pts = np.asarray(landmarks)[:33, :2]
        pts = pts[np.isfinite(pts).all(axis=1)]
        box = np.r_[pts.min(0), pts.max(0)] if len(pts) else np.full(4, np.nan)
    return PersonObservation(keypoints=kp, scores=sc, heatmaps=heat, has_heatmap=has,
                             image_to_heatmap=np.asarray(image_to_heatmap, dtype=np.float64),
                             box=np.asarray(box, dtype=np.float64), score=float(score),
                             raw_landmarks=np.asarray(landmarks, dtype=np.float64)[:33].copy(), track_id=track_id)
