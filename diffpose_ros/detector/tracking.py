"""Video tracking for BlazePose: reuse each person's landmark ROI, re-detect only when needed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import PersonObservation
from .blazepose import BlazePoseDetector, dedupe, landmark_box
from .landmarks import LandmarkResult
from .person_detection import box_iou


@dataclass
class Track:
    track_id: int
    result: LandmarkResult


class BlazePoseTracker:
    """Per-frame ``detect(frame)`` with stable ``track_id``s (also a :class:`PoseDetector`).

    Each frame, every track's ROI from landmarks 33/34 of the previous frame is re-run through the
    landmark model; a track whose pose presence drops below the threshold ends. The person detector
    runs when there are no tracks, or every ``redetect_every`` frames while fewer than ``max_people``
    are tracked; detections overlapping a live track are ignored. The rest take the id of a track lost
    within the last ``keep_lost`` frames whose last box they overlap (IoU > ``reid_iou``), else a new id.
    """

    def __init__(self, detector: BlazePoseDetector, redetect_every: int = 1, keep_lost: int = 10,
                 reid_iou: float = 0.2):
        self.detector = detector
        self.redetect_every = max(1, int(redetect_every))
        self.keep_lost = keep_lost
        self.reid_iou = reid_iou
        self.reset()

    def reset(self) -> None:
        self.tracks: list[Track] = []
        self.frame_index = 0
        self._next_id = 0
        self._shape: tuple[int, ...] | None = None
        self.lost: list[tuple[int, np.ndarray, int]] = []  # (track id, last landmark box, frame lost)
        self.detector_runs = 0

    def _id_for(self, box: np.ndarray) -> int:
        """Id of the best-overlapping recently lost track (removed from ``lost``), else a fresh id."""
        self.lost = [x for x in self.lost if self.frame_index - x[2] <= self.keep_lost]
        if self.lost:
            ious = [box_iou(box, b[None])[0] for _, b, _ in self.lost]
            k = int(np.argmax(ious))
            if ious[k] > self.reid_iou:
                return self.lost.pop(k)[0]
        self._next_id += 1
        return self._next_id - 1

    def detect(self, image_rgb: np.ndarray) -> list[PersonObservation]:
        work, full_to_work = self.detector.prepare(image_rgb)
        if work.shape != self._shape:
            self.tracks, self.lost, self._shape = [], [], work.shape
        cfg = self.detector.config
        alive: list[Track] = []
        for t in self.tracks:
            res = self.detector.landmark_model(work, t.result.next_roi()) if t.result.next_roi().is_valid() else None
            if res is not None and res.presence >= cfg.presence_threshold:
                alive.append(Track(t.track_id, res))
        # The same person reached from two tracks: keep the one with the higher pose presence.
        unique = dedupe([t.result for t in alive], cfg.duplicate_iou)
        alive = [t for t in alive if any(t.result is u for u in unique)]
        alive_ids = {t.track_id for t in alive}
        self.lost += [(t.track_id, landmark_box(t.result), self.frame_index) for t in self.tracks
                      if t.track_id not in alive_ids]
        need = cfg.max_people - len(alive)
        if need > 0 and (not alive or self.frame_index % self.redetect_every == 0):
            self.detector_runs += 1
            for res in self.detector.find_people(work, cfg.max_people):
                box = landmark_box(res)
                if all(box_iou(box, landmark_box(t.result)[None])[0] <= cfg.duplicate_iou for t in alive):
                    alive.append(Track(self._id_for(box), res))
                    if len(alive) >= cfg.max_people:
                        break
        self.tracks = alive
        self.frame_index += 1
        return [self.detector.to_observation(t.result, full_to_work, t.track_id) for t in alive]
