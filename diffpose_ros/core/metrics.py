"""3D pose accuracy metrics (numpy, batched over leading axes; poses ``[..., J, 3]`` in metres).

* :func:`mpjpe` / :func:`pa_mpjpe`: mean per-joint position error, after root alignment / after a similarity
  Procrustes alignment (rotation, translation, scale).
* :func:`best_of_m` / :func:`mean_of_m`: multi-hypothesis protocols over ``[..., m, J, 3]``.
* :func:`pck` / :func:`auc`: fraction of joints within 150 mm, and its area under the curve over 0-150 mm.
* :func:`calibration`: do hypothesis spreads grow where errors grow (per-joint correlation)?
"""

from __future__ import annotations

import numpy as np

ROOT = 0


def root_align(pose: np.ndarray, root: int = ROOT) -> np.ndarray:
    """Subtract the root joint."""
    pose = np.asarray(pose, dtype=np.float64)
    return pose - pose[..., root : root + 1, :]


def per_joint_errors(pred: np.ndarray, gt: np.ndarray, align: str = "root") -> np.ndarray:
    """Euclidean error per joint ``[..., J]`` after ``align`` = ``"root"``, ``"procrustes"`` or ``"none"``."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if align == "root":
        pred, gt = root_align(pred), root_align(gt)
    elif align == "procrustes":
        pred = procrustes_align(pred, gt)
    elif align != "none":
        raise ValueError(f"unknown alignment {align!r}")
    return np.linalg.norm(pred - gt, axis=-1)


def mpjpe(pred: np.ndarray, gt: np.ndarray, align: str = "root") -> np.ndarray:
    """MPJPE per pose ``[...]`` (metres; root-aligned by default)."""
    return per_joint_errors(pred, gt, align).mean(-1)


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``pred`` mapped by the similarity transform (s, R, t) minimising ``||s R pred + t - gt||`` (batched).

    Reflections are excluded (det R = +1).
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    pred, gt = np.broadcast_arrays(pred, gt)
    mu_p = pred.mean(-2, keepdims=True)
    mu_g = gt.mean(-2, keepdims=True)
    p0, g0 = pred - mu_p, gt - mu_g
    cov = np.swapaxes(g0, -1, -2) @ p0  # [..., 3, 3] = sum g p^T
    u, sv, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    sv = sv.copy()
    sv[..., -1] *= d
    u = u.copy()
    u[..., :, -1] *= d[..., None]
    rot = u @ vt  # maps pred -> gt directions
    var_p = (p0**2).sum((-1, -2))
    scale = sv.sum(-1) / np.maximum(var_p, 1e-12)
    return scale[..., None, None] * (p0 @ np.swapaxes(rot, -1, -2)) + mu_g


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Procrustes-aligned MPJPE per pose ``[...]`` (metres)."""
    return mpjpe(pred, gt, align="procrustes")


