"""Helpers for tests that talk to real ROS 2 processes over DDS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def ros_env(**extra: str) -> dict[str, str]:
    """The environment for a child ROS process: same DDS domain, localhost discovery."""
    env = dict(os.environ)
    env.update(ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", PYTHONUNBUFFERED="1", **extra)
    return env


def spawn(args: list[str], **extra: str) -> subprocess.Popen:
    return subprocess.Popen(args, env=ros_env(**extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=REPO)


def python(*args: str, **extra: str) -> subprocess.Popen:
    return spawn([sys.executable, *args], **extra)


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> tuple[int, str]:
    """SIGINT the process (like Ctrl-C / launch shutdown) and return (exit code, output)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return proc.returncode, out or ""


def subscribe_outputs(node, qos) -> tuple[list, list[dict[str, str]]]:
    """Collect the estimator's PoseHypotheses and its /diagnostics key-values (one dict per message) on ``node``."""
    from diagnostic_msgs.msg import DiagnosticArray

    from diffpose_msgs.msg import PoseHypotheses

    hyp: list = []
    diag: list[dict[str, str]] = []
    node.create_subscription(PoseHypotheses, "/estimator/hypotheses", hyp.append, qos)
    node.create_subscription(DiagnosticArray, "/diagnostics",
                             lambda m: diag.append({kv.key: kv.value for kv in m.status[0].values}), 10)
    return hyp, diag


def spin_until(node, condition: Callable[[], bool], timeout: float) -> bool:
    import rclpy

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
        if condition():
            return True
    return condition()
