"""Mocap pose dataset: BVH tarballs, positions npz files and Human3.6M -> H36M-17 poses, per-take split, cache.

Sources (``MocapConfig.sources``): BVH tarballs (:data:`SOURCES`, mapped by ``rig_mapping``), joint-position npz
files (:data:`POSITION_SOURCES`, mapped by ``position_mocap``) and ``h36m`` (a VideoPose3D ``data_3d_h36m.npz``
given by ``MocapConfig.h36m_npz``, restricted to ``h36m_subjects``; read by ``h36m_npz``).

Every take goes wholly into one split (``take_split``: a seeded hash of the take name, never by frame).
Frames are subsampled in time (``frame_step_s``) to reduce redundancy between neighbouring frames.
The result is cached in :func:`diffpose_ros.core.paths.cache_dir` as one npz per build configuration.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from diffpose_ros.core.paths import cache_dir, shared_data_dir
from diffpose_ros.prior.bvh import Bvh, read_bvh
from diffpose_ros.prior.h36m_npz import load_videopose3d_npz
from diffpose_ros.prior.position_mocap import POSITION_RIGS, REFERENCE_BONE_LENGTHS_M, load_rig_takes
from diffpose_ros.prior.rig_mapping import bvh_to_h36m

CACHE_VERSION = 2
SPLITS = ("train", "val", "test")
# source name -> tarball in shared_data_dir()/mocap
SOURCES = {
    "bandai_ds1": "bandai_namco_ds1_bvh.tar.gz",
    "bandai_ds2": "bandai_namco_ds2_subset_bvh.tar.gz",
    "cmu_cc": "cmu_iclone_bvh.tar.gz",
}
# source name -> positions npz in shared_data_dir()/mocap (see position_mocap.POSITION_RIGS)
POSITION_SOURCES = {name: rig.file for name, rig in POSITION_RIGS.items()}
H36M_SOURCE = "h36m"
H36M_FPS = 50.0
H36M_TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
KNOWN_SOURCES = (*SOURCES, *POSITION_SOURCES, H36M_SOURCE)


@dataclass
class MocapConfig:
    """What goes into the pose cache."""

    sources: list[str] = field(default_factory=lambda: list(SOURCES))
    frame_step_s: float = 0.1  # keep one frame per this many seconds ...
    frame_step_overrides: dict[str, float] = field(default_factory=dict)  # ... or this, per source
    h36m_npz: str | None = None  # VideoPose3D data_3d_h36m.npz, for the "h36m" source
    h36m_subjects: list[str] = field(default_factory=lambda: list(H36M_TRAIN_SUBJECTS))
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0

    def __post_init__(self) -> None:
        unknown = [s for s in self.sources if s not in KNOWN_SOURCES]
        if unknown:
            raise ValueError(f"unknown mocap source(s) {unknown}; known: {', '.join(KNOWN_SOURCES)}")
        if H36M_SOURCE in self.sources and not self.h36m_npz:
            raise ValueError("the 'h36m' source needs h36m_npz (path of a VideoPose3D data_3d_h36m.npz)")

    def step_s(self, source: str) -> float:
        """Frame subsampling period of ``source`` in seconds."""
        return float(self.frame_step_overrides.get(source, self.frame_step_s))


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


def iter_source_takes(source: str, cfg: MocapConfig, mocap_dir: Path, progress: bool = True
                      ) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (take name within the source, ``[F, 17, 3]`` float32 canonical root-relative poses)."""
    if source in SOURCES:
        tar_path = mocap_dir / SOURCES[source]
        if not tar_path.is_file():
            raise FileNotFoundError(f"mocap tarball missing: {tar_path}")
        iterator: Iterator = iter_tar_bvh(tar_path)
        if progress:
            from tqdm import tqdm

            iterator = tqdm(iterator, desc=source, unit="take")
        for take, bvh in iterator:
            yield take, bvh_to_h36m(bvh, frames=subsample_frames(bvh, cfg.step_s(source))).astype(np.float32)
    elif source in POSITION_SOURCES:
        yield from load_rig_takes(POSITION_RIGS[source], mocap_dir / POSITION_SOURCES[source], cfg.step_s(source))
    elif source == H36M_SOURCE:
        stride = max(1, round(cfg.step_s(source) * H36M_FPS))
        for subject, actions in load_videopose3d_npz(cfg.h36m_npz, cfg.h36m_subjects).items():
            for action, poses in sorted(actions.items()):
                yield f"{subject}/{action}", poses[::stride]
    else:
        raise ValueError(f"unknown mocap source {source!r}")


