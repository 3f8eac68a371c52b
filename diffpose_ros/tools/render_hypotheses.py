"""Render recorded hypotheses to PNGs: the image with the 2D overlay beside the 3D hypotheses.

    render_hypotheses HYPOTHESES_BAG --images IMAGE_BAG --out out/render [--frames 4]

Images (Image or CompressedImage) and CameraInfo are matched to PoseHypotheses by header stamp; they may sit in
the same bag or in another one (e.g. the bag that was played).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from diffpose_ros.core import skeleton
from diffpose_ros.core.camera import PinholeCamera
from diffpose_ros.ros.image_conversion import compressed_msg_to_rgb, image_to_numpy, to_rgb8
from diffpose_ros.tools.bag_io import read_messages
from diffpose_ros.visualization.overlay import draw_overlay, track_rgb


@dataclass
class RecordedPerson:
    """A PersonHypotheses message as arrays (the fields draw_overlay needs)."""

    track_id: int
    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    hypotheses: np.ndarray
    weights: np.ndarray
    mean: np.ndarray
    spread: np.ndarray


def stamp_ns(header) -> int:
    return int(header.stamp.sec) * 10**9 + int(header.stamp.nanosec)


def person_from_msg(p) -> RecordedPerson:
    def joints(s):
        return np.array([[q.x, q.y, q.z] for q in s.joints], dtype=np.float64).reshape(-1, 3)

    return RecordedPerson(
        track_id=int(p.track_id),
        keypoints=np.array([[k.x, k.y] for k in p.keypoints], dtype=np.float64).reshape(-1, 2),
        keypoint_scores=np.array([k.score for k in p.keypoints], dtype=np.float64),
        hypotheses=np.stack([joints(h) for h in p.hypotheses]) if len(p.hypotheses) else np.zeros((0, 17, 3)),
        weights=np.array([h.weight for h in p.hypotheses], dtype=np.float64),
        mean=joints(p.mean), spread=np.asarray(p.joint_spread, dtype=np.float64))


def load_frames(hyp_bag: Path, image_bag: "Path | None") -> list[dict]:
    """Frames with hypotheses, each with its image and camera when found: dicts stamp/people/image/camera."""
    frames: dict[int, dict] = {}
    for _topic, msgtype, _t, msg in read_messages(hyp_bag):
        if msgtype == "diffpose_msgs/msg/PoseHypotheses":
            frames[stamp_ns(msg.header)] = {"stamp": stamp_ns(msg.header),
                                            "people": [person_from_msg(p) for p in msg.people]}
    for _topic, msgtype, _t, msg in read_messages(image_bag or hyp_bag):
        key = stamp_ns(msg.header) if hasattr(msg, "header") else None
        if key not in frames:
            continue
        if msgtype == "sensor_msgs/msg/Image":
            frames[key]["image"] = to_rgb8(image_to_numpy(msg.height, msg.width, msg.encoding, msg.step,
                                                          bool(msg.is_bigendian), msg.data), msg.encoding)
        elif msgtype == "sensor_msgs/msg/CompressedImage":
            frames[key]["image"] = compressed_msg_to_rgb(msg)
        elif msgtype == "sensor_msgs/msg/CameraInfo":
            frames[key]["camera"] = PinholeCamera.from_k(msg.k, msg.width, msg.height)
    return [frames[k] for k in sorted(frames)]


def plot_3d(ax, person: RecordedPerson, max_hypotheses: int = 16) -> None:
    """One person's hypotheses (faint, alpha by weight) and mean (bold), each centred on its own pelvis; a legend.

    Camera optical frame (x right, y down, z forward) drawn with depth into the page and up as up.
    """
    color = np.array(track_rgb(person.track_id)) / 255.0
    centre = person.mean[0]
    order = np.argsort(-person.weights)[:max_hypotheses]
    top = person.weights[order[0]] if len(order) else 1.0
    for h in order:
        alpha = 0.15 + 0.5 * person.weights[h] / max(top, 1e-9)
        _bones(ax, person.hypotheses[h] - person.hypotheses[h][0], color, alpha, 0.8)
    _bones(ax, person.mean - centre, color, 1.0, 2.5)
    ax.legend(handles=[Line2D([], [], color=color, linewidth=2.5, label="weighted mean"),
                       Line2D([], [], color=color, alpha=0.5, linewidth=1.2,
                              label=f"{len(order)} hypotheses (opacity ~ weight)")],
              loc="upper left", fontsize=7, frameon=False)
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    ax.set_zlim(-1, 1)
    ax.set_box_aspect((1, 1, 1))
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_ticks([-1, 0, 1])
    ax.set_xlabel("x (m)")
    ax.set_ylabel("depth (m)")
    ax.set_zlabel("up (m)")
    ax.view_init(elev=12, azim=-65)
    depths = person.hypotheses[:, 0, 2]
    ax.set_title(f"id {person.track_id}: pelvis {centre[2]:.1f} m ({depths.min():.1f}-{depths.max():.1f}), "
                 f"spread {np.mean(person.spread) * 100:.0f} cm",
                 fontsize=9)


def _bones(ax, joints: np.ndarray, color, alpha: float, width: float) -> None:
    for c, p in skeleton.BONES:
        ax.plot([joints[c, 0], joints[p, 0]], [joints[c, 2], joints[p, 2]], [-joints[c, 1], -joints[p, 1]],
                color=color, alpha=alpha, linewidth=width)


def render_frame(frame: dict, out: Path, max_people: int = 3) -> Path:
    """Image with the 2D overlay, then one 3D panel per person (up to ``max_people``)."""
    people = frame["people"][:max_people]
    fig = plt.figure(figsize=(5.5 + 3.6 * max(len(people), 1), 4.6), dpi=100)
    grid = fig.add_gridspec(1, 1 + max(len(people), 1), width_ratios=[1.5] + [1] * max(len(people), 1))
    ax_img = fig.add_subplot(grid[0, 0])
    if "image" in frame:
        img = frame["image"]
        camera = frame.get("camera") or PinholeCamera.from_fov(img.shape[1], img.shape[0], 60.0)
        ax_img.imshow(draw_overlay(img, frame["people"], camera))
    m = len(frame["people"][0].hypotheses) if frame["people"] else 0
    ax_img.set_title(f"stamp {frame['stamp'] / 1e9:.2f} s: {len(frame['people'])} people, {m} hypotheses each",
                     fontsize=10)
    ax_img.axis("off")
    for k, person in enumerate(people):
        plot_3d(fig.add_subplot(grid[0, 1 + k], projection="3d"), person)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def render(hyp_bag: Path, image_bag: "Path | None", out_dir: Path, num_frames: int = 4) -> list[Path]:
    """PNG per frame for ``num_frames`` evenly spaced frames that have people."""
    frames = [f for f in load_frames(hyp_bag, image_bag) if f["people"]]
    if not frames:
        raise ValueError(f"no PoseHypotheses with people in {hyp_bag}")
    out_dir.mkdir(parents=True, exist_ok=True)
    picks = np.unique(np.linspace(0, len(frames) - 1, num_frames).round().astype(int))
    return [render_frame(frames[i], out_dir / f"frame_{i:04d}.png") for i in picks]


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bag", type=Path, help="bag with diffpose_msgs/PoseHypotheses")
    ap.add_argument("--images", type=Path, help="bag with the images and camera_info (default: the same bag)")
    ap.add_argument("--out", type=Path, default=Path("out/render"))
    ap.add_argument("--frames", type=int, default=4)
    args = ap.parse_args(argv)
    try:
        for path in render(args.bag, args.images, args.out, args.frames):
            print(path)
    except Exception as exc:
        print(f"render_hypotheses: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
