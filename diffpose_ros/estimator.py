"""The ROS-free estimator pipeline: RGB image + camera -> people, each with m 3D pose hypotheses.

``PoseEstimator.estimate(image, camera)`` runs the 2D detector (BlazePose, tracked across frames) and, per
person, the heatmap-guided diffusion sampler. ``estimate_from_observations`` starts from 2D evidence given by
someone else (another detector, synthetic heatmaps). The ROS node, the demo and the evaluations all use it.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from diffpose_ros.core.camera import PinholeCamera
from diffpose_ros.core.input_limits import InputLimits
from diffpose_ros.core.skeleton import nominal_height
from diffpose_ros.sampling.config import DEFAULT as SAMPLER
from diffpose_ros.sampling.config import DEFAULT_BODY_HEIGHT, PRESET_SETTINGS, SamplerConfig


@dataclass
class EstimatorConfig:
    device: str = "cpu"
    seed: int = 0  # -1: nondeterministic
    num_hypotheses: int = SAMPLER.num_hypotheses
    num_steps: int = SAMPLER.num_steps
    guidance_scale: float = SAMPLER.guidance_scale
    guidance_iters: int = SAMPLER.guidance_iters
    eta: float = SAMPLER.eta
    resample_every: int = SAMPLER.resample_every  # resample the hypotheses every n-th step (0 = off)
    # a person whose gross detector error was dropped re-runs from t/T < this without it (0 = off; ~1.2x time)
    restart_below: float = SAMPLER.restart_below
    restart_all: bool = SAMPLER.restart_all  # with restart_below: everyone re-runs (restart sampling; ~1.4-1.5x time)
    restart_refine: int = SAMPLER.restart_refine  # the re-run's steps per main-grid step (2: the accurate preset)
    evidence_gain: float = SAMPLER.evidence_gain  # exponent of the Kalman-like per-joint guidance gain (accurate: 1.5)
    # stature (m) of the people seen; < 0: the prior's training statures if it records them, else 1.70 m +- 4 %;
    # 0: the prior's own sizes
    body_height: float = -1.0
    body_height_sd: float = DEFAULT_BODY_HEIGHT[1]  # relative spread of an explicit body_height
    tilt_prior_deg: tuple[float, float] = SAMPLER.tilt_prior_deg  # camera pitch range used while gravity is unknown
    gravity: tuple[float, ...] = ()  # gravity in the camera optical frame (any length); () = unknown
    # the camera centre's height (m) above the floor people stand on; with gravity known the floor tells each
    # person's size and distance (sampling.floor_contact); 0 = unknown
    camera_height: float = 0.0
    prior_weights: str = ""  # empty: the shipped prior
    detector_model: str = "full"
    person_detector: str = "centernet"
    detector_model_dir: str = ""
    max_people: int = 4
    min_detection_score: float = 0.5
    min_presence: float = 0.5
    min_joint_score: float = 0.2
    detector_threads: int = 2
    tracking: bool = True  # video: ROI reuse in the detector + identity tracking (stable track ids)
    redetect_every: int = 1  # video: the person detector runs every n-th frame while fewer than max_people tracked
    min_person_px: float = 40.0  # detected people whose visible joints span less are dropped (e.g. only a head
    # at the image border: the landmark model folds every joint into it, and the 3D lands 60-140 m away)
    track_min_hits: int = 2  # matches before a track is confirmed
    track_max_lost: int = 10  # frames a person may be missed (occlusion) and keep the id
    trust_external_ids: bool = True  # keep Observations2D track ids when all are set (false: the tracker assigns)
    warm_start: bool = True  # start a tracked person's sampler from its previous hypotheses, re-noised
    warm_strength: float = 0.3  # fraction of the denoising steps run on warm frames
    warm_max_residual: float = 0.15  # warm only if the previous pose fits the new 2D (residual / box height)
    weight_memory: float = 0.5  # warm frames: weights *= previous weights ** this (hypotheses persist; 0 = off)
    smooth_depth: bool = True  # constant-velocity Kalman filter on each track's log pelvis depth
    depth_meas_std: float = 0.12  # log-depth noise of one frame's estimate
    depth_accel_std: float = 0.01  # log-depth velocity change per frame
    smooth_pose: bool = True  # warm frames: constant-velocity Kalman filter on each hypothesis' joints
    pose_meas_std: float = 0.05  # metres: joint noise of one frame's hypothesis
    pose_accel_std: float = 0.02  # metres / frame^2: joint acceleration of real motion
    batch_people: bool = True  # all people of a frame in one sampler batch
    max_people_per_frame: int = 16  # detector output is cut to the best ones; more given observations are refused

    @classmethod
    def from_params(cls, p: dict[str, Any]) -> "EstimatorConfig":
        """From the node's parameter dict (names as in config/estimator.yaml)."""
        return cls(**{f: p[name] for name, f in PARAM_FIELDS.items()})

    def sampler_config(self) -> SamplerConfig:
        """The sampler settings: the shared defaults with this configuration's overrides."""
        return SAMPLER.with_(**{name: getattr(self, name) for name in PRESET_SETTINGS},
                             body_height=self.body_height_prior(), tilt_prior_deg=tuple(self.tilt_prior_deg))

    def body_height_prior(self) -> tuple[float, float] | None:
        """The sampler's ``body_height``: None (the prior's own record) while ``body_height`` is negative."""
        return None if self.body_height < 0 else (self.body_height, self.body_height_sd)


