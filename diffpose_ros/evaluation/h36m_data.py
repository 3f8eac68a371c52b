"""Human3.6M data in the VideoPose3D layout, in the world frame (the prior's loader drops it), plus the protocol.

* ``data_3d_h36m.npz``: ``positions_3d[subject][action]`` = ``[N, 32, 3]`` metres, world frame (z up).
* ``data_2d_h36m_<name>.npz``: ``positions_2d[subject][action][cam_idx]`` = ``[N, 17, 2]`` image px (distorted,
  as seen in the video) and ``metadata`` (``layout_name``, ``num_joints``, ``keypoints_symmetry``). Detections in
  another layout (e.g. ``coco``) are not remapped: only 17-joint H36M-order files are accepted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.skeleton import NUM_JOINTS
from ..prior.h36m_npz import load_world_positions


@dataclass(frozen=True)
class Protocol:
    """Which frames are evaluated (the common test protocol by default)."""

    subjects: tuple[str, ...] = ("S9", "S11")
    cameras: tuple[int, ...] = (0, 1, 2, 3)
    stride: int = 64  # every n-th frame
    actions: tuple[str, ...] = ()  # empty = all; otherwise action base names (e.g. "Walking")
    max_frames_per_action: int = 0  # 0 = no cap (per subject/action/camera)

    def wants(self, action: str) -> bool:
        return not self.actions or action_base(action) in self.actions


@dataclass
class H36MSequence:
    """One subject/action: world poses and (optionally) 2D detections per camera."""

    subject: str
    action: str
    poses_world: np.ndarray  # [N, 17, 3] metres
    detections: dict[int, np.ndarray] = field(default_factory=dict)  # cam index -> [N, 17, 2] px


def action_base(action: str) -> str:
    """'Walking 1' -> 'Walking'; 'WalkDog' -> 'WalkDog' (VideoPose3D's per-action grouping)."""
    return action.split(" ")[0]


def load_positions_3d(path: "str | Path", subjects: "tuple[str, ...] | None" = None
                      ) -> dict[str, dict[str, np.ndarray]]:
    """subject -> action -> ``[N, 17, 3]`` world-frame poses in metres (H36M-17 order)."""
    return load_world_positions(path, subjects)


def load_positions_2d(path: "str | Path") -> dict[str, dict[str, list[np.ndarray]]]:
    """subject -> action -> per camera ``[N, 17, 2]`` px, from a VideoPose3D ``data_2d_h36m_*.npz``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"2D detections not found: {path}")
    with np.load(path, allow_pickle=True) as data:
        if "positions_2d" not in data:
            raise ValueError(f"{path} has no 'positions_2d' (not a VideoPose3D data_2d file)")
        meta = data["metadata"].item() if "metadata" in data else {}
        raw = data["positions_2d"].item()
    if meta.get("num_joints", NUM_JOINTS) != NUM_JOINTS or meta.get("layout_name", "h36m") not in ("h36m", "h36m17"):
        raise ValueError(f"{path}: layout {meta.get('layout_name')!r} with {meta.get('num_joints')} joints; "
                         "only 17-joint Human3.6M-order detections are supported")
    out: dict[str, dict[str, list[np.ndarray]]] = {}
    for subject, actions in raw.items():
        out[subject] = {}
        for action, cams in actions.items():
            arrs = [np.asarray(c, dtype=np.float64)[..., :2] for c in cams]
            for a in arrs:
                if a.ndim != 3 or a.shape[1] != NUM_JOINTS:
                    raise ValueError(f"{subject}/{action}: expected [N, 17, 2] detections, got {a.shape}")
            out[subject][action] = arrs
    return out


def iter_sequences(path_3d: "str | Path", protocol: Protocol, path_2d: "str | Path | None" = None
                   ) -> Iterator[H36MSequence]:
    """The protocol's subject/action sequences, in a stable order (subject, then action name)."""
    poses = load_positions_3d(path_3d, protocol.subjects)
    dets = load_positions_2d(path_2d) if path_2d else None
    for subject in protocol.subjects:
        if subject not in poses:
            raise KeyError(f"subject {subject} is not in {path_3d}")
        for action in sorted(poses[subject]):
            if not protocol.wants(action):
                continue
            seq = H36MSequence(subject, action, poses[subject][action])
            if dets is not None:
                cams = dets.get(subject, {}).get(action)
                if cams is None:
                    raise KeyError(f"{subject}/{action} has no 2D detections in {path_2d}")
                # VideoPose3D trims the 3D/2D sequences to the shorter one (a few frames differ).
                n = min(len(seq.poses_world), *(len(c) for c in cams))
                seq.poses_world = seq.poses_world[:n]
                seq.detections = {i: c[:n] for i, c in enumerate(cams)}
            yield seq


def frame_indices(num_frames: int, protocol: Protocol) -> np.ndarray:
    """Every ``stride``-th frame, capped at ``max_frames_per_action``."""
    idx = np.arange(0, num_frames, max(1, protocol.stride))
    return idx[: protocol.max_frames_per_action] if protocol.max_frames_per_action > 0 else idx
