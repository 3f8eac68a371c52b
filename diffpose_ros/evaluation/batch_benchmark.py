"""Sampling cost per frame with several people: one batched sampler call vs one call per person.

    python -m diffpose_ros.evaluation.batch_benchmark [--people 1 2 4 8] [--frames 10] [-m 16] [--steps 10]
        [--out out/batch]

Frames hold P held-out mocap people (synthetic heatmaps, the fixed virtual camera). For each frame both ways
run back to back (same seeds per person, so the results agree), so the timings are side by side. Prints ms per
frame and writes ``OUT/batch_benchmark.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .mocap_bags import fixed_camera_config, held_out_poses
from .synthetic_heatmaps import render_dataset


def time_frame(sampler, observations, camera, seed: int) -> tuple[float, float, float]:
    """(ms per-person calls, ms one batched call, max |difference| of the hypotheses in metres)."""
    gens = lambda: [torch.Generator().manual_seed(seed + i) for i in range(len(observations))]  # noqa: E731
    t0 = time.perf_counter()
    single = [sampler.sample(o, camera, generator=g) for o, g in zip(observations, gens())]
    t1 = time.perf_counter()
    batched = sampler.sample_many(observations, camera, generators=gens())
    t2 = time.perf_counter()
    diff = max(float(np.abs(a.poses_camera - b.poses_camera).max()) for a, b in zip(single, batched))
    return 1e3 * (t1 - t0), 1e3 * (t2 - t1), diff


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("-m", "--num-hypotheses", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--out", type=Path, default=Path("out/batch"))
    args = ap.parse_args(argv)
    from ..prior.pose_prior import PosePrior
    from ..sampling.sampler import GuidedSampler

    sampler = GuidedSampler(PosePrior.load().eval(), num_steps=args.steps, num_hypotheses=args.num_hypotheses)
    n = max(args.people) * args.frames
    synth = render_dataset(held_out_poses(n, seed=0)[0], seed=0, config=fixed_camera_config())
    camera = synth[0].camera
    obs = [f.to_observation() for f in synth]
    time_frame(sampler, obs[:2], camera, 0)  # warm-up
    rows = []
    for P in args.people:
        per, bat, diffs = [], [], []
        for k in tqdm(range(args.frames), desc=f"{P} people", unit="frame"):
            a, b, d = time_frame(sampler, obs[k * P:(k + 1) * P], camera, 1000 * k)
            per.append(a)
            bat.append(b)
            diffs.append(d)
        rows.append({"people": P, "ms_per_person_calls": float(np.median(per)), "ms_batched": float(np.median(bat)),
                     "speedup": float(np.median(per) / np.median(bat)), "max_abs_diff_m": float(max(diffs))})
    print(f"m={args.num_hypotheses}, steps={args.steps}, median ms per frame (sampling only), {args.frames} frames")
    print(f"{'people':>7} {'per-person':>11} {'batched':>9} {'speedup':>8} {'max |diff| m':>13}")
    for r in rows:
        print(f"{r['people']:>7} {r['ms_per_person_calls']:>11.1f} {r['ms_batched']:>9.1f} {r['speedup']:>8.2f} "
              f"{r['max_abs_diff_m']:>13.2e}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "batch_benchmark.json").write_text(json.dumps({"num_hypotheses": args.num_hypotheses,
                                                               "num_steps": args.steps, "rows": rows}, indent=2))
    print(f"wrote {args.out / 'batch_benchmark.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
