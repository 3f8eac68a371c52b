"""rosbags (pure Python) message builders for evaluation bags: ground truth and external 2D observations.

Topics written by the bag makers (:mod:`.mocap_bags`, :mod:`.threedpw_bags`): CameraInfo on ``INFO_TOPIC``,
ground truth (diffpose_msgs/Skeleton3DArray, camera optical frame, metres) on ``GT_TOPIC``, and either images or
diffpose_msgs/Observations2D on ``OBSERVATIONS_TOPIC``.
"""

from __future__ import annotations

import numpy as np

from ..core import skeleton

INFO_TOPIC = "/camera/camera_info"
IMAGE_TOPIC = "/camera/image_raw"
OBSERVATIONS_TOPIC = "/observations"
GT_TOPIC = "/ground_truth/skeletons"
FRAME_ID = "camera_optical_frame"
START_NS = 1_700_000_000 * 10**9


def header(ts, t_ns: int, frame_id: str = FRAME_ID):
    sec, nsec = divmod(int(t_ns), 10**9)
    return ts.types["std_msgs/msg/Header"](stamp=ts.types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nsec),
                                           frame_id=frame_id)


def skeleton_array_msg(ts, hdr, skeletons: np.ndarray, track_ids: "list[int] | np.ndarray"):
    """diffpose_msgs/Skeleton3DArray of ``[P, 17, 3]`` poses (metres, the header's frame)."""
    Point = ts.types["geometry_msgs/msg/Point"]
    Skeleton3D = ts.types["diffpose_msgs/msg/Skeleton3D"]
    skels = [Skeleton3D(joints=[Point(x=float(x), y=float(y), z=float(z)) for x, y, z in np.asarray(s)], weight=1.0)
             for s in skeletons]
    return ts.types["diffpose_msgs/msg/Skeleton3DArray"](
        header=hdr, skeleton=skeleton.NAME, joint_names=list(skeleton.JOINT_NAMES),
        track_ids=np.asarray(track_ids, dtype=np.uint32), skeletons=skels)


def observations_msg(ts, hdr, people: list, encoding: str = "logit"):
    """diffpose_msgs/Observations2D from PersonObservation-like objects (log-prob heatmaps sent as logits).

    ``encoding='probability'`` sends ``exp`` of the log-probabilities instead.
    """
    Keypoint2D = ts.types["diffpose_msgs/msg/Keypoint2D"]
    out = []
    for i, obs in enumerate(people):
        kps = [Keypoint2D(x=float(x), y=float(y), score=float(s)) for (x, y), s in zip(obs.keypoints, obs.scores)]
        heat = np.asarray(obs.heatmaps, dtype=np.float32)
        if encoding == "probability":
            heat = np.exp(heat)
        track = getattr(obs, "track_id", -1)
        out.append(ts.types["diffpose_msgs/msg/PersonObservation2D"](
            track_id=int(track if track >= 0 else i), detection_score=float(obs.score), keypoints=kps,
            keypoint_sigma_px=0.0, heatmap_height=heat.shape[1], heatmap_width=heat.shape[2],
            heatmaps=heat.reshape(-1), heatmap_encoding=encoding,
            image_to_heatmap=np.asarray(obs.image_to_heatmap, dtype=np.float64).reshape(6)))
    return ts.types["diffpose_msgs/msg/Observations2D"](header=hdr, joint_names=list(skeleton.JOINT_NAMES),
                                                        people=out)


def skeletons_from_msg(msg) -> tuple[np.ndarray, np.ndarray]:
    """Skeleton3DArray (rclpy or rosbags) -> (``[P, 17, 3]`` poses in H36M-17 order, ``[P]`` track ids)."""
    order = [list(msg.joint_names).index(n) for n in skeleton.JOINT_NAMES]
    poses = np.array([[[p.x, p.y, p.z] for p in s.joints] for s in msg.skeletons], dtype=np.float64)
    poses = poses.reshape(-1, len(msg.joint_names), 3)[:, order]
    return poses, np.asarray(msg.track_ids, dtype=np.int64)
