"""Map BVH rigs (Bandai-Namco, CMU retargeted to Character Creator) to the H36M-17 skeleton.

Output poses are in metres, root-relative (pelvis = 0) and in the canonical camera-style frame of
:mod:`diffpose_ros.core.skeleton` (x right, y down, z forward). BVH worlds are Y-up, so the conversion
is a 180 degree rotation about x: ``(X, Y, Z) -> (X, -Y, -Z)`` (a proper rotation: no mirroring).

Joint definitions shared by all rigs:

* pelvis = centre of the two hip joints (the H36M root sits between the hips);
* spine = mean of the rig's mid-torso joints, thorax = base of the neck;
* neck_nose and head_top have no joint in these rigs: they are points fixed in the head joint's frame,
  ``head + R_head @ (a * up_local + b * forward_local)``, where the head-local up/forward axes are
  estimated once per take (mean over frames of the neck direction and of the body's forward direction
  expressed in the head frame). So the head's own nodding/turning is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffpose_ros.core import skeleton
from diffpose_ros.prior.bvh import Bvh, PositionMode, forward_kinematics

# BVH Y-up world -> canonical camera-style axes (x right, y down, z forward).
BVH_TO_CANONICAL = np.diag([1.0, -1.0, -1.0])

# Head points in metres along the head's (up, forward) axes from the head joint (H36M-like proportions:
# thorax -> neck_nose ~0.13 m, neck_nose -> head_top ~0.12 m for a 1.7 m person).
NOSE_OFFSET_M = (0.035, 0.09)
HEAD_TOP_OFFSET_M = (0.14, 0.03)


@dataclass(frozen=True)
class RigSpec:
    """How to read one rig: joint names per H36M joint, units and BVH position-channel convention."""

    name: str
    unit_to_m: float
    position_mode: PositionMode
    hips: tuple[str, str]  # (right, left)
    knees: tuple[str, str]
    ankles: tuple[str, str]
    toes: tuple[str, str]
    shoulders: tuple[str, str]
    elbows: tuple[str, str]
    wrists: tuple[str, str]
    spine: tuple[str, ...]
    thorax: str
    head: str


BANDAI = RigSpec(
    name="bandai",
    unit_to_m=0.0115,  # ~cm, but the actor then measures ~1.48 m: scaled so the standing actor is ~1.70 m
    position_mode="replace",  # every joint has 6 channels whose positions repeat the OFFSET
    hips=("UpperLeg_R", "UpperLeg_L"),
    knees=("LowerLeg_R", "LowerLeg_L"),
    ankles=("Foot_R", "Foot_L"),
    toes=("Toes_R", "Toes_L"),
    shoulders=("UpperArm_R", "UpperArm_L"),
    elbows=("LowerArm_R", "LowerArm_L"),
    wrists=("Hand_R", "Hand_L"),
    spine=("Spine", "Chest"),
    thorax="Neck",
    head="Head",
)

CHARACTER_CREATOR = RigSpec(
    name="cc",
    unit_to_m=0.01,  # centimetres
    position_mode="add",  # root OFFSET is the rest hip height, root channels are displacements
    hips=("CC_Base_R_Thigh", "CC_Base_L_Thigh"),
    knees=("CC_Base_R_Calf", "CC_Base_L_Calf"),
    ankles=("CC_Base_R_Foot", "CC_Base_L_Foot"),
    toes=("CC_Base_R_ToeBase", "CC_Base_L_ToeBase"),
    shoulders=("CC_Base_R_Upperarm", "CC_Base_L_Upperarm"),
    elbows=("CC_Base_R_Forearm", "CC_Base_L_Forearm"),
    wrists=("CC_Base_R_Hand", "CC_Base_L_Hand"),
    spine=("CC_Base_Spine02",),
    thorax="CC_Base_NeckTwist01",
    head="CC_Base_Head",
)

RIGS = {rig.name: rig for rig in (BANDAI, CHARACTER_CREATOR)}


def detect_rig(bvh: Bvh) -> RigSpec:
    """Pick the rig spec whose joint names all exist in the file."""
    names = set(bvh.names)
    for rig in RIGS.values():
        needed = {*rig.hips, *rig.knees, *rig.ankles, *rig.shoulders, *rig.elbows, *rig.wrists, rig.thorax, rig.head}
        if needed <= names:
            return rig
    raise ValueError(f"unknown BVH rig (root {bvh.joints[0].name!r}); known rigs: {', '.join(RIGS)}")


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def head_points(head: np.ndarray, head_rot: np.ndarray, thorax: np.ndarray, left_dir: np.ndarray,
                offsets_m: list[tuple[float, float]], unit_to_m: float) -> list[np.ndarray]:
    """Points fixed in the head frame: ``head + R_head @ (a * up_local + b * fwd_local)`` per (a, b) in metres.

    All inputs in the same world frame (Y up); ``left_dir`` is the body's left direction per frame.
    """
    up_world = _unit(head - thorax)
    fwd_world = _unit(np.cross(left_dir, up_world))  # right-handed: forward = left x up
    up_local = _unit(np.einsum("fji,fj->fi", head_rot, up_world).mean(0))
    fwd_local = np.einsum("fji,fj->fi", head_rot, fwd_world).mean(0)
    fwd_local = _unit(fwd_local - up_local * (fwd_local @ up_local))
    out = []
    for a, b in offsets_m:
        local = (a * up_local + b * fwd_local) / unit_to_m
        out.append(head + np.einsum("fij,j->fi", head_rot, local))
    return out


def bvh_to_h36m(bvh: Bvh, rig: RigSpec | None = None, frames: np.ndarray | slice = slice(None),
                root_relative: bool = True) -> np.ndarray:
    """H36M-17 poses ``[F, 17, 3]`` in metres and canonical camera axes from a BVH take."""
    rig = rig or detect_rig(bvh)
    pos, rot = forward_kinematics(bvh, rig.position_mode, frames, return_rotations=True)

    def joint(name: str) -> np.ndarray:
        return pos[:, bvh.index(name)]

    r_hip, l_hip = joint(rig.hips[0]), joint(rig.hips[1])
    thorax = joint(rig.thorax)
    head = joint(rig.head)
    nose, top = head_points(head, rot[:, bvh.index(rig.head)], thorax, l_hip - r_hip,
                            [NOSE_OFFSET_M, HEAD_TOP_OFFSET_M], rig.unit_to_m)
    named = {
        "pelvis": 0.5 * (r_hip + l_hip),
        "right_hip": r_hip, "right_knee": joint(rig.knees[0]), "right_ankle": joint(rig.ankles[0]),
        "left_hip": l_hip, "left_knee": joint(rig.knees[1]), "left_ankle": joint(rig.ankles[1]),
        "spine": np.mean([joint(n) for n in rig.spine], axis=0),
        "thorax": thorax, "neck_nose": nose, "head_top": top,
        "left_shoulder": joint(rig.shoulders[1]), "left_elbow": joint(rig.elbows[1]),
        "left_wrist": joint(rig.wrists[1]),
        "right_shoulder": joint(rig.shoulders[0]), "right_elbow": joint(rig.elbows[0]),
        "right_wrist": joint(rig.wrists[0]),
    }
    poses = np.stack([named[n] for n in skeleton.JOINT_NAMES], axis=1) * rig.unit_to_m
    poses = poses @ BVH_TO_CANONICAL.T
    return poses - poses[:, :1] if root_relative else poses


def toe_positions(bvh: Bvh, rig: RigSpec | None = None, frames: np.ndarray | slice = slice(None)) -> np.ndarray:
    """Right and left toe positions ``[F, 2, 3]`` in metres, canonical axes, same origin as root_relative=False."""
    rig = rig or detect_rig(bvh)
    pos = forward_kinematics(bvh, rig.position_mode, frames)
    toes = np.stack([pos[:, bvh.index(n)] for n in rig.toes], axis=1) * rig.unit_to_m
    return toes @ BVH_TO_CANONICAL.T
