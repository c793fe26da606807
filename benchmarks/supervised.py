"""Supervised sweeps: trials per hour of same-d trials trained together (vmap over stacked θ_d)
against the same trials one at a time on the same device.

    python benchmarks/supervised.py [--threads 1] [--quick]
    python benchmarks/supervised.py --task mnist-fc --device cuda --dim 750 --batch 8,32 \\
        --projection dense,fastfood --budget 60000 --single 2 --data-dir DIR

The default is the embedded digits task on the CPU. On a GPU the target is ≥ 20× on MNIST-FC
(``--data-dir`` or ``RLSUB_DATA_DIR`` names the IDX files). ``--single`` times only that many of
the one-at-a-time trials (trial time does not depend on the seed) to keep big batches affordable.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from common import Result, bench_main

from rlsub.tasks.supervised import run_supervised_trial, run_supervised_trials_batched
from rlsub.trial import TrialConfig


def _ints(s: str) -> list[int]:
    return [int(v) for v in str(s).split(",")]


def run(args: argparse.Namespace) -> list[Result]:
    print(f"[supervised] batched trials on {args.device} ...", flush=True)
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    projections = str(args.projection).split(",")
    batches = _ints(args.batch)
    budget = args.budget
    if args.quick:
        projections, batches, budget = projections[:1], batches[:1], 2_000
    results = []
    for proj in projections:
        single = None
        for batch in batches:
            configs = [TrialConfig(args.task, method="adam", dim=args.dim, projection=proj, seed=s, budget=budget,
                                   device=args.device) for s in range(batch)]
            if single is None:  # one-at-a-time rate, measured once per projection
                n = min(batch, args.single) if args.single else batch
                run_supervised_trial(configs[0], args.data_dir)  # warm-up: data load, CUDA init
                sync()
                t0 = time.perf_counter()
                for c in configs[:n]:
                    run_supervised_trial(c, args.data_dir)
                sync()
                single = 3600 * n / (time.perf_counter() - t0)
            run_supervised_trials_batched(configs[:2], args.data_dir)  # warm-up of the batched path
            sync()
            t0 = time.perf_counter()
            run_supervised_trials_batched(configs, args.data_dir)
            sync()
            together = 3600 * batch / (time.perf_counter() - t0)
            gpu = dev.type == "cuda"
            results.append(Result("supervised", f"{args.task} d={args.dim} {proj}, {batch} seeds, {budget} examples, {dev.type}",
                                  "trials/hour, batched vs one at a time", "trials/h", together,
                                  "one at a time", single, higher_is_better=True,
                                  target=20.0 if gpu and args.task.startswith("mnist") else None,
                                  note="" if gpu else "CPU; the >= 20x target is for MNIST-FC on a GPU"))
    return results


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--task", default="digits-fc")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--batch", default="8", help="trials trained together (comma-separated for several)")
    p.add_argument("--projection", default="dense,fastfood")
    p.add_argument("--budget", type=int, default=15_000, help="training examples per trial")
    p.add_argument("--single", type=int, default=0, help="one-at-a-time trials to time (0: all of the first batch)")
    p.add_argument("--data-dir", default=None, help="MNIST IDX directory (else RLSUB_DATA_DIR)")
    p.add_argument("--json", help="write the results here")


def defaults(**overrides) -> argparse.Namespace:
    """This script's default arguments (for run_all), with ``overrides``."""
    p = argparse.ArgumentParser()
    add_arguments(p)
    return argparse.Namespace(**{**vars(p.parse_args([])), **overrides})


def main(argv: list[str] | None = None) -> int:
    return bench_main(__doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
