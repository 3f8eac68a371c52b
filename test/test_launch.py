"""The launch file: what it starts exists, its YAML matches the node, and that exact process runs.

launch/launch_ros are not installable here, so the file is read with ast and the process it would start is
started by hand; a real launch_testing test runs wherever launch_ros exists.
"""

from __future__ import annotations

import ast
import re
import time
from pathlib import Path

import pytest
import yaml
from ros_helpers import REPO, spawn, stop

LAUNCH_FILE = REPO / "launch" / "estimator.launch.py"
CONFIG = REPO / "config" / "estimator.yaml"


def _launch_node_call() -> dict:
    tree = ast.parse(LAUNCH_FILE.read_text())
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description"]
    assert funcs, "launch file has no generate_launch_description()"
    calls = [n for n in ast.walk(funcs[0]) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Node"]
    assert len(calls) == 1, "expected exactly one launch_ros Node"
    kw = {k.arg: k.value for k in calls[0].keywords}
    out = {k: ast.literal_eval(kw[k]) for k in ("package", "executable", "name")}
    out["remapped"] = [ast.literal_eval(t.elts[0]) for t in kw["remappings"].elts]
    return out


def _launch_arguments() -> dict[str, str]:
    tree = ast.parse(LAUNCH_FILE.read_text())
    args = {}
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "DeclareLaunchArgument":
            default = next(k.value for k in n.keywords if k.arg == "default_value")
            try:
                args[ast.literal_eval(n.args[0])] = ast.literal_eval(default)
            except ValueError:
                args[ast.literal_eval(n.args[0])] = None  # computed (e.g. the share dir)
    return args


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_launch_names_an_installed_executable():
    node = _launch_node_call()
    assert node["package"] == "diffpose_ros" and node["name"] == "estimator"
    scripts = re.findall(r'"(\w+) = ([\w.]+):(\w+)"', (REPO / "setup.py").read_text())
    assert node["executable"] in {name for name, _, _ in scripts}
    from ament_index_python.packages import get_package_prefix

    exe = Path(get_package_prefix("diffpose_ros")) / "lib" / "diffpose_ros" / node["executable"]
    assert exe.is_file(), f"{exe} not installed (colcon build)"
    assert set(node["remapped"]) == {"image", "camera_info"}
    args = _launch_arguments()
    assert {"namespace", "image", "camera_info", "params_file", "preset", "log_level", "use_sim_time"} <= set(args)
    from diffpose_ros.sampling.config import PRESETS

    assert args["preset"] in PRESETS


def test_yaml_keys_are_exactly_the_declared_parameters():
    """Every parameter is in the YAML, except the preset (a launch argument) and the sampler settings it gives,
    which are there commented out with the default preset's values (uncommenting one overrides the preset)."""
    from diffpose_ros.ros.parameters import PARAMS
    from diffpose_ros.sampling.config import DEFAULT, PRESET_SETTINGS

    text = CONFIG.read_text()
    doc = yaml.safe_load(text)
    (node_key,) = doc
    assert node_key.endswith("estimator")
    values = _flatten(doc[node_key]["ros__parameters"])
    declared = {p.name: p for p in PARAMS}
    assert set(values) == set(declared) - {"preset", *PRESET_SETTINGS}
    for name, value in values.items():
        default = declared[name].default
        assert type(value) is type(default) or (isinstance(default, float) and isinstance(value, int)), name
        assert declared[name].check is None or declared[name].check(value), f"{name}={value} fails its own check"
    for name in PRESET_SETTINGS:
        (line,) = re.findall(rf"^ *# {name}: (\S+)", text, re.MULTILINE)
        assert yaml.safe_load(line) == getattr(DEFAULT, name), name


def _launch_process_args(extra: list[str] | None = None) -> list[str]:
    """The command line launch_ros builds for the Node in the launch file, with its default arguments."""
    from ament_index_python.packages import get_package_prefix, get_package_share_directory

    node = _launch_node_call()
    defaults = _launch_arguments()
    exe = Path(get_package_prefix("diffpose_ros")) / "lib" / "diffpose_ros" / node["executable"]
    params = Path(get_package_share_directory("diffpose_ros")) / "config" / "estimator.yaml"
    return [str(exe), "--ros-args", "--log-level", defaults["log_level"], "-r", f"__node:={node['name']}",
            "--params-file", str(params), "-p", f"preset:={defaults['preset']}",
            "-p", f"use_sim_time:={defaults['use_sim_time']}",
            "-r", f"image:={defaults['image']}", "-r", f"camera_info:={defaults['camera_info']}", *(extra or [])]


def test_launched_process_joins_the_graph_and_exits_cleanly_on_sigint():
    import rclpy

    proc = spawn(_launch_process_args())
    rclpy.init()
    node = rclpy.create_node("launch_probe")
    try:
        deadline = time.monotonic() + 60
        seen = False
        while time.monotonic() < deadline and proc.poll() is None:
            rclpy.spin_once(node, timeout_sec=0.2)
            topics = dict(node.get_topic_names_and_types())
            if "estimator" in node.get_node_names() and "/estimator/hypotheses" in topics:
                seen = True
                break
        assert seen, stop(proc)[1]
        assert topics["/estimator/hypotheses"] == ["diffpose_msgs/msg/PoseHypotheses"]
        assert node.count_publishers("/estimator/markers") == 1
        assert node.count_subscribers("/camera/image_raw") == 1  # the launch remapping took effect
    finally:
        node.destroy_node()
        rclpy.shutdown()
    rc, out = stop(proc)
    assert rc == 0, out
    assert "Traceback" not in out


@pytest.mark.parametrize("override, message", [
    ("num_hypotheses:=0", "num_hypotheses"),
    ("detector.model:=huge", "detector.model"),
    ("image_qos.reliability:=sometimes", "image_qos.reliability"),
    ("preset:=turbo", "preset"),
])
def test_bad_parameter_exits_nonzero_with_a_clear_message(override, message):
    proc = spawn(_launch_process_args(["-p", override]))
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode not in (0, None)
    assert message in out and ("invalid" in out.lower() or "expected" in out.lower()), out


def test_real_ros2_launch():
    """Only where launch_ros exists (a full ROS 2 install): run the launch file and see the node come up."""
    pytest.importorskip("launch_ros")
    import threading

    import rclpy
    from launch.actions import EmitEvent, IncludeLaunchDescription, TimerAction
    from launch.events import Shutdown
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    import launch

    ld = launch.LaunchDescription([
        IncludeLaunchDescription(PythonLaunchDescriptionSource(str(LAUNCH_FILE))),
        TimerAction(period=30.0, actions=[EmitEvent(event=Shutdown(reason="test timeout"))]),
    ])
    service = launch.LaunchService()
    service.include_launch_description(ld)
    seen: list[bool] = []

    def probe():
        rclpy.init()
        node = rclpy.create_node("launch_probe")
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline and not seen:
            rclpy.spin_once(node, timeout_sec=0.2)
            if "estimator" in node.get_node_names():
                seen.append(True)
        node.destroy_node()
        rclpy.shutdown()
        service.shutdown()

    thread = threading.Thread(target=probe)
    thread.start()
    rc = service.run()
    thread.join()
    assert seen and rc == 0


def test_rviz_config_shows_the_node_outputs():
    rviz = yaml.safe_load((REPO / "rviz" / "diffpose.rviz").read_text())
    displays = {d["Class"]: d for d in rviz["Visualization Manager"]["Displays"]}
    assert displays["rviz_default_plugins/MarkerArray"]["Topic"]["Value"] == "/estimator/markers"
    images = [d["Topic"]["Value"] for d in rviz["Visualization Manager"]["Displays"]
              if d["Class"] == "rviz_default_plugins/Image"]
    assert "/estimator/debug_image" in images and _launch_arguments()["image"] in images
    # The markers are in the camera optical frame of the images; the sample bag uses this frame id.
    from diffpose_ros.tools.bag_io import read_messages
    from diffpose_ros.tools.demo import sample_bag

    (_, _, _, info), *_ = read_messages(sample_bag(), ["/camera/camera_info"])
    assert rviz["Visualization Manager"]["Global Options"]["Fixed Frame"] == info.header.frame_id
