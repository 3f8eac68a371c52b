"""End-to-end benchmark of the running node: latency per frame and sustained output rate, over real DDS.

    python -m diffpose_ros.tools.benchmark_node [--image messi5.jpg] [--tile 2] [--fps 30] [--frames 150]
        [-p name:=value]

A still photo (one person by default; ``--tile 2`` repeats it 2 x 2: four people) is looped into a bag at ``--fps``
and played in real time through the estimator process started as the launch file does (newest-frame processing,
frames dropped while busy). Latency = time from publishing an image to receiving its hypotheses in another
process. Prints a table (with the node's own per-stage medians), writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from diffpose_ros.core.camera import PinholeCamera
from diffpose_ros.core.paths import add_data_argument, missing_data_message, use_data_dir
from diffpose_ros.tools.bag_io import parse_assignments
from diffpose_ros.tools.demo import run_demo
from diffpose_ros.tools.video_to_bag import iter_frames, write_bag


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", type=Path, default=None,
                    help="the photo to loop (default: images/messi5.jpg of the development data)")
    add_data_argument(ap)
    ap.add_argument("--tile", type=int, default=1, help="repeat the photo N x N (N^2 people for a one-person photo)")
    ap.add_argument("--fps", type=float, default=30.0, help="input frame rate")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--out", type=Path, default=Path("out/benchmark_node"))
    ap.add_argument("-p", dest="params", action="append", help="node parameter override name:=value")
    args = ap.parse_args(argv)
    if args.tile < 1:
        ap.error("--tile must be >= 1")
    args.image = args.image or use_data_dir(args.data) / "images" / "messi5.jpg"
    if not args.image.is_file():
        print(missing_data_message("benchmark_node", FileNotFoundError(f"image not found: {args.image} "
                                                                       "(pass --image PATH)")), file=sys.stderr)
        return 2
    overrides = {"num_hypotheses": 16, "process_every_frame": False, **parse_assignments(args.params, "-p")}
    with tempfile.TemporaryDirectory() as tmp:
        bag = Path(tmp) / "input"
        frames = (np.tile(f, (args.tile, args.tile, 1)) for f in iter_frames([args.image], loop=args.frames))
        write_bag(frames, bag, args.fps,
                  lambda w, h: PinholeCamera.from_fov(w, h, 60.0), "camera_optical_frame", compressed=True,
                  total=args.frames)
        summary = run_demo(bag, args.out, overrides, num_render=1)
    result = {
        "input_fps": args.fps, "frames_in": summary["frames_in"], "frames_out": summary["frames_out"],
        "dropped_while_busy": summary["frames_in"] - summary["frames_out"],
        "latency_ms_p50": summary["latency_ms_p50"], "latency_ms_p95": summary["latency_ms_p95"],
        "sustained_rate_hz": summary["output_rate_hz"], "parameters": summary["parameters"],
        "image": str(args.image), "tile": args.tile, "mean_people": summary["mean_people"],
        "node_stage_ms_p50": {k[:-len("_ms_p50")]: float(v) for k, v in summary["node_stage_ms"].items()
                              if k.endswith("_ms_p50")},
    }
    (args.out / "benchmark_node.json").write_text(json.dumps(result, indent=2))
    print(f"\n{'input':>10} {'frames in/out':>14} {'p50 ms':>8} {'p95 ms':>8} {'rate Hz':>8}")
    print(f"{args.fps:>8.0f}Hz {summary['frames_in']:>6}/{summary['frames_out']:<7} "
          f"{result['latency_ms_p50'] or float('nan'):>8.1f} {result['latency_ms_p95'] or float('nan'):>8.1f} "
          f"{result['sustained_rate_hz']:>8.2f}")
    print(f"people per frame {summary['mean_people']:.2f}; node stages p50 (ms): "
          + ", ".join(f"{k} {v:.1f}" for k, v in result["node_stage_ms_p50"].items()))
    print(f"wrote {args.out / 'benchmark_node.json'}")
    return 0 if summary["frames_out"] else 1


if __name__ == "__main__":
    sys.exit(main())
