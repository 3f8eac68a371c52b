"""How much of the proxy's remaining pose error two oracles explain: bone lengths and limb depth flips.

    python -m diffpose_ros.evaluation.pose_oracles [--frames 10] [--noise clean noisy] [--sources ...] \
        [--preset default] [--out out/pose_oracles]

Held-out takes of each mocap source seen through the four Human3.6M cameras (the proxy benchmark's ``h36m`` scene,
gravity known), 200 hypotheses per view. Per view:

* ``best``: best-of-200 MPJPE; ``flip_oracle``: the best hypothesis after moving any knee, ankle, elbow or wrist to
  the other point of its camera ray at the same distance from its parent (:func:`flip_joint`: the 2D projection and
  the bone lengths are unchanged, the limb's depth order flips) wherever that brings it nearer the truth;
  ``flipped``: the share of views where such a flip exists.
* ``pa``: best-of-200 PA-MPJPE; ``pa_true_bones``: the same after every hypothesis gets the true bone lengths
  (directions kept, :func:`with_bone_lengths`); ``pa_symmetric_bones``: after its left and right bones get their
  geometric mean (what a symmetry constraint could give).

Per source, their mean (each source once) and the mean over views. Prints a table, writes ``results.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core import metrics
from ..core.skeleton import JOINT_INDEX, PARENTS, SYMMETRIC_BONES, bone_lengths, bone_vectors, from_bone_vectors
from . import proxy_benchmark as pb
from .h36m_observations import synthetic_observation

FLIP_JOINTS = tuple(JOINT_INDEX[n] for n in ("right_knee", "left_knee", "left_elbow", "right_elbow",
                                             "right_ankle", "left_ankle", "left_wrist", "right_wrist"))
COLUMNS = ("best", "flip_oracle", "pa", "pa_true_bones", "pa_symmetric_bones", "flipped")
_CHILDREN = {j: [c for c, p in enumerate(PARENTS) if p == j] for j in range(len(PARENTS))}


def flip_joint(pose_camera: np.ndarray, joint: int) -> np.ndarray:
    """``pose_camera`` ``[17, 3]`` (camera frame, metres) with ``joint`` moved to the other point of its camera ray
    at the same distance from its parent. Its descendants keep their rays (2D), bone lengths and depth order
    relative to their parents (a bone too short to reach its ray takes the ray's nearest point)."""
    out = np.array(pose_camera, dtype=np.float64)
    c, p = out[joint].copy(), out[PARENTS[joint]]
    out[joint] = c * (2.0 * (c @ p) / (c @ c) - 1.0)
    todo = [(child, joint) for child in _CHILDREN[joint]]
    while todo:
        j, parent = todo.pop()
        old = np.asarray(pose_camera[j], dtype=np.float64)
        ray = old / np.linalg.norm(old)
        length = np.linalg.norm(old - pose_camera[parent])
        side = np.sign(np.linalg.norm(old) - ray @ pose_camera[parent])
        along = ray @ out[parent]
        out[j] = (along + side * np.sqrt(max(along ** 2 - out[parent] @ out[parent] + length ** 2, 0.0))) * ray
        todo += [(child, j) for child in _CHILDREN[j]]
    return out


def flip_oracle(pose_camera: np.ndarray, truth_camera: np.ndarray) -> tuple[np.ndarray, int]:
    """Greedy oracle: flip each of ``FLIP_JOINTS`` in turn where that lowers the root-aligned MPJPE to the truth;
    returns the pose and the number of flips."""
    best = np.asarray(pose_camera, dtype=np.float64)
    error = metrics.mpjpe(best[None], truth_camera[None])[0]
    flips = 0
    for joint in FLIP_JOINTS:
        candidate = flip_joint(best, joint)
        e = metrics.mpjpe(candidate[None], truth_camera[None])[0]
        if e < error - 1e-6:
            best, error, flips = candidate, e, flips + 1
    return best, flips


def with_bone_lengths(poses: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Root-relative poses ``[..., 17, 3]`` rebuilt from the root with each bone's direction kept and its length set
    to ``lengths`` ``[..., 16]`` (BONES order)."""
    vectors = bone_vectors(np.asarray(poses, dtype=np.float64))
    directions = vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-9)
    return from_bone_vectors(directions * np.asarray(lengths)[..., None])


def symmetric_lengths(lengths: np.ndarray) -> np.ndarray:
    """Left and right bone lengths ``[..., 16]`` replaced by their geometric mean."""
    out = np.array(lengths, dtype=np.float64)
    for left, right in SYMMETRIC_BONES:
        out[..., left] = out[..., right] = np.sqrt(lengths[..., left] * lengths[..., right])
    return out


def score_view(hypotheses_camera: np.ndarray, truth_camera: np.ndarray) -> dict[str, float]:
    """The oracles' numbers (mm; ``flipped`` 0 or 1) for one view's hypotheses ``[m, 17, 3]`` (camera frame)."""
    hyp = np.asarray(hypotheses_camera, dtype=np.float64)
    rr, gt = hyp - hyp[:, :1], truth_camera - truth_camera[:1]
    errors = metrics.mpjpe(rr, gt[None])
    oracle, flips = flip_oracle(hyp[int(np.argmin(errors))], truth_camera)
    gts = np.broadcast_to(gt, rr.shape)
    lengths = bone_lengths(rr)
    return {"best": 1000 * errors.min(), "flip_oracle": 1000 * metrics.mpjpe(oracle[None], truth_camera[None])[0],
            "pa": 1000 * metrics.pa_mpjpe(rr, gts).min(),
            "pa_true_bones": 1000 * metrics.pa_mpjpe(with_bone_lengths(rr, np.broadcast_to(
                bone_lengths(gt), lengths.shape)), gts).min(),
            "pa_symmetric_bones": 1000 * metrics.pa_mpjpe(with_bone_lengths(rr, symmetric_lengths(lengths)), gts).min(),
            "flipped": float(flips > 0)}


def evaluate(sampler, frames: list, noise: str, m: int = 200) -> dict:
    """Per source (``frame.category``'s source) and overall means of :func:`score_view` over ``frames``."""
    synth = pb.noise_config(noise)
    rows, sources = [], []
    for fr in tqdm(frames, desc=noise, unit="view", leave=False):
        obs = synthetic_observation(fr.keypoints, np.random.default_rng(fr.seed), synth)
        result = sampler.sample(obs, fr.camera, num_hypotheses=m, gravity=fr.gravity)
        rows.append(score_view(result.poses_camera, fr.pose_camera))
        sources.append(fr.category.partition("/")[0])
    per_source = {s: {c: float(np.mean([r[c] for r, rs in zip(rows, sources) if rs == s])) for c in COLUMNS}
                  | {"views": sources.count(s)} for s in sorted(set(sources))}
    return {"per_source": per_source,
            "source_mean": {c: float(np.mean([v[c] for v in per_source.values()])) for c in COLUMNS},
            "view_mean": {c: float(np.mean([r[c] for r in rows])) for c in COLUMNS}, "views": len(rows)}


def table(results: dict) -> str:
    lines = [f"{'noise / source':<28}" + "".join(f"{c:>20}" for c in COLUMNS)]
    for noise, res in results.items():
        named = {**res["per_source"], "mean over sources": res["source_mean"], "mean over views": res["view_mean"]}
        for name, row in named.items():
            lines.append(f"{noise + ' / ' + name:<28}" + "".join(
                f"{100 * row[c]:>19.0f}%" if c == "flipped" else f"{row[c]:>20.1f}" for c in COLUMNS))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10, help="held-out poses per source (4 views each)")
    parser.add_argument("--noise", nargs="+", choices=pb.NOISE, default=["clean"])
    parser.add_argument("--sources", nargs="+", default=["bandai_ds1", "bandai_ds2", "cmu_cc"])
    parser.add_argument("--preset", default="default", help="sampler preset (default, fast, accurate)")
    parser.add_argument("-m", "--hypotheses", type=int, default=200)
    parser.add_argument("--weights", type=Path, default=None, help="prior weights (default: shipped)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/pose_oracles"))
    args = parser.parse_args(argv)

    import torch

    from ..prior.pose_prior import PosePrior
    from ..sampling.config import PRESETS

    if args.preset not in PRESETS:
        parser.error(f"unknown preset {args.preset!r} (have {', '.join(PRESETS)})")
    torch.set_num_threads(1)
    prior = PosePrior.load(args.weights)
    frames = []
    for source in args.sources:
        poses, cats = pb.load_heldout(args.frames, args.seed, [source])
        frames += pb.make_frames(poses, cats, "h36m", args.seed)
    results = {noise: evaluate(PRESETS[args.preset].build(prior, seed=args.seed), frames, noise, args.hypotheses)
               for noise in args.noise}
    print(f"{len(frames)} views, preset {args.preset}, m={args.hypotheses} (mm; flipped: views with a better flip)")
    print(table(results))
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"preset": args.preset, "hypotheses": args.hypotheses, "frames_per_source": args.frames,
               "results": results}
    (args.out / "results.json").write_text(json.dumps(payload, indent=1))
    print(f"wrote {args.out / 'results.json'}")
    return payload


if __name__ == "__main__":
    main()
