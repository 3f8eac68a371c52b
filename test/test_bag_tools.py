"""Bag tools on real bags: video/image -> bag, player -> DDS -> recorder, renderer, corrupt bags."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import rclpy
from message_samples import make_pose_hypotheses
from rclpy.serialization import serialize_message
from ros_helpers import python, spin_until, stop
from sensor_msgs.msg import Image

from diffpose_ros.core.camera import PinholeCamera
from diffpose_ros.tools.bag_io import BagError, bag_topics, open_writer, read_messages, stamp_from_cdr, typestore
from diffpose_ros.tools.bag_recorder import BagRecorder
from diffpose_ros.tools.video_to_bag import iter_frames, write_bag


@pytest.fixture(scope="module")
def photo_bag(tmp_path_factory, images_dir):
    out = tmp_path_factory.mktemp("bags") / "photos"
    n = write_bag(iter_frames([images_dir / "messi5.jpg", images_dir / "basketball1.png"], loop=3), out, 10.0,
                  lambda w, h: PinholeCamera.from_fov(w, h, 60.0), "cam_optical", compressed=True)
    assert n == 6
    return out


def test_video_to_bag_writes_images_and_camera_info(photo_bag, images_dir):
    assert bag_topics(photo_bag) == {"/camera/image_raw/compressed": "sensor_msgs/msg/CompressedImage",
                                     "/camera/camera_info": "sensor_msgs/msg/CameraInfo"}
    msgs = list(read_messages(photo_bag))
    images = [m for _, t, _, m in msgs if t.endswith("CompressedImage")]
    infos = [m for _, t, _, m in msgs if t.endswith("CameraInfo")]
    assert len(images) == len(infos) == 6
    stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in images]
    assert np.allclose(np.diff(stamps), 1e8)
    assert [i.header.stamp for i in infos] == [m.header.stamp for m in images]
    first = cv2.imdecode(np.asarray(images[0].data, np.uint8), cv2.IMREAD_COLOR)
    original = cv2.imread(str(images_dir / "messi5.jpg"))
    assert first.shape == original.shape and np.abs(first.astype(int) - original).mean() < 5
    assert infos[0].width == 548 and infos[0].k[0] == pytest.approx(274 / np.tan(np.deg2rad(30)))


def test_video_file_converts(tmp_path, images_dir):
    video = tmp_path / "clip.avi"  # a real MJPG video of fixture photos (768x576 like vtest.avi)
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (768, 576))
    for name in ("messi5.jpg", "basketball1.png") * 3:
        writer.write(cv2.resize(cv2.imread(str(images_dir / name)), (768, 576)))
    writer.release()
    frames = iter_frames([video], start=2)
    n = write_bag(frames, tmp_path / "v", 10.0, lambda w, h: PinholeCamera.from_fov(w, h, 60.0), "c", False,
                  max_frames=3, storage="sqlite3")
    (_, _, _, msg), *_ = read_messages(tmp_path / "v", ["/camera/image_raw"])
    assert n == 3 and (msg.width, msg.height, msg.encoding) == (768, 576, "rgb8")
    first = np.asarray(msg.data, np.uint8).reshape(576, 768, 3)[..., ::-1]  # frame 2 = messi5
    expected = cv2.resize(cv2.imread(str(images_dir / "messi5.jpg")), (768, 576))
    assert np.abs(first.astype(int) - expected).mean() < 8


def test_player_to_recorder_over_dds_keeps_stamps_and_pixels(photo_bag, tmp_path):
    rclpy.init()
    node = rclpy.create_node("recorder_probe")
    recorder = BagRecorder(node, tmp_path / "rec", ["/camera/image_raw", "/camera/camera_info"],
                           types={"/camera/image_raw": "sensor_msgs/msg/Image",
                                  "/camera/camera_info": "sensor_msgs/msg/CameraInfo"})
    player = python("-m", "diffpose_ros.tools.bag_player", str(photo_bag), "--decompress", "--rate", "5",
                    "--wait", "30")
    try:
        assert spin_until(node, lambda: recorder.counts["/camera/image_raw"] >= 6
                          and recorder.counts["/camera/camera_info"] >= 6, 30), (recorder.counts, stop(player)[1])
    finally:
        counts = recorder.close()
        node.destroy_node()
        rclpy.shutdown()
        out, _ = player.communicate(timeout=60)  # the player exits by itself when the bag is done
    assert player.returncode == 0, out
    assert "published 12 messages" in out
    assert counts == {"/camera/image_raw": 6, "/camera/camera_info": 6}
    played = [m for _, _, _, m in read_messages(photo_bag, ["/camera/image_raw/compressed"])]
    recorded = [m for _, _, _, m in read_messages(tmp_path / "rec", ["/camera/image_raw"])]
    assert [r.header.stamp for r in recorded] == [p.header.stamp for p in played]
    jpeg = cv2.imdecode(np.asarray(played[1].data, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    raw = np.asarray(recorded[1].data, np.uint8).reshape(recorded[1].height, recorded[1].width, 3)
    np.testing.assert_array_equal(raw, jpeg)


def test_stamp_from_cdr_reads_the_header():
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1234, 5678
    assert stamp_from_cdr(serialize_message(msg)) == 1234 * 10**9 + 5678


def test_renderer_draws_recorded_hypotheses(tmp_path, photo_bag):
    from diffpose_ros.tools.render_hypotheses import load_frames, render

    expected = make_pose_hypotheses()
    (_, _, t_ns, img), *_ = read_messages(photo_bag, ["/camera/image_raw/compressed"])
    expected.header.stamp.sec, expected.header.stamp.nanosec = img.header.stamp.sec, img.header.stamp.nanosec
    with open_writer(tmp_path / "hyp") as w:
        conn = w.add_connection("/estimator/hypotheses", "diffpose_msgs/msg/PoseHypotheses", typestore=typestore())
        w.write(conn, t_ns, serialize_message(expected))
    frames = load_frames(tmp_path / "hyp", photo_bag)
    assert len(frames) == 1 and frames[0]["image"].shape == (342, 548, 3) and "camera" in frames[0]
    assert frames[0]["people"][1].hypotheses.shape == (5, 17, 3)
    (png,) = render(tmp_path / "hyp", photo_bag, tmp_path / "png", 1)
    picture = cv2.imread(str(png))
    assert picture is not None and picture.shape[1] > 800 and picture.std() > 10


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing"])
def test_corrupt_bags_raise_bag_error_naming_the_bag(photo_bag, tmp_path, damage):
    import shutil

    bag = tmp_path / "damaged"
    shutil.copytree(photo_bag, bag)
    mcap = next(bag.glob("*.mcap"))
    if damage == "truncate":
        mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 3])
    elif damage == "garbage":
        mcap.write_bytes(b"\x00garbage" * 1000)
    else:
        mcap.unlink()
    with pytest.raises(BagError, match="damaged"):
        list(read_messages(bag))


def test_cli_reports_a_missing_bag(tmp_path):
    proc = python("-m", "diffpose_ros.tools.bag_player", str(tmp_path / "nope"), "--wait", "0")
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "bag not found" in out, out


def test_sample_bag_is_bundled_and_readable():
    from diffpose_ros.tools.demo import sample_bag

    bag = sample_bag()
    assert bag.is_dir() and (bag / "metadata.yaml").is_file()
    images = [m for _, _, _, m in read_messages(bag, ["/camera/image_raw/compressed"])]
    assert len(images) == 40 and images[0].format == "jpeg"
