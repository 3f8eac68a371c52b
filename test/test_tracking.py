"""Identity tracking on real mocap walks projected through a camera: crossing, occlusion, re-appearance."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from diffpose_ros.evaluation.mocap_video import MocapScene, identity_switches, load_takes, place_walk
from diffpose_ros.tracking.assignment import min_cost_assignment
from diffpose_ros.tracking.tracker import PersonTracker, TrackState

RIGHT, LEFT = "dataset-1_walk-right_normal_001", "dataset-1_walk-left_masculinity_001"


@pytest.fixture(scope="module")
def walks(mocap_dir) -> dict[str, np.ndarray]:
    return load_takes([RIGHT, LEFT])


def _crossing(walks, depth_a: float, depth_b: float, heading_b: float = np.pi, **scene) -> MocapScene:
    n = min(len(w) for w in walks.values())
    a = place_walk(walks[RIGHT][:n], depth_a, 0.0, n // 2, heading=0.0)  # left to right
    b = place_walk(walks[LEFT][:n], depth_b, 0.0, n // 2, heading=heading_b)
    return MocapScene([a, b], **scene)


def _track(frames, tracker: PersonTracker | None = None) -> list[list[int]]:
    tracker = tracker or PersonTracker()
    return [[o.track_id for o in tracker.update(f.observations)] for f in frames]


def test_assignment_is_exact_and_gated() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        r, c = (int(v) for v in rng.integers(1, 6, 2))
        cost = rng.random((r, c))
        best = min(sum(cost[i, p[i]] for i in range(r)) for p in itertools.permutations(range(c), r)) if r <= c \
            else min(sum(cost[p[j], j] for j in range(c)) for p in itertools.permutations(range(r), c))
        pairs = min_cost_assignment(cost)
        assert len(pairs) == min(r, c) and len({i for i, _ in pairs}) == len({j for _, j in pairs}) == len(pairs)
        assert sum(cost[i, j] for i, j in pairs) == pytest.approx(best)
    assert min_cost_assignment(np.array([[0.1, 0.9], [0.2, 0.95]]), max_cost=0.5) == [(0, 0)]


def test_people_crossing_with_occlusion_keep_their_ids(walks) -> None:
    # The far walker comes towards the camera, slightly leftwards: the near one passes in front of them.
    scene = _crossing(walks, 4.5, 7.0, heading_b=-0.5 * np.pi - 0.4)
    frames = scene.frames(seed=1)
    hidden = [f for f in frames if f.visible.sum() == 1 and all(MocapScene._in_view(scene, k) for k in
                                                                scene.camera.project(f.poses_camera))]
    assert len(hidden) >= 3, "the far walker must be hidden behind the near one for a few frames"
    ids = _track(frames)
    stats = identity_switches([f.person_index for f in frames], ids)
    assert stats == {"switches": 0, "transfers": 0, "ids_used": 2}, stats


def test_people_crossing_in_plain_view_keep_their_ids(walks) -> None:
    # Never hidden: both are detected while their boxes overlap (association by motion + keypoints).
    frames = _crossing(walks, 5.0, 5.6, occlusion_overlap=2.0).frames(seed=2)
    assert any(len(f.observations) == 2 and _iou(*[o.box for o in f.observations]) > 0.5 for f in frames)
    stats = identity_switches([f.person_index for f in frames], _track(frames))
    assert stats == {"switches": 0, "transfers": 0, "ids_used": 2}, stats


def test_short_dropout_keeps_id_long_one_gets_a_new_id(walks) -> None:
    frames = _crossing(walks, 4.5, 6.5, occlusion_overlap=2.0).frames(seed=3)
    tracker = PersonTracker()
    ids = _track(frames[:12], tracker)
    first = {p: t for f, fid in zip(frames[:12], ids) for p, t in zip(f.person_index, fid)}
    # Person 0 missed for 4 frames (short occlusion): lost, then recovered with the same id.
    for f in frames[12:16]:
        keep = [i for i, p in enumerate(f.person_index) if p != 0]
        tracker.update([f.observations[i] for i in keep])
    assert tracker.state_of(first[0]) == TrackState.LOST
    f = frames[16]
    got = dict(zip(f.person_index, [o.track_id for o in tracker.update(f.observations)]))
    assert got == first
    # Everybody gone for longer than max_lost: the tracks end; people coming back get new, unused ids.
    for _ in range(tracker.config.max_lost + 1):
        tracker.update([])
    assert not tracker.tracks
    new = [o.track_id for o in tracker.update(frames[20].observations)]
    assert len(new) == 2 and not set(new) & set(first.values())


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    lo, hi = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = np.prod(np.clip(hi - lo, 0, None))
    return float(inter / (np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter))


def test_sample_video_ids_follow_the_hand_labelled_people() -> None:
    """Real pixels: the bundled sample through BlazePose; ids must not pass between the labelled people."""
    import json
    from pathlib import Path

    from diffpose_ros.detector.blazepose import BlazePoseDetector
    from diffpose_ros.detector.tracking import BlazePoseTracker
    from diffpose_ros.evaluation.tracking_eval import iter_rgb, label_people

    sample = Path(__file__).resolve().parents[1] / "sample"
    labels = json.loads((sample / "vtest_walkers_identities.json").read_text())["frames"]
    detector = BlazePoseTracker(BlazePoseDetector("full", max_people=4, threads=1))
    tracker = PersonTracker()
    boxes, ids = [], []
    for rgb in iter_rgb(sample / "vtest_walkers", 0, 40, None, 1.0):
        obs = tracker.update(detector.detect(rgb), rgb)
        boxes.append(np.array([o.box for o in obs]).reshape(-1, 4))
        ids.append([o.track_id for o in obs])
    people = label_people(boxes, labels)
    labelled = [[t for t, p in zip(fid, pr) if p >= 0] for fid, pr in zip(ids, people)]
    gt = [[p for p in pr if p >= 0] for pr in people]
    assert sum(len(g) for g in gt) >= 40  # the labelled people are found
    stats = identity_switches(gt, labelled)
    assert stats["switches"] == 0 and stats["transfers"] == 0, stats
