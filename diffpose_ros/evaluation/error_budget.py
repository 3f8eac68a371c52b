"""Where the proxy's error comes from: the same views scored with one detector error at a time switched off.

    python -m diffpose_ros.evaluation.error_budget [--frames 80] [--repeats 3] [--rows ...] [--out out/error_budget]

Held-out takes seen through the four Human3.6M cameras (the proxy benchmark's ``h36m`` scene, gravity known), the
default sampler, and the synthetic detector of :mod:`.synthetic_heatmaps` with its error sources removed one by
one: gross offsets (5 % of joints moved 3-8 sigmas), dropped joints (8 %), the peak's localisation noise, all
three, or everything (clean, sharp maps at the exact projections). ``offsets-missing`` keeps the noise but has the
detector report its gross errors as missing joints: what perfect outlier rejection would give. ``train-takes``
scores poses of the prior's own training takes: the gap to the held-out rows is the prior's generalisation gap.
Columns: best-of-16/200 MPJPE, PA-MPJPE, N-MPJPE (scale-normalised: the body-size part removed), the best
hypothesis's depth error, and the node's top-weight hypothesis and weighted mean (m=16). Writes ``results.json``
and ``results.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from . import proxy_benchmark as pb
from .synthetic_heatmaps import SyntheticConfig

NOISY = SyntheticConfig()
# name -> (synthetic detector, split of the mocap takes)
ROWS: dict[str, tuple[SyntheticConfig, str]] = {
    "noisy": (NOISY, "test"),
    "no-offsets": (dataclasses.replace(NOISY, offset_prob=0.0), "test"),
    "offsets-missing": (dataclasses.replace(NOISY, offsets_missing=True), "test"),
    "no-drops": (dataclasses.replace(NOISY, drop_prob=0.0), "test"),
    "no-peak-noise": (dataclasses.replace(NOISY, centre_noise_hm=0.0), "test"),
    "none-of-the-three": (dataclasses.replace(NOISY, offset_prob=0.0, drop_prob=0.0, centre_noise_hm=0.0), "test"),
    "clean": (pb.CLEAN, "test"),
    "train-takes": (NOISY, "train"),
    "train-takes-clean": (pb.CLEAN, "train"),
}
KS = (16, 200)
COLUMNS = {"best-16": "best_of_16_mm", "best-200": "best_of_200_mm", "PA-200": "pa_best_of_200_mm",
           "N-200": "n_best_of_200_mm", "depth-200": "depth_best_of_200_mm", "top-w": "top_mm", "w-mean": "mean_mm"}


def budget(sampler_factory, frames_by_split: dict[str, list], rows: list[str], repeats: int = 1) -> dict[str, dict]:
    """Evaluate each row (``ROWS``) on the frames of its split; ``sampler_factory(r)`` builds run r's sampler."""
    out = {}
    for name in rows:
        synth, split = ROWS[name]
        runs = [pb.evaluate(sampler_factory(r), frames_by_split[split], synth, "known", KS) for r in range(repeats)]
        out[name] = pb.average_runs(runs)
    return out


def table(results: dict[str, dict]) -> str:
    lines = [f"{'row':<20}" + "".join(f"{c:>10}" for c in COLUMNS)]
    for name, r in results.items():
        lines.append(f"{name:<20}" + "".join(f"{r[key]:10.1f}" for key in COLUMNS.values()))
    return "\n".join(lines)


def plot(results: dict[str, dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    shown = ("best-16", "best-200", "top-w")
    y = np.arange(len(names))
    height = 0.8 / len(shown)
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(names) + 1.5))
    for i, col in enumerate(shown):
        vals = [results[n][COLUMNS[col]] for n in names]
        ax.barh(y + i * height, vals, height, label=col)
        for yy, v in zip(y + i * height, vals):
            ax.text(v + 0.5, yy, f"{v:.1f}", va="center", fontsize=7)
    ax.set_yticks(y + height, names, fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel="MPJPE (mm)", title="error budget: proxy h36m views, one detector error removed at a time")
    ax.legend(fontsize=8, loc="lower right")
    try:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=80, help="poses per split (4 views each)")
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    parser.add_argument("--repeats", type=int, default=1, help="sampler seeds per row (same views)")
    parser.add_argument("--weights", type=Path, default=None, help="prior weights (default: shipped)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/error_budget"))
    return parser


def main(argv: list[str] | None = None) -> dict:
    parser = _arguments()
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")

    import torch

    from ..prior.pose_prior import PosePrior
    from ..sampling.config import DEFAULT

    torch.set_num_threads(1)
    prior = PosePrior.load(args.weights)
    frames = {}
    for split in sorted({ROWS[name][1] for name in args.rows}):
        poses, cats = pb.load_heldout(args.frames, args.seed, split=split)
        frames[split] = pb.make_frames(poses, cats, "h36m", args.seed)
    results = budget(lambda r: DEFAULT.build(prior, seed=args.seed + r), frames, args.rows, args.repeats)
    print(table(results))
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"frames": {k: len(v) for k, v in frames.items()}, "repeats": args.repeats,
               "rows": {n: {"detector": dataclasses.asdict(ROWS[n][0]), "split": ROWS[n][1], **results[n]}
                        for n in results}}
    (args.out / "results.json").write_text(json.dumps(payload, indent=1, default=str))
    png = plot(results, args.out / "results.png")
    print(f"wrote {args.out / 'results.json'} and {png}")
    return payload


if __name__ == "__main__":
    main()
