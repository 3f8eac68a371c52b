"""Human3.6M evaluation: MPJPE / PA-MPJPE per action (best-of-m and mean of m), JSON + markdown, resumable.

    python -m diffpose_ros.evaluation.h36m_eval --data-3d data/data_3d_h36m.npz --out out/h36m \
        [--source synthetic|detections|detector] [--data-2d data/data_2d_h36m_cpn_ft_h36m_dbb.npz] \
        [--images ROOT] [-m 16] [--steps 10] [--stride 64] [--subjects S9 S11] [--max-frames N]

Protocol: S9 and S11, all four cameras, every 64th frame, 17 joints, errors after root alignment (MPJPE) and
after a similarity Procrustes alignment (PA-MPJPE). Per subject/action results are cached in
``OUT/actions/*.json`` together with the run's configuration; a rerun with the same configuration skips them.
The average is over actions (VideoPose3D's grouping, e.g. "Walking 1" counts as "Walking").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core import metrics
from ..estimator import EstimatorConfig, PoseEstimator
from ..sampling.config import DEFAULT as SAMPLER
from ..sampling.config import PRESET_SETTINGS, PRESETS
from .h36m_cameras import h36m_camera
from .h36m_data import H36MSequence, Protocol, action_base, frame_indices, iter_sequences
from .h36m_observations import (
    DEFAULT_IMAGE_PATTERN,
    detection_observation,
    detector_source,
    stable_seed,
    synthetic_observation,
)
from .synthetic_heatmaps import SyntheticConfig

SOURCES = ("synthetic", "detections", "detector")
# the sampler settings of a run (the presets'; resample_every is not an option here: the default's, in every preset)
SETTINGS = tuple(name for name in PRESET_SETTINGS if name != "resample_every")
METRIC_KEYS = ("mpjpe_best_mm", "mpjpe_mean_mm", "pa_mpjpe_best_mm", "pa_mpjpe_mean_mm")


@dataclass
class H36MEvalConfig:
    data_3d: str
    source: str = "synthetic"
    data_2d: str = ""
    images: str = ""
    image_pattern: str = ""
    subjects: tuple[str, ...] = ("S9", "S11")
    cameras: tuple[int, ...] = (0, 1, 2, 3)
    stride: int = 64
    actions: tuple[str, ...] = ()
    max_frames: int = 0
    num_hypotheses: int = SAMPLER.num_hypotheses
    num_steps: int = SAMPLER.num_steps
    guidance_scale: float = SAMPLER.guidance_scale
    guidance_iters: int = SAMPLER.guidance_iters
    eta: float = SAMPLER.eta
    restart_below: float = SAMPLER.restart_below
    restart_all: bool = SAMPLER.restart_all
    restart_refine: int = SAMPLER.restart_refine
    evidence_gain: float = SAMPLER.evidence_gain
    gravity: str = "known"  # known: from the camera extrinsics; unknown: the sampler's tilt prior; floor: known,
    # plus the camera's height above the floor (the world's z = 0 plane)
    seed: int = 0
    prior_weights: str = ""
    device: str = "cpu"
    keypoint_sigma_px: float = 8.0
    synthetic: dict = field(default_factory=dict)  # SyntheticConfig overrides

    def protocol(self) -> Protocol:
        return Protocol(tuple(self.subjects), tuple(self.cameras), self.stride, tuple(self.actions), self.max_frames)

    def key(self) -> str:
        """Hash of everything that changes per-action results (not the output location)."""
        d = asdict(self)
        d.pop("actions")
        return hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]

    def estimator_config(self) -> EstimatorConfig:
        return EstimatorConfig(device=self.device, seed=self.seed, prior_weights=self.prior_weights,
                               **{name: getattr(self, name) for name in SETTINGS})


def evaluate_sequence(seq: H36MSequence, cfg: H36MEvalConfig, estimator: PoseEstimator, source=None,
                      progress: bool = True) -> dict:
    """Errors of one subject/action over the protocol's cameras and frames."""
    protocol = cfg.protocol()
    synth = SyntheticConfig(**cfg.synthetic)
    hyps, gts, times, missing = [], [], [], 0
    jobs = [(c, i) for c in protocol.cameras for i in frame_indices(len(seq.poses_world), protocol)]
    for cam_index, frame in tqdm(jobs, desc=f"{seq.subject} {seq.action}", unit="frame", disable=not progress,
                                 leave=False):
        cam = h36m_camera(seq.subject, cam_index)
        gt_cam = cam.world_to_camera(seq.poses_world[frame])
        if cfg.source == "synthetic":
            rng = np.random.default_rng(stable_seed(cfg.seed, seq.subject, seq.action, cam_index, frame))
            obs = synthetic_observation(cam.project(gt_cam, distort=False), rng, synth)
        elif cfg.source == "detections":
            obs = detection_observation(seq.detections[cam_index][frame], cam, cfg.keypoint_sigma_px)
        else:
            obs = source(seq.subject, seq.action, cam, int(frame))
        if obs is None:
            missing += 1
            continue
        gravity = cam.gravity() if cfg.gravity in ("known", "floor") else None
        height = float(cam.centre[2]) if cfg.gravity == "floor" else None
        result = estimator.estimate_from_observations([obs], cam.pinhole(), gravity, height)
        times.append(result.timings_ms["sample"])
        hyps.append(result.people[0].hypotheses)
        gts.append(gt_cam)
    out = {"subject": seq.subject, "action": seq.action, "frames": len(gts), "frames_without_person": missing,
           "sample_ms_mean": float(np.mean(times)) if times else None}
    if gts:
        hyp, gt = np.asarray(hyps), np.asarray(gts)
        s = metrics.summarize(hyp, gt)
        out.update({k: s[k] for k in METRIC_KEYS})
        # per-frame sums, so actions pooled over subjects are frame-weighted exactly
        out["sums_mm"] = {k: s[k] * len(gts) for k in METRIC_KEYS}
    return out


