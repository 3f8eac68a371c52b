"""The proxy benchmark's geometry and scoring, on upright people drawn from the shipped prior itself."""

from __future__ import annotations

import numpy as np
import pytest

from diffpose_ros.core.gravity import level_to_camera
from diffpose_ros.evaluation import proxy_benchmark as pb
from diffpose_ros.prior.pose_prior import PosePrior
from diffpose_ros.sampling.config import SamplerConfig


@pytest.fixture(scope="module")
def prior() -> PosePrior:
    return PosePrior.load()


@pytest.fixture(scope="module")
def people(prior: PosePrior) -> np.ndarray:
    return SamplerConfig().build(prior, seed=3).sample(None, None, num_hypotheses=3).poses_root_relative


@pytest.mark.parametrize("scene", pb.SCENES)
def test_views_are_upright_in_view_and_on_the_floor(people: np.ndarray, scene: str) -> None:
    frames = pb.make_frames(people.astype(np.float64), ["a/x", "b/y", "c/z"], scene, seed=1)
    assert len(frames) >= (10 if scene == "h36m" else 2)  # a view that cannot show the whole body is skipped
    for fr in frames:
        assert (fr.keypoints >= 0).all() and (fr.keypoints[:, 0] < fr.camera.width).all()
        assert (fr.keypoints[:, 1] < fr.camera.height).all() and (fr.pose_camera[:, 2] > 0.5).all()
        level = fr.pose_camera @ level_to_camera(fr.gravity)  # back into the upright frame: y down
        spine = level[8] - level[0]
        assert spine[1] < -0.8 * np.linalg.norm(spine)  # the thorax is above the pelvis
        clearance = fr.camera_height - level[:, 1].max()  # the floor lies a few cm below the lowest joint
        assert pb.FLOOR_CLEARANCE_RANGE_M[0] <= clearance <= pb.FLOOR_CLEARANCE_RANGE_M[1]
        pitch = np.degrees(np.arcsin(fr.gravity[2]))
        if scene == "level":
            assert abs(pitch) < 1e-9
        elif scene == "robot":
            assert 20.0 <= pitch <= 30.0
        else:
            assert 5.0 < pitch < 25.0  # Human3.6M's wall cameras look down


def test_scores_improve_with_more_hypotheses_and_clean_2d(prior: PosePrior, people: np.ndarray) -> None:
    frames = pb.make_frames(people.astype(np.float64), ["a/x", "b/y", "c/z"], "robot", seed=2)
    sampler = SamplerConfig().build(prior, seed=0)
    r = pb.evaluate(sampler, frames, "clean", "known", (1, 8, 32), m_node=8)
    assert r["frames"] == len(frames) >= 2 and set(r["per_category"]) == {fr.category for fr in frames}
    # per source: the views of each (weighted back together they give the headline), and each source once
    src = r["per_source"]
    assert set(src) == {"a", "b", "c"} and sum(v["frames"] for v in src.values()) == len(frames)
    assert sum(v["frames"] * v["pa_best_of_8_mm"] for v in src.values()) / len(frames) == pytest.approx(
        r["pa_best_of_8_mm"])
    assert r["source_mean"]["top_mm"] == pytest.approx(np.mean([v["top_mm"] for v in src.values()]))
    # per pose: each pose's views together, weighted back by their number they give the headline
    per_pose = r["per_pose"]
    views = np.asarray(per_pose["views"])
    assert views.sum() == len(frames) and sorted(set(per_pose["source"])) == ["a", "b", "c"]
    assert (views * per_pose["best_of_8_mm"]).sum() / views.sum() == pytest.approx(r["best_of_8_mm"])
    assert r["se"]["views"]["best_of_8_mm"] > 0
    means = pb.pose_means(per_pose)  # both means rebuilt from the per-pose numbers
    assert means["views"]["pa_best_of_8_mm"] == pytest.approx(r["pa_best_of_8_mm"])
    assert means["source_mean"]["top_mm"] == pytest.approx(r["source_mean"]["top_mm"])
    assert r["best_of_32_mm"] <= r["best_of_8_mm"] <= r["best_of_1_mm"]
    assert r["pa_best_of_32_mm"] <= r["best_of_32_mm"]
    assert r["best_of_32_mm"] < 80.0 and r["reprojection_median_px"] < 6.0  # clean 2D is followed closely
    assert pb.pose_category("bandai_ds1/dataset-1_bow_angry_001") == "bandai_ds1/bow"
    assert pb.pose_category("cmu_pos/test/soccer/soccer_1") == "cmu_pos/soccer"
    assert pb.pose_category("cmu_cc/005_005_02") == "cmu_cc/subject_005"


