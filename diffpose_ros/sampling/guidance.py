"""2D likelihoods of a 3D pose and the guidance step they give (gradient w.r.t. the predicted clean pose).

Two likelihoods share one small interface (:class:`Likelihood`):

* :class:`HeatmapLikelihood`: bicubic (or bilinear) samples of per-joint log-probability heatmaps (the detector
  contract in :mod:`diffpose_ros.detector.base`) at the projected joints. Far tails become a cone sloping toward
  the peak, and off the map the value keeps falling linearly, so there is always a gentle pull back; channels
  with NaN/+inf or no channel get weight 0.
* :class:`KeypointLikelihood`: isotropic Gaussians around 2D keypoints (detectors without heatmaps).

:func:`guidance_delta` differentiates only the projection graph (pose -> pixels -> likelihood), never the
denoiser: in closed form by default (pinhole Jacobian and interpolation derivative; ~2x faster), or by torch
autograd on the same small graph (``method="autograd"``, the reference the tests compare against). The gradient
becomes a per-joint displacement with a Gauss-Newton-like preconditioner, so ``scale`` reads as "fraction of the
way to the likelihood peak (in the image) per step".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from ..core.camera import MIN_DEPTH, PinholeCamera, torch_intrinsics
from ..core.skeleton import NUM_JOINTS
from .interpolation import bicubic_sample, bilinear_sample, blur_matrix


class Likelihood(Protocol):
    """Per-joint 2D log-likelihood of projected joints."""

    weights: Tensor  # [J] >= 0; 0 = no guidance for that joint

    def per_joint(self, pixels: Tensor) -> Tensor:
        """``[B, J, 2]`` image px -> ``[B, J]`` log-likelihood (unweighted)."""
        ...

    def per_joint_and_grad(self, pixels: Tensor) -> tuple[Tensor, Tensor]:
        """``per_joint`` plus its derivative w.r.t. the pixels, ``[B, J, 2]``."""
        ...

    def variance_px(self) -> Tensor:
        """``[J]`` typical variance (image px^2) of the likelihood peak, for the preconditioner."""
        ...

    def targets(self) -> tuple[Tensor, Tensor]:
        """``([J, 2] image px, [J] weights)``: point estimates of the joints for the root translation."""
        ...

    def to(self, device: torch.device | str) -> "Likelihood":
        """Move the per-step tensors to ``device``."""
        ...


def _to_tensor(x, dtype=torch.float32) -> Tensor:
    if isinstance(x, Tensor):
        return x.to(dtype)
    arr = np.asarray(x)
    return torch.as_tensor(arr if arr.flags.writeable else arr.copy(), dtype=dtype)


def normalize_log_heatmaps(heatmaps, dynamic_range: float = 50.0) -> tuple[Tensor, Tensor]:
    """Log-softmax ``[J, H, W]`` heatmaps (log-probs or raw logits) per channel; return ``(log_probs, usable)``.

    A channel is unusable (weight 0) if it has any NaN or +inf or no finite value; ``-inf`` pixels are allowed
    (zero probability). Values are clamped to ``max - dynamic_range`` so far tails neither dominate gradients
    nor reach the -1e4 floor of the detector contract. Unusable channels are filled with zeros (finite, never
    read with weight > 0).
    """
    x = _to_tensor(heatmaps).float()
    if x.dim() != 3:
        raise ValueError(f"heatmaps must be [J, H, W], got {tuple(x.shape)}")
    flat = x.reshape(x.shape[0], -1)
    usable = torch.isfinite(flat).any(dim=1) & ~(torch.isnan(flat) | (flat == math.inf)).any(dim=1)
    rows = flat if bool(usable.all()) else flat[usable]
    logp = torch.log_softmax(rows, dim=1)  # idempotent for log-probs; -inf (zero probability) meets the floor
    logp = torch.maximum(logp, logp.max(dim=1, keepdim=True).values - float(dynamic_range))
    if rows is not flat:
        logp = torch.zeros_like(flat).index_put_((usable,), logp)
    return logp.reshape(x.shape), usable


class HeatmapLikelihood:
    """Heatmap log-likelihood of projected joints (detector contract: log-probs, affine image->heatmap px).

    Args:
        heatmaps: ``[J, H, W]`` log-probabilities or logits (numpy or torch); NaN rows = no channel.
        image_to_heatmap: ``[2, 3]`` affine image px -> heatmap px (cell centres at integers).
        has_heatmap: optional ``[J]`` bool; False -> weight 0.
        scores: optional ``[J]`` confidences; joints below ``min_score`` get weight 0; with ``score_weighting``
            the weight is the score itself.
        dynamic_range: log-probs are clamped to ``max - dynamic_range`` per channel; below that a cone
            (slope ``outside_slope`` per heatmap px) descending from the peak keeps a pull toward it.
        smoothing: mass of a blurred copy mixed into each map, ``p' = (1 - s) p + s blur(p)``: gives a gentle
            pull toward the detection from far away (where a sharp map is flat noise); 0 = off (default: on
            clean synthetic maps it slows convergence near the peak more than it helps far away).
        smoothing_sigma: std (heatmap px) of that blur; default an eighth of the map size.
        outside_slope: log-likelihood lost per heatmap px outside the map (the pull back toward it).
        interpolation: ``"bicubic"`` (default, sub-pixel peaks) or ``"bilinear"``.
    """

    def __init__(self, heatmaps, image_to_heatmap, has_heatmap=None, scores=None, min_score: float = 0.0,
                 score_weighting: bool = False, dynamic_range: float = 50.0, smoothing: float = 0.0,
                 smoothing_sigma: float | None = None, outside_slope: float = 0.5,
                 interpolation: str = "bicubic") -> None:
        logp, usable = normalize_log_heatmaps(heatmaps, dynamic_range=1e9)  # tail: cone, see below
        self.num_joints, self.height, self.width = logp.shape
        if interpolation not in ("bicubic", "bilinear"):
            raise ValueError(f"unknown interpolation {interpolation!r}")
        self._sample = bicubic_sample if interpolation == "bicubic" else bilinear_sample
        w = usable.float()
        if has_heatmap is not None:
            w = w * _to_tensor(has_heatmap, torch.bool).float()
        if scores is not None:
            s = _to_tensor(scores).float()
            s = torch.where(torch.isfinite(s), s, torch.zeros_like(s))
            w = w * (s >= min_score).float() * (s >= 0).float() * (s.clamp(0, 1) if score_weighting else 1.0)
        self.weights = w
        self.flat = logp.reshape(self.num_joints, -1).contiguous()
        self._peaks_hm, self._var_hm = self._peak_statistics()  # of the sharp maps
        if smoothing > 0:
            sig = float(smoothing_sigma or max(self.height, self.width) / 8)
            p = logp.exp()
            blurred = blur_matrix(self.height, sig) @ p @ blur_matrix(self.width, sig).T
            mixed = torch.log((1 - smoothing) * p + smoothing * blurred + 1e-30)
            self.flat = torch.where(usable[:, None], mixed.reshape(self.num_joints, -1), 0.0).contiguous()
        self.outside_slope = float(outside_slope)
        self._size = torch.tensor([self.width - 1.0, self.height - 1.0])  # the map's last cell (x, y)
        self._add_far_field_cone(float(dynamic_range), usable)
        a = _to_tensor(image_to_heatmap, torch.float64).reshape(2, 3)
        if not torch.isfinite(a).all() or abs(float(torch.linalg.det(a[:, :2]))) < 1e-12:
            raise ValueError("image_to_heatmap must be a finite, invertible 2x3 affine")
        self.affine = a.float()
        self.num_people = 1
        self._lin_t = self.affine[:, :2].T.contiguous()
        self._lin = self.affine[:, :2].contiguous()
        self._off = self.affine[:, 2]
        self.pixel_scale = math.sqrt(abs(float(torch.linalg.det(a[:, :2]))))  # heatmap px per image px
        self._var_px = self._var_hm / self.pixel_scale**2
        self._targets: Tensor | None = None  # heatmap peaks in image px, computed on first use

    def to(self, device: torch.device | str) -> "HeatmapLikelihood":
        """Move the tensors used per step to ``device`` (in place; returns self)."""
        for name in ("flat", "weights", "affine", "_lin_t", "_lin", "_off", "_var_px", "_peaks_hm", "_var_hm", "_size"):
            setattr(self, name, getattr(self, name).to(device))
        if self._targets is not None:
            self._targets = self._targets.to(device)
        return self

    def _add_far_field_cone(self, dynamic_range: float, usable: Tensor) -> None:
        """Replace the flat clamped tail (``max - dynamic_range``) by a cone descending away from the peak.

        Where a map is clamped (e.g. a Gaussian far from its centre, or the contract's -1e4 floor) it would give
        no gradient; the cone keeps a gentle ``outside_slope`` pull toward the peak there.
        """
        J, H, W = self.num_joints, self.height, self.width
        top = self.flat.max(dim=1, keepdim=True).values
        peak = self._peaks_hm  # [J, 2] (col, row)
        cols = torch.arange(W, dtype=torch.float32)
        rows = torch.arange(H, dtype=torch.float32)
        d = torch.sqrt((cols[None, None, :] - peak[:, 0, None, None]) ** 2
                       + (rows[None, :, None] - peak[:, 1, None, None]) ** 2).reshape(J, -1)
        cone = top - dynamic_range - self.outside_slope * d
        self.flat = torch.where(usable[:, None], torch.maximum(self.flat, cone), self.flat).contiguous()

    def to_heatmap(self, pixels: Tensor) -> Tensor:
        """Image px ``[..., 2]`` -> heatmap px."""
        lin, off = self._lin_t, self._off
        if pixels.dtype != lin.dtype:
            lin, off = lin.to(pixels.dtype), off.to(pixels.dtype)
        return pixels @ lin + off

    def _outside(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """Signed per-axis overshoot past the map border ``[..., 2]`` and its length ``[...]``."""
        size = self._size if self._size.dtype == h.dtype else self._size.to(h.dtype)
        s = h - torch.minimum(h.clamp_min(0.0), size)
        return s, (s * s).sum(-1).clamp_min(1e-24).sqrt()

    def _lookup(self, h: Tensor, with_grad: bool):
        """Interpolate the maps at heatmap px ``h [..., J, 2]`` (stacked: ``[P, n, J, 2]``, person p's joints
        read person p's maps)."""
        if self.num_people == 1:
            return self._sample(self.flat, self.height, self.width, h, with_grad=with_grad)
        P, n, J = h.shape[0], h.shape[1], h.shape[2]  # lookups index joint rows: people side by side as joints
        out = self._sample(self.flat, self.height, self.width, h.transpose(0, 1).reshape(n, P * J, 2),
                           with_grad=with_grad)
        unstack = lambda x: x.reshape(n, P, J, *x.shape[2:]).transpose(0, 1)  # noqa: E731
        return tuple(unstack(x) for x in out) if with_grad else unstack(out)

    def per_joint(self, pixels: Tensor) -> Tensor:
        h = self.to_heatmap(pixels)
        value = self._lookup(h, with_grad=False)
        s, d = self._outside(h)
        return torch.where((s != 0).any(-1), value - self.outside_slope * d, value)

    def per_joint_and_grad(self, pixels: Tensor) -> tuple[Tensor, Tensor]:
        """Log-likelihood ``[B, J]`` and its analytic derivative w.r.t. the image pixels ``[B, J, 2]``."""
        h = self.to_heatmap(pixels)
        value, g_h = self._lookup(h, with_grad=True)
        s, d = self._outside(h)
        out = (s != 0).any(-1)
        if bool(out.any()):  # off the map: border value minus a linear pull back toward it (s = 0 inside)
            value = torch.where(out, value - self.outside_slope * d, value)
            g_h = g_h - self.outside_slope * s / d[..., None]
        lin = self._lin if g_h.dtype == self._lin.dtype else self._lin.to(g_h.dtype)
        return value, g_h @ lin

    @classmethod
    def stack(cls, likelihoods: "list[HeatmapLikelihood]") -> "HeatmapLikelihood":
        """P people's likelihoods (same map size and settings) as one, evaluated side by side: pixels
        ``[P, n, J, 2]`` -> ``[P, n, J]``; weights, variances and targets gain a ``[P, 1]`` lead."""
        first = likelihoods[0]
        if any(not can_stack(first, lik) for lik in likelihoods):
            raise ValueError("only heatmap likelihoods of one map size and settings stack")
        out = cls.__new__(cls)
        out.__dict__.update(first.__dict__)
        out.num_people = len(likelihoods)
        out.flat = torch.cat([lik.flat for lik in likelihoods])
        for name in ("weights", "_var_px", "_var_hm", "_peaks_hm", "affine", "_lin_t", "_lin"):
            out.__dict__[name] = torch.stack([getattr(lik, name) for lik in likelihoods])[:, None]
        out._off = out.affine[..., 2][:, :, None]  # [P, 1, 1, 2]
        out._targets = torch.stack([lik.targets()[0] for lik in likelihoods])[:, None]
        return out

    def _peak_statistics(self, radius: int = 3) -> tuple[Tensor, Tensor]:
        """Sub-pixel peaks (local soft-argmax around the argmax) and local variances, heatmap px."""
        J, H, W = self.num_joints, self.height, self.width
        idx = self.flat.argmax(dim=1)
        r0, c0 = idx // W, idx % W
        off = torch.arange(-radius, radius + 1)
        rows = (r0[:, None] + off[None]).clamp(0, H - 1)  # [J, k]
        cols = (c0[:, None] + off[None]).clamp(0, W - 1)
        logp = self.flat.reshape(J, H, W)
        patch = logp[torch.arange(J)[:, None, None], rows[:, :, None], cols[:, None, :]]  # [J, k, k]
        p = torch.softmax(patch.reshape(J, -1).double(), dim=1).reshape(patch.shape)
        rr = rows[:, :, None].double().expand_as(p)
        cc = cols[:, None, :].double().expand_as(p)
        mr, mc = (p * rr).sum((1, 2)), (p * cc).sum((1, 2))
        var = 0.5 * ((p * (rr - mr[:, None, None]) ** 2).sum((1, 2)) + (p * (cc - mc[:, None, None]) ** 2).sum((1, 2)))
        return torch.stack([mc, mr], dim=1).float(), var.clamp(0.25, 16.0).float()

    def variance_px(self) -> Tensor:
        return self._var_px

    def targets(self) -> tuple[Tensor, Tensor]:
        """Heatmap peaks in image px ``[J, 2]`` and the joint weights (computed once)."""
        if self._targets is None or self._targets.device != self.affine.device:  # (stacked: set by stack)
            a = self.affine.double()
            inv = torch.linalg.inv(torch.cat([a, a.new_tensor([[0.0, 0.0, 1.0]])]))[:2]
            self._targets = (self._peaks_hm.double() @ inv[:, :2].T + inv[:, 2]).float()
        return self._targets, self.weights


class KeypointLikelihood:
    """Isotropic Gaussian log-likelihood around 2D keypoints (image px), std ``sigma_px`` (scalar or [J])."""

    def __init__(self, keypoints, scores=None, sigma_px: float | np.ndarray = 8.0, min_score: float = 0.0,
                 score_weighting: bool = True) -> None:
        kp = _to_tensor(keypoints).float().reshape(-1, 2)
        valid = torch.isfinite(kp).all(dim=1)
        w = valid.float()
        if scores is not None:
            s = _to_tensor(scores).float()
            s = torch.where(torch.isfinite(s), s, torch.zeros_like(s)).clamp(0, 1)
            w = w * (s >= min_score).float() * (s > 0).float() * (s if score_weighting else 1.0)
        self.num_joints = kp.shape[0]
        self.keypoints = torch.where(valid[:, None], kp, torch.zeros_like(kp))
        self.weights = w
        sig = torch.as_tensor(sigma_px, dtype=torch.float32).expand(self.num_joints)
        if not (torch.isfinite(sig) & (sig > 0)).all():
            raise ValueError("sigma_px must be finite and > 0")
        self.sigma2 = sig * sig

    def per_joint(self, pixels: Tensor) -> Tensor:
        d2 = ((pixels - self.keypoints) ** 2).sum(-1)
        return -0.5 * d2 / self.sigma2 - torch.log(2 * math.pi * self.sigma2)

    def per_joint_and_grad(self, pixels: Tensor) -> tuple[Tensor, Tensor]:
        diff = pixels - self.keypoints
        ll = -0.5 * (diff * diff).sum(-1) / self.sigma2 - torch.log(2 * math.pi * self.sigma2)
        return ll, -diff / self.sigma2[..., None]

    def variance_px(self) -> Tensor:
        return self.sigma2

    @classmethod
    def stack(cls, likelihoods: "list[KeypointLikelihood]") -> "KeypointLikelihood":
        """P people's keypoint likelihoods side by side (see :meth:`HeatmapLikelihood.stack`)."""
        out = cls.__new__(cls)
        out.num_joints = likelihoods[0].num_joints
        out.keypoints, out.weights, out.sigma2 = (
            torch.stack([getattr(lik, name) for lik in likelihoods])[:, None]
            for name in ("keypoints", "weights", "sigma2"))
        return out

    def to(self, device: torch.device | str) -> "KeypointLikelihood":
        """Move to ``device`` (in place; returns self)."""
        self.keypoints, self.weights, self.sigma2 = (x.to(device) for x in (self.keypoints, self.weights, self.sigma2))
        return self

    def targets(self) -> tuple[Tensor, Tensor]:
        return self.keypoints, self.weights


def can_stack(a: Likelihood, b: Likelihood) -> bool:
    """Whether two people's likelihoods can be evaluated side by side (:func:`stack_likelihoods`)."""
    if isinstance(a, HeatmapLikelihood) and isinstance(b, HeatmapLikelihood):
        return (a.num_people == b.num_people == 1 and (a.num_joints, a.height, a.width) == (b.num_joints, b.height,
                b.width) and a._sample is b._sample and a.outside_slope == b.outside_slope
                and a.flat.device == b.flat.device)
    return isinstance(a, KeypointLikelihood) and isinstance(b, KeypointLikelihood) and a.num_joints == b.num_joints


def stack_likelihoods(likelihoods: "list[Likelihood]") -> "Likelihood | None":
    """One likelihood for P people evaluated side by side (pixels ``[P, n, J, 2]``), or None when they
    cannot stack (mixed kinds or map sizes: then guide them one by one)."""
    first = likelihoods[0]
    if not all(can_stack(first, lik) for lik in likelihoods):
        return None
    return type(first).stack(likelihoods)


def weighted_log_likelihood(likelihood: Likelihood, pose_camera: Tensor, camera: PinholeCamera) -> Tensor:
    """Summed weighted log-likelihood ``[B]`` of camera-frame poses ``[B, J, 3]`` (metres)."""
    return (likelihood.per_joint(camera.project(pose_camera)) * likelihood.weights).sum(-1)


def log_likelihood_gradient(likelihood: Likelihood, pose_camera: Tensor, camera: PinholeCamera,
                            method: str = "analytic") -> tuple[Tensor, Tensor]:
    """``(d ll / d pose [B, J, 3], ll [B])`` of the summed weighted log-likelihood.

    Only the projection graph is differentiated (never the denoiser): ``"analytic"`` (default, fastest) uses
    the closed-form pinhole Jacobian and bilinear derivative; ``"autograd"`` runs torch autograd on the same
    small graph (reference implementation, used by the tests to check the analytic one).
    """
    if method == "autograd":
        with torch.enable_grad():
            p = pose_camera.detach().clone().requires_grad_(True)
            ll = weighted_log_likelihood(likelihood, p, camera)
            (grad,) = torch.autograd.grad(ll.sum(), p)
        return grad, ll.detach()
    if method != "analytic":
        raise ValueError(f"unknown gradient method {method!r}")
    f, c = torch_intrinsics(camera, pose_camera)
    z = pose_camera[..., 2:]
    inv_z = 1.0 / z.clamp_min(MIN_DEPTH)
    fq = pose_camera[..., :2] * inv_z * f  # pixels relative to the principal point
    ll, g = likelihood.per_joint_and_grad(fq + c)
    w = likelihood.weights
    g = g * w[..., None]
    gz = -(g * fq).sum(-1, keepdim=True) * inv_z
    gz = torch.where(z > MIN_DEPTH, gz, torch.zeros_like(gz))  # clamped depth: no z-gradient
    return torch.cat([g * f * inv_z, gz], dim=-1), (ll * w).sum(-1)


def guidance_delta(likelihood: Likelihood, pose_camera: Tensor, camera: PinholeCamera, scale: float,
                   preconditioned: bool = True, max_step: float = 0.3, method: str = "analytic"
                   ) -> tuple[Tensor, Tensor]:
    """Displacement ``[B, J, 3]`` (metres) of each joint that increases the 2D likelihood, and the ll ``[B]``.

    Preconditioned (default): ``delta = scale * var_px / (f / z)^2 * grad``; for a Gaussian peak this moves the
    projected joint ``scale`` of the way to the peak. Otherwise plain gradient ascent ``scale * grad``.
    Each joint's step is clipped to ``max_step`` metres.
    """
    grad, ll = log_likelihood_gradient(likelihood, pose_camera, camera, method)
    if scale == 0:
        return torch.zeros_like(grad), ll
    if preconditioned:
        z = pose_camera[..., 2].clamp_min(MIN_DEPTH)
        precond = likelihood.variance_px() * (z * z * (scale / (camera.fx * camera.fy)))
        delta = grad * precond[..., None]
    else:
        delta = scale * grad
    norm = delta.norm(dim=-1, keepdim=True)
    delta = delta * (max_step / norm.clamp_min(max_step))
    return delta, ll


GuidanceSchedule = Callable[[float], float]


def make_guidance_schedule(kind: str | GuidanceSchedule = "constant", start: float = 1.0) -> GuidanceSchedule:
    """Scale multiplier as a function of ``s = t / T`` in [0, 1) (1 = pure noise).

    ``constant``: 1; ``linear``: ``1 - s`` (stronger as noise goes); ``late``: 1 only for ``s < start``;
    a callable is returned unchanged.
    """
    if callable(kind):
        return kind
    if kind == "constant":
        return lambda s: 1.0
    if kind == "linear":
        return lambda s: 1.0 - s
    if kind == "late":
        return lambda s: 1.0 if s < start else 0.0
    raise ValueError(f"unknown guidance schedule {kind!r}")


def observation_likelihood(observation, kind: str = "auto", min_score: float = 0.05,
                           keypoint_sigma_px: float = 8.0) -> Likelihood | None:
    """Build the likelihood for a detector observation (PersonObservation-like object or dict).

    ``kind``: ``"heatmap"``, ``"keypoints"`` or ``"auto"`` (heatmaps when present and any channel is usable).
    Returns None when nothing usable is observed.
    """
    if observation is None:
        return None
    get = observation.get if isinstance(observation, dict) else lambda k, d=None: getattr(observation, k, d)
    heatmaps, affine = get("heatmaps"), get("image_to_heatmap")
    keypoints, scores, has = get("keypoints"), get("scores"), get("has_heatmap")
    lik: Likelihood | None = None
    if kind in ("auto", "heatmap") and heatmaps is not None and affine is not None:
        lik = HeatmapLikelihood(heatmaps, affine, has_heatmap=has, scores=scores, min_score=min_score)
        if kind == "auto" and float(lik.weights.sum()) == 0:
            lik = None
    elif kind == "heatmap":
        raise ValueError("heatmap guidance needs heatmaps and image_to_heatmap")
    if lik is None and kind in ("auto", "keypoints") and keypoints is not None:
        lik = KeypointLikelihood(keypoints, scores, sigma_px=keypoint_sigma_px, min_score=min_score)
    if lik is not None and float(lik.weights.sum()) == 0:
        return None
    if lik is not None and lik.weights.shape[0] != NUM_JOINTS:
        raise ValueError(f"expected {NUM_JOINTS} joints, got {lik.weights.shape[0]}")
    return lik
