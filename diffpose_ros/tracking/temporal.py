"""Temporal coherence per track: constant-velocity Kalman filters on log pelvis depth and on the hypotheses.

Scaling a whole camera-frame skeleton about the camera centre leaves every 2D projection unchanged (the
monocular depth/size ambiguity), so the filtered depth is applied as one scale factor per frame: depth and
body size of a track move smoothly while the hypotheses stay exactly as consistent with the image as sampled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class ConstantVelocityFilter:
    """Independent constant-velocity Kalman filters on every element of an array (units: frames).

    ``accel_std``: expected change of velocity per frame; ``meas_std``: noise of one measurement. The
    first measurement initialises (position = measurement, velocity 0).
    """

    def __init__(self, accel_std: float, meas_std: float) -> None:
        self.accel_std, self.meas_std = float(accel_std), float(meas_std)
        self.x: np.ndarray | None = None  # [..., 2] position, velocity
        self.P: np.ndarray | None = None  # [..., 3] covariance entries pp, pv, vv

    def update(self, z: np.ndarray, dt: float = 1.0) -> np.ndarray:
        """Add one measurement ``dt`` frames after the previous; returns the filtered positions."""
        z = np.asarray(z, dtype=np.float64)
        r = self.meas_std ** 2
        if self.x is None or self.x.shape[:-1] != z.shape:
            self.x = np.stack([z, np.zeros_like(z)], -1)
            self.P = np.stack([np.full_like(z, r), np.zeros_like(z), np.full_like(z, 4 * r)], -1)
            return z.copy()
        q = self.accel_std ** 2
        pp, pv, vv = self.P[..., 0], self.P[..., 1], self.P[..., 2]
        pos = self.x[..., 0] + dt * self.x[..., 1]
        pp = pp + 2 * dt * pv + dt * dt * vv + 0.25 * dt ** 4 * q
        pv = pv + dt * vv + 0.5 * dt ** 3 * q
        vv = vv + dt * dt * q
        k0, k1 = pp / (pp + r), pv / (pp + r)
        innov = z - pos
        self.x = np.stack([pos + k0 * innov, self.x[..., 1] + k1 * innov], -1)
        self.P = np.stack([(1 - k0) * pp, (1 - k0) * pv, vv - k1 * pv], -1)
        return self.x[..., 0].copy()


@dataclass
class TrackMemory:
    """What one track carries from frame to frame."""

    depth: ConstantVelocityFilter  # on log pelvis depth
    pose: ConstantVelocityFilter  # on the root-relative hypotheses [m, 17, 3] (row i follows hypothesis i)
    hypotheses_rr: np.ndarray | None = None  # [m, 17, 3] last output, root-relative (warm start)
    depth_m: float = 4.0  # last output pelvis depth
    weights: np.ndarray | None = None  # [m] last output weights
    box: np.ndarray | None = None  # [4] last observation's box (image px)
    heights: np.ndarray | None = None  # [m] body height of each hypothesis (drawn on the track's cold frame)
    floor_counts: np.ndarray | None = None  # [m] frames whose floor measured each hypothesis's height
    last_frame: int = -1

    def follow(self, ancestry: np.ndarray) -> None:
        """The sampler resampled a warm start: hypothesis i now continues hypothesis ``ancestry[i]``, so its
        weight, body height (and its floor count) and pose filter state are that one's."""
        rows = np.asarray(ancestry, dtype=np.int64)
        for name in ("hypotheses_rr", "weights", "heights", "floor_counts"):
            value = getattr(self, name)
            if value is not None and len(value) == len(rows):
                setattr(self, name, value[rows])
        if self.pose.x is not None and len(self.pose.x) == len(rows):
            self.pose.x, self.pose.P = self.pose.x[rows], self.pose.P[rows]


def rescale_about_camera(person, scale: float):
    """A PersonEstimate with every camera-frame quantity scaled by ``scale`` (2D projections unchanged)."""
    import dataclasses

    return dataclasses.replace(person, hypotheses=person.hypotheses * scale, mean=person.mean * scale,
                               spread=person.spread * scale)
