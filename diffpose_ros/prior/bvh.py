"""BVH (Biovision hierarchy) reader and vectorised forward kinematics.

Supports any rig: arbitrary hierarchies, any number/order of channels per joint (3-channel rotations,
6-channel joints anywhere in the tree), and End Sites (kept as joints named ``<parent>_End`` with no
channels). Rotation channels compose in the order listed, as intrinsic rotations:
``CHANNELS 3 Zrotation Xrotation Yrotation`` means ``R_local = Rz @ Rx @ Ry`` and a child point p in the
joint's frame is ``R_parent_global @ (translation + R_local @ p)`` in the parent's frame.

Position channels: with ``position_mode="replace"`` (default; the common convention, e.g. Bandai-Namco
files whose 6-channel joints repeat their OFFSET in the motion data) the channel values replace the
OFFSET components they name; with ``"add"`` they are added to it (Character Creator / iClone exports,
whose root OFFSET is the rest height and whose root channels are displacements).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

PositionMode = Literal["replace", "add"]
_AXIS = {"X": 0, "Y": 1, "Z": 2}


@dataclass
class BvhJoint:
    """One node of the hierarchy (``channels`` empty for End Sites)."""

    name: str
    parent: int
    offset: np.ndarray
    channels: list[str] = field(default_factory=list)
    channel_start: int = 0
    is_end_site: bool = False


@dataclass
class Bvh:
    """A parsed BVH file: joints (parents before children), frame time and motion ``[F, C]``."""

    joints: list[BvhJoint]
    frame_time: float
    motion: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def names(self) -> list[str]:
        return [j.name for j in self.joints]

    def index(self, name: str) -> int:
        """Index of a joint by name (KeyError listing close names if missing)."""
        for i, joint in enumerate(self.joints):
            if joint.name == name:
                return i
        raise KeyError(f"joint {name!r} not in BVH (joints: {', '.join(self.names[:40])}...)")

    def rest_offsets(self) -> np.ndarray:
        """OFFSETs of all joints, ``[J, 3]``."""
        return np.stack([j.offset for j in self.joints])


class BvhParseError(ValueError):
    """Raised for malformed BVH text."""


def parse_bvh(text: str) -> Bvh:
    """Parse BVH text into a :class:`Bvh`."""
    head, sep, motion_text = text.partition("MOTION")
    if not sep:
        raise BvhParseError("no MOTION section")
    tokens = head.split()
    if not tokens or tokens[0] != "HIERARCHY":
        raise BvhParseError("file does not start with HIERARCHY")
    joints: list[BvhJoint] = []
    stack: list[int] = []
    num_channels = 0
    pending: BvhJoint | None = None
    i = 1
    while i < len(tokens):
        tok = tokens[i]
        if tok in ("ROOT", "JOINT"):
            pending = BvhJoint(tokens[i + 1], stack[-1] if stack else -1, np.zeros(3))
            i += 2
        elif tok == "End":  # "End Site"
            parent = stack[-1]
            pending = BvhJoint(joints[parent].name + "_End", parent, np.zeros(3), is_end_site=True)
            i += 2
        elif tok == "{":
            if pending is None:
                raise BvhParseError("'{' without a joint")
            joints.append(pending)
            stack.append(len(joints) - 1)
            pending = None
            i += 1
        elif tok == "}":
            if not stack:
                raise BvhParseError("unbalanced '}'")
            stack.pop()
            i += 1
        elif tok == "OFFSET":
            joints[stack[-1]].offset = np.array([float(v) for v in tokens[i + 1:i + 4]])
            i += 4
        elif tok == "CHANNELS":
            count = int(tokens[i + 1])
            joint = joints[stack[-1]]
            joint.channels = tokens[i + 2:i + 2 + count]
            joint.channel_start = num_channels
            bad = [c for c in joint.channels if not re.fullmatch(r"[XYZ](position|rotation)", c)]
            if bad:
                raise BvhParseError(f"unknown channel(s) {bad} in joint {joint.name}")
            num_channels += count
            i += 2 + count
        else:
            raise BvhParseError(f"unexpected token {tok!r} in HIERARCHY")
    if stack or not joints:
        raise BvhParseError("unbalanced braces or empty hierarchy")

    frames_match = re.search(r"Frames:\s*(\d+)", motion_text)
    time_match = re.search(r"Frame Time:\s*([-+0-9.eE]+)", motion_text)
    if not frames_match or not time_match:
        raise BvhParseError("MOTION section lacks 'Frames:' or 'Frame Time:'")
    num_frames = int(frames_match.group(1))
    values = np.array(motion_text[time_match.end():].split(), dtype=np.float64)
    if values.size < num_frames * num_channels:
        raise BvhParseError(f"expected {num_frames} x {num_channels} motion values, found {values.size}")
    motion = values[: num_frames * num_channels].reshape(num_frames, num_channels)
    return Bvh(joints, float(time_match.group(1)), motion)


def read_bvh(source: str | Path | io.IOBase | bytes) -> Bvh:
    """Read a BVH from a path, a binary/text file object or raw bytes."""
    if isinstance(source, bytes):
        text = source.decode("utf-8", errors="replace")
    elif isinstance(source, str | Path):
        text = Path(source).read_text(encoding="utf-8", errors="replace")
    else:
        data = source.read()
        text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    return parse_bvh(text)


def axis_rotation(axis: int, angle_rad: np.ndarray) -> np.ndarray:
    """Rotation matrices ``[F, 3, 3]`` about one coordinate axis (right-handed, counter-clockwise)."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    mat = np.zeros((*angle_rad.shape, 3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    mat[..., axis, axis] = 1.0
    mat[..., i, i] = c
    mat[..., j, j] = c
    mat[..., i, j] = -s
    mat[..., j, i] = s
    return mat


def local_transforms(bvh: Bvh, joint: BvhJoint, position_mode: PositionMode = "replace",
                     frames: np.ndarray | slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
    """Local rotation ``[F, 3, 3]`` and translation ``[F, 3]`` of one joint for the selected frames."""
    values = bvh.motion[frames]
    num = values.shape[0]
    rot = np.broadcast_to(np.eye(3), (num, 3, 3)).copy()
    trans = np.broadcast_to(joint.offset, (num, 3)).copy()
    for k, channel in enumerate(joint.channels):
        col = values[:, joint.channel_start + k]
        axis = _AXIS[channel[0]]
        if channel.endswith("rotation"):
            rot = rot @ axis_rotation(axis, np.deg2rad(col))
        elif position_mode == "replace":
            trans[:, axis] = col
        else:
            trans[:, axis] += col
    return rot, trans


def forward_kinematics(bvh: Bvh, position_mode: PositionMode = "replace", frames: np.ndarray | slice = slice(None),
                       return_rotations: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Global joint positions ``[F, J, 3]`` (file units and axes) for all joints incl. End Sites.

    With ``return_rotations`` also the global joint rotations ``[F, J, 3, 3]``.
    """
    num = bvh.motion[frames].shape[0]
    num_joints = len(bvh.joints)
    positions = np.zeros((num, num_joints, 3))
    rotations = np.zeros((num, num_joints, 3, 3))
    for j, joint in enumerate(bvh.joints):
        rot, trans = local_transforms(bvh, joint, position_mode, frames)
        if joint.parent < 0:
            positions[:, j] = trans
            rotations[:, j] = rot
        else:
            parent_rot = rotations[:, joint.parent]
            positions[:, j] = positions[:, joint.parent] + np.einsum("fij,fj->fi", parent_rot, trans)
            rotations[:, j] = parent_rot @ rot
    return (positions, rotations) if return_rotations else positions