FLOOR_MEMORY_FRAMES = 20  # a warm hypothesis's height averages its last ~this many floor measurements


# Node parameter name -> EstimatorConfig field.
PARAM_FIELDS = {
    "device": "device", "seed": "seed", "num_hypotheses": "num_hypotheses", "num_steps": "num_steps",
    "guidance_scale": "guidance_scale", "guidance_iters": "guidance_iters", "eta": "eta",
    "resample_every": "resample_every", "restart_below": "restart_below", "restart_all": "restart_all",
    "restart_refine": "restart_refine", "evidence_gain": "evidence_gain",
    "prior_weights": "prior_weights", "detector.model": "detector_model",
    "detector.model_dir": "detector_model_dir",
    "detector.person_detector": "person_detector",
    "detector.max_people": "max_people", "detector.min_detection_score": "min_detection_score",
    "detector.min_presence": "min_presence", "detector.min_joint_score": "min_joint_score",
    "detector.threads": "detector_threads", "detector.tracking": "tracking",
    "detector.redetect_every": "redetect_every", "detector.min_person_px": "min_person_px",
    "max_people_per_frame": "max_people_per_frame", "body_height": "body_height",
    "body_height_sd": "body_height_sd", "tilt_prior_deg": "tilt_prior_deg",
    "floor.camera_height": "camera_height",
    "tracking.min_hits": "track_min_hits", "tracking.max_lost": "track_max_lost",
    "tracking.trust_external_ids": "trust_external_ids", "temporal.warm_start": "warm_start",
    "temporal.warm_strength": "warm_strength", "temporal.warm_max_residual": "warm_max_residual",
    "temporal.weight_memory": "weight_memory", "temporal.smooth_depth": "smooth_depth",
    "temporal.depth_meas_std": "depth_meas_std", "temporal.depth_accel_std": "depth_accel_std",
    "temporal.smooth_pose": "smooth_pose", "temporal.pose_meas_std": "pose_meas_std",
    "temporal.pose_accel_std": "pose_accel_std", "batch_people": "batch_people",
}
# Fields PoseEstimator.reconfigure changes on a running estimator; the others need a new PoseEstimator.
LIVE_FIELDS = frozenset({"seed", "num_hypotheses", "num_steps", "guidance_scale", "guidance_iters", "eta",
                         "resample_every", "restart_below", "restart_all", "restart_refine", "evidence_gain",
                         "max_people", "min_detection_score", "min_presence", "min_joint_score",
                         "max_people_per_frame", "body_height", "body_height_sd", "tilt_prior_deg", "gravity",
                         "camera_height", "min_person_px"})


@dataclass
class PersonEstimate:
    """One person: the 2D evidence used and the 3D hypotheses (metres, camera optical frame)."""

    track_id: int
    detection_score: float
    keypoints: np.ndarray  # [17, 2] image px
    keypoint_scores: np.ndarray  # [17]; 0 where the joint gave no guidance
    hypotheses: np.ndarray  # [m, 17, 3]
    weights: np.ndarray  # [m], sum 1
    mean: np.ndarray  # [17, 3]
    spread: np.ndarray  # [17] metres
    translation_is_metric: bool
    observation: Any = None


