"""The estimator node's parameters: one table with defaults, descriptions and checks.

Every parameter is declared with a description (visible with ``ros2 param describe``) and validated at start:
a bad value raises ParameterError naming the parameter, the value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy


class ParameterError(ValueError):
    """A parameter has an invalid value."""


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    description: str
    check: "Callable[[Any], bool] | None" = None
    allowed: str = ""


def _choice(*values: str) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: v in values), "one of " + ", ".join(values)


def _range(lo: float, hi: float) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: lo <= v <= hi), f"in [{lo}, {hi}]"


PARAMS: tuple[Param, ...] = (
    Param("device", "cpu", "torch device for the diffusion sampler: cpu, cuda or cuda:N",
          lambda v: v == "cpu" or v == "cuda" or (v.startswith("cuda:") and v[5:].isdigit()), "cpu, cuda or cuda:N"),
    Param("seed", 0, "random seed of the sampler (-1: a new seed every run)", *_range(-1, 2**31 - 1)),
    Param("num_hypotheses", 16, "number m of 3D hypotheses sampled per person", *_range(1, 512)),
    Param("num_steps", 10, "denoising steps per frame (1..1000; more = slower, see the benchmark)", *_range(1, 1000)),
    Param("guidance_scale", 1.0, "strength of the heatmap guidance (0 = unguided prior samples)", *_range(0.0, 1e3)),
    Param("guidance_iters", 1, "guidance iterations per denoising step (2: more accurate, ~35% slower)",
          *_range(1, 20)),
    Param("eta", 1.0, "sampler stochasticity: 1 = DDPM-like (most accurate), 0 = deterministic DDIM",
          *_range(0.0, 1.0)),
    Param("prior_weights", "", "path of the pose prior weights (.pt); empty = the shipped prior"),
    Param("input", "image", "what drives the estimator: image (sensor_msgs/Image on 'image'), compressed "
          "(sensor_msgs/CompressedImage on 'compressed_image') or observations (diffpose_msgs/Observations2D on "
          "'observations', e.g. from another 2D detector)", *_choice("image", "compressed", "observations")),
    Param("detector.model", "full", "BlazePose landmark model: lite, full or heavy", *_choice("lite", "full", "heavy")),
    Param("detector.model_dir", "", "directory of the .tflite models; empty = the installed models"),
    Param("detector.max_people", 4, "maximum number of people per image", *_range(1, 32)),
    Param("detector.min_detection_score", 0.5, "person detector score threshold", *_range(0.0, 1.0)),
    Param("detector.min_presence", 0.5, "landmark-model pose presence threshold", *_range(0.0, 1.0)),
    Param("detector.min_joint_score", 0.2, "joints below this visibility give no guidance", *_range(0.0, 1.0)),
    Param("detector.threads", 2, "TFLite interpreter threads", *_range(1, 64)),
    Param("detector.tracking", True, "track person ROIs across frames (video); false = detect every frame"),
    Param("tracking.min_hits", 2, "detections before a new person's track is confirmed", *_range(1, 100)),
    Param("tracking.max_lost", 10, "frames a tracked person may be missed (occlusion, crossing) and keep its id",
          *_range(0, 1000)),
    Param("tracking.trust_external_ids", True, "input: observations: keep the external detector's track ids "
          "(false: the node's tracker assigns ids, for detectors that only number people 0, 1, ...)"),
    Param("temporal.warm_start", True, "start a tracked person's sampler from its previous hypotheses, re-noised "
          "(fewer steps, coherent poses)"),
    Param("temporal.warm_strength", 0.3, "fraction of num_steps run on warm-started frames", *_range(0.01, 1.0)),
    Param("temporal.warm_max_residual", 0.15, "warm-start only if the previous pose fits the new 2D keypoints "
          "within this mean residual (fraction of the person's size)", *_range(0.0, 10.0)),
    Param("temporal.weight_memory", 0.5, "warm frames: hypothesis weights keep previous_weight ** this of their "
          "past (0 = per-frame weights)", *_range(0.0, 1.0)),
    Param("temporal.smooth_depth", True, "filter each track's pelvis depth (constant-velocity Kalman on log "
          "depth, applied as a scale about the camera: 2D projections unchanged)"),
    Param("temporal.depth_meas_std", 0.12, "log-depth noise of one frame's estimate (larger = smoother)",
          *_range(1e-4, 10.0)),
    Param("temporal.depth_accel_std", 0.01, "log-depth velocity change per frame (larger = follows faster)",
          *_range(1e-6, 10.0)),
    Param("temporal.smooth_pose", True, "warm frames: constant-velocity Kalman filter on every hypothesis' joints "
          "(hypothesis i continues hypothesis i of the previous frame)"),
    Param("temporal.pose_meas_std", 0.05, "metres: joint noise of one frame's hypothesis (larger = smoother)",
          *_range(1e-4, 10.0)),
    Param("temporal.pose_accel_std", 0.03, "metres per frame^2: joint acceleration of real motion (larger = "
          "follows faster)", *_range(1e-6, 10.0)),
    Param("batch_people", True, "sample all people of a frame in one batch (false: one sampler call each)"),
    Param("image_qos.reliability", "best_effort", "reliability of the image subscription: best_effort (sensor data) "
          "or reliable (lossless replay)", *_choice("best_effort", "reliable")),
    Param("image_qos.depth", 1, "queue depth of the image subscription", *_range(1, 1000)),
    Param("output_qos.reliability", "reliable", "reliability of the outputs", *_choice("best_effort", "reliable")),
    Param("output_qos.depth", 10, "queue depth of the outputs", *_range(1, 1000)),
    Param("process_every_frame", False, "queue frames instead of processing only the newest (replay evaluation)"),
    Param("camera_info_sync_tolerance", 0.02, "max |image stamp - camera_info stamp| in seconds to pair them",
          *_range(0.0, 10.0)),
    Param("camera_info_wait", 0.1, "seconds a frame waits for the CameraInfo with its stamp before the nearest "
          "one (or the fallback) is used", *_range(0.0, 10.0)),
    Param("fallback_horizontal_fov_deg", 60.0, "horizontal field of view assumed (with a warning) while no "
          "camera_info has arrived", *_range(1.0, 179.0)),
    Param("require_camera_info", False, "drop frames (counted) instead of using the fallback intrinsics"),
    Param("max_image_pixels", 4096 * 4096, "larger images are dropped (counted) as bad input", *_range(1, 2**28)),
    Param("markers.enabled", True, "publish visualization_msgs/MarkerArray on ~/markers"),
    Param("markers.max_hypotheses", 16, "hypotheses drawn per person (the most likely first)", *_range(0, 512)),
    Param("markers.line_width", 0.02, "bone line width in metres", *_range(0.001, 1.0)),
    Param("markers.joint_size", 0.04, "joint sphere diameter in metres", *_range(0.001, 1.0)),
    Param("diagnostics_period", 1.0, "seconds between /diagnostics messages", *_range(0.05, 3600.0)),
)


def declare_and_read(node) -> dict[str, Any]:
    """Declare every parameter on ``node`` and return validated values; raises ParameterError."""
    values: dict[str, Any] = {}
    for p in PARAMS:
        desc = ParameterDescriptor(description=p.description + (f" ({p.allowed})" if p.allowed else ""))
        try:
            value = node.declare_parameter(p.name, p.default, desc).value
        except Exception as exc:
            raise ParameterError(f"parameter {p.name!r}: {exc} (expected {type(p.default).__name__})") from exc
        if isinstance(p.default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not type(p.default):
            raise ParameterError(f"parameter {p.name!r} = {value!r} has type {type(value).__name__}, "
                                 f"expected {type(p.default).__name__}")
        if p.check is not None and not p.check(value):
            raise ParameterError(f"parameter {p.name!r} = {value!r} is invalid: must be {p.allowed}")
        values[p.name] = value
    return values


def qos_profile(reliability: str, depth: int) -> QoSProfile:
    """QoS from a reliability name and a depth (keep-last, volatile)."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
    )
