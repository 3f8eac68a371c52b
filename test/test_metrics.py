"""Pose metrics on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from diffpose_ros.core import metrics


def random_pose(rng: np.random.Generator) -> np.ndarray:
    p = rng.normal(0, 0.3, (17, 3))
    return p - p[:1]


def rot(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def test_mpjpe_hand_case() -> None:
    gt = np.zeros((17, 3))
    pred = np.zeros((17, 3))
    pred[1:, 0] = 0.1  # every non-root joint 10 cm off, root exact
    assert metrics.mpjpe(pred, gt) == pytest.approx(0.1 * 16 / 17)
    # a global translation is removed by root alignment but not without it
    assert metrics.mpjpe(gt + 5.0, gt) == pytest.approx(0.0)
    assert metrics.mpjpe(gt + np.array([3.0, 0, 4.0]), gt, align="none") == pytest.approx(5.0)


def test_pa_mpjpe_removes_similarity_but_not_mpjpe() -> None:
    rng = np.random.default_rng(0)
    gt = random_pose(rng)
    pred = 1.3 * gt @ rot(np.array([0.2, 1.0, 0.3]), 0.7).T + [0.5, -0.2, 3.0]
    assert metrics.pa_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-9)
    assert metrics.mpjpe(pred, gt) > 0.05
    np.testing.assert_allclose(metrics.procrustes_align(pred, gt), gt, atol=1e-9)


def test_n_mpjpe_removes_body_size_only() -> None:
    rng = np.random.default_rng(1)
    gt = random_pose(rng)
    assert metrics.n_mpjpe(0.9 * gt + [1.0, 2.0, 3.0], gt) == pytest.approx(0.0, abs=1e-12)  # size and place
    turned = gt @ rot(np.array([0.0, 1.0, 0.0]), 0.5).T
    assert metrics.n_mpjpe(turned, gt) > 0.05  # a rotation stays an error
    noisy = 1.1 * gt + rng.normal(0, 0.02, gt.shape)
    batch = np.stack([noisy, gt])
    n = metrics.n_mpjpe(batch, gt)
    assert n.shape == (2,) and n[1] == pytest.approx(0.0) and n[0] < metrics.mpjpe(noisy, gt)


def test_pa_mpjpe_excludes_reflections_and_is_batched() -> None:
    rng = np.random.default_rng(1)
    gt = np.stack([random_pose(rng) for _ in range(4)])
    mirrored = gt * [-1.0, 1.0, 1.0]
    assert (metrics.pa_mpjpe(mirrored, gt) > 1e-3).all()  # a reflection is not a rotation
    noisy = gt + rng.normal(0, 0.01, gt.shape)
    batched = metrics.pa_mpjpe(noisy, gt)
    single = np.array([metrics.pa_mpjpe(noisy[i], gt[i]) for i in range(4)])
    np.testing.assert_allclose(batched, single)
    assert (batched <= metrics.mpjpe(noisy, gt) + 1e-12).all()


def test_best_and_mean_of_m() -> None:
    gt = np.zeros((17, 3))
    hyps = np.zeros((3, 17, 3))
    hyps[0, 1:, 0] = 0.2
    hyps[1, 1:, 0] = -0.2
    hyps[2, 1:, 1] = 0.1
    assert metrics.best_of_m(hyps, gt) == pytest.approx(0.1 * 16 / 17)
    # mean of +-0.2 x and 0.1 y is (0, 0.0333)
    assert metrics.mean_of_m(hyps, gt) == pytest.approx(0.1 / 3 * 16 / 17)
    w = np.array([0.0, 0.0, 1.0])
    assert metrics.mean_of_m(hyps, gt, weights=w) == pytest.approx(0.1 * 16 / 17)
    batch = metrics.best_of_m(np.stack([hyps, hyps + 0.0]), np.stack([gt, gt]))
    assert batch.shape == (2,)


def test_pck_and_auc() -> None:
    errors = np.array([0.0, 0.05, 0.1, 0.2])
    assert metrics.pck(errors, 0.15) == 0.75
    assert metrics.pck(errors, 0.06) == 0.5
    # AUC of all-zero errors is (num - 1) / num (threshold 0 counts nothing), of huge errors 0
    assert metrics.auc(np.zeros(10)) == pytest.approx(30 / 31)
    assert metrics.auc(np.full(10, 1.0)) == 0.0
    # uniform errors on [0, 0.15]: AUC about 0.5
    assert metrics.auc(np.linspace(0, 0.15, 10001)) == pytest.approx(0.5, abs=0.02)


def test_calibration_detects_informative_spread() -> None:
    rng = np.random.default_rng(2)
    spread = rng.uniform(0.01, 0.2, (200, 17))
    errors = spread * rng.uniform(0.5, 1.5, spread.shape)
    good = metrics.calibration(spread, errors)
    bad = metrics.calibration(rng.permutation(spread.ravel()).reshape(spread.shape), errors)
    assert good["pearson"] > 0.7 and good["spearman"] > 0.7 and good["frame_pearson"] > 0.6
    assert abs(bad["pearson"]) < 0.15
    with pytest.raises(ValueError):
        metrics.calibration(spread[:, :5], errors)


def test_summarize_keys() -> None:
    rng = np.random.default_rng(3)
    gt = np.stack([random_pose(rng) for _ in range(5)])
    hyps = gt[:, None] + rng.normal(0, 0.02, (5, 4, 17, 3))
    out = metrics.summarize(hyps, gt, spread=hyps.std(1).mean(-1), weights=np.full((5, 4), 0.25))
    assert out["mpjpe_best_mm"] <= out["mpjpe_avg_hyp_mm"]
    assert out["pa_mpjpe_best_mm"] <= out["mpjpe_best_mm"] + 1e-9
    assert out["mpjpe_weighted_mean_mm"] == pytest.approx(out["mpjpe_mean_mm"])
    assert 0 <= out["pck150_mean"] <= 1
