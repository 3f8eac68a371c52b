"""diffpose_msgs over real DDS between two processes, and its rosbag (rosbags) round trip."""

from __future__ import annotations

import pytest

rclpy = pytest.importorskip("rclpy")
from message_samples import make_pose_hypotheses  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from ros_helpers import REPO, python, spin_until, stop  # noqa: E402

from diffpose_msgs.msg import PoseHypotheses  # noqa: E402


def _assert_equal(a, b, path="msg"):
    """Field-by-field equality of two ROS messages (recursing into nested messages and sequences)."""
    if hasattr(a, "get_fields_and_field_types"):
        for field in a.get_fields_and_field_types():
            _assert_equal(getattr(a, field), getattr(b, field), f"{path}.{field}")
    elif isinstance(a, (list, tuple)) or hasattr(a, "tolist"):
        a, b = list(a), list(b)
        assert len(a) == len(b), f"{path}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_equal(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-6, abs=1e-6), f"{path}: {a} != {b}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def test_pose_hypotheses_cross_process_field_for_field():
    proc = python(str(REPO / "test" / "message_samples.py"))
    rclpy.init()
    node = rclpy.create_node("sample_listener")
    received: list[PoseHypotheses] = []
    node.create_subscription(PoseHypotheses, "/sample_hypotheses", received.append,
                             QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    try:
        assert spin_until(node, lambda: len(received) >= 2, timeout=20.0), stop(proc)[1]
    finally:
        node.destroy_node()
        rclpy.shutdown()
        rc, out = stop(proc)
    assert rc == 0, out
    expected = make_pose_hypotheses()
    _assert_equal(received[-1], expected)
    assert len(received[-1].people[1].hypotheses[4].joints) == 17


def test_pose_hypotheses_rosbag_roundtrip(tmp_path):
    """rosbags serialises the custom type to the same CDR that rclpy reads."""
    from rclpy.serialization import deserialize_message, serialize_message

    from diffpose_ros.tools.bag_io import typestore

    ts = typestore()
    expected = make_pose_hypotheses()
    raw = serialize_message(expected)
    decoded = ts.deserialize_cdr(raw, "diffpose_msgs/msg/PoseHypotheses")
    assert decoded.people[0].track_id == 7 and len(decoded.people[0].hypotheses) == 5
    back = deserialize_message(bytes(ts.serialize_cdr(decoded, "diffpose_msgs/msg/PoseHypotheses")), PoseHypotheses)
    _assert_equal(back, expected)


def test_large_best_effort_images_arrive_with_the_shipped_fastdds_profile():
    """Without config/fastdds_shm.xml Fast DDS drops best-effort images over ~512 kB between processes
    (measured: 1 of 10 arrive without it)."""
    import os

    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    profile = str(REPO / "config" / "fastdds_shm.xml")
    os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = profile  # this process's participant too
    proc = python(str(REPO / "test" / "image_publisher.py"), "10", FASTDDS_DEFAULT_PROFILES_FILE=profile)
    rclpy.init()
    node = rclpy.create_node("big_image_listener")
    got: list[int] = []
    node.create_subscription(Image, "/big_image", lambda m: got.append(m.header.stamp.sec), qos_profile_sensor_data)
    try:
        spin_until(node, lambda: proc.poll() is not None, timeout=60)  # the publisher exits when done
        spin_until(node, lambda: len(got) >= 10, timeout=0.5)
    finally:
        node.destroy_node()
        rclpy.shutdown()
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, out
    assert len(got) >= 9, f"only {len(got)} of 10 best-effort 2.7 MB images arrived"
