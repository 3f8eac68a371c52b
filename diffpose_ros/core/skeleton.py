"""The 17-joint Human3.6M skeleton used everywhere in diffpose_ros.

Joint order is the de-facto standard of VideoPose3D / most 3D-pose papers.
Poses are arrays ``[..., 17, 3]`` in metres. In the canonical (model) frame the
axes are camera-style: x right, y down, z forward (away from the camera), and the
pelvis (joint 0) is the origin.
"""

from __future__ import annotations

import numpy as np

NAME = "h36m17"

JOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
    "spine",
    "thorax",
    "neck_nose",
    "head_top",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
)
NUM_JOINTS = len(JOINT_NAMES)
JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}

# Parent of each joint (-1 for the root). Parents always precede children.
PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)

# (child, parent) pairs: one bone per non-root joint.
BONES: tuple[tuple[int, int], ...] = tuple((j, p) for j, p in enumerate(PARENTS) if p >= 0)

LEFT_JOINTS: tuple[int, ...] = (4, 5, 6, 11, 12, 13)
RIGHT_JOINTS: tuple[int, ...] = (1, 2, 3, 14, 15, 16)

# Index permutation that swaps left and right joints (used for mirroring).
_SWAP = {**dict(zip(LEFT_JOINTS, RIGHT_JOINTS)), **dict(zip(RIGHT_JOINTS, LEFT_JOINTS))}
MIRROR_PERMUTATION: tuple[int, ...] = tuple(_SWAP.get(i, i) for i in range(NUM_JOINTS))

# Bones as (left, right) pairs of bone indices into BONES, for symmetry metrics.
SYMMETRIC_BONES: tuple[tuple[int, int], ...] = tuple(
    (BONES.index((lc, lp)), BONES.index((rc, rp)))
    for (lc, lp) in BONES
    for (rc, rp) in BONES
    if lc in LEFT_JOINTS and rc == MIRROR_PERMUTATION[lc]
)

# Limb groups, for per-limb bone-length augmentation: bones (by child joint) scaled together.
LIMB_GROUPS: dict[str, tuple[int, ...]] = {
    "right_leg": (1, 2, 3),
    "left_leg": (4, 5, 6),
    "torso": (7, 8),
    "head": (9, 10),
    "left_arm": (11, 12, 13),
    "right_arm": (14, 15, 16),
}


def bone_vectors(pose: np.ndarray) -> np.ndarray:
    """Vectors child - parent, shape ``[..., 16, 3]`` in BONES order."""
    child = [c for c, _ in BONES]
    parent = [p for _, p in BONES]
    return pose[..., child, :] - pose[..., parent, :]


def from_bone_vectors(vectors: np.ndarray) -> np.ndarray:
    """Root-relative poses ``[..., 17, 3]`` rebuilt from bone vectors ``[..., 16, 3]`` (BONES order)."""
    vectors = np.asarray(vectors)
    pose = np.zeros(vectors.shape[:-2] + (NUM_JOINTS, 3), dtype=np.result_type(vectors, np.float32))
    for bone, (child, parent) in enumerate(BONES):  # parents precede children
        pose[..., child, :] = pose[..., parent, :] + vectors[..., bone, :]
    return pose


def bone_lengths(pose: np.ndarray) -> np.ndarray:
    """Bone lengths, shape ``[..., 16]`` in BONES order."""
    return np.linalg.norm(bone_vectors(pose), axis=-1)


def mirror(pose: np.ndarray, axis: int = 0) -> np.ndarray:
    """Left/right mirror: negate one axis (x by default) and swap left and right joints."""
    out = pose[..., list(MIRROR_PERMUTATION), :].copy()
    out[..., axis] *= -1.0
    return out


def root_relative(pose: np.ndarray) -> np.ndarray:
    """Subtract the pelvis from every joint."""
    return pose - pose[..., :1, :]


ANKLE_HEIGHT_M = 0.07  # floor to ankle joint, added to the bone chains of a standing body
STATURE_TO_NOMINAL = 1.03  # nominal height / stature, measured on the 1.70 m Bandai-Namco body


def nominal_height(pose):
    """Standing height ``[...]`` from bone lengths alone (legs + trunk + head chains + ankle height), any pose.

    Works on numpy arrays and torch tensors. It is independent of the posture, so it measures body size.
    """
    d = pose[..., [c for c, _ in BONES], :] - pose[..., [p for _, p in BONES], :]
    lengths = ((d * d).sum(-1)) ** 0.5
    legs = 0.5 * (lengths[..., 1] + lengths[..., 2] + lengths[..., 4] + lengths[..., 5])  # thighs, shins
    return legs + lengths[..., 6] + lengths[..., 7] + lengths[..., 8] + lengths[..., 9] + ANKLE_HEIGHT_M


def stature_statistics(poses: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
    """``(stature_m, relative_sd)`` of a pose set ``[N, 17, 3]``: the (weighted) geometric mean of the statures
    (nominal height / ``STATURE_TO_NOMINAL``) and the standard deviation of their logarithm."""
    log_stature = np.log(nominal_height(np.asarray(poses, dtype=np.float64)) / STATURE_TO_NOMINAL)
    w = np.ones(len(log_stature)) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(log_stature) == 0 or w.shape != log_stature.shape or not (w >= 0).all() or w.sum() <= 0:
        raise ValueError("need poses and as many non-negative weights (not all zero)")
    w = w / w.sum()
    mean = float((w * log_stature).sum())
    return float(np.exp(mean)), float(np.sqrt((w * (log_stature - mean) ** 2).sum()))
