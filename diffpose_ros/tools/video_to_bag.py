"""Turn a video, an image folder or image files into a rosbag2 with images and CameraInfo.

    video_to_bag INPUT [INPUT ...] OUT_BAG [--fps 10] [--crop X Y W H] [--scale 2] [--max-frames 60]
                 [--compressed] [--hfov 60] [--frame-id camera_optical_frame] [--loop N]

Still images are repeated ``--loop`` times (a looped photo is a valid, if static, video). Images are stored as
sensor_msgs/Image rgb8 or, with ``--compressed``, as JPEG sensor_msgs/CompressedImage (small enough to ship).
CameraInfo comes from ``--hfov`` (square pixels, centred principal point) or explicit ``--fx --fy --cx --cy``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from diffpose_ros.core.camera import PinholeCamera
from diffpose_ros.tools.bag_io import open_writer, typestore

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def iter_frames(inputs: list[Path], loop: int = 1, every: int = 1, start: int = 0) -> Iterator[np.ndarray]:
    """BGR frames from videos (from frame ``start``), image folders (sorted) and image files, in order."""
    for _ in range(max(1, loop)):
        for path in inputs:
            if path.is_dir():
                files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
                yield from (f for f in (_read_image(p) for p in files[::every]))
            elif path.suffix.lower() in IMAGE_SUFFIXES:
                yield _read_image(path)
            else:
                cap = cv2.VideoCapture(str(path))
                if not cap.isOpened():
                    raise ValueError(f"cannot open video {path}")
                if start:
                    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
                i = 0
                while True:
                    ok, frame = cap.read()
                    if not ok:
                        break
                    if i % every == 0:
                        yield frame
                    i += 1
                cap.release()


def _read_image(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read image {path}")
    return img


def transform(frame: np.ndarray, crop: "tuple[int, int, int, int] | None", scale: float) -> np.ndarray:
    if crop is not None:
        x, y, w, h = crop
        frame = frame[y:y + h, x:x + w]
        if frame.size == 0:
            raise ValueError(f"crop {crop} is outside the frame")
    if scale != 1.0:
        frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC if scale > 1 else
                           cv2.INTER_AREA)
    return frame


def camera_info_msg(ts, camera: PinholeCamera, header):
    CameraInfo = ts.types["sensor_msgs/msg/CameraInfo"]
    RegionOfInterest = ts.types["sensor_msgs/msg/RegionOfInterest"]
    k = camera.k.ravel()
    p = np.array([[camera.fx, 0, camera.cx, 0], [0, camera.fy, camera.cy, 0], [0, 0, 1, 0]], dtype=np.float64)
    return CameraInfo(header=header, height=camera.height, width=camera.width, distortion_model="plumb_bob",
                      d=np.zeros(5), k=k, r=np.eye(3).ravel(), p=p.ravel(), binning_x=0, binning_y=0,
                      roi=RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


def count_frames(inputs: list[Path], loop: int = 1, every: int = 1, start: int = 0) -> int | None:
    """How many frames :func:`iter_frames` yields (video frame counts from the container; None if unknown)."""
    n = 0
    for path in inputs:
        if path.is_dir():
            n += len(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[::every])
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            n += 1
        else:
            cap = cv2.VideoCapture(str(path))
            frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
            cap.release()
            if frames <= 0:
                return None
            n += -(-max(frames - start, 0) // every)
    return n * max(1, loop)


def write_bag(frames: "Iterator[np.ndarray]", out: Path, fps: float, camera_fn, frame_id: str, compressed: bool,
              image_topic: str = "/camera/image_raw", info_topic: str = "/camera/camera_info",
              start_ns: int = 1_700_000_000 * 10**9, jpeg_quality: int = 85, max_frames: int = 0,
              storage: str = "mcap", total: int | None = None, progress: bool = True) -> int:
    """Write frames (BGR) + CameraInfo at ``fps`` into a new bag; returns the number of frames.

    ``total`` (frames expected, e.g. from :func:`count_frames`) gives the progress bar its end.
    """
    ts = typestore()
    Header = ts.types["std_msgs/msg/Header"]
    Time = ts.types["builtin_interfaces/msg/Time"]
    n = 0
    with open_writer(out, storage) as writer:
        if compressed:
            img_conn = writer.add_connection(image_topic + "/compressed", "sensor_msgs/msg/CompressedImage",
                                             typestore=ts)
        else:
            img_conn = writer.add_connection(image_topic, "sensor_msgs/msg/Image", typestore=ts)
        info_conn = writer.add_connection(info_topic, "sensor_msgs/msg/CameraInfo", typestore=ts)
        if max_frames:
            total = min(total, max_frames) if total else max_frames
        for frame in tqdm(frames, desc=f"write {out.name}", unit="frame", total=total, disable=not progress):
            if max_frames and n >= max_frames:
                break
            t_ns = start_ns + round(n * 1e9 / fps)
            sec, nsec = divmod(t_ns, 10**9)
            header = Header(stamp=Time(sec=sec, nanosec=nsec), frame_id=frame_id)
            h, w = frame.shape[:2]
            if compressed:
                ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
                if not ok:
                    raise ValueError("JPEG encoding failed")
                msg = ts.types["sensor_msgs/msg/CompressedImage"](header=header, format="jpeg",
                                                                   data=np.frombuffer(buf, np.uint8))
                writer.write(img_conn, t_ns, ts.serialize_cdr(msg, "sensor_msgs/msg/CompressedImage"))
            else:
                rgb = np.ascontiguousarray(frame[..., ::-1])
                msg = ts.types["sensor_msgs/msg/Image"](header=header, height=h, width=w, encoding="rgb8",
                                                         is_bigendian=0, step=w * 3, data=rgb.reshape(-1))
                writer.write(img_conn, t_ns, ts.serialize_cdr(msg, "sensor_msgs/msg/Image"))
            writer.write(info_conn, t_ns, ts.serialize_cdr(camera_info_msg(ts, camera_fn(w, h), header),
                                                           "sensor_msgs/msg/CameraInfo"))
            n += 1
    if n == 0:
        raise ValueError("no frames were written")
    return n


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+", type=Path, help="inputs (video, image folder, images) then the output bag")
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--crop", type=int, nargs=4, metavar=("X", "Y", "W", "H"))
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--every", type=int, default=1, help="keep every k-th frame")
    ap.add_argument("--start-frame", type=int, default=0, help="first video frame")
    ap.add_argument("--max-frames", type=int, default=0)
    ap.add_argument("--loop", type=int, default=1, help="repeat the inputs this many times")
    ap.add_argument("--compressed", action="store_true", help="store JPEG CompressedImage")
    ap.add_argument("--hfov", type=float, default=60.0, help="horizontal field of view, degrees")
    ap.add_argument("--fx", type=float)
    ap.add_argument("--fy", type=float)
    ap.add_argument("--cx", type=float)
    ap.add_argument("--cy", type=float)
    ap.add_argument("--frame-id", default="camera_optical_frame")
    ap.add_argument("--storage", choices=["mcap", "sqlite3"], default="mcap")
    args = ap.parse_args(argv)
    if len(args.paths) < 2:
        ap.error("give at least one input and the output bag")
    *inputs, out = args.paths

    def camera_fn(w: int, h: int) -> PinholeCamera:
        if args.fx:
            return PinholeCamera(args.fx, args.fy or args.fx, args.cx if args.cx is not None else (w - 1) / 2,
                                 args.cy if args.cy is not None else (h - 1) / 2, w, h)
        return PinholeCamera.from_fov(w, h, args.hfov)

    crop = tuple(args.crop) if args.crop else None
    try:
        frames = (transform(f, crop, args.scale) for f in iter_frames(inputs, args.loop, args.every, args.start_frame))
        n = write_bag(frames, out, args.fps, camera_fn, args.frame_id, args.compressed, max_frames=args.max_frames,
                      storage=args.storage, total=count_frames(inputs, args.loop, args.every, args.start_frame))
    except (ValueError, FileExistsError) as exc:
        print(f"video_to_bag: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {n} frames to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