def test_the_floor_changes_only_sizes_and_distances(prior: PosePrior, people: np.ndarray) -> None:
    """``floor`` passes each view's camera height: the same hypotheses (same draws) come out rescaled, so the
    scale-normalised errors match ``known`` exactly and the metric ones do not."""
    frames = pb.make_frames(people.astype(np.float64), ["a/x", "b/y", "c/z"], "h36m", seed=2)[:6]
    known, floor = (pb.evaluate(SamplerConfig().build(prior, seed=0), frames, "clean", g, (8,), m_node=8)
                    for g in ("known", "floor"))
    assert floor["n_best_of_8_mm"] == pytest.approx(known["n_best_of_8_mm"], abs=1e-3)
    assert floor["pa_best_of_8_mm"] == pytest.approx(known["pa_best_of_8_mm"], abs=1e-3)
    assert floor["best_of_8_mm"] != pytest.approx(known["best_of_8_mm"], abs=0.1)


def test_repeats_average_runs_of_different_sampler_seeds(prior: PosePrior, people: np.ndarray) -> None:
    frames = pb.make_frames(people.astype(np.float64), ["a/x", "b/y", "c/z"], "level", seed=2)
    runs = [pb.evaluate(SamplerConfig().build(prior, seed=s), frames, "noisy", "known", (1, 8), m_node=8)
            for s in (0, 1)]
    assert runs[0]["best_of_8_mm"] != runs[1]["best_of_8_mm"]  # the seeds draw different hypotheses
    mean = pb.average_runs(runs)
    assert mean["best_of_8_mm"] == pytest.approx((runs[0]["best_of_8_mm"] + runs[1]["best_of_8_mm"]) / 2)
    assert mean["repeats"]["top_mm"] == [runs[0]["top_mm"], runs[1]["top_mm"]] and mean["frames"] == len(frames)
    cat = next(iter(mean["per_category"]))
    assert mean["per_category"][cat]["top_mm"] == pytest.approx(
        np.mean([r["per_category"][cat]["top_mm"] for r in runs]))
    assert "repeats" not in pb.average_runs(runs[:1])
    # the standard errors are those of the seeds' mean per pose, not the mean of each seed's
    assert mean["per_pose"]["top_mm"] == pytest.approx(
        np.mean([r["per_pose"]["top_mm"] for r in runs], axis=0).tolist())
    assert mean["se"]["views"] == pb.standard_errors(mean["per_pose"])["views"]  # (one pose per source: NaN)
    assert mean["se"]["views"]["top_mm"] != runs[0]["se"]["views"]["top_mm"]


def test_standard_errors_count_poses_not_views() -> None:
    """Cluster standard errors: a pose seen four times is one draw; the source mean's error combines the sources'."""
    x = [10.0, 20.0, 30.0, 40.0]
    per_pose = {"source": ["a", "a", "b", "b"], "views": [4.0, 4.0, 4.0, 4.0], "best_of_8_mm": x}
    se = pb.standard_errors(per_pose)
    assert se["views"]["best_of_8_mm"] == pytest.approx(np.std(x, ddof=1) / 2)  # sd / sqrt(4 poses)
    assert se["a"]["best_of_8_mm"] == pytest.approx(np.std([10, 20], ddof=1) / np.sqrt(2))
    assert se["source_mean"]["best_of_8_mm"] == pytest.approx(np.hypot(se["a"]["best_of_8_mm"],
                                                                       se["b"]["best_of_8_mm"]) / 2)
    # unequal views: the error of the view-weighted mean (a ratio estimator), by hand
    n = np.array([1.0, 1.0, 1.0, 9.0])
    mean = (n * x).sum() / n.sum()  # 35 mm
    by_hand = np.sqrt(4 / 3 * ((n * (np.array(x) - mean)) ** 2).sum()) / n.sum()
    assert pb.standard_errors(per_pose | {"views": n.tolist()})["views"]["best_of_8_mm"] == pytest.approx(by_hand)
    assert np.isnan(pb.standard_errors({"source": ["a"], "views": [4.0], "t": [1.0]})["views"]["t"])


def test_balanced_draws_take_as_many_poses_of_every_source() -> None:
    source_of = np.array(["a"] * 50 + ["b"] * 500 + ["c"] * 5)
    pick = pb.draw_poses(source_of, 0, 10, np.random.default_rng(0))
    assert (np.diff(pick) > 0).all()  # sorted, no pose twice
    assert [int((source_of[pick] == s).sum()) for s in "abc"] == [10, 10, 5]  # all of a smaller source
    plain = pb.draw_poses(source_of, 30, 0, np.random.default_rng(0))
    assert len(plain) == 30 and (source_of[plain] == "b").sum() > 20  # proportional to the sources' sizes
    assert (pb.draw_poses(source_of, 0, 10, np.random.default_rng(0)) == pick).all()  # deterministic per seed
    # the CLI: balanced by default, --frames for a draw in proportion, never both
    assert pb.pose_draw(None, None) == (0, pb.DEFAULT_PER_SOURCE)
    assert pb.pose_draw(80, None) == (80, 0) and pb.pose_draw(None, 10) == (0, 10)
    for bad in ((80, 10), (0, None), (None, -1)):
        with pytest.raises(ValueError):
            pb.pose_draw(*bad)


