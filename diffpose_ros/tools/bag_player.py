"""Play a rosbag2 (MCAP or sqlite3) into ROS 2 with rclpy: raw CDR, original timing, optional /clock.

    bag_player BAG [--rate 1.0] [--clock] [--qos reliable] [--topics /a /b] [--remap /a:=/b] [--decompress]

``--decompress`` turns sensor_msgs/CompressedImage topics into sensor_msgs/Image (rgb8) on the topic without
its ``/compressed`` suffix, so small compressed bags drive nodes that take raw images.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.serialization import deserialize_message
from tqdm import tqdm

from diffpose_ros.ros.image_conversion import compressed_msg_to_rgb, numpy_to_image_fields
from diffpose_ros.ros.parameters import qos_profile
from diffpose_ros.tools.bag_io import bag_topics, parse_assignments, read_messages

COMPRESSED = "sensor_msgs/msg/CompressedImage"


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
        self.output_topics: dict[str, str] = {}  # bag topic -> published topic
        for topic, msgtype in bag_topics(self.bag).items():
            if topics is not None and topic not in topics:
                continue
            out_topic, out_type = topic, msgtype
            if decompress and msgtype == COMPRESSED:
                out_topic, out_type = topic.removesuffix("/compressed"), "sensor_msgs/msg/Image"
            out_topic = self.remap.get(out_topic, out_topic)
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

    def play(self, progress: bool = True) -> int:
        """Publish everything at ``rate`` x real time; returns the number of messages published."""
        messages = read_messages(self.bag, self.topics, deserialize=False)
        wall0 = bag0 = None
        bar = tqdm(desc=f"play {self.bag.name}", unit="msg", disable=not progress)
        for topic, _msgtype, t_ns, raw in messages:
            if wall0 is None:
                wall0, bag0 = time.monotonic(), t_ns
            delay = (t_ns - bag0) / 1e9 / self.rate - (time.monotonic() - wall0)
            if delay > 0:
                time.sleep(delay)
            if self.clock_pub is not None:
                from rosgraph_msgs.msg import Clock

                c = Clock()
                c.clock.sec, c.clock.nanosec = divmod(t_ns, 10**9)
                self.clock_pub.publish(c)
            pub, convert = self.publishers[topic]
            if convert:
                pub.publish(decompress_image(bytes(raw)))
            else:
                pub.publish(bytes(raw))
            self.published += 1
            bar.update()
        bar.close()
        self.wait_for_acks()
        return self.published

    def wait_for_acks(self, timeout: float = 10.0) -> bool:
        """Block until reliable subscribers acknowledged everything sent (exiting earlier loses the tail)."""
        from rclpy.duration import Duration

        return all(pub.wait_for_all_acked(Duration(seconds=timeout)) for pub, _ in self.publishers.values())


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
    ap.add_argument("--qos", choices=["reliable", "best_effort"], default="reliable")
    ap.add_argument("--topics", nargs="*", help="only these topics")
    ap.add_argument("--remap", nargs="*", help="/from:=/to")
    ap.add_argument("--decompress", action="store_true", help="publish CompressedImage topics as raw rgb8 Images")
    ap.add_argument("--wait", type=float, default=10.0, help="seconds to wait for subscribers before playing")
    ap.add_argument("--loop", action="store_true")
    args = ap.parse_args(argv)
    rclpy.init()
    node = rclpy.create_node("bag_player")
    try:
        player = BagPlayer(node, args.bag, args.rate, args.clock, qos_profile(args.qos, 100), args.topics,
                           parse_assignments(args.remap, "--remap"), args.decompress)
        if not player.wait_for_subscribers(args.wait):
            print(f"bag_player: no subscriber after {args.wait} s, playing anyway", file=sys.stderr)
        while True:
            player.play()
            if not args.loop:
                break
        print(f"published {player.published} messages")
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as exc:
        print(f"bag_player: error: {exc}", file=sys.stderr)
        return 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
