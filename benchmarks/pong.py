"""Pong from pixels: the whole ES loop's env steps/s against AtariVectorEnv alone (random actions).

    python benchmarks/pong.py [--device cuda] [--pop 32] [--dim 6000] [--steps 300] [--rounds 3] [--quick]

* ``ES loop``: generations of OpenAI-ES on Pong exactly as a trial runs them — ask, θ_0 + Pθ_d for
  the population (Fastfood, D = 1.7M Nature CNN), every step one batched per-member CNN forward on
  uint8 frames and one ``AtariVectorEnv`` step of pop × episodes games, tell. Episodes are capped
  at ``--steps`` agent steps (shorter than any Pong game), so every env runs every step.
* ``ES loop, sequential``: the same with the evaluator's pipelining off (policy and env steps
  alternate instead of overlapping across two halves of the population).
* ``raw``: the same vector env (same env count, same ALE threads) stepped alone for the same
  number of steps with random actions drawn beforehand.

The ratio is the loop's share of the raw env rate; 1 − ratio is the time spent on the policy and
the projection (target on an H200: ≤ 20%, i.e. ratio ≥ 0.8). On a CPU the CNN dominates; the
figure is printed without a target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace

import numpy as np
import torch
from common import Result, bench_main

from rlsub.agents.es import ES, ESConfig
from rlsub.evaluation.population import PopulationEvaluator
from rlsub.subspace import Subspace
from rlsub.tasks.rl import env_task


def run(args: argparse.Namespace) -> list[Result]:
    dev = torch.device(args.device)
    pop = 4 if args.quick else args.pop
    steps = 10 if args.quick else args.steps
    dim = 100 if args.quick else args.dim
    rounds = 1 if args.quick else args.rounds
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    base = env_task("Pong")
    task = replace(base, preset=replace(base.preset, max_episode_steps=steps))
    spec = task.policy_spec()
    print(f"[pong] ES loop, pop {pop}, d={dim} fastfood, {steps} steps per generation on {dev} ...", flush=True)
    sub = Subspace(spec.build(0), d=dim, projection="fastfood", seed=0).to(dev)
    loops = {"pipelined": (PopulationEvaluator(task, sub, spec, dev), ES(dim, 0, ESConfig(popsize=pop))),
             "sequential": (PopulationEvaluator(task, sub, spec, dev, pipeline=False), ES(dim, 0, ESConfig(popsize=pop)))}
    raw_env = task.make_vec(pop)
    actions = np.random.default_rng(0).integers(0, spec.action.n, (steps, pop))

    def generation(name: str, g: int) -> int:
        ev, es = loops[name]
        X = es.ask()
        res = ev.evaluate(X, 1, 1000 + g)
        es.tell(X, res.fitness)
        sync()
        return res.steps

    def raw(g: int) -> int:
        raw_env.reset(seed=1000 + g)
        for a in actions:
            raw_env.step(a)
        return steps * pop

    rates: dict[str, list[float]] = {"pipelined": [], "sequential": [], "raw": []}
    for name in loops:  # warm-up: lazy CUDA init, vector env construction
        generation(name, 0)
    raw(0)
    for r in range(1, rounds + 1):  # interleaved: machine noise hits all alike
        for name in rates:
            t = time.perf_counter()
            n = raw(r) if name == "raw" else generation(name, r)
            rates[name].append(n / (time.perf_counter() - t))
    for ev, _ in loops.values():
        ev.close()
    raw_env.close()
    loop_rate, seq_rate, raw_rate = (statistics.median(rates[k]) for k in ("pipelined", "sequential", "raw"))
    share = 1.0 - loop_rate / raw_rate
    print(f"  ES loop {loop_rate:,.0f} steps/s (sequential {seq_rate:,.0f}), raw AtariVectorEnv {raw_rate:,.0f} steps/s: "
          f"policy + projection {100 * share:.0f}% of the loop", flush=True)
    case = f"Pong pop={pop} d={dim} fastfood {dev.type}"
    return [Result("pong", case, "ES loop vs AtariVectorEnv alone (random actions)",
                   "steps/s", loop_rate, "raw AtariVectorEnv", raw_rate, higher_is_better=True,
                   target=0.8 if dev.type == "cuda" else None,
                   note=f"policy + projection {100 * share:.0f}% of the loop" + ("" if dev.type == "cuda" else " (CPU: the CNN dominates)")),
            Result("pong", case, "ES loop, pipelined vs sequential evaluator", "steps/s", loop_rate, "sequential",
                   seq_rate, higher_is_better=True)]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--pop", type=int, default=32, help="ES population = number of Pong games stepped together")
    p.add_argument("--dim", type=int, default=6000, help="subspace dimension (the paper's Pong d_int90 is 6,000)")
    p.add_argument("--steps", type=int, default=300, help="agent steps per generation (episode cap)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    p.add_argument("--json", help="write the results here")


def main(argv: list[str] | None = None) -> int:
    return bench_main(__doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
