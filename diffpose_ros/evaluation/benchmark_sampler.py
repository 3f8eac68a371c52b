"""Accuracy / speed benchmark of the heatmap-guided sampler on held-out mocap poses with synthetic heatmaps.

    python -m diffpose_ros.evaluation.benchmark_sampler [--frames 200] [--weights PATH] [--out out/benchmark_sampler]

Sweeps the number of DDIM steps (at the default m) and the number of hypotheses m (at the default steps),
reports best-of-m / mean-of-m MPJPE and PA-MPJPE, PCK@150mm, AUC, 2D reprojection error, spread/error
calibration and CPU milliseconds per frame; prints a table, writes ``results.json`` and ``results.png``.
Held-out poses: the test split (by take) of :func:`diffpose_ros.prior.mocap.load_pose_set`, or ``--poses``
(an ``.npy``/``.npz`` with ``[N, 17, 3]`` root-relative metres).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from ..core import metrics
from ..core.paths import add_data_argument, missing_data_message, use_data_dir
from .synthetic_heatmaps import SyntheticConfig, SyntheticFrame, render_dataset

DEFAULT_STEPS = (1, 2, 5, 10, 25, 50, 100)
DEFAULT_HYPOTHESES = (1, 5, 10, 50, 200)


def load_heldout_poses(path: Path | None, num: int, seed: int) -> np.ndarray:
    """``num`` random held-out poses ``[num, 17, 3]`` (test split of the mocap cache, or a file)."""
    if path is not None:
        data = np.load(path)
        poses = data["poses"] if isinstance(data, np.lib.npyio.NpzFile) else data
    else:
        from ..prior.mocap import load_pose_set

        poses = load_pose_set(progress=False).split("test").poses
    poses = np.asarray(poses, dtype=np.float64)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(poses), size=min(num, len(poses)), replace=False)
    return poses[np.sort(pick)]


def evaluate(sampler, frames: list[SyntheticFrame], num_hypotheses: int) -> dict[str, float]:
    """Run the sampler on every frame; accuracy numbers plus wall-clock ms per frame.

    Times are the median (and 10th percentile) over frames: on a shared CPU the mean is dominated by spikes.
    """
    hyps, spreads, weights, reproj, elapsed = [], [], [], [], []
    for fr in frames:
        start = time.perf_counter()
        r = sampler.sample(fr, fr.camera, num_hypotheses=num_hypotheses)
        elapsed.append(1000 * (time.perf_counter() - start))
        hyps.append(r.poses_root_relative)
        spreads.append(r.spread)
        weights.append(r.weights)
        good = fr.has_heatmap & ~fr.offset_joints
        proj = fr.camera.project(r.poses_camera.astype(np.float64))
        reproj.append(np.median(np.linalg.norm(proj - fr.keypoints_true, axis=-1)[:, good]))
    gt = np.stack([fr.pose_root_relative for fr in frames])
    out = metrics.summarize(np.stack(hyps), gt, spread=np.stack(spreads), weights=np.stack(weights))
    out["reprojection_median_px"] = float(np.mean(reproj))
    out["ms_per_frame"] = float(np.median(elapsed))
    out["ms_per_frame_p10"] = float(np.percentile(elapsed, 10))
    return out


def time_sampler(sampler, frame: SyntheticFrame, repeats: int = 30) -> dict[str, float]:
    """Median / p90 ms per frame on one frame (threads: the sampler's ``num_threads``)."""
    for _ in range(3):
        sampler.sample(frame, frame.camera)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sampler.sample(frame, frame.camera)
        times.append(1000 * (time.perf_counter() - start))
    return {"threads": sampler.num_threads, "median_ms": float(np.median(times)),
            "p90_ms": float(np.percentile(times, 90))}


def plateau_steps(sweep: dict[str, dict[str, float]], key: str = "mpjpe_best_mm", tolerance_mm: float = 3.0) -> int:
    """Fewest steps whose ``key`` is within ``tolerance_mm`` of the best value in the sweep."""
    best = min(r[key] for r in sweep.values())
    return min(int(n) for n, r in sweep.items() if r[key] <= best + tolerance_mm)


def _row(name: str, r: dict[str, float]) -> str:
    return (f"{name:>14} | {r['mpjpe_best_mm']:7.1f} {r['pa_mpjpe_best_mm']:7.1f} | {r['mpjpe_mean_mm']:7.1f} "
            f"{r['pa_mpjpe_mean_mm']:7.1f} | {r['mpjpe_top_weight_mm']:7.1f} | {100 * r['pck150_mean']:5.1f} "
            f"{100 * r['auc_mean']:5.1f} | {r['reprojection_median_px']:6.1f} | {r['calibration_pearson']:5.2f} | "
            f"{r['ms_per_frame']:8.1f}")  # median over frames


HEADER = ("{:>14} | {:>7} {:>7} | {:>7} {:>7} | {:>7} | {:>5} {:>5} | {:>6} | {:>5} | {:>8}".format(
    "config", "best", "PA-best", "mean", "PA-mean", "top-w", "PCK", "AUC", "2D px", "calib", "ms/frame")
    + "\n" + "{:>14} | {:>15} | {:>15} | {:>7} | {:>11} | {:>6} | {:>5} |".format(
        "", "best-of-m (mm)", "mean-of-m (mm)", "(mm)", "mean (%)", "med", "r") + " (median)")


def plot(results: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    steps = results["steps_sweep"]
    xs = [int(k) for k in steps]
    for key, label in [("mpjpe_best_mm", "best-of-m MPJPE"), ("pa_mpjpe_best_mm", "best-of-m PA-MPJPE"),
                       ("mpjpe_mean_mm", "mean-of-m MPJPE"), ("pa_mpjpe_mean_mm", "mean-of-m PA-MPJPE")]:
        axes[0].plot(xs, [steps[k][key] for k in steps], "o-", label=label)
    if "unguided" in results:
        axes[0].axhline(results["unguided"]["mpjpe_best_mm"], color="grey", ls="--", label="unguided best-of-m")
    axes[0].set(xscale="log", xlabel="DDIM steps", ylabel="mm", title=f"accuracy vs steps (m={results['m']})")
    axes[0].legend(fontsize=8)
    hyp = results["m_sweep"]
    ms = [int(k) for k in hyp]
    for key, label in [("mpjpe_best_mm", "best-of-m MPJPE"), ("pa_mpjpe_best_mm", "best-of-m PA-MPJPE"),
                       ("mpjpe_mean_mm", "mean-of-m MPJPE"), ("mpjpe_top_weight_mm", "top-weight MPJPE")]:
        axes[1].plot(ms, [hyp[k][key] for k in hyp], "o-", label=label)
    axes[1].set(xscale="log", xlabel="hypotheses m", ylabel="mm", title=f"accuracy vs m ({results['steps']} steps)")
    axes[1].legend(fontsize=8)
    axes[2].plot(xs, [steps[k]["ms_per_frame"] for k in steps], "o-", label=f"vs steps (m={results['m']})")
    axes[2].plot(ms, [hyp[k]["ms_per_frame"] for k in hyp], "s-", label=f"vs m ({results['steps']} steps)")
    axes[2].set(xscale="log", yscale="log", xlabel="steps / m", ylabel="ms per frame",
                title=f"CPU time ({results['threads']} thread(s))")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=None, help="prior weights (default: shipped)")
    parser.add_argument("--poses", type=Path, default=None, help="held-out poses .npy/.npz (default: mocap test split)")
    parser.add_argument("--frames", type=int, default=200, help="held-out poses to evaluate")
    parser.add_argument("--steps", type=int, nargs="+", default=list(DEFAULT_STEPS))
    parser.add_argument("--hypotheses", type=int, nargs="+", default=list(DEFAULT_HYPOTHESES))
    parser.add_argument("--default-steps", type=int, default=10)
    parser.add_argument("--default-m", type=int, default=16)
    parser.add_argument("--guidance-scale", type=float, default=None, help="default: the sampler's")
    parser.add_argument("--eta", type=float, default=None, help="default: the sampler's")
    parser.add_argument("--guidance-iters", type=int, default=None, help="default: the sampler's")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the sweeps")
    parser.add_argument("--timing-threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-unguided", action="store_true", help="skip the unguided baseline row")
    parser.add_argument("--out", type=Path, default=Path("out/benchmark_sampler"))
    add_data_argument(parser)
    args = parser.parse_args(argv)
    use_data_dir(args.data)

    from ..prior.pose_prior import PosePrior
    from ..sampling.sampler import GuidedSampler

    prior = PosePrior.load(args.weights)
    try:
        poses = load_heldout_poses(args.poses, args.frames, args.seed)
    except FileNotFoundError as exc:
        raise SystemExit(missing_data_message("benchmark_sampler", exc)) from None
    cfg = SyntheticConfig()
    frames = render_dataset(poses, seed=args.seed + 1, config=cfg)
    extra = {k: v for k, v in (("guidance_scale", args.guidance_scale), ("eta", args.eta),
                                 ("guidance_iters", args.guidance_iters)) if v is not None}

    def make(steps: int, m: int, **kw) -> GuidedSampler:
        return GuidedSampler(prior, num_steps=steps, num_hypotheses=m, seed=args.seed,
                             **{"num_threads": args.threads, **extra, **kw})

    results: dict = {"frames": len(frames), "m": args.default_m, "steps": args.default_steps,
                     "threads": args.threads, "synthetic": vars(cfg), "machine": platform.processor() or "cpu",
                     "prior": {k: v for k, v in prior.metadata.items() if k in ("steps", "final_val_loss")}}
    sampler = make(args.default_steps, args.default_m)
    results["sampler"] = {"guidance_scale": sampler.guidance_scale, "guidance_iters": sampler.guidance_iters,
                          "eta": sampler.eta, "min_alpha_bar": sampler.min_alpha_bar,
                          "reference_steps": sampler.reference_steps}
    print(f"{len(frames)} held-out frames, prior {results['prior']}, sampler {results['sampler']}")
    print(HEADER)
    if not args.no_unguided:
        results["unguided"] = evaluate(make(args.default_steps, args.default_m, guidance_scale=0.0), frames,
                                       args.default_m)
        print(_row(f"unguided s={args.default_steps}", results["unguided"]), flush=True)
    results["steps_sweep"] = {}
    for n in args.steps:
        results["steps_sweep"][str(n)] = evaluate(make(n, args.default_m), frames, args.default_m)
        print(_row(f"steps={n} m={args.default_m}", results["steps_sweep"][str(n)]), flush=True)
    if results["steps_sweep"]:
        results["plateau_steps"] = {k: plateau_steps(results["steps_sweep"], k)
                                    for k in ("mpjpe_best_mm", "pa_mpjpe_best_mm", "mpjpe_mean_mm")}
        print(f"steps where accuracy stops improving (within 3 mm of the sweep's best): {results['plateau_steps']}")
    results["m_sweep"] = {}
    for m in args.hypotheses:
        results["m_sweep"][str(m)] = evaluate(make(args.default_steps, m), frames, m)
        print(_row(f"m={m} s={args.default_steps}", results["m_sweep"][str(m)]), flush=True)
    results["timing"] = [time_sampler(make(args.default_steps, args.default_m, num_threads=t), frames[0])
                         for t in args.timing_threads]
    for t in results["timing"]:
        print(f"m={args.default_m}, {args.default_steps} steps, {t['threads']} thread(s): "
              f"median {t['median_ms']:.1f} ms, p90 {t['p90_ms']:.1f} ms per frame")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    png = plot(results, args.out / "results.png")
    print(f"wrote {args.out / 'results.json'} and {png}")
    return results


if __name__ == "__main__":
    main()