def aggregate(per_sequence: list[dict]) -> dict:
    """Per action (pooled over subjects and sub-takes), then the mean over actions."""
    actions: dict[str, dict] = {}
    for r in per_sequence:
        if not r["frames"]:
            continue
        a = actions.setdefault(action_base(r["action"]), {"frames": 0, **{k: 0.0 for k in METRIC_KEYS}})
        a["frames"] += r["frames"]
        for k in METRIC_KEYS:
            a[k] += r["sums_mm"][k]
    for a in actions.values():
        for k in METRIC_KEYS:
            a[k] /= a["frames"]
    average = {k: float(np.mean([a[k] for a in actions.values()])) for k in METRIC_KEYS} if actions else {}
    times = [r["sample_ms_mean"] for r in per_sequence if r.get("sample_ms_mean") is not None]
    return {"actions": dict(sorted(actions.items())), "average": average,
            "frames": int(sum(a["frames"] for a in actions.values())),
            "frames_without_person": int(sum(r["frames_without_person"] for r in per_sequence)),
            "sample_ms_mean": float(np.mean(times)) if times else None}


def markdown(result: dict) -> str:
    """The per-action table (millimetres)."""
    cfg = result["config"]
    lines = [f"# Human3.6M evaluation ({cfg['source']} 2D, m={cfg['num_hypotheses']}, steps={cfg['num_steps']}, "
             f"guidance {cfg['guidance_scale']}, subjects {' '.join(cfg['subjects'])}, every {cfg['stride']}th frame)",
             "", "Body height prior: stature {:.3f} m, relative sd {:.3f}.".format(*result.get("body_height", (0, 0))),
             "", "| action | frames | MPJPE best | MPJPE mean | PA-MPJPE best | PA-MPJPE mean |",
             "|---|---:|---:|---:|---:|---:|"]
    rows = list(result["actions"].items()) + [("**average**", {"frames": result["frames"], **result["average"]})]
    for name, a in rows:
        if not a.get("mpjpe_best_mm") and name != "**average**":
            continue
        vals = " | ".join(f"{a.get(k, float('nan')):.1f}" for k in METRIC_KEYS)
        lines.append(f"| {name} | {a['frames']} | {vals} |")
    t = result["sample_ms_mean"]
    lines += ["", f"Errors in mm. Sampling time {t:.1f} ms per person-frame on {cfg['device']}." if t else "",
              f"Wall time {result['wall_s']:.0f} s; frames without a person: {result['frames_without_person']}."]
    return "\n".join(lines) + "\n"


