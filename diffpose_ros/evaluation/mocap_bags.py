"""Evaluation bags from the held-out mocap takes: synthetic heatmaps as Observations2D + CameraInfo + ground truth.

    python -m diffpose_ros.evaluation.mocap_bags OUT_BAG [--frames 200] [--split test] [--seed 0] [--fps 10]

Poses are drawn evenly (seeded) from the held-out split of :mod:`diffpose_ros.prior.mocap` (whole takes never
seen in training). Each frame places its pose in front of one fixed virtual camera (random yaw and placement,
see :mod:`.synthetic_heatmaps`) and stores the detector-contract heatmaps (log-probabilities sent as
``logit``, with the crop affine) on ``/observations``, CameraInfo on ``/camera/camera_info`` (1 ms before its
frame, plus one 0.2 s ahead of the first) and the camera-frame ground truth on ``/ground_truth/skeletons``.
Evaluate with ``python -m diffpose_ros.evaluation.replay_eval OUT_BAG`` (the node runs with ``input: observations``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core.camera import PinholeCamera
from ..core.paths import add_data_argument, missing_data_message, use_data_dir
from ..tools.bag_io import open_writer, typestore
from ..tools.video_to_bag import camera_info_msg
from .replay_messages import (
    GT_TOPIC,
    INFO_TOPIC,
    OBSERVATIONS_TOPIC,
    START_NS,
    header,
    observations_msg,
    skeleton_array_msg,
)
from .synthetic_heatmaps import SyntheticConfig, render_frame

FOCAL_PX = 550.0  # the fixed virtual camera (640x480, about 60 deg horizontal field of view)


def fixed_camera_config(**overrides) -> SyntheticConfig:
    """The synthetic detector with one fixed camera (the node pairs frames with CameraInfo by stamp)."""
    return SyntheticConfig(**{"focal_range": (FOCAL_PX, FOCAL_PX), "principal_jitter_px": 0.0, **overrides})


def held_out_poses(num_frames: int, split: str = "test", seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """``[N, 17, 3]`` root-relative poses spread evenly over the split, and their take names."""
    from ..prior.mocap import MocapConfig, load_pose_set

    pose_set = load_pose_set(MocapConfig()).split(split)
    if len(pose_set.poses) == 0:
        raise ValueError(f"the mocap {split!r} split is empty")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(pose_set.poses), size=min(num_frames, len(pose_set.poses)), replace=False))
    return pose_set.poses[idx], [str(pose_set.takes[t]) for t in pose_set.take_index[idx]]


def write_frames_bag(frames, out: "str | Path", fps: float = 10.0, storage: str = "mcap",
                     encoding: str = "logit") -> "PinholeCamera | None":
    """Write ``(camera, observations, gt poses [P, 17, 3], gt ids [P])`` per frame as an evaluation bag (CameraInfo
    1 ms before each frame plus one 0.2 s ahead of the first, Observations2D, ground truth); returns the last camera.
    """
    ts = typestore()
    camera = None
    with open_writer(Path(out), storage) as writer:
        info_conn = writer.add_connection(INFO_TOPIC, "sensor_msgs/msg/CameraInfo", typestore=ts)
        obs_conn = writer.add_connection(OBSERVATIONS_TOPIC, "diffpose_msgs/msg/Observations2D", typestore=ts)
        gt_conn = writer.add_connection(GT_TOPIC, "diffpose_msgs/msg/Skeleton3DArray", typestore=ts)
        for i, (camera, observations, gt_poses, gt_ids) in enumerate(frames):
            t_ns = START_NS + round(i * 1e9 / fps)
            hdr = header(ts, t_ns)
            info = ts.serialize_cdr(camera_info_msg(ts, camera, hdr), "sensor_msgs/msg/CameraInfo")
            if i == 0:
                writer.write(info_conn, t_ns - 200_000_000, info)
            writer.write(info_conn, t_ns - 1_000_000, info)
            writer.write(obs_conn, t_ns, ts.serialize_cdr(observations_msg(ts, hdr, observations, encoding),
                                                          "diffpose_msgs/msg/Observations2D"))
            writer.write(gt_conn, t_ns, ts.serialize_cdr(skeleton_array_msg(ts, hdr, gt_poses, gt_ids),
                                                         "diffpose_msgs/msg/Skeleton3DArray"))
    return camera


def write_mocap_bag(poses: np.ndarray, out: "str | Path", seed: int = 0, fps: float = 10.0,
                    config: SyntheticConfig | None = None, storage: str = "mcap", encoding: str = "logit",
                    progress: bool = True) -> dict:
    """Write one frame per root-relative pose ``[N, 17, 3]``; returns a summary (also the bag's sidecar JSON)."""
    cfg = config or fixed_camera_config()
    rng = np.random.default_rng(seed)
    out = Path(out)

    def frames():
        for i, pose in enumerate(tqdm(np.asarray(poses), desc=f"write {out.name}", unit="frame",
                                      disable=not progress)):
            frame = render_frame(pose, rng, cfg)
            # Unrelated poses, not a video: every frame is its own person (track id = frame index), so the
            # estimator's temporal state (warm starts, filters) never links two frames.
            yield frame.camera, [dataclasses.replace(frame.to_observation(), track_id=i)], frame.pose_camera[None], [i]

    camera = write_frames_bag(frames(), out, fps, storage, encoding)
    summary = {"bag": str(out), "frames": len(poses), "fps": fps, "seed": seed, "encoding": encoding,
               "camera": _camera_dict(camera), "synthetic": {k: v for k, v in vars(cfg).items()}}
    out.with_name(out.name + ".json").write_text(json.dumps(summary, indent=2, default=list))
    return summary


def _camera_dict(camera: "PinholeCamera | None") -> dict:
    if camera is None:
        return {}
    return {"fx": camera.fx, "fy": camera.fy, "cx": camera.cx, "cy": camera.cy, "width": camera.width,
            "height": camera.height}


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="output bag directory (must not exist)")
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--split", choices=["test", "val"], default="test")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--encoding", choices=["logit", "probability"], default="logit")
    ap.add_argument("--storage", choices=["mcap", "sqlite3"], default="mcap")
    add_data_argument(ap)
    args = ap.parse_args(argv)
    use_data_dir(args.data)
    if args.out.exists():
        print(f"mocap_bags: {args.out} exists", file=sys.stderr)
        return 1
    try:
        poses, takes = held_out_poses(args.frames, args.split, args.seed)
    except FileNotFoundError as exc:
        print(missing_data_message("mocap_bags", exc), file=sys.stderr)
        return 1
    summary = write_mocap_bag(poses, args.out, args.seed, args.fps, storage=args.storage, encoding=args.encoding)
    print(f"wrote {summary['frames']} frames from {len(set(takes))} held-out takes to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
