"""Gravity from a sensor_msgs/Imu over DDS keeps the real node's hypotheses upright under a pitched camera, and with
the camera's height above the floor places a tall person at the right distance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rclpy
from hostile_messages import GOOD_K, camera_info, keypoint_person, observations
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_helpers import spin_until, stop, subscribe_outputs
from sensor_msgs.msg import CameraInfo, Imu

from diffpose_msgs.msg import Observations2D
from diffpose_ros.core.camera import PinholeCamera
from diffpose_ros.core.gravity import gravity_from_pitch_roll, level_to_camera
from diffpose_ros.core.skeleton import STATURE_TO_NOMINAL, nominal_height
from diffpose_ros.prior.bvh import parse_bvh
from diffpose_ros.prior.rig_mapping import bvh_to_h36m
from diffpose_ros.sampling.floor_contact import FLOOR_CLEARANCE_M
from diffpose_ros.tools.estimator_process import start_estimator

FIXTURES = Path(__file__).parent / "fixtures"
QOS = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
PITCH_DEG = 30.0
FEET_BELOW_CAMERA = 2.5  # a camera this high, pitched 30 deg, sees the whole person at 4 m
STATURE = 1.86  # 9 % above the stature prior's 1.70 m: only the floor can tell


def _upright_person_in_pitched_camera() -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """2D keypoints of an upright person (a real mocap frame, the committed CMU fixture, scaled to 1.86 m) seen by a
    camera pitched 30 deg down, gravity, the person's pelvis -> thorax direction in the camera frame and the
    pelvis's distance (m)."""
    bvh = parse_bvh((FIXTURES / "mocap" / "cmu_001_001_01_every40th.bvh").read_text())
    pose = bvh_to_h36m(bvh, frames=np.array([0]))[0].astype(np.float64)
    pose *= STATURE_TO_NOMINAL * STATURE / nominal_height(pose)
    g = gravity_from_pitch_roll(PITCH_DEG)
    level = pose + np.array([0.0, FEET_BELOW_CAMERA - pose[:, 1].max(), 4.0])
    cam_pose = level @ level_to_camera(g).T
    camera = PinholeCamera(GOOD_K[0], GOOD_K[4], GOOD_K[2], GOOD_K[5], 640, 480)
    uv = camera.project(cam_pose)
    assert (uv > 10).all() and (uv < [630, 470]).all(), uv  # in view
    return uv, g, cam_pose[8] - cam_pose[0], float(np.linalg.norm(cam_pose[0]))


def _spine_error_deg(person, spine_true: np.ndarray) -> float:
    """Angle between the mean hypothesis' pelvis -> thorax axis and the true one."""
    joints = np.array([[p.x, p.y, p.z] for p in person.mean.joints])
    spine = joints[8] - joints[0]
    cos = spine @ spine_true / (np.linalg.norm(spine) * np.linalg.norm(spine_true))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def test_imu_gravity_keeps_hypotheses_upright_and_its_absence_is_counted(ros):
    uv, g, spine, distance = _upright_person_in_pitched_camera()
    proc = start_estimator(overrides={"input": "observations", "process_every_frame": True,
                                      "image_qos.reliability": "reliable", "image_qos.depth": 10,
                                      "diagnostics_period": 0.2, "gravity.source": "imu",
                                      "floor.camera_height": FEET_BELOW_CAMERA + FLOOR_CLEARANCE_M[0]},
                           camera_info="/grav/info",
                           extra_remaps={"observations": "/grav/observations", "imu": "/grav/imu"})
    node = rclpy.create_node("gravity_probe")
    hyp, diag = subscribe_outputs(node, QOS)
    pub = node.create_publisher(Observations2D, "/grav/observations", QOS)
    pub_info = node.create_publisher(CameraInfo, "/grav/info", QOS)
    pub_imu = node.create_publisher(Imu, "/grav/imu", QOS)

    def send(stamp):  # one track: when gravity becomes known its temporal state restarts (no warm start from
        pub_info.publish(camera_info(GOOD_K, stamp=stamp))  # hypotheses sampled under another "up")
        pub.publish(observations([keypoint_person(uv)], stamp=stamp))

    try:
        assert spin_until(node, lambda: pub.get_subscription_count() > 0 and pub_imu.get_subscription_count() > 0,
                          90), "node did not come up"
        send(1)  # no Imu yet: gravity unknown, counted
        assert spin_until(node, lambda: len(hyp) >= 1, 60)
        bad = Imu()  # all zeros: refused and counted
        pub_imu.publish(bad)
        for _ in range(20):  # an IMU at rest in the camera's frame reads -g (up), 9.81 m/s^2
            msg = Imu()
            msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z = (-9.81 * g).tolist()
            pub_imu.publish(msg)
            spin_until(node, lambda: False, 0.02)
        send(2)
        assert spin_until(node, lambda: len(hyp) >= 2, 60)
        assert spin_until(node, lambda: diag and diag[-1]["processed"] == "2", 10)
    finally:
        node.destroy_node()
        rc, out = stop(proc)
    assert rc == 0, out[-3000:]
    assert diag[-1]["gravity_unknown"] == "1" and diag[-1]["dropped_bad_imu"] == "1", diag[-1]
    level_err, imu_err = _spine_error_deg(hyp[0].people[0], spine), _spine_error_deg(hyp[1].people[0], spine)
    assert imu_err < 12.0 and imu_err < level_err, (imu_err, level_err)
    # gravity known, the floor sets the size: the 1.86 m person is placed near its distance (the 1.70 m stature
    # prior alone would put it ~9 % too near)
    placed = [float(np.linalg.norm([p.mean.joints[0].x, p.mean.joints[0].y, p.mean.joints[0].z]))
              for p in (hyp[0].people[0], hyp[1].people[0])]
    assert abs(np.log(placed[1] / distance)) < 0.045, (placed, distance)
    assert abs(np.log(placed[1] / distance)) < abs(np.log(placed[0] / distance)), (placed, distance)
