"""Pose completion with the unconditional prior (no new model).

* Known 3D joints (root-relative metres + mask): RePaint-style inpainting. At every step the known joints of
  the clean-pose estimate are replaced by their values and those of ``x_{t_prev}`` by a fresh
  ``q_sample(known, t_prev)``; optional resampling (``resample_steps > 1``) re-noises ``x_{t_prev} -> x_t``
  and repeats the step so the unknown joints harmonise with the known ones. Known joints are returned exactly.
* Known 2D joints only (image px + camera): guidance with the Gaussian keypoint likelihood
  (:class:`.guidance.KeypointLikelihood`); combinable with known 3D joints.
"""

from __future__ import annotations

import numpy as np
import torch

from ..core.camera import PinholeCamera
from ..core.skeleton import NUM_JOINTS
from .guidance import KeypointLikelihood
from .sampler import GuidedSampler, Inpainting, SampleResult


class PoseCompleter:
    """Sample the missing joints of partially known poses.

    Args:
        prior: a ``PosePrior``.
        num_steps: DDIM steps.
        num_hypotheses: samples per call.
        resample_steps: RePaint repetitions per step (1 = plain replacement).
        eta: DDIM eta (some noise helps the unknown joints adapt to the known ones).
        guidance_scale: strength of the 2D keypoint guidance (``complete`` with ``keypoints``).
        keypoint_sigma_px: std of the keypoint likelihood (image px).
        seed: generator seed.
    """

    def __init__(self, prior, num_steps: int = 25, num_hypotheses: int = 16, resample_steps: int = 2,
                 eta: float = 0.5, guidance_scale: float = 0.5, keypoint_sigma_px: float = 6.0,
                 seed: int | None = 0) -> None:
        self.prior = prior
        self.resample_steps = int(resample_steps)
        self.keypoint_sigma_px = float(keypoint_sigma_px)
        self.sampler = GuidedSampler(prior, num_steps=num_steps, num_hypotheses=num_hypotheses,
                                     guidance_scale=guidance_scale, eta=eta, seed=seed)

    def complete(self, known_joints=None, known_mask=None, keypoints=None, scores=None,
                 camera: PinholeCamera | None = None, num_hypotheses: int | None = None,
                 known_depth: float | None = None) -> SampleResult:
        """Complete a pose from known 3D joints and/or 2D keypoints.

        Args:
            known_joints: ``[17, 3]`` root-relative metres (camera axes); rows outside ``known_mask`` ignored.
            known_mask: ``[17]`` bool. The pelvis is the origin of root-relative poses, hence always known.
            keypoints: ``[17, 2]`` image px (NaN = unknown) with optional ``scores [17]``; needs ``camera``.
        Returns:
            :class:`.sampler.SampleResult`; known 3D joints equal ``known_joints`` exactly in
            ``poses_root_relative``.
        """
        inpainting = None
        if known_joints is not None:
            if known_mask is None:
                raise ValueError("known_mask is required with known_joints")
            inpainting = self.inpainting(known_joints, known_mask)
        likelihood = None
        if keypoints is not None:
            if camera is None:
                raise ValueError("2D completion needs a camera")
            likelihood = KeypointLikelihood(keypoints, scores, sigma_px=self.keypoint_sigma_px)
            if float(likelihood.weights.sum()) == 0:
                likelihood = None
        return self.sampler.sample(None, camera, num_hypotheses=num_hypotheses, known_depth=known_depth,
                                   likelihood=likelihood, inpainting=inpainting)

    def inpainting(self, known_joints, known_mask) -> Inpainting:
        """The :class:`.sampler.Inpainting` spec (model space) for known root-relative joints."""
        known = torch.as_tensor(np.asarray(known_joints, dtype=np.float32)).reshape(NUM_JOINTS, 3)
        mask = torch.as_tensor(np.asarray(known_mask, dtype=bool)).reshape(NUM_JOINTS).clone()
        mask[0] = True
        if not bool(torch.isfinite(known[mask]).all()):
            raise ValueError("known joints must be finite")
        known = torch.where(mask[:, None], known, torch.zeros_like(known))
        known = known - known[:1]  # root-relative by definition
        known_model = self.prior.to_model_space(known[None].to(self.sampler.device))[0]
        return Inpainting(known_model=known_model, mask=mask, resample_steps=self.resample_steps,
                          known_metric=known)
