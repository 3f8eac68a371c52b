"""Pinhole camera model and 2D affine helpers (numpy or torch arrays alike).

Points in the camera optical frame (ROS ``*_optical_frame`` convention): x right,
y down, z forward, metres. Pixel coordinates follow OpenCV/ROS CameraInfo: the
centre of the top-left pixel is (0, 0).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

MIN_DEPTH = 1e-3  # metres: points closer than this are clamped before division
# Distortion models (sensor_msgs/distortion_models) -> number of coefficients; an empty D always means none.
DISTORTION_LENGTHS = {"": 0, "none": 0, "plumb_bob": 5, "rational_polynomial": 8, "equidistant": 4}
MAX_SKEW = 1e-3  # |K[0, 1]| / fx ignored as numerical noise; larger skew is not modelled


@dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics of a pinhole camera; distortion coefficients are plumb_bob (k1 k2 p1 p2 k3)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int = 0
    height: int = 0
    distortion: tuple[float, ...] = field(default_factory=tuple)

    @classmethod
    def from_k(cls, k: "np.ndarray | list[float]", width: int = 0, height: int = 0,
               distortion: "tuple[float, ...] | list[float]" = ()) -> "PinholeCamera":
        """Build from a row-major 3x3 K (CameraInfo.k) and optional plumb_bob distortion."""
        k = np.asarray(k, dtype=np.float64).reshape(3, 3)
        if not (np.isfinite(k).all() and k[0, 0] > 0 and k[1, 1] > 0):
            raise ValueError(f"invalid camera matrix K: {k.ravel().tolist()}")
        return cls(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]),
                   int(width), int(height), tuple(float(d) for d in distortion))

    @classmethod
    def from_fov(cls, width: int, height: int, horizontal_fov_deg: float) -> "PinholeCamera":
        """Square-pixel camera with the principal point at the image centre."""
        f = 0.5 * width / np.tan(np.deg2rad(horizontal_fov_deg) / 2.0)
        return cls(f, f, (width - 1) / 2.0, (height - 1) / 2.0, width, height)

    @property
    def k(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def project(self, points):
        """Project ``[..., 3]`` camera-frame points to ``[..., 2]`` pixels (no distortion).

        Works on numpy arrays and torch tensors (differentiable).
        """
        if hasattr(points, "clamp"):  # torch: one fused expression (the sampler calls this on small batches)
            f, c = torch_intrinsics(self, points)
            return points[..., :2] / points[..., 2:3].clamp(min=MIN_DEPTH) * f + c
        z = np.maximum(points[..., 2:3], MIN_DEPTH)
        xy = points[..., :2] / z
        u = self.fx * xy[..., 0:1] + self.cx
        v = self.fy * xy[..., 1:2] + self.cy
        return np.concatenate([u, v], axis=-1)

    def unproject(self, pixels: np.ndarray, depth: "np.ndarray | float") -> np.ndarray:
        """Back-project ``[..., 2]`` pixels at the given depth(s) to ``[..., 3]`` points."""
        pixels = np.asarray(pixels, dtype=np.float64)
        depth = np.asarray(depth, dtype=np.float64)
        x = (pixels[..., 0] - self.cx) / self.fx * depth
        y = (pixels[..., 1] - self.cy) / self.fy * depth
        return np.stack([x, y, np.broadcast_to(depth, x.shape)], axis=-1)

    def distort(self, pixels: np.ndarray) -> np.ndarray:
        """Apply plumb_bob distortion to undistorted pixel coordinates (numpy)."""
        if not any(self.distortion):
            return np.asarray(pixels, dtype=np.float64)
        k1, k2, p1, p2, k3 = (tuple(self.distortion) + (0.0,) * 5)[:5]
        p = np.asarray(pixels, dtype=np.float64)
        x = (p[..., 0] - self.cx) / self.fx
        y = (p[..., 1] - self.cy) / self.fy
        r2 = x * x + y * y
        radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return np.stack([xd * self.fx + self.cx, yd * self.fy + self.cy], axis=-1)


def validate_intrinsics(k, width: int, height: int, distortion_model: str = "", d=()) -> None:
    """Raise ValueError unless K (row-major 3x3), the image size and D describe a usable pinhole camera.

    K finite, upper triangular with last row (0, 0, 1) and negligible skew, so invertible; fx, fy > 0 and
    between 0.005 and 1000 times the image side (a field of view between ~0.06 and ~179 degrees); the principal
    point inside the image widened by a quarter on each side; D finite with the model's number of coefficients.
    """
    k = _finite_matrix(k, 3, 3, "K")
    if not (0 < width <= 2**20 and 0 < height <= 2**20):
        raise ValueError(f"image size {width}x{height} is not positive")
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    if k[1, 0] != 0 or k[2, 0] != 0 or k[2, 1] != 0 or k[2, 2] != 1 or not (fx > 0 and fy > 0):
        raise ValueError(f"K is not an invertible pinhole matrix [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with "
                         f"fx, fy > 0: {k.ravel().tolist()}")
    if abs(k[0, 1]) > MAX_SKEW * fx:
        raise ValueError(f"K has skew {k[0, 1]} (not modelled)")
    if not (0.005 * width <= fx <= 1000 * width and 0.005 * height <= fy <= 1000 * height):
        raise ValueError(f"focal lengths fx={fx}, fy={fy} are implausible for a {width}x{height} image")
    if not (-0.25 * width <= cx <= 1.25 * width and -0.25 * height <= cy <= 1.25 * height):
        raise ValueError(f"principal point ({cx}, {cy}) is far outside the {width}x{height} image")
    d = np.asarray(d, dtype=np.float64).ravel()
    if distortion_model not in DISTORTION_LENGTHS:
        raise ValueError(f"unknown distortion_model {distortion_model!r}; known: {sorted(DISTORTION_LENGTHS)}")
    if d.size not in (0, DISTORTION_LENGTHS[distortion_model]):
        raise ValueError(f"distortion_model {distortion_model!r} takes {DISTORTION_LENGTHS[distortion_model]} "
                         f"coefficients, D has {d.size}")
    if not np.isfinite(d).all():
        raise ValueError(f"D is not finite: {d.tolist()}")


def _finite_matrix(values, rows: int, cols: int, what: str) -> np.ndarray:
    m = np.asarray(values, dtype=np.float64)
    if m.size != rows * cols:
        raise ValueError(f"{what} has {m.size} values, expected {rows * cols} ({rows}x{cols})")
    m = m.reshape(rows, cols)
    if not np.isfinite(m).all():
        raise ValueError(f"{what} is not finite: {m.ravel().tolist()}")
    return m


def validate_affine(affine, what: str = "affine") -> np.ndarray:
    """The 2x3 affine as float64, or ValueError unless it is finite and invertible (well conditioned)."""
    a = _finite_matrix(affine, 2, 3, what)
    sv = np.linalg.svd(a[:, :2], compute_uv=False)
    if not (sv[-1] > 1e-9 and sv[0] / sv[-1] < 1e9):
        raise ValueError(f"{what} is singular: {a.ravel().tolist()}")
    return a


def torch_intrinsics(camera: PinholeCamera, like):
    """``(fx, fy)`` and ``(cx, cy)`` as torch tensors of ``like``'s dtype and device (cached)."""
    return _torch_intrinsics(float(camera.fx), float(camera.fy), float(camera.cx), float(camera.cy), like.dtype,
                             like.device)


