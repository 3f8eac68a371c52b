"""RViz markers for multi-hypothesis skeletons: bones as LINE_LIST, joints as SPHERE_LIST.

Each frame starts with a DELETEALL marker so stale skeletons never linger (no lifetime tricks). Colours are
RGBA in 0..1; every person gets a hue, every hypothesis an alpha proportional to its weight, the mean pose is
drawn opaque and thicker.
"""

from __future__ import annotations

import colorsys

import numpy as np
from builtin_interfaces.msg import Duration
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from diffpose_ros.core import skeleton
from diffpose_ros.ros.conversions import points_msg

GOLDEN_RATIO = 0.618033988749895


def person_color(track_id: int, alpha: float = 1.0) -> ColorRGBA:
    """A distinct, stable colour per track id (golden-ratio hues)."""
    r, g, b = colorsys.hsv_to_rgb((track_id * GOLDEN_RATIO) % 1.0, 0.75, 0.95)
    return ColorRGBA(r=float(r), g=float(g), b=float(b), a=float(np.clip(alpha, 0.0, 1.0)))


_BONE_ENDS = [i for bone in skeleton.BONES for i in bone]


def skeleton_markers(header: Header, ns: str, marker_id: int, joints: np.ndarray, color: "ColorRGBA | list",
                     line_width: float, joint_size: float) -> list[Marker]:
    """Two markers (bones, joints) for ``[17, 3]`` skeletons in metres, or ``[n, 17, 3]`` drawn as one pair
    with per-vertex colours (``color``: one ``ColorRGBA`` per skeleton; far fewer markers to build and draw)."""
    joints = np.asarray(joints, dtype=np.float64)
    stack = joints.reshape(-1, *joints.shape[-2:])
    colors = color if isinstance(color, list) else [color]
    bones = Marker(header=header, ns=ns, id=2 * marker_id, type=Marker.LINE_LIST, action=Marker.ADD)
    bones.points = points_msg(stack[:, _BONE_ENDS])
    bones.scale.x = line_width
    bones.color = colors[0]
    bones.pose.orientation.w = 1.0
    bones.lifetime = Duration()
    spheres = Marker(header=header, ns=ns, id=2 * marker_id + 1, type=Marker.SPHERE_LIST, action=Marker.ADD)
    spheres.points = points_msg(stack)
    spheres.scale.x = spheres.scale.y = spheres.scale.z = joint_size
    spheres.color = colors[0]
    spheres.pose.orientation.w = 1.0
    if joints.ndim == 3:  # the same colour object repeated per vertex (serialised by value)
        bones.colors = [c for c in colors for _ in _BONE_ENDS]
        spheres.colors = [c for c in colors for _ in range(stack.shape[1])]
    return [bones, spheres]


def frame_markers(header: Header, people, max_hypotheses: int, line_width: float, joint_size: float) -> MarkerArray:
    """MarkerArray for one frame: DELETEALL, then per person the mean (``person_<id>/mean``) and the most likely
    hypotheses (``person_<id>/hypotheses``, one bones and one joints marker, alpha per hypothesis by weight)."""
    out = MarkerArray()
    out.markers.append(Marker(header=header, action=Marker.DELETEALL))
    for person in people:
        ns = f"person_{person.track_id}"
        out.markers += skeleton_markers(header, ns + "/mean", 0, person.mean, person_color(person.track_id, 1.0),
                                        1.5 * line_width, 1.25 * joint_size)
        weights = np.asarray(person.weights, dtype=np.float64)
        order = np.argsort(-weights)[:max_hypotheses]
        if len(order) == 0:
            continue
        top = float(weights[order[0]])
        colors = [person_color(person.track_id, 0.15 + 0.6 * float(weights[h]) / max(top, 1e-9)) for h in order]
        out.markers += skeleton_markers(header, ns + "/hypotheses", 0, np.asarray(person.hypotheses)[order], colors,
                                        line_width, joint_size)
    return out
