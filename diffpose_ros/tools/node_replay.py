"""Replay a bag through the real estimator node over DDS and collect what it publishes (demo, evaluation).

The node is started as the launch file does (:func:`diffpose_ros.tools.estimator_process.start_estimator`), the
bag's input topics (images, compressed images or diffpose_msgs/Observations2D, plus CameraInfo) are played with
:class:`~diffpose_ros.tools.bag_player.BagPlayer`, and ``~/hypotheses`` is recorded into ``OUT/output_bag``
(:class:`~diffpose_ros.tools.bag_recorder.BagRecorder`) and kept in memory with send/receive times per stamp.
Ground-truth topics (diffpose_msgs/Skeleton3DArray) are never played: the evaluator reads them from the bag.

Lossless mode (the default; what evaluation uses): the node runs with ``lossless`` (RELIABLE KEEP_ALL input, a
queue that back-pressures instead of dropping), the player and the recorder use RELIABLE KEEP_ALL, and the player
runs in lockstep: a frame is published only when the hypotheses of the previous one came back, so no frame can be
lost at any ``rate`` (which becomes an upper bound). :func:`accounting` adds up sent / received / processed /
lost from the node's own counters and what came back; :func:`loss_report` names any loss.
"""

from __future__ import annotations

import os
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
DIAGNOSTICS_NAME = "/estimator: estimator"  # the node's DiagnosticStatus name
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
    lost_before_recorder: dict[str, int] = field(default_factory=dict)  # sequence gaps seen by the recorder
    lockstep: bool = False
    lockstep_timeouts: int = 0  # frames given up waiting for their output (lockstep)
    foreign_outputs: int = 0  # hypotheses with stamps we never sent (another publisher): ignored
    wall_ns: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # stamp -> system clock (ns) when the
    # input was published, when the node published its output (DDS source timestamp), when it arrived here


def _int(stats: dict[str, str], key: str) -> int | None:
    try:
        return int(stats[key])
    except (KeyError, ValueError):
        return None


def accounting(rep: ReplayOutput) -> dict:
    """Where every frame went: sent by the player, received / lost before the callback / processed / dropped by
    the node (its /diagnostics counters), outputs that came back, and ``lost`` = sent - outputs.

    ``unaccounted`` is what neither side counted: sent - node received - node lost_before_callback (0 when all
    frames reached the node or were counted as lost on the way).
    """
    n = rep.node_stats
    received, processed = _int(n, "received"), _int(n, "processed")
    dropped = sum(_int(n, k) or 0 for k in ("dropped_busy", "dropped_bad_input", "dropped_no_camera_info"))
    before = _int(n, "lost_before_callback")
    out = {"sent": len(rep.sent), "node_received": received, "node_lost_before_callback": before,
           "node_processed": processed, "node_dropped": dropped if n else None, "outputs": len(rep.received),
           "recorded": rep.recorded.get(HYPOTHESES_TOPIC),
           "lost_before_recorder": rep.lost_before_recorder.get(HYPOTHESES_TOPIC, 0),
           "lost": len(rep.sent) - len(rep.received), "lockstep": rep.lockstep,
           "lockstep_timeouts": rep.lockstep_timeouts, "foreign_outputs": rep.foreign_outputs}
    out["unaccounted"] = (len(rep.sent) - received - (before or 0)) if received is not None else None
    return out


def _settled(stats: dict[str, str], sent: int) -> bool:
    """The node's counters account for every frame sent, and it has finished all it received."""
    n = {k: _int(stats, k) or 0 for k in ("received", "lost_before_callback", "processed", "dropped_busy",
                                          "dropped_bad_input", "dropped_no_camera_info")}
    return (n["received"] + n["lost_before_callback"] >= sent
            and n["processed"] + n["dropped_busy"] + n["dropped_bad_input"] + n["dropped_no_camera_info"]
            >= n["received"])


def loss_report(acc: dict) -> str | None:
    """None when the replay was lossless and the counters add up; else one loud line saying where frames went."""
    problems = []
    if acc["lost"]:
        problems.append(f"{acc['lost']} of {acc['sent']} frames produced no output")
    if acc["node_received"] is None:
        problems.append("no diagnostics from the node (its counters are unknown)")
    else:
        if acc["unaccounted"]:
            problems.append(f"{acc['unaccounted']} frames never reached the node's callback")
        if acc["node_lost_before_callback"]:
            problems.append(f"{acc['node_lost_before_callback']} lost before the node's callback (sequence gaps)")
        if acc["node_dropped"]:
            problems.append(f"{acc['node_dropped']} dropped inside the node")
        if acc["node_processed"] != acc["outputs"]:
            problems.append(f"node processed {acc['node_processed']} but {acc['outputs']} outputs came back")
    if acc["recorded"] is not None and acc["recorded"] != acc["outputs"]:
        problems.append(f"{acc['recorded']} outputs recorded of {acc['outputs']} received")
    if acc["lost_before_recorder"]:
        problems.append(f"{acc['lost_before_recorder']} outputs lost before the recorder")
    if acc["lockstep_timeouts"]:
        problems.append(f"{acc['lockstep_timeouts']} frames timed out waiting for their output")
    return "FRAMES LOST: " + "; ".join(problems) if problems else None


