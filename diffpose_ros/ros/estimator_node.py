"""The estimator node: camera images in, several 3D skeleton hypotheses per person out.

Subscribes (relative, remappable): ``image`` (sensor_msgs/Image) or ``compressed_image``
(sensor_msgs/CompressedImage) or ``observations`` (diffpose_msgs/Observations2D), plus ``camera_info``.
Publishes: ``~/hypotheses`` (diffpose_msgs/PoseHypotheses), ``~/markers`` (visualization_msgs/MarkerArray),
``~/debug_image`` (sensor_msgs/Image, only built while subscribed), ``/diagnostics``.

The heavy work runs in one worker thread on the newest frame; frames arriving while it is busy are dropped and
counted (or queued with ``process_every_frame``, bounded by ``queue.max_frames`` and ``queue.max_bytes``; with
``lossless`` a full queue blocks the callback instead, so back-pressure reaches the publisher through a RELIABLE
KEEP_ALL subscription). Frames lost before the callback are counted from sequence-number gaps. A bad message is
logged and counted, never fatal: frames over the input limits or malformed are refused before they are queued or
decoded, each counted by reason (``dropped_<reason>`` in /diagnostics). Live parameters (see parameters.py) are
applied between frames.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, Imu
from visualization_msgs.msg import MarkerArray

from diffpose_msgs.msg import Observations2D, PoseHypotheses
from diffpose_ros.core.camera import PinholeCamera
from diffpose_ros.core.gravity import AccelerometerGravity, quaternion_to_matrix
from diffpose_ros.core.input_limits import BAD_IMU, PROCESSING_ERROR, REASONS, BadInputError, InputLimits
from diffpose_ros.estimator import PARAM_FIELDS, EstimatorConfig, PoseEstimator
from diffpose_ros.ros import conversions, image_conversion, markers
from diffpose_ros.ros.delivery import SequenceGaps, keep_all_qos
from diffpose_ros.ros.parameters import (
    BY_NAME,
    ParameterError,
    check_value,
    declare_and_read,
    preset_default,
    qos_profile,
)
from diffpose_ros.sampling.config import PRESET_SETTINGS
from diffpose_ros.visualization.overlay import draw_overlay

FLOOR = "floor.camera_height"


@dataclass
class Frame:
    header: object
    kind: str  # image | compressed | observations
    msg: object
    received: float = field(default_factory=time.monotonic)
    size: int = 0  # payload bytes, for the queue's byte bound


@dataclass
class Counters:
    received: int = 0
    processed: int = 0
    dropped_busy: int = 0
    lost_before_callback: int = 0  # sequence gaps: lost in DDS / the reader history, never seen by the node
    queue_full_waits: int = 0  # lossless: times the callback waited for queue space (back-pressure)
    dropped_bad_input: int = 0  # sum of the dropped_<reason> counters
    dropped_no_camera_info: int = 0
    fallback_intrinsics: int = 0
    people: int = 0
    people_cut: int = 0  # detected people beyond max_people_per_frame
    people_too_small: int = 0  # detected people whose visible joints span < detector.min_person_px
    process_ms_max: float = 0.0  # slowest frame or camera_info handled (processed or refused)
    drop_ms_max: float = 0.0  # slowest refusal
    gravity_unknown: int = 0  # frames processed without gravity although gravity.source=imu
    last_error: str = ""


class EstimatorNode(Node):
    def __init__(self) -> None:
        super().__init__("estimator")
        p = self.params = declare_and_read(self)
        self.estimator = PoseEstimator(EstimatorConfig.from_params(p))
        self.counters = Counters()
        self.drops: dict[str, int] = dict.fromkeys(REASONS, 0)
        self._count_lock = threading.Lock()
        self._config_lock = threading.Lock()  # frame processing + publishing vs. live parameter changes
        self._limits = _limits(p)
        self.latency: dict[str, collections.deque] = collections.defaultdict(lambda: collections.deque(maxlen=200))
        self._camera_infos: collections.deque = collections.deque(maxlen=50)
        self._last_logged: dict[str, float] = {}
        self._pending: collections.deque[Frame] = collections.deque()
        self._pending_bytes = 0
        self._queue_frames = p["queue.max_frames"] if p["process_every_frame"] or p["lossless"] else 1
        self._gaps = SequenceGaps()
        self._cv = threading.Condition()
        self._info_cv = threading.Condition()
        self._stop = False

        out_qos = qos_profile(p["output_qos.reliability"], p["output_qos.depth"])
        in_qos = keep_all_qos() if p["lossless"] else qos_profile(p["image_qos.reliability"], p["image_qos.depth"])
        self.pub_hyp = self.create_publisher(PoseHypotheses, "~/hypotheses", out_qos)
        self.pub_markers = self.create_publisher(MarkerArray, "~/markers", out_qos)
        self.pub_debug = self.create_publisher(Image, "~/debug_image", qos_profile_sensor_data)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, in_qos)
        self._imu_gravity = AccelerometerGravity(quaternion_to_matrix(p["gravity.imu_to_camera"], scalar_first=False),
                                                 timeout_s=p["gravity.imu_timeout"])
        if p["gravity.source"] == "imu":
            self.create_subscription(Imu, "imu", self._on_imu, qos_profile_sensor_data)
        kind = p["input"]
        msg_type = {"image": Image, "compressed": CompressedImage, "observations": Observations2D}[kind]
        topic = {"image": "image", "compressed": "compressed_image", "observations": "observations"}[kind]
        self.create_subscription(msg_type, topic, lambda m, info: self._on_message(m, kind, info), in_qos)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.create_timer(p["diagnostics_period"], self._publish_diagnostics)
        self._worker = threading.Thread(target=self._work, name="estimator", daemon=True)
        self._worker.start()
        own = {n: p[n] for n in PRESET_SETTINGS if p[n] != preset_default(BY_NAME[n], p["preset"])}
        self.get_logger().info(
            f"estimator ready: input={kind} on {self.resolve_topic_name(topic)}, preset={p['preset']}"
            f"{f' with {own}' if own else ''}, m={p['num_hypotheses']}, steps={p['num_steps']}, "
            f"detector={p['detector.model']}, device={p['device']}, gravity={p['gravity.source']}"
            f"{f', camera {p[FLOOR]:.2f} m above the floor' if p[FLOOR] > 0 else ''}")
        if p[FLOOR] > 0 and p["gravity.source"] == "none":
            self.get_logger().warn(f"{FLOOR} is used only with gravity known (gravity.source parameter or imu)")

    # ---------------------------------------------------------------- callbacks
    def _on_camera_info(self, msg: CameraInfo) -> None:
        t0 = time.perf_counter()
        try:
            camera = conversions.camera_from_info(msg)
        except BadInputError as exc:
            self._drop(exc.reason, str(exc), t0)
            return
        with self._info_cv:
            self._camera_infos.append((_stamp(msg.header), camera))
            self._info_cv.notify_all()

    def _on_imu(self, msg: Imu) -> None:
        a = msg.linear_acceleration
        try:
            self._imu_gravity.add((a.x, a.y, a.z), time.monotonic())
        except ValueError as exc:
            self._drop(BAD_IMU, str(exc), time.perf_counter())

    def _gravity(self) -> "np.ndarray | None":
        """Gravity in the camera frame for this frame (None: unknown; counted when an IMU should have told)."""
        source = self.params["gravity.source"]
        if source == "parameter":
            return np.asarray(self.params["gravity.vector"], dtype=np.float64)
        if source == "imu":
            self._imu_gravity.timeout_s = self.params["gravity.imu_timeout"]
            g = self._imu_gravity.gravity(time.monotonic())
            if g is None:
                self.counters.gravity_unknown += 1
                self._log_limited("warn", "no imu", f"no recent Imu on {self.resolve_topic_name('imu')}: gravity "
                                  "unknown, hypotheses use tilt_prior_deg", 5.0)
            return g
        return None

    def _on_message(self, msg, kind: str, info: "dict | None" = None) -> None:
        """Refuse a frame over the input limits or malformed (counted by reason) before it is queued."""
        self.counters.lost_before_callback += self._gaps.update(info)
        t0 = time.perf_counter()
        try:
            if kind == "image":
                image_conversion.check_image_fields(msg.height, msg.width, msg.encoding, msg.step, len(msg.data),
                                                    self._limits)
            elif kind == "compressed":
                image_conversion.check_compressed(msg.data, self._limits)
            else:
                conversions.check_observations_msg(msg, self._limits)
        except BadInputError as exc:
            self.counters.received += 1
            self._drop(exc.reason, str(exc), t0)
            return
        self._on_frame(msg, kind)

    def _on_frame(self, msg, kind: str) -> None:
        self.counters.received += 1
        size = _payload_bytes(msg)
        with self._cv:
            def full() -> bool:
                return bool(self._pending) and (len(self._pending) >= self._queue_frames
                                                or self._pending_bytes + size > self.params["queue.max_bytes"])

            if self.params["lossless"] and full():  # back-pressure: wait for the worker, never drop
                self.counters.queue_full_waits += 1
                while full() and not self._stop:
                    self._cv.wait(0.5)
            while full():
                self._pending_bytes -= self._pending.popleft().size
                self.counters.dropped_busy += 1
            self._pending.append(Frame(msg.header, kind, msg, size=size))
            self._pending_bytes += size
            self._cv.notify_all()

    # ---------------------------------------------------------------- worker
    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._pending and not self._stop:
                    self._cv.wait(0.5)
                if self._stop:
                    return
                frame = self._pending.popleft()
                self._pending_bytes -= frame.size
                self._cv.notify_all()  # a lossless callback may be waiting for space
            with self._config_lock:
                t0 = time.perf_counter()
                try:
                    self._process(frame)
                    self._note_ms(t0)
                except BadInputError as exc:
                    self._drop(exc.reason, str(exc), t0)
                except Exception as exc:
                    self._drop(PROCESSING_ERROR, f"{type(exc).__name__}: {exc}", t0)
                    self._log_limited("error", "frame failed", f"frame failed: {type(exc).__name__}: {exc}", 5.0)

    def _process(self, frame: Frame) -> None:
        t0 = time.perf_counter()
        size = (frame.msg.width, frame.msg.height) if frame.kind == "image" else None
        camera = self._camera_for(frame.header, size)
        if camera is None:
            self.counters.dropped_no_camera_info += 1
            self._log_limited("warn", "no camera_info", "no camera_info for this frame; dropped "
                              "(require_camera_info=true)", 5.0)
            return
        rgb = None
        if frame.kind == "observations":
            observations = conversions.observations_from_msg(frame.msg, camera, limits=self._limits)
            result = self.estimator.estimate_from_observations(observations, camera, self._gravity())
        else:
            rgb = (image_conversion.image_msg_to_rgb(frame.msg, self._limits) if frame.kind == "image"
                   else image_conversion.compressed_msg_to_rgb(frame.msg, self._limits))
            camera = _fit_camera(camera, rgb.shape[1], rgb.shape[0], self._warn_once)
            result = self.estimator.estimate(rgb, camera, self._gravity())
        self.latency["decode"].append(1e3 * (time.perf_counter() - t0) - sum(result.timings_ms.values()))
        for stage, ms in result.timings_ms.items():
            self.latency[stage].append(ms)
        t_pub = time.perf_counter()
        self.pub_hyp.publish(conversions.pose_hypotheses_msg(frame.header, result.people, self.params["num_steps"]))
        if self.params["markers.enabled"] and self.pub_markers.get_subscription_count() > 0:  # lazy, like the image
            self.pub_markers.publish(markers.frame_markers(
                frame.header, result.people, self.params["markers.max_hypotheses"],
                self.params["markers.line_width"], self.params["markers.joint_size"]))
        if rgb is not None and self.pub_debug.get_subscription_count() > 0:
            debug = draw_overlay(rgb, result.people, camera)
            self.pub_debug.publish(Image(header=frame.header, **image_conversion.numpy_to_image_fields(debug, "rgb8")))
        self.latency["publish"].append(1e3 * (time.perf_counter() - t_pub))
        self.latency["end_to_end"].append(1e3 * (time.monotonic() - frame.received))
        self.counters.processed += 1
        self.counters.people += len(result.people)
        self.counters.people_cut += result.people_cut
        self.counters.people_too_small += result.people_too_small

    def _camera_for(self, header, size: "tuple[int, int] | None") -> "PinholeCamera | None":
        """The camera_info nearest in time; the fallback intrinsics (warned, counted) when none has arrived."""
        stamp, tol = _stamp(header), self.params["camera_info_sync_tolerance"]

        def nearest():
            return min(self._camera_infos, key=lambda sc: abs(sc[0] - stamp), default=None)

        with self._info_cv:  # camera_info and image travel separately: give the matching one a moment
            self._info_cv.wait_for(lambda: (b := nearest()) is not None and abs(b[0] - stamp) <= tol,
                                   timeout=self.params["camera_info_wait"])
            best = nearest()
        if best is not None:  # the matching one, else the nearest (intrinsics rarely change)
            return best[1]
        if self.params["require_camera_info"]:
            return None
        self.counters.fallback_intrinsics += 1
        self._log_limited(
            "warn", "fallback intrinsics",
            f"no camera_info received on {self.resolve_topic_name('camera_info')}: using fallback intrinsics "
            f"(horizontal FOV {self.params['fallback_horizontal_fov_deg']} deg); depth will be off", None)
        width, height = size or (640, 480)
        return PinholeCamera.from_fov(width, height, self.params["fallback_horizontal_fov_deg"])

    def _warn_once(self, text: str) -> None:
        self._log_limited("warn", text, text, None)

    def _drop(self, reason: str, text: str, t0: float) -> None:
        """Count (by reason), time and log (rate-limited per reason) a refused input."""
        with self._count_lock:
            self.drops[reason] = self.drops.get(reason, 0) + 1
            self.counters.dropped_bad_input += 1
            self.counters.last_error = text
            self.counters.drop_ms_max = max(self.counters.drop_ms_max, 1e3 * (time.perf_counter() - t0))
        self._note_ms(t0)
        self._log_limited("warn", f"drop {reason}", f"dropped bad input ({reason}): {text}", 2.0)

    def _note_ms(self, t0: float) -> None:
        ms = 1e3 * (time.perf_counter() - t0)
        with self._count_lock:
            self.counters.process_ms_max = max(self.counters.process_ms_max, ms)

    def _on_set_parameters(self, params) -> SetParametersResult:
        """Apply live parameters between frames after the start-up checks; reject anything else with the reason."""
        changes = {}
        try:
            for prm in params:
                if prm.name not in BY_NAME:  # rclpy's own (use_sim_time, qos_overrides.*): rclpy decides
                    continue
                if not BY_NAME[prm.name].live:
                    raise ParameterError(f"parameter {prm.name!r} is read-only: restart the node to change it")
                changes[prm.name] = check_value(prm.name, prm.value)
        except ParameterError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        with self._config_lock:  # waits for the frame in flight: every later output uses the new values
            try:
                self.estimator.reconfigure(**{PARAM_FIELDS[k]: v for k, v in changes.items() if k in PARAM_FIELDS})
            except ValueError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
            self.params.update(changes)
            self._limits = _limits(self.params)
        self.get_logger().info(f"parameters changed: {changes}")
        return SetParametersResult(successful=True)

    def _log_limited(self, level: str, key: str, text: str, period: "float | None") -> None:
        """Log at most once per ``period`` seconds per key (once ever if None); safe from any thread.

        rclpy's own once/throttle filters raise when one call site is reached from several code paths.
        """
        now = time.monotonic()
        last = self._last_logged.get(key)
        if last is not None and (period is None or now - last < period):
            return
        self._last_logged[key] = now
        getattr(self.get_logger(), level)(text)

    # ---------------------------------------------------------------- diagnostics
    def _publish_diagnostics(self) -> None:
        c = self.counters
        with self._count_lock:
            values = {k: (f"{v:.1f}" if isinstance(v, float) else str(v)) for k, v in vars(c).items()}
            values.update({f"dropped_{reason}": str(n) for reason, n in self.drops.items()})
        for stage, samples in list(self.latency.items()):
            if samples:
                arr = np.asarray(samples)
                values[f"{stage}_ms_p50"] = f"{np.percentile(arr, 50):.1f}"
                values[f"{stage}_ms_p95"] = f"{np.percentile(arr, 95):.1f}"
        level = DiagnosticStatus.OK
        message = "ok"
        if c.dropped_bad_input or c.dropped_no_camera_info:
            level, message = DiagnosticStatus.WARN, f"dropped input: {c.last_error or 'no camera_info'}"
        if c.fallback_intrinsics and not self._camera_infos:
            level, message = DiagnosticStatus.WARN, "no camera_info: fallback intrinsics"
        status = DiagnosticStatus(level=level, name=f"{self.get_fully_qualified_name()}: estimator",
                                  hardware_id="diffpose_ros", message=message,
                                  values=[KeyValue(key=k, value=v) for k, v in values.items()])
        self.pub_diag.publish(DiagnosticArray(header=_now_header(self), status=[status]))

    def shutdown(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        self._worker.join(timeout=5.0)


def _limits(p: dict) -> InputLimits:
    return InputLimits(max_image_pixels=p["max_image_pixels"], max_image_bytes=p["max_image_bytes"],
                       max_people=p["max_people_per_frame"], max_heatmap_values=p["max_heatmap_values"])


def _fit_camera(camera: PinholeCamera, width: int, height: int, warn) -> PinholeCamera:
    """Rescale intrinsics calibrated at another resolution to the image size."""
    if camera.width and camera.height and (camera.width, camera.height) != (width, height):
        warn(f"camera_info is {camera.width}x{camera.height} but images are {width}x{height}: rescaling intrinsics")
        sx, sy = width / camera.width, height / camera.height
        return PinholeCamera(camera.fx * sx, camera.fy * sy, camera.cx * sx, camera.cy * sy, width, height,
                             camera.distortion)
    return camera


def _payload_bytes(msg) -> int:
    """Approximate memory of a frame: image bytes, or heatmaps + keypoints of an Observations2D."""
    if hasattr(msg, "data"):
        return len(msg.data)
    return sum(4 * len(p.heatmaps) + 16 * len(p.keypoints) for p in getattr(msg, "people", ()))


def _stamp(header) -> float:
    return header.stamp.sec + 1e-9 * header.stamp.nanosec


def _now_header(node: Node):
    from std_msgs.msg import Header

    return Header(stamp=node.get_clock().now().to_msg())


def main(args: "list[str] | None" = None) -> int:
    try:
        rclpy.init(args=args)
        node = EstimatorNode()
    except (ParameterError, Exception) as exc:
        print(f"[estimator] error: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
