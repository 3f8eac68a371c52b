"""rosbag2 reading/writing with rosbags (pure Python): type store with diffpose_msgs, readers, writers.

Bags are rosbag2 directories (metadata.yaml + .mcap or .db3); bare ``.mcap`` files are read too.
Custom types need no generated code: writers embed the .msg definitions, readers take types from the bag.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path

from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

MSG_PACKAGE = "diffpose_msgs"


class BagError(RuntimeError):
    """A bag is missing, unreadable or corrupt."""


def msg_dir() -> Path:
    """The diffpose_msgs ``msg/`` directory: installed share dir first, then the source checkout."""
    try:
        from ament_index_python.packages import get_package_share_directory

        path = Path(get_package_share_directory(MSG_PACKAGE)) / "msg"
        if path.is_dir():
            return path
    except Exception:
        pass
    return Path(__file__).resolve().parents[2] / MSG_PACKAGE / "msg"


@cache
def typestore():
    """ROS 2 Kilted type store with the diffpose_msgs types registered."""
    ts = get_typestore(Stores.ROS2_KILTED)
    types: dict = {}
    for path in sorted(msg_dir().glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(), f"{MSG_PACKAGE}/msg/{path.stem}"))
    ts.register(types)
    return ts


def open_writer(path: "str | Path", storage: str = "mcap") -> Writer:
    """A rosbag2 writer (``storage`` = 'mcap' or 'sqlite3'); the directory must not exist yet."""
    plugin = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}[storage]
    return Writer(Path(path), version=9, storage_plugin=plugin)


def read_messages(path: "str | Path", topics: "list[str] | None" = None,
                  deserialize: bool = True) -> Iterator[tuple[str, str, int, object]]:
    """Yield ``(topic, msgtype, timestamp_ns, message or raw CDR bytes)`` in time order.

    Raises BagError with the path and the reason on a missing or corrupt bag.
    """
    path = _existing(path)
    try:
        with AnyReader([path], default_typestore=typestore()) as reader:
            conns = [c for c in reader.connections if topics is None or c.topic in topics]
            for conn, t_ns, raw in reader.messages(connections=conns):
                yield conn.topic, conn.msgtype, t_ns, reader.deserialize(raw, conn.msgtype) if deserialize else raw
    except BagError:
        raise
    except Exception as exc:
        raise BagError(f"cannot read bag {path}: {type(exc).__name__}: {exc}") from exc


def _existing(path: "str | Path") -> Path:
    path = Path(path)
    if not path.exists():
        raise BagError(f"bag not found: {path}")
    return path


def bag_topics(path: "str | Path") -> dict[str, str]:
    """Topic -> message type of a bag."""
    path = _existing(path)
    try:
        with AnyReader([path], default_typestore=typestore()) as reader:
            return {c.topic: c.msgtype for c in reader.connections}
    except Exception as exc:
        raise BagError(f"cannot read bag {path}: {type(exc).__name__}: {exc}") from exc


def bag_message_count(path: "str | Path", topics: "list[str] | None" = None) -> int:
    """Messages in a bag (on ``topics``), from its index: for progress-bar totals."""
    path = _existing(path)
    with AnyReader([path], default_typestore=typestore()) as reader:
        return sum(c.msgcount for c in reader.connections if topics is None or c.topic in topics)


def stamp_from_cdr(raw: bytes) -> int:
    """Header stamp (ns) of a CDR message whose first field is std_msgs/Header (Image, CameraInfo, ...)."""
    import struct

    if len(raw) < 12:
        raise BagError("message too short to hold a header")
    fmt = "<iI" if raw[1] & 1 else ">iI"
    sec, nanosec = struct.unpack_from(fmt, raw, 4)
    return sec * 10**9 + nanosec


def parse_assignments(items: "list[str] | None", option: str) -> dict[str, str]:
    """``["a:=b", ...]`` (ROS-style remaps or parameter overrides) -> ``{"a": "b"}``; SystemExit on a bad item."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition(":=")
        if not sep or not key:
            raise SystemExit(f"bad {option} {item!r}: use name:=value")
        out[key] = value
    return out
