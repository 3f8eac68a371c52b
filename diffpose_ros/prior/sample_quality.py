"""Sample-quality metrics for 3D pose sets (generated vs held-out mocap).

All poses are ``[N, 17, 3]`` metres, root-relative, canonical axes. Every metric is meant to be reported
next to the same metric computed for a second held-out set, which is what a perfect prior would score.

* bone proportions: bone length / nominal height vs the held-out distribution (relative deviation);
* left/right symmetry of bone lengths: |log(l_left / l_right)|;
* joint-angle plausibility: knee/elbow flexion in [0, 160] deg, no knee hyper-extension, head above thorax
  and a spine that is not folded, all relative to the body's own frame (so bows are allowed);
* distribution distances after yaw canonicalisation: RBF-kernel MMD, nearest-neighbour MPJPE both ways,
  and the nearest-neighbour distance to the training set (memorisation check).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffpose_ros.core import skeleton
from diffpose_ros.core.skeleton import nominal_height

KNEE_MAX_DEG = 160.0
ELBOW_MAX_DEG = 160.0
KNEE_HYPEREXTENSION_DEG = 15.0  # tolerance: estimated hinge axes are approximate
SPINE_MAX_BEND_DEG = 90.0


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(np.sum(_unit(a) * _unit(b), -1), -1.0, 1.0)))


def body_frame(poses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pose (left, up, forward) unit vectors from hips and torso (right-handed: forward = left x up)."""
    left = _unit(poses[:, 4] - poses[:, 1])
    up = _unit(poses[:, 8] - poses[:, 0])
    forward = _unit(np.cross(left, up))
    return left, up, forward


def yaw_canonicalise(poses: np.ndarray) -> np.ndarray:
    """Rotate each pose about the vertical (y) axis so its hip line (left hip - right hip) points along +x."""
    hip = poses[:, 4] - poses[:, 1]
    angle = np.arctan2(hip[:, 2], hip[:, 0])  # rotate by -angle about y
    c, s = np.cos(angle), np.sin(angle)
    rot = np.zeros((len(poses), 3, 3))
    rot[:, 0, 0], rot[:, 0, 2], rot[:, 1, 1], rot[:, 2, 0], rot[:, 2, 2] = c, s, 1.0, -s, c
    return np.einsum("nij,nkj->nki", rot, poses)


def joint_angle_checks(poses: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean pass/fail per pose for each anatomical check."""
    left, up, _ = body_frame(poses)
    out: dict[str, np.ndarray] = {}
    knees_ok, hyper_ok, elbows_ok = [], [], []
    for hip, knee, ankle in ((1, 2, 3), (4, 5, 6)):
        thigh, shin = poses[:, knee] - poses[:, hip], poses[:, ankle] - poses[:, knee]
        flexion = _angle_deg(thigh, shin)
        knees_ok.append(flexion <= KNEE_MAX_DEG)
        # Knee flexion moves the ankle backwards: thigh x shin points along +left. Opposite sign = hyper-extension.
        signed = np.sum(_unit(np.cross(thigh, shin)) * left, -1) * flexion
        hyper_ok.append(signed >= -KNEE_HYPEREXTENSION_DEG)
    for shoulder, elbow, wrist in ((11, 12, 13), (14, 15, 16)):
        flexion = _angle_deg(poses[:, elbow] - poses[:, shoulder], poses[:, wrist] - poses[:, elbow])
        elbows_ok.append(flexion <= ELBOW_MAX_DEG)
    out["knee_flexion_in_range"] = np.logical_and(*knees_ok)
    out["no_knee_hyperextension"] = np.logical_and(*hyper_ok)
    out["elbow_flexion_in_range"] = np.logical_and(*elbows_ok)
    out["head_above_thorax"] = np.sum((poses[:, 10] - poses[:, 8]) * up, -1) > 0
    out["spine_not_folded"] = _angle_deg(poses[:, 7] - poses[:, 0], poses[:, 8] - poses[:, 7]) <= SPINE_MAX_BEND_DEG
    out["all"] = np.logical_and.reduce(list(out.values()))
    return out


def symmetry_error(poses: np.ndarray) -> np.ndarray:
    """Per pose: mean over left/right bone pairs of |log(l_left / l_right)| (0 = symmetric)."""
    lengths = skeleton.bone_lengths(poses)
    pairs = np.array(skeleton.SYMMETRIC_BONES)
    return np.abs(np.log(lengths[:, pairs[:, 0]] / np.maximum(lengths[:, pairs[:, 1]], 1e-9))).mean(-1)


@dataclass
class ProportionStats:
    """Reference bone-proportion distribution (bone length / nominal height)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def from_poses(cls, poses: np.ndarray) -> "ProportionStats":
        props = skeleton.bone_lengths(poses) / nominal_height(poses)[:, None]
        return cls(props.mean(0), props.std(0))

    def relative_deviation(self, poses: np.ndarray) -> np.ndarray:
        """Per pose: mean over bones of |proportion - reference mean| / reference mean."""
        props = skeleton.bone_lengths(poses) / nominal_height(poses)[:, None]
        return (np.abs(props - self.mean) / self.mean).mean(-1)

    def within_3_sigma(self, poses: np.ndarray) -> np.ndarray:
        props = skeleton.bone_lengths(poses) / nominal_height(poses)[:, None]
        return (np.abs(props - self.mean) <= 3 * self.std + 1e-3).all(-1)


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum((a**2).sum(-1)[:, None] + (b**2).sum(-1)[None] - 2 * a @ b.T, 0.0)


def mmd_rbf(x: np.ndarray, y: np.ndarray, bandwidth: float) -> float:
    """Unbiased squared MMD between sample sets ``[N, D]`` and ``[M, D]`` with an RBF kernel."""
    gamma = 1.0 / (2 * bandwidth**2)
    kxx, kyy, kxy = np.exp(-gamma * _sq_dists(x, x)), np.exp(-gamma * _sq_dists(y, y)), np.exp(-gamma * _sq_dists(x, y))
    n, m = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2 * kxy.mean())


