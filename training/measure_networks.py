"""Measure one denoiser forward (batch 16, CPU, 1 thread by default) for candidate architectures.

Usage: python training/measure_networks.py [--threads 1] [--batch 16]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffpose_ros.prior.network import NetworkConfig
from diffpose_ros.prior.pose_prior import PosePrior

CANDIDATES: dict[str, NetworkConfig] = {
    "mlp w256 d3": NetworkConfig("mlp", width=256, depth=3),
    "mlp w256 d4": NetworkConfig("mlp", width=256, depth=4),
    "mlp w320 d4": NetworkConfig("mlp", width=320, depth=4),
    "mlp w384 d3": NetworkConfig("mlp", width=384, depth=3),
    "mlp w384 d4": NetworkConfig("mlp", width=384, depth=4),
    "mlp w512 d3": NetworkConfig("mlp", width=512, depth=3),
    "mlp w512 d4": NetworkConfig("mlp", width=512, depth=4),
    "transformer w64 d2 h4": NetworkConfig("transformer", width=64, depth=2, heads=4),
    "transformer w128 d3 h4": NetworkConfig("transformer", width=128, depth=3, heads=4),
}


def time_forward(prior: PosePrior, batch: int, with_grad: bool = False, repeats: int = 300) -> float:
    """Median milliseconds of one ``predict_noise`` call on a [batch, 17, 3] input.

    ``with_grad``: forward plus backward to x_t (what a gradient-guided sampler pays per step).
    """
    x = torch.randn(batch, 17, 3)
    t = torch.full((batch,), 500, dtype=torch.long)

    def call() -> None:
        if with_grad:
            xg = x.clone().requires_grad_(True)
            prior.predict_noise(xg, t).sum().backward()
        else:
            with torch.inference_mode():
                prior.predict_noise(x, t)

    times = []
    for _ in range(30):
        call()
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    times.sort()
    return 1000 * times[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{'network':28s} {'params':>9s} {'ms/forward':>11s} {'ms/fwd+bwd':>11s}"
          f"  (batch {args.batch}, {args.threads} thread(s), median)")
    for name, cfg in CANDIDATES.items():
        prior = PosePrior(cfg).eval()
        params = sum(p.numel() for p in prior.network.parameters())
        fwd, fwd_bwd = time_forward(prior, args.batch), time_forward(prior, args.batch, with_grad=True)
        print(f"{name:28s} {params:9d} {fwd:11.3f} {fwd_bwd:11.3f}")


if __name__ == "__main__":
    main()
