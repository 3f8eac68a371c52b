"""How many people does the detector find? Recall / precision on the hand-labelled set, people per frame on the sample.

    python -m diffpose_ros.evaluation.people_benchmark --out out/people_bench [--models lite full heavy]

Labelled set: ``test/fixtures/people/labels.json`` (boxes drawn by hand; people under 60 px tall are "ignore"
regions). A detection matches a person at IoU >= 0.5 (greedy, best score first); unmatched detections
overlapping an ignore region (IoU >= 0.3) count neither way. The box of a detection is the person detector's
box (CenterNet) or the landmark box (MediaPipe). Timings: the person detector per frame and the landmark model
per call (median). The sample bag runs through the node's detector stack (max 4 people), with the video tracker
(``detector.tracking: true``, the default) and detecting every frame (``false``).
Writes ``<out>.json`` and ``<out>.png`` (green: labelled, yellow: ignore, blue: hit, red: false positive).
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

from ..detector.blazepose import PERSON_DETECTORS, BlazePoseDetector
from ..detector.person_detection import box_iou

FIXTURES = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "people"
SAMPLE_BAG = Path(__file__).resolve().parents[2] / "sample" / "vtest_walkers"
IOU_MATCH = 0.5
IOU_IGNORE = 0.3


def load_labels(fixtures: Path = FIXTURES) -> dict[str, dict]:
    """``{image file: {"people": [N, 4], "ignore": [M, 4]}}`` from ``labels.json``."""
    images = json.loads((fixtures / "labels.json").read_text())["images"]
    return {name: {k: np.asarray(v[k], dtype=np.float64).reshape(-1, 4) for k in ("people", "ignore")}
            for name, v in images.items()}


def match(boxes: np.ndarray, people: np.ndarray, ignore: np.ndarray) -> dict[str, object]:
    """Greedy IoU matching of detections (best first) to labelled people; returns counts and per-box verdicts."""
    used = np.zeros(len(people), dtype=bool)
    verdict: list[str] = []
    for b in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        iou = np.where(used, 0.0, box_iou(b, people)) if len(people) else np.zeros(0)
        if len(iou) and iou.max() >= IOU_MATCH:
            used[int(np.argmax(iou))] = True
            verdict.append("hit")
        elif len(ignore) and box_iou(b, ignore).max() >= IOU_IGNORE:
            verdict.append("ignored")
        else:
            verdict.append("false_positive")
    tp = verdict.count("hit")
    return {"people": len(people), "hits": tp, "false_positives": verdict.count("false_positive"),
            "recall": tp / len(people) if len(people) else 1.0,
            "precision": tp / max(tp + verdict.count("false_positive"), 1), "verdicts": verdict}


class Timed:
    """Wraps a callable and records the wall time of every call in ms."""

    def __init__(self, fn: Callable):
        self.fn, self.ms = fn, []

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        out = self.fn(*args, **kwargs)
        self.ms.append((time.perf_counter() - t0) * 1e3)
        return out


def evaluate_images(det: BlazePoseDetector, labels: dict[str, dict], images: dict[str, np.ndarray]) -> dict:
    """Run ``det.detect`` on every labelled image; per-image matches, totals and timings."""
    det.person_detector = person = Timed(det.person_detector)
    det.landmark_model = landmarks = Timed(det.landmark_model)
    rows, found = {}, {}
    for name, rgb in images.items():
        det.detect(rgb)  # warm-up (first calls allocate)
        person.ms.clear()
        obs = det.detect(rgb)
        boxes = np.array([o.box for o in obs]).reshape(-1, 4)
        rows[name] = match(boxes, labels[name]["people"], labels[name]["ignore"])
        rows[name]["detector_ms"] = person.ms[-1]
        found[name] = (boxes, obs)
    tp = sum(r["hits"] for r in rows.values())
    fp = sum(r["false_positives"] for r in rows.values())
    n = sum(r["people"] for r in rows.values())
    total = {"people": n, "hits": tp, "false_positives": fp, "recall": tp / max(n, 1),
             "precision": tp / max(tp + fp, 1), "detector_ms_median": float(np.median([r["detector_ms"]
                                                                                     for r in rows.values()])),
             "landmark_ms_per_call_median": float(np.median(landmarks.ms)) if landmarks.ms else None}
    det.person_detector, det.landmark_model = person.fn, landmarks.fn
    return {"images": rows, "total": total, "_found": found}


def sample_people_per_frame(model: str, person_detector: str, bag: Path, threads: int) -> dict[str, float]:
    """People per frame on the sample bag with the node's detector stack (max 4 people), with and without the
    video tracker (``detector.tracking`` true / false)."""
    from ..detector.tracking import BlazePoseTracker
    from ..tools.bag_io import read_messages

    frames = [cv2.imdecode(np.asarray(msg.data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1].copy()
              for _, msgtype, _, msg in read_messages(bag) if msgtype.endswith("CompressedImage")]
    det = BlazePoseDetector(model, max_people=4, threads=threads, person_detector=person_detector)
    out: dict[str, float] = {"frames": len(frames)}
    for name, stack in (("tracking", BlazePoseTracker(det)), ("per_frame", det)):
        counts, ms = [], []
        for rgb in frames:
            t0 = time.perf_counter()
            counts.append(len(stack.detect(rgb)))
            ms.append((time.perf_counter() - t0) * 1e3)
        out[f"{name}_people_per_frame"] = float(np.mean(counts)) if counts else 0.0
        out[f"{name}_min_people"] = int(min(counts, default=0))
        out[f"{name}_detect_ms_p50"] = float(np.median(ms)) if ms else 0.0
    return out


def draw(images: dict[str, np.ndarray], labels: dict[str, dict], result: dict, height: int = 288) -> np.ndarray:
    """A montage of the labelled images with labels and detections drawn in."""
    tiles = []
    colours = {"hit": (0, 0, 255), "false_positive": (255, 0, 0), "ignored": (160, 160, 160)}  # RGB
    for name, rgb in images.items():
        img = rgb.copy()
        for key, colour in (("people", (0, 200, 0)), ("ignore", (230, 200, 0))):
            for b in labels[name][key].astype(int):
                cv2.rectangle(img, tuple(b[:2]), tuple(b[2:]), colour, 2)
        boxes, obs = result["_found"][name]
        for b, o, v in zip(boxes.astype(int), obs, result["images"][name]["verdicts"], strict=True):
            cv2.rectangle(img, tuple(b[:2]), tuple(b[2:]), colours[v], 1)
            for p in o.keypoints[np.isfinite(o.keypoints).all(axis=1)].astype(int):
                cv2.circle(img, tuple(p), 2, (255, 0, 255), -1)
        s = height / img.shape[0]
        img = cv2.resize(img, (round(img.shape[1] * s), height), interpolation=cv2.INTER_AREA)
        r = result["images"][name]
        cv2.putText(img, f"{name} {r['hits']}/{r['people']} fp {r['false_positives']}", (4, 16),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(img)
    rows, row, width = [], [], 0
    for t in tiles:  # rows of at most ~1600 px
        if row and width + t.shape[1] > 1600:
            rows.append(row)
            row, width = [], 0
        row.append(t)
        width += t.shape[1]
    rows.append(row)
    full = max(sum(t.shape[1] for t in r) for r in rows)
    return np.concatenate([np.pad(np.concatenate(r, axis=1), ((0, 0), (0, full - sum(t.shape[1] for t in r)), (0, 0)))
                           for r in rows], axis=0)


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("out/people_bench"), help="writes OUT.json and OUT.png")
    ap.add_argument("--models", nargs="+", default=["lite", "full", "heavy"], choices=["lite", "full", "heavy"])
    ap.add_argument("--person-detectors", nargs="+", default=list(PERSON_DETECTORS), choices=PERSON_DETECTORS)
    ap.add_argument("--fixtures", type=Path, default=FIXTURES)
    ap.add_argument("--bag", type=Path, default=SAMPLE_BAG, help="sample bag for people per frame ('' to skip)")
    ap.add_argument("--max-people", type=int, default=10, help="per labelled image")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    labels = load_labels(args.fixtures)
    images = {n: cv2.imread(str(args.fixtures / n), cv2.IMREAD_COLOR)[:, :, ::-1].copy() for n in labels}
    results: dict[str, dict] = {}
    png = None
    for pd in args.person_detectors:
        for model in args.models:
            key = f"{pd}/{model}"
            res = evaluate_images(BlazePoseDetector(model, max_people=args.max_people, threads=args.threads,
                                                    person_detector=pd), labels, images)
            if str(args.bag):
                res["sample"] = sample_people_per_frame(model, pd, args.bag, args.threads)
            if png is None or (pd == "centernet" and model == "full"):
                png = draw(images, labels, res)
            res.pop("_found")
            results[key] = res
    names = list(labels)
    head = f"{'detector/model':18}" + "".join(f"{n.split('.')[0][:10]:>11}" for n in names)
    head += f"{'recall':>8}{'prec':>6}{'det ms':>8}{'lm ms':>7}{'sample ppl/fr tracked':>22}{'per-frame':>10}"
    print(head + "\n" + "-" * len(head))
    for key, res in results.items():
        cells = "".join(f"{'{}/{} fp{}'.format(r['hits'], r['people'], r['false_positives']):>11}"
                        for r in (res["images"][n] for n in names))
        t, s = res["total"], res.get("sample", {})
        lm = t["landmark_ms_per_call_median"]
        print(f"{key:18}{cells}{t['recall']:8.2f}{t['precision']:6.2f}{t['detector_ms_median']:8.1f}"
              f"{lm if lm is not None else float('nan'):7.1f}"
              f"{s.get('tracking_people_per_frame', float('nan')):22.2f}"
              f"{s.get('per_frame_people_per_frame', float('nan')):10.2f}")
    meta = {"threads": args.threads, "max_people": args.max_people, "iou_match": IOU_MATCH,
            "iou_ignore": IOU_IGNORE, "cpu_count": os.cpu_count(), "loadavg": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    cv2.imwrite(f"{args.out}.png", png[:, :, ::-1])
    print(f"load average {meta['loadavg'][0]:.2f}; wrote {args.out}.json and {args.out}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