def run(cfg: H36MEvalConfig, out: Path, progress: bool = True, detector=None) -> dict:
    """Evaluate (resuming from ``out/actions``), write ``results.json`` and ``results.md``; return the result."""
    if cfg.source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {cfg.source!r}")
    if cfg.source == "detections" and not cfg.data_2d:
        raise ValueError("source 'detections' needs data_2d (a VideoPose3D data_2d_h36m_*.npz)")
    if cfg.source == "detector" and not cfg.images:
        raise ValueError("source 'detector' needs images (root of extracted video frames)")
    t0 = time.perf_counter()
    sequences = list(iter_sequences(cfg.data_3d, cfg.protocol(), cfg.data_2d if cfg.source == "detections" else None))
    cache = out / "actions"
    cache.mkdir(parents=True, exist_ok=True)
    key = cfg.key()
    estimator = PoseEstimator(cfg.estimator_config())
    source = None
    if cfg.source == "detector":
        source = detector_source(cfg.images, cfg.image_pattern or DEFAULT_IMAGE_PATTERN, detector)
    results = []
    for seq in tqdm(sequences, desc="h36m", unit="action", disable=not progress):
        path = cache / f"{seq.subject}_{seq.action.replace(' ', '_')}.json"
        if path.is_file():
            cached = json.loads(path.read_text())
            if cached.get("config_key") == key:
                results.append(cached)
                continue
        # a fresh generator per sequence: cached and recomputed sequences give identical numbers
        estimator.sampler.generator.manual_seed(stable_seed(cfg.seed, seq.subject, seq.action))
        r = {**evaluate_sequence(seq, cfg, estimator, source, progress), "config_key": key}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(r, indent=1))
        tmp.replace(path)
        results.append(r)
    result = {"dataset": "human36m", "config": asdict(cfg), "config_key": key,
              "body_height": list(estimator.sampler.body_height), **aggregate(results),
              "sequences": [{k: v for k, v in r.items() if k != "sums_mm"} for r in results],
              "wall_s": time.perf_counter() - t0}
    (out / "results.json").write_text(json.dumps(result, indent=2))
    (out / "results.md").write_text(markdown(result))
    return result


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-3d", required=True, type=Path, help="VideoPose3D data_3d_h36m.npz")
    ap.add_argument("--out", type=Path, default=Path("out/h36m"))
    ap.add_argument("--source", choices=SOURCES, default="synthetic", help="where the 2D evidence comes from")
    ap.add_argument("--data-2d", type=Path, help="VideoPose3D data_2d_h36m_<name>.npz (source detections)")
    ap.add_argument("--images", type=Path, help="root of extracted frames (source detector)")
    ap.add_argument("--image-pattern", default="", help="frame path pattern, fields root subject action camera_id "
                    "frame (default {root}/{subject}/Videos/{action}.{camera_id}/{frame:06d}.jpg)")
    ap.add_argument("--subjects", nargs="+", default=["S9", "S11"])
    ap.add_argument("--cameras", nargs="+", type=int, default=[0, 1, 2, 3])
    ap.add_argument("--actions", nargs="*", default=[], help="only these action base names")
    ap.add_argument("--stride", type=int, default=64, help="every n-th frame")
    ap.add_argument("--max-frames", type=int, default=0, help="cap per subject/action/camera (0 = none)")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="default", help="sampler settings to start from")
    ap.add_argument("-m", "--num-hypotheses", type=int, default=None, help="default: the preset's")
    ap.add_argument("--steps", type=int, default=None, help="default: the preset's")
    ap.add_argument("--guidance-scale", type=float, default=None, help="default: the preset's")
    ap.add_argument("--guidance-iters", type=int, default=None, help="default: the preset's")
    ap.add_argument("--eta", type=float, default=None, help="default: the preset's")
    ap.add_argument("--gravity", nargs="+", choices=["known", "unknown", "floor"], default=["known", "unknown"],
                    help="gravity from the camera extrinsics, or not given, or known with the camera's height above "
                         "the floor (each mode is run; OUT/<mode>/)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prior-weights", default="", help="empty = the shipped prior")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--keypoint-sigma-px", type=float, default=8.0, help="Gaussian std for 2D detections")
    args = ap.parse_args(argv)
    given = {"num_hypotheses": args.num_hypotheses, "num_steps": args.steps, "guidance_scale": args.guidance_scale,
             "guidance_iters": args.guidance_iters, "eta": args.eta}
    sampler = {name: getattr(PRESETS[args.preset], name) for name in SETTINGS}
    sampler |= {name: value for name, value in given.items() if value is not None}
    for gravity in args.gravity:
        cfg = H36MEvalConfig(
            data_3d=str(args.data_3d), source=args.source, data_2d=str(args.data_2d or ""),
            images=str(args.images or ""), image_pattern=args.image_pattern, subjects=tuple(args.subjects),
            cameras=tuple(args.cameras), stride=args.stride, actions=tuple(args.actions), max_frames=args.max_frames,
            **sampler, gravity=gravity, seed=args.seed, prior_weights=args.prior_weights, device=args.device,
            keypoint_sigma_px=args.keypoint_sigma_px)
        out = args.out / gravity if len(args.gravity) > 1 else args.out
        try:
            result = run(cfg, out)
        except (FileNotFoundError, KeyError, ValueError) as exc:
            print(f"h36m_eval: error: {exc}", file=sys.stderr)
            return 1
        print(f"## gravity {gravity}\n" + markdown(result))
        print(f"wrote {out / 'results.json'} and {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
