#!/usr/bin/env python3
"""Plots the learning curves of one or more runs from their metrics.jsonl files.

Usage: scripts/plot-curves.py OUT.png RUN_DIR[=LABEL] [RUN_DIR[=LABEL] ...]

Two rows of panels: accuracies (energy-based, sample-based) and the generation judges
(conditional accuracy, and sprite validity where present), against training iterations (left)
and training seconds (right; evaluation time excluded). Needs matplotlib
(`python3 -m pip install matplotlib`); the runs themselves do not.
"""
import json
import pathlib
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot-curves: needs matplotlib (python3 -m pip install matplotlib)")

ACCURACY = [("energy_accuracy", "energy-based acc."), ("sample_accuracy", "sample-based acc.")]
JUDGES = [
    ("conditional_accuracy", "cond. acc. (judge)"),
    ("conditional_accuracy_x", "cond. acc. x (judge, ±1 bin)"),
    ("conditional_accuracy_y", "cond. acc. y (judge, ±1 bin)"),
    ("sprite_valid", "valid sprites (uncond.)"),
]


def load(run):
    rows = []
    for line in (pathlib.Path(run) / "metrics.jsonl").read_text().splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out = sys.argv[1]
    runs = []
    for arg in sys.argv[2:]:
        path, _, label = arg.partition("=")
        runs.append((label or pathlib.Path(path).name, load(path)))
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharey="row")
    styles = ["-", "--", ":", "-."]
    for r, metrics in enumerate([ACCURACY, JUDGES]):
        for c, xkey in enumerate(["iteration", "train_seconds"]):
            ax = axes[r][c]
            for i, (label, rows) in enumerate(runs):
                for j, (key, name) in enumerate(metrics):
                    pts = [(row[xkey] / (60 if c else 1), row[key]) for row in rows
                           if key in row and row.get(key) is not None and xkey in row]
                    if pts:
                        xs, ys = zip(*pts)
                        ax.plot(xs, ys, styles[i % len(styles)], marker="o", ms=3,
                                color=f"C{j}", label=f"{label}: {name}")
            ax.set_xlabel("iteration" if c == 0 else "training minutes (evaluation excluded)")
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3)
            if c == 1:
                ax.legend(fontsize=7, loc="lower right")
    axes[0][0].set_ylabel("test accuracy")
    axes[1][0].set_ylabel("generation judges")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
