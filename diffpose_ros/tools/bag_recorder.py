"""Record ROS 2 topics into a rosbag2 (MCAP by default) with rclpy: raw CDR, receive time stamps.

    bag_recorder OUT_DIR /estimator/hypotheses /estimator/markers [--duration 10] [--storage mcap]

Topic types are discovered from the graph; a topic that does not exist yet is picked up when it appears.
The default QoS is RELIABLE + KEEP_ALL (nothing is overwritten before it is written); messages lost anyway
(best-effort publishers, KEEP_LAST history) are counted per topic from publisher sequence-number gaps.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile

from diffpose_ros.ros.delivery import SequenceGaps, keep_all_qos
from diffpose_ros.ros.parameters import qos_profile
from diffpose_ros.tools.bag_io import open_writer, typestore
from diffpose_ros.tools.bag_player import message_class


class BagRecorder:
    """Subscribes to topics as raw CDR and writes them to a bag; call ``poll()`` while spinning, ``close()`` at end."""

    def __init__(self, node: Node, out: "str | Path", topics: list[str], storage: str = "mcap",
                 qos: QoSProfile | None = None, types: "dict[str, str] | None" = None) -> None:
        self.node, self.topics = node, list(topics)
        self.qos = qos or keep_all_qos()
        self.writer = open_writer(out, storage)
        self.writer.open()
        self.connections: dict[str, object] = {}
        self.counts: dict[str, int] = {t: 0 for t in topics}
        self.gaps: dict[str, SequenceGaps] = {t: SequenceGaps() for t in topics}
        self._lock = threading.Lock()
        for topic, msgtype in (types or {}).items():
            self._subscribe(topic, msgtype)
        self.poll()

    def _subscribe(self, topic: str, msgtype: str) -> None:
        conn = self.writer.add_connection(topic, msgtype, typestore=typestore())
        self.connections[topic] = conn

        def on_msg(raw: bytes, info, conn=conn, topic=topic) -> None:
            self.gaps[topic].update(info)
            with self._lock:
                if self.writer is not None:
                    self.writer.write(conn, time.time_ns(), raw)
                    self.counts[topic] += 1

        self.node.create_subscription(message_class(msgtype), topic, on_msg, self.qos, raw=True)

    def poll(self) -> None:
        """Subscribe to the wanted topics that have appeared in the graph since the last call."""
        graph = dict(self.node.get_topic_names_and_types())
        for topic in self.topics:
            if topic not in self.connections and graph.get(topic):
                self._subscribe(topic, graph[topic][0])

    def lost(self) -> dict[str, int]:
        """Messages per topic lost before they reached the recorder (sequence gaps)."""
        return {t: g.lost for t, g in self.gaps.items()}

    def close(self) -> dict[str, int]:
        with self._lock:
            if self.writer is not None:
                self.writer.close()
                self.writer = None
        return dict(self.counts)


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="output bag directory (must not exist)")
    ap.add_argument("topics", nargs="+")
    ap.add_argument("--storage", choices=["mcap", "sqlite3"], default="mcap")
    ap.add_argument("--qos", choices=["keep_all", "reliable", "best_effort"], default="keep_all",
                    help="keep_all = RELIABLE + KEEP_ALL (lossless for reliable publishers)")
    ap.add_argument("--duration", type=float, default=0.0, help="seconds to record (0 = until Ctrl-C)")
    args = ap.parse_args(argv)
    rclpy.init(args=[])  # our options are not ROS arguments
    node = rclpy.create_node("bag_recorder")
    recorder = None
    try:
        qos = keep_all_qos() if args.qos == "keep_all" else qos_profile(args.qos, 100)
        recorder = BagRecorder(node, args.out, args.topics, args.storage, qos)
        t_end = time.monotonic() + args.duration if args.duration > 0 else float("inf")
        while rclpy.ok() and time.monotonic() < t_end:
            rclpy.spin_once(node, timeout_sec=0.1)
            recorder.poll()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as exc:
        print(f"bag_recorder: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if recorder is not None:
            print(f"recorded {recorder.close()} into {args.out}; lost before the recorder: {recorder.lost()}")
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
