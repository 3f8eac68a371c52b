"""Heatmap-guided diffusion sampling of 3D pose hypotheses from one detector observation.

Every denoising step: predict eps with the prior (no autograd), form the clean-pose estimate x0 (upright, in the
gravity-aligned level frame), early on turn it to the heading that best explains the 2D evidence, rotate it into
the camera and place it with a Gauss-Newton root translation, move it up the 2D likelihood (gradient through the
projection only, see :mod:`.guidance`), write the corrected x0 back and take a DDIM step. Every second step
the m hypotheses are then resampled by their weights (2D fit and the prior's plausibility: a sequential Monte Carlo
step that spends the batch where the posterior is). Finally each hypothesis is scaled (with its distance) to a
body height from the size prior, and weighted by 2D fit, plausibility and crowding. The m hypotheses of every
person run as one batch through the network, and the people of a frame are guided side by side
(``[P, m, J, 3]``). Without an observation the same call draws unconditional samples.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ..core.camera import PinholeCamera
from ..core.gravity import gravity_from_pitch_roll, level_to_camera
from ..core.skeleton import JOINT_INDEX, NUM_JOINTS, STATURE_TO_NOMINAL, nominal_height
from .config import DEFAULT_BODY_HEIGHT
from .floor_contact import floor_size_factor
from .guidance import (
    GuidanceSchedule,
    Likelihood,
    can_stack,
    guidance_delta,
    make_guidance_schedule,
    observation_likelihood,
    stack_likelihoods,
)
from .guidance import weighted_log_likelihood as _weighted_ll
from .root_translation import RootTranslationSolver
from .scheduler import DDIMScheduler

PELVIS, HIPS = JOINT_INDEX["pelvis"], (JOINT_INDEX["right_hip"], JOINT_INDEX["left_hip"])


@dataclass
class SampleResult:
    """m pose hypotheses for one person (numpy, metres)."""

    poses_camera: np.ndarray  # [m, 17, 3] camera optical frame
    poses_root_relative: np.ndarray  # [m, 17, 3] pelvis at the origin, camera axes
    translation: np.ndarray  # [m, 3] pelvis position in the camera frame
    weights: np.ndarray  # [m] >= 0, sum 1 (softmax of the per-joint mean 2D log-likelihood; uniform if unguided)
    log_likelihood: np.ndarray  # [m] summed weighted 2D log-likelihood (zeros if unguided)
    mean: np.ndarray  # [17, 3] weighted mean of poses_camera
    mean_root_relative: np.ndarray  # [17, 3] weighted mean of poses_root_relative
    spread: np.ndarray  # [17] per-joint std (metres) of the root-relative hypotheses (weighted)
    translation_is_metric: bool  # only with a known depth; otherwise scale follows the prior's body size
    guided: bool = False
    info: dict = field(default_factory=dict)

    @property
    def num_hypotheses(self) -> int:
        return int(self.poses_camera.shape[0])


@dataclass
class Inpainting:
    """Known joints in model space for RePaint-style completion (see :mod:`.completion`)."""

    known_model: Tensor  # [17, 3] model-space values (unknown rows arbitrary)
    mask: Tensor  # [17] bool, True = known
    resample_steps: int = 1  # RePaint jumps per step (1 = no resampling)
    known_metric: Tensor | None = None  # [17, 3] metres: written verbatim into the output's known joints


class GuidedSampler:
    """Sample m 3D pose hypotheses from the prior, guided by 2D heatmaps / keypoints.

    Args:
        prior: a ``PosePrior`` (``predict_noise``, ``to_model_space``, ``from_model_space``, ``alphas_cumprod``).
        num_steps: DDIM steps (trailing grid, see ``min_alpha_bar`` and ``timestep_power``).
        timestep_power: grid warp ``t_i ~ t_top (1 - i / n)^power`` (see ``DDIMScheduler.set_timesteps``); > 1
            spends more steps at low noise, where the x0 estimate is sharp enough to refine the fit.
        num_hypotheses: m, sampled as one batch.
        guidance_scale: fraction of the way to the 2D likelihood peak covered per guidance iteration
            (preconditioned; see :func:`.guidance.guidance_delta`). 0 = unguided.
        guidance_schedule: ``"constant"``, ``"linear"``, ``"late"`` or a callable of ``t / T``.
        guidance_iters: guidance iterations per denoising step (each re-projects, cheap).
        single_guidance_above: steps with ``t / T >=`` this run one guidance iteration, not ``guidance_iters``: their
            x0 is coarse and the resampling and later steps refine it. At 0.5 (the noisier half) 8-10 % less time at
            accuracy within noise on one seed (proxy, 320 views, noisy: best-of-16 57.6 vs 57.3 mm, best-of-200 43.3
            vs 43.4, highest-weight 76.0 vs 74.4), a little worse over three (59.7 vs 58.9, top 76.6 vs 75.1).
            >= 1 (default) = off.
        eta: 0 = deterministic DDIM, 1 (default) = DDPM-like ancestral noise (more accurate under guidance:
            the noise lets later steps repair what earlier guided steps got wrong).
        seed: seed of the sampler's generator (None: nondeterministic).
        likelihood: ``"auto"`` (heatmaps if usable, else keypoints), ``"heatmap"`` or ``"keypoints"``.
        depth_prior: pelvis depth (m) used when the 2D targets cannot fix it.
        weight_temperature: softmax temperature of the hypothesis weights per weighted joint.
        density_bandwidth: the weights also favour hypotheses where the others crowd (a kernel density over the
            m hypotheses, RMS joint distance bandwidth in metres): among poses that explain the 2D equally well,
            the posterior's mode is the better single answer. 0 = 2D likelihood only.
        clip_sample: clamp x0 estimates to +-clip_sample (model space, ~0.3-0.4 m a unit); None = off.
        gradient_method: ``"analytic"`` (fast) or ``"autograd"`` (reference) on the projection graph.
        min_alpha_bar: start sampling at the last timestep with alpha_bar >= this (0 = at T - 1). Skips steps
            whose x0 estimate is the network's error amplified by 1/sqrt(alpha_bar) (shipped prior: alpha_bar at
            T - 1 is 5e-4; 0.01 starts at t ~ 950 and improves 1-step best-of-16 MPJPE from ~260 to ~160 mm).
        reference_steps: the per-step guidance is ``guidance_scale * min(1, reference_steps / num_steps)``, so
            more steps do not mean more total guidance (which over-fits 2D at the expense of 3D).
        num_threads: torch intra-op threads for sampling; None = leave as set. The batch is tiny, so 1
            (default) is fastest: 2 threads spin-wait when the other core is busy (measured 5-10x slower on the
            shared 2-core CPU). This sets torch's process-wide setting (``torch.set_num_threads``).
        restore_threads: put the caller's thread count back after every call. Off by default: each switch
            makes OpenMP resize its pool on the next parallel op (measured ms per frame).
        tilt_prior_deg: ``(lo, hi)`` camera pitch (degrees, + = looking down) that hypotheses draw uniformly
            when ``sample`` gets no gravity (the weights then favour the tilts that explain the 2D); ``(0, 0)``
            assumes a level camera.
        align_yaw_above: at steps with ``t / T >=`` this, each hypothesis is first turned to the heading that
            best explains the 2D evidence (see ``_best_heading``); > 1 = off.
        align_yaw_candidates: headings tried by that search (every ``360 / n`` degrees).
        align_yaw_every: the search runs at every n-th of those steps (the denoiser keeps the heading in between;
            on the proxy every 2nd step matched every step within noise, at ~6% less time).
        body_height: ``(stature_m, relative_sd)`` of the people seen. 2D evidence cannot tell a small person near
            from a big one far away, so each guided hypothesis is scaled (with its distance: its 2D fit is
            unchanged) to a body height drawn from this log-normal; ``stature_m = 0`` keeps the prior's own sizes.
            None (default): the statures of the performers the prior was trained on, when it records them
            (``PosePrior.body_height``; e.g. Human3.6M's training subjects), else ``DEFAULT_BODY_HEIGHT`` (adults,
            1.70 m +- 4 %). Ignored with ``known_depth`` (then the depth fixes the size).
        robust_k: a joint's weight in the translation fit fades (Geman-McClure) once its heatmap peak lies more
            than about this many sigmas from the joint (see ``_outlier_weights``); 0 = off.
        outlier_hypotheses: the fraction of hypotheses in which such a joint also stops pulling on the pose: they
            explain a detector's gross error (on synthetic heatmaps with 5% displaced joints, best-of-16 improved
            ~8%) while the others keep following every joint (for poses the prior rarely saw, rejecting joints
            loses real evidence: on a footballer's kick median reprojection rose from 17 to 32 px).
        evidence_gain: each joint's guidance step is scaled by ``(tau^2 / (tau^2 + var))^evidence_gain``, with
            ``var`` the spread of its heatmap peak and ``tau`` what the clean-pose estimate may still move at this
            noise level (both in px): a Kalman-like gain, so late steps stop fitting the detector's noise where its
            maps are wide, and the prior decides (proxy, noisy maps: best-of-200 53.7 -> 47.7 mm at 2; clean maps
            unchanged). A grid that ends at lower noise (``restart_refine``) wants less: there ``tau`` falls below a
            sharp peak's spread and the squared gain starves the last steps of evidence (``accurate`` at 2: clean
            reprojection 2.1 px vs the default's 0.8; at 1.5 clean best-of-200 25.0 -> 23.5 mm, noisy unchanged).
            0 = every step goes the full ``guidance_scale``.
        plausibility_weight: the hypothesis weights also favour poses the prior finds likely: the score loses this
            times the prior's denoising error on each final pose (a one-sample diffusion ELBO at
            ``plausibility_timesteps``, the same noise for every hypothesis, so the ranking is not a lottery). Among
            poses that fit the 2D alike it picks the plausible depth order (proxy, noisy maps: highest-weight
            hypothesis 89 -> 80 mm; one extra network pass). 0 = off.
        outlier_drop_below: once, at the first step with ``t / T <`` this, joints whose heatmap peak the hypotheses
            agree a detector got grossly wrong are dropped from the evidence for the rest of the sampling and from
            the weights: by then the hypotheses agree on where the body is, and a detector's gross error (a peak on
            the wrong limb or person) stands out from the consensus instead of dragging the last steps and the
            weights toward it. The test is a predictive check: the peak's distance from the hypotheses' median
            projection of the joint (each x0 placed by the translation solve) over ``outlier_drop_sigma`` times
            the root of the peak's spread, half of what x0 may still move and the hypotheses' own spread of that
            joint, all squared. The last term matters: wrists and ankles spread more than hips, and with one scale
            for all (previous rule, 2 sigmas, one joint) a normal wrist miss looked like a hip's gross error while
            displaced ankles went unseen. At most ``outlier_drop_max`` joints per person, the farthest first (a
            wrist peak out of reach also pulls the elbow and shoulder off theirs); the result's
            ``info["dropped_joints"]`` lists them. Proxy (320 views, 3 seeds; noisy maps; best-of-16 / best-of-200 /
            PA / highest-weight): no drop 58.8 / 43.5 / 31.8 / 75.0 mm, previous rule 57.9 / 42.5 / 31.1 / 73.4
            (57 % of the displaced joints found, 49 correct ones dropped), this one at 1.5 sigmas, 2 joints 57.3 /
            42.2 / 30.9 / 72.6 (76 %, 84); clean maps unchanged (best-of-200 24.9). 0 = off.
        restart_below: a person who lost a joint to that drop runs the steps from the first one with
            ``t / T <`` this again: the drop step's guided x0 is re-noised to that timestep and denoised without
            the joint, because by the drop the false peak has pulled every other joint for most of the steps
            (dropping the true gross errors at the drop step recovers a third of what they cost, re-running from
            t / T = 0.5 all of it). ``info["restarted"]`` tells. Proxy (previous drop rule; 320 views, 3 seeds,
            noisy maps) at 0.5: best-of-16 57.9 -> 55.7 mm, best-of-200 42.5 -> 41.7, PA 31.1 -> 30.5,
            highest-weight 73.4 -> 71.6, for ~1.2x the time (half the people re-run half the steps). 0 = off
            (default).
        restart_all: with ``restart_below``, everyone re-runs, dropped joint or not (restart sampling, Xu et al.
            2023: the re-noising contracts what the first pass got wrong). Same proxy, previous drop rule: 54.9 /
            41.4 / 30.1 / 70.2, clean maps 35.8 / 24.9 / 17.9 / 47.3; with the current rule 54.3 / 40.7 / 29.7 /
            69.7. ~1.4-1.5x the time.
        restart_refine: the re-run takes this many steps for each main-grid step it repeats (a trailing grid from
            the same timestep, the same guidance per step, ending on the main grid's resampling parity). At 2 with
            ``restart_all`` and ``restart_below=0.5`` (the ``accurate`` preset): 53.0 / 40.2 / 29.0 / 69.1, clean
            maps 35.0 / 25.1 / 18.0 / 46.2, for ~2x the default's time; 3: 56.3 / 41.7 / 30.4 / 72.4 (previous
            rule); the same 5 steps with 1.5x the guidance instead: 56.1 / 42.4 / 31.1 / 70.7. 1 = the main grid.
        pelvis_check_sigma: the pelvis is the skeleton's root and the hips' midpoint (in the training mocap and in
            the BlazePose mapping), and its pull moves the whole body: a gross error of its peak drags every joint
            (and then the hips and spine look like the outliers at the drop step). So when the hips cannot vouch for
            its peak (it lies more than this many sigmas from the midpoint of theirs, or a hip is not seen), the
            pelvis is held out of the evidence until the gross-error check (``outlier_drop_below``); there it
            comes back if the hypotheses, placed without it, agree with it (the same predictive check, a
            leave-one-out one). Proxy (320 views, 3 seeds, noisy maps, ``accurate``): best-of-16 / best-of-200 /
            PA / highest-weight 52.6 / 40.2 / 29.0 / 68.3 -> 51.3 / 38.6 / 28.3 / 66.8 mm (three views with a
            displaced pelvis went from 170-250 mm to 30-50 mm); clean maps unchanged. Needs the check step (off
            without one). 0 = off.
        resample_every: after the guidance of every n-th step (steps n-1, 2n-1, ...) the hypotheses are resampled
            (systematic resampling) by their weights without the crowding term: poses that explain the 2D badly or
            that the prior finds unlikely are replaced by copies of good ones, which the next steps' noise makes
            diverse again (sequential Monte Carlo, as in twisted / SMC-guided diffusion samplers). Proxy, noisy
            maps: best-of-16 63.5 -> 57.3 mm, best-of-200 48.1 -> 43.4, highest-weight 79.8 -> 74.4. The result's
            ``info["ancestry"]`` (``[m]``) names the start row (e.g. of a warm start's ``init``) each hypothesis
            descends from, so per-hypothesis state can follow. Not on inpainting runs. 0 = off.
    """

    def __init__(self, prior, num_steps: int = 10, num_hypotheses: int = 16, guidance_scale: float = 1.5,
                 guidance_schedule: str | GuidanceSchedule = "constant", guidance_iters: int = 2, eta: float = 1.0,
                 seed: int | None = 0, likelihood: str = "auto", min_score: float = 0.05,
                 keypoint_sigma_px: float = 8.0, depth_prior: float = 4.0, max_guidance_step: float = 0.3,
                 weight_temperature: float = 1.0, density_bandwidth: float = 0.05, clip_sample: float | None = 5.0,
                 gradient_method: str = "analytic", min_alpha_bar: float = 0.01, reference_steps: int = 10,
                 num_threads: int | None = 1, restore_threads: bool = False,
                 tilt_prior_deg: tuple[float, float] = (0.0, 0.0), align_yaw_above: float = 0.3,
                 align_yaw_candidates: int = 24, align_yaw_every: int = 2,
                 body_height: tuple[float, float] | None = None,
                 robust_k: float = 2.0, outlier_hypotheses: float = 0.5, evidence_gain: float = 2.0,
                 plausibility_weight: float = 0.03, plausibility_timesteps: tuple[int, ...] = (30, 100),
                 resample_every: int = 2, single_guidance_above: float = 1.0, timestep_power: float = 1.0,
                 outlier_drop_below: float = 0.2, outlier_drop_sigma: float = 1.5, outlier_drop_max: int = 2,
                 restart_below: float = 0.0, restart_all: bool = False, restart_refine: int = 1,
                 pelvis_check_sigma: float = 3.0) -> None:
        if int(restart_refine) < 1:
            raise ValueError(f"restart_refine must be >= 1, got {restart_refine}")
        self.prior = prior
        self.scheduler = DDIMScheduler(prior.alphas_cumprod.detach().cpu(), "trailing", clip_sample)
        self.min_alpha_bar = float(min_alpha_bar)
        self.timestep_power = float(timestep_power)
        self.set_num_steps(num_steps)
        self.num_hypotheses = int(num_hypotheses)
        self.guidance_scale = float(guidance_scale)
        self.schedule = make_guidance_schedule(guidance_schedule)
        self.guidance_iters = int(guidance_iters)
        self.eta = float(eta)
        self.likelihood_kind = likelihood
        self.min_score = float(min_score)
        self.keypoint_sigma_px = float(keypoint_sigma_px)
        self.depth_prior = float(depth_prior)
        self.max_guidance_step = float(max_guidance_step)
        self.weight_temperature = float(weight_temperature)
        self.density_bandwidth = float(density_bandwidth)
        self.gradient_method = gradient_method
        self.reference_steps = int(reference_steps)
        self.num_threads = num_threads
        self.restore_threads = bool(restore_threads)
        self.tilt_prior_deg = (float(tilt_prior_deg[0]), float(tilt_prior_deg[1]))
        self.align_yaw_above = float(align_yaw_above)
        self.align_yaw_candidates = int(align_yaw_candidates)
        self.align_yaw_every = max(1, int(align_yaw_every))
        self.set_body_height(body_height)
        self.robust_k = float(robust_k)
        self.outlier_hypotheses = float(outlier_hypotheses)
        self.evidence_gain = float(evidence_gain)
        self.plausibility_weight = float(plausibility_weight)
        self.plausibility_timesteps = tuple(int(t) for t in plausibility_timesteps)
        self.device = torch.device(getattr(prior, "device", "cpu"))
        self._probe_noise: Tensor | None = None
        self.resample_every = max(0, int(resample_every))
        self.single_guidance_above = float(single_guidance_above)
        self.outlier_drop_below = float(outlier_drop_below)
        self.outlier_drop_sigma = float(outlier_drop_sigma)
        self.outlier_drop_max = int(outlier_drop_max)
        self.restart_below = float(restart_below)
        self.restart_all = bool(restart_all)
        self.restart_refine = int(restart_refine)
        self.pelvis_check_sigma = float(pelvis_check_sigma)
        self.generator = torch.Generator(device=self.device)
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(int(seed))

    def set_body_height(self, body_height: tuple[float, float] | None) -> None:
        """``(stature_m, relative_sd)``, or None: the prior's training statures if recorded, else the default."""
        if body_height is None:
            body_height = getattr(self.prior, "body_height", None) or DEFAULT_BODY_HEIGHT
        self.body_height = (float(body_height[0]), float(body_height[1]))

    def set_num_steps(self, num_steps: int) -> None:
        """Re-grid the scheduler (trailing; top truncated to alpha_bar >= min_alpha_bar when that is > 0)."""
        self.num_steps = int(num_steps)
        top = self.scheduler.timestep_for_alpha_bar(self.min_alpha_bar) if self.min_alpha_bar > 0 else None
        self.scheduler.set_timesteps(self.num_steps, top, self.timestep_power)

    @property
    def _step_scale(self) -> float:
        return self.guidance_scale * min(1.0, self.reference_steps / self.num_steps)

    def sample(self, observation=None, camera: PinholeCamera | None = None, num_hypotheses: int | None = None,
               known_depth: float | None = None, generator: torch.Generator | None = None,
               likelihood: Likelihood | None = None, inpainting: Inpainting | None = None,
               gravity: np.ndarray | None = None, init: "np.ndarray | None" = None,
               init_strength: float = 0.3, camera_height: float | None = None) -> SampleResult:
        """Draw hypotheses for one observation (PersonObservation-like object / dict, or None = unconditional).

        ``camera`` is required when guiding. ``likelihood`` overrides the one built from ``observation``.
        ``known_depth`` (metres, pelvis) makes the translation metric. ``gravity`` (``[3]``, camera optical frame)
        keeps every hypothesis upright in the world; unknown (None), each hypothesis draws its own camera tilt from
        ``tilt_prior_deg`` (see :mod:`diffpose_ros.core.gravity`). ``init`` (``[m, 17, 3]`` root-relative metres,
        camera frame, e.g. the previous video frame's hypotheses) warm-starts the sampler: re-noised to the grid
        timestep a fraction ``init_strength`` from the end, only the remaining steps run (SDEdit-style).
        ``camera_height`` (metres above the floor; needs ``gravity``) lets the floor tell each hypothesis's body
        size (see :mod:`diffpose_ros.sampling.floor_contact`).
        """
        return self.sample_many([observation], camera, num_hypotheses, known_depth,
                                None if generator is None else [generator],
                                None if likelihood is None else [likelihood], inpainting, gravity,
                                None if init is None else [init], init_strength, camera_height)[0]

    def sample_many(self, observations: list, camera: PinholeCamera | None = None, num_hypotheses: int | None = None,
                    known_depth: float | None = None, generators: "list[torch.Generator] | None" = None,
                    likelihoods: "list[Likelihood] | None" = None, inpainting: Inpainting | None = None,
                    gravity: np.ndarray | None = None, inits: "list | None" = None,
                    init_strength: float = 0.3, camera_height: float | None = None) -> list[SampleResult]:
        """Several people of one image in ONE batch of ``P * m`` through the prior, guided side by side (their
        likelihoods and translation solvers stacked; people whose likelihoods cannot stack are guided one by one).

        ``generators`` (one per person) make each person's draws independent of the others: with the same seeds
        the results equal per-person :meth:`sample` calls (up to float rounding of the batched network).
        Without them the sampler's generator is used for everyone. ``inits`` (None or, per person, None or an
        ``[m, 17, 3]`` start) warm-start as in :meth:`sample`; people with and without one run as two batches.
        ``camera_height`` as in :meth:`sample`.
        """
        threads = torch.get_num_threads()
        switch = self.num_threads is not None and self.num_threads != threads
        if switch:
            torch.set_num_threads(self.num_threads)
        try:
            liks = list(likelihoods) if likelihoods is not None else [observation_likelihood(
                obs, self.likelihood_kind, self.min_score, self.keypoint_sigma_px) for obs in observations]
            if self.device.type != "cpu":
                liks = [lik.to(self.device) if lik is not None else None for lik in liks]
            if any(lik is not None for lik in liks) and camera is None:
                raise ValueError("a camera is needed to guide with 2D observations")
            if inpainting is not None and len(liks) != 1:
                raise ValueError("inpainting is for one person at a time")
            m = int(num_hypotheses or self.num_hypotheses)
            gens = list(generators) if generators is not None else [self.generator] * len(liks)
            if len(gens) != len(liks) or (inits is not None and len(inits) != len(liks)):
                raise ValueError(f"{len(liks)} people but {len(gens)} generators / "
                                 f"{len(inits) if inits is not None else 0} inits")
            if not 0.0 < float(init_strength) <= 1.0:
                raise ValueError(f"init_strength must be in (0, 1], got {init_strength}")
            if camera_height is not None and (gravity is None or not np.isfinite(camera_height)):
                raise ValueError(f"camera_height ({camera_height}) needs gravity and must be finite")
            rots = [self._rotations(gravity, m, g, guided=lik is not None and inpainting is None)
                    for lik, g in zip(liks, gens)]
            warm = [p for p in range(len(liks)) if inits is not None and inits[p] is not None]
            groups = [warm, [p for p in range(len(liks)) if p not in warm]] if 0 < len(warm) < len(liks) else [
                list(range(len(liks)))]
            out: list = [None] * len(liks)
            with torch.no_grad():
                for g in groups if liks else []:
                    res = self._run([liks[p] for p in g], camera, m, known_depth, [gens[p] for p in g], inpainting,
                                    [rots[p] for p in g], None if inits is None else [inits[p] for p in g],
                                    float(init_strength), camera_height=camera_height)
                    for p, r in zip(g, res):
                        out[p] = r
            return out
        finally:
            if switch and self.restore_threads:
                torch.set_num_threads(threads)

    # ------------------------------------------------------------------ internals
    def _rotations(self, gravity: np.ndarray | None, m: int, gen: torch.Generator, guided: bool) -> Tensor | None:
        """Level-to-camera rotations ``[m, 3, 3]`` (None = identity: level camera, or unguided/inpainting)."""
        if gravity is not None:
            r = torch.as_tensor(level_to_camera(gravity), dtype=torch.float32, device=self.device)
            return r.expand(m, 3, 3)
        lo, hi = self.tilt_prior_deg
        if not guided or (lo == 0 and hi == 0):
            return None
        u = torch.rand(m, generator=gen, device=self.device, dtype=torch.float64).cpu().numpy()
        pitches = lo + (hi - lo) * u
        mats = np.stack([level_to_camera(gravity_from_pitch_roll(p)) for p in pitches])
        return torch.as_tensor(mats, dtype=torch.float32, device=self.device)

    def _warm_start(self, inits: list | None, rots: list, m: int, init_strength: float
                    ) -> tuple[int, list[Tensor] | None]:
        """(first grid index, per person the model-space start ``[m, 17, 3]``) or (0, None): cold."""
        if inits is None or any(i is None for i in inits):
            return 0, None
        start = self.num_steps - max(1, round(init_strength * self.num_steps))
        x0 = []
        for init, rot in zip(inits, rots):
            pose = torch.as_tensor(np.asarray(init, dtype=np.float32), device=self.device)
            if pose.shape != (m, NUM_JOINTS, 3) or not torch.isfinite(pose).all():
                raise ValueError(f"init must be finite [{m}, {NUM_JOINTS}, 3], got {tuple(pose.shape)}")
            x0.append(self.prior.to_model_space(_to_level(pose - pose[:, :1], rot)))
        return start, x0

    def _groups(self, liks: list, camera: PinholeCamera | None, known_depth: float | None, rots: list,
                camera_height: float | None = None) -> list["_Group"]:
        """People guided side by side: the guided ones whose likelihoods stack form one group (usually all of
        them); any other person is a group of its own (unguided people have no likelihood)."""
        groups: list[_Group] = []
        for p, lik in enumerate(liks):
            for grp in groups:
                if lik is not None and grp.liks[0] is not None and can_stack(grp.liks[0], lik):
                    grp.people.append(p)
                    grp.liks.append(lik)
                    break
            else:
                groups.append(_Group([p], [lik]))
        for grp in groups:
            grp.finalise(camera, known_depth, [rots[p] for p in grp.people], len(liks), self.depth_prior)
            grp.camera_height = camera_height
        return groups

    def _run(self, liks: list, camera: PinholeCamera | None, m: int, known_depth: float | None, gens: list,
             inpainting: Inpainting | None, rots: list, inits: list | None = None, init_strength: float = 0.3,
             resume: "_Resume | None" = None, camera_height: float | None = None
             ) -> list[SampleResult]:
        """Sample ``P = len(liks)`` people side by side; ``resume`` re-runs people from a grid step with the x0 saved
        at the gross-error drop step (see ``restart_below``)."""
        prior = self.prior
        sched = self.scheduler if resume is None else resume.scheduler
        T = sched.num_train_timesteps
        P = len(liks)
        groups = self._groups(liks, camera, known_depth, rots, camera_height)
        if resume is not None:
            for grp in groups:
                grp.drop_joints(resume.dropped[grp.people], camera)

        def noise() -> Tensor:  # per person from its own generator (one person: the same draws as ever)
            return torch.cat([torch.randn((m, NUM_JOINTS, 3), generator=g, device=self.device) for g in gens])

        x = noise()
        full_grid = grid = sched.timesteps.tolist()
        start, warm = self._warm_start(inits, rots, m, init_strength) if resume is None else (resume.start, resume.x0)
        phase = 0 if resume is None else resume.phase  # a re-run keeps the main grid's step parity (resampling)
        if warm is not None:
            x = torch.cat([sched.add_noise(w, x[p * m:(p + 1) * m], grid[start]) for p, w in enumerate(warm)])
        if inpainting is not None:
            known = inpainting.known_model.to(x)[None].expand_as(x)
            mask = inpainting.mask.to(self.device)[None, :, None].expand_as(x)
            x = torch.where(mask, sched.add_noise(known, x, sched.timesteps[0].item()), x)
        grid = grid[start:]
        t_vecs = {t: torch.full((P * m,), t, dtype=torch.long, device=self.device) for t in grid}
        resample = self.resample_every > 0 and m > 1 and inpainting is None
        # the step whose x0 is checked for a detector's gross errors (see outlier_drop_below)
        check = (next((t for t in grid if t / T < self.outlier_drop_below), None)
                 if m > 2 and inpainting is None else None)
        restart = (next((i for i, t in enumerate(full_grid) if t / T < self.restart_below), None)
                   if resume is None and check is not None and self.restart_below > 0 else None)
        if check is not None and resume is None and self.pelvis_check_sigma > 0 and self.guidance_scale > 0:
            for grp in groups:
                if grp.lik is not None:
                    self._hold_out_pelvis(grp, camera)
        if restart is not None:  # a warm start re-runs its own steps at most; nothing to re-run after the drop step
            restart = max(restart, start)
            restart = restart if restart < full_grid.index(check) else None
        saved: dict = {}  # person -> (x0 [m, J, 3], rotation or None, dropped [J], ancestry or None) to re-run
        states: dict = {}  # person -> their generator's state when the re-run branched off
        for step, t in enumerate(grid, start=phase):
            repeats = inpainting.resample_steps if inpainting is not None else 1
            for r in range(repeats):
                eps = prior.predict_noise(x, t_vecs[t])
                x0 = sched.predict_original(eps, t, x)
                scale = self._step_scale * self.schedule(t / T)
                align = (inpainting is None and self.guidance_scale > 0 and t / T >= self.align_yaw_above
                         and step % self.align_yaw_every == 0)
                x, eps, x0 = (v.view(P, m, NUM_JOINTS, 3) for v in (x, eps, x0))  # people side by side
                for grp in groups:
                    if grp.lik is None or not (align or scale > 0):
                        continue
                    xg, eg, x0g = grp.take(x), grp.take(eps), grp.take(x0)
                    if align:
                        turn, grp.trans = self._best_heading(x0g, grp.lik, camera, grp.solver, grp.rot)  # the prior
                        xg, eg, x0g = xg @ turn, eg @ turn, x0g @ turn  # is yaw-equivariant
                    x0_sd = float(prior.scale) * math.sqrt(1.0 - sched.alpha_bar(t))  # what x0 may still move (m)
                    new_drop = None
                    if t == check and r == 0:
                        new_drop = self._drop_outliers(x0g, grp, camera, x0_sd)
                    if scale > 0:
                        iters = 1 if t / T >= self.single_guidance_above else self.guidance_iters
                        x0g, grp.trans = self._guide(x0g, grp.lik, camera, scale, grp.solver, grp.rot, grp.trans, x0_sd,
                                                     iters)
                    if resample and step % self.resample_every == self.resample_every - 1:
                        idx, error = self._resample_index(x0g, grp, camera, [gens[p] for p in grp.people])
                        # after the last step the samples are these x0 (alpha_bar 1, no noise; unless clipped):
                        # the final weights reuse their denoising error
                        clip = sched.clip_sample
                        last = step == phase + len(grid) - 1 and (clip is None or bool((x0g.abs() <= clip).all()))
                        grp.final_error = error if last else None
                        xg, eg, x0g = (_gather(v, idx) for v in (xg, eg, x0g))
                        grp.trans = _gather(grp.trans, idx)
                        grp.ancestry = idx if grp.ancestry is None else grp.ancestry.gather(1, idx)
                        if grp.rot is not None:
                            grp.rot = _gather(grp.rot, idx)
                    if new_drop is not None and restart is not None:
                        who = torch.ones_like(new_drop) if self.restart_all else new_drop
                        for g in torch.nonzero(who).flatten().tolist():
                            saved[grp.people[g]] = (x0g[g].clone(), None if grp.rot is None else grp.rot[g].clone(),
                                                    grp.dropped[g].clone(),
                                                    None if grp.ancestry is None else grp.ancestry[g].clone())
                    x, eps, x0 = grp.put(x, xg), grp.put(eps, eg), grp.put(x0, x0g)
                x, eps, x0 = (v.reshape(P * m, NUM_JOINTS, 3) for v in (x, eps, x0))
                if inpainting is not None:
                    x0 = torch.where(mask, known, x0)
                prev_t = sched.previous_timestep(t)
                step_noise = noise() if self.eta > 0 and sched.sigma(t, prev_t, self.eta) > 0 else None
                x, _ = sched.step(eps, t, x, self.eta, None, pred_original_sample=x0, variance_noise=step_noise)
                if inpainting is not None and prev_t >= 0:
                    fresh = torch.randn(x.shape, generator=gens[0], device=self.device)
                    x = torch.where(mask, sched.add_noise(known, fresh, prev_t), x)
                if r + 1 < repeats and prev_t >= 0:
                    x = sched.renoise(x, t, prev_t, torch.randn(x.shape, generator=gens[0], device=self.device))
            for p in saved.keys() - states.keys():  # a re-run draws as if this pass had stopped here (as it does
                states[p] = gens[p].get_state()  # for one person)
            if len(saved) == P:  # everyone re-runs: the rest of this pass would be discarded
                break
        if inpainting is not None:
            x = torch.where(mask, known, x)
        x = x.view(P, m, NUM_JOINTS, 3)
        results: list = [None] * P
        for grp in groups:
            if all(p in saved for p in grp.people):
                continue
            finished = self._finish(grp.take(x), grp, camera, known_depth, inpainting, [gens[p] for p in grp.people])
            for g, (p, res) in enumerate(zip(grp.people, finished)):
                res.info.update(steps_run=len(grid), warm_start=warm is not None and resume is None)
                if grp.ancestry is not None:
                    res.info["ancestry"] = grp.ancestry[g].cpu().numpy()
                if grp.dropped is not None:
                    res.info["dropped_joints"] = torch.nonzero(grp.dropped[g]).flatten().tolist()
                results[p] = res
        if saved:
            self._rerun(results, saved, states, liks, camera, m, known_depth, gens, restart, grid.index(check) + 1,
                        warm is not None, camera_height)
        return results

    def _rerun(self, results: list, saved: dict, states: dict, liks: list, camera: PinholeCamera, m: int,
               known_depth: float | None, gens: list, start: int, steps_before: int, warm: bool,
               camera_height: float | None = None) -> None:
        """Re-run the people saved at the gross-error drop step (who lost a joint there, or everyone with
        ``restart_all``) from grid index ``start`` into ``results`` (``saved``: person -> x0, rotation, dropped
        joints, ancestry; ``states``: their generators' states then)."""
        again = sorted(saved)
        if len({id(g) for g in gens}) == len(gens):  # own generators: results independent of the others
            for p in again:
                gens[p].set_state(states[p])
        sched, phase = self.scheduler, start
        if self.restart_refine > 1:  # a finer grid from the same timestep, the same guidance per step
            n = self.restart_refine * (self.num_steps - start)
            sched = copy.copy(self.scheduler)  # shares the schedule; set_timesteps rebinds only the grid
            sched.set_timesteps(n, int(self.scheduler.timesteps[start]))
            start, phase = 0, self.num_steps - n  # ends on the main grid's step parity: the last step resamples
        rerun = self._run([liks[p] for p in again], camera, m, known_depth, [gens[p] for p in again], None,
                          [saved[p][1] for p in again], resume=_Resume(
                              sched, start, phase, [saved[p][0] for p in again],
                              torch.stack([saved[p][2] for p in again])), camera_height=camera_height)
        for p, res in zip(again, rerun):
            res.info.update(restarted=True, steps_run=steps_before + res.info["steps_run"], warm_start=warm)
            before = saved[p][3]  # the re-run's rows descend from the saved ones, which descend from the start
            if before is not None:
                after = res.info.get("ancestry")
                before = before.cpu().numpy()
                res.info["ancestry"] = before if after is None else before[after]
            results[p] = res

    def _scores(self, lik: Likelihood, pose_camera: Tensor, x: Tensor, camera: PinholeCamera,
                error: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor | None]:
        """``(ll, score, error)`` ``[G, m]``: the weighted 2D log-likelihood of the placed poses, the hypotheses'
        log weight before the crowding term (per-joint mean 2D fit over the temperature, minus the plausibility
        term) and the prior's denoising error on ``x`` (the same poses in model space, level frame; pass it when
        known; None when the plausibility is off)."""
        ll = _weighted_ll(lik, pose_camera, camera).double()
        n_w = (lik.weights > 0).sum(-1).double().clamp_min(1.0).reshape(-1, 1)  # [G or 1, 1]
        score = ll / (n_w * self.weight_temperature)
        if self.plausibility_weight > 0 and x.shape[1] > 1:
            error = self._denoising_error(x) if error is None else error
            score = score - self.plausibility_weight * error.double()
        return ll, score, error

    def _resample_index(self, x0: Tensor, grp: "_Group", camera: PinholeCamera, gens: list
                        ) -> tuple[Tensor, Tensor | None]:
        """Systematic resampling ``[G, m]`` of the guided clean-pose estimates ``x0`` by their weights (2D fit and
        plausibility; one uniform draw per person from its generator), and the resampled rows' denoising error."""
        pose = self.prior.from_model_space(x0)
        _, score, error = self._scores(
            grp.lik, _to_camera(pose - pose[..., :1, :], grp.rot) + grp.trans[..., None, :], x0, camera)
        m = score.shape[-1]
        if not bool(torch.isfinite(score).all()):  # a broken hypothesis (non-finite pose): keep every row as it is
            return torch.arange(m, device=x0.device).expand(score.shape[0], m), error
        cdf = torch.cumsum(torch.softmax(score, -1), -1)
        u = torch.stack([torch.rand((), generator=g, device=x0.device, dtype=torch.float64) for g in gens])
        idx = torch.searchsorted(cdf, (u[:, None] + torch.arange(m, device=x0.device)) / m).clamp_max(m - 1)
        return idx, None if error is None else error.gather(1, idx)

    @torch.no_grad()
    def _denoising_error(self, x: Tensor) -> Tensor:
        """The prior's squared noise-prediction error ``[G, m]`` on final samples ``x`` (``[G, m, J, 3]``, model
        space, level frame), summed over ``plausibility_timesteps``: minus a one-sample diffusion ELBO up to
        constants, i.e. low for poses the prior finds likely. The noise is fixed (seed 0, shared by all
        hypotheses): every pose is probed the same way."""
        ts = self.plausibility_timesteps
        if self._probe_noise is None or self._probe_noise.device != x.device:
            g = torch.Generator().manual_seed(0)
            self._probe_noise = torch.randn(len(ts), 1, NUM_JOINTS, 3, generator=g).to(x.device)
        x = x - x[..., :1, :]
        G, m = x.shape[:2]
        ab = self.prior.alphas_cumprod.to(x.device)[list(ts)].to(x.dtype).view(-1, 1, 1, 1)
        noise = self._probe_noise.to(x.dtype)
        x_t = ab.sqrt() * x.reshape(1, G * m, NUM_JOINTS, 3) + (1 - ab).sqrt() * noise  # [n_t, G * m, J, 3]
        t = torch.as_tensor(ts, device=x.device).repeat_interleave(G * m)
        eps = self.prior.predict_noise(x_t.reshape(-1, NUM_JOINTS, 3), t).view_as(x_t)
        return ((eps - noise)[..., 1:, :] ** 2).sum((-1, -2)).sum(0).view(G, m)

    def _resize(self, pose_rr: Tensor, gens: list) -> tuple[Tensor, Tensor]:
        """Scale each hypothesis (``[G, m, J, 3]``, person g drawing from ``gens[g]``) to a body height drawn from
        ``body_height`` (see the class docstring); also returns each draw's log size relative to the median."""
        stature, sd = self.body_height
        m = pose_rr.shape[1]
        z = torch.stack([torch.randn(m, generator=g, device=pose_rr.device) if sd > 0 else
                         torch.zeros(m, device=pose_rr.device) for g in gens])
        target = STATURE_TO_NOMINAL * stature * torch.exp(sd * z)
        return pose_rr * (target / nominal_height(pose_rr).clamp_min(1e-3))[..., None, None], sd * z

    def _best_heading(self, x0: Tensor, lik: Likelihood, camera: PinholeCamera,
                      solver: RootTranslationSolver, rot: Tensor | None) -> tuple[Tensor, Tensor]:
        """Per hypothesis, the turn about the vertical (level-frame y) whose x0 best explains the 2D evidence.

        ``x0`` is ``[G, m, J, 3]`` (G people side by side). Returns right-multiplying rotations ``[G, m, 3, 3]``
        (row-vector poses: ``pose @ turn``) and the turned poses' (seed) translations ``[G, m, 3]``, which the
        guidance refines. The body's heading
        is the latent the 2D evidence fixes best and the denoiser settles worst from noise; a rigid search over
        ``align_yaw_candidates`` headings (translation from the closed-form seed, errors to the heatmap peaks
        clamped at 5 sigma) settles it, as ZeDO's rigid optimisation does for rotation. (Searching the camera
        tilt the same way, with gravity unknown, was worse than drawing it: tilt trades off against body lean.)
        """
        G, m, k = x0.shape[0], x0.shape[1], self.align_yaw_candidates
        angles = torch.arange(k, device=x0.device, dtype=x0.dtype) * (2 * np.pi / k)
        c, s = torch.cos(angles), torch.sin(angles)
        zero, one = torch.zeros_like(c), torch.ones_like(c)
        turns = torch.stack([c, zero, -s, zero, one, zero, s, zero, c], -1).view(k, 3, 3)  # row-vector R_y^T
        pose = self.prior.from_model_space(x0)
        cand = ((pose - pose[..., :1, :])[:, :, None] @ turns).reshape(G, m * k, NUM_JOINTS, 3)
        cand = _to_camera(cand, None if rot is None else rot.repeat_interleave(k, 1))
        trans = solver(cand, iters=0)
        targets, weights = lik.targets()  # heatmap peaks: a robust (clamped) squared error ranks headings cheaply
        d2 = ((camera.project(cand + trans[..., None, :]) - targets) ** 2).sum(-1) / lik.variance_px()
        best = (weights * d2.clamp_max(25.0)).sum(-1).view(G, m, k).argmin(dim=-1)
        return turns[best], trans.view(G, m, k, 3).gather(2, best[..., None, None].expand(G, m, 1, 3))[:, :, 0]

    def _drop_outliers(self, x0: Tensor, grp: "_Group", camera: PinholeCamera, x0_sd: float) -> Tensor:
        """Drop each person's joints that the hypotheses ``x0`` (``[G, m, J, 3]``) agree a detector got grossly
        wrong (see ``outlier_drop_below`` in the class docstring) from the group's evidence; ``[G]``: who lost one."""
        pose = self.prior.from_model_space(x0)
        placed = _to_camera(pose - pose[..., :1, :], grp.rot)
        placed = placed + grp.solver(placed)[..., None, :]
        targets, weights = grp.lik.targets()
        proj = camera.project(placed)  # [G, m, J, 2]
        centre = proj.median(dim=1).values  # [G, J, 2]: where the hypotheses put each joint
        spread2 = ((proj - centre[:, None]) ** 2).sum(-1).median(dim=1).values  # [G, J]: how far they disagree
        # what x0 may still move, halved (px^2): with the peak's spread alone, sharp maps flagged joints the last
        # steps still fit (clean proxy maps: best-of-200 24.9 -> 25.2 mm)
        tau2 = ((0.5 * camera.fx * x0_sd / placed[..., 0, 2].clamp_min(0.1)) ** 2).median(dim=1).values  # [G]
        var = grp.lik.variance_px().reshape(-1, NUM_JOINTS)
        miss2 = ((centre - targets.reshape(centre.shape)) ** 2).sum(-1)
        z = (miss2 / (var + tau2[:, None] + spread2)).sqrt()  # [G, J]
        if grp.held_pelvis is not None:  # placed without it: a leave-one-out check of the held-out pelvis
            grp.restore_pelvis(grp.held_pelvis & (z[:, PELVIS] <= self.outlier_drop_sigma), camera)
            weights = grp.lik.weights
        w = weights.reshape(z.shape)
        z = torch.where((w > 0) & torch.isfinite(z), z, torch.zeros_like(z))
        rank = torch.argsort(torch.argsort(z, dim=-1, descending=True), dim=-1)  # 0 = farthest
        drop = (z > self.outlier_drop_sigma) & (rank < self.outlier_drop_max)
        grp.drop_joints(drop, camera)
        return drop.any(dim=-1)

    def _hold_out_pelvis(self, grp: "_Group", camera: PinholeCamera) -> None:
        """Hold each person's pelvis peak out of the evidence until the gross-error check when the hips cannot
        vouch for it (see ``pelvis_check_sigma``)."""
        targets, weights = grp.lik.targets()
        peaks = targets.reshape(-1, NUM_JOINTS, 2)
        w = weights.reshape(-1, NUM_JOINTS)
        var = grp.lik.variance_px().reshape(-1, NUM_JOINTS).expand_as(w)
        right, left = HIPS
        both = (w[:, right] > 0) & (w[:, left] > 0)
        miss2 = ((peaks[:, PELVIS] - 0.5 * (peaks[:, right] + peaks[:, left])) ** 2).sum(-1)
        off = miss2 > self.pelvis_check_sigma ** 2 * (var[:, PELVIS] + 0.25 * (var[:, right] + var[:, left]))
        grp.hold_out_pelvis((w[:, PELVIS] > 0) & (~both | off), camera)

    def _outlier_weights(self, lik: Likelihood, camera: PinholeCamera, pose_camera: Tensor, x0_sd: float
                         ) -> Tensor:
        """Geman-McClure weights ``[..., J]`` of each joint in the translation fit: a joint whose heatmap peak lies
        many sigmas from where the rest of the body puts it (a detector's gross error) stops dragging the body.

        The sigma is the peak's own spread plus what the clean-pose estimate may still move at this noise level
        (``x0_sd`` metres, seen at the person's depth), so early, uncertain steps keep every joint.
        """
        targets, _ = lik.targets()
        proj = camera.project(pose_camera)
        d2 = ((proj - targets) ** 2).sum(-1)
        z = pose_camera[..., :1, 2].clamp_min(0.1)
        c2 = self.robust_k**2 * (lik.variance_px() + (camera.fx * x0_sd / z) ** 2)
        return 1.0 / (1.0 + d2 / c2) ** 2

    def _guide(self, x0: Tensor, lik: Likelihood, camera: PinholeCamera, scale: float,
               solver: RootTranslationSolver, rot: Tensor | None = None, trans: Tensor | None = None,
               x0_sd: float = 0.0, iters: int | None = None) -> tuple[Tensor, Tensor]:
        """Move the clean-pose estimates ``[G, m, J, 3]`` up the 2D likelihood (in the camera frame), translation
        re-solved per iteration (one Gauss-Newton step from ``trans``, e.g. the previous step's, when given).

        Returns the poses in model space (level frame) and their translations ``[G, m, 3]``.
        """
        pose = self.prior.from_model_space(x0)
        pose = _to_camera(pose - pose[..., :1, :], rot)
        robust = None
        if self.robust_k > 0 and self.outlier_hypotheses > 0:  # spread evenly over the m: any prefix is fair
            i = torch.arange(pose.shape[1], device=pose.device, dtype=torch.float64)
            outlier_rows = (torch.floor((i + 1) * self.outlier_hypotheses) > torch.floor(i * self.outlier_hypotheses))
            outlier_rows = outlier_rows[:, None]
        for _ in range(self.guidance_iters if iters is None else iters):
            trans = solver(pose) if trans is None else solver(pose, init=trans, iters=1, weights=robust)
            placed = pose + trans[..., None, :]
            delta, _ = guidance_delta(lik, placed, camera, scale, max_step=self.max_guidance_step,
                                      method=self.gradient_method)
            if self.robust_k > 0:  # for the next translation solve, and the pull of the outlier hypotheses
                robust = self._outlier_weights(lik, camera, placed, x0_sd)
                if self.outlier_hypotheses > 0:
                    delta = delta * torch.where(outlier_rows, robust, torch.ones_like(robust))[..., None]
            if self.evidence_gain > 0:  # trust each joint's evidence as far as its spread allows
                tau2 = (camera.fx * x0_sd / placed[..., :1, 2].clamp_min(0.1)) ** 2  # how far x0 may still move, px^2
                delta = delta * (tau2 / (tau2 + lik.variance_px()))[..., None] ** self.evidence_gain
            delta = delta - delta[..., :1, :]  # the pelvis stays the origin: its pull moves the body around it
            pose = pose + delta
        return self.prior.to_model_space(_to_level(pose, rot)), trans

    def _finish(self, x: Tensor, grp: "_Group", camera: PinholeCamera | None, known_depth: float | None,
                inpainting: Inpainting | None, gens: list) -> list[SampleResult]:
        """Results of one group from its final samples ``[G, m, J, 3]`` (model space, level frame)."""
        lik, solver = grp.lik, grp.solver
        pose_rr = self.prior.from_model_space(x).float()
        pose_rr = _to_camera(pose_rr - pose_rr[..., :1, :], grp.rot)
        resize = lik is not None and known_depth is None and inpainting is None and self.body_height[0] > 0
        if resize:
            pose_rr, size_dev = self._resize(pose_rr, gens)
        if inpainting is not None and inpainting.known_metric is not None:
            known = inpainting.known_metric.to(pose_rr).expand_as(pose_rr)
            pose_rr = torch.where(inpainting.mask.to(pose_rr.device)[:, None], known, pose_rr)
        if solver is None:
            trans = torch.zeros(*pose_rr.shape[:2], 3, dtype=pose_rr.dtype, device=pose_rr.device)
            trans[..., 2] = self.depth_prior if known_depth is None else known_depth
        else:
            trans = solver(pose_rr)
        floored = None
        if resize and grp.camera_height is not None and grp.rot is not None:  # the floor tells the body's size
            down = grp.rot[..., :, 1].to(pose_rr)  # the level frame's y (gravity) in the camera frame
            f, floored = floor_size_factor(pose_rr + trans[..., None, :], down, grp.camera_height, size_dev,
                                           self.body_height[1])
            pose_rr, trans = pose_rr * f[..., None, None], trans * f[..., None]
            floored = floored.cpu().numpy()
        pose_cam = pose_rr + trans[..., None, :]
        G, m = pose_rr.shape[:2]
        if lik is not None:
            ll, score, _ = self._scores(lik, pose_cam, x, camera, grp.final_error)
            if self.density_bandwidth > 0 and m > 2:
                score = score + _log_density(pose_rr.double(), self.density_bandwidth)
            weights = torch.softmax(score, dim=-1)
        else:
            ll = torch.zeros(G, m, dtype=torch.float64)
            weights = torch.full((G, m), 1.0 / m, dtype=torch.float64)
        w = weights[..., None, None]
        mean_rr = (w * pose_rr.double()).sum(1)
        mean_cam = (w * pose_cam.double()).sum(1)
        spread = (w * (pose_rr.double() - mean_rr[:, None]) ** 2).sum(1).sum(-1).sqrt()
        a = [v.cpu().numpy() for v in (pose_cam, pose_rr, trans, weights, ll, mean_cam, mean_rr, spread)]
        return [SampleResult(
            poses_camera=a[0][g], poses_root_relative=a[1][g], translation=a[2][g], weights=a[3][g],
            log_likelihood=a[4][g], mean=a[5][g], mean_root_relative=a[6][g], spread=a[7][g],
            translation_is_metric=known_depth is not None, guided=lik is not None,
            info={"num_steps": self.num_steps, "guidance_scale": self.guidance_scale, "eta": self.eta}
            | ({} if floored is None else {"floor_measured": floored[g]}),
        ) for g in range(G)]


@dataclass
class _Resume:
    """A re-run after the gross-error drop step: its scheduler (the main one, or a finer grid with
    ``restart_refine``), first grid index and first step number, per person the saved x0 ``[m, J, 3]`` (model
    space, level frame) and the dropped joints ``[P, J]``."""

    scheduler: DDIMScheduler
    start: int
    phase: int
    x0: list
    dropped: Tensor


@dataclass
class _Group:
    """People guided side by side: their stacked likelihood, translation solver and level-to-camera rotations."""

    people: list[int]
    liks: list
    lik: Likelihood | None = None  # stacked: pixels [G, n, J, 2]
    solver: RootTranslationSolver | None = None  # stacked: targets [G, J, 2]
    rot: Tensor | None = None  # [G, m, 3, 3]; None = identity
    index: Tensor | None = None  # rows of the [P, m, ...] batch; None = all of them, in order
    trans: Tensor | None = None  # [G, m, 3]: the last step's translations seed the next step's solve
    ancestry: Tensor | None = None  # [G, m]: the start row each hypothesis descends from (after resampling)
    final_error: Tensor | None = None  # [G, m]: the prior's denoising error on the final samples, if known
    dropped: Tensor | None = None  # [G, J] bool: joints dropped from the evidence as a detector's gross errors
    held_pelvis: Tensor | None = None  # [G] bool: pelvis held out until the gross-error check (pelvis_check_sigma)
    base_weights: Tensor | None = None  # the stacked likelihood's joint weights before any joint was dropped
    known_depth: float | None = None
    depth_prior: float = 4.0
    camera_height: float | None = None  # the camera's height above the floor (m), gravity known; None = unknown

    def finalise(self, camera: PinholeCamera | None, known_depth: float | None, rots: list, num_people: int,
                 depth_prior: float) -> None:
        self.known_depth, self.depth_prior = known_depth, depth_prior
        if self.liks[0] is not None and camera is not None:
            self.lik = stack_likelihoods(self.liks)
            self.base_weights = self.lik.weights
            self.solver = self._translation_solver(camera)
        if any(r is not None for r in rots):
            ref = next(r for r in rots if r is not None)
            eye = torch.eye(3, dtype=ref.dtype, device=ref.device).expand_as(ref)
            self.rot = torch.stack([eye if r is None else r for r in rots])
        if self.people != list(range(num_people)):
            self.index = torch.as_tensor(self.people, dtype=torch.long, device=rots[0].device if rots[0] is not None
                                         else None)

    def drop_joints(self, drop: Tensor, camera: PinholeCamera) -> None:
        """Remove joints ``drop [G, J]`` from the stacked likelihood and re-solve translations without them."""
        self.dropped = drop if self.dropped is None else self.dropped | drop
        if bool(drop.any()):
            self._apply_dropped(camera)

    def _apply_dropped(self, camera: PinholeCamera) -> None:
        """The likelihood's weights without the ``dropped`` joints, and the translation solver re-built on them."""
        base = self.base_weights
        self.lik.weights = base * (~self.dropped).to(base.dtype).reshape(base.shape)
        # the people without a dropped joint get the same solver as before; the next Gauss-Newton steps start from
        # the current translations either way
        self.solver = self._translation_solver(camera)

    def hold_out_pelvis(self, who: Tensor, camera: PinholeCamera) -> None:
        """Drop the pelvis of people ``who [G]`` until :meth:`restore_pelvis` decides."""
        self.held_pelvis = who
        drop = torch.zeros(who.shape[0], NUM_JOINTS, dtype=torch.bool, device=who.device)
        drop[:, PELVIS] = who
        self.drop_joints(drop, camera)

    def restore_pelvis(self, who: Tensor, camera: PinholeCamera) -> None:
        """Give the held-out pelvis of people ``who [G]`` its weight back; the others' stays dropped."""
        self.held_pelvis = None
        if bool(who.any()):
            self.dropped = self.dropped.clone()
            self.dropped[:, PELVIS] &= ~who
            self._apply_dropped(camera)

    def _translation_solver(self, camera: PinholeCamera) -> RootTranslationSolver:
        """The people's root-translation solver from the stacked likelihood's targets and (current) weights."""
        targets, weights = self.lik.targets()  # [G, 1, J, 2], [G, 1, J]
        return RootTranslationSolver(targets.flatten(1, 2), weights.flatten(1), camera, depth_prior=self.depth_prior,
                                     known_depth=self.known_depth)

    def take(self, batch: Tensor) -> Tensor:
        """This group's rows of a ``[P, m, ...]`` batch."""
        return batch if self.index is None else batch.index_select(0, self.index.to(batch.device))

    def put(self, batch: Tensor, rows: Tensor) -> Tensor:
        """``batch`` with this group's rows replaced."""
        return rows if self.index is None else batch.index_copy(0, self.index.to(batch.device), rows)


def _gather(v: Tensor, idx: Tensor) -> Tensor:
    """Rows ``idx [G, m]`` of ``v [G, m, ...]``."""
    return v.gather(1, idx.view(*idx.shape, *([1] * (v.dim() - 2))).expand(*idx.shape, *v.shape[2:]))


def _to_camera(pose_level: Tensor, rot: Tensor | None) -> Tensor:
    """Root-relative poses ``[B, J, 3]`` from the level frame into the camera frame (``X_c = R X_l``)."""
    return pose_level if rot is None else pose_level @ rot.transpose(-1, -2)


def _to_level(pose_camera: Tensor, rot: Tensor | None) -> Tensor:
    return pose_camera if rot is None else pose_camera @ rot


def _log_density(poses: Tensor, bandwidth: float) -> Tensor:
    """Log of a Gaussian kernel density ``[..., B]`` of each pose among ``poses [..., B, J, 3]`` (bandwidth: RMS
    metres)."""
    flat = poses.flatten(-2)
    d2 = torch.cdist(flat, flat).square() / poses.shape[-2]  # mean squared joint distance
    return torch.logsumexp(-d2 / (2 * bandwidth * bandwidth), dim=-1) - math.log(poses.shape[-3])
