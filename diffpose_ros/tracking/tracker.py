"""Multi-person tracking by detection: stable ``track_id``s for the people a 2D detector finds each frame.

Each track keeps a constant-velocity Kalman filter on its box (centre, size) and its last keypoints.
Per frame: predict every track; match tentative + confirmed tracks to detections by a cost mixing box IoU
and keypoint similarity (OKS) against the motion-predicted box and keypoints (exact minimum-cost assignment,
gated); then match the tracks still open (lost ones included) to the detections left by a looser motion
gate (centre distance in body heights and size ratio), so that people survive crossing and short occlusion.
A track is tentative until ``min_hits`` matches, lost after a miss, and ends after ``max_lost`` missed frames
(tentative ones at their first miss). Ids are never reused.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from .appearance import appearance_distance, colour_descriptor
from .assignment import box_iou_matrix, min_cost_assignment, oks_matrix


class TrackState(StrEnum):
    TENTATIVE = "tentative"
    CONFIRMED = "confirmed"
    LOST = "lost"


@dataclass
class TrackerConfig:
    """Association and life-cycle knobs (distances relative to the person's box height)."""

    iou_weight: float = 0.5  # cost = 1 - (iou_weight * IoU + (1 - iou_weight) * OKS)
    max_cost: float = 0.85  # stage-1 gate (the similarity must exceed 0.15)
    max_centre_distance: float = 0.6  # stage-2 gate: |centre - predicted centre| / box height (+ growth per miss)
    centre_distance_growth: float = 0.15  # added to the gate per missed frame (uncertainty of coasting)
    max_size_ratio: float = 1.6  # stage-2 gate on box height ratio
    min_hits: int = 2  # matches before a track is confirmed
    max_lost: int = 10  # frames a confirmed track may go unmatched before it ends
    min_joint_score: float = 0.2  # joints below this do not count in OKS
    velocity_damping: float = 0.9  # coasting tracks' velocity decays by this per missed frame
    max_appearance: float = 0.6  # with an image: colour-histogram distance above this forbids a match
    appearance_weight: float = 0.3  # added cost per unit of colour distance
    appearance_memory: float = 0.7  # a track's colour model keeps this much of its past per match


class BoxKalman:
    """Constant-velocity Kalman filter on ``(cx, cy, w, h)`` with noise proportional to the box height."""

    def __init__(self, box: np.ndarray, pos_noise: float = 0.05, vel_noise: float = 0.02,
                 meas_noise: float = 0.05) -> None:
        cx, cy, w, h = _cxcywh(box)
        self.x = np.array([cx, cy, w, h, 0.0, 0.0, 0.0, 0.0])
        s = max(h, 1.0)
        self.P = np.diag(np.r_[np.full(4, (2 * pos_noise * s) ** 2), np.full(4, (10 * vel_noise * s) ** 2)])
        self.pos_noise, self.vel_noise, self.meas_noise = pos_noise, vel_noise, meas_noise
        self.F = np.eye(8)
        self.F[:4, 4:] = np.eye(4)
        self.H = np.eye(4, 8)

    def predict(self, damping: float = 1.0) -> None:
        s = max(self.x[3], 1.0)
        q = np.diag(np.r_[np.full(4, (self.pos_noise * s) ** 2), np.full(4, (self.vel_noise * s) ** 2)])
        self.x[4:] *= damping
        self.x = self.F @ self.x
        self.x[2:4] = np.maximum(self.x[2:4], 1.0)
        self.P = self.F @ self.P @ self.F.T + q

    def update(self, box: np.ndarray) -> None:
        z = np.asarray(_cxcywh(box))
        r = np.eye(4) * (self.meas_noise * max(z[3], 1.0)) ** 2
        y = z - self.H @ self.x
        S = self.H @ self.P @ self.H.T + r
        K = self.P @ self.H.T @ np.linalg.inv(S)
        self.x = self.x + K @ y
        self.P = (np.eye(8) - K @ self.H) @ self.P

    @property
    def box(self) -> np.ndarray:
        cx, cy, w, h = self.x[:4]
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


@dataclass
class Track:
    track_id: int
    kalman: BoxKalman
    keypoints: np.ndarray  # [17, 2] last matched keypoints (px)
    visible: np.ndarray  # [17] bool
    last_box: np.ndarray  # [4] last matched box
    state: TrackState = TrackState.TENTATIVE
    hits: int = 1
    misses: int = 0
    age: int = 0
    appearance: np.ndarray | None = None  # [2, 64] colour model (None: no image seen)

    def predicted_keypoints(self) -> np.ndarray:
        """Last keypoints moved and scaled with the predicted box."""
        old_c, old_wh = _centre_size(self.last_box)
        new_c, new_wh = _centre_size(self.kalman.box)
        scale = new_wh[1] / max(old_wh[1], 1.0)
        return new_c + (self.keypoints - old_c) * scale


@dataclass
class TrackerStats:
    frames: int = 0
    tracks_started: int = 0
    tracks_ended: int = 0
    recovered: int = 0  # lost tracks matched again
    ended_ids: list[int] = field(default_factory=list)  # ids that ended in the last update


class PersonTracker:
    """``update(observations) -> observations`` with stable ``track_id`` (input order kept)."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.reset()

    def reset(self) -> None:
        self.tracks: list[Track] = []
        self._ids = itertools.count()
        self.stats = TrackerStats()

    @property
    def live_ids(self) -> set[int]:
        return {t.track_id for t in self.tracks}

    def update(self, observations: list, image_rgb: np.ndarray | None = None) -> list:
        """Assign ids to this frame's ``PersonObservation``s (their own ``track_id`` is ignored).

        With the frame's image, a colour model per track vetoes matches to someone who looks different.
        """
        c = self.config
        self.stats.frames += 1
        self.stats.ended_ids = []
        boxes = np.array([_box_of(o) for o in observations]).reshape(-1, 4)
        kps = np.array([np.nan_to_num(np.asarray(o.keypoints, dtype=np.float64), nan=-1e6)
                        for o in observations]).reshape(-1, 17, 2)
        vis = np.array([(np.asarray(o.scores) >= c.min_joint_score) & np.isfinite(np.asarray(o.keypoints)).all(1)
                        for o in observations]).reshape(-1, 17)
        looks = [colour_descriptor(image_rgb, k) for k in kps] if image_rgb is not None else [None] * len(kps)
        for t in self.tracks:
            t.kalman.predict(c.velocity_damping if t.misses else 1.0)
            t.age += 1
        matches: dict[int, int] = {}  # detection -> track index
        # Stage 1: active tracks by IoU + OKS against the prediction.
        active = [i for i, t in enumerate(self.tracks) if t.state != TrackState.LOST]
        if active and len(observations):
            pred_boxes = np.array([self.tracks[i].kalman.box for i in active])
            pred_kps = np.array([self.tracks[i].predicted_keypoints() for i in active])
            pred_vis = np.array([self.tracks[i].visible for i in active])
            area = np.prod(np.maximum(pred_boxes[:, 2:] - pred_boxes[:, :2], 1.0), axis=1)
            sim = c.iou_weight * box_iou_matrix(pred_boxes, boxes) + (1 - c.iou_weight) * oks_matrix(
                pred_kps, pred_vis, kps, vis, area)
            cost = np.where(1.0 - sim <= c.max_cost, 1.0 - sim, np.inf) + self._appearance_cost(active, looks)
            for r, d in min_cost_assignment(cost):
                matches[d] = active[r]
        # Stage 2: every unmatched track (lost ones included) by a motion gate on the rest.
        open_tracks = [i for i, t in enumerate(self.tracks) if i not in matches.values()
                       and t.state != TrackState.TENTATIVE]
        rest = [d for d in range(len(observations)) if d not in matches]
        if open_tracks and rest:
            cost = np.full((len(open_tracks), len(rest)), np.inf)
            for a, i in enumerate(open_tracks):
                t = self.tracks[i]
                pc, pwh = _centre_size(t.kalman.box)
                gate = c.max_centre_distance + c.centre_distance_growth * t.misses
                for b, d in enumerate(rest):
                    dc, dwh = _centre_size(boxes[d])
                    dist = np.linalg.norm(dc - pc) / max(pwh[1], 1.0)
                    ratio = max(dwh[1], 1.0) / max(pwh[1], 1.0)
                    if dist <= gate and 1 / c.max_size_ratio <= ratio <= c.max_size_ratio:
                        cost[a, b] = dist / gate + abs(np.log(ratio))
            cost = cost + self._appearance_cost(open_tracks, [looks[d] for d in rest])
            for a, b in min_cost_assignment(cost):
                matches[rest[b]] = open_tracks[a]
        # Update matched tracks, age the others, start new ones.
        out_ids = [-1] * len(observations)
        for d, i in matches.items():
            t = self.tracks[i]
            t.kalman.update(boxes[d])
            if t.state == TrackState.LOST:
                self.stats.recovered += 1
            t.keypoints = np.where(vis[d][:, None], kps[d], t.predicted_keypoints())
            t.visible = vis[d] | t.visible
            t.last_box = boxes[d].copy()
            t.appearance = _blend(t.appearance, looks[d], c.appearance_memory)
            t.hits += 1
            t.misses = 0
            if t.state == TrackState.LOST or t.hits >= c.min_hits:
                t.state = TrackState.CONFIRMED
            out_ids[d] = t.track_id
        kept: list[Track] = []
        for i, t in enumerate(self.tracks):
            if i not in matches.values():
                t.misses += 1
                if t.state == TrackState.TENTATIVE or t.misses > c.max_lost:
                    self.stats.tracks_ended += 1
                    self.stats.ended_ids.append(t.track_id)
                    continue
                t.state = TrackState.LOST
            kept.append(t)
        for d in range(len(observations)):
            if out_ids[d] < 0:
                t = Track(next(self._ids), BoxKalman(boxes[d]), kps[d].copy(), vis[d].copy(), boxes[d].copy(),
                          TrackState.CONFIRMED if c.min_hits <= 1 else TrackState.TENTATIVE, appearance=looks[d])
                kept.append(t)
                self.stats.tracks_started += 1
                out_ids[d] = t.track_id
        self.tracks = kept
        return [dataclasses.replace(o, track_id=int(k)) for o, k in zip(observations, out_ids)]

    def _appearance_cost(self, track_index: list[int], looks: list) -> np.ndarray:
        """``[tracks, detections]``: weight x colour distance, inf beyond ``max_appearance`` (0 without images)."""
        c = self.config
        out = np.zeros((len(track_index), len(looks)))
        for a, i in enumerate(track_index):
            model = self.tracks[i].appearance
            for b, look in enumerate(looks):
                if model is not None and look is not None:
                    dist = appearance_distance(model, look)
                    out[a, b] = c.appearance_weight * dist if dist <= c.max_appearance else np.inf
        return out

    def state_of(self, track_id: int) -> TrackState | None:
        return next((t.state for t in self.tracks if t.track_id == track_id), None)


def _blend(model: np.ndarray | None, look: np.ndarray | None, keep: float) -> np.ndarray | None:
    """Running colour model: rows known in both are blended, otherwise the known one is kept."""
    if model is None or look is None:
        return look if model is None else model
    ok_m, ok_l = np.isfinite(model).all(1, keepdims=True), np.isfinite(look).all(1, keepdims=True)
    return np.where(ok_m & ok_l, keep * model + (1 - keep) * look, np.where(ok_m, model, look))


def _box_of(obs) -> np.ndarray:
    """The observation's box, or the bounding box of its finite keypoints."""
    box = np.asarray(getattr(obs, "box", np.full(4, np.nan)), dtype=np.float64)
    if box.shape == (4,) and np.isfinite(box).all() and (box[2:] > box[:2]).all():
        return box
    kp = np.asarray(obs.keypoints, dtype=np.float64)
    kp = kp[np.isfinite(kp).all(1)]
    return np.r_[kp.min(0), kp.max(0) + 1.0] if len(kp) else np.array([0.0, 0.0, 1.0, 1.0])


def _centre_size(box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    box = np.asarray(box, dtype=np.float64)
    return (box[:2] + box[2:]) / 2, np.maximum(box[2:] - box[:2], 1.0)


def _cxcywh(box: np.ndarray) -> tuple[float, float, float, float]:
    c, wh = _centre_size(box)
    return float(c[0]), float(c[1]), float(wh[0]), float(wh[1])
