"""On-the-fly pose augmentation in torch (training only).

All functions take root-relative poses ``[B, 17, 3]`` in metres in the canonical frame (y down = vertical)
and return new tensors. :class:`PoseAugmenter` chains them with the ranges of :class:`AugmentConfig`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from diffpose_ros.core import skeleton
from diffpose_ros.core.skeleton import nominal_height

_CHILD = torch.tensor([c for c, _ in skeleton.BONES])
_PARENT = torch.tensor([p for _, p in skeleton.BONES])
_MIRROR = torch.tensor(skeleton.MIRROR_PERMUTATION)


def rotation_y(angle: Tensor) -> Tensor:
    """Rotations about the vertical (y) axis, ``[B] -> [B, 3, 3]``."""
    c, s = torch.cos(angle), torch.sin(angle)
    zero, one = torch.zeros_like(angle), torch.ones_like(angle)
    return torch.stack([c, zero, s, zero, one, zero, -s, zero, c], dim=-1).view(-1, 3, 3)


def rotation_x(angle: Tensor) -> Tensor:
    c, s = torch.cos(angle), torch.sin(angle)
    zero, one = torch.zeros_like(angle), torch.ones_like(angle)
    return torch.stack([one, zero, zero, zero, c, -s, zero, s, c], dim=-1).view(-1, 3, 3)


def rotation_z(angle: Tensor) -> Tensor:
    c, s = torch.cos(angle), torch.sin(angle)
    zero, one = torch.zeros_like(angle), torch.ones_like(angle)
    return torch.stack([c, -s, zero, s, c, zero, zero, zero, one], dim=-1).view(-1, 3, 3)


def rotate(poses: Tensor, rot: Tensor) -> Tensor:
    """Apply per-sample rotations ``[B, 3, 3]`` to poses ``[B, J, 3]``."""
    return poses @ rot.transpose(1, 2)


def bone_vectors(poses: Tensor) -> Tensor:
    """child - parent per bone, ``[B, 16, 3]`` in skeleton.BONES order."""
    return poses[:, _CHILD] - poses[:, _PARENT]


def from_bone_vectors(bones: Tensor) -> Tensor:
    """Rebuild root-relative poses from bone vectors (parents precede children in the H36M order)."""
    joints = [torch.zeros_like(bones[:, 0])]
    for bone, (child, parent) in enumerate(skeleton.BONES):
        assert child == len(joints)
        joints.append(joints[parent] + bones[:, bone])
    return torch.stack(joints, dim=1)


def scale_limbs(poses: Tensor, group_factors: dict[str, Tensor]) -> Tensor:
    """Scale the bones of each named limb group (skeleton.LIMB_GROUPS) by ``[B]`` factors, keeping directions."""
    bones = bone_vectors(poses)
    factors = torch.ones(bones.shape[:2], dtype=poses.dtype, device=poses.device)
    for group, factor in group_factors.items():
        for child in skeleton.LIMB_GROUPS[group]:
            factors[:, child - 1] = factor  # bone index of a child joint c is c - 1 in BONES order
    return from_bone_vectors(bones * factors[..., None])


def mirror(poses: Tensor) -> Tensor:
    """Left/right mirror (negate x and swap left/right joints), as skeleton.mirror."""
    out = poses[:, _MIRROR].clone()
    out[..., 0] = -out[..., 0]
    return out


@dataclass
class AugmentConfig:
    """Augmentation ranges."""

    yaw: bool = True  # uniform in [0, 360) degrees about the vertical axis
    tilt_deg: float = 5.0  # uniform in [-tilt, tilt] about x and z
    limb_scale: float = 0.08  # per-limb-group factor in [1 - s, 1 + s], shared by left/right limbs ...
    limb_asymmetry: float = 0.02  # ... times an independent per-side factor in [1 - a, 1 + a]
    height_range_m: tuple[float, float] = (1.5, 1.95)  # global size: nominal height uniform in this range
    mirror_prob: float = 0.5


def _uniform(batch: int, low: float, high: float, generator: torch.Generator | None, like: Tensor) -> Tensor:
    return low + (high - low) * torch.rand(batch, generator=generator, dtype=like.dtype).to(like.device)


class PoseAugmenter:
    """Random yaw, tilt, per-limb bone scaling, global size and mirroring."""

    def __init__(self, cfg: AugmentConfig | None = None) -> None:
        self.cfg = cfg or AugmentConfig()

    def __call__(self, poses: Tensor, generator: torch.Generator | None = None) -> Tensor:
        cfg, batch = self.cfg, poses.shape[0]

        def u(low: float, high: float) -> Tensor:
            return _uniform(batch, low, high, generator, poses)

        if cfg.limb_scale > 0 or cfg.limb_asymmetry > 0:
            s, a = cfg.limb_scale, cfg.limb_asymmetry
            legs, arms = u(1 - s, 1 + s), u(1 - s, 1 + s)
            poses = scale_limbs(poses, {
                "right_leg": legs * u(1 - a, 1 + a), "left_leg": legs * u(1 - a, 1 + a),
                "right_arm": arms * u(1 - a, 1 + a), "left_arm": arms * u(1 - a, 1 + a),
                "torso": u(1 - s, 1 + s), "head": u(1 - s, 1 + s),
            })
        if cfg.height_range_m:
            target = u(*cfg.height_range_m)
            poses = poses * (target / nominal_height(poses))[:, None, None]
        if cfg.mirror_prob > 0:
            flip = (torch.rand(batch, generator=generator) < cfg.mirror_prob).to(poses.device)
            poses = torch.where(flip[:, None, None], mirror(poses), poses)
        rot = torch.eye(3, dtype=poses.dtype, device=poses.device).expand(batch, 3, 3)
        if cfg.tilt_deg > 0:
            tilt = math.radians(cfg.tilt_deg)
            rot = rotation_x(u(-tilt, tilt)) @ rotation_z(u(-tilt, tilt))
        if cfg.yaw:
            rot = rotation_y(u(0.0, 2 * math.pi)) @ rot
        return rotate(poses, rot)
