#!/usr/bin/env python3
"""Bar chart of the mixing comparison: ESS per second per target and sampler (log scale), from
the `mixing.json` that `cargo run --release --example mixing` writes.

    python3 scripts/plot-mixing.py docs/figures/mixing/mixing.json   # writes mixing.png beside it
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

path = sys.argv[1] if len(sys.argv) > 1 else "docs/figures/mixing/mixing.json"
rows = json.load(open(path))
targets = list(dict.fromkeys(r["target"] for r in rows))
samplers = list(dict.fromkeys(r["sampler"] for r in rows))
fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
width = 0.8 / len(samplers)
for k, s in enumerate(samplers):
    ess = [next((r["ess_per_second"] for r in rows if r["target"] == t and r["sampler"] == s), 0) for t in targets]
    acc = [next((r["accept_rate"] for r in rows if r["target"] == t and r["sampler"] == s), 0) for t in targets]
    xs = [i + (k - (len(samplers) - 1) / 2) * width for i in range(len(targets))]
    axes[0].bar(xs, ess, width, label=s)
    axes[1].bar(xs, acc, width, label=s)
axes[0].set_yscale("log")
axes[0].set_ylabel("ESS per second (one CPU thread)")
axes[1].set_ylabel("acceptance rate")
for ax in axes:
    ax.set_xticks(range(len(targets)))
    ax.set_xticklabels([t.replace(", ", ",\n").replace(" (", "\n(") for t in targets], fontsize=7)
    ax.legend()
fig.suptitle("Discrete kernels: mixing per second (examples/mixing.rs)")
fig.tight_layout()
out = os.path.join(os.path.dirname(path), "mixing.png")
fig.savefig(out, dpi=110)
print("wrote", out)