def concatenate(parts: list[PoseSet]) -> PoseSet:
    """One pose set from several (take indices renumbered)."""
    offsets = np.cumsum([0] + [len(p.takes) for p in parts[:-1]])
    return PoseSet(np.concatenate([p.poses for p in parts]),
                   np.concatenate([p.take_index + o for p, o in zip(parts, offsets, strict=True)]).astype(np.int32),
                   np.concatenate([p.takes for p in parts]), np.concatenate([p.take_split for p in parts]),
                   np.concatenate([p.take_source for p in parts]))


def build_source(source: str, cfg: MocapConfig, mocap_dir: Path | None = None, progress: bool = True) -> PoseSet:
    """Read and convert all takes of one source (slow for BVH: ~minutes)."""
    mocap_dir = Path(mocap_dir) if mocap_dir else shared_data_dir() / "mocap"
    poses, take_index, takes = [], [], []
    for take, take_poses in iter_source_takes(source, cfg, mocap_dir, progress):
        if len(take_poses) == 0:
            continue
        poses.append(take_poses)
        take_index.append(np.full(len(take_poses), len(takes), dtype=np.int32))
        takes.append(f"{source}/{take}")
    if not poses:
        raise ValueError(f"no poses found for source {source!r}")
    # Human3.6M's test subjects (S9, S11) are a separate protocol (evaluation/h36m_eval.py): none of the selected
    # training subjects' takes is held out as "test", only the usual small validation share
    test_fraction = 0.0 if source == H36M_SOURCE else cfg.test_fraction
    splits = [take_split(name, cfg.val_fraction, test_fraction, cfg.split_seed) for name in takes]
    return PoseSet(np.concatenate(poses), np.concatenate(take_index), np.array(takes), np.array(splits),
                   np.array([source] * len(takes)))


def build_pose_set(cfg: MocapConfig, mocap_dir: Path | None = None, progress: bool = True) -> PoseSet:
    """Read and convert all takes of the configured sources (no cache)."""
    return concatenate([build_source(source, cfg, mocap_dir, progress) for source in cfg.sources])


def source_cache_key(cfg: MocapConfig, source: str) -> str:
    """Hash of everything that determines one source's cached poses."""
    key = {"source": source, "frame_step_s": cfg.step_s(source), "val_fraction": cfg.val_fraction,
           "test_fraction": cfg.test_fraction, "split_seed": cfg.split_seed, "version": CACHE_VERSION}
    if source in POSITION_SOURCES:
        key["bone_lengths"] = REFERENCE_BONE_LENGTHS_M if POSITION_RIGS[source].rescale else None
    if source == H36M_SOURCE:
        key.update(h36m_npz=str(Path(cfg.h36m_npz).resolve()), subjects=sorted(cfg.h36m_subjects),
                   test_fraction=0.0)
    return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]


def cache_path(cfg: MocapConfig, source: str) -> Path:
    return cache_dir() / f"mocap_h36m17_{source}_{source_cache_key(cfg, source)}.npz"


def load_source(cfg: MocapConfig, source: str, rebuild: bool = False, progress: bool = True) -> PoseSet:
    """The cached poses of one source (built and cached on first use)."""
    path = cache_path(cfg, source)
    if path.is_file() and not rebuild:
        with np.load(path, allow_pickle=False) as data:
            return PoseSet(data["poses"], data["take_index"], data["takes"], data["take_split"], data["take_source"])
    pose_set = build_source(source, cfg, progress=progress)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez_compressed(tmp, poses=pose_set.poses, take_index=pose_set.take_index, takes=pose_set.takes,
                        take_split=pose_set.take_split, take_source=pose_set.take_source)
    tmp.replace(path)
    return pose_set


def load_pose_set(cfg: MocapConfig | None = None, rebuild: bool = False, progress: bool = True) -> PoseSet:
    """The pose set for ``cfg``: its sources' cached poses, concatenated in source order."""
    cfg = cfg or MocapConfig()
    return concatenate([load_source(cfg, source, rebuild, progress) for source in cfg.sources])
