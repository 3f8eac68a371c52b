"""Plot train/val loss curves from a run's log.jsonl: python training/plot_training_log.py runs/prior [--out PNG]."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="default: <run>/loss.png")
    args = parser.parse_args()
    records = [json.loads(line) for line in (args.run / "log.jsonl").read_text().splitlines() if line.strip()]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["step"] for r in records], [r["loss"] for r in records], lw=1, label="train (augmented, batch mean)")
    val = [r for r in records if "val_loss" in r]
    ax.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", label="val (EMA, fixed noise)")
    ax.set_xlabel("step")
    ax.set_ylabel("epsilon MSE")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    out = args.out or args.run / "loss.png"
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    print(f"wrote {out}; last: {records[-1]}")


if __name__ == "__main__":
    main()
