"""3DPW sequences -> rosbag2 (MCAP) evaluation bags: images, CameraInfo and camera-frame H36M-17 ground truth.

    python -m diffpose_ros.evaluation.threedpw_bags ROOT/sequenceFiles/test/downtown_walking_00.pkl OUT_BAG \
        [--images ROOT/imageFiles] [--raw | --keypoints-2d SIGMA_PX] [--stride 1] [--max-frames 0] [--fps 30]

Then ``python -m diffpose_ros.evaluation.replay_eval OUT_BAG`` plays it through the node (built-in detector).

The official pickles (Python 2, read with ``encoding='latin1'``) hold ``sequenceName``, ``cam_intrinsics``
[3, 3], ``cam_poses`` [N, 4, 4] (world -> camera), per person ``jointPositions`` [N, 72] (24 SMPL joints, world
frame, metres), ``poses2d`` [N, 3, 18] and ``campose_valid`` [N], and ``img_frame_ids`` [N]; the frames are
``imageFiles/<sequenceName>/image_%05d.jpg``. Images are stored as the original JPEG bytes
(sensor_msgs/CompressedImage on ``/camera/image_raw/compressed``), decoded to rgb8 Images (``--raw``), or
replaced by the dataset's OpenPose keypoints as diffpose_msgs/Observations2D (``--keypoints-2d``,
:data:`COCO18_TO_H36M17`).
Ground truth (diffpose_msgs/Skeleton3DArray on ``/ground_truth/skeletons``) holds the people whose
``campose_valid`` is set in that frame, track id = person index.

SMPL-24 -> H36M-17 (:data:`SMPL24_TO_H36M17`); SMPL joints: 0 pelvis, 1/2 left/right hip, 3 spine1, 4/5 knees,
6 spine2, 7/8 ankles, 9 spine3, 12 neck, 15 head, 16/17 shoulders, 18/19 elbows, 20/21 wrists.
Approximations (the skeletons differ, so MPJPE on 3DPW carries a few cm of definition error; PA-MPJPE less):

* pelvis = SMPL pelvis (SMPL's sits a little higher than H36M's hip-centre root);
* spine = SMPL spine2 (6), about halfway between pelvis and thorax like H36M's spine;
* thorax = SMPL neck (12); neck_nose = SMPL head (15) (H36M's joint is near the nose, SMPL's near the jaw);
* head_top = head + 1.0 x (head - neck) (SMPL has no head top; about 10-12 cm above the head joint).
"""

from __future__ import annotations

import argparse
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core.camera import PinholeCamera
from ..core.skeleton import JOINT_NAMES
from ..tools.bag_io import open_writer, typestore
from ..tools.video_to_bag import camera_info_msg
from .replay_messages import (
    GT_TOPIC,
    IMAGE_TOPIC,
    INFO_TOPIC,
    OBSERVATIONS_TOPIC,
    START_NS,
    header,
    skeleton_array_msg,
)

# H36M-17 joint -> SMPL-24 joint; -1 = head_top, extrapolated (see the module docstring).
SMPL24_TO_H36M17: tuple[int, ...] = (0, 2, 5, 8, 1, 4, 7, 6, 12, 15, -1, 16, 18, 20, 17, 19, 21)
SMPL_NECK, SMPL_HEAD = 12, 15
HEAD_TOP_EXTENSION = 1.0
# H36M-17 joint -> OpenPose COCO-18 keypoint of ``poses2d``; -1 = none (pelvis: the hips' midpoint).
COCO18_TO_H36M17: tuple[int, ...] = (-1, 8, 9, 10, 11, 12, 13, -1, 1, 0, -1, 5, 6, 7, 2, 3, 4)
COCO_RHIP, COCO_LHIP = 8, 11


@dataclass
class ThreeDPWSequence:
    name: str
    intrinsics: np.ndarray  # [3, 3]
    cam_poses: np.ndarray  # [N, 4, 4] world -> camera
    joints_world: np.ndarray  # [P, N, 24, 3] metres
    valid: np.ndarray  # [P, N] bool (campose_valid)
    frame_ids: np.ndarray  # [N] image indices
    poses2d: np.ndarray  # [P, N, 3, 18] OpenPose COCO-18 (x, y, confidence); zeros if absent

    @property
    def num_frames(self) -> int:
        return len(self.cam_poses)


