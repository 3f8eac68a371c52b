"""Draw estimates onto images: 2D keypoints and the reprojected 3D hypotheses (debug image, renders)."""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

from diffpose_ros.core import skeleton
from diffpose_ros.core.camera import PinholeCamera

GOLDEN_RATIO = 0.618033988749895


def track_rgb(track_id: int) -> tuple[int, int, int]:
    """The same hue as the RViz markers, as 0..255 RGB for images."""
    r, g, b = colorsys.hsv_to_rgb((track_id * GOLDEN_RATIO) % 1.0, 0.75, 0.95)
    return int(255 * r), int(255 * g), int(255 * b)


def _draw_skeleton(img: np.ndarray, pts: np.ndarray, color, thickness: int, valid: np.ndarray | None = None) -> None:
    ok = np.isfinite(pts).all(axis=1) if valid is None else valid & np.isfinite(pts).all(axis=1)
    for c, p in skeleton.BONES:
        if ok[c] and ok[p]:
            cv2.line(img, tuple(np.round(pts[c]).astype(int)), tuple(np.round(pts[p]).astype(int)), color, thickness,
                     cv2.LINE_AA)


def draw_overlay(image_rgb: np.ndarray, people, camera: PinholeCamera, max_hypotheses: int = 8) -> np.ndarray:
    """RGB image with, per person, faint reprojected hypotheses, the reprojected mean and the 2D keypoints."""
    img = np.ascontiguousarray(image_rgb.copy())
    thick = max(1, round(max(img.shape[:2]) / 400))
    for person in people:
        color = track_rgb(person.track_id)
        faint = tuple(int(0.5 * c + 0.5 * 255) for c in color)
        order = np.argsort(-np.asarray(person.weights))[:max_hypotheses]
        for h in order:
            _draw_skeleton(img, np.asarray(camera.project(person.hypotheses[h])), faint, 1)
        _draw_skeleton(img, np.asarray(camera.project(person.mean)), color, thick + 1)
        for (x, y), s in zip(person.keypoints, person.keypoint_scores):
            if np.isfinite(x) and np.isfinite(y):
                cv2.circle(img, (round(x), round(y)), thick + 2, (255, 255, 255) if s > 0 else (128, 128, 128), -1,
                           cv2.LINE_AA)
                cv2.circle(img, (round(x), round(y)), thick + 2, (0, 0, 0), 1, cv2.LINE_AA)
        x0, y0 = np.nanmin(person.keypoints, axis=0) if np.isfinite(person.keypoints).any() else (5, 15)
        cv2.putText(img, f"id {person.track_id}", (int(x0), max(12, int(y0) - 6)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4 * thick, color, thick, cv2.LINE_AA)
    return img
