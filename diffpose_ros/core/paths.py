"""Well-known locations: the source checkout, shared development data, run outputs."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_DIR.parent


def shared_data_dir() -> Path:
    """Development data (mocap, images): $DIFFPOSE_SHARED_DATA or ``../shared/data`` beside the checkout."""
    env = os.environ.get("DIFFPOSE_SHARED_DATA")
    return Path(env) if env else (REPO_ROOT.parent / "shared" / "data").resolve()


def cache_dir() -> Path:
    """Derived, re-creatable data (extracted mocap arrays): $DIFFPOSE_CACHE or ``~/.cache/diffpose_ros``."""
    env = os.environ.get("DIFFPOSE_CACHE")
    path = Path(env) if env else Path.home() / ".cache" / "diffpose_ros"
    path.mkdir(parents=True, exist_ok=True)
    return path
