"""Temporal coherence per track: a constant-velocity Kalman filter on log pelvis depth, and track memory.

Scaling a whole camera-frame skeleton about the camera centre leaves every 2D projection unchanged (the
monocular depth/size ambiguity), so the filtered depth is applied as one scale factor per frame: depth and
body size of a track move smoothly while the hypotheses stay exactly as consistent with the image as sampled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class LogDepthFilter:
    """1D constant-velocity Kalman filter on ``log(depth)`` (units: frames).

    ``accel_std``: expected change of the log-depth velocity per frame (a walking person at 4 m changes
    depth by ~3% per 0.1 s); ``meas_std``: log-depth noise of one frame's estimate.
    """

    accel_std: float = 0.01
    meas_std: float = 0.08
    x: np.ndarray | None = None  # [log depth, velocity per frame]
    P: np.ndarray = field(default_factory=lambda: np.eye(2))

    def update(self, depth: float, dt: float = 1.0) -> float:
        """Add one measurement ``dt`` frames after the previous; returns the filtered depth."""
        z = math.log(max(float(depth), 1e-3))
        r = self.meas_std ** 2
        if self.x is None:
            self.x = np.array([z, 0.0])
            self.P = np.diag([r, (2 * self.meas_std) ** 2])
            return float(depth)
        F = np.array([[1.0, dt], [0.0, 1.0]])
        G = np.array([0.5 * dt * dt, dt])
        self.x = F @ self.x
        self.P = F @ self.P @ F.T + np.outer(G, G) * self.accel_std ** 2
        S = self.P[0, 0] + r
        K = self.P[:, 0] / S
        self.x = self.x + K * (z - self.x[0])
        self.P = self.P - np.outer(K, self.P[0])
        return float(math.exp(self.x[0]))


@dataclass
class TrackMemory:
    """What one track carries from frame to frame."""

    depth: LogDepthFilter
    hypotheses_rr: np.ndarray | None = None  # [m, 17, 3] last output, root-relative (warm start)
    depth_m: float = 4.0  # last output pelvis depth
    last_frame: int = -1


def rescale_about_camera(person, scale: float):
    """A PersonEstimate with every camera-frame quantity scaled by ``scale`` (2D projections unchanged)."""
    import dataclasses

    return dataclasses.replace(person, hypotheses=person.hypotheses * scale, mean=person.mean * scale,
                               spread=person.spread * scale)
