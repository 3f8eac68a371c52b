"""Lossless replay: a flood of frames through the real node loses none, and losses before a callback are counted."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import rclpy
from ros_helpers import python, spin_until
from sensor_msgs.msg import CompressedImage
from test_eval_replay import _poses

from diffpose_ros.core.camera import PinholeCamera
from diffpose_ros.evaluation.mocap_bags import write_mocap_bag
from diffpose_ros.evaluation.replay_eval import evaluate_bag
from diffpose_ros.ros.delivery import SequenceGaps, keep_all_qos
from diffpose_ros.ros.parameters import qos_profile
from diffpose_ros.tools.video_to_bag import iter_frames, write_bag

FLOOD_FRAMES = 60


def test_flood_replay_loses_nothing_and_counters_add_up(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    write_mocap_bag(_poses(FLOOD_FRAMES), bag, seed=3, progress=False)
    # rate 50 on a 10 fps bag = 500 frames/s offered, far more than the node can do
    r = evaluate_bag(bag, tmp_path / "out", {"num_hypotheses": 4, "num_steps": 3}, rate=50.0, progress=False,
                     idle_timeout_s=20.0)
    d = r["delivery"]
    assert r["loss"] is None, r["loss"]
    assert d["lockstep"] and d["lost"] == 0 and d["unaccounted"] == 0 and d["lockstep_timeouts"] == 0
    assert d["sent"] == d["node_received"] == d["node_processed"] == d["outputs"] == d["recorded"] == FLOOD_FRAMES
    assert d["node_lost_before_callback"] == 0 and d["node_dropped"] == 0 and d["lost_before_recorder"] == 0
    assert r["frames_lost"] == 0 and r["people_evaluated"] == FLOOD_FRAMES


def test_lossy_flood_drops_are_bounded_by_bytes_and_counted(tmp_path: Path) -> None:
    """Without lockstep the node's queue holds ~1 MB (3 frames of 17x64x64 heatmaps): the rest is dropped, and
    every frame is accounted for (received = processed + dropped, outputs = processed); the loss is reported."""
    bag = tmp_path / "bag"
    write_mocap_bag(_poses(FLOOD_FRAMES), bag, seed=4, progress=False)
    r = evaluate_bag(bag, tmp_path / "out", {"num_hypotheses": 4, "num_steps": 3, "queue.max_bytes": 2**20},
                     rate=50.0, progress=False, idle_timeout_s=10.0, lossless=False)
    d = r["delivery"]
    assert not d["lockstep"] and d["sent"] == FLOOD_FRAMES and d["unaccounted"] == 0
    assert d["node_received"] + d["node_lost_before_callback"] == FLOOD_FRAMES
    assert d["node_processed"] + d["node_dropped"] == d["node_received"] and d["outputs"] == d["node_processed"]
    assert d["node_dropped"] > 0 and d["lost"] == FLOOD_FRAMES - d["outputs"] > 0
    assert r["loss"].startswith("FRAMES LOST") and "dropped inside the node" in r["loss"]


@pytest.mark.parametrize("lossless", [False, True])
def test_slow_subscriber_losses_are_counted_or_prevented(tmp_path: Path, images_dir: Path, lossless: bool) -> None:
    """A callback slower than the player: KEEP_LAST 1 loses frames (every one counted from sequence gaps);
    RELIABLE KEEP_ALL on both sides slows the player down instead and loses none."""
    frames = 30
    bag = tmp_path / "bag"
    write_bag(iter_frames([images_dir / "messi5.jpg"], loop=frames), bag, 10.0,
              lambda w, h: PinholeCamera.from_fov(w, h, 60.0), "cam", compressed=True)
    rclpy.init()
    node = rclpy.create_node("slow_subscriber")
    gaps, received = SequenceGaps(from_first=True), []  # the player starts after this subscriber

    def on_image(msg: CompressedImage, info) -> None:
        gaps.update(info)
        received.append(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)
        time.sleep(0.03)  # slower than the 5 ms between frames at --rate 20

    qos = keep_all_qos() if lossless else qos_profile("reliable", 1)
    node.create_subscription(CompressedImage, "/camera/image_raw/compressed", on_image, qos)
    player = python("-m", "diffpose_ros.tools.bag_player", str(bag), "--rate", "20", "--wait", "30",
                    "--topics", "/camera/image_raw/compressed", "--qos", "keep_all" if lossless else "reliable")
    try:
        spin_until(node, lambda: player.poll() is not None, 60)
        spin_until(node, lambda: len(received) + gaps.lost >= frames, 10)
    finally:
        node.destroy_node()
        rclpy.shutdown()
        out, _ = player.communicate(timeout=30)
    assert player.returncode == 0 and f"published {frames} messages" in out, out
    assert gaps.supported
    assert len(received) + gaps.lost == frames, (len(received), gaps.lost)
    assert received == sorted(received)
    if lossless:
        assert gaps.lost == 0 and len(received) == frames
    else:
        assert gaps.lost > 0  # 30 ms per callback against 5 ms per frame: a depth-1 history must overflow


def test_player_cli_lockstep_gets_every_output(tmp_path: Path, ros) -> None:
    """``bag_player --lockstep`` against the real node: every frame played produced its output, none dropped."""
    from diagnostic_msgs.msg import DiagnosticArray

    from diffpose_ros.tools.estimator_process import start_estimator

    frames = 20
    bag = tmp_path / "bag"
    write_mocap_bag(_poses(frames), bag, seed=6, progress=False)
    node_proc = start_estimator(overrides={"input": "observations", "lossless": True, "num_hypotheses": 4,
                                           "num_steps": 3, "markers.enabled": False, "diagnostics_period": 0.2},
                                image="/observations", camera_info="/camera/camera_info",
                                extra_remaps={"observations": "/observations"}, log_path=tmp_path / "node.log")
    probe = rclpy.create_node("lockstep_probe")
    stats: dict[str, str] = {}
    probe.create_subscription(DiagnosticArray, "/diagnostics", lambda m: stats.update(
        {kv.key: kv.value for s in m.status for kv in s.values}), 10)
    player = python("-m", "diffpose_ros.tools.bag_player", str(bag), "--rate", "50", "--qos", "keep_all",
                    "--wait", "60", "--lockstep", "/estimator/hypotheses", "--lockstep-timeout", "30",
                    "--topics", "/observations", "/camera/camera_info")
    try:
        spin_until(probe, lambda: player.poll() is not None, 120)
        assert spin_until(probe, lambda: stats.get("processed") == str(frames), 10), stats
    finally:
        probe.destroy_node()
        node_proc.send_signal(2)
        node_proc.wait(timeout=20)
        out, _ = player.communicate(timeout=30)
    assert player.returncode == 0 and f"published {2 * frames + 1} messages, 0 frames without output" in out, out
    assert stats["received"] == stats["processed"] == str(frames)
    assert stats["dropped_busy"] == stats["lost_before_callback"] == stats["dropped_bad_input"] == "0"
