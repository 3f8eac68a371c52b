"""Position-npz mocap sources (CMU npz, DeepMimic) and the Human3.6M source, on tiny shipped fixtures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from diffpose_ros.core import skeleton
from diffpose_ros.prior import position_mocap as pm
from diffpose_ros.prior.h36m_npz import H36M32_TO_17, Z_UP_TO_CANONICAL
from diffpose_ros.prior.mocap import MocapConfig, build_pose_set, take_split
from diffpose_ros.prior.pose_prior import PosePrior

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "mocap"
REPO = Path(__file__).resolve().parents[1]
EXTRACTS = {pm.CMU_POS: FIXTURES / "cmu_expmap_positions_extract.npz",
            pm.DEEPMIMIC: FIXTURES / "deepmimic_positions_extract.npz"}
STANDING_HEAD_Y = -0.7  # test_mocap.STANDING's head top
UPRIGHT_TAKES = {pm.CMU_POS: ("train/walking/walking_1", "test/jumping/jumping_1"), pm.DEEPMIMIC: ("walk",)}


@pytest.mark.parametrize("rig", list(EXTRACTS), ids=lambda r: r.name)
def test_mapping_is_upright_left_right_correct_and_rescaled(rig: pm.PositionRig) -> None:
    raw = dict(pm.iter_npz_takes(EXTRACTS[rig]))
    mapped = dict(pm.load_rig_takes(rig, EXTRACTS[rig]))
    assert set(mapped) == set(raw) and len(mapped) == 3
    for take, poses in mapped.items():
        assert poses.dtype == np.float32 and poses.shape == (len(raw[take]), 17, 3)
        np.testing.assert_allclose(poses[:, 0], 0.0, atol=1e-6)
        # Rescaled to the reference body, which is itself left/right symmetric and adult-sized.
        np.testing.assert_allclose(np.median(skeleton.bone_lengths(poses), 0), pm.reference_bone_lengths(),
                                   rtol=1e-4)
        # Before rescaling, the rig's own lengths are plausible too (thigh and shin ~0.4 m, upper arm ~0.28 m).
        own = skeleton.bone_lengths(pm.map_to_h36m(raw[take], rig))
        assert np.all((own[:, [1, 2, 4, 5]] > 0.35) & (own[:, [1, 2, 4, 5]] < 0.5))
        assert np.all((own[:, [11, 14]] > 0.22) & (own[:, [11, 14]] < 0.33))
    for take in UPRIGHT_TAKES[rig]:
        poses = mapped[take]
        y = poses[..., 1]  # canonical y points down
        assert np.all(y[:, 10] < y[:, 8]) and np.all(y[:, 8] < y[:, 7]) and np.all(y[:, 7] < 0)
        assert np.all(y[:, [3, 6]] > 0.6)  # ankles well below the pelvis
        # Chirality, checked against the feet (independent of the hip labels): the toes point forward, and
        # forward = left x up in a right-handed, unmirrored frame. Facing the camera (-z) puts the left hip at +x.
        toes = pm.to_canonical(raw[take][:, list(rig.toes)]) - pm.to_canonical(raw[take][:, [rig.h36m[3][0],
                                                                                              rig.h36m[6][0]]])
        toes[..., 1] = 0.0  # horizontal foot direction
        forward = np.cross(poses[:, 4] - poses[:, 1], np.array([0.0, -1.0, 0.0]))
        cos = np.einsum("fi,fki->fk", forward / np.linalg.norm(forward, axis=-1, keepdims=True),
                        toes / np.linalg.norm(toes, axis=-1, keepdims=True))
        assert cos.mean() > 0.7 and np.mean(cos > 0) > 0.9, cos  # a mirrored mapping gives about -1


def test_lying_and_crawling_poses_are_kept() -> None:
    mapped = dict(pm.load_rig_takes(pm.DEEPMIMIC, EXTRACTS[pm.DEEPMIMIC]))
    trunk = mapped["crawl"][:, 8] - mapped["crawl"][:, 0]
    # Crawling: the trunk is closer to horizontal than vertical in every frame.
    assert np.all(np.abs(trunk[:, 1]) < np.linalg.norm(trunk[:, [0, 2]], axis=-1))


def test_rescale_bones_keeps_directions() -> None:
    poses = pm.map_to_h36m(next(pm.iter_npz_takes(EXTRACTS[pm.CMU_POS]))[1], pm.CMU_POS)
    out = pm.rescale_bones(poses)
    before, after = skeleton.bone_vectors(poses), skeleton.bone_vectors(out)
    cos = np.sum(before * after, -1) / np.linalg.norm(before, axis=-1) / np.linalg.norm(after, axis=-1)
    np.testing.assert_allclose(cos, 1.0, atol=1e-9)
    with pytest.raises(ValueError, match="zero-length"):
        pm.rescale_bones(np.zeros((2, 17, 3)))


def _fixture_dir(tmp_path: Path) -> Path:
    for rig, extract in EXTRACTS.items():
        shutil.copy(extract, tmp_path / rig.file)
    return tmp_path


def test_split_is_by_take_and_deterministic(tmp_path: Path) -> None:
    cfg = MocapConfig(sources=["cmu_pos", "deepmimic"], frame_step_overrides={"deepmimic": 0.033})
    first = build_pose_set(cfg, _fixture_dir(tmp_path), progress=False)
    second = build_pose_set(cfg, tmp_path, progress=False)
    np.testing.assert_array_equal(first.take_split, second.take_split)
    np.testing.assert_array_equal(first.poses, second.poses)
    # Takes keep the DMGNN split in their name (train/x_1 and test/x_1 are different takes).
    assert "cmu_pos/test/jumping/jumping_1" in first.takes.tolist()
    assert first.take_split.tolist() == [take_split(t) for t in first.takes]
    for split in ("train", "val", "test"):
        sub = first.split(split)
        assert set(first.take_split[np.unique(sub.take_index)]) <= {split}
    # frame_step_s subsamples the 30 fps takes: 8 fixture frames at 10 fps -> 3 frames at 0.1 s... per CMU take.
    assert (first.source_of_pose() == "cmu_pos").sum() == 3 * 3
    assert (first.source_of_pose() == "deepmimic").sum() == 3 * 8


def test_unknown_source_and_missing_h36m_path_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown mocap source"):
        MocapConfig(sources=["nope"])
    with pytest.raises(ValueError, match="h36m_npz"):
        MocapConfig(sources=["h36m"])


def _write_videopose3d_npz(path: Path) -> None:
    """A tiny data_3d_h36m.npz in VideoPose3D's layout: pickled {subject: {action: [N, 32, 3]}}, z up, metres."""
    from test_mocap import STANDING

    rng = np.random.default_rng(0)
    positions: dict[str, dict[str, np.ndarray]] = {}
    for subject in ("S1", "S5", "S9"):
        positions[subject] = {}
        for action in ("Walking 1", "Sitting"):
            world17 = (STANDING[None] + rng.normal(scale=0.02, size=(60, 17, 3))) @ Z_UP_TO_CANONICAL  # inverse
            frames = rng.normal(size=(60, 32, 3)) + np.array([1.0, 2.0, 0.9])
            frames[:, list(H36M32_TO_17)] = world17 + np.array([1.0, 2.0, 0.9])
            positions[subject][action] = frames.astype(np.float32)
    np.savez_compressed(path, positions_3d=positions)


