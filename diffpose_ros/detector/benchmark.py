"""Time the BlazePose detector: person detector, one landmark pass, and full ``detect()`` per model.

    python -m diffpose_ros.detector.benchmark --json out/detector_bench.json [--runs 20 --threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from ..core.paths import shared_data_dir
from .blazepose import BlazePoseDetector

DEFAULT_IMAGES = ("messi5.jpg", "basketball1.png", "astronaut.png")


def time_ms(fn: Callable[[], object], runs: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        t.append((time.perf_counter() - t0) * 1e3)
    return {"median": float(np.median(t)), "p95": float(np.percentile(t, 95)), "min": float(np.min(t))}


def bench_image(det: BlazePoseDetector, rgb: np.ndarray, runs: int, warmup: int) -> dict[str, object]:
    work, _ = det.prepare(rgb)
    hits = det.candidate_rois(work, det.config.max_people)
    row: dict[str, object] = {"people": len(det.detect(rgb)),
                              "detector": time_ms(lambda: det.person_detector(work), runs, warmup)}
    if hits:
        roi = hits[0][0]
        row["landmark_pass"] = time_ms(lambda: det.landmark_model(work, roi), runs, warmup)
    row["detect_total"] = time_ms(lambda: det.detect(rgb), runs, warmup)
    return row


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, default=Path("out/detector_bench.json"))
    ap.add_argument("--models", nargs="+", default=["lite", "full", "heavy"])
    ap.add_argument("--images", nargs="+", default=list(DEFAULT_IMAGES))
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--second-pass", action="store_true", help="second landmark pass in detect()")
    ap.add_argument("--person-detector", default="centernet", choices=["centernet", "mediapipe"])
    args = ap.parse_args(argv)
    images = {n: cv2.imread(str(shared_data_dir() / "images" / n))[:, :, ::-1].copy() for n in args.images}
    results: dict[str, dict] = {}
    header = f"{'model':6} {'image':16} {'people':>6} {'detector ms':>16} {'landmark ms':>16} {'detect() ms':>16}"
    print(header + "\n" + "-" * len(header))
    fmt = lambda r: f"{r['median']:6.1f} (p95 {r['p95']:5.1f})" if r else f"{'-':>16}"  # noqa: E731
    for model in args.models:
        det = BlazePoseDetector(model, threads=args.threads, second_pass=args.second_pass,
                                person_detector=args.person_detector)
        results[model] = {}
        for name, rgb in images.items():
            row = bench_image(det, rgb, args.runs, args.warmup)
            results[model][name] = row
            print(f"{model:6} {name:16} {row['people']:>6} {fmt(row['detector']):>16} "
                  f"{fmt(row.get('landmark_pass')):>16} {fmt(row['detect_total']):>16}")
    meta = {"runs": args.runs, "warmup": args.warmup, "threads": args.threads, "second_pass": args.second_pass,
            "person_detector": args.person_detector,
            "cpu_count": os.cpu_count(), "loadavg": os.getloadavg()}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    print(f"load average {meta['loadavg'][0]:.2f}; wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
