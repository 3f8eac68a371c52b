"""Real mocap played as video: whole held-out takes (real root motion) placed in front of a camera, with the
synthetic detector's heatmaps per frame, for one or several people (crossing, occlusion).

``load_takes`` reads BVH takes at a given frame rate in world coordinates (metres, canonical axes: x right,
y down, z forward); ``place_walk`` turns and moves a take so that its walk runs along the camera's x axis at a
chosen depth; ``MocapScene`` projects several placed takes through one camera and renders per frame the
observations a detector would give (people hidden behind a nearer person are not observed).
"""

from __future__ import annotations

import dataclasses
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.camera import PinholeCamera
from ..core.paths import shared_data_dir
from .synthetic_heatmaps import SyntheticConfig, synthetic_observation, yaw_matrix

CAMERA = PinholeCamera(550.0, 550.0, 319.5, 239.5, 640, 480)  # the fixed virtual camera of mocap_bags
CAMERA_HEIGHT_M = 1.0  # camera above the floor (the floor is at y = +CAMERA_HEIGHT_M in the camera frame)


def take_names(source: str = "bandai_ds1", split: str | None = "test", contains: str = "") -> list[str]:
    """Take names (no extension) of a mocap source in a split (the prior's split: ``prior.mocap.take_split``)."""
    from ..prior.mocap import SOURCES, take_split

    with tarfile.open(shared_data_dir() / "mocap" / SOURCES[source]) as tar:
        names = sorted(Path(n).stem for n in tar.getnames() if n.endswith(".bvh"))
    return [n for n in names if contains in n and (split is None or take_split(f"{source}/{n}") == split)]


def load_takes(names: list[str], source: str = "bandai_ds1", fps: float = 10.0) -> dict[str, np.ndarray]:
    """World poses ``[F, 17, 3]`` (metres, canonical axes, floor at y = 0) of takes at ``fps``, by name."""
    from ..prior.mocap import SOURCES, iter_tar_bvh, subsample_frames
    from ..prior.rig_mapping import bvh_to_h36m, toe_positions

    out = {}
    for take, bvh in iter_tar_bvh(shared_data_dir() / "mocap" / SOURCES[source], names=set(names)):
        frames = subsample_frames(bvh, 1.0 / fps)
        poses = bvh_to_h36m(bvh, frames=frames, root_relative=False)
        floor = float(np.median(np.max(toe_positions(bvh, frames=frames)[..., 1], axis=1)))
        poses[..., 1] -= floor  # lowest toe on y = 0 (y points down)
        out[take] = poses
    missing = set(names) - set(out)
    if missing:
        raise FileNotFoundError(f"takes {sorted(missing)} not in {SOURCES[source]}")
    return {n: out[n] for n in names}


def place_walk(world: np.ndarray, depth: float, x_at: float = 0.0, at_frame: int | None = None,
               heading: float = 0.0) -> np.ndarray:
    """Camera-frame poses ``[F, 17, 3]`` of a take turned so that its net root displacement points along
    ``heading`` (radians in the x-z plane: 0 = +x, pi = -x, -pi/2 = towards the camera), with the root at
    ``(x_at, ., depth)`` at frame ``at_frame`` (default: the middle) and the floor ``CAMERA_HEIGHT_M`` below."""
    world = np.asarray(world, dtype=np.float64)
    d = world[-1, 0, [0, 2]] - world[0, 0, [0, 2]]
    own = np.arctan2(d[1], d[0]) if np.linalg.norm(d) > 0.2 else 0.0
    posed = world @ yaw_matrix(float(own - heading)).T  # yaw_matrix(a) turns x-z directions by -a
    k = len(posed) // 2 if at_frame is None else int(at_frame)
    shift = np.array([x_at - posed[k, 0, 0], CAMERA_HEIGHT_M, depth - posed[k, 0, 2]])
    return posed + shift


@dataclass
class SceneFrame:
    """One video frame: what the detector reports and the ground truth behind it."""

    observations: list  # PersonObservation, track_id = -1
    person_index: list[int]  # ground-truth person of each observation
    poses_camera: np.ndarray  # [P, 17, 3] every person (observed or not)
    visible: np.ndarray  # [P] bool: observed this frame