def test_train_cli_on_videopose3d_npz(tmp_path: Path) -> None:
    npz = tmp_path / "data_3d_h36m.npz"
    _write_videopose3d_npz(npz)
    config = tmp_path / "tiny.yaml"
    config.write_text("model: {width: 32, depth: 1, time_dim: 16}\n"
                      "train: {steps: 20, batch_size: 16, warmup_steps: 2, log_every: 10, val_every: 10,"
                      " ckpt_every: 10, val_size: 32}\n")
    out = tmp_path / "run"
    env = {**os.environ, "DIFFPOSE_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, str(REPO / "training" / "train_prior.py"), "--config", str(config), "--out", str(out),
           "--h36m-npz", str(npz), "--subjects", "S1", "S5"]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    prior = PosePrior.load(out / "last.pt")
    assert prior.metadata["steps"] == 20
    assert prior.metadata["experiment"]["data"]["sources"] == ["h36m"]
    data = prior.metadata["data"]
    assert sum(row.get("h36m", 0) for row in data.values()) == 2 * 2 * 12  # 2 subjects x 2 actions x 60/5 frames
    # The cache holds S1/S5 takes only (S9 is the test subject) and the canonical frame is y down.
    cache = next((tmp_path / "cache").glob("mocap_h36m17_h36m_*.npz"))
    with np.load(cache) as arrays:
        assert sorted({t.split("/")[1] for t in arrays["takes"]}) == ["S1", "S5"]
        np.testing.assert_allclose(arrays["poses"][:, 10, 1].mean(), STANDING_HEAD_Y, atol=0.03)
    eps = prior.predict_noise(torch.randn(4, 17, 3), torch.full((4,), 10))
    assert torch.isfinite(eps).all()
    # The training subjects' statures (before size augmentation) travel with the weights, for the sampler.
    from test_mocap import STANDING

    stature = float(skeleton.nominal_height(STANDING.astype(np.float64))) / skeleton.STATURE_TO_NOMINAL
    assert prior.body_height[0] == pytest.approx(stature, rel=0.03) and prior.body_height[1] < 0.03
    # Export keeps it; --no-body-height leaves it out (the sampler's adult default then sizes people).
    for flags, expected in (([], prior.body_height), (["--no-body-height"], None)):
        target = tmp_path / f"exported{len(flags)}.pt"
        done = subprocess.run(cmd[:6] + ["--export", str(target), *flags], capture_output=True, text=True, env=env,
                              timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
        exported = PosePrior.load(target)
        assert exported.body_height == expected and exported.metadata["steps"] == 20
        torch.testing.assert_close(exported.predict_noise(torch.ones(2, 17, 3), torch.full((2,), 10)),
                                   prior.predict_noise(torch.ones(2, 17, 3), torch.full((2,), 10)), atol=2e-2, rtol=0)
    stray = subprocess.run(cmd[:6] + ["--no-body-height"], capture_output=True, text=True, env=env, timeout=60)
    assert stray.returncode == 2 and "--export only" in stray.stderr
    # A bad path is a clear error, not a traceback.
    bad = subprocess.run(cmd[:-5] + ["--h36m-npz", str(tmp_path / "missing.npz")], capture_output=True, text=True,
                         env=env, timeout=60)
    assert bad.returncode != 0 and "file not found" in bad.stderr



@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # untrained priors can emit zero-length bones
def test_benchmark_and_source_report_score_several_priors_on_one_heldout_set(tmp_path: Path) -> None:
    from diffpose_ros.prior.augment import AugmentConfig
    from diffpose_ros.prior.benchmark import run_benchmark
    from diffpose_ros.prior.network import NetworkConfig
    from diffpose_ros.prior.source_report import format_markdown, source_report

    torch.manual_seed(0)
    pose_set = build_pose_set(MocapConfig(sources=["cmu_pos", "deepmimic"]), _fixture_dir(tmp_path), progress=False)
    # Make every split non-empty whatever the hash says: one take per split per source is enough here.
    pose_set.take_split[:] = ["train", "val", "test"] * 2
    tiny = NetworkConfig(width=16, depth=1, time_dim=8)
    priors = {"a": PosePrior.untrained(tiny), "b": PosePrior.untrained(tiny)}
    results = run_benchmark(priors, num=20, steps=(2,), num_train=20, pose_set=pose_set)
    assert {"held-out val (reference)", "a 2 steps (eta 0)", "b 2 steps (eta 0)"} <= set(results)
    report = source_report(priors, pose_set, AugmentConfig(limb_scale=0.0, height_range_m=(1.7, 1.7)), num=30, steps=2)
    assert list(report) == ["cmu_pos", "deepmimic"]
    for rows in report.values():
        assert set(rows) == {"train takes", "a", "b", "_counts"}
        # Untrained priors sample noise: their coverage of held-out poses is far below real training poses'.
        assert rows["a"]["nn_from_holdout_mm"] > rows["train takes"]["nn_from_holdout_mm"]
    assert "| cmu_pos (2 / " in format_markdown(report)

