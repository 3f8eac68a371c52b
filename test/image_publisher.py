"""Publishes N best-effort 1280x720 rgb8 images (2.7 MB each) on /big_image, then exits."""

from __future__ import annotations

import sys
import time

import numpy as np
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from diffpose_ros.ros.image_conversion import numpy_to_image_fields


def main() -> None:
    count = int(sys.argv[1])
    rclpy.init()
    node = rclpy.create_node("big_image_publisher")
    pub = node.create_publisher(Image, "/big_image", qos_profile_sensor_data)
    deadline = time.monotonic() + 30
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    time.sleep(1.0)
    rng = np.random.default_rng(0)
    for i in range(count):
        msg = Image(**numpy_to_image_fields(rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8), "rgb8"))
        msg.header.stamp.sec = i
        pub.publish(msg)
        time.sleep(0.1)
    time.sleep(0.5)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
