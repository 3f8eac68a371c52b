"""Benchmark the pose prior's samples against held-out mocap takes; prints a table and writes JSON.

    python -m diffpose_ros.prior.benchmark [--weights PATH [PATH ...]] [--num 1000] [--steps 10 50]
        [--data-config training/prior.yaml] [--sources S ...] [--out out/prior_benchmark.json]

Held-out = the test-split takes, augmented like the training data (yaw, tilt, limb and body size, mirror).
The reference column is the val-split takes (augmented the same way): what a perfect prior would score.
Data and augmentation come from the first prior's training metadata, or from ``--data-config`` (a training
YAML), optionally narrowed by ``--sources``; several ``--weights`` are scored against the same held-out set.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from diffpose_ros.core.paths import add_data_argument, missing_data_message, use_data_dir
from diffpose_ros.prior.augment import AugmentConfig, PoseAugmenter
from diffpose_ros.prior.generate import sample_poses
from diffpose_ros.prior.mocap import MocapConfig, PoseSet, load_pose_set
from diffpose_ros.prior.pose_prior import PosePrior
from diffpose_ros.prior.sample_quality import ProportionStats, evaluate, median_bandwidth, yaw_canonicalise


def augmented_subset(poses: np.ndarray, n: int, seed: int, cfg: AugmentConfig) -> np.ndarray:
    """``n`` random poses (with replacement if needed), augmented with a fixed seed."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(poses), n, replace=n > len(poses))
    gen = torch.Generator().manual_seed(seed)
    return PoseAugmenter(cfg)(torch.as_tensor(poses[idx]), gen).numpy().astype(np.float64)


def forward_ms(prior: PosePrior, batch: int = 16, repeats: int = 200) -> float:
    """Median ms of one predict_noise call (inference mode)."""
    x, t = torch.randn(batch, 17, 3), torch.full((batch,), 500, dtype=torch.long)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 20):
            tic = time.perf_counter()
            prior.predict_noise(x, t)
            if i >= 20:
                times.append(time.perf_counter() - tic)
    return 1e3 * float(np.median(times))


def load_named_priors(parser: argparse.ArgumentParser, weights: list[Path] | None, names: list[str] | None
                      ) -> dict[str, PosePrior]:
    """{name: prior} for ``--weights`` (default: the shipped weights) and optional ``--names``."""
    paths = weights or [None]
    names = names or (["shipped"] if weights is None else [p.stem for p in weights])
    if len(names) != len(paths):
        parser.error("--names needs one name per --weights file")
    return {name: PosePrior.load(path) for name, path in zip(names, paths, strict=True)}


def experiment_data(experiment: dict) -> tuple[MocapConfig, AugmentConfig]:
    """The data and augmentation settings of a training experiment dict (prior metadata or training YAML)."""
    data = MocapConfig(**experiment["data"]) if "data" in experiment else MocapConfig()
    aug = AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in experiment.get("augment", {}).items()})
    return data, aug


def run_benchmark(priors: PosePrior | dict[str, PosePrior], num: int = 1000, steps: tuple[int, ...] = (10, 50),
                  eta: float = 0.0, seed: int = 0, num_train: int = 5000, pose_set: PoseSet | None = None,
                  aug_cfg: AugmentConfig | None = None) -> dict[str, dict[str, float]]:
    """{column name: metrics} for the reference held-out set and each prior at each step count.

    ``pose_set`` / ``aug_cfg`` default to the (first) prior's training data and augmentation.
    """
    named = {"prior": priors} if isinstance(priors, PosePrior) else dict(priors)
    first_data, first_aug = experiment_data(next(iter(named.values())).metadata.get("experiment", {}))
    pose_set = pose_set if pose_set is not None else load_pose_set(first_data, progress=False)
    aug_cfg = aug_cfg or first_aug
    holdout = augmented_subset(pose_set.split("test").poses, num, seed + 1, aug_cfg)
    reference = augmented_subset(pose_set.split("val").poses, num, seed + 2, aug_cfg)
    train = augmented_subset(pose_set.split("train").poses, num_train, seed + 3, aug_cfg)
    canon_h = yaw_canonicalise(holdout)
    bandwidth = median_bandwidth(canon_h[:, 1:].reshape(len(canon_h), -1))
    props = ProportionStats.from_poses(holdout)
    results = {"held-out val (reference)": evaluate(reference, holdout, train, bandwidth, props)}
    for name, prior in named.items():
        for k in steps:
            tic = time.perf_counter()
            generated = sample_poses(prior, num, k, seed, eta).astype(np.float64)
            elapsed = time.perf_counter() - tic
            row = evaluate(generated, holdout, train, bandwidth, props)
            row["generation_ms_per_16"] = 1e3 * elapsed / num * 16
            results[f"{name} {k} steps (eta {eta:g})"] = row
        results[f"_timing {name}"] = {"forward_ms_batch16": forward_ms(prior),
                                      "threads": float(torch.get_num_threads())}
    return results


def format_table(results: dict[str, dict[str, float]]) -> str:
    columns = [c for c in results if not c.startswith("_")]
    metrics = list(dict.fromkeys(k for c in columns for k in results[c]))
    width = max(len(m) for m in metrics) + 2
    lines = [" " * width + "".join(f"{c[:26]:>28s}" for c in columns)]
    for m in metrics:
        cells = "".join(f"{results[c][m]:28.3f}" if m in results[c] else " " * 28 for c in columns)
        lines.append(f"{m:<{width}s}{cells}")
    for key in results:
        if key.startswith("_timing"):
            lines += [f"{key[1:]} {k}: {v:.3f}" for k, v in results[key].items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, nargs="+", default=None, help="default: the shipped weights")
    parser.add_argument("--names", nargs="+", default=None, help="column names for --weights (default: file stems)")
    parser.add_argument("--num", type=int, default=1000)
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--eta", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-config", type=Path, default=None,
                        help="training YAML whose data and augment sections define the held-out set")
    parser.add_argument("--sources", nargs="+", default=None, help="restrict the held-out set to these sources")
    parser.add_argument("--out", type=Path, default=Path("out/prior_benchmark.json"))
    add_data_argument(parser)
    args = parser.parse_args()
    use_data_dir(args.data)
    torch.set_num_threads(1)
    priors = load_named_priors(parser, args.weights, args.names)
    experiment = (yaml.safe_load(args.data_config.read_text()) if args.data_config
                  else next(iter(priors.values())).metadata.get("experiment", {}))
    data_cfg, aug_cfg = experiment_data(experiment)
    if args.sources:
        data_cfg.sources = list(args.sources)
        data_cfg.__post_init__()
    try:
        pose_set = load_pose_set(data_cfg, progress=False)
    except FileNotFoundError as exc:
        raise SystemExit(missing_data_message("prior.benchmark", exc)) from None
    results = run_benchmark(priors, args.num, tuple(args.steps), args.eta, args.seed, pose_set=pose_set,
                            aug_cfg=aug_cfg)
    results["_meta"] = {"weights": [str(p) for p in args.weights or ["shipped"]],
                        "steps_trained": [prior.metadata.get("steps") for prior in priors.values()],
                        "sources": data_cfg.sources, "num": args.num, "seed": args.seed}
    print(format_table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
