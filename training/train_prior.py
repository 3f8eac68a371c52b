"""Train the 3D pose diffusion prior.

    python training/train_prior.py --config training/prior.yaml --out runs/prior [--resume] [--device cpu|cuda]
    python training/train_prior.py --h36m-npz data_3d_h36m.npz --subjects S1 S5 S6 S7 S8 --out runs/h36m
    python training/train_prior.py --sources bandai_ds1 cmu_cc deepmimic --out runs/subset
    python training/train_prior.py --h36m-npz data_3d_h36m.npz --init-weights PRIOR.pt --steps 20000 --out runs/tuned
    python training/train_prior.py --out runs/prior --export diffpose_ros/prior/weights/h36m17_prior.pt \
        --no-body-height

``--init-weights`` fine-tunes a prior of the same network (e.g. the shipped one; lower ``train.lr`` for it).
``--export`` writes the EMA prior of ``<out>/last.pt`` as shipped weights (float16 network weights) and exits.
``--no-body-height`` leaves out the recorded stature of the training performers, so the sampler sizes people by
its adult default: for training bodies that are not a population (the shipped prior's mocap is rescaled to one
body), unlike Human3.6M's training subjects.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffpose_ros.core.paths import add_data_argument, missing_data_message, use_data_dir
from diffpose_ros.prior.mocap import H36M_SOURCE, KNOWN_SOURCES
from diffpose_ros.prior.pose_prior import PosePrior
from diffpose_ros.prior.trainer import PriorExperiment, PriorTrainer

DEFAULT_CONFIG = Path(__file__).resolve().parent / "prior.yaml"


def export(out_dir: Path, target: Path, body_height: bool = True) -> None:
    """Write the EMA prior from ``out_dir/last.pt`` to ``target`` (half-precision network weights); without
    ``body_height`` the training performers' recorded stature is left out."""
    prior = PosePrior.load(out_dir / "last.pt")
    if not body_height:
        prior.metadata.pop("body_height", None)
    prior.save(target, half=True)
    steps = prior.metadata.get("steps")
    print(f"exported EMA prior at step {steps} to {target} ({target.stat().st_size / 1e6:.2f} MB)")


def apply_data_overrides(exp: PriorExperiment, sources: list[str] | None, h36m_npz: Path | None,
                         subjects: list[str] | None) -> None:
    """Command-line data selection: ``--h36m-npz`` alone trains on Human3.6M only; ``--sources`` picks sources.

    Source weights of sources that are not selected are dropped; with none left, batches are proportional
    to the number of poses per source.
    """
    if h36m_npz is not None:
        if not h36m_npz.is_file():
            raise SystemExit(f"--h36m-npz: file not found: {h36m_npz}")
        exp.data.h36m_npz = str(h36m_npz)
        if sources is None:
            sources = [H36M_SOURCE]
    if subjects:
        exp.data.h36m_subjects = list(subjects)
    if sources is not None:
        exp.data.sources = list(sources)
    if H36M_SOURCE in exp.data.sources and not exp.data.h36m_npz:
        raise SystemExit("the h36m source needs --h36m-npz PATH (or data.h36m_npz in the YAML)")
    exp.data.__post_init__()  # validate the new selection
    exp.source_weights = {k: v for k, v in exp.source_weights.items() if k in exp.data.sources}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--out", type=Path, default=Path("runs/prior"))
    parser.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--steps", type=int, default=None, help="override train.steps")
    parser.add_argument("--export", type=Path, default=None, help="export <out>/last.pt's EMA prior and exit")
    parser.add_argument("--no-body-height", action="store_true",
                        help="with --export: leave out the training performers' stature (the sampler's adult default)")
    parser.add_argument("--init-weights", type=Path, default=None,
                        help="start from these prior weights (override train.init_weights: fine-tuning)")
    add_data_argument(parser)
    parser.add_argument("--sources", nargs="+", choices=KNOWN_SOURCES, default=None,
                        help="override data.sources (weights of other sources are dropped)")
    parser.add_argument("--h36m-npz", type=Path, default=None,
                        help="VideoPose3D data_3d_h36m.npz; without --sources, train on Human3.6M alone")
    parser.add_argument("--subjects", nargs="+", default=None, help="Human3.6M subjects (default S1 S5 S6 S7 S8)")
    args = parser.parse_args()
    if args.no_body_height and not args.export:
        parser.error("--no-body-height applies to --export only")
    use_data_dir(args.data)

    if args.export:
        try:
            export(args.out, args.export, body_height=not args.no_body_height)
        except FileNotFoundError as exc:
            raise SystemExit(f"train_prior: error: {exc}") from None
        return
    exp = PriorExperiment.from_dict(yaml.safe_load(args.config.read_text()))
    if args.steps is not None:
        exp.train.steps = args.steps
    if args.init_weights is not None:
        exp.train.init_weights = str(args.init_weights)
    apply_data_overrides(exp, args.sources, args.h36m_npz, args.subjects)
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    device = "cpu" if device == "auto" else device
    torch.set_num_threads(exp.train.threads)
    try:
        trainer = PriorTrainer(exp, args.out, device)
    except FileNotFoundError as exc:
        raise SystemExit(missing_data_message("train_prior", exc)) from None
    if args.resume:
        trainer.load_checkpoint()
        print(f"resumed at step {trainer.step}")
    (args.out / "config.yaml").write_text(yaml.safe_dump(exp.to_dict(), sort_keys=False))
    print(f"data: {trainer.data_summary}")
    print(f"normalisation scale: {float(trainer.prior.scale):.4f} m; device {device}")
    trainer.fit()
    print(f"done: step {trainer.step}, checkpoints in {args.out}")


if __name__ == "__main__":
    main()
