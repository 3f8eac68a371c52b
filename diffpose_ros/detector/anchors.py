"""SSD anchors of the BlazePose person detector (MediaPipe ``SsdAnchorsCalculator`` settings)."""

from __future__ import annotations

import numpy as np

INPUT_SIZE = 224
STRIDES_AND_ANCHORS: tuple[tuple[int, int], ...] = ((8, 2), (16, 2), (32, 6))


def pose_detection_anchors(input_size: int = INPUT_SIZE,
                           layout: tuple[tuple[int, int], ...] = STRIDES_AND_ANCHORS) -> np.ndarray:
    """``[2254, 2]`` anchor centres ``(x, y)`` normalised to [0, 1], in model output order.

    Fixed-size anchors (w = h = 1): per stride, a grid of ``ceil(input/stride)`` cells, row-major,
    each cell repeated once per anchor, centre ``((col + 0.5) / g, (row + 0.5) / g)``.
    """
    out = []
    for stride, per_cell in layout:
        g = int(np.ceil(input_size / stride))
        c = (np.arange(g) + 0.5) / g
        yy, xx = np.meshgrid(c, c, indexing="ij")
        centres = np.stack([xx.ravel(), yy.ravel()], axis=1)
        out.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(out, axis=0)