def test_error_budget_rows_separate_the_detector_errors(prior: PosePrior, people: np.ndarray, tmp_path) -> None:
    from diffpose_ros.evaluation import error_budget as eb

    frames = pb.make_frames(people.astype(np.float64), ["a/x", "b/y", "c/z"], "h36m", seed=4)
    rows = ["noisy", "offsets-missing", "clean"]
    results = eb.budget(lambda r: SamplerConfig().build(prior, seed=r), {"test": frames}, rows)
    assert list(results) == rows
    for r in results.values():
        assert r["n_best_of_200_mm"] <= r["best_of_200_mm"] <= r["best_of_16_mm"]  # scale fit: never worse
        assert 0 < r["depth_best_of_200_mm"] < 3 * r["best_of_200_mm"]
    assert results["clean"]["best_of_16_mm"] < results["noisy"]["best_of_16_mm"]
    assert "clean" in eb.table(results) and eb.plot(results, tmp_path / "b.png").stat().st_size > 10_000


def test_sampler_settings_parse_from_text() -> None:
    base = SamplerConfig()
    c = SamplerConfig.from_strings({"restart_all": "false", "restart_below": "0.5", "tilt_prior_deg": "0,25",
                                    "num_steps": "8"})
    assert (c.restart_all, c.restart_below, c.tilt_prior_deg, c.num_steps) == (False, 0.5, (0.0, 25.0), 8)
    assert SamplerConfig.from_strings({"restart_all": "True"}).restart_all is True
    assert SamplerConfig.from_strings({}) == base
    with pytest.raises(ValueError, match="true or false"):
        SamplerConfig.from_strings({"restart_all": "maybe"})
    with pytest.raises(ValueError, match="unknown sampler setting"):
        SamplerConfig.from_strings({"restart_everyone": "1"})
    assert SamplerConfig.from_strings({"restart_refine": "3"}).restart_refine == 3
    with pytest.raises(ValueError, match="restart_refine"):
        SamplerConfig.from_strings({"restart_refine": "0"}).build(None)


def test_sampler_cost_times_variants_side_by_side_and_counts_reruns(prior: PosePrior, people: np.ndarray) -> None:
    from diffpose_ros.evaluation import sampler_cost as sc

    frames = pb.make_frames(people.astype(np.float64), ["a/x", "b/y", "c/z"], "h36m", seed=1)[:2]
    variants = {v: sc.parse_variant(v) for v in ("default", "accurate", "default:num_steps=6,restart_all=true")}
    assert variants["default:num_steps=6,restart_all=true"].num_steps == 6
    out = sc.measure(prior, variants, frames, repeats=1)
    assert out["calls_per_variant"] == 2
    rows = out["variants"]
    assert rows["default"]["rerun_share"] == 0.0
    assert rows["accurate"]["rerun_share"] == 1.0  # everyone re-runs after the drop step
    # ratios are to the first variant's mean
    assert rows["accurate"]["mean_ratio"] == pytest.approx(rows["accurate"]["mean_ms"] / rows["default"]["mean_ms"])
    assert all(0 < r["min_ms"] <= r["median_ms"] for r in rows.values())
    assert len(sc.table(out).splitlines()) == 4
    for bad in ("slow", "default:num_steps", "default:nonsense=1"):
        with pytest.raises(ValueError):
            sc.parse_variant(bad)


def test_two_runs_compare_pose_by_pose(prior: PosePrior, people: np.ndarray, tmp_path, capsys) -> None:
    """proxy_compare: B - A over the same poses equals the difference of the headlines; other poses are refused."""
    import json

    from diffpose_ros.evaluation import proxy_compare as pc

    frames = pb.make_frames(people.astype(np.float64), ["a/x", "b/y", "c/z"], "h36m", seed=5)[:8]
    a, b = (pb.evaluate(SamplerConfig(num_steps=n).build(prior, seed=0), frames, "clean", "known", (8,), m_node=8)
            for n in (10, 4))
    d = pc.paired_difference(a["per_pose"], b["per_pose"])
    assert d["views"]["best_of_8_mm"][0] == pytest.approx(b["best_of_8_mm"] - a["best_of_8_mm"])
    assert d["source_mean"]["top_mm"][0] == pytest.approx(b["source_mean"]["top_mm"] - a["source_mean"]["top_mm"])
    assert d["views"]["top_mm"][0] != 0.0 and d["views"]["top_mm"][1] > 0
    other = pb.evaluate(SamplerConfig().build(prior, seed=0), frames[:4], "clean", "known", (8,), m_node=8)
    with pytest.raises(ValueError, match="different poses"):
        pc.paired_difference(a["per_pose"], other["per_pose"])
    paths = []
    for name, r in (("a", a), ("b", b)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps({"runs": {"h36m/clean/known": r}}))
    assert pc.main([str(p) for p in paths]) == 0
    assert "B - A, source_mean" in capsys.readouterr().out
