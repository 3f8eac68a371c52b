"""Start the estimator node exactly as launch/estimator.launch.py does, without launch_ros (absent here)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def installed_paths() -> tuple[Path, Path]:
    """(executable, default params file) of the installed diffpose_ros package (ament index)."""
    from ament_index_python.packages import get_package_prefix, get_package_share_directory

    exe = Path(get_package_prefix("diffpose_ros")) / "lib" / "diffpose_ros" / "estimator_node"
    params = Path(get_package_share_directory("diffpose_ros")) / "config" / "estimator.yaml"
    if not exe.is_file():
        raise FileNotFoundError(f"{exe} is not installed: run `make setup` (colcon build)")
    return exe, params


def estimator_command(params_file: "str | Path | None" = None, overrides: "dict[str, object] | None" = None,
                      image: str = "/camera/image_raw", camera_info: str = "/camera/camera_info",
                      namespace: str = "", log_level: str = "info", extra_remaps: "dict[str, str] | None" = None
                      ) -> list[str]:
    """The command line launch_ros builds for the launch file's Node, with parameter overrides (``"preset"``
    among them takes the place of the launch argument's, ``default``)."""
    exe, default_params = installed_paths()
    overrides = dict(overrides or {})
    preset = overrides.pop("preset", "default")
    cmd = [str(exe), "--ros-args", "--log-level", log_level, "-r", "__node:=estimator",
           "--params-file", str(params_file or default_params), "-p", f"preset:={preset}", "-r", f"image:={image}",
           "-r", f"camera_info:={camera_info}"]
    if namespace:
        cmd += ["-r", f"__ns:={namespace}"]
    for src, dst in (extra_remaps or {}).items():
        cmd += ["-r", f"{src}:={dst}"]
    for name, value in overrides.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        cmd += ["-p", f"{name}:={text}"]
    return cmd


def start_estimator(*args, env: "dict[str, str] | None" = None, log_path: "Path | None" = None,
                    **kwargs) -> subprocess.Popen:
    """Start the node process (stdout+stderr to ``log_path`` or a pipe)."""
    environ = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    out = open(log_path, "w") if log_path else subprocess.PIPE
    return subprocess.Popen(estimator_command(*args, **kwargs), env=environ, stdout=out, stderr=subprocess.STDOUT,
                            text=True)