def load_sequence(path: "str | Path") -> ThreeDPWSequence:
    """Read one official 3DPW sequence pickle (only load files you trust: pickle runs code)."""
    with open(path, "rb") as f:
        data = pickle.load(f, encoding="latin1")
    for key in ("sequenceName", "cam_intrinsics", "cam_poses", "jointPositions", "campose_valid"):
        if key not in data:
            raise ValueError(f"{path}: not a 3DPW sequence file (no {key!r})")
    poses = np.asarray(data["cam_poses"], dtype=np.float64)
    n = len(poses)
    joints = np.stack([np.asarray(j, dtype=np.float64).reshape(n, 24, 3) for j in data["jointPositions"]])
    valid = np.stack([np.asarray(v).astype(bool).reshape(n) for v in data["campose_valid"]])
    ids = np.asarray(data.get("img_frame_ids", np.arange(n)), dtype=np.int64).reshape(n)
    p2d = data.get("poses2d")
    poses2d = (np.stack([np.asarray(q, dtype=np.float64).reshape(n, 3, 18) for q in p2d]) if p2d is not None
               else np.zeros((len(joints), n, 3, 18)))
    return ThreeDPWSequence(str(data["sequenceName"]), np.asarray(data["cam_intrinsics"], dtype=np.float64),
                            poses, joints, valid, ids, poses2d)


def smpl_to_h36m(joints: np.ndarray) -> np.ndarray:
    """SMPL-24 joints ``[..., 24, 3]`` -> H36M-17 ``[..., 17, 3]`` (head_top extrapolated)."""
    j = np.asarray(joints, dtype=np.float64)
    idx = np.array(SMPL24_TO_H36M17)
    out = j[..., np.where(idx < 0, SMPL_HEAD, idx), :].copy()
    out[..., 10, :] = j[..., SMPL_HEAD, :] + HEAD_TOP_EXTENSION * (j[..., SMPL_HEAD, :] - j[..., SMPL_NECK, :])
    return out


def world_to_camera(points: np.ndarray, cam_pose: np.ndarray) -> np.ndarray:
    """Points ``[..., 3]`` through a 4x4 world -> camera transform."""
    return np.asarray(points) @ cam_pose[:3, :3].T + cam_pose[:3, 3]


