"""Shared test setup: DDS isolated to this machine and to this test session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
# One domain per pytest process so concurrent runs on one machine never see each other.
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))

from diffpose_ros.core.paths import shared_data_dir  # noqa: E402


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.fail(f"shared development data not found at {path} (set DIFFPOSE_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def images_dir(shared_data: Path) -> Path:
    return shared_data / "images"


@pytest.fixture
def ros():
    """rclpy initialised for one test (node tests talk to real processes over DDS)."""
    import rclpy

    rclpy.init()
    yield
    rclpy.shutdown()


@pytest.fixture(scope="module")
def messi(images_dir: Path):
    """messi5.jpg as RGB and a 60-degree pinhole camera of its size."""
    import cv2
    import numpy as np

    from diffpose_ros.core.camera import PinholeCamera

    rgb = np.ascontiguousarray(cv2.imread(str(images_dir / "messi5.jpg"))[..., ::-1])
    return rgb, PinholeCamera.from_fov(rgb.shape[1], rgb.shape[0], 60.0)


@pytest.fixture(scope="session")
def mocap_dir(shared_data: Path) -> Path:
    return shared_data / "mocap"
