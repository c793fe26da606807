"""Run every performance benchmark (projections, rollout, agents, DQN replay memory, supervised, batched DQN,
sweep, lockstep group sizes, start-up, Pong on GPU) and print all ratios with their baselines.

    python benchmarks/run_all.py [--json FILE] [--threads 1] [--quick] [--compile]

A few minutes on 2 cores (``--quick``: seconds, tiny sizes). GPU parts print 'skipped: no CUDA
device' without one. ``--json`` writes every result (value, baseline, ratio, target) and the
machine's description (threads, load average) to FILE.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import dqn_batched
import lockstep_groups
import pong
import projections
import replay_memory
import rollout
import startup
import supervised
import sweep
import torch
from common import Result, machine_info, print_table, set_threads, skipped, write_json

import agents


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", help="write all results here")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: stable on a shared box)")
    p.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    p.add_argument("--compile", action="store_true", help="also time torch.compile of the butterfly FWHT")
    args = p.parse_args(argv)
    threads = set_threads(args.threads)
    t0 = time.perf_counter()
    proj_args = argparse.Namespace(quick=args.quick, rounds=1 if args.quick else 5, heavy_rounds=1, compile=args.compile)
    roll_args = argparse.Namespace(quick=args.quick, pop=64, episodes=2, rounds=1 if args.quick else 3, loop_members=4)
    agent_args = argparse.Namespace(env="CartPole-v1", dim=1000, rounds=2 if args.quick else 8, steps=3 if args.quick else 10,
                                    device="cpu")
    results: list[Result] = projections.run(proj_args) + rollout.run(roll_args) + agents.run(agent_args)
    results += replay_memory.run(argparse.Namespace(quick=args.quick, steps=3000, capacity=2000, batch=32,
                                                    rounds=1 if args.quick else 5))
    if torch.cuda.is_available():
        results += agents.run(argparse.Namespace(**{**vars(agent_args), "device": "cuda"}))
        results += pong.run(argparse.Namespace(device="cuda", quick=args.quick, pop=32, dim=6000, steps=300, rounds=3))
    else:
        results.append(skipped("agents", "update steps on GPU", "no CUDA device"))
        results.append(skipped("pong", "ES loop on GPU", "no CUDA device (CPU figure: python benchmarks/pong.py)"))
    results += supervised.run(supervised.defaults(quick=args.quick))
    results += dqn_batched.run(argparse.Namespace(quick=args.quick, budget=3000, seeds=2, rounds=1))
    results += sweep.run(argparse.Namespace(quick=args.quick, slots=128, blas_threads=1, skip_pendulum=False, no_warmup=False,
                                            pendulum_dims="2,8", pendulum_seeds=1, pendulum_budget=10_000))
    results += lockstep_groups.run(argparse.Namespace(quick=args.quick, rounds=1 if args.quick else 3, sizes="30,15,10,5,2"))
    # --quick: this code's one-trial sweep only (no old code to export and compile numba for)
    results += startup.run(argparse.Namespace(quick=args.quick, ref=None, reps=3, skip_main=False))
    if torch.cuda.is_available():
        if os.environ.get("RLSUB_DATA_DIR"):
            results += supervised.run(supervised.defaults(quick=args.quick, task="mnist-fc", device="cuda", dim=750,
                                                          batch="8,32", budget=60_000, single=2))
        else:
            results.append(skipped("supervised", "mnist-fc on GPU", "set RLSUB_DATA_DIR to the MNIST IDX files"))
    print(f"\n# all benchmarks: torch threads = {threads}, {time.perf_counter() - t0:.0f} s\n")
    print_table(results)
    if args.json:
        write_json(args.json, results, machine_info(threads))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
