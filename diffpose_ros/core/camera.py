"""Pinhole camera model and 2D affine helpers (numpy or torch arrays alike).

Points in the camera optical frame (ROS ``*_optical_frame`` convention): x right,
y down, z forward, metres. Pixel coordinates follow OpenCV/ROS CameraInfo: the
centre of the top-left pixel is (0, 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MIN_DEPTH = 1e-3  # metres: points closer than this are clamped before division


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
        z = points[..., 2:3]
        z = z.clamp(min=MIN_DEPTH) if hasattr(z, "clamp") else np.maximum(z, MIN_DEPTH)
        xy = points[..., :2] / z
        u = self.fx * xy[..., 0:1] + self.cx
        v = self.fy * xy[..., 1:2] + self.cy
        return _cat([u, v], points)

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


def _cat(parts, like):
    if hasattr(like, "clamp"):
        import torch

        return torch.cat(parts, dim=-1)
    return np.concatenate(parts, axis=-1)


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