@dataclass
class FrameEstimate:
    people: list[PersonEstimate]
    timings_ms: dict[str, float] = field(default_factory=dict)
    people_cut: int = 0  # detected people beyond max_people_per_frame (the least confident), not estimated
    people_too_small: int = 0  # detected people whose visible joints span < min_person_px (no usable 3D)
    warm_people: int = 0  # people sampled from their previous frame's hypotheses (video)


def resolve_device(name: str) -> torch.device:
    """``cpu``/``cuda``/``cuda:N``; a clear error if CUDA is asked for but absent."""
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available (use device: cpu)")
    return dev


class PoseEstimator:
    """Detector + guided diffusion sampler, one call per frame."""

    def __init__(self, config: EstimatorConfig | None = None, detector=None) -> None:
        from diffpose_ros.prior.pose_prior import PosePrior

        self.config = c = config or EstimatorConfig()
        self.device = resolve_device(c.device)
        self.prior = PosePrior.load(c.prior_weights or None, device=self.device).eval()
        self.sampler = c.sampler_config().build(self.prior, seed=None if c.seed < 0 else c.seed,
                                                min_score=c.min_joint_score)
        self._detector = detector
        self.tracker = None
        if c.tracking:
            from diffpose_ros.tracking.tracker import PersonTracker, TrackerConfig

            self.tracker = PersonTracker(TrackerConfig(min_hits=c.track_min_hits, max_lost=c.track_max_lost))
        self._memory: dict = {}  # track id -> TrackMemory
        self._frame = 0
        self._last_gravity: np.ndarray | None = None  # unit gravity of the previous frame (None: unknown)

    def reset(self) -> None:
        """Forget all tracks (a new video)."""
        if self.tracker is not None:
            self.tracker.reset()
        self._memory.clear()
        self._frame = 0
        self._last_gravity = None

    def reconfigure(self, **changes: Any) -> None:
        """Change LIVE_FIELDS of the running estimator (sampler and detector settings); ValueError otherwise.

        Not synchronised with ``estimate``: callers running both in different threads serialise them.
        """
        fixed = sorted(set(changes) - LIVE_FIELDS)
        if fixed:
            raise ValueError(f"cannot change {', '.join(fixed)} on a running estimator (live: {sorted(LIVE_FIELDS)})")
        c = self.config = dataclasses.replace(self.config, **changes)
        s = self.sampler
        for name in PRESET_SETTINGS:
            if name != "num_steps":  # below: it re-builds the timestep grid
                setattr(s, name, getattr(c, name))
        s.min_score = c.min_joint_score
        s.set_body_height(c.body_height_prior())
        s.tilt_prior_deg = tuple(c.tilt_prior_deg)
        if "num_steps" in changes:
            s.set_num_steps(c.num_steps)
        if "seed" in changes:
            s.generator.seed() if c.seed < 0 else s.generator.manual_seed(c.seed)
        if self._detector is not None:
            self._configure_detector()

    def _configure_detector(self) -> None:
        """Push the live detector settings into a built BlazePose detector (other detectors keep theirs)."""
        from diffpose_ros.detector.blazepose import BlazePoseDetector

        c, det = self.config, getattr(self._detector, "detector", self._detector)  # a tracker wraps the detector
        if isinstance(det, BlazePoseDetector):
            det.config = dataclasses.replace(det.config, max_people=c.max_people,
                                             detection_threshold=c.min_detection_score,
                                             presence_threshold=c.min_presence)
            if c.person_detector == "mediapipe":  # CenterNet keeps its own box threshold
                det.person_detector.score_threshold = c.min_detection_score

    @property
    def detector(self):
        """The 2D detector, built on first use (observation-driven runs never load TFLite)."""
        if self._detector is None:
            from diffpose_ros.detector.blazepose import BlazePoseDetector

            c = self.config
            det = BlazePoseDetector(c.detector_model, max_people=c.max_people, threads=c.detector_threads,
                                    model_dir=c.detector_model_dir or None, person_detector=c.person_detector,
                                    detection_threshold=c.min_detection_score, presence_threshold=c.min_presence)
            if c.tracking:
                from diffpose_ros.detector.tracking import BlazePoseTracker

                det = BlazePoseTracker(det, redetect_every=c.redetect_every)
            self._detector = det
        return self._detector

    def estimate(self, image_rgb: np.ndarray, camera: PinholeCamera, gravity: np.ndarray | None = None,
                 camera_height: float | None = None) -> FrameEstimate:
        """Detect people in an RGB (or grey) image and sample hypotheses for each (video: call per frame).

        ``gravity`` (camera optical frame) keeps the hypotheses upright; None = ``config.gravity`` or unknown.
        With gravity known, ``camera_height`` (m above the floor; None = ``config.camera_height``, 0 = unknown) lets
        the floor set each person's size and distance.
        With ``tracking`` the identity tracker assigns the ``track_id``s (the image adds a colour cue).
        """
        t0 = time.perf_counter()
        found = sorted(self.detector.detect(image_rgb), key=lambda o: -o.score)
        detect_ms = 1e3 * (time.perf_counter() - t0)
        observations = [o for o in found if self._visible_extent_px(o) >= self.config.min_person_px]
        keep = self.config.max_people_per_frame
        frame = self._sample_people(observations[:keep], camera, gravity, image_rgb, assign_ids=True,
                                    camera_height=camera_height)
        frame.timings_ms = {"detect": detect_ms, **frame.timings_ms}
        frame.people_cut = max(0, len(observations) - keep)
        frame.people_too_small = len(found) - len(observations)
        return frame

    def _visible_extent_px(self, obs) -> float:
        """Larger side (px) of the box around the joints the sampler would use."""
        kp = np.asarray(obs.keypoints, dtype=np.float64)
        used = (np.asarray(obs.scores) >= self.config.min_joint_score) & np.isfinite(kp).all(-1)
        return float(np.ptp(kp[used], axis=0).max()) if used.sum() >= 2 else 0.0

    def estimate_from_observations(self, observations, camera: PinholeCamera, gravity: np.ndarray | None = None,
                                   camera_height: float | None = None) -> FrameEstimate:
        """Sample hypotheses for 2D observations (``PersonObservation`` list) already in the image (``gravity`` and
        ``camera_height`` as in :meth:`estimate`).

        Their ``track_id``s are kept when all are set and ``trust_external_ids``; otherwise (with ``tracking``)
        the identity tracker assigns them. Raises BadInputError (too_many_people) for more than
        ``max_people_per_frame`` observations.
        """
        InputLimits(max_people=self.config.max_people_per_frame).check_people(len(observations))
        observations = list(observations)
        keep = self.config.trust_external_ids and all(getattr(o, "track_id", -1) >= 0 for o in observations)
        return self._sample_people(observations, camera, gravity, None, assign_ids=not keep,
                                   camera_height=camera_height)

    def _gravity_changed(self, gravity: np.ndarray | None, tolerance_deg: float = 3.0) -> bool:
        """Whether gravity became known, unknown, or turned by more than ``tolerance_deg`` since the last frame."""
        last = self._last_gravity
        self._last_gravity = None if gravity is None else np.asarray(gravity, float) / np.linalg.norm(gravity)
        if last is None or self._last_gravity is None:
            return (last is None) != (self._last_gravity is None)
        return float(last @ self._last_gravity) < np.cos(np.radians(tolerance_deg))

    def _sample_people(self, observations: list, camera: PinholeCamera, gravity: np.ndarray | None,
                       image_rgb: np.ndarray | None, assign_ids: bool, camera_height: float | None = None
                       ) -> FrameEstimate:
        """Track (optionally), then sample every person in one batch; tracked people are warm-started from
        their previous frame and filtered over time (``temporal.*``)."""
        from diffpose_ros.tracking.temporal import ConstantVelocityFilter, TrackMemory, rescale_about_camera

        c = self.config
        t0 = time.perf_counter()
        if assign_ids and self.tracker is not None:
            observations = self.tracker.update(observations, image_rgb)
        track_ms = 1e3 * (time.perf_counter() - t0)
        if gravity is None and c.gravity:
            gravity = np.asarray(c.gravity, dtype=np.float64)
        if self._gravity_changed(gravity):  # hypotheses sampled under another "up" must not seed this frame's
            self._memory.clear()
        height = c.camera_height if camera_height is None else float(camera_height)
        floor = height if height > 0 and gravity is not None else None
        self._frame += 1
        ids = [int(getattr(o, "track_id", -1)) for o in observations]
        tracks = [t if c.tracking and t >= 0 else -1 for t in ids]  # people with temporal state
        memories = [self._memory.get(t) if t >= 0 and tracks.count(t) == 1 else None for t in tracks]
        coherent = [self._coherent(mem, obs, camera) for mem, obs in zip(memories, observations)]
        inits = [mem.hypotheses_rr if ok and c.warm_start and mem.hypotheses_rr.shape[0] == self.sampler.num_hypotheses
                 else None for mem, ok in zip(memories, coherent)]
        if c.batch_people:
            results = self.sampler.sample_many(observations, camera, gravity=gravity, inits=inits,
                                               init_strength=c.warm_strength, camera_height=floor)
        else:
            results = [self.sampler.sample(o, camera, gravity=gravity, init=i, init_strength=c.warm_strength,
                                           camera_height=floor) for o, i in zip(observations, inits)]
        people = []
        for i, (obs, result, track, mem, init, ok) in enumerate(zip(observations, results, tracks, memories, inits,
                                                                    coherent)):
            used = np.where(np.asarray(obs.scores) >= c.min_joint_score, obs.scores, 0.0)
            if init is not None and "ancestry" in result.info:  # resampled: per-hypothesis state follows its row
                mem.follow(result.info["ancestry"])
            if init is not None and c.weight_memory > 0 and mem.weights is not None:
                result = _carry_weights(result, mem.weights, c.weight_memory)
            person = PersonEstimate(
                track_id=ids[i] if ids[i] >= 0 else i, detection_score=float(obs.score),
                keypoints=np.asarray(obs.keypoints), keypoint_scores=np.asarray(used, dtype=np.float64),
                hypotheses=result.poses_camera, weights=result.weights, mean=result.mean, spread=result.spread,
                translation_is_metric=result.translation_is_metric, observation=obs)
            if track >= 0:
                if not ok:  # a new track, a gap or a jump: the temporal state starts over
                    mem = self._memory[track] = TrackMemory(ConstantVelocityFilter(c.depth_accel_std, c.depth_meas_std),
                                                            ConstantVelocityFilter(c.pose_accel_std, c.pose_meas_std))
                measured = result.info.get("floor_measured")  # [m] bool, with the floor known
                if init is None or mem.heights is None:  # the sampler drew each hypothesis a body height ...
                    mem.heights = nominal_height(person.hypotheses - person.hypotheses[:, :1])
                    mem.floor_counts = None if measured is None else measured.astype(np.int64)
                else:  # ... which hypothesis i keeps while it continues (scaled about the camera: same 2D);
                    sized = nominal_height(person.hypotheses - person.hypotheses[:, :1])  # as sampled this frame
                    if measured is not None:  # where the floor measured it again: the running mean (log) of those
                        n = np.zeros(len(sized), np.int64) if mem.floor_counts is None else mem.floor_counts
                        gain = np.where(measured, 1.0 / (np.minimum(n, FLOOR_MEMORY_FRAMES) + 1), 0.0)
                        mem.heights = mem.heights * (sized / mem.heights) ** gain
                        mem.floor_counts = n + measured
                    person = _rescale_hypotheses(person, sized, mem.heights)
                # the next warm start continues the sampled bodies: the pose and depth filters below smooth only the
                # output (the pose filter's output as the warm start compounded its lag: temporal_benchmark's best-16
                # 1.5-4 mm worse)
                mem.hypotheses_rr = person.hypotheses - person.hypotheses[:, :1]
                if c.smooth_pose:
                    if init is None:  # cold: no hypothesis correspondence with the past
                        mem.pose.x = None
                    person = _replace_root_relative(person, mem.pose.update(mem.hypotheses_rr))
                depth = float(person.mean[0, 2])
                if c.smooth_depth and not result.translation_is_metric and depth > 0:
                    smoothed = float(np.exp(mem.depth.update(np.log([depth]))[0]))
                    person = rescale_about_camera(person, smoothed / depth)
                mem.depth_m = float(person.mean[0, 2])
                mem.weights = person.weights
                mem.box = np.asarray(obs.box, dtype=np.float64)
                mem.last_frame = self._frame
            people.append(person)
        self._memory = {t: m for t, m in self._memory.items() if self._frame - m.last_frame <= c.track_max_lost}
        warm = sum(i is not None for i in inits)
        return FrameEstimate(people, {"track": track_ms, "sample": 1e3 * (time.perf_counter() - t0) - track_ms},
                             warm_people=warm)

    def _coherent(self, mem, obs, camera: PinholeCamera) -> bool:
        """Whether ``obs`` looks like the next frame of the track: the last frame's, its box barely moved
        (:func:`_continues`) and the previous mean pose still fits the new 2D shape (mean residual after
        centring and scaling <= ``warm_max_residual`` of the person's size)."""
        if mem is None or mem.hypotheses_rr is None or self._frame - mem.last_frame != 1 or not _continues(mem, obs):
            return False
        kp = np.asarray(obs.keypoints, dtype=np.float64)
        ok = np.isfinite(kp).all(1) & (np.asarray(obs.scores) >= self.config.min_joint_score)
        if ok.sum() < 4:
            return False
        proj = camera.project(mem.hypotheses_rr.mean(0) + np.array([0.0, 0.0, mem.depth_m]))
        a, b = proj[ok] - proj[ok].mean(0), kp[ok] - kp[ok].mean(0)
        scale = float((a * b).sum() / max((a * a).sum(), 1e-9))
        size = float(np.ptp(kp[ok], axis=0).max())
        residual = float(np.linalg.norm(scale * a - b, axis=1).mean()) / max(size, 1.0)
        return scale > 0 and residual <= self.config.warm_max_residual


