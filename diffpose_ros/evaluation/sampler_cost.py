"""Sampler cost side by side: CPU ms per person-frame of presets and settings on the same noisy proxy views.

    python -m diffpose_ros.evaluation.sampler_cost [--poses 5] [--variants default fast accurate \
        default:restart_below=0.5] [--repeats 3] [--out out/sampler_cost]

A variant is a preset name, optionally with overrides (``PRESET:name=value,name=value``). Every variant samples
every view in turn (round robin: a busy shared CPU slows all of them alike), m=16 hypotheses, one thread, known
gravity, the proxy's noisy synthetic heatmaps (so the gross-error drop and its re-runs happen as often as on the
proxy). The first round is a warm-up. Reports median / mean / min CPU ms per call, the ratio of means to the first
variant and the share of calls that re-ran after the drop; prints a table and writes ``results.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from .h36m_observations import synthetic_observation
from .proxy_benchmark import ProxyFrame, load_heldout, make_frames
from .synthetic_heatmaps import SyntheticConfig


def parse_variant(spec: str):
    """``PRESET`` or ``PRESET:name=value,...`` -> a :class:`~diffpose_ros.sampling.config.SamplerConfig`."""
    from ..sampling.config import PRESETS, SamplerConfig

    name, _, overrides = spec.partition(":")
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r} in {spec!r} (have {', '.join(PRESETS)})")
    pairs = [kv.split("=", 1) for kv in overrides.split(",") if kv]
    if any(len(p) != 2 for p in pairs):
        raise ValueError(f"overrides are name=value, got {spec!r}")
    return SamplerConfig.from_strings(dict(pairs), PRESETS[name])


def measure(prior, variants: dict, frames: list[ProxyFrame], repeats: int = 3, m: int = 16, seed: int = 0) -> dict:
    """CPU ms per ``sample`` call of each variant (label -> SamplerConfig) over ``frames``, round robin."""
    import torch

    torch.set_num_threads(1)
    samplers = {label: cfg.build(prior, seed=seed) for label, cfg in variants.items()}
    cfg = SyntheticConfig()
    obs = [synthetic_observation(fr.keypoints, np.random.default_rng(fr.seed), cfg) for fr in frames]
    ms: dict[str, list] = {label: [] for label in samplers}
    rerun: dict[str, int] = dict.fromkeys(samplers, 0)
    for rnd in range(repeats + 1):
        for fr, ob in zip(frames, obs):
            for label, sampler in samplers.items():
                c0 = time.process_time()
                res = sampler.sample(ob, fr.camera, num_hypotheses=m, gravity=fr.gravity)
                if rnd:  # round 0 warms up (traced network, allocator)
                    ms[label].append(1000 * (time.process_time() - c0))
                    rerun[label] += bool(res.info.get("restarted"))
    first = next(iter(ms))
    out = {"calls_per_variant": repeats * len(frames), "m": m, "variants": {}}
    for label, v in ms.items():
        out["variants"][label] = {
            "settings": variants[label].kwargs(), "median_ms": float(np.median(v)), "mean_ms": float(np.mean(v)),
            "min_ms": float(np.min(v)), "mean_ratio": float(np.mean(v) / np.mean(ms[first])),
            "rerun_share": rerun[label] / len(v)}
    return out


def table(results: dict) -> str:
    w = max(len("variant"), *map(len, results["variants"])) + 2
    lines = [f"{'variant':<{w}}{'median ms':>10}{'mean ms':>9}{'min ms':>8}{'x first':>8}{'re-run':>8}"]
    for label, r in results["variants"].items():
        lines.append(f"{label:<{w}}{r['median_ms']:10.1f}{r['mean_ms']:9.1f}{r['min_ms']:8.1f}"
                     f"{r['mean_ratio']:8.2f}{r['rerun_share']:8.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=None, help="prior weights (default: shipped)")
    parser.add_argument("--poses", type=int, default=5, help="held-out poses, four Human3.6M views each")
    parser.add_argument("--variants", nargs="+", default=["default", "fast", "accurate"],
                        help="PRESET or PRESET:name=value,... (the first is the reference)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds over the views (after a warm-up)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/sampler_cost"))
    args = parser.parse_args(argv)
    try:
        variants = {spec: parse_variant(spec) for spec in args.variants}
    except ValueError as exc:
        parser.error(str(exc))
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")

    from ..prior.pose_prior import PosePrior

    prior = PosePrior.load(args.weights)
    poses, cats = load_heldout(args.poses, args.seed)
    frames = make_frames(poses, cats, "h36m", args.seed)
    results = measure(prior, variants, frames, args.repeats, seed=args.seed)
    results["views"] = len(frames)
    print(table(results))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(f"wrote {args.out / 'results.json'}")
    return results


if __name__ == "__main__":
    main()
