"""Mocap stored as joint positions (npz, one ``[N, J, 3]`` array per take) -> H36M-17 poses.

Two position rigs are known (see ``../shared/data/README.md`` for their files):

* ``cmu_pos``: CMU Graphics Lab mocap as prepared for motion prediction (DMGNN exp-map files run through FK),
  38 ASF joints, keys ``<dmgnn split>/<action>/<stem>``, 30 fps;
* ``deepmimic``: the 15 DeepMimic humanoid clips of the pybullet wheel, 19 joints, keys = clip names, 30 fps.

Both are metres, Y up, right-handed and not mirrored, so the conversion to the canonical camera-style frame
(x right, y down, z forward) is the same proper rotation as for BVH: ``(X, Y, Z) -> (X, -Y, -Z)``.
Each file holds one fixed body whose proportions are not the performer's (CMU: zero-length thorax bone, so
the neck and shoulders start 5 cm low and the stature is ~1.47 m; DeepMimic: head points are the centre and
top of a collision sphere). :func:`rescale_bones` therefore sets every bone to an H36M-like reference length
(:data:`REFERENCE_BONE_LENGTHS_M`), keeping all bone directions; the training augmentation then varies limb
proportions and body size around it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diffpose_ros.core import skeleton
from diffpose_ros.prior.rig_mapping import BVH_TO_CANONICAL

# Bone lengths (metres, skeleton.BONES order) that position rigs are rescaled to: the medians of the
# Bandai-Namco ds1 takes as mapped by rig_mapping (one 1.70 m adult whose head points were placed for
# H36M-like proportions), so that all sources share one body and differ in pose only.
REFERENCE_BONE_LENGTHS_M: dict[str, float] = {
    "hip": 0.074, "thigh": 0.449, "shin": 0.471,
    "pelvis_spine": 0.258, "spine_thorax": 0.240, "thorax_nose": 0.142, "nose_head": 0.121,
    "shoulder": 0.125, "upper_arm": 0.280, "forearm": 0.256,
}
_BONE_KIND = {  # child joint -> REFERENCE_BONE_LENGTHS_M key
    1: "hip", 2: "thigh", 3: "shin", 4: "hip", 5: "thigh", 6: "shin", 7: "pelvis_spine", 8: "spine_thorax",
    9: "thorax_nose", 10: "nose_head", 11: "shoulder", 12: "upper_arm", 13: "forearm", 14: "shoulder",
    15: "upper_arm", 16: "forearm",
}


def reference_bone_lengths() -> np.ndarray:
    """``[16]`` reference lengths in skeleton.BONES order."""
    return np.array([REFERENCE_BONE_LENGTHS_M[_BONE_KIND[child]] for child, _ in skeleton.BONES])


@dataclass(frozen=True)
class PositionRig:
    """How to read one positions npz: file name, H36M-17 joint sources, frame rate, extra joints."""

    name: str
    file: str
    fps: float
    # Per H36M-17 joint (skeleton.JOINT_NAMES order): source joint indices whose mean is that joint.
    h36m: tuple[tuple[int, ...], ...]
    toes: tuple[int, int]  # (right, left) toe joints, for foot-direction checks
    rescale: bool = True


CMU_POS = PositionRig(
    name="cmu_pos", file="cmu_expmap_positions.npz", fps=30.0,
    h36m=((2, 8), (8,), (9,), (10,), (2,), (3,), (4,), (14,), (15,), (18,), (19,), (21,), (22,), (23,),
          (30,), (31,), (32,)),
    toes=(11, 5),
)
DEEPMIMIC = PositionRig(
    name="deepmimic", file="deepmimic_positions.npz", fps=30.0,
    h36m=((0,), (3,), (4,), (5,), (9,), (10,), (11,), (1,), (2,), (15,), (16,), (12,), (13,), (14,), (6,), (7,),
          (8,)),
    toes=(17, 18),
)
POSITION_RIGS = {rig.name: rig for rig in (CMU_POS, DEEPMIMIC)}
META_KEYS = ("joint_names", "parents")


def to_canonical(points: np.ndarray) -> np.ndarray:
    """Y-up world points ``[..., 3]`` -> canonical camera-style axes (a 180 degree rotation about x)."""
    return points @ BVH_TO_CANONICAL.T


def map_to_h36m(positions: np.ndarray, rig: PositionRig) -> np.ndarray:
    """``[F, J, 3]`` rig positions (Y up) -> ``[F, 17, 3]`` H36M-17, canonical axes, root-relative, not rescaled."""
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[2] != 3:
        raise ValueError(f"{rig.name}: expected [F, J, 3] positions, got {positions.shape}")
    needed = max(max(ix) for ix in rig.h36m)
    if positions.shape[1] <= needed:
        raise ValueError(f"{rig.name}: expected at least {needed + 1} joints, got {positions.shape[1]}")
    poses = np.stack([positions[:, list(ix)].mean(axis=1) for ix in rig.h36m], axis=1)
    poses = to_canonical(poses)
    return poses - poses[:, :1]


def rescale_bones(poses: np.ndarray, target: np.ndarray | None = None) -> np.ndarray:
    """Set each bone of root-relative poses ``[F, 17, 3]`` to ``target`` length ``[16]`` (default: the reference).

    One factor per bone (target / median length over the frames), so bone directions and any frame-to-frame
    length jitter are kept; the pelvis stays at the origin.
    """
    target = reference_bone_lengths() if target is None else np.asarray(target)
    vectors = skeleton.bone_vectors(poses)
    lengths = np.median(np.linalg.norm(vectors, axis=-1), axis=0)
    if np.any(lengths < 1e-6):
        raise ValueError("cannot rescale a zero-length bone")
    return skeleton.from_bone_vectors(vectors * (target / lengths)[None, :, None]).astype(poses.dtype, copy=False)


def iter_npz_takes(path: str | Path) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (take key, ``[F, J, 3]`` positions) for every take array of a positions npz, in key order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"positions npz missing: {path}")
    with np.load(path, allow_pickle=False) as data:
        for key in sorted(k for k in data.files if k not in META_KEYS):
            yield key, data[key]


def load_rig_takes(rig: PositionRig, path: str | Path, frame_step_s: float = 0.0
                   ) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (take key, ``[F, 17, 3]`` float32 H36M-17 poses) for every take, subsampled to ``frame_step_s``."""
    stride = max(1, round(frame_step_s * rig.fps))
    for key, positions in iter_npz_takes(path):
        poses = map_to_h36m(positions[::stride], rig)
        if rig.rescale:
            poses = rescale_bones(poses)
        yield key, poses.astype(np.float32)
