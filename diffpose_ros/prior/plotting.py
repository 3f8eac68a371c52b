"""Matplotlib (Agg) rendering of H36M-17 skeleton grids; canonical y-down poses are drawn upright."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from diffpose_ros.core import skeleton

LEFT_COLOUR, RIGHT_COLOUR, CENTRE_COLOUR = "tab:blue", "tab:red", "black"


def bone_colour(child: int) -> str:
    if child in skeleton.LEFT_JOINTS:
        return LEFT_COLOUR
    if child in skeleton.RIGHT_JOINTS:
        return RIGHT_COLOUR
    return CENTRE_COLOUR


def draw_skeleton(ax: plt.Axes, pose: np.ndarray, radius: float = 1.0, elev: float = 10.0, azim: float = -80.0) -> None:
    """Draw one pose ``[17, 3]`` (canonical axes) on a 3D axis: plotted as (x, z, -y) so that up is up."""
    x, y, z = pose[:, 0], pose[:, 2], -pose[:, 1]
    for child, parent in skeleton.BONES:
        ax.plot([x[child], x[parent]], [y[child], y[parent]], [z[child], z[parent]], color=bone_colour(child), lw=2)
    ax.scatter(x, y, z, s=4, color="k")
    ax.set_xlim(-radius, radius)
    ax.set_ylim(-radius, radius)
    ax.set_zlim(-radius, radius)
    ax.set_box_aspect((1, 1, 1))
    ax.view_init(elev=elev, azim=azim)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_zticks([])


def save_skeleton_grid(poses: np.ndarray, path: str | Path, title: str = "", cols: int = 4,
                       titles: list[str] | None = None) -> Path:
    """Render poses ``[N, 17, 3]`` (metres, root-relative, canonical axes) as a PNG grid."""
    poses = np.asarray(poses)
    rows = int(np.ceil(len(poses) / cols))
    fig = plt.figure(figsize=(2.6 * cols, 2.8 * rows))
    for i, pose in enumerate(poses):
        ax = fig.add_subplot(rows, cols, i + 1, projection="3d")
        draw_skeleton(ax, pose)
        if titles:
            ax.set_title(titles[i], fontsize=8)
    if title:
        fig.suptitle(f"{title}  (blue = left, red = right)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
