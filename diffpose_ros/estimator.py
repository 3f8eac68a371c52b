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


@dataclass
class EstimatorConfig:
    device: str = "cpu"
    seed: int = 0  # -1: nondeterministic
    num_hypotheses: int = 16
    num_steps: int = 10
    guidance_scale: float = 1.0
    guidance_iters: int = 1
    eta: float = 1.0
    prior_weights: str = ""  # empty: the shipped prior
    detector_model: str = "full"
    detector_model_dir: str = ""
    max_people: int = 4
    min_detection_score: float = 0.5
    min_presence: float = 0.5
    min_joint_score: float = 0.2
    detector_threads: int = 2
    tracking: bool = True
    max_people_per_frame: int = 16  # detector output is cut to the best ones; more given observations are refused

    @classmethod
    def from_params(cls, p: dict[str, Any]) -> "EstimatorConfig":
        """From the node's parameter dict (names as in config/estimator.yaml)."""
        return cls(**{f: p[name] for name, f in PARAM_FIELDS.items()})


# Node parameter name -> EstimatorConfig field.
PARAM_FIELDS = {
    "device": "device", "seed": "seed", "num_hypotheses": "num_hypotheses", "num_steps": "num_steps",
    "guidance_scale": "guidance_scale", "guidance_iters": "guidance_iters", "eta": "eta",
    "prior_weights": "prior_weights", "detector.model": "detector_model", "detector.model_dir": "detector_model_dir",
    "detector.max_people": "max_people", "detector.min_detection_score": "min_detection_score",
    "detector.min_presence": "min_presence", "detector.min_joint_score": "min_joint_score",
    "detector.threads": "detector_threads", "detector.tracking": "tracking",
    "max_people_per_frame": "max_people_per_frame",
}
# Fields PoseEstimator.reconfigure changes on a running estimator; the others need a new PoseEstimator.
LIVE_FIELDS = frozenset({"seed", "num_hypotheses", "num_steps", "guidance_scale", "guidance_iters", "eta",
                         "max_people", "min_detection_score", "min_presence", "min_joint_score",
                         "max_people_per_frame"})


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
        from diffpose_ros.sampling.sampler import GuidedSampler

        self.config = c = config or EstimatorConfig()
        self.device = resolve_device(c.device)
        self.prior = PosePrior.load(c.prior_weights or None, device=self.device).eval()
        self.sampler = GuidedSampler(self.prior, num_steps=c.num_steps, num_hypotheses=c.num_hypotheses,
                                     guidance_scale=c.guidance_scale, guidance_iters=c.guidance_iters, eta=c.eta,
                                     seed=None if c.seed < 0 else c.seed, min_score=c.min_joint_score)
        self._detector = detector

    def reconfigure(self, **changes: Any) -> None:
        """Change LIVE_FIELDS of the running estimator (sampler and detector settings); ValueError otherwise.

        Not synchronised with ``estimate``: callers running both in different threads serialise them.
        """
        fixed = sorted(set(changes) - LIVE_FIELDS)
        if fixed:
            raise ValueError(f"cannot change {', '.join(fixed)} on a running estimator (live: {sorted(LIVE_FIELDS)})")
        c = self.config = dataclasses.replace(self.config, **changes)
        s = self.sampler
        s.num_hypotheses, s.guidance_scale, s.guidance_iters = c.num_hypotheses, c.guidance_scale, c.guidance_iters
        s.eta, s.min_score = c.eta, c.min_joint_score
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
            det.person_detector.score_threshold = c.min_detection_score

    @property
    def detector(self):
        """The 2D detector, built on first use (observation-driven runs never load TFLite)."""
        if self._detector is None:
            from diffpose_ros.detector.blazepose import BlazePoseDetector

            c = self.config
            det = BlazePoseDetector(c.detector_model, max_people=c.max_people, threads=c.detector_threads,
                                    model_dir=c.detector_model_dir or None,
                                    detection_threshold=c.min_detection_score, presence_threshold=c.min_presence)
            if c.tracking:
                from diffpose_ros.detector.tracking import BlazePoseTracker

                det = BlazePoseTracker(det)
            self._detector = det
        return self._detector

    def estimate(self, image_rgb: np.ndarray, camera: PinholeCamera) -> FrameEstimate:
        """Detect people in an RGB (or grey) image and sample hypotheses for each."""
        t0 = time.perf_counter()
        observations = sorted(self.detector.detect(image_rgb), key=lambda o: -o.score)
        detect_ms = 1e3 * (time.perf_counter() - t0)
        keep = self.config.max_people_per_frame
        frame = self.estimate_from_observations(observations[:keep], camera)
        frame.timings_ms = {"detect": detect_ms, **frame.timings_ms}
        frame.people_cut = max(0, len(observations) - keep)
        return frame

    def estimate_from_observations(self, observations, camera: PinholeCamera) -> FrameEstimate:
        """Sample hypotheses for 2D observations (``PersonObservation`` list) already in the image.

        Raises BadInputError (too_many_people) for more than ``max_people_per_frame`` observations.
        """
        InputLimits(max_people=self.config.max_people_per_frame).check_people(len(observations))
        t0 = time.perf_counter()
        people = []
        for i, obs in enumerate(observations):
            result = self.sampler.sample(obs, camera)
            track = obs.track_id if getattr(obs, "track_id", -1) >= 0 else i
            used = np.where(np.asarray(obs.scores) >= self.config.min_joint_score, obs.scores, 0.0)
            people.append(PersonEstimate(
                track_id=int(track), detection_score=float(obs.score), keypoints=np.asarray(obs.keypoints),
                keypoint_scores=np.asarray(used, dtype=np.float64), hypotheses=result.poses_camera,
                weights=result.weights, mean=result.mean, spread=result.spread,
                translation_is_metric=result.translation_is_metric, observation=obs))
        return FrameEstimate(people, {"sample": 1e3 * (time.perf_counter() - t0)})
