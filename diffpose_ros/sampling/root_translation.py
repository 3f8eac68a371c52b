"""Closed-form root (pelvis) translation of root-relative poses from 2D joint targets.

For joint ``X = (x, y, z)`` (root-relative, metres) and target pixel ``(u, v)`` the pinhole equations
``(u - cx)(z + Tz) = fx (x + Tx)`` and ``(v - cy)(z + Tz) = fy (y + Ty)`` are linear in ``T``; we minimise the
weighted algebraic error plus a weak ridge toward ``T0 = (0, 0, depth_prior)`` (1000x weaker on x, y; it only
decides what the targets leave open, e.g. with fewer than two joints) and clamp the depth so every joint lies
at ``z > min_depth``.

The algebraic error of a joint is its reprojection error times its depth, so when the pose does not match the
2D evidence (early denoising steps, a wrong limb) the algebraic optimum is pulled toward the camera: on a real
photo it put a 3 m person at 1 m. A depth seeded from the 2D-vs-3D extent (weak perspective, unbiased) and a
few Gauss-Newton steps on the true weighted reprojection error (``refine_iters``) remove that bias.

With the targets fixed for a frame, the normal equations' matrix is constant and the right-hand side is linear
in the pose, so :class:`RootTranslationSolver` precomputes everything (float64) once per frame and each call
is a couple of tiny tensor ops (it runs at every denoising step).

The depth is only as metric as the pose's scale: a root-relative pose from the prior carries the prior's
body-size assumption, so results are flagged metric only when the caller supplies a known depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..core.camera import PinholeCamera


@dataclass
class RootTranslation:
    translation: Tensor  # [B, 3] metres, camera frame
    is_metric: bool  # True only when a known depth fixed Tz
    clamped: Tensor  # [B] bool: the depth hit the min_depth clamp
    determined: bool  # False when < 2 weighted joints (the ridge decided the depth)


class RootTranslationSolver:
    """Weighted least-squares pelvis translation for one frame's 2D targets, of one person or of several.

    Args:
        targets_px: ``[J, 2]`` image px (NaN rows ignored), or ``[P, J, 2]``: P people solved side by side
            (then poses are ``[P, n, J, 3]`` and translations ``[P, n, 3]``).
        weights: ``[J]`` (or ``[P, J]``) >= 0.
        camera: pinhole intrinsics.
        depth_prior: pelvis depth (m) the ridge pulls toward.
        prior_weight: ridge strength relative to ``fx * fy`` per unit weight (0 = only a 1e-12 safety ridge).
        min_depth: every joint is kept at least this far in front of the camera.
        known_depth: fixes ``Tz`` (then the translation is metric).
    """

    def __init__(self, targets_px: Tensor, weights: Tensor, camera: PinholeCamera, depth_prior: float = 4.0,
                 prior_weight: float = 1e-6, min_depth: float = 0.5, known_depth: float | None = None,
                 refine_iters: int = 3) -> None:
        u = torch.as_tensor(targets_px, dtype=torch.float64)
        self.single = u.dim() == 2
        u = u.reshape(-1, u.shape[-2], 2)  # [P, J, 2]
        w = torch.as_tensor(weights, dtype=torch.float64).reshape(u.shape[:2]).clamp_min(0)
        ok = torch.isfinite(u).all(-1) & torch.isfinite(w)
        w = torch.where(ok, w, torch.zeros_like(w))
        u = torch.where(ok[..., None], u, torch.zeros_like(u))
        fx, fy = camera.fx, camera.fy
        du, dv = u[..., 0] - camera.cx, u[..., 1] - camera.cy
        sw = w.sum(-1)  # [P]
        lam = max(prior_weight, 1e-12) * fx * fy * sw.clamp_min(1.0)
        lam_xy = 1e-3 * lam  # much weaker on Tx, Ty: one target fixes a ray, the depth prior picks the point
        a, b = fx * fx * sw + lam_xy, fy * fy * sw + lam_xy
        c, d = -fx * (w * du).sum(-1), -fy * (w * dv).sum(-1)
        e = (w * (du * du + dv * dv)).sum(-1) + lam
        # right-hand sides as linear maps of the pose [J, 3] -> scalar: coefficient tensors [P, J, 3]
        zero = torch.zeros_like(w)
        cbx = torch.stack([-fx * fx * w, zero, fx * w * du], dim=-1)
        cby = torch.stack([zero, -fy * fy * w, fy * w * dv], dim=-1)
        cbz = torch.stack([fx * w * du, fy * w * dv, -w * (du * du + dv * dv)], dim=-1)
        schur = e - c * c / a - d * d / b
        col = lambda x: x[:, None, None]  # noqa: E731  [P] -> broadcast over [P, J, 3]
        ctz = (cbz - col(c / a) * cbx - col(d / b) * cby) / col(schur)
        self._coef = torch.stack([cbx / col(a), cby / col(b), ctz], dim=-1).float()  # [P, J, 3(pose xyz), 3(out)]
        self._tz0 = (lam * float(depth_prior) / schur)[:, None].float()  # [P, 1]
        self._cx, self._cy = (-c / a)[:, None].float(), (-d / b)[:, None].float()  # Tx += cx * Tz etc.
        self.known_depth = known_depth
        self.min_depth = float(min_depth)
        self._determined = ((w > 0).sum(-1) >= 2)[:, None]  # [P, 1]
        self.determined = bool(self._determined.all())
        self.weights = w if not self.single else w[0]
        self.refine_iters = int(refine_iters)
        self._u = u[:, None].float()  # [P, 1, J, 2]
        self._w = w[:, None].float()  # [P, 1, J]
        self._f = torch.tensor([fx, fy], dtype=torch.float32)
        self._c = torch.tensor([float(camera.cx), float(camera.cy)], dtype=torch.float32)

    def __call__(self, pose_rr: Tensor, init: Tensor | None = None, iters: int | None = None,
                 weights: Tensor | None = None) -> Tensor:
        """Translations ``[B, 3]`` for root-relative poses ``[B, J, 3]`` (metres; stacked: ``[P, n, ...]``).

        ``init`` (``[B, 3]``, e.g. the translation of a slightly different pose) replaces the closed-form seed,
        and ``iters`` the number of Gauss-Newton steps (default ``refine_iters``); ``weights`` (``[B, J]``,
        with ``init``) scale each joint's weight in those steps, e.g. to discount outliers.
        """
        if init is None:
            return self.solve(pose_rr, iters)[0]
        pose, init, weights = self._stacked(pose_rr), self._stacked(init), self._stacked(weights)
        self._follow(pose)
        tz_min = self.min_depth - pose[..., 2].min(dim=-1).values
        trans = self._gauss_newton(pose, init, self.known_depth is not None, iters, weights)
        if not self.determined:  # < 2 joints: the ridge decides
            trans = torch.where(self._determined[..., None], trans, self._stacked(self.solve(pose_rr, iters)[0]))
        return self._unstacked(torch.cat([trans[..., :2], torch.maximum(trans[..., 2:], tz_min[..., None])], -1))

    def _follow(self, pose: Tensor) -> None:
        """Move the per-frame tensors to the poses' device and dtype (once)."""
        if self._coef.device != pose.device or self._coef.dtype != pose.dtype:
            for name in ("_coef", "_tz0", "_cx", "_cy", "_u", "_w", "_f", "_c", "_determined"):
                v = getattr(self, name)
                setattr(self, name, v.to(pose.device) if v.dtype == torch.bool else v.to(pose.device, pose.dtype))

    def _stacked(self, x: Tensor | None) -> Tensor | None:
        return x[None] if self.single and x is not None else x

    def _unstacked(self, x: Tensor) -> Tensor:
        return x[0] if self.single else x

    def solve(self, pose_rr: Tensor, iters: int | None = None) -> tuple[Tensor, Tensor]:
        """``(translation [B, 3], clamped [B] bool)`` (stacked: ``[P, n, 3]``, ``[P, n]``)."""
        pose = self._stacked(pose_rr)
        self._follow(pose)
        lin = torch.einsum("pnjk,pjkl->pnl", pose, self._coef)  # (bx/a, by/b, tz - tz0)  [P, n, 3]
        known = self.known_depth is not None
        ridge = lin[..., 2] + self._tz0
        if known:
            tz = torch.full_like(lin[..., 2], float(self.known_depth))
        elif self.refine_iters > 0:
            tz = self._extent_depth(pose)
            if not self.determined:
                tz = torch.where(self._determined, tz, ridge)
        else:
            tz = ridge
        tz_min = self.min_depth - pose[..., 2].min(dim=-1).values
        tz = torch.maximum(tz, tz_min)
        trans = torch.stack([lin[..., 0] + self._cx * tz, lin[..., 1] + self._cy * tz, tz], dim=-1)
        if self.refine_iters > 0 and bool(self._determined.any()):
            refined = self._gauss_newton(pose, trans, known, iters)
            trans = refined if self.determined else torch.where(self._determined[..., None], refined, trans)
        clamped = trans[..., 2] <= tz_min + 1e-6
        trans = torch.cat([trans[..., :2], torch.maximum(trans[..., 2:], tz_min[..., None])], dim=-1)
        return self._unstacked(trans), self._unstacked(clamped)

    def _extent_depth(self, pose: Tensor) -> Tensor:
        """Weak-perspective depth: focal x (weighted RMS 3D extent in x, y) / (weighted RMS 2D extent)."""
        w, u, f = self._w, self._u, self._f
        wn = w / w.sum(-1, keepdim=True).clamp_min(1e-12)  # [P, 1, J]
        c2 = (wn[..., None] * u).sum(-2, keepdim=True)
        s2 = (wn[..., None] * ((u - c2) / f) ** 2).sum((-2, -1)).sqrt()  # [P, 1]
        xy = pose[..., :2]
        c3 = (wn[..., None] * xy).sum(-2, keepdim=True)
        s3 = (wn[..., None] * (xy - c3) ** 2).sum((-2, -1)).sqrt()  # [P, n]
        return s3 / s2.clamp_min(1e-6)

    def _gauss_newton(self, pose: Tensor, trans: Tensor, fix_depth: bool, iters: int | None = None,
                      weights: Tensor | None = None) -> Tensor:
        """Gauss-Newton on sum_j w_j |project(X_j + T) - u_j|^2 over T (or Tx, Ty with a fixed depth).

        The normal matrix has the pattern ``[[A, 0, C], [0, B, D], [C, D, E]]``; its 3x3 system is solved in
        closed form (a batched ``linalg.solve`` of 3x3 systems costs more than the rest of the step).
        """
        n = self.refine_iters if iters is None else iters
        if n <= 0:
            return trans
        w = (self._w if weights is None else self._w * weights)[..., None]  # [.., J, 1]
        f, c, u = self._f, self._c, self._u
        for _ in range(n):
            p = pose + trans[..., None, :]
            inv_z = 1.0 / p[..., 2:].clamp_min(self.min_depth)  # [.., J, 1]
            q = p[..., :2] * inv_z  # normalised image coordinates (x/z, y/z)
            r = q * f + c - u  # residuals (px) [.., J, 2]
            a = f * inv_z  # d proj / d (Tx, Ty); d proj / d Tz = -a q
            wa = w * a
            aq = a * q
            # every normal-equation sum over joints in one reduction: (A, B), (g0, g1), (-C, -D), E (x, y), -g2 (x, y)
            sums = torch.cat([wa * a, wa * r, wa * aq, w * aq * aq, wa * q * r], dim=-1).sum(-2)  # [.., 10]
            big_ab = sums[..., 0:2] + 1e-9
            g = sums[..., 2:4]
            if fix_depth:
                step = torch.cat([g / big_ab, torch.zeros_like(g[..., :1])], dim=-1)
            else:
                minus_cd = sums[..., 4:6]
                big_e = sums[..., 6] + sums[..., 7] + 1e-9
                g2 = -(sums[..., 8] + sums[..., 9])
                ratio = minus_cd / big_ab
                dz = ((g2 + (ratio * g).sum(-1)) / (big_e - (ratio * minus_cd).sum(-1)).clamp_min(1e-12))[..., None]
                step = torch.cat([(g + minus_cd * dz) / big_ab, dz], dim=-1)
            trans = trans - step
        return trans


def solve_root_translation(pose_rr: Tensor, targets_px: Tensor, weights: Tensor, camera: PinholeCamera,
                           depth_prior: float = 4.0, prior_weight: float = 1e-6, min_depth: float = 0.5,
                           known_depth: float | None = None, refine_iters: int = 3) -> RootTranslation:
    """One-shot :class:`RootTranslationSolver` for poses ``[B, J, 3]`` and targets ``[J, 2]`` / weights ``[J]``."""
    solver = RootTranslationSolver(targets_px, weights, camera, depth_prior, prior_weight, min_depth, known_depth,
                                   refine_iters)
    trans, clamped = solver.solve(pose_rr)
    return RootTranslation(trans, known_depth is not None, clamped, solver.determined)
