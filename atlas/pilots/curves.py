"""The ARS pilots' learning curves and CPU cost, from their stores and `/usr/bin/time -v` logs.

    python atlas/pilots/curves.py /tmp/ars_pilot            # after atlas/pilots/run_pilots.sh

Writes atlas/pilots/ars_pilot_curves.csv (pilot, env_steps, mean and best training return of the
iteration's 2N perturbed policies, as rlsub's curve records them), ars_pilot_cost.csv (pilot, env
steps, user+system CPU seconds, CPU seconds per million steps, final test return) and
ars_pilot_curves.png. The CPU seconds include the process's start-up (about 5 s, measured below
by the `startup` pilot when it is there), so short pilots overstate the per-million cost slightly.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

from rlsub.results.store import Store

HERE = Path(__file__).resolve().parent


def cpu_seconds(log: Path) -> float | None:
    text = log.read_text() if log.exists() else ""
    user = re.search(r"User time \(seconds\): ([\d.]+)", text)
    sys_ = re.search(r"System time \(seconds\): ([\d.]+)", text)
    return float(user.group(1)) + float(sys_.group(1)) if user and sys_ else None


def main(root: str) -> None:
    root_dir = Path(root)
    curves, cost, shaped = [], [], set()
    for store_dir in sorted(p for p in root_dir.iterdir() if (p / "results.sqlite").exists()):
        name = store_dir.name
        with Store(store_dir, create=False) as store:
            rows = sorted(store.rows(), key=lambda r: r.seed)
            if not rows:
                continue
            cpu = cpu_seconds(root_dir / f"{name}.log")
            for row in rows:
                # A multi-seed pilot ran its seeds in one lockstep process over equal budgets: each seed is
                # charged an equal share of the process's CPU time.
                pilot = name if len(rows) == 1 else f"{name}/seed{row.seed}"
                if row.config.get("params", {}).get("alive_bonus_offset"):
                    shaped.add(pilot)
                for steps, mean, best in store.curve(row.key):
                    curves.append((pilot, steps, round(mean, 2), None if best is None else round(best, 2)))
                share = None if cpu is None else cpu / len(rows)
                per_m = None if share is None else round(share / row.env_steps * 1e6, 1)
                cost.append((pilot, row.env, row.network, row.env_steps, None if share is None else round(share, 1),
                             per_m, round(row.final_mean, 1)))
    with open(HERE / "ars_pilot_curves.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["pilot", "env_steps", "train_mean_return", "train_best_return"])
        w.writerows(curves)
    with open(HERE / "ars_pilot_cost.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["pilot", "env", "network", "env_steps", "cpu_seconds", "cpu_s_per_million_steps",
                    "final_test_return"])
        w.writerows(cost)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({c[0] for c in curves})
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        pts = [c for c in curves if c[0] == name]
        ax.plot([p[1] / 1e6 for p in pts], [p[2] for p in pts], lw=1, label="mean of 2N perturbed")
        ax.plot([p[1] / 1e6 for p in pts], [p[3] for p in pts], lw=0.6, alpha=0.6, label="best of 2N")
        ax.set_title(name + (" (shaped: return - length)" if name in shaped else ""), fontsize=9)
        ax.set_xlabel("env steps (M)")
        ax.grid(alpha=0.3)
    for row in axes:
        row[0].set_ylabel("training return")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(HERE / "ars_pilot_curves.png", dpi=80)
    docs = HERE.parents[1] / "docs" / "figures"
    if docs.is_dir():  # the docs page's copy (mkdocs serves docs/ only)
        fig.savefig(docs / "ars_pilot_curves.png", dpi=80)
    for c in cost:
        print(*c, sep="\t")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/ars_pilot")
