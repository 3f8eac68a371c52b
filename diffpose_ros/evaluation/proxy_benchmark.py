"""A Human3.6M-like proxy benchmark on held-out mocap: upright people, calibrated cameras, synthetic heatmaps.

    python -m diffpose_ros.evaluation.proxy_benchmark [--per-source 40 | --frames 80] [--scenes h36m level robot] \
        [--noise noisy clean] [--gravity known unknown floor] [--weights PATH] [--out out/proxy]

Held-out takes (the test split of the mocap pose set, whole takes) are stood upright on the floor of a capture
volume with a random heading and seen through

* ``h36m``: the four calibrated Human3.6M cameras of S9 (wall-mounted ~1.5 m high, looking down 10-20 degrees),
* ``level``: a camera 1.0-1.5 m high looking horizontally at a person 2.5-5 m away,
* ``robot``: the same camera looking down 20-30 degrees at a person 4-6.5 m away (a robot's head camera),

with 2D evidence from the evaluators' synthetic heatmaps (``noisy``: the detector noise model of
:mod:`.synthetic_heatmaps`; ``clean``: sharp, noise-free maps at the exact projections, which separates the
method's own error from detector noise). Gravity is either passed to the sampler from the camera extrinsics
(``known``) or not (``unknown``: the sampler's tilt prior covers it); ``floor`` also passes the camera's height above
the floor (as a robot knows it), which tells the sampler each person's size (:mod:`..sampling.floor_contact`).

Best-of-k comes from its own draw of k hypotheses per frame, as ``h36m_eval -m k`` scores it (the sampler's
sequential Monte Carlo resampling makes the first k of a larger draw a different population); the node's m=16
draw also gives its highest-weight hypothesis and weighted mean. Reported per scene / noise / gravity:
best-of-1/16/200 MPJPE and PA-MPJPE, the top-weight hypothesis and the weighted mean, reprojection error, per
pose category and per mocap source, and sampler ms per frame at m=16 (1 thread). The headline numbers average
over views, so the largest source weighs most; ``source_mean`` averages the sources' numbers instead, as
Human3.6M's protocol averages its actions. By default 40 poses of each source are drawn (``--per-source``), so that
each source's mean rests on as many poses and both means agree; ``--frames N`` draws N poses in proportion to the
sources' test sets instead (mostly ``bandai_ds2``). Every mean comes with its standard error over the held-out
poses drawn (``se``; a pose's views are not independent, poses are), which says whether a difference from a bar is
more than the draw. Writes ``results.json`` (with the per-pose numbers) and ``results.png``.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core import metrics
from ..core.camera import PinholeCamera
from ..core.gravity import gravity_from_pitch_roll, level_to_camera
from .h36m_cameras import h36m_camera
from .h36m_observations import stable_seed, synthetic_observation
from .synthetic_heatmaps import SyntheticConfig

SCENES = ("h36m", "level", "robot")
NOISE = ("noisy", "clean")
GRAVITY = ("known", "unknown", "floor")  # floor: gravity and the camera's height above the floor known
FLOOR_CLEARANCE_RANGE_M = (0.03, 0.13)  # the floor lies this far below the lowest joint (drawn per pose)
CANONICAL_TO_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # (x, y down, z fwd) -> z up
CLEAN = SyntheticConfig(crop_jitter=0.0, sigma_hm=1.0, sigma_jitter=(1.0, 1.0), centre_noise_hm=0.0,
                        offset_prob=0.0, drop_prob=0.0, background=1e-6, background_noise=0.0)


def noise_config(noise: "str | SyntheticConfig") -> SyntheticConfig:
    """The synthetic detector of a ``NOISE`` name (``"clean"``: exact peaks; otherwise the noisy default), or
    ``noise`` itself when it already is one."""
    return noise if isinstance(noise, SyntheticConfig) else CLEAN if noise == "clean" else SyntheticConfig()


@dataclass
class ProxyFrame:
    """One view of one held-out pose."""

    keypoints: np.ndarray  # [17, 2] exact projections (px)
    camera: PinholeCamera
    gravity: np.ndarray  # [3] in the camera frame
    pose_camera: np.ndarray  # [17, 3] ground truth (m)
    category: str
    seed: int
    camera_height: float = float("nan")  # camera centre above the floor (m)
    pose_index: int = -1  # which held-out pose (a pose's views share it: its errors are not independent)


def pose_category(take: str) -> str:
    """``source/action`` from a take name (e.g. ``bandai_ds1/dataset-1_bow_angry_001`` -> ``bandai_ds1/bow``;
    CMU's numbered takes by performer: ``cmu_cc/005_005_02`` -> ``cmu_cc/subject_005``)."""
    source, _, name = str(take).partition("/")
    name = re.sub(r"^dataset-\d+_", "", name.split("/")[-1] if "/" not in name else name.split("/")[-2])
    words = re.findall(r"[A-Za-z]+", name)
    if words:
        return f"{source}/{words[0].lower()}"
    number = re.match(r"\d+", name)
    return f"{source}/{'subject_' + number.group() if number else 'other'}"


def load_heldout(num: int, seed: int, sources: list[str] | None = None, split: str = "test",
                 per_source: int = 0) -> tuple[np.ndarray, list[str]]:
    """``num`` poses ``[num, 17, 3]`` (canonical, root-relative) from held-out takes (``split="train"``: from the
    prior's training takes, to measure its generalisation gap), with their categories. ``per_source > 0`` draws
    that many of each source instead (a balanced set: every source's mean rests on as many poses)."""
    from ..prior.mocap import MocapConfig, load_pose_set

    cfg = MocapConfig(sources=sources) if sources else MocapConfig()
    test = load_pose_set(cfg, progress=False).split(split)
    source_of = np.array([test.takes[t].partition("/")[0] for t in test.take_index])
    pick = draw_poses(source_of, num, per_source, np.random.default_rng(seed))
    cats = [pose_category(test.takes[test.take_index[i]]) for i in pick]
    return np.asarray(test.poses[pick], dtype=np.float64), cats


def draw_poses(source_of: np.ndarray, num: int, per_source: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``num`` poses drawn without replacement (``per_source > 0``: that many of each source,
    all of a smaller one), given each pose's source."""
    if per_source <= 0:
        return np.sort(rng.choice(len(source_of), size=min(num, len(source_of)), replace=False))
    groups = (np.flatnonzero(source_of == s) for s in sorted(set(source_of.tolist())))
    return np.sort(np.concatenate([rng.choice(g, size=min(per_source, len(g)), replace=False) for g in groups]))


DEFAULT_PER_SOURCE = 40  # held-out poses of each source (the CLI's default draw)


def pose_draw(frames: int | None, per_source: int | None) -> tuple[int, int]:
    """``(frames, per_source)`` for :func:`load_heldout` from the CLI's two exclusive options (neither: the
    balanced default)."""
    if frames is not None and per_source is not None:
        raise ValueError("give --frames or --per-source, not both")
    if (frames is not None and frames < 1) or (per_source is not None and per_source < 1):
        raise ValueError("--frames and --per-source take a positive number of poses")
    return (frames, 0) if frames is not None else (0, DEFAULT_PER_SOURCE if per_source is None else per_source)


def stand_upright(pose_canonical: np.ndarray, yaw: float) -> np.ndarray:
    """Root-relative canonical pose -> world (z up), turned by ``yaw``, lowest joint on the floor (z = 0)."""
    c, s = np.cos(yaw), np.sin(yaw)
    turn = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    world = (pose_canonical - pose_canonical[:1]) @ CANONICAL_TO_WORLD.T @ turn.T
    return world - np.array([0.0, 0.0, world[:, 2].min()])


def _inside(px: np.ndarray, cam: PinholeCamera, margin: float = 5.0) -> bool:
    return bool((px.min(0) >= margin).all() and px[:, 0].max() < cam.width - margin
                and px[:, 1].max() < cam.height - margin)


def _h36m_views(world: np.ndarray, rng: np.random.Generator
                ) -> list[tuple[np.ndarray, PinholeCamera, np.ndarray, float]]:
    out = []
    for index in range(4):
        cam = h36m_camera("S9", index)
        for _ in range(50):  # somewhere on the capture floor, whole body in view
            shifted = world + np.r_[rng.uniform(-1.5, 1.5, 2), 0.0]
            pc = cam.world_to_camera(shifted)
            if (pc[:, 2] > 0.5).all() and _inside(cam.project(pc, distort=False), cam.pinhole()):
                out.append((pc, cam.pinhole(), cam.gravity(), float(cam.centre[2])))
                break
    return out


def _mounted_view(world: np.ndarray, rng: np.random.Generator, pitch_range: tuple[float, float]
                  ) -> tuple[np.ndarray, PinholeCamera, np.ndarray, float] | None:
    f = float(rng.uniform(500.0, 600.0))
    cam = PinholeCamera(f, f, 319.5, 239.5, 640, 480)
    far = 2.5 + 0.05 * max(pitch_range)  # a camera looking down needs more distance to see the whole body
    for _ in range(100):
        height, pitch = rng.uniform(1.0, 1.5), rng.uniform(*pitch_range)
        gravity = gravity_from_pitch_roll(pitch, rng.normal(0.0, 2.0))
        r = level_to_camera(gravity)
        # level frame of the camera: x right, y down, z forward (horizontal); floor at y = height
        level = world @ CANONICAL_TO_WORLD  # world (z up) -> canonical (y down)
        level = level + np.array([rng.uniform(-1.0, 1.0), height - level[:, 1].max(), rng.uniform(far, far + 2.5)])
        pc = level @ r.T
        if (pc[:, 2] > 0.5).all() and _inside(cam.project(pc), cam):
            return pc, cam, gravity, height
    return None


def make_frames(poses: np.ndarray, categories: list[str], scene: str, seed: int) -> list[ProxyFrame]:
    """Views of every pose in ``scene`` (4 per pose for h36m, 1 otherwise); deterministic for a seed.

    Each pose's lowest joint stands at z = 0; the floor lies ``FLOOR_CLEARANCE_RANGE_M`` (uniform, its own draw per
    pose) below it, like an ankle joint above the sole, and sets each view's ``camera_height``."""
    rng = np.random.default_rng(stable_seed(seed, scene))
    frames = []
    for i, (pose, cat) in enumerate(zip(poses, categories)):
        world = stand_upright(pose, rng.uniform(-np.pi, np.pi))
        if scene == "h36m":
            views = _h36m_views(world, rng)
        else:
            view = _mounted_view(world, rng, (20.0, 30.0) if scene == "robot" else (0.0, 0.0))
            views = [view] if view is not None else []
        clearance = np.random.default_rng(stable_seed(seed, scene, i, "floor")).uniform(*FLOOR_CLEARANCE_RANGE_M)
        for j, (pc, cam, g, above_lowest) in enumerate(views):
            frames.append(ProxyFrame(cam.project(pc), cam, g, pc, cat, stable_seed(seed, scene, i, j),
                                     above_lowest + clearance, pose_index=i))
    return frames


def evaluate(sampler, frames: list[ProxyFrame], noise: "str | SyntheticConfig", gravity: str, ks: tuple[int, ...],
             m_node: int = 16) -> dict:
    """Accuracy of ``sampler`` on ``frames``; see the module docstring. ``noise``: ``"noisy"``, ``"clean"`` or a
    synthetic detector of its own.

    Best-of-k uses a draw of k hypotheses (one per k); the top-weight hypothesis and the weighted mean come from the
    draw of ``m_node`` hypotheses, exactly what the node publishes. ``n_best_of_k`` scores the same draw
    scale-normalised (N-MPJPE: body size errors removed), ``depth_best_of_k`` the best hypothesis's mean error along
    the camera axis.
    """
    synth = noise_config(noise)
    best: dict[int, list] = {k: [] for k in ks}
    pa_best: dict[int, list] = {k: [] for k in ks}
    n_best: dict[int, list] = {k: [] for k in ks}
    depth_best: dict[int, list] = {k: [] for k in ks}
    node: dict[str, list] = {"top": [], "pa_top": [], "mean": [], "pa_mean": []}
    reproj, cats, pose_ids = [], [], []
    for fr in tqdm(frames, desc=f"{noise}/{gravity}", unit="frame", leave=False):
        obs = synthetic_observation(fr.keypoints, np.random.default_rng(fr.seed), synth)
        g = fr.gravity if gravity in ("known", "floor") else None
        floor = fr.camera_height if gravity == "floor" else None
        gt = fr.pose_camera - fr.pose_camera[:1]
        draws = {k: sampler.sample(obs, fr.camera, num_hypotheses=k, gravity=g, camera_height=floor)
                 for k in sorted({*ks, m_node})}
        for k in ks:
            hyp = draws[k].poses_root_relative.astype(np.float64)
            errors = metrics.mpjpe(hyp, gt[None])
            best[k].append(errors.min())
            n_best[k].append(metrics.n_mpjpe(hyp, gt[None]).min())
            depth_best[k].append(np.abs(hyp[int(np.argmin(errors)), :, 2] - gt[:, 2]).mean())
            pa_best[k].append(metrics.pa_mpjpe(hyp, np.broadcast_to(gt, hyp.shape)).min())
        r = draws[m_node]
        top = r.poses_root_relative[int(np.argmax(r.weights))].astype(np.float64)[None]
        mean = r.mean_root_relative.astype(np.float64)[None]
        node["top"].append(metrics.mpjpe(top, gt[None])[0])
        node["pa_top"].append(metrics.pa_mpjpe(top, gt[None])[0])
        node["mean"].append(metrics.mpjpe(mean, gt[None])[0])
        node["pa_mean"].append(metrics.pa_mpjpe(mean, gt[None])[0])
        proj = fr.camera.project(r.poses_camera.astype(np.float64))
        reproj.append(float(np.median(np.linalg.norm(proj - fr.keypoints, axis=-1))))
        cats.append(fr.category)
        # a pose's views share a key (its source too: frames of several make_frames calls may be joined)
        pose_ids.append((fr.category.partition("/")[0], fr.pose_index if fr.pose_index >= 0 else -1 - len(pose_ids)))
    out: dict = {"frames": len(frames), "reprojection_median_px": float(np.mean(reproj)), "m_node": m_node}
    for k in ks:
        out[f"best_of_{k}_mm"] = 1000 * float(np.mean(best[k]))
        out[f"pa_best_of_{k}_mm"] = 1000 * float(np.mean(pa_best[k]))
        out[f"n_best_of_{k}_mm"] = 1000 * float(np.mean(n_best[k]))
        out[f"depth_best_of_{k}_mm"] = 1000 * float(np.mean(depth_best[k]))
    for name, vals in node.items():
        out[f"{name}_mm"] = 1000 * float(np.mean(vals))
    top = {"top_mm": node["top"]}
    out["per_category"] = _means_by(cats, {f"best_of_{k}_mm": best[k] for k in ks} | top)
    scores = {f"{kind}best_of_{k}_mm": vals[k] for k in ks for kind, vals in (("", best), ("pa_", pa_best))}
    per_source = out["per_source"] = _means_by([c.partition("/")[0] for c in cats], scores | top)
    # each source counts once, as each action does in Human3.6M's protocol (the pose mean above weighs the
    # sources by their held-out poses)
    out["source_mean"] = {key: float(np.mean([v[key] for v in per_source.values()]))
                          for key in next(iter(per_source.values())) if key != "frames"}
    out["per_pose"] = _per_pose(pose_ids, scores | top)
    out["se"] = standard_errors(out["per_pose"])
    return out


POSE_KEYS = ("source", "pose", "views")  # per_pose entries that identify a pose (the others are its errors)


def _per_pose(pose_ids: list[tuple[str, int]], series: dict[str, list]) -> dict[str, list]:
    """Per held-out pose (a pose's views together; ``pose_ids`` one ``(source, pose)`` key per view): its source,
    index, number of views and the mean of each series (mm)."""
    rows_of: dict[tuple, list[int]] = {}
    for i, key in enumerate(pose_ids):
        rows_of.setdefault(key, []).append(i)
    rows = [np.asarray(r) for r in rows_of.values()]
    out: dict[str, list] = {"source": [key[0] for key in rows_of], "pose": [int(key[1]) for key in rows_of],
                            "views": [float(len(r)) for r in rows]}
    for name, vals in series.items():
        arr = 1000 * np.asarray(vals, dtype=np.float64)
        out[name] = [float(arr[r].mean()) for r in rows]
    return out


def pose_means(per_pose: dict[str, list]) -> dict[str, dict[str, float]]:
    """The view-weighted mean of each metric (``views``) and the unweighted mean of the sources' (``source_mean``),
    from :func:`_per_pose` numbers (the headline and ``source_mean`` of :func:`evaluate`, rebuilt)."""
    views = np.asarray(per_pose["views"])
    source = np.asarray(per_pose["source"])
    out: dict[str, dict[str, float]] = {"views": {}, "source_mean": {}}
    for name in (k for k in per_pose if k not in POSE_KEYS):
        x = np.asarray(per_pose[name])
        out["views"][name] = float((views * x).sum() / views.sum())
        out["source_mean"][name] = float(np.mean([(views[sel] * x[sel]).sum() / views[sel].sum()
                                                  for sel in (source == s for s in set(source.tolist()))]))
    return out


def standard_errors(per_pose: dict[str, list]) -> dict[str, dict[str, float]]:
    """Standard errors (mm) over the draw of held-out poses of the view mean (``views``), of each source's mean and
    of their unweighted mean (``source_mean``). A pose's views share its errors, so poses are the independent
    units (cluster standard error of a view-weighted mean); a 95 % interval is about +-2 of these."""
    views = np.asarray(per_pose["views"])
    source = np.asarray(per_pose["source"])
    metrics_ = [k for k in per_pose if k not in POSE_KEYS]

    def se(x: np.ndarray, n: np.ndarray) -> float:
        if len(x) < 2:
            return float("nan")
        mean = (n * x).sum() / n.sum()
        return float(np.sqrt(len(x) / (len(x) - 1) * ((n * (x - mean)) ** 2).sum()) / n.sum())

    out: dict[str, dict[str, float]] = {"views": {}, "source_mean": {}}
    by_source = {str(s): source == s for s in sorted(set(source.tolist()))}
    for name in metrics_:
        x = np.asarray(per_pose[name])
        out["views"][name] = se(x, views)
        per = [se(x[sel], views[sel]) for sel in by_source.values()]
        for s, v in zip(by_source, per):
            out.setdefault(s, {})[name] = v
        out["source_mean"][name] = float(np.sqrt(np.sum(np.square(per))) / len(per))
    return out


def _means_by(labels: list[str], series: dict[str, list]) -> dict[str, dict]:
    """Per label (sorted): the mean of each series over its frames, in mm, and its number of frames."""
    labels_arr = np.asarray(labels)
    out = {}
    for label in sorted(set(labels)):
        sel = labels_arr == label
        out[label] = {name: 1000 * float(np.mean(np.asarray(vals)[sel])) for name, vals in series.items()}
        out[label]["frames"] = int(sel.sum())
    return out


def average_runs(runs: list[dict]) -> dict:
    """The mean of several :func:`evaluate` results (numbers averaged leaf by leaf); with more than one run,
    ``"repeats"`` keeps each run's top-level numbers."""
    def mean(values: list):
        if isinstance(values[0], dict):
            return {k: mean([v[k] for v in values]) for k in values[0]}
        if isinstance(values[0], list) and values[0] and isinstance(values[0][0], float):
            return [float(x) for x in np.mean(values, axis=0)]  # per pose: the same poses in every run
        return float(np.mean(values)) if isinstance(values[0], float) else values[0]

    out = mean(runs)
    if "per_pose" in out:  # over the poses of the seeds' mean (not the mean of each seed's)
        out["se"] = standard_errors(out["per_pose"])
    if len(runs) > 1:
        out["repeats"] = {k: [r[k] for r in runs] for k, v in runs[0].items() if isinstance(v, float)}
    return out


def time_sampler(sampler, frame: ProxyFrame, m: int = 16, repeats: int = 20) -> dict[str, float]:
    """Median wall and CPU ms per sampler call (m hypotheses, clean heatmaps, known gravity); on a shared CPU the
    process's CPU time is the steadier figure."""
    obs = synthetic_observation(frame.keypoints, np.random.default_rng(0), CLEAN)
    wall, cpu = [], []
    for i in range(repeats + 3):
        t0, c0 = time.perf_counter(), time.process_time()
        sampler.sample(obs, frame.camera, num_hypotheses=m, gravity=frame.gravity)
        if i >= 3:
            wall.append(1000 * (time.perf_counter() - t0))
            cpu.append(1000 * (time.process_time() - c0))
    return {"wall_ms": float(np.median(wall)), "cpu_ms": float(np.median(cpu))}


def table(results: dict, ks: tuple[int, ...]) -> str:
    cols = [f"best-{k}" for k in ks] + [f"PA-{k}" for k in ks] + ["top-w", "PA-top", "w-mean", "2D px", "ms m16"]
    lines = [f"{'scene/noise/gravity':<24}" + "".join(f"{c:>9}" for c in cols)]
    for name, r in results["runs"].items():
        vals = ([r[f"best_of_{k}_mm"] for k in ks] + [r[f"pa_best_of_{k}_mm"] for k in ks]
                + [r["top_mm"], r["pa_top_mm"], r["mean_mm"], r["reprojection_median_px"],
                   r.get("ms_per_frame_m16", float("nan"))])
        lines.append(f"{name:<24}" + "".join(f"{v:9.1f}" for v in vals))
    return "\n".join(lines)


def source_table(results: dict, ks: tuple[int, ...]) -> str:
    """Per run, each mocap source's numbers, their unweighted mean (``source mean``) and the mean over views, each
    +- its standard error over the held-out poses drawn (:func:`standard_errors`)."""
    keys = [f"best_of_{k}_mm" for k in ks] + [f"pa_best_of_{k}_mm" for k in ks] + ["top_mm"]
    cols = [f"best-{k}" for k in ks] + [f"PA-{k}" for k in ks] + ["top-w"]
    lines = [f"{'scene/noise/gravity source':<36}" + "".join(f"{c:>13}" for c in cols) + f"{'views':>7}"]
    for name, r in results["runs"].items():
        se = r.get("se", {})
        rows = [*((src, v, se.get(src, {})) for src, v in r["per_source"].items()),
                ("source mean", r["source_mean"] | {"frames": r["frames"]}, se.get("source_mean", {})),
                ("view mean", r | {"frames": r["frames"]}, se.get("views", {}))]
        for src, v, e in rows:
            cells = "".join(f"{v[k]:7.1f} +-{e.get(k, float('nan')):3.1f}" for k in keys)
            lines.append(f"{name + ' ' + src:<36}" + cells + f"{v['frames']:7.0f}")
    return "\n".join(lines)


def plot(results: dict, ks: tuple[int, ...], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = results["runs"]
    names = list(runs)
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 1.3 * len(names) + 4), 4.5))
    x = np.arange(len(names))
    width = 0.8 / (len(ks) + 1)

    def bars(i: int, key: str, label: str) -> None:  # +- one standard error over the poses drawn
        err = [runs[n].get("se", {}).get("views", {}).get(key, np.nan) for n in names]
        axes[0].bar(x + i * width, [runs[n][key] for n in names], width, yerr=err, capsize=2, label=label)

    for i, k in enumerate(ks):
        bars(i, f"best_of_{k}_mm", f"best of {k}")
    bars(len(ks), "top_mm", "top weight (m=16)")
    axes[0].set_xticks(x + width * len(ks) / 2, names, rotation=30, ha="right", fontsize=8)
    axes[0].set(ylabel="MPJPE (mm), +- 1 s.e. over poses")
    axes[0].set_title("proxy: held-out mocap, synthetic heatmaps", fontsize=10)
    axes[0].legend(fontsize=8)
    cats = sorted({c for r in runs.values() for c in r["per_category"]})
    first = names[0]
    kmax = max(ks)
    per_cat = runs[first]["per_category"]
    vals = [per_cat.get(c, {}).get(f"best_of_{kmax}_mm", np.nan) for c in cats]
    axes[1].barh(np.arange(len(cats)), vals)
    axes[1].set_yticks(np.arange(len(cats)), [f"{c} ({per_cat.get(c, {}).get('frames', 0)})" for c in cats],
                       fontsize=7)
    se = runs[first].get("se", {})
    for value, err, style, label in (
            (runs[first][f"best_of_{kmax}_mm"], se.get("views", {}).get(f"best_of_{kmax}_mm"), "-", "mean over views"),
            (runs[first]["source_mean"][f"best_of_{kmax}_mm"], se.get("source_mean", {}).get(f"best_of_{kmax}_mm"),
             "--", "mean over sources")):
        axes[1].axvline(value, color="k", linestyle=style, linewidth=1,
                        label=f"{label}: {value:.1f}" + ("" if err is None else f" +- {err:.1f}"))
    axes[1].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=1)
    axes[1].set_xlabel(f"best-of-{kmax} MPJPE (mm)")
    axes[1].set_title(f"{first}: per category (views)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=None, help="prior weights (default: shipped)")
    parser.add_argument("--per-source", type=int, default=None, metavar="N",
                        help=f"held-out poses of each source per scene (default {DEFAULT_PER_SOURCE})")
    parser.add_argument("--frames", type=int, default=None, metavar="N",
                        help="instead: N held-out poses per scene, drawn in proportion to the sources' test sets")
    parser.add_argument("--scenes", nargs="+", choices=SCENES, default=list(SCENES))
    parser.add_argument("--noise", nargs="+", choices=NOISE, default=list(NOISE))
    parser.add_argument("--gravity", nargs="+", choices=GRAVITY, default=["known"])
    parser.add_argument("--hypotheses", type=int, nargs="+", default=[1, 16, 200], help="k of best-of-k")
    parser.add_argument("--sources", nargs="+", default=None, help="mocap sources (default: all)")
    parser.add_argument("--preset", default="default", help="sampler preset (default, fast, accurate)")
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="NAME=VALUE",
                        help="sampler overrides, e.g. guidance_iters=3 num_steps=20 (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1,
                        help="sampler runs per setting (seeds seed, seed+1, ...; same views): the table shows their "
                             "mean, the JSON each run's headline numbers (a setting's mean moves ~1-1.5 mm per seed)")
    parser.add_argument("--out", type=Path, default=Path("out/proxy"))
    args = parser.parse_args(argv)

    import torch

    from ..prior.pose_prior import PosePrior
    from ..sampling.config import PRESETS, SamplerConfig

    torch.set_num_threads(1)
    prior = PosePrior.load(args.weights)
    overrides = dict(kv.split("=", 1) for kv in args.set)
    if args.preset not in PRESETS:
        parser.error(f"unknown preset {args.preset!r} (have {', '.join(PRESETS)})")
    config = SamplerConfig.from_strings(overrides, PRESETS[args.preset])
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    ks = tuple(sorted(args.hypotheses))
    try:
        frames_total, per_source = pose_draw(args.frames, args.per_source)
    except ValueError as exc:
        parser.error(str(exc))
    poses, cats = load_heldout(frames_total, args.seed, args.sources, per_source=per_source)
    sampler_settings = config.kwargs() | {"body_height": config.build(prior).body_height}  # as resolved
    results: dict = {"frames_per_scene": len(poses), "draw": {"frames": frames_total, "per_source": per_source},
                     "preset": args.preset, "sampler": sampler_settings,
                     "hypotheses": ks,
                     "prior": {k: v for k, v in prior.metadata.items() if k in ("steps", "final_val_loss", "sources")},
                     "runs": {}}
    print(f"{len(poses)} held-out poses, sampler {results['sampler']}")
    for scene in args.scenes:
        frames = make_frames(poses, cats, scene, args.seed)
        for noise in args.noise:
            for gravity in args.gravity:
                name = f"{scene}/{noise}/{gravity}"
                runs = [evaluate(config.build(prior, seed=args.seed + r), frames, noise, gravity, ks)
                        for r in range(args.repeats)]
                results["runs"][name] = average_runs(runs)
                timing = time_sampler(config.build(prior, seed=args.seed), frames[0])
                results["runs"][name]["ms_per_frame_m16"] = timing["cpu_ms"]
                results["runs"][name]["wall_ms_per_frame_m16"] = timing["wall_ms"]
                print(table({"runs": {name: results["runs"][name]}}, ks).splitlines()[-1], flush=True)
    print(table(results, ks))
    print("by mocap source (the held-out poses of each; 'source mean' counts every source once, as Human3.6M's "
          "protocol counts every action once; +- one standard error over the poses drawn):")
    print(source_table(results, ks))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    png = plot(results, ks, args.out / "results.png")
    print(f"wrote {args.out / 'results.json'} and {png}")
    return results


if __name__ == "__main__":
    main()
