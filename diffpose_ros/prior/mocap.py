"""Mocap pose dataset: BVH tarballs -> H36M-17 poses, deterministic per-take split, npz cache.

Every take goes wholly into one split (``take_split``: a seeded hash of the take name, never by frame).
Frames are subsampled in time (``frame_step_s``) to reduce redundancy between neighbouring frames.
The result is cached in :func:`diffpose_ros.core.paths.cache_dir` as one npz per build configuration.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from diffpose_ros.core.paths import cache_dir, shared_data_dir
from diffpose_ros.prior.bvh import Bvh, read_bvh
from diffpose_ros.prior.rig_mapping import bvh_to_h36m

CACHE_VERSION = 1
SPLITS = ("train", "val", "test")
# source name -> tarball in shared_data_dir()/mocap
SOURCES = {
    "bandai_ds1": "bandai_namco_ds1_bvh.tar.gz",
    "bandai_ds2": "bandai_namco_ds2_subset_bvh.tar.gz",
    "cmu_cc": "cmu_iclone_bvh.tar.gz",
}


@dataclass
class MocapConfig:
    """What goes into the pose cache."""

    sources: list[str] = field(default_factory=lambda: list(SOURCES))
    frame_step_s: float = 0.1  # keep one frame per this many seconds
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0

    def cache_key(self) -> str:
        text = json.dumps({**asdict(self), "version": CACHE_VERSION}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:10]


def take_split(take: str, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0) -> str:
    """Deterministic split of a take by a seeded hash of its name: 'train', 'val' or 'test'."""
    digest = hashlib.sha1(f"{seed}:{take}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


def iter_tar_bvh(tar_path: str | Path, names: set[str] | None = None) -> Iterator[tuple[str, Bvh]]:
    """Yield (take name without extension, parsed BVH) for the .bvh members of a tarball, in name order."""
    with tarfile.open(tar_path, "r:*") as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.endswith(".bvh")), key=lambda m: m.name)
        for member in members:
            take = Path(member.name).stem
            if names is not None and take not in names:
                continue
            handle = tar.extractfile(member)
            if handle is None:
                continue
            yield take, read_bvh(handle.read())


def subsample_frames(bvh: Bvh, frame_step_s: float) -> np.ndarray:
    """Frame indices at (about) one per ``frame_step_s`` seconds."""
    stride = max(1, round(frame_step_s / bvh.frame_time)) if bvh.frame_time > 0 else 1
    return np.arange(0, bvh.num_frames, stride)


@dataclass
class PoseSet:
    """Poses with their take bookkeeping (all arrays aligned on the first axis)."""

    poses: np.ndarray  # [N, 17, 3] float32, metres, root-relative, canonical axes
    take_index: np.ndarray  # [N] int32 into takes
    takes: np.ndarray  # [K] str, "<source>/<take>"
    take_split: np.ndarray  # [K] str
    take_source: np.ndarray  # [K] str

    def split(self, name: str) -> "PoseSet":
        """Subset of poses whose take belongs to split ``name``."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}")
        keep = self.take_split[self.take_index] == name
        return PoseSet(self.poses[keep], self.take_index[keep], self.takes, self.take_split, self.take_source)

    def source_of_pose(self) -> np.ndarray:
        return self.take_source[self.take_index]

    def summary(self) -> dict[str, dict[str, int]]:
        """{split: {source: frames, source + ' takes': takes}}."""
        out: dict[str, dict[str, int]] = {}
        for split in SPLITS:
            sub = self.split(split)
            row: dict[str, int] = {}
            for source in np.unique(self.take_source):
                mask = sub.source_of_pose() == source
                row[str(source)] = int(mask.sum())
                row[f"{source} takes"] = len(np.unique(sub.take_index[mask]))
            out[split] = row
        return out


def build_pose_set(cfg: MocapConfig, mocap_dir: Path | None = None, progress: bool = True) -> PoseSet:
    """Read all BVH takes of the configured sources and convert them (slow: ~minutes)."""
    mocap_dir = Path(mocap_dir) if mocap_dir else shared_data_dir() / "mocap"
    poses, take_index, takes, splits, sources = [], [], [], [], []
    for source in cfg.sources:
        tar_path = mocap_dir / SOURCES[source]
        if not tar_path.is_file():
            raise FileNotFoundError(f"mocap tarball missing: {tar_path}")
        iterator = iter_tar_bvh(tar_path)
        if progress:
            from tqdm import tqdm

            iterator = tqdm(iterator, desc=source, unit="take")
        for take, bvh in iterator:
            name = f"{source}/{take}"
            frames = subsample_frames(bvh, cfg.frame_step_s)
            take_poses = bvh_to_h36m(bvh, frames=frames).astype(np.float32)
            poses.append(take_poses)
            take_index.append(np.full(len(take_poses), len(takes), dtype=np.int32))
            takes.append(name)
            splits.append(take_split(name, cfg.val_fraction, cfg.test_fraction, cfg.split_seed))
            sources.append(source)
    return PoseSet(np.concatenate(poses), np.concatenate(take_index), np.array(takes), np.array(splits),
                   np.array(sources))


def cache_path(cfg: MocapConfig) -> Path:
    return cache_dir() / f"mocap_h36m17_{cfg.cache_key()}.npz"


def load_pose_set(cfg: MocapConfig | None = None, rebuild: bool = False, progress: bool = True) -> PoseSet:
    """The cached pose set for ``cfg`` (built and cached on first use)."""
    cfg = cfg or MocapConfig()
    path = cache_path(cfg)
    if path.is_file() and not rebuild:
        with np.load(path, allow_pickle=False) as data:
            return PoseSet(data["poses"], data["take_index"], data["takes"], data["take_split"], data["take_source"])
    pose_set = build_pose_set(cfg, progress=progress)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez_compressed(tmp, poses=pose_set.poses, take_index=pose_set.take_index, takes=pose_set.takes,
                        take_split=pose_set.take_split, take_source=pose_set.take_source,
                        config=json.dumps(asdict(cfg)))
    tmp.replace(path)
    return pose_set
