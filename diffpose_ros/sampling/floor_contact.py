"""Body size from floor contact: a camera at a known height above the floor, with gravity known.

2D evidence cannot tell a small person near from a big one far away, so the sampler draws each hypothesis's body
height from a stature prior (``body_height``). A robot usually knows more: how high its camera sits above the floor
(its URDF / TF) and where "down" is (an IMU). People stand on the floor, so the lowest joint of a hypothesis lies a
few centimetres above that plane (an ankle joint, ~8.5 cm in shoes, when standing; a hip or knee when kneeling).
Scaling a camera-frame skeleton about the camera centre leaves every projection unchanged, and exactly one scale
puts its lowest joint at that height: a measurement of the body's size, fused here with the stature prior.

The fusion is Gaussian in log size (the prior's sd against the floor's: the clearance's sd over the lowest joint's
drop below the camera), gated: a hypothesis whose floor-implied size lies more than ``gate`` combined sigmas from the
prior (jumping, on a chair or stairs, a wrong camera height) keeps its prior draw.
"""

from __future__ import annotations

import torch
from torch import Tensor

# height of the lowest joint above the floor, mean and sd: a standing person's ankle joint in shoes (the Bandai-Namco
# takes, lowest joint over the toe-level floor: median 8.6 cm, 5-95 % 8.5-10.2 cm, up to 20 cm running; bare-foot
# anthropometry puts the ankle ~7 cm up)
FLOOR_CLEARANCE_M = (0.085, 0.03)
MIN_DROP_M = 0.3  # the lowest joint must lie at least this far below the camera for the floor to tell its size


def floor_size_factor(pose_camera: Tensor, gravity: Tensor, camera_height: float, size_dev: Tensor,
                      stature_sd: float, clearance: tuple[float, float] = FLOOR_CLEARANCE_M,
                      gate: float = 3.0) -> tuple[Tensor, Tensor]:
    """Per-hypothesis factor ``[...]`` to scale ``pose_camera`` (``[..., J, 3]``, metres) about the camera centre,
    and whether the floor measured that hypothesis (``[...]`` bool; False: gated out, factor 1).

    ``gravity`` ``[..., 3]`` (or ``[3]``): unit "down" in the camera frame; ``camera_height``: the camera centre's
    height above the floor (m). ``size_dev`` ``[...]``: each hypothesis's log size relative to the prior's median
    stature (its draw, ``sd * z``), ``stature_sd`` that prior's sd. The fused log size keeps the hypothesis's own
    quantile ``z`` of the (narrower) posterior, so the hypotheses still spread over the sizes the floor allows.
    """
    drop = (pose_camera * gravity.to(pose_camera)[..., None, :]).sum(-1).amax(-1)  # lowest joint below the camera
    mean, sd = clearance
    target = float(camera_height) - mean  # how far below the camera the lowest joint should lie
    if stature_sd <= 0 or target <= MIN_DROP_M:  # a fixed stature, or a camera too near the floor to tell
        return torch.ones_like(drop), torch.zeros_like(drop, dtype=torch.bool)
    measured = size_dev + torch.log(target / drop.clamp_min(1e-6))  # the floor's log size, rel. to the median
    floor_sd = sd / target
    var = stature_sd ** 2 + floor_sd ** 2
    ok = drop > MIN_DROP_M
    ok &= measured.abs() <= gate * var ** 0.5
    post_mean = measured * stature_sd ** 2 / var
    post_sd = stature_sd * floor_sd / var ** 0.5
    fused = post_mean + post_sd * size_dev / stature_sd
    return torch.where(ok, torch.exp(fused - size_dev), torch.ones_like(drop)), ok
