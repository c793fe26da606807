"""Measure CartPole-v1's intrinsic dimension under CMA-ES: the README's main job as a script.

Edit the grid below (or copy this file for another task); it calls the same library functions
as ``rlsub sweep``. Rerunning resumes: stored trials are skipped.

    python scripts/sweep_cartpole.py [OUT_DIR]
"""

from __future__ import annotations

import sys
import time

from rlsub.analysis.dint import compute_dint, format_table
from rlsub.results.store import Store
from rlsub.sweeps.run import run_sweep
from rlsub.sweeps.spec import SweepSpec

SPEC = SweepSpec(
    envs=["CartPole-v1"],
    methods=["cmaes"],
    dims=[1, 2, 4, 8, 16, 32],
    seeds=list(range(5)),
    projections=["dense"],
    budget=60_000,
    eval_episodes=20,
)


def main(out: str = "runs/cartpole") -> None:
    start = time.perf_counter()
    counts = run_sweep(SPEC, out)
    print(f"{counts['done']} trials run, {counts['skipped']} reused, in {time.perf_counter() - start:.1f} s")
    with Store(out, create=False) as store:
        print(format_table(compute_dint(store.rows())))


if __name__ == "__main__":
    main(*sys.argv[1:])