class StampTap:
    """Publisher wrapper that notes when each message (by header stamp) left this process."""

    def __init__(self, pub, sent: dict[int, float], converted: bool, sent_wall: "dict[int, int] | None" = None
                 ) -> None:
        self.pub, self.sent, self.converted = pub, sent, converted
        self.sent_wall = sent_wall if sent_wall is not None else {}

    def publish(self, msg) -> None:
        stamp = (msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec) if self.converted else stamp_from_cdr(msg)
        self.sent_wall[stamp] = time.time_ns()
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
           extra_record: "dict[str, str] | None" = None, lossless: bool = True, in_flight: int = 1) -> ReplayOutput:
    """Play ``bag`` through a fresh estimator process; returns the collected outputs.

    ``lossless`` (default): node ``lossless`` + KEEP_ALL everywhere + lockstep with at most ``in_flight`` frames
    outstanding (``qos`` is then ignored). Otherwise ``qos`` is the reliability of the input side (player and
    node subscription) and frames are played on the bag's clock whatever the node does. Waits after playback
    until every frame came back or nothing has arrived for ``idle_timeout_s`` (lockstep: per frame).
    ``extra_record`` (topic -> type) records more of the node's outputs.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from diffpose_msgs.msg import PoseHypotheses

    from ..ros.delivery import keep_all_qos
    from ..ros.parameters import qos_profile
    from .bag_player import BagPlayer, Lockstep
    from .bag_recorder import BagRecorder
    from .estimator_process import start_estimator

    bag, out = Path(bag), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record_dir = out / "output_bag"
    if record_dir.exists():
        shutil.rmtree(record_dir)
    kind, input_topic, info_topic, _gt = bag_layout(bag)
    params = {"input": kind, "process_every_frame": True, "lossless": lossless, "image_qos.reliability": qos,
              "image_qos.depth": 100, "output_qos.depth": 100, "markers.enabled": False, "diagnostics_period": 0.5,
              **(overrides or {})}
    remaps = {"observations": input_topic} if kind == "observations" else (
        {"compressed_image": input_topic} if kind == "compressed" else {})
    own_context = not rclpy.ok()
    env = {}
    if own_context:
        # A private DDS domain (unless ROS_DOMAIN_ID is set): other replays, demos or nodes named /estimator on
        # this machine must neither feed our node nor be counted as its outputs or diagnostics.
        domain = os.environ.get("ROS_DOMAIN_ID") or str(100 + os.getpid() % 100)
        env["ROS_DOMAIN_ID"] = domain
        rclpy.init(args=[], domain_id=int(domain))  # never sys.argv: the caller's options are not ROS arguments
    node_proc = start_estimator(overrides=params, image=input_topic, camera_info=info_topic,
                                extra_remaps=remaps, log_path=out / "estimator.log", env=env)
    node = rclpy.create_node("diffpose_replay_eval")
    result = ReplayOutput(sent={}, received={}, input_kind=kind, parameters={k: str(v) for k, v in params.items()},
                          output_bag=str(record_dir), lockstep=lossless)
    lock = threading.Lock()
    lockstep = Lockstep(in_flight, timeout=idle_timeout_s) if lossless else None
    io_qos = keep_all_qos() if lossless else qos_profile(qos, 100)

    sent_wall: dict[int, int] = {}

    def on_hypotheses(msg: PoseHypotheses, info) -> None:
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        with lock:
            if stamp not in result.sent:  # not from a frame we played: another publisher on this topic
                result.foreign_outputs += 1
                return
            result.received[stamp] = (time.monotonic(), msg)
            result.wall_ns[stamp] = (sent_wall.get(stamp, 0), int(info.get("source_timestamp") or 0), time.time_ns())
        if lockstep is not None:
            lockstep.done(stamp)

    def on_diagnostics(msg) -> None:
        for status in msg.status:
            if status.hardware_id == "diffpose_ros" and status.name == DIAGNOSTICS_NAME:
                result.node_stats = {kv.key: kv.value for kv in status.values}

    from diagnostic_msgs.msg import DiagnosticArray

    hyp_sub = node.create_subscription(PoseHypotheses, HYPOTHESES_TOPIC, on_hypotheses, keep_all_qos())
    node.create_subscription(DiagnosticArray, DIAGNOSTICS_TOPIC, on_diagnostics, 10)
    record = {HYPOTHESES_TOPIC: "diffpose_msgs/msg/PoseHypotheses", **(extra_record or {})}
    recorder = BagRecorder(node, record_dir, list(record), types=record)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    try:
        player = BagPlayer(node, bag, rate=rate, qos=io_qos, topics=[input_topic, info_topic])
        spinner.start()
        # inputs subscribed and the output matched too (volatile reliable: both sides before the first frame)
        # matched at the DDS level, not only in the graph: our writers to the node's readers, and our reader to
        # the node's output writer (a sample that reaches a reader before it knows the writer is only
        # recovered by a later heartbeat: seconds of extra latency on the first frames)
        inputs = [player.publishers[t][0] for t in (input_topic, info_topic)]
        if not _wait(lambda: all(pub.get_subscription_count() > 0 for pub in inputs)
                     and hyp_sub.get_publisher_count() > 0, start_timeout_s, node_proc):
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
        player.publishers[input_topic] = (StampTap(pub, result.sent, convert, sent_wall), convert)
        t0 = time.monotonic()
        player.play(progress=progress, lockstep=lockstep)
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
        if lockstep is not None:
            result.lockstep_timeouts = lockstep.timeouts + len(lockstep.outstanding)
        # the node's final counters: wait until its diagnostics account for every frame (or a few periods)
        period = float(params["diagnostics_period"])
        _wait(lambda: _settled(result.node_stats, len(result.sent)), 3 * period + 1.0, node_proc)
        time.sleep(period + 0.1)  # and one more diagnostics message after that
    finally:
        node_proc.send_signal(signal.SIGINT)
        try:
            result.estimator_exit_code = node_proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            node_proc.kill()
            result.estimator_exit_code = node_proc.wait()
        executor.shutdown()
        result.recorded = recorder.close()
        result.lost_before_recorder = recorder.lost()
        node.destroy_node()
        if own_context:
            rclpy.try_shutdown()
    return result
