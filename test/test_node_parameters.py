"""Live parameters of the real node over DDS: valid sets change the next output, invalid and read-only ones fail."""

from __future__ import annotations

import numpy as np
import rclpy
from hostile_messages import GOOD_K, camera_info, keypoint_person, observations
from rcl_interfaces.msg import ParameterType
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_helpers import spin_until, stop, subscribe_outputs
from sensor_msgs.msg import CameraInfo

from diffpose_msgs.msg import Observations2D
from diffpose_ros.sampling.config import ACCURATE, DEFAULT
from diffpose_ros.tools.estimator_process import start_estimator

QOS = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)


def test_live_parameters_apply_reject_and_stay_read_only(ros):
    # the accurate preset gives the sampler settings not set here; num_hypotheses is set, so it wins
    proc = start_estimator(overrides={"preset": "accurate", "input": "observations", "process_every_frame": True,
                                      "num_hypotheses": 8,
                                      "image_qos.reliability": "reliable", "image_qos.depth": 10,
                                      "diagnostics_period": 0.2},
                           camera_info="/live/info", extra_remaps={"observations": "/live/observations"})
    node = rclpy.create_node("param_probe")
    hyp, diag = subscribe_outputs(node, QOS)
    pub = node.create_publisher(Observations2D, "/live/observations", QOS)
    pub_info = node.create_publisher(CameraInfo, "/live/info", QOS)
    client = AsyncParameterClient(node, "/estimator")
    uv = np.column_stack([np.linspace(300, 340, 17), np.linspace(150, 330, 17)])

    def call(future):
        assert spin_until(node, future.done, 20), "parameter service did not answer"
        return future.result()

    def set_one(name, value):
        (result,) = call(client.set_parameters([Parameter(name, value=value)])).results
        return result

    def get(name):
        return call(client.get_parameters([name])).values[0]

    def send(people, stamp):
        pub_info.publish(camera_info(GOOD_K, stamp=stamp))
        pub.publish(observations(people, stamp=stamp))

    try:
        assert spin_until(node, lambda: pub.get_subscription_count() > 0 and client.services_are_ready(), 90), \
            "node did not come up"
        inp, m = call(client.describe_parameters(["input", "num_hypotheses"])).descriptors
        assert inp.read_only and not m.read_only
        assert (m.integer_range[0].from_value, m.integer_range[0].to_value) == (1, 512)
        values = call(client.get_parameters(["preset", "num_hypotheses", "num_steps", "restart_below", "restart_all",
                                             "restart_refine", "evidence_gain"])).values
        assert [v.string_value for v in values[:1]] == ["accurate"]
        assert [v.integer_value for v in (values[1], values[2], values[5])] == [8, ACCURATE.num_steps,
                                                                               ACCURATE.restart_refine]
        assert values[4].bool_value is ACCURATE.restart_all is True
        assert (values[3].double_value, values[6].double_value) == (ACCURATE.restart_below, ACCURATE.evidence_gain)
        assert ACCURATE.restart_below != DEFAULT.restart_below and ACCURATE.evidence_gain != DEFAULT.evidence_gain

        assert set_one("num_hypotheses", 5).successful and set_one("num_steps", 3).successful
        assert set_one("use_sim_time", False).successful  # rclpy's own parameters pass through
        send([keypoint_person(uv)], stamp=1)
        assert spin_until(node, lambda: len(hyp) >= 1, 60)
        assert len(hyp[0].people[0].hypotheses) == 5 and hyp[0].num_steps == 3

        for name, value, why in [("num_hypotheses", -3, "range"), ("eta", 1.5, "range"),
                                 ("guidance_scale", "strong", "type"), ("input", "image", "read-only"),
                                 ("preset", "fast", "read-only"),
                                 ("device", "cuda", "read-only")]:
            result = set_one(name, value)
            assert not result.successful and why in result.reason.lower(), (name, result.reason)
        assert get("num_hypotheses").integer_value == 5 and get("input").string_value == "observations"
        assert get("eta").type == ParameterType.PARAMETER_DOUBLE and get("eta").double_value == 1.0

        assert set_one("max_people_per_frame", 1).successful
        send([keypoint_person(uv, 0), keypoint_person(uv + 5, 1)], stamp=2)  # now over the limit
        send([keypoint_person(uv)], stamp=3)
        assert spin_until(node, lambda: len(hyp) >= 2, 60)
        assert spin_until(node, lambda: diag and diag[-1]["dropped_too_many_people"] == "1", 10), diag[-1]
    finally:
        node.destroy_node()
        rc, out = stop(proc)
    assert rc == 0, out[-3000:]
    assert [h.header.stamp.sec for h in hyp] == [1, 3]
    assert len(hyp[1].people[0].hypotheses) == 5 and hyp[1].num_steps == 3
    assert "parameters changed" in out
    assert "preset=accurate with {'num_hypotheses': 8}" in out
