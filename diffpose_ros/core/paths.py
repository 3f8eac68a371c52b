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


def add_data_argument(parser) -> None:
    """``--data DIR``: the development data directory (overrides $DIFFPOSE_SHARED_DATA and ``../shared/data``)."""
    parser.add_argument("--data", type=Path, default=None,
                        help=f"development data directory (mocap/, images/); default {shared_data_dir()}")


def use_data_dir(path: "Path | None") -> Path:
    """Make ``path`` (when given) the development data directory for this process; returns the one in use."""
    if path is not None:
        os.environ["DIFFPOSE_SHARED_DATA"] = str(Path(path).resolve())
    return shared_data_dir()


def missing_data_message(prog: str, exc: BaseException) -> str:
    """One line for a CLI whose input data is missing (no traceback), with where the data is looked for."""
    hint = "" if shared_data_dir().is_dir() else (
        f" (development data not found at {shared_data_dir()}: pass --data DIR or set DIFFPOSE_SHARED_DATA)")
    return f"{prog}: error: {exc}{hint}"
