"""Run the BlazePose heatmap detector on an image or a video and write overlay PNGs.

    python -m diffpose_ros.detector.cli IMAGE_OR_VIDEO --out out/det --model full
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from .blazepose import BlazePoseDetector
from .tracking import BlazePoseTracker
from .visualize import overlay_panel

VIDEO_SUFFIXES = {".avi", ".mp4", ".mkv", ".mov", ".webm"}


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"cannot read image {path}")
    return bgr[:, :, ::-1]


def summary(people) -> list[dict]:
    return [{"track_id": p.track_id, "score": round(p.score, 4), "box": np.round(p.box, 1).tolist(),
             "keypoints": np.round(p.keypoints, 1).tolist(), "scores": np.round(p.scores, 3).tolist()}
            for p in people]


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", type=Path, help="image or video file")
    ap.add_argument("--out", type=Path, default=Path("out/det"),
                    help="output directory for the overlay PNGs and the JSON of keypoints (default: %(default)s)")
    ap.add_argument("--model", choices=["lite", "full", "heavy"], default="full",
                    help="BlazePose landmark model: lite is fastest, heavy most accurate (default: %(default)s)")
    ap.add_argument("--max-people", type=int, default=5, help="most people detected per image (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=1, help="TFLite interpreter threads (default: %(default)s)")
    ap.add_argument("--frames", type=int, default=30, help="video: number of frames to process")
    ap.add_argument("--stride", type=int, default=1, help="video: write every n-th overlay")
    ap.add_argument("--person-detector", choices=["centernet", "mediapipe"], default="centernet")
    ap.add_argument("--tiles", action="store_true", help="mediapipe: also detect on square tiles of wide images")
    ap.add_argument("--crop", type=int, nargs=4, metavar=("X0", "Y0", "X1", "Y1"), help="process this region only")
    ap.add_argument("--upscale", type=float, default=1.0, help="resize the (cropped) input by this factor first")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    detector = BlazePoseDetector(args.model, max_people=args.max_people, threads=args.threads,
                                 tile_detection=args.tiles, person_detector=args.person_detector)

    def prepare(rgb: np.ndarray) -> np.ndarray:
        if args.crop:
            x0, y0, x1, y1 = args.crop
            rgb = rgb[y0:y1, x0:x1]
        if args.upscale != 1.0:
            rgb = cv2.resize(rgb, None, fx=args.upscale, fy=args.upscale, interpolation=cv2.INTER_CUBIC)
        return np.ascontiguousarray(rgb)

    report = {}
    if args.input.suffix.lower() in VIDEO_SUFFIXES:
        cap = cv2.VideoCapture(str(args.input))
        tracker = BlazePoseTracker(detector)
        for i in range(args.frames):
            ok, bgr = cap.read()
            if not ok:
                break
            rgb = prepare(bgr[:, :, ::-1])
            people = tracker.detect(rgb)
            report[f"frame_{i:05d}"] = summary(people)
            if i % args.stride == 0:
                cv2.imwrite(str(args.out / f"{args.input.stem}_{i:05d}.png"), overlay_panel(rgb, people)[:, :, ::-1])
        cap.release()
        print(f"{len(report)} frames, detector ran {tracker.detector_runs} times")
    else:
        rgb = prepare(read_rgb(args.input))
        people = detector.detect(rgb)
        report[args.input.name] = summary(people)
        png = args.out / f"{args.input.stem}_{args.model}.png"
        cv2.imwrite(str(png), overlay_panel(rgb, people)[:, :, ::-1])
        print(f"{len(people)} people -> {png}")
    (args.out / f"{args.input.stem}_{args.model}.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
