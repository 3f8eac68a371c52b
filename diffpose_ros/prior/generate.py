"""Unconditional pose generation from the prior (plain DDIM / DDPM loop) and a CLI writing npz + PNG.

    python -m diffpose_ros.prior.generate --num 16 --steps 10 --out out/gen [--weights PATH] [--seed 0]

The guided sampler of ``diffpose_ros.sampling`` is the general scheduler; this loop is for checking the prior.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from diffpose_ros.prior.pose_prior import PosePrior
from diffpose_ros.sampling.config import DEFAULT as SAMPLER


@torch.no_grad()
def sample_model_space(prior: PosePrior, m: int, steps: int = SAMPLER.num_steps, seed: int | None = 0,
                       eta: float = SAMPLER.eta,
                       clip: float | None = 5.0) -> torch.Tensor:
    """Unguided DDIM (eta=0) / ancestral (eta=1) sampling with the project's scheduler; x0 ``[m, 17, 3]`` model space.

    Uses :class:`diffpose_ros.sampling.scheduler.DDIMScheduler` ("trailing" grid: first step at T-1). ``clip``
    bounds the predicted x0 per coordinate (model units, ~0.3 m each) at every step.
    """
    from diffpose_ros.sampling.scheduler import DDIMScheduler

    gen = torch.Generator(device="cpu")
    if seed is not None:
        gen.manual_seed(seed)
    scheduler = DDIMScheduler(prior.alphas_cumprod.detach().cpu(), "trailing", clip)
    scheduler.set_timesteps(steps)
    x = torch.randn((m, 17, 3), generator=gen).to(prior.device)
    x0 = x
    for t in scheduler.timesteps.tolist():
        eps = prior.predict_noise(x, torch.full((m,), t, dtype=torch.long, device=prior.device))
        noise = torch.randn((m, 17, 3), generator=gen).to(prior.device) if eta > 0 else None
        x, x0 = scheduler.step(eps, t, x, eta, variance_noise=noise)
    return x0


def sample_poses(prior: PosePrior, m: int, steps: int = SAMPLER.num_steps, seed: int | None = 0,
                 eta: float = SAMPLER.eta) -> np.ndarray:
    """``m`` poses ``[m, 17, 3]`` in metres (root-relative, canonical camera axes)."""
    x0 = sample_model_space(prior, m, steps, seed, eta)
    pose = prior.from_model_space(x0)
    return (pose - pose[:, :1]).cpu().numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--eta", type=float, default=SAMPLER.eta, help="0 = DDIM, 1 = ancestral (default: the "
                        "sampler's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped weights")
    parser.add_argument("--out", type=Path, default=Path("out/gen"))
    args = parser.parse_args()

    from diffpose_ros.prior.plotting import save_skeleton_grid

    torch.set_num_threads(1)
    prior = PosePrior.load(args.weights)
    poses = sample_poses(prior, args.num, args.steps, args.seed, args.eta)
    args.out.mkdir(parents=True, exist_ok=True)
    npz = args.out / "poses.npz"
    np.savez(npz, poses=poses, steps=args.steps, seed=args.seed, eta=args.eta)
    png = save_skeleton_grid(poses, args.out / "poses.png",
                             title=f"prior samples: {args.steps} steps, eta {args.eta}, seed {args.seed}")
    print(f"wrote {npz} and {png}")


if __name__ == "__main__":
    main()