def median_bandwidth(x: np.ndarray) -> float:
    """Median pairwise distance (the usual RBF bandwidth heuristic)."""
    d = np.sqrt(_sq_dists(x, x))
    return float(np.median(d[np.triu_indices(len(x), 1)]))


def nn_mpjpe(a: np.ndarray, b: np.ndarray, chunk: int = 512) -> np.ndarray:
    """For each pose of ``a``, the MPJPE (metres) to its nearest neighbour in ``b`` (both yaw-canonical)."""
    out = np.empty(len(a))
    for start in range(0, len(a), chunk):
        block = a[start:start + chunk]
        # Pre-select candidates by flattened L2, then exact MPJPE among the 8 nearest.
        cand = np.argpartition(_sq_dists(block.reshape(len(block), -1), b.reshape(len(b), -1)),
                               kth=min(8, len(b) - 1), axis=1)[:, :8]
        err = np.linalg.norm(block[:, None] - b[cand], axis=-1).mean(-1)
        out[start:start + chunk] = err.min(1)
    return out


def evaluate(poses: np.ndarray, holdout: np.ndarray, train: np.ndarray, bandwidth: float | None = None,
             proportions: ProportionStats | None = None) -> dict[str, float]:
    """All metrics for one pose set against a held-out set (and the training set for memorisation)."""
    poses = poses - poses[:, :1]
    proportions = proportions or ProportionStats.from_poses(holdout)
    canon, canon_h, canon_t = yaw_canonicalise(poses), yaw_canonicalise(holdout), yaw_canonicalise(train)
    flat, flat_h = canon[:, 1:].reshape(len(canon), -1), canon_h[:, 1:].reshape(len(canon_h), -1)
    bandwidth = bandwidth or median_bandwidth(flat_h)
    checks = joint_angle_checks(poses)
    sym = symmetry_error(poses)
    out: dict[str, float] = {
        "n": float(len(poses)),
        "bone_proportion_rel_dev_%": 100 * float(proportions.relative_deviation(poses).mean()),
        "bone_proportions_within_3sigma_%": 100 * float(proportions.within_3_sigma(poses).mean()),
        "lr_symmetry_err_%": 100 * float(sym.mean()),
        "lr_symmetric_within_5%_%": 100 * float((sym < 0.05).mean()),
        "nominal_height_mean_m": float(nominal_height(poses).mean()),
    }
    out.update({f"angles_{k}_%": 100 * float(v.mean()) for k, v in checks.items()})
    out["mmd_rbf_x1e3"] = 1e3 * mmd_rbf(flat, flat_h, bandwidth)
    out["nn_to_holdout_mm"] = 1e3 * float(nn_mpjpe(canon, canon_h).mean())
    out["nn_from_holdout_mm"] = 1e3 * float(nn_mpjpe(canon_h, canon).mean())
    out["nn_to_train_mm"] = 1e3 * float(nn_mpjpe(canon, canon_t).mean())
    return out
