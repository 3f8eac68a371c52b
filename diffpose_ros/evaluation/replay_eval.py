"""Replay evaluation: an evaluation bag through the running node, outputs matched to ground truth by stamp.

    python -m diffpose_ros.evaluation.replay_eval BAG [BAG ...] [--out out/replay] [--preset default] [-m 16]
        [--steps 10] [--qos reliable] [--rate 1.0] [--rates 1 10 50] [--lossy] [--prior-weights PT] [-p name:=value ...]

BAG holds one input topic (Image, CompressedImage or diffpose_msgs/Observations2D), CameraInfo and ground truth
(diffpose_msgs/Skeleton3DArray) -- as written by :mod:`.mocap_bags` and :mod:`.threedpw_bags`. Reported:
MPJPE and PA-MPJPE (best of m and of the mean hypothesis, root-aligned, mm), frames in / out / lost, people
missed, end-to-end latency (publish -> hypotheses received) and the node's own per-stage times. Estimated
people are matched to ground-truth people by the 2D distance between the node's keypoints and the projected
ground truth. Writes ``OUT/results.json`` and ``OUT/results.md``; the node's output is in ``OUT/output_bag``.
Several bags go to ``OUT/<bag name>/`` each plus a pooled ``OUT/summary.{json,md}``; finished bags are skipped.

Replays are lossless (lockstep, see :mod:`diffpose_ros.tools.node_replay`): every result carries ``delivery``
(sent / received / processed / lost ...) and the command exits 2 with a loud ``FRAMES LOST`` line on any loss.
``--lossy`` plays on the bag clock instead (``--qos``, the node's queue may drop: measures what a live node
would do). ``--rates`` replays one bag at several rates into ``OUT/rate_<r>/`` and writes ``OUT/rates.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ..core import metrics, skeleton
from ..core.camera import PinholeCamera
from ..sampling.config import PRESETS
from ..tools.bag_io import parse_assignments, read_messages
from ..tools.node_replay import ReplayOutput, accounting, bag_layout, loss_report, replay
from .replay_messages import skeletons_from_msg

METRIC_KEYS = ("mpjpe_best_mm", "mpjpe_mean_mm", "pa_mpjpe_best_mm", "pa_mpjpe_mean_mm")
EXTRA_KEYS = ("mpjpe_avg_hyp_mm", "mpjpe_weighted_mean_mm", "mpjpe_top_weight_mm", "pck150_mean")


def _stamp(msg) -> int:
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


def read_ground_truth(bag: Path) -> tuple[list[int], dict[int, tuple[np.ndarray, np.ndarray]], PinholeCamera]:
    """(input stamps in order, stamp -> (poses [P, 17, 3], track ids), the last camera) from an evaluation bag."""
    from ..ros.conversions import camera_from_info

    _kind, input_topic, info_topic, gt_topic = bag_layout(bag)
    if gt_topic is None:
        raise ValueError(f"{bag} has no ground-truth topic (diffpose_msgs/msg/Skeleton3DArray)")
    stamps, gt, camera = [], {}, None
    for topic, _ty, _t, msg in read_messages(bag, [input_topic, info_topic, gt_topic]):
        if topic == input_topic:
            stamps.append(_stamp(msg))
        elif topic == gt_topic:
            gt[_stamp(msg)] = skeletons_from_msg(msg)
        else:
            camera = camera_from_info(msg)
    if camera is None:
        raise ValueError(f"{bag} has no CameraInfo")
    return stamps, gt, camera


def person_arrays(person) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PersonHypotheses -> (hypotheses [m, 17, 3], weights [m], keypoints [17, 3] = x, y, score)."""
    hyp = np.array([[[p.x, p.y, p.z] for p in h.joints] for h in person.hypotheses], dtype=np.float64)
    weights = np.array([h.weight for h in person.hypotheses], dtype=np.float64)
    kp = np.array([[k.x, k.y, k.score] for k in person.keypoints], dtype=np.float64)
    return hyp, weights, kp