@functools.lru_cache(maxsize=32)
def _torch_intrinsics(fx: float, fy: float, cx: float, cy: float, dtype, device):
    import torch

    return (torch.tensor([fx, fy], dtype=dtype, device=device), torch.tensor([cx, cy], dtype=dtype, device=device))


def apply_affine(affine, points):
    """Apply a 2x3 affine ``A`` to ``[..., 2]`` points: ``A[:, :2] @ p + A[:, 2]`` (numpy or torch)."""
    return points @ affine[..., :2].transpose(-1, -2) + affine[..., 2] if hasattr(points, "clamp") else (
        np.asarray(points) @ np.asarray(affine)[:2, :2].T + np.asarray(affine)[:2, 2]
    )


def invert_affine(affine: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine."""
    a = np.vstack([np.asarray(affine, dtype=np.float64).reshape(2, 3), [0.0, 0.0, 1.0]])
    return np.linalg.inv(a)[:2]


def compose_affine(second: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The 2x3 affine applying ``first`` then ``second``."""
    a = np.vstack([np.asarray(first, dtype=np.float64).reshape(2, 3), [0.0, 0.0, 1.0]])
    b = np.vstack([np.asarray(second, dtype=np.float64).reshape(2, 3), [0.0, 0.0, 1.0]])
    return (b @ a)[:2]
