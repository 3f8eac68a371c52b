"""Temporal coherence benchmark: held-out mocap takes played as 10 Hz video, cold vs warm-started sampling.

    python -m diffpose_ros.evaluation.temporal_benchmark [--takes 8] [--frames 40] [--out out/temporal] [-m 16]

Each held-out take (real root motion, turned to a random heading at 4-6 m) is seen by the fixed virtual camera;
the synthetic detector renders heatmaps per frame (same noise for every variant) and
``PoseEstimator.estimate_from_observations`` runs frame by frame with the identity tracker. Variants: ``cold``
(every frame sampled from scratch, today's behaviour), ``cold+depth`` (+ log-depth Kalman filter), ``warm``
(warm start from the previous frame's hypotheses + weight memory), ``warm+filters`` (the defaults: warm start,
depth and pose filters); ``--floor`` adds each variant's twin told the camera's height above the (real, toe-level)
floor with gravity (``+floor``). Variants run in lockstep, so their timings are side by side. Reported against
ground truth:
MPJPE (best of m, weighted mean, top weight; root-aligned, mm), acceleration error of the weighted mean pose
(root-relative and in the camera frame, mm/frame^2), pelvis depth jitter (mean |frame-to-frame depth change -
true change|, mm), depth error and signed depth bias (% further than the truth: mean over takes, median take, and per
take in the JSON: a few takes can carry the mean), and ms per frame (all frames, and warm frames only). Writes
``OUT/temporal_benchmark.json`` and ``OUT/temporal_depth.png`` (pelvis depth over time, variants vs truth).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core import metrics
from .mocap_video import CAMERA, CAMERA_HEIGHT_M, MocapScene, load_takes, place_walk, take_names

OFF = {"warm_start": False, "weight_memory": 0.0, "smooth_depth": False, "smooth_pose": False}
VARIANTS = {  # name -> EstimatorConfig overrides
    "cold": OFF,
    "cold+depth": {**OFF, "smooth_depth": True},
    "warm": {**OFF, "warm_start": True, "weight_memory": 0.5},
    "warm+filters": {},  # the defaults: warm start, weight memory, depth and pose filters
}
FLOOR = {"gravity": (0.0, 1.0, 0.0), "camera_height": CAMERA_HEIGHT_M}  # the "+floor" twins: a level camera 1 m up


def video_takes(num_takes: int, max_frames: int, seed: int = 0, min_frames: int = 15) -> list[tuple[str, np.ndarray]]:
    """Held-out takes placed in front of the camera: (name, camera-frame poses [F, 17, 3]) in view throughout."""
    rng = np.random.default_rng(seed)
    names = take_names("bandai_ds1", "test")
    worlds = load_takes(names)
    out = []
    for name in names:
        placed = place_walk(worlds[name], float(rng.uniform(4.0, 6.0)), float(rng.uniform(-0.5, 0.5)),
                            heading=float(rng.uniform(-np.pi, np.pi)))
        scene = MocapScene([placed])
        inside = np.array([scene._in_view(CAMERA.project(p)) and p[:, 2].min() > 1.0 for p in placed])
        best, start = (0, 0), None  # longest run of in-view frames
        for i, ok in enumerate(np.r_[inside, False]):
            if ok and start is None:
                start = i
            elif not ok and start is not None:
                best, start = max(best, (i - start, start)), None
        if best[0] >= min_frames:
            out.append((name, placed[best[1]:best[1] + min(best[0], max_frames)]))
        if len(out) == num_takes:
            break
    return out


def accel_error_mm(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean joint acceleration error (mm/frame^2) of sequences ``[F, J, 3]`` (metres)."""
    if len(pred) < 3:
        return float("nan")
    acc = lambda x: x[2:] - 2 * x[1:-1] + x[:-2]  # noqa: E731
    return 1000 * float(np.linalg.norm(acc(pred) - acc(gt), axis=-1).mean())


def run_variants(estimators: dict, takes, seed: int, progress: bool = True) -> dict:
    """Play every take through every variant's estimator in lockstep (timings side by side); per-frame outputs."""
    runs: dict = {v: {"seqs": []} for v in estimators}
    for k, (name, poses) in enumerate(tqdm(takes, desc="takes", unit="take", disable=not progress)):
        frames = MocapScene([poses]).frames(seed=seed + k)
        for est in estimators.values():
            est.reset()
            est.sampler.generator.manual_seed(seed + k)
        rec = {v: {"hyp": [], "weights": [], "mean": [], "ms": [], "warm": []} for v in estimators}
        for f in frames:
            for v, est in estimators.items():
                t0 = time.perf_counter()
                out = est.estimate_from_observations(f.observations, CAMERA)
                r = rec[v]
                r["ms"].append(1e3 * (time.perf_counter() - t0))
                p = out.people[0]
                r["hyp"].append(p.hypotheses)
                r["weights"].append(p.weights)
                r["mean"].append(p.mean)
                r["warm"].append(out.warm_people > 0)
        for v, r in rec.items():
            runs[v]["seqs"].append({"take": name, "gt": poses[:len(frames)], **{key: np.array(val) for key, val
                                                                                  in r.items()}})
    return runs


