"""RViz markers for multi-hypothesis skeletons: bones as LINE_LIST, joints as SPHERE_LIST.

Each frame starts with a DELETEALL marker so stale skeletons never linger (no lifetime tricks). Colours are
RGBA in 0..1; every person gets a hue, every hypothesis an alpha proportional to its weight, the mean pose is
drawn opaque and thicker.
"""

from __future__ import annotations

import colorsys

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from diffpose_ros.core import skeleton

GOLDEN_RATIO = 0.618033988749895


def person_color(track_id: int, alpha: float = 1.0) -> ColorRGBA:
    """A distinct, stable colour per track id (golden-ratio hues)."""
    r, g, b = colorsys.hsv_to_rgb((track_id * GOLDEN_RATIO) % 1.0, 0.75, 0.95)
    return ColorRGBA(r=float(r), g=float(g), b=float(b), a=float(np.clip(alpha, 0.0, 1.0)))


def _points(joints: np.ndarray, indices) -> list[Point]:
    return [Point(x=float(joints[i, 0]), y=float(joints[i, 1]), z=float(joints[i, 2])) for i in indices]


def skeleton_markers(header: Header, ns: str, marker_id: int, joints: np.ndarray, color: ColorRGBA,
                     line_width: float, joint_size: float) -> list[Marker]:
    """Two markers (bones, joints) for one ``[17, 3]`` skeleton in metres."""
    bones = Marker(header=header, ns=ns, id=2 * marker_id, type=Marker.LINE_LIST, action=Marker.ADD)
    bones.points = _points(joints, [i for bone in skeleton.BONES for i in bone])
    bones.scale.x = line_width
    bones.color = color
    bones.pose.orientation.w = 1.0
    bones.lifetime = Duration()
    spheres = Marker(header=header, ns=ns, id=2 * marker_id + 1, type=Marker.SPHERE_LIST, action=Marker.ADD)
    spheres.points = _points(joints, range(len(joints)))
    spheres.scale.x = spheres.scale.y = spheres.scale.z = joint_size
    spheres.color = color
    spheres.pose.orientation.w = 1.0
    return [bones, spheres]


def frame_markers(header: Header, people, max_hypotheses: int, line_width: float, joint_size: float) -> MarkerArray:
    """MarkerArray for one frame: DELETEALL, then per person the mean and the most likely hypotheses."""
    out = MarkerArray()
    out.markers.append(Marker(header=header, action=Marker.DELETEALL))
    for person in people:
        ns = f"person_{person.track_id}"
        out.markers += skeleton_markers(header, ns + "/mean", 0, person.mean, person_color(person.track_id, 1.0),
                                        1.5 * line_width, 1.25 * joint_size)
        weights = np.asarray(person.weights, dtype=np.float64)
        order = np.argsort(-weights)[:max_hypotheses]
        top = float(weights[order[0]]) if len(order) else 1.0
        for rank, h in enumerate(order):
            alpha = 0.15 + 0.6 * float(weights[h]) / max(top, 1e-9)
            out.markers += skeleton_markers(header, ns + "/hypotheses", rank, person.hypotheses[h],
                                            person_color(person.track_id, alpha), line_width, joint_size)
    return out