def ground_truth(seq: ThreeDPWSequence, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """(``[P, 17, 3]`` camera-frame H36M-17 poses of the valid people, their track ids) for one frame."""
    people = np.flatnonzero(seq.valid[:, frame])
    poses = smpl_to_h36m(world_to_camera(seq.joints_world[people, frame], seq.cam_poses[frame]))
    return poses, people


def keypoints_2d(seq_poses2d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One person's OpenPose ``[3, 18]`` (x, y, confidence) -> H36M-17 ``[17, 2]`` px and ``[17]`` scores.

    Spine and head top have no OpenPose counterpart (score 0); pelvis is the hips' midpoint; neck_nose uses
    the nose. Keypoints with confidence 0 are left unobserved.
    """
    p = np.asarray(seq_poses2d, dtype=np.float64).reshape(3, 18)
    kp = np.full((17, 2), np.nan)
    sc = np.zeros(17)
    for j, c in enumerate(COCO18_TO_H36M17):
        if c >= 0 and p[2, c] > 0:
            kp[j], sc[j] = p[:2, c], min(p[2, c], 1.0)
    if p[2, COCO_RHIP] > 0 and p[2, COCO_LHIP] > 0:
        kp[0] = (p[:2, COCO_RHIP] + p[:2, COCO_LHIP]) / 2
        sc[0] = min(p[2, COCO_RHIP], p[2, COCO_LHIP], 1.0)
    return kp, sc


def keypoint_observations_msg(ts, hdr, seq: ThreeDPWSequence, frame: int, sigma_px: float):
    """Observations2D (keypoints only, Gaussians of ``sigma_px`` rendered by the node) of the valid people."""
    Keypoint2D = ts.types["diffpose_msgs/msg/Keypoint2D"]
    people = []
    for p in np.flatnonzero(seq.valid[:, frame]):
        kp, sc = keypoints_2d(seq.poses2d[p, frame])
        people.append(ts.types["diffpose_msgs/msg/PersonObservation2D"](
            track_id=int(p), detection_score=1.0, keypoints=[Keypoint2D(x=float(x), y=float(y), score=float(s))
                                                             for (x, y), s in zip(kp, sc)],
            keypoint_sigma_px=float(sigma_px), heatmap_height=0, heatmap_width=0,
            heatmaps=np.zeros(0, np.float32), heatmap_encoding="", image_to_heatmap=np.zeros(6)))
    return ts.types["diffpose_msgs/msg/Observations2D"](header=hdr, joint_names=list(JOINT_NAMES), people=people)


def convert(pkl: "str | Path", images: "str | Path", out: "str | Path", compressed: bool = True, stride: int = 1,
            max_frames: int = 0, fps: float = 30.0, storage: str = "mcap", progress: bool = True,
            keypoints_sigma_px: float = 0.0) -> int:
    """Write one 3DPW sequence as an evaluation bag; returns the number of frames written.

    ``keypoints_sigma_px > 0`` writes the dataset's OpenPose 2D keypoints as Observations2D instead of the images
    (lifting alone, without the built-in detector); the images are then only read for their size.
    """
    import cv2

    seq = load_sequence(pkl)
    image_dir = Path(images) / seq.name
    frames = np.arange(0, seq.num_frames, max(1, stride))
    if max_frames > 0:
        frames = frames[:max_frames]
    ts = typestore()
    camera = None
    with open_writer(out, storage) as writer:
        img_topic = IMAGE_TOPIC + "/compressed" if compressed else IMAGE_TOPIC
        img_type = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
        if keypoints_sigma_px > 0:
            img_topic, img_type = OBSERVATIONS_TOPIC, "diffpose_msgs/msg/Observations2D"
        info_conn = writer.add_connection(INFO_TOPIC, "sensor_msgs/msg/CameraInfo", typestore=ts)
        img_conn = writer.add_connection(img_topic, img_type, typestore=ts)
        gt_conn = writer.add_connection(GT_TOPIC, "diffpose_msgs/msg/Skeleton3DArray", typestore=ts)
        for n, i in enumerate(tqdm(frames, desc=f"3dpw {seq.name}", unit="frame", disable=not progress)):
            path = image_dir / f"image_{seq.frame_ids[i]:05d}.jpg"
            data = path.read_bytes() if path.is_file() else None
            if data is None:
                raise FileNotFoundError(f"3DPW frame missing: {path}")
            bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:
                raise ValueError(f"cannot decode {path}")
            if camera is None:
                camera = PinholeCamera.from_k(seq.intrinsics.ravel(), bgr.shape[1], bgr.shape[0])
            t_ns = START_NS + round(n * stride * 1e9 / fps)
            hdr = header(ts, t_ns)
            info = ts.serialize_cdr(camera_info_msg(ts, camera, hdr), "sensor_msgs/msg/CameraInfo")
            if n == 0:
                writer.write(info_conn, t_ns - 200_000_000, info)
            writer.write(info_conn, t_ns - 1_000_000, info)
            if keypoints_sigma_px > 0:
                msg = keypoint_observations_msg(ts, hdr, seq, int(i), keypoints_sigma_px)
            elif compressed:
                msg = ts.types[img_type](header=hdr, format="jpeg", data=np.frombuffer(data, np.uint8))
            else:
                rgb = np.ascontiguousarray(bgr[..., ::-1])
                h, w = rgb.shape[:2]
                msg = ts.types[img_type](header=hdr, height=h, width=w, encoding="rgb8", is_bigendian=0,
                                         step=w * 3, data=rgb.reshape(-1))
            writer.write(img_conn, t_ns, ts.serialize_cdr(msg, img_type))
            poses, ids = ground_truth(seq, int(i))
            writer.write(gt_conn, t_ns, ts.serialize_cdr(skeleton_array_msg(ts, hdr, poses, ids),
                                                         "diffpose_msgs/msg/Skeleton3DArray"))
    return len(frames)


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pickle", type=Path, help="3DPW sequenceFiles/<split>/<sequence>.pkl")
    ap.add_argument("out", type=Path, help="output bag directory (must not exist)")
    ap.add_argument("--images", type=Path, help="the imageFiles directory (default: ../../imageFiles beside it)")
    ap.add_argument("--raw", action="store_true", help="decoded rgb8 Images instead of the original JPEGs")
    ap.add_argument("--keypoints-2d", type=float, default=0.0, metavar="SIGMA_PX",
                    help="write the dataset's OpenPose 2D keypoints as Observations2D (Gaussian std SIGMA_PX) "
                    "instead of images: evaluates lifting without the detector")
    ap.add_argument("--stride", type=int, default=1, help="every n-th frame")
    ap.add_argument("--max-frames", type=int, default=0)
    ap.add_argument("--fps", type=float, default=30.0, help="3DPW video rate (stamps advance by stride / fps)")
    ap.add_argument("--storage", choices=["mcap", "sqlite3"], default="mcap")
    args = ap.parse_args(argv)
    images = args.images or args.pickle.resolve().parents[2] / "imageFiles"
    try:
        n = convert(args.pickle, images, args.out, not args.raw, args.stride, args.max_frames, args.fps,
                    args.storage, keypoints_sigma_px=args.keypoints_2d)
    except (FileNotFoundError, ValueError) as exc:
        print(f"threedpw_bags: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {n} frames to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
