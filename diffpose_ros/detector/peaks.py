"""Heatmap peak read-out: integer argmax and a sub-pixel local mean around it."""

from __future__ import annotations

import numpy as np


def subpixel_peak(log_probs: np.ndarray, radius: int = 3) -> tuple[np.ndarray, float]:
    """Peak of one ``[H, W]`` log-probability (or logit) map in heatmap px ``(col, row)`` and its
    share of the probability mass in the ``(2 radius + 1)^2`` window; ``(NaN, NaN), 0`` if not finite."""
    m = np.asarray(log_probs, dtype=np.float64)
    if m.ndim != 2 or m.size == 0 or not np.isfinite(m).all():
        return np.full(2, np.nan), 0.0
    p = np.exp(m - m.max())
    row, col = np.unravel_index(int(np.argmax(p)), p.shape)
    r0, r1 = max(0, row - radius), min(p.shape[0], row + radius + 1)
    c0, c1 = max(0, col - radius), min(p.shape[1], col + radius + 1)
    win = p[r0:r1, c0:c1]
    rr, cc = np.mgrid[r0:r1, c0:c1]
    total = win.sum()
    return np.array([(win * cc).sum() / total, (win * rr).sum() / total]), float(total / p.sum())


def refine_from_heatmaps(points_hm: np.ndarray, logits: np.ndarray, kernel: int = 7,
                         min_confidence: float = 0.5) -> np.ndarray:
    """MediaPipe ``RefineLandmarksFromHeatmap``: move each point (heatmap px ``[N, 2]``) to the sigmoid-weighted
    mean of the ``kernel x kernel`` window around it, when the window's peak sigmoid is at least ``min_confidence``.
    Points that are not finite, fall off the map, or whose window is not finite stay where they are."""
    pts = np.asarray(points_hm, dtype=np.float64).copy()
    logits = np.asarray(logits)
    h, w = logits.shape[1:]
    r = kernel // 2
    for k, (x, y) in enumerate(pts[: len(logits)]):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        col, row = round(x), round(y)
        if not (0 <= col < w and 0 <= row < h):
            continue
        r0, r1, c0, c1 = max(0, row - r), min(h, row + r + 1), max(0, col - r), min(w, col + r + 1)
        win = logits[k, r0:r1, c0:c1].astype(np.float64)
        if not np.isfinite(win).all():
            continue
        conf = 1.0 / (1.0 + np.exp(-np.clip(win, -100, 100)))
        if conf.max() < min_confidence:
            continue
        rr, cc = np.mgrid[r0:r1, c0:c1]
        pts[k] = [(conf * cc).sum() / conf.sum(), (conf * rr).sum() / conf.sum()]
    return pts
