"""Sampling cost per frame with several people: one batched sampler call vs one call per person.

    python -m diffpose_ros.evaluation.batch_benchmark [--people 1 2 4 8] [--frames 10] [-m 16] [--steps 10]
        [--out out/batch]

Frames hold P held-out mocap people (synthetic heatmaps, the fixed virtual camera). For each frame both ways
run back to back (same seeds per person, so the results agree), so the timings are side by side; then again
warm-started (video: each person starts from a previous frame's hypotheses, ``init_strength`` 0.3). Prints ms per
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


def time_frame(sampler, observations, camera, seed: int, inits: list | None = None
               ) -> tuple[float, float, float]:
    """(ms per-person calls, ms one batched call, max |difference| of the hypotheses in metres); ``inits``:
    warm-started (video) frames."""
    gens = lambda: [torch.Generator().manual_seed(seed + i) for i in range(len(observations))]  # noqa: E731
    inits = inits or [None] * len(observations)
    t0 = time.perf_counter()
    single = [sampler.sample(o, camera, generator=g, init=i) for o, g, i in zip(observations, gens(), inits)]
    t1 = time.perf_counter()
    batched = sampler.sample_many(observations, camera, generators=gens(), inits=inits)
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
    from ..sampling.config import DEFAULT

    sampler = DEFAULT.with_(num_steps=args.steps, num_hypotheses=args.num_hypotheses).build(PosePrior.load().eval())
    n = max(args.people) * args.frames
    synth = render_dataset(held_out_poses(n, seed=0)[0], seed=0, config=fixed_camera_config())
    camera = synth[0].camera
    obs = [f.to_observation() for f in synth]
    time_frame(sampler, obs[:2], camera, 0)  # warm-up
    rows = []
    for P in args.people:
        t: dict[str, list] = {"per": [], "bat": [], "warm_per": [], "warm_bat": [], "diff": []}
        for k in tqdm(range(args.frames), desc=f"{P} people", unit="frame"):
            people = obs[k * P:(k + 1) * P]
            a, b, d = time_frame(sampler, people, camera, 1000 * k)
            inits = [p.poses_root_relative for p in sampler.sample_many(people, camera)]  # a previous frame
            wa, wb, wd = time_frame(sampler, people, camera, 1000 * k, inits)
            for key, v in zip(t, (a, b, wa, wb, max(d, wd))):
                t[key].append(v)
        med = {key: float(np.median(v)) for key, v in t.items()}
        rows.append({"people": P, "ms_per_person_calls": med["per"], "ms_batched": med["bat"],
                     "speedup": med["per"] / med["bat"], "ms_warm_per_person_calls": med["warm_per"],
                     "ms_warm_batched": med["warm_bat"], "max_abs_diff_m": float(max(t["diff"]))})
    print(f"m={args.num_hypotheses}, steps={args.steps}, median ms per frame (sampling only), {args.frames} frames")
    print(f"{'people':>7} {'per-person':>11} {'batched':>9} {'speedup':>8} {'warm per-person':>16} "
          f"{'warm batched':>13} {'max |diff| m':>13}")
    for r in rows:
        print(f"{r['people']:>7} {r['ms_per_person_calls']:>11.1f} {r['ms_batched']:>9.1f} {r['speedup']:>8.2f} "
              f"{r['ms_warm_per_person_calls']:>16.1f} {r['ms_warm_batched']:>13.1f} {r['max_abs_diff_m']:>13.2e}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "batch_benchmark.json").write_text(json.dumps({"num_hypotheses": args.num_hypotheses,
                                                               "num_steps": args.steps, "rows": rows}, indent=2))
    print(f"wrote {args.out / 'batch_benchmark.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
