"""Play a rosbag2 (MCAP or sqlite3) into ROS 2 with rclpy: raw CDR, original timing, optional /clock.

    bag_player BAG [--rate 1.0] [--clock] [--qos reliable|keep_all] [--topics /a /b] [--remap /a:=/b] [--decompress]
        [--lockstep /estimator/hypotheses [--in-flight 1]]

``--qos keep_all`` (RELIABLE + KEEP_ALL) never overwrites an unsent message: a subscriber that cannot keep up slows
the player down instead of losing messages. ``--lockstep OUTPUT`` is the lossless evaluation mode: a frame
(Image, CompressedImage, Observations2D) is published only when the output with the stamp of the one before it
has arrived on OUTPUT (at most ``--in-flight`` frames outstanding); ``--rate`` is then an upper bound.
``--decompress`` turns sensor_msgs/CompressedImage topics into sensor_msgs/Image (rgb8) on the topic without
its ``/compressed`` suffix, so small compressed bags drive nodes that take raw images.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.serialization import deserialize_message
from tqdm import tqdm

from diffpose_ros.ros.delivery import keep_all_qos
from diffpose_ros.ros.image_conversion import compressed_msg_to_rgb, numpy_to_image_fields
from diffpose_ros.ros.parameters import qos_profile
from diffpose_ros.tools.bag_io import bag_message_count, bag_topics, parse_assignments, read_messages, stamp_from_cdr

COMPRESSED = "sensor_msgs/msg/CompressedImage"
FRAME_TYPES = ("sensor_msgs/msg/Image", COMPRESSED, "diffpose_msgs/msg/Observations2D")


class Lockstep:
    """Flow control by outputs: at most ``in_flight`` frames published whose output has not come back yet.

    The player calls :meth:`wait_slot` before and :meth:`sent` after publishing a frame; whoever receives the
    outputs calls :meth:`done` with their header stamps. A frame whose output does not come within ``timeout``
    seconds is given up (counted in ``timeouts``) so a dead consumer cannot hang the player.
    """

    def __init__(self, in_flight: int = 1, timeout: float = 60.0) -> None:
        if in_flight < 1:
            raise ValueError(f"in_flight must be >= 1, got {in_flight}")
        self.in_flight, self.timeout = in_flight, timeout
        self.outstanding: dict[int, float] = {}  # stamp -> monotonic publish time
        self.timeouts = 0
        self.waited_s = 0.0
        self._cv = threading.Condition()

    def sent(self, stamp: int) -> None:
        with self._cv:
            self.outstanding[stamp] = time.monotonic()

    def done(self, stamp: int) -> None:
        with self._cv:
            if self.outstanding.pop(stamp, None) is not None:
                self._cv.notify_all()

    def wait_slot(self) -> float:
        """Block until fewer than ``in_flight`` frames are outstanding; returns the seconds waited."""
        t0 = time.monotonic()
        with self._cv:
            while len(self.outstanding) >= self.in_flight:
                oldest = min(self.outstanding.values())
                left = oldest + self.timeout - time.monotonic()
                if left <= 0:
                    self.outstanding.pop(min(self.outstanding, key=self.outstanding.get))
                    self.timeouts += 1
                    continue
                self._cv.wait(min(left, 0.5))
        waited = time.monotonic() - t0
        self.waited_s += waited
        return waited

    def drain(self, timeout: float) -> bool:
        """Wait until every output came back (or ``timeout``); True when none is outstanding."""
        with self._cv:
            return self._cv.wait_for(lambda: not self.outstanding, timeout)


def message_class(msgtype: str):
    """``pkg/msg/Name`` -> the rclpy message class."""
    pkg, sub, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{pkg}.{sub}"), name)


class BagPlayer:
    """Publishes a bag's messages from a node; ``play()`` blocks until done."""

    def __init__(self, node: Node, bag: "str | Path", rate: float = 1.0, clock: bool = False,
                 qos: QoSProfile | None = None, topics: "list[str] | None" = None,
                 remap: "dict[str, str] | None" = None, decompress: bool = False) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.node, self.bag, self.rate, self.topics = node, Path(bag), rate, topics
        self.remap, self.decompress = dict(remap or {}), decompress
        self.qos = qos or qos_profile("reliable", 100)
        self.publishers: dict[str, object] = {}
        self.clock_pub = None
        if clock:
            from rosgraph_msgs.msg import Clock

            self.clock_pub = node.create_publisher(Clock, "/clock", 10)
        self.published = 0
        self.ack_timeout = 10.0  # seconds play() waits for reliable subscribers to acknowledge everything
        self.acked = True  # False when they had not, at the end of the last play()
        self.msgtypes: dict[str, str] = {}  # bag topic -> its type
        self.output_topics: dict[str, str] = {}  # bag topic -> published topic
        for topic, msgtype in bag_topics(self.bag).items():
            if topics is not None and topic not in topics:
                continue
            out_topic, out_type = topic, msgtype
            if decompress and msgtype == COMPRESSED:
                out_topic, out_type = topic.removesuffix("/compressed"), "sensor_msgs/msg/Image"
            out_topic = self.remap.get(out_topic, out_topic)
            self.msgtypes[topic] = msgtype
            self.output_topics[topic] = out_topic
            self.publishers[topic] = (node.create_publisher(message_class(out_type), out_topic, self.qos),
                                      out_type != msgtype)

    def wait_for_subscribers(self, timeout: float, topics: "list[str] | None" = None, settle: float = 0.5) -> bool:
        """Wait until the named output topics (default: every topic someone subscribes to, at least one) are
        matched at the DDS level by our publishers, so reliable delivery loses nothing.

        The graph alone is not enough: it can list a subscriber (or a stale one of a dead process) before our
        writer has matched it. ``settle`` seconds more let the reader side finish matching too.
        """
        pubs = {out: self.publishers[bag_topic][0] for bag_topic, out in self.output_topics.items()}
        unknown = set(topics or []) - set(pubs)
        if unknown:
            raise ValueError(f"not published by this bag: {sorted(unknown)}")

        def ready() -> bool:
            wanted = topics or [t for t in pubs if self.node.count_subscribers(t) > 0]
            return bool(wanted) and all(pubs[t].get_subscription_count() > 0 for t in wanted)

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                time.sleep(settle)
                return True
            rclpy.spin_once(self.node, timeout_sec=0.05)
        return False

    def play(self, progress: bool = True, lockstep: Lockstep | None = None) -> int:
        """Publish everything at ``rate`` x real time; returns the number of messages published.

        With ``lockstep`` every frame waits for a free slot first (the bag clock pauses meanwhile, so
        ``rate`` stays the upper bound between frames).
        """
        messages = read_messages(self.bag, self.topics, deserialize=False)
        wall0 = bag0 = None
        bar = tqdm(desc=f"play {self.bag.name}", unit="msg", total=self.count_messages(), disable=not progress)
        for topic, msgtype, t_ns, raw in messages:
            if wall0 is None:
                wall0, bag0 = time.monotonic(), t_ns
            delay = (t_ns - bag0) / 1e9 / self.rate - (time.monotonic() - wall0)
            if delay > 0:
                time.sleep(delay)
            is_frame = msgtype in FRAME_TYPES
            if is_frame and lockstep is not None:
                wall0 += lockstep.wait_slot()
            if self.clock_pub is not None:
                from rosgraph_msgs.msg import Clock

                c = Clock()
                c.clock.sec, c.clock.nanosec = divmod(t_ns, 10**9)
                self.clock_pub.publish(c)
            pub, convert = self.publishers[topic]
            if is_frame and lockstep is not None:
                lockstep.sent(stamp_from_cdr(bytes(raw)))
            if convert:
                pub.publish(decompress_image(bytes(raw)))
            else:
                pub.publish(bytes(raw))
            self.published += 1
            bar.update()
        bar.close()
        self.acked = self.wait_for_acks(self.ack_timeout)
        return self.published

    def count_messages(self) -> int | None:
        """Messages this player will publish (from the bag's index; None when unknown)."""
        try:
            return bag_message_count(self.bag, list(self.publishers))
        except Exception:
            return None

    def wait_for_acks(self, timeout: float = 10.0) -> bool:
        """Block until reliable subscribers acknowledged everything sent (exiting earlier loses the tail).

        Polls in short waits: rclpy's wait_for_all_acked keeps the GIL, and one long wait would stall every
        other thread of this process (e.g. an executor receiving the outputs: a second of false latency).
        """
        from rclpy.duration import Duration

        deadline = time.monotonic() + timeout
        pending = [pub for pub, _ in self.publishers.values()]
        while pending and time.monotonic() < deadline:
            pending = [pub for pub in pending if not pub.wait_for_all_acked(Duration(nanoseconds=2_000_000))]
            if pending:
                time.sleep(0.01)
        return not pending


