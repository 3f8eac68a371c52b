"""Overlays for detector output: keypoints + skeleton, and heatmaps warped back onto the image."""

from __future__ import annotations

import cv2
import numpy as np

from ..core.skeleton import BONES, LEFT_JOINTS, RIGHT_JOINTS
from .base import PersonObservation

LEFT_COLOUR, RIGHT_COLOUR, CENTRE_COLOUR = (255, 80, 80), (80, 160, 255), (80, 230, 80)  # RGB


def _colour(j: int) -> tuple[int, int, int]:
    return LEFT_COLOUR if j in LEFT_JOINTS else RIGHT_COLOUR if j in RIGHT_JOINTS else CENTRE_COLOUR


def draw_skeleton(image_rgb: np.ndarray, people: list[PersonObservation]) -> np.ndarray:
    """Copy of the image with each person's H36M skeleton (left red, right blue; hollow = score 0) and box."""
    out = image_rgb.copy()
    thick = max(1, round(max(out.shape[:2]) / 400))
    for person in people:
        kp = person.keypoints
        if np.isfinite(person.box).all():
            x0, y0, x1, y1 = np.round(person.box).astype(int)
            cv2.rectangle(out, (x0, y0), (x1, y1), (255, 255, 0), thick)
            label = f"id {person.track_id} " if person.track_id >= 0 else ""
            cv2.putText(out, f"{label}{person.score:.2f}", (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.4 * thick, (255, 255, 0), thick)
        for child, parent in BONES:
            if np.isfinite(kp[[child, parent]]).all():
                a, b = (tuple(int(v) for v in np.round(kp[i])) for i in (child, parent))
                cv2.line(out, a, b, _colour(child), thick, cv2.LINE_AA)
        for j, p in enumerate(kp):
            if np.isfinite(p).all():
                filled = -1 if person.scores[j] > 0 else thick
                cv2.circle(out, tuple(int(v) for v in np.round(p)), 2 + thick, _colour(j), filled, cv2.LINE_AA)
    return out


def heatmap_on_image(image_rgb: np.ndarray, people: list[PersonObservation]) -> np.ndarray:
    """Each person's heatmaps (per-channel peak-normalised probability, max over channels) warped onto the image.

    Shown as ``sqrt`` of the normalised probability so that sharp, small peaks remain visible.
    """
    h, w = image_rgb.shape[:2]
    acc = np.zeros((h, w), dtype=np.float32)
    for person in people:
        if person.heatmaps is None or not person.has_heatmap.any():
            continue
        logp = person.heatmaps[person.has_heatmap].astype(np.float64)
        prob = np.sqrt(np.exp(logp - logp.max(axis=(1, 2), keepdims=True)).max(axis=0)).astype(np.float32)
        warped = cv2.warpAffine(prob, person.image_to_heatmap.astype(np.float64), (w, h),
                                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT)
        acc = np.maximum(acc, warped)
    colour = cv2.applyColorMap(np.clip(acc * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)[:, :, ::-1]
    grey = np.repeat(image_rgb.mean(axis=2, keepdims=True), 3, axis=2)
    alpha = np.clip(acc, 0, 1)[:, :, None] * 0.7
    return (grey * (1 - alpha) + colour * alpha).astype(np.uint8)


def overlay_panel(image_rgb: np.ndarray, people: list[PersonObservation]) -> np.ndarray:
    """Side by side: skeleton overlay | heatmaps on the image (with the skeleton's keypoints on top)."""
    left = draw_skeleton(image_rgb, people)
    right = heatmap_on_image(image_rgb, people)
    for person in people:
        for p in person.keypoints[person.has_heatmap]:
            if np.isfinite(p).all():
                cv2.drawMarker(right, tuple(int(v) for v in np.round(p)), (255, 255, 255), cv2.MARKER_CROSS, 6, 1)
    return np.concatenate([left, right], axis=1)
