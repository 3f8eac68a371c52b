"""3DPW: official pickle layout -> evaluation bag (images, CameraInfo, camera-frame H36M-17 ground truth)."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from diffpose_ros.evaluation.replay_eval import read_ground_truth
from diffpose_ros.evaluation.replay_messages import GT_TOPIC, INFO_TOPIC, skeletons_from_msg
from diffpose_ros.evaluation.threedpw_bags import SMPL24_TO_H36M17, convert, load_sequence, smpl_to_h36m
from diffpose_ros.tools.bag_io import bag_topics, read_messages
from diffpose_ros.tools.node_replay import bag_layout

N = 5
SEQ = "courtyard_test_00"


def _rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _write_3dpw(root: Path) -> dict:
    """A 2-person, 5-frame sequence in the official layout (Python-2 style pickle) plus 64x48 JPEG frames."""
    rng = np.random.default_rng(3)
    cam_poses = np.tile(np.eye(4), (N, 1, 1))
    for i in range(N):
        cam_poses[i, :3, :3] = _rot_y(0.1 * i)
        cam_poses[i, :3, 3] = [0.1 * i, -0.2, 4.0]
    joints = [rng.normal(0, 0.4, (N, 72)), rng.normal(0, 0.4, (N, 72))]
    valid = [np.ones(N), np.array([1, 1, 0, 1, 1])]
    data = {"sequenceName": SEQ, "cam_intrinsics": np.array([[60.0, 0, 31.5], [0, 61.0, 23.5], [0, 0, 1]]),
            "cam_poses": cam_poses, "jointPositions": joints, "poses2d": [rng.random((N, 3, 18))] * 2,
            "img_frame_ids": np.arange(N), "campose_valid": valid, "genders": ["m", "f"]}
    (root / "sequenceFiles" / "test").mkdir(parents=True)
    with open(root / "sequenceFiles" / "test" / f"{SEQ}.pkl", "wb") as f:
        pickle.dump(data, f, protocol=2)
    (root / "imageFiles" / SEQ).mkdir(parents=True)
    for i in range(N):
        img = np.full((48, 64, 3), 40 * i, np.uint8)
        cv2.imwrite(str(root / "imageFiles" / SEQ / f"image_{i:05d}.jpg"), img)
    return data


def test_smpl_mapping_is_documented_and_extrapolates_head_top() -> None:
    smpl = np.arange(72, dtype=np.float64).reshape(24, 3)
    h36m = smpl_to_h36m(smpl)
    assert h36m.shape == (17, 3)
    assert SMPL24_TO_H36M17[1] == 2 and SMPL24_TO_H36M17[4] == 1  # right hip = SMPL 2, left hip = SMPL 1
    np.testing.assert_allclose(h36m[13], smpl[20])  # left wrist
    np.testing.assert_allclose(h36m[16], smpl[21])  # right wrist
    np.testing.assert_allclose(h36m[8], smpl[12])  # thorax = SMPL neck
    np.testing.assert_allclose(h36m[10], smpl[15] + (smpl[15] - smpl[12]))  # head top extrapolated


@pytest.mark.parametrize("compressed", [True, False])
def test_converter_writes_a_readable_evaluation_bag(tmp_path: Path, compressed: bool) -> None:
    data = _write_3dpw(tmp_path)
    pkl = tmp_path / "sequenceFiles" / "test" / f"{SEQ}.pkl"
    seq = load_sequence(pkl)
    assert seq.joints_world.shape == (2, N, 24, 3) and seq.valid.sum() == 2 * N - 1
    bag = tmp_path / "bag"
    assert convert(pkl, tmp_path / "imageFiles", bag, compressed=compressed, progress=False) == N

    kind, image_topic, info_topic, gt_topic = bag_layout(bag)
    assert kind == ("compressed" if compressed else "image")
    assert (info_topic, gt_topic) == (INFO_TOPIC, GT_TOPIC)
    assert bag_topics(bag)[gt_topic] == "diffpose_msgs/msg/Skeleton3DArray"
    msgs = list(read_messages(bag))
    images = [m for t, _, _, m in msgs if t == image_topic]
    infos = [m for t, _, _, m in msgs if t == info_topic]
    gts = [m for t, _, _, m in msgs if t == gt_topic]
    assert len(images) == len(gts) == N and len(infos) == N + 1
    assert list(infos[0].k) == [60.0, 0, 31.5, 0, 61.0, 23.5, 0, 0, 1] and (infos[0].width, infos[0].height) == (64, 48)
    if not compressed:
        assert images[3].encoding == "rgb8" and (images[3].height, images[3].width) == (48, 64)
    # CameraInfo precedes its image; stamps tie image, camera_info and ground truth together
    first = next(t for t, *_ in msgs if t in (image_topic, info_topic))
    assert first == info_topic
    assert [g.header.stamp for g in gts] == [im.header.stamp for im in images]

    # ground truth: world -> camera with cam_poses, SMPL -> H36M-17, invalid camera poses left out
    for i, msg in enumerate(gts):
        poses, ids = skeletons_from_msg(msg)
        expect_ids = [0, 1] if i != 2 else [0]
        assert ids.tolist() == expect_ids
        for k, p in enumerate(expect_ids):
            world = data["jointPositions"][p][i].reshape(24, 3)
            cam = world @ data["cam_poses"][i][:3, :3].T + data["cam_poses"][i][:3, 3]
            np.testing.assert_allclose(poses[k, 1], cam[2], atol=1e-9)  # right hip
            np.testing.assert_allclose(poses[k, 14], cam[17], atol=1e-9)  # right shoulder
    stamps, gt, camera = read_ground_truth(bag)
    assert len(stamps) == N and len(gt) == N and camera.fx == 60.0


def test_openpose_keypoints_mode_writes_observations(tmp_path: Path) -> None:
    from diffpose_ros.ros.conversions import camera_from_info, observations_from_msg

    data = _write_3dpw(tmp_path)
    bag = tmp_path / "bag"
    convert(tmp_path / "sequenceFiles" / "test" / f"{SEQ}.pkl", tmp_path / "imageFiles", bag, progress=False,
            keypoints_sigma_px=6.0)
    kind, topic, _, _ = bag_layout(bag)
    assert (kind, topic) == ("observations", "/observations")
    msgs = list(read_messages(bag))
    camera = camera_from_info(next(m for t, _, _, m in msgs if t == INFO_TOPIC))
    obs = [m for t, _, _, m in msgs if t == topic]
    assert [len(o.people) for o in obs] == [2, 2, 1, 2, 2]
    people = observations_from_msg(obs[1], camera)  # what the node makes of it
    p2d = data["poses2d"][1][1]
    np.testing.assert_allclose(people[1].keypoints[14], p2d[:2, 2], atol=1e-4)  # right shoulder = COCO 2
    np.testing.assert_allclose(people[1].keypoints[0], (p2d[:2, 8] + p2d[:2, 11]) / 2, atol=1e-4)  # pelvis
    assert people[1].scores[7] == 0 and people[1].scores[10] == 0  # no spine / head top in OpenPose
    assert obs[1].people[1].keypoint_sigma_px == 6.0


def test_converter_reports_missing_frames(tmp_path: Path) -> None:
    _write_3dpw(tmp_path)
    (tmp_path / "imageFiles" / SEQ / "image_00003.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="image_00003"):
        convert(tmp_path / "sequenceFiles" / "test" / f"{SEQ}.pkl", tmp_path / "imageFiles", tmp_path / "bag",
                progress=False)