def subscribe_outputs(node: Node, topic: str, lockstep: Lockstep, timeout: float = 10.0) -> None:
    """Feed the header stamps of every message on ``topic`` (type from the graph) to ``lockstep``."""
    deadline = time.monotonic() + timeout
    while not (types := dict(node.get_topic_names_and_types()).get(topic)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"lockstep output topic {topic} did not appear within {timeout} s")
        rclpy.spin_once(node, timeout_sec=0.1)

    def on_output(msg) -> None:
        lockstep.done(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)

    node.create_subscription(message_class(types[0]), topic, on_output, keep_all_qos())


def decompress_image(raw: bytes):
    """CDR of a CompressedImage -> sensor_msgs/Image (rgb8) with the same header."""
    from sensor_msgs.msg import CompressedImage, Image

    msg = deserialize_message(raw, CompressedImage)
    rgb = compressed_msg_to_rgb(msg)
    return Image(header=msg.header, **numpy_to_image_fields(np.ascontiguousarray(rgb), "rgb8"))


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bag", type=Path)
    ap.add_argument("--rate", type=float, default=1.0, help="playback speed factor")
    ap.add_argument("--clock", action="store_true", help="publish /clock from the bag stamps (use_sim_time)")
    ap.add_argument("--qos", choices=["reliable", "best_effort", "keep_all"], default="reliable",
                    help="keep_all = RELIABLE + KEEP_ALL: slow subscribers slow the player down, nothing is lost")
    ap.add_argument("--topics", nargs="*", help="only these topics")
    ap.add_argument("--remap", nargs="*", help="/from:=/to")
    ap.add_argument("--decompress", action="store_true", help="publish CompressedImage topics as raw rgb8 Images")
    ap.add_argument("--wait", type=float, default=10.0, help="seconds to wait for subscribers before playing")
    ap.add_argument("--ack-timeout", type=float, default=10.0,
                    help="seconds to wait at the end for reliable subscribers to acknowledge everything (a slow "
                         "KEEP_ALL subscriber applying back-pressure may need long)")
    ap.add_argument("--loop", action="store_true")
    ap.add_argument("--lockstep", metavar="OUTPUT_TOPIC",
                    help="publish a frame only after the output for the previous one arrived on this topic")
    ap.add_argument("--in-flight", type=int, default=1, help="lockstep: frames outstanding at most")
    ap.add_argument("--lockstep-timeout", type=float, default=60.0, help="lockstep: seconds to wait per output")
    args = ap.parse_args(argv)
    rclpy.init(args=[])  # our options are not ROS arguments
    node = rclpy.create_node("bag_player")
    executor = None
    try:
        qos = keep_all_qos() if args.qos == "keep_all" else qos_profile(args.qos, 100)
        player = BagPlayer(node, args.bag, args.rate, args.clock, qos, args.topics,
                           parse_assignments(args.remap, "--remap"), args.decompress)
        lockstep = None
        if args.lockstep:
            lockstep = Lockstep(args.in_flight, args.lockstep_timeout)
            subscribe_outputs(node, args.lockstep, lockstep, timeout=args.wait)
        if not player.wait_for_subscribers(args.wait):
            print(f"bag_player: no subscriber after {args.wait} s, playing anyway", file=sys.stderr)
        if lockstep is not None:  # outputs arrive while the main thread plays
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            spinner = threading.Thread(target=executor.spin, daemon=True)
            spinner.start()
        while True:
            player.ack_timeout = args.ack_timeout
            player.play(lockstep=lockstep)
            if not args.loop:
                break
        if lockstep is not None and not lockstep.drain(args.lockstep_timeout):
            lockstep.timeouts += len(lockstep.outstanding)
        print(f"published {player.published} messages"
              + (f", {lockstep.timeouts} frames without output" if lockstep is not None else ""))
        if not player.acked:
            print(f"bag_player: subscribers had not acknowledged every message after {args.ack_timeout} s: "
                  "the tail may be lost (raise --ack-timeout)", file=sys.stderr)
        if (lockstep is not None and lockstep.timeouts) or not player.acked:
            return 3
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as exc:
        print(f"bag_player: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if executor is not None:
            executor.shutdown()
            spinner.join(timeout=5.0)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
