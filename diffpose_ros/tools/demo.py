"""The main demo: run the estimator node on a bag (the bundled sample by default), record, render, summarise.

    python -m diffpose_ros.tools.demo [--bag BAG | --video VIDEO] [--out out/demo] [-p name:=value ...]

It starts the node exactly as the launch file does, plays the bag over real DDS (compressed images are
fed to its compressed input), records ``~/hypotheses``, ``~/markers`` and ``/diagnostics`` into an MCAP bag, renders
PNGs of a few frames and prints frames in/out, people and end-to-end latency percentiles (JSON beside them).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from diffpose_ros.core.paths import REPO_ROOT
from diffpose_ros.tools.bag_io import BagError, parse_assignments

SAMPLE_BAG_NAME = "vtest_walkers"
EXTRA_OUTPUTS = {"/estimator/markers": "visualization_msgs/msg/MarkerArray",
                 "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray"}


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
             num_render: int = 4, idle_timeout_s: float = 5.0) -> dict:
    """Play ``bag`` through a freshly started estimator process in real time; returns the summary dict."""
    from diffpose_ros.tools.node_replay import accounting, replay
    from diffpose_ros.tools.render_hypotheses import render

    params = {"process_every_frame": False, "image_qos.depth": 5, "markers.enabled": True,
              "diagnostics_period": 1.0, **(overrides or {})}
    rep = replay(bag, out, params, qos="reliable", rate=rate, idle_timeout_s=idle_timeout_s,
                 extra_record=EXTRA_OUTPUTS, lossless=False)  # real time, as a live camera
    latencies = np.array([1e3 * (rep.received[s][0] - rep.sent[s]) for s in rep.received if s in rep.sent])
    walls = np.array([w for w in rep.wall_ns.values() if w[0] and w[1]], dtype=np.float64).reshape(-1, 3)
    to_node_publish = (walls[:, 1] - walls[:, 0]) / 1e6  # player publish -> node publish (DDS source stamp)
    out_delivery = (walls[:, 2] - walls[:, 1]) / 1e6  # node publish -> arrival here
    people = np.array([len(msg.people) for _, msg in rep.received.values()])
    pngs = render(Path(rep.output_bag), bag, out / "render", num_render) if people.any() else []
    summary = {
        "bag": str(bag), "frames_in": len(rep.sent), "frames_out": len(rep.received),
        "frames_with_people": int((people > 0).sum()), "mean_people": float(people.mean()) if people.size else 0.0,
        "latency_ms_p50": float(np.percentile(latencies, 50)) if latencies.size else None,
        "latency_ms_p95": float(np.percentile(latencies, 95)) if latencies.size else None,
        "to_node_publish_ms_p50": _pct(to_node_publish, 50), "to_node_publish_ms_p95": _pct(to_node_publish, 95),
        "output_delivery_ms_p50": _pct(out_delivery, 50), "output_delivery_ms_p95": _pct(out_delivery, 95),
        "play_s": round(rep.play_s, 2), "output_rate_hz": round(len(rep.received) / max(rep.play_s, 1e-9), 2),
        "node_counters": {k: v for k, v in rep.node_stats.items() if not k.endswith(("_p50", "_p95"))},
        "node_stage_ms": {k: v for k, v in rep.node_stats.items() if k.endswith(("_p50", "_p95"))},
        "delivery": accounting(rep), "recorded": rep.recorded, "output_bag": rep.output_bag,
        "renders": [str(p) for p in pngs],
        "estimator_exit_code": rep.estimator_exit_code, "parameters": rep.parameters,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _pct(values: np.ndarray, q: float) -> float | None:
    return float(np.percentile(values, q)) if values.size else None


def print_summary(s: dict) -> None:
    print("\n=== diffpose_ros demo ===")
    print(f"bag:                {s['bag']}")
    print(f"frames in / out:    {s['frames_in']} / {s['frames_out']}  ({s['frames_with_people']} with people, "
          f"{s['mean_people']:.2f} people per frame)")
    if s["latency_ms_p50"] is not None:
        print(f"end-to-end latency: p50 {s['latency_ms_p50']:.1f} ms, p95 {s['latency_ms_p95']:.1f} ms  "
              "(image published by the player -> its hypotheses received by this process)")
    if s.get("to_node_publish_ms_p50") is not None:
        print(f"  of which:         player -> node publishes p50 {s['to_node_publish_ms_p50']:.1f} ms, "
              f"output delivery p50 {s['output_delivery_ms_p50']:.1f} ms (DDS source timestamps)")
    node_e2e = s["node_stage_ms"].get("end_to_end_ms_p50")
    if node_e2e is not None:
        print(f"node's own figure:  end_to_end p50 {node_e2e} ms, p95 {s['node_stage_ms'].get('end_to_end_ms_p95')} "
              "ms (its callback -> its publish: excludes DDS delivery and waiting before the callback; "
              "over its last 200 frames)")
    print(f"output rate:        {s['output_rate_hz']} Hz over {s['play_s']} s of playback")
    print(f"node stages (ms):   {s['node_stage_ms']}")
    d = s["delivery"]
    print(f"frames:             {d['sent']} sent, {d['node_received']} reached the node, "
          f"{d['node_lost_before_callback']} lost before its callback, {d['node_processed']} processed, "
          f"{d['node_dropped']} dropped (newest-frame mode drops frames that arrive while it is busy)")
    print(f"node counters:      {s['node_counters']}")
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
    try:
        if args.video:
            from diffpose_ros.core.camera import PinholeCamera
            from diffpose_ros.tools.video_to_bag import count_frames, iter_frames, write_bag

            if not args.video.exists():
                raise FileNotFoundError(f"video not found: {args.video}")
            bag = args.out / "input_bag"
            if not bag.exists():
                write_bag(iter_frames([args.video]), bag, 10.0, lambda w, h: PinholeCamera.from_fov(w, h, 60.0),
                          "camera_optical_frame", compressed=True, total=count_frames([args.video]))
        if not bag.exists():
            raise FileNotFoundError(f"bag not found: {bag}")
        summary = run_demo(bag, args.out, parse_assignments(args.params, "-p"), args.rate, args.frames)
    except (FileNotFoundError, ValueError, RuntimeError, BagError) as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 1
    print_summary(summary)
    ok = summary["frames_out"] > 0 and summary["estimator_exit_code"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
