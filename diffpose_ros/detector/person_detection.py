"""BlazePose person detector: letterbox to 224, decode SSD anchors, sigmoid scores, weighted NMS."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..core.camera import apply_affine, invert_affine
from .anchors import INPUT_SIZE, pose_detection_anchors
from .model_files import DETECTION_MODEL, resolve
from .tflite_model import TFLiteModel

SCORE_CLIP = 100.0


@dataclass(frozen=True)
class PersonDetection:
    """One detector hit in image px: box ``x0, y0, x1, y1`` and 4 keypoints
    (0 mid-hip, 1 full-body size/rotation point, 2 mid-shoulder, 3 upper-body size point)."""

    box: np.ndarray
    keypoints: np.ndarray
    score: float


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, dtype=np.float64), -SCORE_CLIP, SCORE_CLIP)))


def letterbox(image: np.ndarray, size: int = INPUT_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Resize keeping aspect (INTER_AREA when shrinking) and pad with black to ``size x size``.

    Returns ``(letterboxed uint8 image, exact 2x3 affine image px -> letterbox px)``.
    """
    h, w = image.shape[:2]
    s = size / max(h, w)
    rw, rh = max(1, min(size, round(w * s))), max(1, min(size, round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (rw, rh), interpolation=interp)
    px, py = (size - rw) // 2, (size - rh) // 2
    out = np.zeros((size, size, 3), dtype=np.uint8)
    out[py:py + rh, px:px + rw] = resized
    sx, sy = rw / w, rh / h
    affine = np.array([[sx, 0.0, 0.5 * sx - 0.5 + px], [0.0, sy, 0.5 * sy - 0.5 + py]])
    return out, affine


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``[4]`` box against ``[N, 4]`` boxes (x0, y0, x1, y1)."""
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = lambda b: np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)  # noqa: E731
    union = area(box) + area(boxes) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float,
                 max_detections: int, weighted: bool = True) -> list[PersonDetection]:
    """MediaPipe-style NMS: each kept detection is the score-weighted mean of its overlapping cluster
    (``weighted=False``: plain NMS, keep the top one)."""
    order = np.argsort(-scores)
    remaining = order
    out: list[PersonDetection] = []
    while len(remaining) and len(out) < max_detections:
        top = remaining[0]
        iou = box_iou(boxes[top], boxes[remaining])
        cluster = remaining[iou > iou_threshold]
        cluster = cluster if len(cluster) else remaining[:1]
        if weighted:
            wts = scores[cluster] / scores[cluster].sum()
            box = (boxes[cluster] * wts[:, None]).sum(0)
            kps = (keypoints[cluster] * wts[:, None, None]).sum(0)
        else:
            box, kps = boxes[top], keypoints[top]
        out.append(PersonDetection(box=box, keypoints=kps, score=float(scores[top])))
        remaining = remaining[~np.isin(remaining, cluster)]
    return out


class PersonDetector:
    """Runs ``pose_detection.tflite`` on an RGB uint8 image; returns people in image px."""

    def __init__(self, model_dir: "str | Path | None" = None, threads: int = 1, score_threshold: float = 0.5,
                 iou_threshold: float = 0.3, weighted_nms: bool = True):
        self.model = TFLiteModel(resolve(DETECTION_MODEL, model_dir), threads)
        self.anchors = pose_detection_anchors()
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.weighted_nms = weighted_nms

    def decode(self, image_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All candidates above the score threshold: ``(boxes [N, 4], keypoints [N, 4, 2], scores [N])`` in image px."""
        boxed, affine = letterbox(image_rgb)
        out = self.model.run((boxed.astype(np.float32) / 127.5 - 1.0)[None])
        raw = out["Identity"].reshape(-1, 12).astype(np.float64)
        scores = sigmoid(out["Identity_1"].reshape(-1))
        keep = np.flatnonzero(np.nan_to_num(scores, nan=0.0) >= self.score_threshold)
        raw, scores = raw[keep], scores[keep]
        anchor_px = self.anchors[keep] * INPUT_SIZE  # letterbox px, pixel-edge convention
        centre = raw[:, 0:2] + anchor_px - 0.5  # -> pixel-centre convention
        half = 0.5 * raw[:, 2:4]
        kps = raw[:, 4:12].reshape(-1, 4, 2) + anchor_px[:, None, :] - 0.5
        back = invert_affine(affine)
        boxes = np.concatenate([apply_affine(back, centre - half), apply_affine(back, centre + half)], axis=1)
        kps = apply_affine(back, kps.reshape(-1, 2)).reshape(-1, 4, 2)
        ok = np.isfinite(boxes).all(axis=1) & np.isfinite(kps).all(axis=(1, 2))
        return boxes[ok], kps[ok], scores[ok]

    def __call__(self, image_rgb: np.ndarray, max_people: int = 5, tiles: bool = False) -> list[PersonDetection]:
        """People in the image, best first. ``tiles``: also run on square tiles along the long side of
        wide/tall images (people shrink in the 224 letterbox; costs one detector run per tile)."""
        parts = [self.decode(image_rgb)]
        if tiles:
            for y0, x0, side in square_tiles(image_rgb.shape[:2]):
                b, k, s = self.decode(image_rgb[y0:y0 + side, x0:x0 + side])
                shift = np.array([x0, y0], dtype=np.float64)
                parts.append((b + np.tile(shift, 2), k + shift, s))
        boxes, kps, scores = (np.concatenate(x, axis=0) for x in zip(*parts, strict=True))
        if len(scores) == 0:
            return []
        return weighted_nms(boxes, kps, scores, self.iou_threshold, max_people, self.weighted_nms)


def square_tiles(shape: tuple[int, int], min_aspect: float = 1.5) -> list[tuple[int, int, int]]:
    """Overlapping square tiles ``(y0, x0, side)`` covering an image whose aspect ratio is at least ``min_aspect``."""
    h, w = shape
    side, long = min(h, w), max(h, w)
    if long < min_aspect * side:
        return []
    n = int(np.ceil(long / side)) + 1  # overlap so that a person on a seam is whole in some tile
    starts = np.linspace(0, long - side, n).round().astype(int)
    return [(0, int(s), side) if w >= h else (int(s), 0, side) for s in starts]