def n_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Scale-normalised MPJPE per pose ``[...]`` (metres): root-aligned, ``pred`` scaled by the factor that best
    fits ``gt`` (least squares), so body-size errors drop out (Rhodin et al. 2018's N-MPJPE)."""
    pred, gt = np.broadcast_arrays(root_align(np.asarray(pred, np.float64)), root_align(np.asarray(gt, np.float64)))
    scale = (pred * gt).sum((-1, -2)) / np.maximum((pred * pred).sum((-1, -2)), 1e-12)
    return np.linalg.norm(scale[..., None, None] * pred - gt, axis=-1).mean(-1)


def best_of_m(hypotheses: np.ndarray, gt: np.ndarray, align: str = "root") -> np.ndarray:
    """Per-frame error of the best hypothesis: ``hypotheses [..., m, J, 3]``, ``gt [..., J, 3]`` -> ``[...]``."""
    gt = np.asarray(gt)[..., None, :, :]
    return mpjpe(hypotheses, gt, align).min(-1)


def mean_of_m(hypotheses: np.ndarray, gt: np.ndarray, align: str = "root",
              weights: np.ndarray | None = None) -> np.ndarray:
    """Per-frame error of the (optionally weighted) mean hypothesis (root-aligned before averaging)."""
    h = root_align(hypotheses) if align != "none" else np.asarray(hypotheses, dtype=np.float64)
    if weights is None:
        mean = h.mean(-3)
    else:
        w = np.asarray(weights, dtype=np.float64)
        mean = (w[..., None, None] * h).sum(-3) / w.sum(-1)[..., None, None]
    return mpjpe(mean, gt, align)


def pck(errors: np.ndarray, threshold: float = 0.15) -> float:
    """Fraction of joint errors (metres, any shape) below ``threshold``."""
    e = np.asarray(errors, dtype=np.float64)
    return float((e < threshold).mean())


def auc(errors: np.ndarray, max_threshold: float = 0.15, num: int = 31) -> float:
    """Mean PCK over ``num`` thresholds evenly spaced in [0, max_threshold] (0-150 mm by default)."""
    return float(np.mean([pck(errors, t) for t in np.linspace(0.0, max_threshold, num)]))


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    # average ties
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    return (sums / counts)[inv]


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def calibration(spread: np.ndarray, errors: np.ndarray) -> dict[str, float]:
    """How well per-joint hypothesis spreads predict per-joint errors (both ``[N, J]``, metres).

    Returns Pearson and Spearman correlations over all (frame, joint) pairs, the Pearson correlation of the
    per-joint means (``joint_pearson``: are uncertain joints the inaccurate ones?), and the mean
    per-frame Pearson correlation across joints (``frame_pearson``).
    """
    s = np.asarray(spread, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    if s.shape != e.shape or s.ndim != 2:
        raise ValueError(f"spread and errors must both be [N, J], got {s.shape} and {e.shape}")
    ok = np.isfinite(s) & np.isfinite(e)
    frame = [_pearson(s[i, ok[i]], e[i, ok[i]]) for i in range(len(s)) if ok[i].sum() > 2]
    frame = [f for f in frame if np.isfinite(f)]
    return {
        "pearson": _pearson(s[ok], e[ok]),
        "spearman": _pearson(_ranks(s[ok]), _ranks(e[ok])),
        "joint_pearson": _pearson(np.nanmean(np.where(ok, s, np.nan), 0), np.nanmean(np.where(ok, e, np.nan), 0)),
        "frame_pearson": float(np.mean(frame)) if frame else float("nan"),
    }


def summarize(hypotheses: np.ndarray, gt: np.ndarray, spread: np.ndarray | None = None,
              weights: np.ndarray | None = None) -> dict[str, float]:
    """Standard numbers (millimetres) for hypotheses ``[N, m, J, 3]`` and ground truth ``[N, J, 3]``."""
    hyp = np.asarray(hypotheses, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    gt_b = gt[:, None]
    per_hyp = mpjpe(hyp, gt_b)
    per_hyp_pa = pa_mpjpe(hyp, gt_b)
    mean_pose = root_align(hyp).mean(1)
    out = {
        "mpjpe_best_mm": 1000 * float(per_hyp.min(1).mean()),
        "pa_mpjpe_best_mm": 1000 * float(per_hyp_pa.min(1).mean()),
        "mpjpe_mean_mm": 1000 * float(mpjpe(mean_pose, gt).mean()),
        "pa_mpjpe_mean_mm": 1000 * float(pa_mpjpe(mean_pose, gt).mean()),
        "mpjpe_avg_hyp_mm": 1000 * float(per_hyp.mean()),
        "pck150_mean": pck(per_joint_errors(mean_pose, gt)),
        "auc_mean": auc(per_joint_errors(mean_pose, gt)),
    }
    if weights is not None:
        out["mpjpe_weighted_mean_mm"] = 1000 * float(mean_of_m(hyp, gt, weights=weights).mean())
        top = np.take_along_axis(hyp, np.argmax(weights, 1)[:, None, None, None], 1)[:, 0]
        out["mpjpe_top_weight_mm"] = 1000 * float(mpjpe(top, gt).mean())
    if spread is not None:
        cal = calibration(spread, per_joint_errors(mean_pose, gt))
        out.update({f"calibration_{k}": v for k, v in cal.items()})
    return out