def match_people(gt_poses: np.ndarray, keypoints: list[np.ndarray], camera: PinholeCamera) -> list[tuple[int, int]]:
    """Greedy (gt, estimate) pairs by mean 2D distance of projected ground truth to the node's keypoints.

    A pair is accepted when that distance is under half the ground truth's 2D box diagonal (at least 40 px).
    """
    if not len(gt_poses) or not keypoints:
        return []
    proj = camera.project(gt_poses)
    cost = np.full((len(gt_poses), len(keypoints)), np.inf)
    for e, kp in enumerate(keypoints):
        ok = np.isfinite(kp[:, :2]).all(1) & (kp[:, 2] > 0)
        if ok.any():
            cost[:, e] = np.linalg.norm(proj[:, ok] - kp[None, ok, :2], axis=-1).mean(-1)
    gate = np.maximum(40.0, 0.5 * np.linalg.norm(proj.max(1) - proj.min(1), axis=-1))
    pairs = []
    while np.isfinite(cost).any():
        g, e = np.unravel_index(np.argmin(cost), cost.shape)
        if cost[g, e] > gate[g]:
            break
        pairs.append((int(g), int(e)))
        cost[g, :] = np.inf
        cost[:, e] = np.inf
    return pairs


def score_replay(rep: ReplayOutput, stamps: list[int], gt: dict, camera: PinholeCamera) -> dict:
    """Metrics, frame accounting and timing of one replay."""
    hyps, weights, gts, missed, extra = [], [], [], 0, 0
    for s in stamps:
        if s not in rep.received:
            continue
        msg = rep.received[s][1]
        if list(msg.joint_names) != list(skeleton.JOINT_NAMES):
            raise ValueError(f"unexpected joint order in the node's output: {list(msg.joint_names)}")
        people = [person_arrays(p) for p in msg.people]
        gt_poses = gt.get(s, (np.zeros((0, 17, 3)), None))[0]
        pairs = match_people(gt_poses, [kp for *_, kp in people], camera)
        missed += len(gt_poses) - len(pairs)
        extra += len(people) - len(pairs)
        for g, e in pairs:
            hyps.append(people[e][0])
            weights.append(people[e][1])
            gts.append(gt_poses[g])
    received = [s for s in stamps if s in rep.received]
    lat = np.array([1e3 * (rep.received[s][0] - rep.sent[s]) for s in received if s in rep.sent])
    delivery = accounting(rep)
    out: dict = {
        "delivery": delivery, "loss": loss_report(delivery),
        "frames_in_bag": len(stamps), "frames_sent": len(rep.sent), "frames_out": len(received),
        "frames_lost": len(stamps) - len(received), "gt_people": int(sum(len(v[0]) for v in gt.values())),
        "people_evaluated": len(gts), "people_missed": missed, "people_unmatched": extra,
        "latency_ms_p50": float(np.percentile(lat, 50)) if lat.size else None,
        "latency_ms_p95": float(np.percentile(lat, 95)) if lat.size else None,
        "play_s": round(rep.play_s, 2), "drain_s": round(rep.drain_s, 2),
        "wall_ms_per_frame": 1e3 * (rep.play_s + rep.drain_s) / max(len(received), 1),
        "node": {k: v for k, v in rep.node_stats.items() if k.endswith(("_p50", "_p95")) or k in (
            "received", "processed", "dropped_busy", "dropped_bad_input", "fallback_intrinsics",
            "lost_before_callback", "queue_full_waits")},
        "estimator_exit_code": rep.estimator_exit_code, "input": rep.input_kind, "parameters": rep.parameters,
        "output_bag": rep.output_bag,
    }
    if gts:
        m = min(len(h) for h in hyps)
        s = metrics.summarize(np.asarray([h[:m] for h in hyps]), np.asarray(gts),
                              weights=np.asarray([w[:m] for w in weights]))
        out.update({k: s[k] for k in (*METRIC_KEYS, *EXTRA_KEYS)}, num_hypotheses=m)
    return out