@dataclass
class MocapScene:
    """People (camera-frame pose sequences of equal length) seen by one camera."""

    people: list[np.ndarray]  # each [F_i, 17, 3]; a person is gone after their last frame
    camera: PinholeCamera = field(default_factory=lambda: CAMERA)
    occlusion_overlap: float = 0.5  # hidden when a nearer person's box covers this fraction of one's box
    synthetic: SyntheticConfig = field(default_factory=lambda: SyntheticConfig(image_size=(480, 640)))

    @property
    def num_frames(self) -> int:
        return max(len(p) for p in self.people)

    def frames(self, seed: int = 0) -> list[SceneFrame]:
        """Observations per frame, in a shuffled order each frame (detectors give no stable order)."""
        rng = np.random.default_rng(seed)
        out = []
        for f in range(self.num_frames):
            poses = np.stack([p[min(f, len(p) - 1)] for p in self.people])
            kp = self.camera.project(poses)
            boxes = np.concatenate([kp.min(1), kp.max(1)], axis=1)
            visible = np.array([f < len(self.people[i]) and self._in_view(kp[i]) and not self._hidden(i, poses, boxes)
                                for i in range(len(poses))])
            order = [int(i) for i in rng.permutation(len(poses)) if visible[i]]
            obs = [synthetic_observation(kp[i], rng, self.synthetic) for i in order]
            out.append(SceneFrame(obs, order, poses, visible))
        return out

    def _in_view(self, kp: np.ndarray) -> bool:
        w, h = self.camera.width, self.camera.height
        inside = (kp[:, 0] >= 0) & (kp[:, 0] < w) & (kp[:, 1] >= 0) & (kp[:, 1] < h)
        return bool(inside.mean() >= 0.8)

    def _hidden(self, i: int, poses: np.ndarray, boxes: np.ndarray) -> bool:
        area = np.prod(np.maximum(boxes[i, 2:] - boxes[i, :2], 1e-6))
        for j in range(len(poses)):
            if j == i or poses[j, 0, 2] >= poses[i, 0, 2]:
                continue
            lo, hi = np.maximum(boxes[i, :2], boxes[j, :2]), np.minimum(boxes[i, 2:], boxes[j, 2:])
            if np.prod(np.clip(hi - lo, 0, None)) / area >= self.occlusion_overlap:
                return True
        return False


def identity_switches(person_index: list[list[int]], track_ids: list[list[int]]) -> dict[str, int]:
    """Identity errors of per-frame track ids against per-frame ground-truth persons: ``switches`` (MOT: a
    person's id differs from the id it had when last observed) and ``transfers`` (an id passes from one person
    to another -- what a switch looks like from the id's side)."""
    last: dict[int, int] = {}
    owner: dict[int, int] = {}
    switches = transfers = 0
    for people, ids in zip(person_index, track_ids):
        for p, t in zip(people, ids):
            switches += p in last and last[p] != t
            transfers += t in owner and owner[t] != p
            last[p], owner[t] = t, p
    return {"switches": int(switches), "transfers": int(transfers), "ids_used": len(owner)}


def crowd_scene(num_people: int, num_frames: int = 60, seed: int = 0, split: str = "test") -> MocapScene:
    """``num_people`` held-out takes acting in place (root moves < 1.5 m) at once, 4-7 m away, spread across the
    view, random headings; takes shorter than ``num_frames`` are played forth and back (ping-pong)."""
    rng = np.random.default_rng(seed)
    names = take_names("bandai_ds1", split)
    worlds = load_takes(names)
    still = [n for n in names if np.linalg.norm(worlds[n][-1, 0, [0, 2]] - worlds[n][0, 0, [0, 2]]) < 1.5
             and np.ptp(worlds[n][:, 0, [0, 2]], axis=0).max() < 1.5]
    pick = [still[i] for i in rng.choice(len(still), size=num_people, replace=len(still) < num_people)]
    xs = np.linspace(-1.5, 1.5, num_people) if num_people > 1 else np.zeros(1)
    people = []
    for name, x in zip(pick, xs):
        w = worlds[name]
        loop = np.concatenate([w, w[::-1][1:-1]]) if len(w) > 2 else w
        idx = np.arange(num_frames) % len(loop)
        people.append(place_walk(loop[idx], float(rng.uniform(4.0, 7.0)), float(x), 0,
                                 heading=float(rng.uniform(-np.pi, np.pi))))
    return MocapScene(people)


def write_scene_bag(scene: MocapScene, out: "str | Path", fps: float = 10.0, seed: int = 0,
                    storage: str = "mcap") -> dict:
    """An evaluation bag (Observations2D + CameraInfo + ground truth, as :mod:`.mocap_bags`) of a scene; the
    observations carry the true person ids, as from a tracking detector."""
    from .mocap_bags import write_frames_bag

    frames = scene.frames(seed)
    write_frames_bag(((scene.camera, [dataclasses.replace(o, track_id=p) for o, p in zip(f.observations,
                                                                                         f.person_index)],
                       f.poses_camera[f.visible], np.flatnonzero(f.visible)) for f in frames), out, fps, storage)
    return {"bag": str(out), "frames": len(frames), "people": len(scene.people),
            "observations": int(sum(len(f.observations) for f in frames))}


def main(argv: "list[str] | None" = None) -> int:
    """``python -m diffpose_ros.evaluation.mocap_video OUT_BAG [--people 4] [--seed 0] [--fps 10]``."""
    import argparse

    ap = argparse.ArgumentParser(description="Held-out mocap crowd (several people at once) -> evaluation bag "
                                 "(evaluate with evaluation.replay_eval)")
    ap.add_argument("out", type=Path)
    ap.add_argument("--people", type=int, default=4)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fps", type=float, default=10.0)
    args = ap.parse_args(argv)
    if args.out.exists():
        print(f"mocap_video: {args.out} exists")
        return 1
    print(write_scene_bag(crowd_scene(args.people, args.frames, args.seed), args.out, args.fps, args.seed))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
