"""Per-source report: how well priors cover the held-out takes of each mocap source; table + JSON + markdown.

    python -m diffpose_ros.prior.source_report --weights OLD.pt NEW.pt --names old new \\
        [--data-config training/prior.yaml] [--num 2000] [--steps 10] [--out out/prior_sources]

For every source, held-out = its val + test takes (never trained on), augmented like the training data.
Each prior draws ``--num`` unguided samples once; they are scored against every source's held-out poses.
The ``train takes`` row is the reference: the same number of (augmented) poses from the source's own
training takes, i.e. what a prior that reproduced its training data of that source would score.
Coverage = share of held-out poses whose nearest neighbour (yaw-canonical MPJPE) is within 100 / 150 mm.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import yaml

from diffpose_ros.prior.augment import AugmentConfig
from diffpose_ros.prior.benchmark import augmented_subset, experiment_data, load_named_priors
from diffpose_ros.prior.generate import sample_poses
from diffpose_ros.prior.mocap import PoseSet, load_pose_set
from diffpose_ros.prior.pose_prior import PosePrior
from diffpose_ros.prior.sample_quality import evaluate, nn_mpjpe, yaw_canonicalise

COVERAGE_MM = (100, 150)
REPORTED = ("nn_from_holdout_mm", "coverage_100mm_%", "coverage_150mm_%", "nn_to_holdout_mm", "mmd_rbf_x1e3")


def heldout_poses(pose_set: PoseSet, source: str) -> np.ndarray:
    """Poses of the val and test takes of one source."""
    mask = pose_set.source_of_pose() == source
    split = pose_set.take_split[pose_set.take_index]
    return pose_set.poses[mask & (split != "train")]


def score(poses: np.ndarray, holdout: np.ndarray, train: np.ndarray) -> dict[str, float]:
    """evaluate() plus nearest-neighbour coverage of the held-out poses by ``poses``."""
    row = evaluate(poses, holdout, train)
    nn = nn_mpjpe(yaw_canonicalise(holdout), yaw_canonicalise(poses - poses[:, :1]))
    for mm in COVERAGE_MM:
        row[f"coverage_{mm}mm_%"] = 100 * float((nn < mm / 1e3).mean())
    return row


def source_report(priors: dict[str, PosePrior], pose_set: PoseSet, aug_cfg: AugmentConfig, num: int = 2000,
                  steps: int = 10, seed: int = 0, max_holdout: int = 1000) -> dict[str, dict[str, dict[str, float]]]:
    """{source: {row name: metrics}} with rows ``train takes`` (reference) and one per prior."""
    samples = {name: sample_poses(prior, num, steps, seed).astype(np.float64) for name, prior in priors.items()}
    report: dict[str, dict[str, dict[str, float]]] = {}
    for i, source in enumerate(dict.fromkeys(pose_set.take_source.tolist())):
        held = heldout_poses(pose_set, source)
        train = pose_set.poses[(pose_set.source_of_pose() == source)
                               & (pose_set.take_split[pose_set.take_index] == "train")]
        if len(held) == 0 or len(train) == 0:
            continue
        holdout = augmented_subset(held, min(max_holdout, len(held)), seed + 10 + i, aug_cfg)
        train_ref = augmented_subset(train, num, seed + 20 + i, aug_cfg)
        takes = np.unique(pose_set.take_index[(pose_set.source_of_pose() == source)
                                              & (pose_set.take_split[pose_set.take_index] != "train")])
        rows = {"train takes": score(train_ref, holdout, train_ref)}
        rows.update({name: score(s, holdout, train_ref) for name, s in samples.items()})
        rows["_counts"] = {"heldout_poses": float(len(held)), "heldout_takes": float(len(takes)),
                           "train_poses": float(len(train))}
        report[source] = rows
    return report


def format_markdown(report: dict[str, dict[str, dict[str, float]]]) -> str:
    """One markdown table: a row per (source, pose set)."""
    head = "| source (held-out takes / poses) | pose set | " + " | ".join(REPORTED) + " |"
    lines = [head, "|" + "---|" * (2 + len(REPORTED))]
    for source, rows in report.items():
        counts = rows["_counts"]
        label = f"{source} ({counts['heldout_takes']:.0f} / {counts['heldout_poses']:.0f})"
        for name, row in rows.items():
            if name.startswith("_"):
                continue
            cells = " | ".join(f"{row[k]:.1f}" for k in REPORTED)
            lines.append(f"| {label} | {name} | {cells} |")
            label = ""
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, nargs="+", default=None, help="default: the shipped weights")
    parser.add_argument("--names", nargs="+", default=None)
    parser.add_argument("--data-config", type=Path, default=Path(__file__).resolve().parents[2] / "training"
                        / "prior.yaml", help="training YAML whose data and augment sections define the sources")
    parser.add_argument("--num", type=int, default=2000, help="samples per prior")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/prior_sources"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    priors = load_named_priors(parser, args.weights, args.names)
    data_cfg, aug_cfg = experiment_data(yaml.safe_load(args.data_config.read_text()))
    report = source_report(priors, load_pose_set(data_cfg, progress=False), aug_cfg, args.num, args.steps, args.seed)
    table = format_markdown(report)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"weights": [str(p) for p in args.weights or ["shipped"]], "names": list(priors), "num": args.num,
            "steps": args.steps, "seed": args.seed, "data_config": str(args.data_config)}
    (args.out / "report.json").write_text(json.dumps({"_meta": meta, **report}, indent=2))
    (args.out / "report.md").write_text(table + "\n")
    print(f"wrote {args.out}/report.json and report.md")


if __name__ == "__main__":
    main()