def markdown(r: dict) -> str:
    p = r["parameters"]
    node = r["node"]
    lines = [f"# Replay evaluation: {Path(r['bag']).name}", "",
             f"Input `{r['input']}`, QoS {p.get('image_qos.reliability')}, m={r.get('num_hypotheses')}, "
             f"steps={p.get('num_steps', '(default)')}, prior {p.get('prior_weights') or '(shipped)'}.", "",
             "| MPJPE best | MPJPE mean | PA-MPJPE best | PA-MPJPE mean |", "|---:|---:|---:|---:|",
             "| " + " | ".join(f"{r[k]:.1f}" if r.get(k) is not None else "-" for k in METRIC_KEYS) + " |", "",
             f"- MPJPE of the likelihood-weighted mean {_fmt(r.get('mpjpe_weighted_mean_mm'))} mm, of the top-weight "
             f"hypothesis {_fmt(r.get('mpjpe_top_weight_mm'))} mm, average over hypotheses "
             f"{_fmt(r.get('mpjpe_avg_hyp_mm'))} mm",
             f"- frames: {r['frames_in_bag']} in bag, {r['frames_sent']} sent, {r['frames_out']} out, "
             f"**{r['frames_lost']} lost**",
             "- delivery: " + ", ".join(f"{k} {v}" for k, v in r.get("delivery", {}).items()),
             *([f"- **{r['loss']}**"] if r.get("loss") else []),
             f"- people: {r['people_evaluated']} evaluated of {r['gt_people']} (missed {r['people_missed']}, "
             f"unmatched estimates {r['people_unmatched']})",
             f"- node time per frame: sample p50 {node.get('sample_ms_p50', '-')} ms, end-to-end p50 "
             f"{node.get('end_to_end_ms_p50', '-')} ms (incl. queueing)",
             f"- latency publish -> hypotheses: p50 {_fmt(r['latency_ms_p50'])} ms, p95 {_fmt(r['latency_ms_p95'])} ms",
             f"- wall time per frame (play + drain): {r['wall_ms_per_frame']:.1f} ms",
             f"- node counters: received {node.get('received', '-')}, processed {node.get('processed', '-')}, "
             f"bad input {node.get('dropped_bad_input', '-')}, fallback intrinsics "
             f"{node.get('fallback_intrinsics', '-')} (must be 0: frames without CameraInfo use a guessed camera)"]
    return "\n".join(lines) + "\n"


def _fmt(v) -> str:
    return f"{v:.1f}" if v is not None else "-"


def evaluate_bag(bag: "str | Path", out: "str | Path", overrides: "dict[str, object] | None" = None,
                 qos: str = "reliable", rate: float = 1.0, progress: bool = True, request: "dict | None" = None,
                 **replay_kwargs) -> dict:
    """Replay ``bag`` through a fresh node, score it, write ``results.json`` / ``results.md`` into ``out``."""
    bag, out = Path(bag), Path(out)
    t0 = time.perf_counter()
    stamps, gt, camera = read_ground_truth(bag)
    rep = replay(bag, out, overrides, qos, rate, progress=progress, **replay_kwargs)
    result = {"bag": str(bag), "qos": qos, "rate": rate, **score_replay(rep, stamps, gt, camera),
              "wall_s": round(time.perf_counter() - t0, 1), "request": request}
    (out / "results.json").write_text(json.dumps(result, indent=2))
    (out / "results.md").write_text(markdown(result))
    return result


def evaluate_bags(bags: "list[Path]", out: Path, overrides: dict, qos: str = "reliable", rate: float = 1.0,
                  force: bool = False, **kwargs) -> list[dict]:
    """Evaluate several bags (``OUT/<bag name>/`` each; one bag: ``OUT`` itself), resuming finished ones.

    A bag whose ``results.json`` was made with the same request (overrides, QoS, rate) is not replayed again.
    With several bags, ``OUT/summary.json`` and ``OUT/summary.md`` pool them (weighted by evaluated people).
    """
    request = {"overrides": {k: str(v) for k, v in overrides.items()}, "qos": qos, "rate": rate,
               "lossless": kwargs.get("lossless", True)}
    results = []
    for bag in bags:
        bag_out = out if len(bags) == 1 else out / bag.name
        done = bag_out / "results.json"
        if done.is_file() and not force:
            cached = json.loads(done.read_text())
            if cached.get("request") == request:
                results.append(cached)
                continue
        r = evaluate_bag(bag, bag_out, overrides, qos, rate, request=request, **kwargs)
        results.append(r)
    if len(bags) > 1:
        summary = pool(results)
        (out / "summary.json").write_text(json.dumps({"request": request, **summary}, indent=2))
        (out / "summary.md").write_text(summary_markdown(summary))
    return results


def pool(results: list[dict]) -> dict:
    """People-weighted metrics and summed frame accounting over several replays."""
    n = np.array([r["people_evaluated"] for r in results], dtype=np.float64)
    out = {k: sum(r[k] for r in results) for k in ("frames_in_bag", "frames_out", "frames_lost", "gt_people",
                                                  "people_evaluated", "people_missed")}
    for k in METRIC_KEYS:
        vals = np.array([r.get(k, np.nan) if r.get(k) is not None else np.nan for r in results])
        ok = np.isfinite(vals) & (n > 0)
        out[k] = float((vals[ok] * n[ok]).sum() / n[ok].sum()) if ok.any() else None
    out["bags"] = [{"bag": r["bag"], "people": r["people_evaluated"], "frames_lost": r["frames_lost"],
                    **{k: r.get(k) for k in METRIC_KEYS}} for r in results]
    return out


