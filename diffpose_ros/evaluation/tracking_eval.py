"""Identity tracking on real video: the BlazePose detector + the identity tracker, ids old vs new.

    python -m diffpose_ros.evaluation.tracking_eval INPUT [--start 0] [--frames 300] [--crop X Y W H] [--scale 2]
        [--labels LABELS.json] [--out out/tracking_eval]

INPUT is a bag (Image or CompressedImage) or a video/image folder (``--start/--crop/--scale`` as in
``tools.video_to_bag``). Per frame the detector's observations carry the ROI tracker's ids (``old``); the
identity tracker (:mod:`diffpose_ros.tracking.tracker`) assigns ``new`` ones. Without ground truth, switches are
counted by a proxy: a **jump** is an id whose box centre moves more than 0.5 box heights (or whose height changes
by more than 1.5x) between consecutive frames -- a walking person at 10 Hz moves ~0.1 heights per frame, so the
id went to someone else; a **re-birth** is a new id whose first box overlaps (IoU > 0.3) the last box of an id
that ended within 10 frames -- the same person got a new id; a **colour jump** is an id whose torso/leg colour
histograms change by more than 0.6 (Hellinger) between consecutive frames -- it went to someone dressed
differently (the new tracker uses this cue itself, so it is a check of the old ids more than of the new).
With ``--labels`` (JSON: per frame a list of [x, y, person] points, hand-labelled) detections are matched to
the nearest labelled point inside their box and identity switches / id transfers are counted exactly.
Writes ``OUT/tracking_eval.json`` and a contact sheet PNG.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..tracking.appearance import colour_descriptor
from ..tracking.assignment import box_iou_matrix
from ..tracking.tracker import PersonTracker
from .mocap_video import identity_switches


def iter_rgb(path: Path, start: int, frames: int, crop, scale: float):
    """RGB frames of a bag or a video."""
    if (path / "metadata.yaml").is_file():
        from ..ros.image_conversion import compressed_msg_to_rgb, image_msg_to_rgb
        from ..tools.bag_io import read_messages

        n = 0
        for _topic, ty, _t, msg in read_messages(path):
            if ty.endswith("CompressedImage") or ty.endswith("/Image"):
                if n >= start:
                    yield compressed_msg_to_rgb(msg) if ty.endswith("CompressedImage") else image_msg_to_rgb(msg)
                n += 1
                if n >= start + frames:
                    return
        return
    from ..tools.video_to_bag import iter_frames, transform

    for i, bgr in enumerate(iter_frames([path], start=start)):
        if i >= frames:
            return
        yield np.ascontiguousarray(transform(bgr, crop, scale)[..., ::-1])


def proxy_switches(boxes: list[np.ndarray], ids: list[list[int]], looks: list[list[np.ndarray]] | None = None,
                   jump: float = 0.5, size_ratio: float = 1.5, rebirth_iou: float = 0.3, rebirth_frames: int = 10,
                   colour_jump: float = 0.6) -> dict[str, int]:
    """Jumps, colour jumps and re-births (see the module doc) of per-frame ids for per-frame boxes ``[n, 4]``
    (``looks``: per-frame colour descriptors of the boxes, :func:`..tracking.appearance.colour_descriptor`)."""
    from ..tracking.appearance import appearance_distance

    last: dict[int, tuple[int, np.ndarray]] = {}  # id -> (frame, box)
    last_look: dict[int, np.ndarray] = {}
    jumps = rebirths = colour_jumps = 0
    events: list[tuple[int, int, str]] = []  # (frame, id, kind)
    for f, (bx, fid) in enumerate(zip(boxes, ids)):
        for k, (b, t) in enumerate(zip(bx, fid)):
            if looks is not None:
                if t in last_look and last[t][0] == f - 1 and appearance_distance(last_look[t], looks[f][k]) > \
                        colour_jump:
                    colour_jumps += 1
                    events.append((f, t, "colour_jump"))
                last_look[t] = looks[f][k]
            if t in last:
                pf, pb = last[t]
                h = max(pb[3] - pb[1], 1.0)
                moved = np.linalg.norm((b[:2] + b[2:]) / 2 - (pb[:2] + pb[2:]) / 2) / h
                ratio = max(b[3] - b[1], 1.0) / h
                if pf == f - 1 and (moved > jump or not 1 / size_ratio < ratio < size_ratio):
                    jumps += 1
                    events.append((f, t, "jump"))
            else:
                ended = [pb for u, (pf, pb) in last.items() if u not in fid and 0 < f - pf <= rebirth_frames]
                if ended and box_iou_matrix(b[None], np.array(ended)).max() > rebirth_iou:
                    rebirths += 1
                    events.append((f, t, "rebirth"))
            last[t] = (f, b)
    return {"jumps": jumps, "colour_jumps": colour_jumps, "rebirths": rebirths,
            "proxy_switches": jumps + colour_jumps + rebirths, "events": events,
            "ids_used": len({t for fid in ids for t in fid})}


def label_people(boxes: list[np.ndarray], labels: list[list]) -> list[list[int]]:
    """Hand labels (per frame [x, y, person] points) -> the person of each box (-1: unlabelled)."""
    out = []
    for bx, pts in zip(boxes, labels):
        row = []
        for b in bx:
            inside = [(np.hypot(x - (b[0] + b[2]) / 2, y - (b[1] + b[3]) / 2), p) for x, y, p in pts
                      if b[0] <= x <= b[2] and b[1] <= y <= b[3]]
            row.append(min(inside)[1] if inside else -1)
        out.append(row)
    return out


def contact_sheet(images: list[np.ndarray], boxes, ids, path: Path, cols: int = 8, width: int = 240) -> None:
    from ..visualization.overlay import track_rgb

    tiles = []
    for k, (img, bx, fid) in enumerate(zip(images, boxes, ids)):
        im = img.copy()
        for b, t in zip(bx, fid):
            c = track_rgb(t)
            cv2.rectangle(im, (int(b[0]), int(b[1])), (int(b[2]), int(b[3])), c, 3)
            cv2.putText(im, str(t), (int(b[0]), max(18, int(b[1]) - 4)), cv2.FONT_HERSHEY_SIMPLEX, 1.0, c, 2)
        s = width / im.shape[1]
        im = cv2.resize(im, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        cv2.putText(im, f"#{k}", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
        tiles.append(im)
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i:i + cols], axis=1) for i in range(0, len(tiles), cols)]
    cv2.imwrite(str(path), np.concatenate(rows, axis=0)[..., ::-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", type=Path)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--crop", type=int, nargs=4, default=None)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--max-people", type=int, default=4)
    ap.add_argument("--model", default="full")
    ap.add_argument("--labels", type=Path, default=None)
    ap.add_argument("--min-height", type=float, default=0.0, help="ignore detections whose box is shorter (px)")
    ap.add_argument("--sheet-every", type=int, default=1, help="contact sheet: every k-th frame")
    ap.add_argument("--out", type=Path, default=Path("out/tracking_eval"))
    args = ap.parse_args(argv)
    from ..detector.blazepose import BlazePoseDetector
    from ..detector.tracking import BlazePoseTracker

    detector = BlazePoseTracker(BlazePoseDetector(args.model, max_people=args.max_people, threads=1))
    tracker = PersonTracker()
    boxes, old, new, looks, sheet = [], [], [], [], []
    for k, rgb in enumerate(tqdm(iter_rgb(args.input, args.start, args.frames, args.crop, args.scale),
                                 total=args.frames, desc="frames", unit="frame")):
        obs = [o for o in detector.detect(rgb) if o.box[3] - o.box[1] >= args.min_height]
        boxes.append(np.array([o.box for o in obs]).reshape(-1, 4))
        old.append([o.track_id for o in obs])
        looks.append([colour_descriptor(rgb, o.keypoints) for o in obs])
        new.append([o.track_id for o in tracker.update(obs, rgb)])
        if k % args.sheet_every == 0:
            sheet.append((rgb, boxes[-1], new[-1]))
    n = len(boxes)
    result = {"input": str(args.input), "frames": n, "detections": int(sum(len(b) for b in boxes)),
              "old": proxy_switches(boxes, old, looks), "new": proxy_switches(boxes, new, looks),
              "per_frame": [{"boxes": np.round(b, 1).tolist(), "old": o, "new": w} for b, o, w in zip(boxes, old, new)]}
    if args.labels is not None:
        people = label_people(boxes, json.loads(args.labels.read_text())["frames"])
        keep = lambda ids: [[t for t, p in zip(fid, pr) if p >= 0] for fid, pr in zip(ids, people)]  # noqa: E731
        gt = [[p for p in pr if p >= 0] for pr in people]
        result["old"].update(identity_switches(gt, keep(old)))
        result["new"].update(identity_switches(gt, keep(new)))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tracking_eval.json").write_text(json.dumps(result, indent=2))
    contact_sheet(*zip(*sheet), args.out / "tracking_sheet.png")
    print(f"{n} frames, {result['detections']} detections")
    keys = [k for k in ("switches", "transfers", "jumps", "colour_jumps", "rebirths", "proxy_switches", "ids_used")
            if k in result["new"]]
    print(f"{'ids':>5} " + " ".join(f"{k:>14}" for k in keys) + f" {'proxy/100 frames':>17}")
    for name in ("old", "new"):
        r = result[name]
        print(f"{name:>5} " + " ".join(f"{r[k]:>14}" for k in keys) + f" {100 * r['proxy_switches'] / n:>17.1f}")
    print(f"wrote {args.out / 'tracking_eval.json'} and {args.out / 'tracking_sheet.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
