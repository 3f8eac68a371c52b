"""Colour appearance of a detected person: RGB histograms of the torso and the legs (from the keypoints).

Cheap (two small histograms per person) and enough to tell apart two people whose boxes swap places when they
cross -- the case where box overlap and motion alone hand one id over to the other person.
"""

from __future__ import annotations

import numpy as np

BINS = 4  # per channel: 4 x 4 x 4 RGB cube per region
TORSO = (11, 14, 1, 4)  # H36M-17: left/right shoulder, right/left hip
LEGS = (1, 4, 2, 5)  # hips and knees (ankles are often cut or blurred)


def _region(image: np.ndarray, pts: np.ndarray, shrink: float) -> np.ndarray | None:
    pts = pts[np.isfinite(pts).all(1)]
    if len(pts) < 2:
        return None
    lo, hi = pts.min(0), pts.max(0)
    c, half = (lo + hi) / 2, np.maximum((hi - lo) / 2 * shrink, 2.0)
    h, w = image.shape[:2]
    x0, y0 = np.clip(np.floor(c - half), 0, [w - 1, h - 1]).astype(int)
    x1, y1 = np.clip(np.ceil(c + half), 1, [w, h]).astype(int)
    patch = image[y0:y1, x0:x1]
    return patch if patch.size >= 12 else None


def _histogram(patch: np.ndarray | None) -> np.ndarray:
    if patch is None:
        return np.full(BINS ** 3, np.nan)
    q = (patch.reshape(-1, patch.shape[-1])[:, :3].astype(np.int64) * BINS) // 256
    hist = np.bincount((q[:, 0] * BINS + q[:, 1]) * BINS + q[:, 2], minlength=BINS ** 3).astype(np.float64)
    return hist / hist.sum()


def colour_descriptor(image_rgb: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """``[2, 64]`` normalised RGB histograms of torso and upper legs (NaN rows where the region is unknown)."""
    img = np.asarray(image_rgb)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    kp = np.asarray(keypoints, dtype=np.float64)
    return np.stack([_histogram(_region(img, kp[list(TORSO)], 0.7)),
                     _histogram(_region(img, kp[list(LEGS)], 0.8))])


def appearance_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean Hellinger distance in [0, 1] over the regions both descriptors have (0.0 if none is shared)."""
    ok = np.isfinite(a).all(1) & np.isfinite(b).all(1)
    if not ok.any():
        return 0.0
    bc = np.sqrt(np.clip(a[ok] * b[ok], 0.0, None)).sum(1)
    return float(np.sqrt(np.clip(1.0 - bc, 0.0, 1.0)).mean())