def summary_markdown(s: dict) -> str:
    lines = ["# Replay evaluation summary", "", "| bag | people | lost | MPJPE best | MPJPE mean | PA-MPJPE best | "
             "PA-MPJPE mean |", "|---|---:|---:|---:|---:|---:|---:|"]
    for b in [*s["bags"], {"bag": "**all**", "people": s["people_evaluated"], "frames_lost": s["frames_lost"],
                           **{k: s[k] for k in METRIC_KEYS}}]:
        vals = " | ".join(_fmt(b[k]) for k in METRIC_KEYS)
        lines.append(f"| {Path(b['bag']).name} | {b['people']} | {b['frames_lost']} | {vals} |")
    return "\n".join(lines) + "\n"


def rates_table(rows: list[dict]) -> str:
    """Markdown table of the delivery accounting at several rates."""
    lines = ["| rate | sent | node received | processed | outputs | lost | lost before callback | wall s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        d = r["delivery"]
        lines.append(f"| {r['rate']:g} | {d['sent']} | {d['node_received']} | {d['node_processed']} | "
                     f"{d['outputs']} | {d['lost']} | {d['node_lost_before_callback']} | {r['wall_s']} |")
    return "\n".join(lines) + "\n"


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bags", type=Path, nargs="+", help="one or more evaluation bags")
    ap.add_argument("--out", type=Path, default=Path("out/replay"))
    ap.add_argument("--preset", choices=sorted(PRESETS), default="default", help="the node's sampler preset")
    ap.add_argument("-m", "--num-hypotheses", type=int, default=None, help="default: the preset's")
    ap.add_argument("--steps", type=int, default=None, help="default: the preset's")
    ap.add_argument("--prior-weights", default="", help="empty = the shipped prior")
    ap.add_argument("--qos", choices=["reliable", "best_effort"], default="reliable")
    ap.add_argument("--rate", type=float, default=1.0, help="playback speed factor (lossless: an upper bound)")
    ap.add_argument("--rates", type=float, nargs="+", help="replay the (one) bag at each of these rates")
    ap.add_argument("--lossy", action="store_true", help="play on the bag clock without lockstep (may drop)")
    ap.add_argument("--idle-timeout", type=float, default=30.0, help="stop waiting after this long without output")
    ap.add_argument("--force", action="store_true", help="replay bags that already have results")
    ap.add_argument("-p", dest="params", action="append", help="node parameter override name:=value")
    args = ap.parse_args(argv)
    chosen = {"num_hypotheses": args.num_hypotheses, "num_steps": args.steps,
              "prior_weights": args.prior_weights or None}
    overrides: dict[str, object] = {"preset": args.preset, **{k: v for k, v in chosen.items() if v is not None},
                                    **parse_assignments(args.params, "-p")}
    if args.rates and len(args.bags) != 1:
        ap.error("--rates takes exactly one bag")
    try:
        if args.rates:
            results = [evaluate_bags(args.bags, args.out / f"rate_{rate:g}", overrides, args.qos, rate, args.force,
                                     idle_timeout_s=args.idle_timeout, lossless=not args.lossy)[0]
                       for rate in args.rates]
            table = rates_table(results)
            (args.out / "rates.json").write_text(json.dumps([{"rate": r["rate"], "wall_s": r["wall_s"],
                                                              **r["delivery"]} for r in results], indent=2))
            (args.out / "rates.md").write_text(table)
        else:
            results = evaluate_bags(args.bags, args.out, overrides, args.qos, args.rate, args.force,
                                    idle_timeout_s=args.idle_timeout, lossless=not args.lossy)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"replay_eval: error: {exc}", file=sys.stderr)
        return 1
    for r in results:
        print(markdown(r))
    if len(results) > 1 and not args.rates:
        print((args.out / "summary.md").read_text())
    if args.rates:
        print(table)
    print(f"results in {args.out}")
    losses = [f"{Path(r['bag']).name} at rate {r['rate']:g}: {r['loss']}" for r in results if r.get("loss")]
    for line in losses:
        print(f"replay_eval: {line}", file=sys.stderr)
    if losses:
        return 2
    return 0 if all(r["frames_out"] > 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
