"""Supervised sweeps: trials per hour of same-d trials trained together (vmap over stacked θ_d)
against the same trials one at a time, on the embedded digits task (CPU figure; a GPU is where
batching is expected to pay most, measured there when one is available).

    python benchmarks/supervised.py [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import time


from common import Result, print_table, set_threads
from rlsub.supervised import run_supervised_trial, run_supervised_trials_batched
from rlsub.trial import TrialConfig


def run(args: argparse.Namespace) -> list[Result]:
    print("[supervised] batched trials ...", flush=True)
    results = []
    cases = [("digits-fc", 64, 8, "dense"), ("digits-fc", 64, 8, "fastfood")]
    if args.quick:
        cases = cases[:1]
    budget = 2_000 if args.quick else 15_000
    for task, d, batch, proj in cases:
        configs = [TrialConfig(task, method="adam", dim=d, projection=proj, seed=s, budget=budget) for s in range(batch)]
        t0 = time.perf_counter()
        for c in configs:
            run_supervised_trial(c)
        one = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_supervised_trials_batched(configs)
        together = time.perf_counter() - t0
        results.append(Result("supervised", f"{task} d={d} {proj}, {batch} seeds, {budget} examples",
                              "trials/hour, batched vs one at a time", "trials/h", 3600 * batch / together,
                              "one at a time", 3600 * batch / one, higher_is_better=True,
                              note="CPU; the >= 20x target is for MNIST-FC on a GPU"))
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    set_threads(args.threads)
    print_table(run(args))


if __name__ == "__main__":
    main()
