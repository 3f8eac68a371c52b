"""Loader for VideoPose3D's ``data_3d_h36m.npz`` (Human3.6M 3D poses, 32 joints, metres, world frame z up).

The file holds ``positions_3d``: a pickled dict subject -> action -> ``[N, 32, 3]``. Poses are reduced to
H36M-17 with the standard index map, made root-relative and rotated into the canonical camera-style frame
(x right, y down, z forward) by ``(x, y, z) -> (x, -z, y)`` (a proper rotation, no mirroring).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

# VideoPose3D's 32 -> 17 joint selection (order = diffpose_ros.core.skeleton.JOINT_NAMES).
H36M32_TO_17: tuple[int, ...] = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
Z_UP_TO_CANONICAL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def z_up_to_canonical(points: np.ndarray) -> np.ndarray:
    """Rotate z-up world points ``[..., 3]`` into the canonical y-down frame."""
    return points @ Z_UP_TO_CANONICAL.T


def load_world_positions(path: str | Path, subjects: Iterable[str] | None = None
                         ) -> dict[str, dict[str, np.ndarray]]:
    """subject -> action -> ``[N, 17, 3]`` float64 world-frame poses (metres, z up, H36M-17 order).

    The npz stores a pickled dict, so only load files you trust (``allow_pickle`` is needed).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"VideoPose3D 3D data not found: {path}")
    with np.load(path, allow_pickle=True) as data:
        if "positions_3d" not in data:
            raise ValueError(f"{path} has no 'positions_3d' entry (not a VideoPose3D data_3d file)")
        raw = data["positions_3d"].item()
    wanted = set(subjects) if subjects is not None else None
    out: dict[str, dict[str, np.ndarray]] = {}
    for subject, actions in raw.items():
        if wanted is not None and subject not in wanted:
            continue
        out[subject] = {}
        for action, frames in actions.items():
            frames = np.asarray(frames, dtype=np.float64)
            if frames.ndim != 3 or frames.shape[1:] != (32, 3):
                raise ValueError(f"{subject}/{action}: expected [N, 32, 3], got {frames.shape}")
            out[subject][action] = frames[:, list(H36M32_TO_17)]
    return out


def load_videopose3d_npz(path: str | Path, subjects: Iterable[str] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """subject -> action -> ``[N, 17, 3]`` float32 poses (metres, root-relative, canonical axes)."""
    return {subject: {action: z_up_to_canonical(p - p[:, :1]).astype(np.float32) for action, p in actions.items()}
            for subject, actions in load_world_positions(path, subjects).items()}
