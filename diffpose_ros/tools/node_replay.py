"""Replay a bag through the real estimator node over DDS and collect what it publishes (demo, evaluation).

The node is started as the launch file does (:func:`diffpose_ros.tools.estimator_process.start_estimator`), the
bag's input topics (images, compressed images or diffpose_msgs/Observations2D, plus CameraInfo) are played with
:class:`~diffpose_ros.tools.bag_player.BagPlayer`, and ``~/hypotheses`` is recorded into ``OUT/output_bag``
(:class:`~diffpose_ros.tools.bag_recorder.BagRecorder`) and kept in memory with send/receive times per stamp.
Ground-truth topics (diffpose_msgs/Skeleton3DArray) are never played: the evaluator reads them from the bag.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .bag_io import bag_topics, read_messages, stamp_from_cdr

HYPOTHESES_TOPIC = "/estimator/hypotheses"
DIAGNOSTICS_TOPIC = "/diagnostics"
GT_TYPE = "diffpose_msgs/msg/Skeleton3DArray"
INPUT_TYPES = {"diffpose_msgs/msg/Observations2D": "observations", "sensor_msgs/msg/Image": "image",
               "sensor_msgs/msg/CompressedImage": "compressed"}


@dataclass
class ReplayOutput:
    """What came back from one replay (stamps in ns)."""

    sent: dict[int, float]  # stamp -> monotonic time the input left the player
    received: dict[int, tuple[float, object]]  # stamp -> (monotonic receive time, PoseHypotheses)
    node_stats: dict[str, str] = field(default_factory=dict)  # the node's last diagnostics key/values
    input_kind: str = ""
    parameters: dict[str, str] = field(default_factory=dict)
    play_s: float = 0.0
    drain_s: float = 0.0
    estimator_exit_code: int | None = None
    output_bag: str = ""
    recorded: dict[str, int] = field(default_factory=dict)  # messages recorded per topic


class StampTap:
    """Publisher wrapper that notes when each message (by header stamp) left this process."""

    def __init__(self, pub, sent: dict[int, float], converted: bool) -> None:
        self.pub, self.sent, self.converted = pub, sent, converted

    def publish(self, msg) -> None:
        stamp = (msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec) if self.converted else stamp_from_cdr(msg)
        self.sent[stamp] = time.monotonic()
        self.pub.publish(msg)

    def __getattr__(self, name: str):
        return getattr(self.pub, name)  # everything else is the publisher's


def bag_layout(bag: Path) -> tuple[str, str, str, str | None]:
    """(input kind, input topic, camera_info topic, ground-truth topic or None) of an evaluation bag."""
    topics = bag_topics(bag)
    inputs = [(INPUT_TYPES[ty], t) for t, ty in topics.items() if ty in INPUT_TYPES]
    if len(inputs) != 1:
        raise ValueError(f"{bag}: expected exactly one input topic (image / compressed / observations), got {inputs}")
    info = [t for t, ty in topics.items() if ty == "sensor_msgs/msg/CameraInfo"]
    if len(info) != 1:
        raise ValueError(f"{bag}: expected one CameraInfo topic, got {info}")
    gt = [t for t, ty in topics.items() if ty == GT_TYPE]
    return inputs[0][0], inputs[0][1], info[0], gt[0] if gt else None


def _wait(condition, timeout: float, proc: subprocess.Popen) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def replay(bag: "str | Path", out: "str | Path", overrides: "dict[str, object] | None" = None,
           qos: str = "reliable", rate: float = 1.0, idle_timeout_s: float = 30.0, start_timeout_s: float = 120.0,
           warmup_s: float = 1.0, progress: bool = True,
           extra_record: "dict[str, str] | None" = None) -> ReplayOutput:
    """Play ``bag`` through a fresh estimator process; returns the collected outputs.

    ``qos`` is the reliability of the input side (player and node subscription); ``reliable`` with
    ``process_every_frame`` is lossless. Waits after playback until every frame came back or nothing has
    arrived for ``idle_timeout_s``. ``extra_record`` (topic -> type) records more of the node's outputs.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from diffpose_msgs.msg import PoseHypotheses

    from ..ros.parameters import qos_profile
    from .bag_player import BagPlayer
    from .bag_recorder import BagRecorder
    from .estimator_process import start_estimator

    bag, out = Path(bag), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record_dir = out / "output_bag"
    if record_dir.exists():
        shutil.rmtree(record_dir)
    kind, input_topic, info_topic, _gt = bag_layout(bag)
    params = {"input": kind, "process_every_frame": True, "image_qos.reliability": qos, "image_qos.depth": 100,
              "output_qos.depth": 100, "markers.enabled": False, "diagnostics_period": 0.5, **(overrides or {})}
    remaps = {"observations": input_topic} if kind == "observations" else (
        {"compressed_image": input_topic} if kind == "compressed" else {})
    node_proc = start_estimator(overrides=params, image=input_topic, camera_info=info_topic,
                                extra_remaps=remaps, log_path=out / "estimator.log")
    own_context = not rclpy.ok()
    if own_context:
        rclpy.init()
    node = rclpy.create_node("diffpose_replay_eval")
    result = ReplayOutput(sent={}, received={}, input_kind=kind, parameters={k: str(v) for k, v in params.items()},
                          output_bag=str(record_dir))
    lock = threading.Lock()

    def on_hypotheses(msg: PoseHypotheses) -> None:
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        with lock:
            result.received[stamp] = (time.monotonic(), msg)

    def on_diagnostics(msg) -> None:
        for status in msg.status:
            if status.hardware_id == "diffpose_ros":
                result.node_stats = {kv.key: kv.value for kv in status.values}

    from diagnostic_msgs.msg import DiagnosticArray

    node.create_subscription(PoseHypotheses, HYPOTHESES_TOPIC, on_hypotheses, qos_profile("reliable", 100))
    node.create_subscription(DiagnosticArray, DIAGNOSTICS_TOPIC, on_diagnostics, 10)
    record = {HYPOTHESES_TOPIC: "diffpose_msgs/msg/PoseHypotheses", **(extra_record or {})}
    recorder = BagRecorder(node, record_dir, list(record), types=record)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    try:
        player = BagPlayer(node, bag, rate=rate, qos=qos_profile(qos, 100), topics=[input_topic, info_topic])
        spinner.start()
        # inputs subscribed and the output matched too (volatile reliable: both sides before the first frame)
        if not _wait(lambda: all(node.count_subscribers(player.output_topics[t]) for t in (input_topic, info_topic))
                     and node.count_publishers(HYPOTHESES_TOPIC) > 0, start_timeout_s, node_proc):
            raise RuntimeError(f"the estimator did not come up on {input_topic}; see {out / 'estimator.log'}")
        # Volatile topics deliver nothing to a reader that has not matched yet, and the node only learns of our
        # writers asynchronously: repeat the first CameraInfo for a while so no frame meets fallback intrinsics.
        infos = read_messages(bag, [info_topic], deserialize=False)
        first_info = next(infos)[3]
        infos.close()
        for _ in range(int(warmup_s / 0.1)):
            player.publishers[info_topic][0].publish(bytes(first_info))
            time.sleep(0.1)
        pub, convert = player.publishers[input_topic]
        player.publishers[input_topic] = (StampTap(pub, result.sent, convert), convert)
        t0 = time.monotonic()
        player.play(progress=progress)
        result.play_s = time.monotonic() - t0
        t1 = last_change = time.monotonic()
        seen = len(result.received)
        while len(result.received) < len(result.sent) and time.monotonic() - last_change < idle_timeout_s:
            if node_proc.poll() is not None:
                break
            time.sleep(0.05)
            if len(result.received) != seen:
                seen, last_change = len(result.received), time.monotonic()
        result.drain_s = time.monotonic() - t1
        time.sleep(0.6)  # one more diagnostics period with the final counters
    finally:
        node_proc.send_signal(signal.SIGINT)
        try:
            result.estimator_exit_code = node_proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            node_proc.kill()
            result.estimator_exit_code = node_proc.wait()
        executor.shutdown()
        result.recorded = recorder.close()
        node.destroy_node()
        if own_context:
            rclpy.try_shutdown()
    return result
