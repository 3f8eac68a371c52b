"""The estimator node's parameters: one table with defaults, descriptions, checks and which may change live.

Every parameter is declared with a description (visible with ``ros2 param describe``), its numeric range
(IntegerRange / FloatingPointRange) and ``read_only`` unless it is applied live; it is validated at start (a bad
value raises ParameterError naming the parameter, the value and what is allowed) and, for live ones, on every
``ros2 param set`` by the same :func:`check_value`.

``preset`` (default, fast, accurate) sets the start values of the sampler settings in ``PRESET_SETTINGS``; a
value given for one of them (params file or ``-p``) wins over the preset's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from diffpose_ros.sampling.config import DEFAULT as SAMPLER
from diffpose_ros.sampling.config import DEFAULT_BODY_HEIGHT, PRESET_SETTINGS, PRESETS


class ParameterError(ValueError):
    """A parameter has an invalid value."""


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    description: str
    check: "Callable[[Any], bool] | None" = None
    allowed: str = ""
    bounds: "tuple[float, float] | None" = None  # numeric range, declared in the descriptor too
    live: bool = False  # applied on `ros2 param set`; otherwise read_only


def _choice(*values: str) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: v in values), "one of " + ", ".join(values)


def _vector(n: int, lo: float = -1e6, hi: float = 1e6, nonzero: bool = True) -> tuple[Callable[[Any], bool], str]:
    def ok(v) -> bool:
        finite = len(v) == n and all(math.isfinite(x) and lo <= x <= hi for x in v)
        return finite and (any(x != 0.0 for x in v) or not nonzero)
    return ok, f"{n} finite numbers in [{lo:g}, {hi:g}]" + (", not all zero" if nonzero else "")


def _range(lo: float, hi: float) -> tuple[Callable[[Any], bool], str, tuple[float, float]]:
    return (lambda v: lo <= v <= hi), f"in [{lo}, {hi}]", (lo, hi)


PARAMS: tuple[Param, ...] = (
    Param("device", "cpu", "torch device for the diffusion sampler: cpu, cuda or cuda:N",
          lambda v: v == "cpu" or v == "cuda" or (v.startswith("cuda:") and v[5:].isdigit()), "cpu, cuda or cuda:N"),
    Param("seed", 0, "random seed of the sampler (-1: a new seed every run)", *_range(-1, 2**31 - 1), live=True),
    Param("preset", "default", "sampler preset giving the start values of the sampler settings not set "
          "explicitly: default (m=16, 10 steps, the real-time budget), fast (6 steps, 1 guidance iteration, ~0.6x "
          "the time) or accurate (everyone re-runs the low-noise half after the gross-error drop on a grid twice as "
          "fine, ~2x the time; the most accurate)", *_choice(*PRESETS)),
    Param("num_hypotheses", SAMPLER.num_hypotheses, "number m of 3D hypotheses sampled per person",
          *_range(1, 512), live=True),
    Param("num_steps", SAMPLER.num_steps, "denoising steps per frame (1..1000; more = slower, see the benchmark)",
          *_range(1, 1000), live=True),
    Param("guidance_scale", SAMPLER.guidance_scale, "strength of the heatmap guidance (0 = unguided prior samples)",
          *_range(0.0, 1e3), live=True),
    Param("guidance_iters", SAMPLER.guidance_iters, "guidance iterations per denoising step",
          *_range(1, 20), live=True),
    Param("resample_every", SAMPLER.resample_every, "resample the hypotheses by their weights (2D fit and the "
          "prior's plausibility) after every n-th denoising step; 0 = off (~20 % faster cold frames, less accurate)",
          *_range(0, 1000), live=True),
    Param("restart_below", SAMPLER.restart_below, "after the sampler's gross-error drop step, a person who lost a "
          "joint there re-runs the steps from t/T below this without it (0 = off; 0.5: ~1.2x the sampling time)",
          *_range(0.0, 1.0), live=True),
    Param("restart_all", SAMPLER.restart_all, "with restart_below, everyone re-runs (restart sampling; ~1.4x the "
          "sampling time; with 0.5 and restart_refine 2 the accurate preset: best-of-16 ~7 % better, ~1.8x)",
          live=True),
    Param("restart_refine", SAMPLER.restart_refine, "the re-run's denoising steps per main-grid step it repeats "
          "(2 with restart_below 0.5 and restart_all true = the accurate preset, ~2x the sampling time)",
          *_range(1, 8), live=True),
    Param("evidence_gain", SAMPLER.evidence_gain, "exponent of each joint's Kalman-like guidance gain (tau^2 / (tau^2 "
          "+ peak variance)): higher = late steps fit the detector's noise less (2; 1.5 in the accurate preset, whose "
          "re-run ends at lower noise; 0 = full guidance every step)", *_range(0.0, 10.0), live=True),
    Param("eta", SAMPLER.eta, "sampler stochasticity: 1 = DDPM-like (most accurate), 0 = deterministic DDIM",
          *_range(0.0, 1.0), live=True),
    Param("prior_weights", "", "path of the pose prior weights (.pt); empty = the shipped prior"),
    Param("body_height", -1.0, "stature (m) of the people seen: 2D cannot tell a small person near from a big one "
          "far away, so hypotheses take this size; -1 = the statures the prior was trained on if it records them, "
          "else 1.70 m +- 4 %; 0 = the prior's own sizes", *_range(-1.0, 3.0), live=True),
    Param("body_height_sd", DEFAULT_BODY_HEIGHT[1], "relative spread of an explicit body_height across hypotheses",
          *_range(0.0, 0.5), live=True),
    Param("gravity.source", "none", "where the direction of gravity in the camera frame comes from: none "
          "(unknown: hypotheses draw a camera tilt from tilt_prior_deg), parameter (gravity.vector) or imu "
          "(sensor_msgs/Imu on 'imu', rotated by gravity.imu_to_camera)", *_choice("none", "parameter", "imu")),
    Param("gravity.vector", [0.0, 1.0, 0.0], "gravity in the camera optical frame (x right, y down, z forward; "
          "any length), used with gravity.source=parameter; [0, 1, 0] = a level camera", *_vector(3), live=True),
    Param("gravity.imu_to_camera", [0.0, 0.0, 0.0, 1.0], "rotation (quaternion x, y, z, w) from the IMU frame to "
          "the camera optical frame, used with gravity.source=imu", *_vector(4)),
    Param("gravity.imu_timeout", 1.0, "seconds after the last Imu message until gravity counts as unknown",
          *_range(0.01, 3600.0), live=True),
    Param("floor.camera_height", 0.0, "height (m) of the camera centre above the floor people stand on: with "
          "gravity known (gravity.source parameter or imu) each person's lowest joint is put a few cm above that "
          "floor, which sets body size and distance better than body_height alone (0 = unknown; unused with "
          "body_height 0)",
          *_range(0.0, 100.0), live=True),
    Param("tilt_prior_deg", list(SAMPLER.tilt_prior_deg), "camera pitch range (degrees, + = looking down) the "
          "hypotheses draw from while gravity is unknown; [0, 0] = assume a level camera",
          *_vector(2, -90.0, 90.0, nonzero=False), live=True),
    Param("input", "image", "what drives the estimator: image (sensor_msgs/Image on 'image'), compressed "
          "(sensor_msgs/CompressedImage on 'compressed_image') or observations (diffpose_msgs/Observations2D on "
          "'observations', e.g. from another 2D detector)", *_choice("image", "compressed", "observations")),
    Param("detector.model", "full", "BlazePose landmark model: lite, full or heavy", *_choice("lite", "full", "heavy")),
    Param("detector.person_detector", "centernet", "who finds the people: centernet (multi-person boxes, any view, "
          "about 60 px tall and up) or mediapipe (BlazePose's detector: one large, face-visible person)",
          *_choice("centernet", "mediapipe")),
    Param("detector.model_dir", "", "directory of the .tflite models; empty = the installed models"),
    Param("detector.max_people", 4, "maximum number of people the detector looks for per image", *_range(1, 32),
          live=True),
    Param("detector.min_detection_score", 0.5, "MediaPipe person detector score threshold "
          "(person_detector: mediapipe)", *_range(0.0, 1.0), live=True),
    Param("detector.min_presence", 0.5, "landmark-model pose presence threshold", *_range(0.0, 1.0), live=True),
    Param("detector.min_joint_score", 0.2, "joints below this visibility give no guidance", *_range(0.0, 1.0),
          live=True),
    Param("detector.min_person_px", 40.0, "detected people whose visible joints span fewer pixels are dropped "
          "(people_too_small): a truncated or tiny body gives no usable 3D", *_range(0.0, 1e4), live=True),
    Param("detector.threads", 2, "TFLite interpreter threads", *_range(1, 64)),
    Param("detector.tracking", True, "track person ROIs across frames (video); false = detect every frame"),
    Param("detector.redetect_every", 1, "with tracking, the person detector runs every n-th frame while fewer than "
          "detector.max_people are tracked (sample: 1 -> 3.8 people per frame and 0 identity switches, 2 -> 3.6 "
          "and 2, 10 -> 2.8 and 0)",
          *_range(1, 1000)),
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
    Param("temporal.pose_accel_std", 0.02, "metres per frame^2: joint acceleration of real motion (larger = "
          "follows faster)", *_range(1e-6, 10.0)),
    Param("batch_people", True, "sample all people of a frame in one batch (false: one sampler call each)"),
    Param("image_qos.reliability", "best_effort", "reliability of the image subscription: best_effort (sensor data) "
          "or reliable (lossless replay)", *_choice("best_effort", "reliable")),
    Param("image_qos.depth", 1, "queue depth of the image subscription", *_range(1, 1000)),
    Param("output_qos.reliability", "reliable", "reliability of the outputs", *_choice("best_effort", "reliable")),
    Param("output_qos.depth", 10, "queue depth of the outputs", *_range(1, 1000)),
    Param("process_every_frame", False, "queue frames instead of processing only the newest (replay evaluation)"),
    Param("queue.max_frames", 100, "frames queued with process_every_frame / lossless (more: the oldest is dropped, "
          "or the callback waits when lossless)", *_range(1, 100000)),
    Param("queue.max_bytes", 256 * 2**20, "payload bytes queued with process_every_frame / lossless (same rule)",
          *_range(1, 2**40)),
    Param("lossless", False, "never drop a frame: RELIABLE KEEP_ALL input, a full queue blocks the callback "
          "(back-pressure to the publisher) instead of dropping; for replay evaluation, not for live cameras"),
    Param("camera_info_sync_tolerance", 0.02, "max |image stamp - camera_info stamp| in seconds to pair them",
          *_range(0.0, 10.0), live=True),
    Param("camera_info_wait", 0.1, "seconds a frame waits for the CameraInfo with its stamp before the nearest "
          "one (or the fallback) is used", *_range(0.0, 10.0), live=True),
    Param("fallback_horizontal_fov_deg", 60.0, "horizontal field of view assumed (with a warning) while no "
          "camera_info has arrived", *_range(1.0, 179.0), live=True),
    Param("require_camera_info", False, "drop frames (counted) instead of using the fallback intrinsics", live=True),
    Param("max_image_pixels", 4096 * 4096, "images with more pixels (raw, or declared in a PNG/JPEG header) are "
          "dropped before decoding (dropped_too_many_pixels)", *_range(1, 8192 * 8192), live=True),
    Param("max_image_bytes", 128 * 2**20, "Image/CompressedImage messages with more data bytes are dropped "
          "(dropped_too_many_bytes)", *_range(1, 2**30), live=True),
    Param("max_people_per_frame", 16, "Observations2D with more people are dropped (dropped_too_many_people); "
          "detector output beyond it is cut to the most confident (people_cut)", *_range(1, 256), live=True),
    Param("max_heatmap_values", 17 * 256 * 256, "per person joints x height x width of Observations2D heatmaps; "
          "larger ones are dropped (dropped_too_large_heatmap)", *_range(1, 2**26), live=True),
    Param("markers.enabled", True, "publish visualization_msgs/MarkerArray on ~/markers", live=True),
    Param("markers.max_hypotheses", 16, "hypotheses drawn per person (the most likely first)", *_range(0, 512),
          live=True),
    Param("markers.line_width", 0.02, "bone line width in metres", *_range(0.001, 1.0), live=True),
    Param("markers.joint_size", 0.04, "joint sphere diameter in metres", *_range(0.001, 1.0), live=True),
    Param("diagnostics_period", 1.0, "seconds between /diagnostics messages", *_range(0.05, 3600.0)),
)
BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}


def descriptor(p: Param) -> ParameterDescriptor:
    """The declared descriptor: description, range, read_only unless live."""
    desc = ParameterDescriptor(description=p.description + (f" ({p.allowed})" if p.allowed else ""),
                               read_only=not p.live)
    if p.bounds is not None and isinstance(p.default, float):
        desc.floating_point_range = [FloatingPointRange(from_value=float(p.bounds[0]), to_value=float(p.bounds[1]))]
    elif p.bounds is not None and isinstance(p.default, int) and not isinstance(p.default, bool):
        desc.integer_range = [IntegerRange(from_value=int(p.bounds[0]), to_value=int(p.bounds[1]), step=1)]
    return desc


def check_value(name: str, value: Any) -> Any:
    """The validated value of parameter ``name`` (ints widened to float where a float is expected).

    Raises ParameterError naming the parameter, the value and what is allowed.
    """
    p = BY_NAME.get(name)
    if p is None:
        raise ParameterError(f"unknown parameter {name!r}")
    if isinstance(p.default, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(p.default, list) and not isinstance(value, str | bytes):
        try:  # rclpy hands arrays over as array.array or lists
            value = [float(x) for x in value]
        except (TypeError, ValueError):
            pass
    if type(value) is not type(p.default):
        raise ParameterError(f"parameter {name!r} = {value!r} has type {type(value).__name__}, "
                             f"expected {type(p.default).__name__}")
    if p.check is not None and not p.check(value):
        raise ParameterError(f"parameter {name!r} = {value!r} is invalid: must be {p.allowed}")
    return value


def preset_default(p: Param, preset: str) -> Any:
    """Parameter ``p``'s default under sampler preset ``preset`` (its own default if the preset does not set it)."""
    return getattr(PRESETS[preset], p.name) if p.name in PRESET_SETTINGS else p.default


def declare_and_read(node) -> dict[str, Any]:
    """Declare every parameter on ``node`` and return validated values; raises ParameterError.

    ``preset`` is declared before the sampler settings, whose defaults it then gives.
    """
    values: dict[str, Any] = {}
    for p in PARAMS:
        default = preset_default(p, values.get("preset", BY_NAME["preset"].default))
        try:
            value = node.declare_parameter(p.name, default, descriptor(p)).value
        except Exception as exc:
            raise ParameterError(f"parameter {p.name!r}: {exc} (expected {type(p.default).__name__}"
                                 f"{', ' + p.allowed if p.allowed else ''})") from exc
        values[p.name] = check_value(p.name, value)
    return values


def qos_profile(reliability: str, depth: int) -> QoSProfile:
    """QoS from a reliability name and a depth (keep-last, volatile)."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
    )