def _weighted(w: np.ndarray, hyp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean ``[17, 3]`` and per-joint spread ``[17]`` (root-relative) of hypotheses ``[m, 17, 3]``."""
    rr = hyp - hyp[:, :1]
    mean_rr = np.einsum("m,mjk->jk", w, rr)
    return np.einsum("m,mjk->jk", w, hyp), np.sqrt(np.einsum("m,mj->j", w, ((rr - mean_rr) ** 2).sum(-1)))


def _carry_weights(result, previous: np.ndarray, power: float):
    """Warm-started hypothesis i continues row i of ``previous`` (already reordered by the resampling's
    ancestry, see ``TrackMemory.follow``): its weight keeps ``previous ** power`` of its past (a particle filter's
    weight update with forgetting); mean and spread follow the new weights."""
    w = np.asarray(result.weights, dtype=np.float64) * np.power(np.maximum(previous, 1e-12), power)
    w = w / w.sum()
    mean, spread = _weighted(w, result.poses_camera.astype(np.float64))
    mean_rr, _ = _weighted(w, result.poses_root_relative.astype(np.float64))
    return dataclasses.replace(result, weights=w, mean=mean, mean_root_relative=mean_rr, spread=spread)


def _with_hypotheses(person: PersonEstimate, hyp: np.ndarray) -> PersonEstimate:
    mean, spread = _weighted(np.asarray(person.weights, dtype=np.float64), hyp)
    return dataclasses.replace(person, hypotheses=hyp, mean=mean, spread=spread)


def _rescale_hypotheses(person: PersonEstimate, now: np.ndarray, heights: np.ndarray) -> PersonEstimate:
    """Each hypothesis scaled about the camera centre from its body height ``now[i]`` to ``heights[i]`` (2D
    projection unchanged)."""
    scale = np.where(now > 1e-3, heights / np.maximum(now, 1e-3), 1.0)
    return _with_hypotheses(person, person.hypotheses * scale[:, None, None])


def _replace_root_relative(person: PersonEstimate, rr: np.ndarray) -> PersonEstimate:
    """The person with root-relative hypotheses ``rr`` [m, 17, 3] at the same pelvis positions."""
    return _with_hypotheses(person, rr + person.hypotheses[:, :1])


def _continues(mem, obs, max_move: float = 0.25, max_ratio: float = 1.2) -> bool:
    """Whether ``obs`` can be the track's next frame: its box moved less than ``max_move`` box heights and its
    height changed less than ``max_ratio`` (guards the temporal state against ids that do not follow people)."""
    if mem.box is None:
        return True
    a, b = mem.box, np.asarray(obs.box, dtype=np.float64)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return False
    h = max(a[3] - a[1], 1.0)
    moved = np.linalg.norm((a[:2] + a[2:]) / 2 - (b[:2] + b[2:]) / 2) / h
    ratio = max(b[3] - b[1], 1.0) / h
    return bool(moved <= max_move and 1 / max_ratio <= ratio <= max_ratio)
