"""The main demo: run the estimator node on a bag (the bundled sample by default), record, render, summarise.

    python -m diffpose_ros.tools.demo [--bag BAG | --video VIDEO] [--out out/demo] [-p name:=value ...]

It starts the node exactly as the launch file does, plays the bag over real DDS (compressed images are
decompressed to rgb8), records ``~/hypotheses``, ``~/markers`` and ``/diagnostics`` into an MCAP bag, renders
PNGs of a few frames and prints frames in/out, people and end-to-end latency percentiles (JSON beside them).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from diffpose_ros.core.paths import REPO_ROOT
from diffpose_ros.tools.bag_io import parse_assignments

SAMPLE_BAG_NAME = "vtest_walkers"
OUTPUT_TOPICS = ["/estimator/hypotheses", "/estimator/markers", "/diagnostics"]


def sample_bag() -> Path:
    """The bundled sample bag (installed share dir first, then the source checkout)."""
    try:
        from ament_index_python.packages import get_package_share_directory

        path = Path(get_package_share_directory("diffpose_ros")) / "sample" / SAMPLE_BAG_NAME
        if path.is_dir():
            return path
    except Exception:
        pass
    return REPO_ROOT / "sample" / SAMPLE_BAG_NAME


def run_demo(bag: Path, out: Path, overrides: "dict[str, object] | None" = None, rate: float = 1.0,
             num_render: int = 4, settle_s: float = 3.0) -> dict:
    """Play ``bag`` through a freshly started estimator process; returns the summary dict."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from diffpose_msgs.msg import PoseHypotheses
    from diffpose_ros.tools.bag_io import bag_topics
    from diffpose_ros.tools.bag_player import BagPlayer
    from diffpose_ros.tools.bag_recorder import BagRecorder
    from diffpose_ros.tools.estimator_process import start_estimator
    from diffpose_ros.tools.render_hypotheses import render

    out.mkdir(parents=True, exist_ok=True)
    record_dir = out / "output_bag"
    if record_dir.exists():
        import shutil

        shutil.rmtree(record_dir)
    topics = bag_topics(bag)
    image_topic = next((t.removesuffix("/compressed") for t, ty in topics.items() if ty.endswith("Image")), None)
    info_topic = next((t for t, ty in topics.items() if ty == "sensor_msgs/msg/CameraInfo"), "/camera/camera_info")
    if image_topic is None:
        raise ValueError(f"{bag} has no image topic: {topics}")
    params = {"image_qos.reliability": "reliable", "image_qos.depth": 5, **(overrides or {})}
    node_proc = start_estimator(overrides=params, image=image_topic, camera_info=info_topic,
                                log_path=out / "estimator.log")
    rclpy.init()
    node = rclpy.create_node("diffpose_demo")
    sent: dict[int, float] = {}
    received: dict[int, tuple[float, int]] = {}

    def on_hypotheses(msg: PoseHypotheses) -> None:
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        received[stamp] = (time.monotonic(), len(msg.people))

    node.create_subscription(PoseHypotheses, "/estimator/hypotheses", on_hypotheses, 100)
    recorder = BagRecorder(node, record_dir, OUTPUT_TOPICS, types={
        "/estimator/hypotheses": "diffpose_msgs/msg/PoseHypotheses",
        "/estimator/markers": "visualization_msgs/msg/MarkerArray",
        "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray"})
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    try:
        player = BagPlayer(node, bag, rate=rate, decompress=True)
        spinner.start()
        if not player.wait_for_subscribers(120.0, [image_topic]):
            raise RuntimeError(f"the estimator did not subscribe to {image_topic}; see {out / 'estimator.log'}")
        original = {k: v for k, v in player.publishers.items()}
        for topic, (pub, convert) in original.items():
            if topics[topic].endswith("Image"):
                player.publishers[topic] = (_StampTap(pub, sent, convert), convert)
        t0 = time.monotonic()
        player.play(progress=True)
        play_s = time.monotonic() - t0
        last, deadline = len(received), time.monotonic() + 60.0
        quiet_since = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - quiet_since < settle_s and len(received) < len(sent):
            time.sleep(0.1)
            if len(received) != last:
                last, quiet_since = len(received), time.monotonic()
    finally:
        node_proc.send_signal(signal.SIGINT)
        try:
            node_rc = node_proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            node_proc.kill()
            node_rc = -9
        executor.shutdown()
        counts = recorder.close()
        node.destroy_node()
        rclpy.try_shutdown()
    latencies = np.array([1e3 * (received[s][0] - sent[s]) for s in received if s in sent])
    people = np.array([received[s][1] for s in received])
    pngs = render(record_dir, bag, out / "render", num_render) if people.any() else []
    summary = {
        "bag": str(bag), "frames_in": len(sent), "frames_out": len(received),
        "frames_with_people": int((people > 0).sum()), "mean_people": float(people.mean()) if people.size else 0.0,
        "latency_ms_p50": float(np.percentile(latencies, 50)) if latencies.size else None,
        "latency_ms_p95": float(np.percentile(latencies, 95)) if latencies.size else None,
        "play_s": round(play_s, 2), "output_rate_hz": round(len(received) / max(play_s, 1e-9), 2),
        "recorded": counts, "output_bag": str(record_dir), "renders": [str(p) for p in pngs],
        "estimator_exit_code": node_rc, "parameters": {k: str(v) for k, v in params.items()},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


class _StampTap:
    """Publisher wrapper that notes when each image (by header stamp) left this process."""

    def __init__(self, pub, sent: dict[int, float], converted: bool) -> None:
        self.pub, self.sent, self.converted = pub, sent, converted

    def publish(self, msg) -> None:
        from diffpose_ros.tools.bag_io import stamp_from_cdr

        stamp = (msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec) if self.converted else stamp_from_cdr(msg)
        self.sent[stamp] = time.monotonic()
        self.pub.publish(msg)


def print_summary(s: dict) -> None:
    print("\n=== diffpose_ros demo ===")
    print(f"bag:                {s['bag']}")
    print(f"frames in / out:    {s['frames_in']} / {s['frames_out']}  ({s['frames_with_people']} with people, "
          f"{s['mean_people']:.2f} people per frame)")
    if s["latency_ms_p50"] is not None:
        print(f"end-to-end latency: p50 {s['latency_ms_p50']:.1f} ms, p95 {s['latency_ms_p95']:.1f} ms")
    print(f"output rate:        {s['output_rate_hz']} Hz over {s['play_s']} s of playback")
    print(f"recorded:           {s['recorded']} -> {s['output_bag']}")
    for png in s["renders"]:
        print(f"render:             {png}")
    print(f"estimator exit:     {s['estimator_exit_code']}")


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--bag", type=Path, help="rosbag2 with images + camera_info (default: the bundled sample)")
    src.add_argument("--video", type=Path, help="a video file or image folder, converted to a bag first")
    ap.add_argument("--out", type=Path, default=Path("out/demo"))
    ap.add_argument("--rate", type=float, default=1.0, help="playback speed factor")
    ap.add_argument("--frames", type=int, default=4, help="frames to render as PNG")
    ap.add_argument("-p", dest="params", action="append", help="node parameter override name:=value")
    args = ap.parse_args(argv)
    bag = args.bag or sample_bag()
    if args.video:
        from diffpose_ros.core.camera import PinholeCamera
        from diffpose_ros.tools.video_to_bag import iter_frames, write_bag

        bag = args.out / "input_bag"
        if not bag.exists():
            write_bag(iter_frames([args.video]), bag, 10.0, lambda w, h: PinholeCamera.from_fov(w, h, 60.0),
                      "camera_optical_frame", compressed=True)
    if not bag.exists():
        print(f"demo: bag not found: {bag}", file=sys.stderr)
        return 1
    summary = run_demo(bag, args.out, parse_assignments(args.params, "-p"), args.rate, args.frames)
    print_summary(summary)
    ok = summary["frames_out"] > 0 and summary["estimator_exit_code"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
