"""Gravity in the camera optical frame, and the upright ("level") frame the pose prior lives in.

The prior samples people upright: in its frame y points along gravity (down), z is the camera's viewing direction
projected onto the horizontal plane and x = y x z (right). A camera that looks down at people (a robot's head
camera, Human3.6M's wall cameras) sees them tilted; with gravity known in the camera frame the sampler rotates the
upright sample into the camera (``X_camera = R @ X_level``) instead of asking the prior for tilted people.

Pitch is positive when the camera looks down, roll positive when the image is turned clockwise (gravity then
points to the image's lower left). A level camera has gravity ``(0, 1, 0)``.
"""

from __future__ import annotations

import numpy as np


def _unit(v: np.ndarray, what: str) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    n = float(np.linalg.norm(v)) if v.shape == (3,) else 0.0
    if v.shape != (3,) or not np.isfinite(v).all() or n < 1e-9:
        raise ValueError(f"{what} must be a finite, non-zero 3-vector, got {v.tolist()}")
    return v / n


def level_to_camera(gravity_camera: np.ndarray) -> np.ndarray:
    """Rotation ``R [3, 3]`` with ``X_camera = R @ X_level`` for gravity ``[3]`` given in the camera frame.

    The level frame keeps the camera's heading; when the camera looks straight up or down the image's up axis
    (-y) stands in for the viewing direction.
    """
    y = _unit(gravity_camera, "gravity")
    forward = np.array([0.0, 0.0, 1.0])
    z = forward - y * float(forward @ y)
    if np.linalg.norm(z) < 1e-6:
        up = np.array([0.0, -1.0, 0.0])
        z = up - y * float(up @ y)
    z /= np.linalg.norm(z)
    x = np.cross(y, z)
    return np.stack([x, y, z], axis=1)


def gravity_from_pitch_roll(pitch_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """Gravity in the optical frame of a camera pitched down by ``pitch_deg`` and rolled by ``roll_deg``."""
    p, r = np.deg2rad(pitch_deg), np.deg2rad(roll_deg)
    g = np.array([0.0, np.cos(p), np.sin(p)])  # pitch about x
    c, s = np.cos(r), np.sin(r)
    return np.array([c * g[0] - s * g[1], s * g[0] + c * g[1], g[2]])  # roll about z


def pitch_roll_from_gravity(gravity_camera: np.ndarray) -> tuple[float, float]:
    """Inverse of :func:`gravity_from_pitch_roll` (degrees)."""
    g = _unit(gravity_camera, "gravity")
    pitch = np.arcsin(np.clip(g[2], -1.0, 1.0))
    roll = np.arctan2(-g[0], g[1])
    return float(np.rad2deg(pitch)), float(np.rad2deg(roll))


def gravity_from_accelerometer(linear_acceleration: np.ndarray, sensor_to_camera: np.ndarray | None = None
                               ) -> np.ndarray:
    """Unit gravity in the camera frame from an accelerometer at rest (it measures ``-g``: up)."""
    a = _unit(linear_acceleration, "linear acceleration")
    r = np.eye(3) if sensor_to_camera is None else np.asarray(sensor_to_camera, dtype=np.float64).reshape(3, 3)
    return -(r @ a)


def quaternion_to_matrix(q: "np.ndarray | tuple[float, ...]", scalar_first: bool = True) -> np.ndarray:
    """Rotation matrix of a quaternion, (w, x, y, z) or, with ``scalar_first=False``, ROS's (x, y, z, w)."""
    q = np.asarray(q, dtype=np.float64).reshape(-1)
    if q.shape != (4,) or not np.isfinite(q).all() or np.linalg.norm(q) < 1e-9:
        raise ValueError(f"quaternion must be 4 finite numbers, not all zero, got {q.tolist()}")
    w, x, y, z = (q if scalar_first else np.roll(q, 1)) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


class AccelerometerGravity:
    """Gravity in the camera frame from a stream of accelerometer readings (a ROS ``sensor_msgs/Imu``).

    Readings are low-pass filtered (exponential, ``smoothing`` per reading) and rotated by the fixed
    IMU-to-camera-optical rotation; an estimate older than ``timeout_s`` counts as unknown.
    """

    def __init__(self, imu_to_camera: np.ndarray | None = None, smoothing: float = 0.2, timeout_s: float = 1.0) -> None:
        self.imu_to_camera = np.eye(3) if imu_to_camera is None else np.asarray(imu_to_camera, dtype=np.float64)
        self.smoothing = float(smoothing)
        self.timeout_s = float(timeout_s)
        self._acc: np.ndarray | None = None
        self._time = -np.inf

    def add(self, linear_acceleration: np.ndarray, time_s: float) -> None:
        """One reading (m/s^2, IMU frame); raises ValueError for a non-finite or zero vector."""
        a = np.asarray(linear_acceleration, dtype=np.float64).reshape(3)
        _unit(a, "linear acceleration")
        self._acc = a if self._acc is None else (1 - self.smoothing) * self._acc + self.smoothing * a
        self._time = float(time_s)

    def gravity(self, time_s: float) -> np.ndarray | None:
        """Unit gravity in the camera frame, or None without a recent reading."""
        if self._acc is None or time_s - self._time > self.timeout_s:
            return None
        return gravity_from_accelerometer(self._acc, self.imu_to_camera)
