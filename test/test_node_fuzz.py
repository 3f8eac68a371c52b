"""Hostile input against the real node process over DDS: it survives, stays small and fast, counts every drop.

One node per input kind (``input`` is read-only), >1,000 hostile messages in all (CameraInfo to every node), then a
valid frame that must still give hypotheses. Drops are read back per reason from /diagnostics.
"""

from __future__ import annotations

import collections
import json
import os

import cv2
import numpy as np
import pytest
import rclpy
from hostile_messages import (
    GOOD_K,
    LIMITS,
    camera_info,
    hostile_camera_infos,
    hostile_compressed,
    hostile_images,
    hostile_observations,
    keypoint_person,
    observations,
)
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_helpers import spin_until, stop, subscribe_outputs
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from diffpose_msgs.msg import Observations2D
from diffpose_ros.core.input_limits import REASONS
from diffpose_ros.ros.image_conversion import numpy_to_image_fields
from diffpose_ros.tools.estimator_process import start_estimator

QOS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
MAX_RSS_KB = 1.5 * 2**20
M = 4  # hypotheses per person in these runs
# (input kind, process_every_frame, hostile frames). Checks that need no decoding run before the queue, so even
# newest-frame-only mode counts those by reason; decode failures (truncated PNG/JPEG) or bad heatmap values are
# found in the worker, and without the queue some of those are replaced by newer frames (dropped_busy).
RUNS = [("image", False, 420), ("compressed", False, 200), ("compressed", True, 300), ("observations", True, 240)]
TOPIC = {"image": ("/fuzz/image", Image), "compressed": ("/fuzz/compressed_image", CompressedImage),
         "observations": ("/fuzz/observations", Observations2D)}
REPORT = os.environ.get("DIFFPOSE_FUZZ_REPORT")  # optional JSON of the numbers below


def _valid_frame(kind: str, rgb: np.ndarray, uv: np.ndarray):
    if kind == "image":
        return Image(**numpy_to_image_fields(rgb, "rgb8"))
    if kind == "compressed":
        return CompressedImage(format="jpeg", data=cv2.imencode(".jpg", rgb[..., ::-1])[1].tobytes())
    return observations([keypoint_person(uv, track_id=3)])


def _hostile(kind: str, n: int, rng, rgb: np.ndarray, uv: np.ndarray):
    if kind == "image":
        return hostile_images(rng, n)
    if kind == "compressed":
        jpeg = cv2.imencode(".jpg", rgb[..., ::-1])[1].tobytes()
        png = cv2.imencode(".png", rgb[..., ::-1])[1].tobytes()
        return hostile_compressed(rng, n, jpeg, png)
    return hostile_observations(rng, n, uv)


def _vm_hwm_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


@pytest.mark.parametrize("kind, every_frame, count", RUNS,
                         ids=[f"{k}-{'queue' if q else 'newest'}" for k, q, _ in RUNS])
def test_hostile_input_is_refused_counted_and_harmless(ros, messi, kind, every_frame, count):
    rgb, camera = messi
    rng = np.random.default_rng(len(kind))
    uv = np.column_stack([np.linspace(250, 300, 17), np.linspace(60, 300, 17)])
    hostile = _hostile(kind, count, rng, rgb, uv) + hostile_camera_infos(rng, 40)
    rng.shuffle(hostile)
    topic, msg_type = TOPIC[kind]
    params = {"input": kind, "process_every_frame": every_frame, "image_qos.reliability": "reliable",
              "image_qos.depth": 1000, "num_hypotheses": M, "num_steps": 5, "detector.tracking": False,
              "diagnostics_period": 0.2, **LIMITS}
    proc = start_estimator(overrides=params, image="/fuzz/image", camera_info="/fuzz/info",
                           extra_remaps={"compressed_image": TOPIC["compressed"][0],
                                                                  "observations": TOPIC["observations"][0]})
    node = rclpy.create_node("fuzz_probe")
    hyp, diag = subscribe_outputs(node, QOS)
    pub = node.create_publisher(msg_type, topic, QOS)
    pub_info = node.create_publisher(CameraInfo, "/fuzz/info", QOS)
    try:
        assert spin_until(node, lambda: pub.get_subscription_count() > 0 and pub_info.get_subscription_count() > 0
                          and diag, 90), "node did not come up"
        pub_info.publish(camera_info(GOOD_K, stamp=1))  # hostile frames pair with it at once
        for msg, _ in hostile:
            if not isinstance(msg, CameraInfo):
                msg.header.stamp.sec = 1
            (pub_info if isinstance(msg, CameraInfo) else pub).publish(msg)
            rclpy.spin_once(node, timeout_sec=0)
        expected = collections.Counter(reason for _, reason in hostile)
        counted = spin_until(node, lambda: int(diag[-1].get("dropped_bad_input", 0))
                             + int(diag[-1].get("dropped_busy", 0)) >= len(hostile), 60)
        assert counted, (diag[-1], proc.poll())
        spin_until(node, lambda: False, 0.5)  # one more diagnostics period: nothing else trickles in
        values = diag[-1]
        assert proc.poll() is None, "node died"
        by_reason = {r: int(values[f"dropped_{r}"]) for r in REASONS}
        busy = int(values["dropped_busy"])
        assert sum(by_reason.values()) == int(values["dropped_bad_input"])
        assert sum(by_reason.values()) + busy == len(hostile) and int(values["processed"]) == 0
        if every_frame or kind == "image":  # raw images: every check runs before the queue
            assert busy == 0 and by_reason == {r: expected.get(r, 0) for r in REASONS}, (by_reason, expected)
        else:
            assert all(expected.get(r, 0) - busy <= by_reason[r] <= expected.get(r, 0) for r in REASONS), \
                (by_reason, expected, busy)
        process_ms_max, drop_ms_max = float(values["process_ms_max"]), float(values["drop_ms_max"])
        assert process_ms_max < 1000.0 and drop_ms_max < 1000.0, values

        info = camera_info(camera.k.ravel(), camera.width, camera.height, stamp=2)
        pub_info.publish(info)
        frame = _valid_frame(kind, rgb, uv)
        frame.header.stamp.sec = 2
        pub.publish(frame)
        assert spin_until(node, lambda: hyp, 90), "no answer to a valid frame after the hostile ones"
        hwm_kb = _vm_hwm_kb(proc.pid)
    finally:
        node.destroy_node()
        rc, out = stop(proc)
    assert rc == 0, out[-3000:]
    assert hyp[0].header.stamp.sec == 2 and len(hyp[0].people) >= 1
    assert all(len(p.hypotheses) == M for p in hyp[0].people)
    assert hwm_kb < MAX_RSS_KB, f"peak RSS {hwm_kb / 1024:.0f} MB"
    assert "dropped bad input (too_many" in out or "dropped bad input (bad_" in out  # logged, rate-limited
    sent = collections.Counter(type(m).__name__ for m, _ in hostile)
    line = {"kind": kind, "process_every_frame": every_frame, "sent": dict(sent),
            "drops": {r: n for r, n in by_reason.items() if n}, "dropped_busy": busy,
            "vm_hwm_mb": round(hwm_kb / 1024), "process_ms_max": process_ms_max, "drop_ms_max": drop_ms_max}
    print("\nfuzz", json.dumps(line))
    if REPORT:
        with open(REPORT, "a") as f:
            f.write(json.dumps(line) + "\n")
