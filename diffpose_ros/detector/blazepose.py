"""BlazePose 2D detector with real heatmaps: person detector -> rotated ROI -> landmark model -> H36M-17.

``BlazePoseDetector(model="full").detect(rgb)`` returns one :class:`PersonObservation` per person.
Images larger than ``max_side`` are shrunk (INTER_AREA) for inference; every output is mapped back to
the full image exactly. ``BlazePoseTracker`` reuses each person's landmark ROI across video frames.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..core.camera import apply_affine, compose_affine, invert_affine
from .base import PersonObservation
from .centernet import CenterNetPeople
from .h36m_mapping import to_person_observation
from .image_input import MAX_SIDE, downscale, downscale_affine, to_rgb_uint8
from .landmarks import LandmarkModel, LandmarkResult
from .person_detection import PersonDetector, box_iou
from .roi import Roi, roi_from_points

PERSON_DETECTORS = ("centernet", "mediapipe")


@dataclass(frozen=True)
class BlazePoseConfig:
    max_people: int = 5
    person_detector: str = "centernet"  # "centernet": multi-person boxes; "mediapipe": BlazePose's own detector
    detection_threshold: float = 0.5  # MediaPipe person detector sigmoid score
    box_threshold: float = 0.25  # CenterNet person score (low: the landmark model's pose presence verifies each box)
    presence_threshold: float = 0.5  # landmark model pose-presence probability
    nms_iou: float = 0.3
    duplicate_iou: float = 0.5  # two landmark boxes overlapping more than this are one person
    second_pass: bool = False  # re-run the landmark model on the ROI from landmarks 33/34
    refine_from_heatmap: bool = True  # MediaPipe's heatmap refinement of the regressed landmarks (7x7, conf 0.5)
    tile_detection: bool = False  # wide/tall images: also detect on square tiles (finds smaller people)
    max_side: int = MAX_SIDE


def landmark_box(result: LandmarkResult) -> np.ndarray:
    pts = result.landmarks[:33, :2]
    pts = pts[np.isfinite(pts).all(axis=1)]
    return np.r_[pts.min(0), pts.max(0)] if len(pts) else np.zeros(4)


def result_to_full_image(result: LandmarkResult, full_to_work: np.ndarray) -> LandmarkResult:
    """Express a result computed on a downscaled working image in full-image px."""
    back = invert_affine(full_to_work)
    lm = result.landmarks.copy()
    lm[:, :2] = apply_affine(back, lm[:, :2])
    scale = float(np.sqrt(abs(np.linalg.det(back[:, :2]))))
    lm[:, 2] *= scale
    roi = Roi(centre=apply_affine(back, result.roi.centre), size=result.roi.size * scale, rotation=result.roi.rotation)
    to_heatmap = compose_affine(result.image_to_heatmap, full_to_work)
    box = None if result.person_box is None else apply_affine(back, result.person_box.reshape(2, 2)).ravel()
    return replace(result, roi=roi, landmarks=lm, image_to_heatmap=to_heatmap, person_box=box)


class BlazePoseDetector:
    """MediaPipe BlazePose (raw TFLite via ai-edge-litert) implementing :class:`PoseDetector`."""

    def __init__(self, model: str = "full", max_people: int = 5, threads: int = 1,
                 model_dir: "str | Path | None" = None, **config):
        self.config = BlazePoseConfig(max_people=max_people, **config)
        if self.config.person_detector not in PERSON_DETECTORS:
            raise ValueError(f"unknown person detector {self.config.person_detector!r}; choose one of "
                             f"{PERSON_DETECTORS}")
        self.person_detector: "PersonDetector | CenterNetPeople"
        if self.config.person_detector == "centernet":
            self.person_detector = CenterNetPeople(model_dir, threads, self.config.box_threshold)
        else:
            self.person_detector = PersonDetector(model_dir, threads, self.config.detection_threshold,
                                                  self.config.nms_iou)
        self.landmark_model = LandmarkModel(model, model_dir, threads)

    # --- building blocks (work-image coordinates) ---
    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Validated RGB working image and the full->work affine (None when not resized)."""
        full = to_rgb_uint8(image)
        work, s = downscale(full, self.config.max_side)
        return work, (downscale_affine(full.shape, work.shape) if s < 1.0 else None)

    def candidate_rois(self, work: np.ndarray, max_people: int) -> list[tuple[Roi, np.ndarray | None]]:
        """``(ROI, person box or None)`` from the configured person detector, best first."""
        if self.config.person_detector == "centernet":
            return [(b.roi(), b.box) for b in self.person_detector(work)]
        return [(roi_from_points(d.keypoints[0], d.keypoints[1]), None)
                for d in self.person_detector(work, max_people, self.config.tile_detection)]

    def landmarks_in_roi(self, work: np.ndarray, roi: Roi) -> LandmarkResult | None:
        """Landmark model on ``roi`` (+ optional second pass); None if no pose is present."""
        if not roi.is_valid():
            return None
        result = self.landmark_model(work, roi)
        if result.presence < self.config.presence_threshold:
            return None
        if self.config.second_pass:
            refined_roi = result.next_roi()
            if refined_roi.is_valid():
                refined = self.landmark_model(work, refined_roi)
                if refined.presence >= self.config.presence_threshold:
                    result = refined
        return result

    def find_people(self, work: np.ndarray, max_people: int | None = None) -> list[LandmarkResult]:
        """Person detector + landmark model for every detection, duplicates removed, best first."""
        max_people = self.config.max_people if max_people is None else max_people
        if max_people <= 0:
            return []
        results: list[LandmarkResult] = []
        for roi, box in self.candidate_rois(work, max_people):
            res = self.landmarks_in_roi(work, roi)
            if res is not None:
                results = dedupe(results + [replace(res, person_box=box)], self.config.duplicate_iou)
                if len(results) >= max_people:  # candidates come best first: stop paying for landmark runs
                    break
        return results[:max_people]

    def to_observation(self, result: LandmarkResult, full_to_work: np.ndarray | None,
                       track_id: int = -1) -> PersonObservation:
        if self.config.refine_from_heatmap:
            result = result.refined()
        if full_to_work is not None:
            result = result_to_full_image(result, full_to_work)
        return to_person_observation(result.landmarks, result.heatmap_logits, result.image_to_heatmap,
                                     score=result.presence, box=result.person_box, track_id=track_id)

    # --- PoseDetector ---
    def detect(self, image_rgb: np.ndarray) -> list[PersonObservation]:
        """All people in a single image (RGB or grey); raises ValueError for empty / malformed images."""
        work, full_to_work = self.prepare(image_rgb)
        return [self.to_observation(r, full_to_work) for r in self.find_people(work)]


def dedupe(results: list[LandmarkResult], iou_threshold: float) -> list[LandmarkResult]:
    """Keep the most present result of each group of overlapping landmark boxes."""
    kept: list[LandmarkResult] = []
    for r in sorted(results, key=lambda r: -r.presence):
        box = landmark_box(r)
        if all(box_iou(box, landmark_box(k)[None])[0] <= iou_threshold for k in kept):
            kept.append(r)
    return kept
