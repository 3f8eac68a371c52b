"""Association costs between tracks and detections, and an exact minimum-cost assignment (no scipy)."""

from __future__ import annotations

import numpy as np

# COCO-style OKS falloff per H36M-17 joint (pelvis, hips, knees, ankles, spine, thorax, nose, head, arms).
OKS_SIGMAS = np.array([0.107, 0.107, 0.087, 0.089, 0.107, 0.087, 0.089, 0.10, 0.079, 0.026, 0.035,
                       0.079, 0.072, 0.062, 0.079, 0.072, 0.062])


def box_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes ``[A, 4]`` x ``[B, 4]`` (x0, y0, x1, y1) -> ``[A, B]``."""
    a, b = np.asarray(a, dtype=np.float64).reshape(-1, 4), np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=-1)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0.0, None), axis=-1)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def oks_matrix(kp_a: np.ndarray, vis_a: np.ndarray, kp_b: np.ndarray, vis_b: np.ndarray,
               area: np.ndarray) -> np.ndarray:
    """Object keypoint similarity ``[A, B]`` of keypoint sets ``[A, 17, 2]`` / ``[B, 17, 2]``.

    ``vis_*`` ``[., 17]`` bool mark usable joints; ``area`` ``[A]`` is the scale (box area, px^2) of each ``a``.
    Pairs sharing no usable joint get 0.
    """
    kp_a, kp_b = np.asarray(kp_a, dtype=np.float64), np.asarray(kp_b, dtype=np.float64)
    d2 = ((kp_a[:, None] - kp_b[None]) ** 2).sum(-1)  # [A, B, 17]
    k2 = (2 * OKS_SIGMAS) ** 2
    e = d2 / (2 * np.maximum(np.asarray(area, dtype=np.float64), 1.0)[:, None, None] * k2)
    both = np.asarray(vis_a, bool)[:, None] & np.asarray(vis_b, bool)[None]
    sim = np.where(both, np.exp(-np.where(both, e, 0.0)), 0.0).sum(-1)
    return np.where(both.any(-1), sim / np.maximum(both.sum(-1), 1), 0.0)


def min_cost_assignment(cost: np.ndarray, max_cost: float = np.inf) -> list[tuple[int, int]]:
    """Exact minimum-cost matching of rows to columns (Hungarian / shortest augmenting paths, O(n^3)).

    Entries above ``max_cost`` (or non-finite) are forbidden; returns (row, col) pairs of allowed entries,
    maximising the number of allowed matches first and then minimising their total cost.
    """
    c = np.asarray(cost, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"cost must be 2D, got shape {c.shape}")
    n_r, n_c = c.shape
    if n_r == 0 or n_c == 0:
        return []
    allowed = np.isfinite(c) & (c <= max_cost)
    # Square problem: forbidden or padded pairs cost "big" so that any allowed pair beats leaving one open.
    big = 1.0 + 2.0 * (n_r + n_c) * (np.abs(c[allowed]).max() if allowed.any() else 1.0)
    n = max(n_r, n_c)
    a = np.full((n, n), big)
    a[:n_r, :n_c] = np.where(allowed, c, big)
    u, v = np.zeros(n + 1), np.zeros(n + 1)
    match = np.zeros(n + 1, dtype=np.int64)  # match[col] = row (1-based), 0 = free
    for i in range(1, n + 1):
        match[0] = i
        j0 = 0
        minv = np.full(n + 1, np.inf)
        used = np.zeros(n + 1, dtype=bool)
        way = np.zeros(n + 1, dtype=np.int64)
        while True:
            used[j0] = True
            i0 = match[j0]
            cur = a[i0 - 1] - u[i0] - v[1:]
            free = ~used[1:]
            better = free & (cur < minv[1:])
            minv[1:][better] = cur[better]
            way[1:][better] = j0
            cand = np.where(free, minv[1:], np.inf)
            j1 = int(np.argmin(cand)) + 1
            delta = cand[j1 - 1]
            u[match[used]] += delta
            v[used] -= delta
            minv[1:][free] -= delta
            j0 = j1
            if match[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            match[j0] = match[j1]
            j0 = j1
    pairs = [(int(match[j]) - 1, j - 1) for j in range(1, n + 1) if match[j]]
    return sorted((r, col) for r, col in pairs if r < n_r and col < n_c and allowed[r, col])