def score(run: dict) -> dict:
    seqs = run["seqs"]
    hyp = np.concatenate([s["hyp"] for s in seqs])
    gt = np.concatenate([s["gt"] for s in seqs])
    w = np.concatenate([s["weights"] for s in seqs])
    s = metrics.summarize(hyp, gt, weights=w)
    rr = lambda x: x - x[:, :1]  # noqa: E731
    acc_rr = np.mean([accel_error_mm(rr(q["mean"]), rr(q["gt"])) for q in seqs])
    acc_cam = np.mean([accel_error_mm(q["mean"], q["gt"]) for q in seqs])
    jitter = np.mean([1000 * np.abs(np.diff(q["mean"][:, 0, 2]) - np.diff(q["gt"][:, 0, 2])).mean() for q in seqs])
    depth_err = np.mean([1000 * np.abs(q["mean"][:, 0, 2] - q["gt"][:, 0, 2]).mean() for q in seqs])
    bias = [100 * float(np.mean(q["mean"][:, 0, 2] / q["gt"][:, 0, 2] - 1)) for q in seqs]  # % further than truth
    ms = np.concatenate([q["ms"] for q in seqs])
    warm = np.concatenate([q["warm"] for q in seqs])
    return {"mpjpe_best_mm": s["mpjpe_best_mm"], "mpjpe_weighted_mean_mm": s["mpjpe_weighted_mean_mm"],
            "mpjpe_top_weight_mm": s["mpjpe_top_weight_mm"], "mpjpe_mean_mm": s["mpjpe_mean_mm"],
            "accel_err_mm": float(acc_rr), "accel_err_camera_mm": float(acc_cam),
            "depth_jitter_mm": float(jitter), "depth_err_mm": float(depth_err),
            "depth_bias_pct": float(np.mean(bias)), "depth_bias_pct_median_take": float(np.median(bias)),
            "depth_bias_pct_per_take": {q["take"]: b for q, b in zip(seqs, bias)},
            "ms_per_frame": float(ms.mean()), "ms_warm_frame": float(ms[warm].mean()) if warm.any() else None,
            "ms_cold_frame": float(ms[~warm].mean()) if (~warm).any() else None,
            "warm_fraction": float(warm.mean()), "frames": len(ms)}


def plot(runs: dict, path: Path, num: int = 3) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seqs0 = next(iter(runs.values()))["seqs"][:num]
    fig, axes = plt.subplots(len(seqs0), 1, figsize=(9, 2.6 * len(seqs0)), squeeze=False)
    for k, ax in enumerate(axes[:, 0]):
        gt = seqs0[k]["gt"][:, 0, 2]
        ax.plot(gt, "k-", lw=2.5, label="ground truth")
        for name, run in runs.items():
            ax.plot(run["seqs"][k]["mean"][:, 0, 2], lw=1.3, label=name)
        ax.set_title(seqs0[k]["take"].split("/")[-1], fontsize=9)
        ax.set_ylabel("pelvis depth (m)")
    axes[-1, 0].set_xlabel("frame (10 Hz)")
    axes[0, 0].legend(fontsize=8, ncol=5)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--takes", type=int, default=8)
    ap.add_argument("--frames", type=int, default=40, help="frames per take at most")
    ap.add_argument("-m", "--num-hypotheses", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warm-strength", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--floor", action="store_true", help="also run each variant told the camera's height above the "
                    "floor (and gravity): the '+floor' rows")
    ap.add_argument("--out", type=Path, default=Path("out/temporal"))
    args = ap.parse_args(argv)
    from ..estimator import EstimatorConfig, PoseEstimator

    takes = video_takes(args.takes, args.frames, args.seed)
    base = {"num_hypotheses": args.num_hypotheses, "num_steps": args.steps, "warm_strength": args.warm_strength}
    configs = {v: {**base, **VARIANTS[v]} for v in args.variants}
    if args.floor:
        configs |= {f"{v}+floor": {**base, **VARIANTS[v], **FLOOR} for v in args.variants}
    estimators = {v: PoseEstimator(EstimatorConfig(**c)) for v, c in configs.items()}
    runs = run_variants(estimators, takes, args.seed)
    table = {v: score(r) for v, r in runs.items()}
    args.out.mkdir(parents=True, exist_ok=True)
    cols = ["mpjpe_best_mm", "mpjpe_weighted_mean_mm", "mpjpe_top_weight_mm", "accel_err_mm",
            "accel_err_camera_mm", "depth_jitter_mm", "depth_err_mm", "depth_bias_pct", "depth_bias_pct_median_take",
            "ms_per_frame", "ms_cold_frame", "ms_warm_frame"]
    print(f"{len(takes)} held-out takes, {sum(len(p) for _, p in takes)} frames, m={args.num_hypotheses}, "
          f"steps={args.steps}, warm strength {args.warm_strength}")
    names = {"depth_bias_pct": "depth_bias_%", "depth_bias_pct_median_take": "bias_median_%"}
    print(f"{'variant':>18} " + " ".join(f"{names.get(c, c.replace('_mm', '').replace('mpjpe_', '')):>14}"
                                         for c in cols))
    for v, row in table.items():
        print(f"{v:>18} " + " ".join(f"{row[c]:>14.1f}" if row[c] is not None else f"{'-':>14}" for c in cols))
    result = {"takes": [n for n, _ in takes], "frames": [len(p) for _, p in takes], "num_hypotheses":
              args.num_hypotheses, "num_steps": args.steps, "warm_strength": args.warm_strength, "results": table}
    (args.out / "temporal_benchmark.json").write_text(json.dumps(result, indent=2))
    plot(runs, args.out / "temporal_depth.png")
    print(f"wrote {args.out / 'temporal_benchmark.json'} and {args.out / 'temporal_depth.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
