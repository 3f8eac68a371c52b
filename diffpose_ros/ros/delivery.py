"""Lossless delivery helpers: frames lost before a subscription callback, and a KEEP_ALL reliable QoS.

DDS can drop a sample after it arrived (a KEEP_LAST reader history overwrites what the callback has not taken
yet) without anyone noticing. rclpy passes ``MessageInfo`` with the writer's ``publication_sequence_number`` and
``publisher_gid`` to two-argument callbacks: a jump in one writer's sequence numbers is a lost sample.
"""

from __future__ import annotations

import threading

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy


def keep_all_qos() -> QoSProfile:
    """RELIABLE + KEEP_ALL (volatile): nothing is overwritten, a full reader history throttles the writer."""
    return QoSProfile(history=HistoryPolicy.KEEP_ALL, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


class SequenceGaps:
    """Counts samples lost before the callback from gaps in each publisher's sequence numbers.

    ``supported`` turns False when the middleware gives no sequence numbers (then nothing is counted).
    A writer whose numbers go backwards is a new writer with the same id (a restart): counting starts again.
    ``from_first``: RTPS writers number from 1, so samples before a writer's first one seen here count as lost
    too (right when the writer started after this subscriber, as in a replay; wrong for a camera that was
    already running, hence off by default).
    """

    def __init__(self, from_first: bool = False) -> None:
        self.from_first = from_first
        self.lost = 0
        self.supported = True
        self._last: dict[bytes, int] = {}
        self._lock = threading.Lock()

    def update(self, info: "dict | None") -> int:
        """Feed one callback's MessageInfo; returns the samples lost just before it."""
        seq = (info or {}).get("publication_sequence_number")
        if not seq or seq <= 0 or seq >= 2**63 - 1:  # rmw without support reports 0 / None / max
            self.supported = False
            return 0
        gid = info.get("publisher_gid") or {}
        key = bytes(gid.get("data", b"")) if isinstance(gid, dict) else bytes(gid)
        with self._lock:
            last = self._last.get(key)
            self._last[key] = seq
            if last is None:
                gap = seq - 1 if self.from_first else 0
            else:
                gap = seq - last - 1 if seq > last + 1 else 0
            self.lost += gap
        return gap
