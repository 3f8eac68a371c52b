"""BlazePose landmark model (lite / full / heavy) on a 256x256 ROI crop, outputs mapped to image px."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..core.camera import apply_affine, compose_affine, invert_affine
from .model_files import LANDMARK_MODELS, ModelFileError, resolve
from .peaks import refine_from_heatmaps
from .person_detection import sigmoid
from .roi import CROP_SIZE, Roi, crop_to_heatmap_affine, roi_from_points, warp_crop
from .tflite_model import TFLiteModel

NUM_LANDMARKS = 33  # BlazePose body landmarks; outputs 33/34 are the ROI alignment points
ROI_CENTRE, ROI_SIZE_POINT = 33, 34


@dataclass(frozen=True)
class LandmarkResult:
    """Landmark model output for one ROI, in image px."""

    roi: Roi
    landmarks: np.ndarray  # [39, 5] x, y (image px), z (image px scale), visibility, presence (probabilities)
    presence: float  # pose-presence probability
    heatmap_logits: np.ndarray  # [33, 64, 64] float32 per-landmark logits
    image_to_heatmap: np.ndarray  # [2, 3]
    person_box: np.ndarray | None = None  # [4] image px from a box detector; None: the box of the landmarks

    def next_roi(self) -> Roi:
        """The ROI MediaPipe would use next, from the auxiliary landmarks 33 (centre) and 34 (size/rotation)."""
        return roi_from_points(self.landmarks[ROI_CENTRE, :2], self.landmarks[ROI_SIZE_POINT, :2])

    def refined(self, kernel: int = 7, min_confidence: float = 0.5) -> "LandmarkResult":
        """Landmarks 0-32 moved to the local heatmap mean (MediaPipe ``RefineLandmarksFromHeatmap``)."""
        hm = apply_affine(self.image_to_heatmap, self.landmarks[:NUM_LANDMARKS, :2])
        hm = refine_from_heatmaps(hm, self.heatmap_logits, kernel, min_confidence)
        lm = self.landmarks.copy()
        lm[:NUM_LANDMARKS, :2] = apply_affine(invert_affine(self.image_to_heatmap), hm)
        return replace(self, landmarks=lm)


class LandmarkModel:
    """``pose_landmark_{lite,full,heavy}.tflite``: crop the ROI, run, map everything back to image px."""

    def __init__(self, model: str = "full", model_dir: "str | Path | None" = None, threads: int = 1):
        if model not in LANDMARK_MODELS:
            raise ModelFileError(f"unknown landmark model {model!r}; choose one of {sorted(LANDMARK_MODELS)}")
        self.name = model
        self.model = TFLiteModel(resolve(LANDMARK_MODELS[model], model_dir), threads)

    def __call__(self, image_rgb: np.ndarray, roi: Roi) -> LandmarkResult:
        crop, to_crop = warp_crop(image_rgb, roi, CROP_SIZE)
        out = self.model.run((crop.astype(np.float32) / 255.0)[None])
        raw = out["Identity"].reshape(-1, 5).astype(np.float64)
        back = invert_affine(to_crop)
        lm = np.empty_like(raw)
        # Regressed x, y are in crop px with the pixel-edge convention (MediaPipe divides by 256): shift by -0.5.
        lm[:, :2] = apply_affine(back, raw[:, :2] - 0.5)
        lm[:, 2] = raw[:, 2] * roi.size / CROP_SIZE
        lm[:, 3:] = sigmoid(raw[:, 3:])
        heat = np.transpose(out["Identity_3"][0], (2, 0, 1))[:NUM_LANDMARKS].astype(np.float32)
        presence = float(np.asarray(out["Identity_1"]).reshape(-1)[0])
        to_heat = compose_affine(crop_to_heatmap_affine(), to_crop)
        return LandmarkResult(roi=roi, landmarks=lm, presence=presence if np.isfinite(presence) else 0.0,
                              heatmap_logits=heat, image_to_heatmap=to_heat)
