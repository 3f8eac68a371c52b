"""Two proxy runs on the same poses, compared pose by pose: the difference and its paired standard error.

    python -m diffpose_ros.evaluation.proxy_compare out/proxy_a/results.json out/proxy_b/results.json

Both runs must have drawn the same held-out poses (same ``--frames`` or ``--per-source``, ``--seed`` and sources).
Per run present in both (``scene/noise/gravity``) it prints B - A for every metric, averaged over views and over
sources, +- the standard error of that difference over the poses. Most of a pose's difficulty is shared by both
settings, so this error is several times smaller than either run's own: the way to tell whether a change helps.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .proxy_benchmark import POSE_KEYS, pose_means, standard_errors


def paired_difference(a: dict, b: dict) -> dict[str, dict[str, tuple[float, float]]]:
    """``{"views" | "source_mean": {metric: (mean of b - a, its standard error)}}`` from two ``per_pose`` dicts of
    the same poses; ValueError when the poses differ."""
    if any(a.get(k) != b.get(k) for k in POSE_KEYS):
        raise ValueError("the two runs scored different poses (draw them with the same --frames/--per-source, "
                         "--seed and --sources)")
    diff = {k: a[k] for k in POSE_KEYS if k in a} | {k: (np.asarray(b[k]) - np.asarray(a[k])).tolist()
                                           for k in a if k not in POSE_KEYS and k in b}
    means, errors = pose_means(diff), standard_errors(diff)
    return {mean: {name: (means[mean][name], errors[mean][name]) for name in means[mean]}
            for mean in ("views", "source_mean")}


def table(a: dict, b: dict) -> str:
    """B - A per run and metric (mm), over views and over sources."""
    lines = []
    for name in [n for n in a["runs"] if n in b["runs"]]:
        d = paired_difference(a["runs"][name]["per_pose"], b["runs"][name]["per_pose"])
        metrics = list(d["views"])
        lines.append(f"{name:<28}" + "".join(f"{m.removesuffix('_mm'):>18}" for m in metrics))
        for mean in ("views", "source_mean"):
            lines.append(f"{'  B - A, ' + mean:<28}"
                         + "".join(f"{d[mean][m][0]:+11.2f} +-{d[mean][m][1]:4.2f}" for m in metrics))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path, help="results.json of run A (the reference)")
    parser.add_argument("b", type=Path, help="results.json of run B")
    args = parser.parse_args(argv)
    a, b = (json.loads(p.read_text()) for p in (args.a, args.b))
    missing = [n for n, r in (a["runs"] | b["runs"]).items() if "per_pose" not in r]
    if missing:
        parser.error(f"no per-pose numbers in {missing} (results of an older proxy_benchmark)")
    try:
        print(table(a, b))
    except ValueError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
