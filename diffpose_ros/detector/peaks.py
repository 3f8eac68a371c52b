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
    n = min(len(pts), len(logits))
    if n == 0:
        return pts
    r = kernel // 2
    xy = pts[:n]
    finite = np.isfinite(xy).all(-1)
    cr = np.round(np.where(finite[:, None], xy, -1.0)).astype(np.int64)  # (col, row); not finite: off the map
    on_map = finite & (cr[:, 0] >= 0) & (cr[:, 0] < w) & (cr[:, 1] >= 0) & (cr[:, 1] < h)
    off = np.arange(-r, r + 1)
    rows, cols = cr[:, 1, None] + off, cr[:, 0, None] + off  # [n, k] window rows / columns (clipped below)
    inside = (rows[:, :, None] >= 0) & (rows[:, :, None] < h) & (cols[:, None, :] >= 0) & (cols[:, None, :] < w)
    win = logits[np.arange(n)[:, None, None], rows.clip(0, h - 1)[:, :, None], cols.clip(0, w - 1)[:, None, :]]
    win = win.astype(np.float64)
    ok = on_map & (np.isfinite(win) | ~inside).all((1, 2))
    conf = np.where(inside, 1.0 / (1.0 + np.exp(-np.clip(np.nan_to_num(win), -100, 100))), 0.0)
    ok &= conf.max((1, 2)) >= min_confidence
    total = conf.sum((1, 2))
    mean = np.stack([(conf * cols[:, None, :]).sum((1, 2)), (conf * rows[:, :, None]).sum((1, 2))], -1)
    pts[:n][ok] = mean[ok] / total[ok, None]
    return pts
