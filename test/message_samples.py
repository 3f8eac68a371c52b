"""A fully populated diffpose_msgs/PoseHypotheses, built the same way in two processes.

Run as a script it publishes that message on /sample_hypotheses until interrupted.
"""

from __future__ import annotations

import math
import sys

NUM_JOINTS = 17
NUM_HYPOTHESES = 5
NUM_PEOPLE = 2


def make_pose_hypotheses():
    from geometry_msgs.msg import Point

    from diffpose_msgs.msg import Keypoint2D, PersonHypotheses, PoseHypotheses, Skeleton3D
    from diffpose_ros.core import skeleton

    msg = PoseHypotheses()
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1_700_000_123, 456_789_000
    msg.header.frame_id = "camera_color_optical_frame"
    msg.skeleton = skeleton.NAME
    msg.joint_names = list(skeleton.JOINT_NAMES)
    msg.joint_parents = list(skeleton.PARENTS)
    msg.num_steps = 10
    for p in range(NUM_PEOPLE):
        person = PersonHypotheses(track_id=7 + p, detection_score=0.9 - 0.1 * p, translation_is_metric=bool(p))
        person.keypoints = [Keypoint2D(x=100.0 + j + p, y=200.5 - j, score=j / NUM_JOINTS) for j in range(NUM_JOINTS)]
        for h in range(NUM_HYPOTHESES):
            joints = [Point(x=0.01 * j + p, y=-0.02 * h, z=3.0 + 0.001 * j * h) for j in range(NUM_JOINTS)]
            person.hypotheses.append(Skeleton3D(joints=joints, weight=1.0 / NUM_HYPOTHESES))
        person.mean = Skeleton3D(joints=[Point(x=0.01 * j + p, y=0.0, z=3.0) for j in range(NUM_JOINTS)], weight=1.0)
        person.joint_spread = [math.sqrt(j) * 0.01 for j in range(NUM_JOINTS)]
        msg.people.append(person)
    return msg


def main() -> None:
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from diffpose_msgs.msg import PoseHypotheses

    rclpy.init()
    node = rclpy.create_node("sample_publisher")
    pub = node.create_publisher(PoseHypotheses, "/sample_hypotheses", QoSProfile(depth=10,
                                reliability=ReliabilityPolicy.RELIABLE))
    msg = make_pose_hypotheses()
    node.create_timer(0.1, lambda: pub.publish(msg))
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    sys.exit(0)


if __name__ == "__main__":
    main()
