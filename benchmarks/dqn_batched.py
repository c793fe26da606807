"""DQN trials one at a time (``engine=single``) vs trained together (``engine=batched``), one process.

    python benchmarks/dqn_batched.py [--quick] [--budget 3000] [--seeds 2] [--rounds 1] [--json FILE]

Two configurations users run:

* ``CartPole-v0-li2018``: the paper protocol's DQN (one gradient step of batch 32 per env step,
  MLP 4-20-20-2), trials at d ∈ {12, 25, 50} × ``--seeds`` seeds, as its sweep runs them;
* ``CartPole-v1``: rlsub's DQN subspace defaults (128 gradient steps of batch 64 every 256 env
  steps, MLP 64-64), trials at d ∈ {8, 16, 32} × seeds.

Each is timed (a) one trial after another with the single engine, (a') one after another with the
batched engine (a batch of one: the engine's own cost), (b) all trials in one batch. Printed:
trial env steps per second and the ratios (b)/(a), (a')/(a). (b)'s trials are checked against
(a')'s: batching must give every trial its lone numbers. Rounds alternate the variants.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import numpy as np
from common import Result, bench_main, standard_arguments

from rlsub.agents.dqn.batched import run_batched
from rlsub.agents.dqn.single import resolve_config, train
from rlsub.tasks import trial_context
from rlsub.trial import TrialConfig

CASES = {
    "CartPole-v0-li2018": (12, 25, 50),
    "CartPole-v1": (8, 16, 32),
}


def configs(env: str, dims, seeds: int, budget: int, engine: str) -> list[TrialConfig]:
    return [TrialConfig(env, method="dqn", dim=d, seed=s, budget=budget, eval_episodes=2,
                        params=(("engine", engine), ("validation_episodes", 2)))
            for d in dims for s in range(seeds)]


def _items(cfgs):
    for i, c in enumerate(cfgs):
        ctx = trial_context(c)
        yield (i, ctx, *resolve_config(ctx))


def one_at_a_time(cfgs: list[TrialConfig]) -> tuple[float, list]:
    t = time.perf_counter()
    out = []
    for c in cfgs:
        ctx = trial_context(c)
        try:
            cfg, table = resolve_config(ctx)
            out.append(train(cfg, ctx, table) if cfg.engine == "single" else dict(run_batched([(0, ctx, cfg, table)]))[0])
        finally:
            ctx.close()
    return time.perf_counter() - t, out


def together(cfgs: list[TrialConfig]) -> tuple[float, list]:
    t = time.perf_counter()
    out = dict(run_batched(_items(cfgs), close_contexts=True))
    return time.perf_counter() - t, [out[i] for i in range(len(cfgs))]


def same(a, b) -> bool:
    """Identical results (info compared as JSON: a trial that never trained has td_loss NaN)."""
    return (a.final_returns == b.final_returns and a.curve == b.curve and np.array_equal(a.theta_d, b.theta_d)
            and json.dumps(a.info, sort_keys=True, default=str) == json.dumps(b.info, sort_keys=True, default=str))


def run(args) -> list[Result]:
    warnings.filterwarnings("ignore", message=".*out of date")
    budget = 400 if args.quick else args.budget
    seeds = 1 if args.quick else args.seeds
    results = []
    for env, dims in CASES.items():
        single = configs(env, dims, seeds, budget, "single")
        batched = configs(env, dims, seeds, budget, "batched")
        walls: dict[str, list[float]] = {"a": [], "a1": [], "b": []}
        for _ in range(max(1, args.rounds)):
            w, _ = one_at_a_time(single)
            walls["a"].append(w)
            w, lone = one_at_a_time(batched)
            walls["a1"].append(w)
            w, tog = together(batched)
            walls["b"].append(w)
        steps = sum(r.info["train_steps"] for r in tog)
        identical = sum(same(x, y) for x, y in zip(lone, tog))
        a, a1, b = (float(np.median(walls[k])) for k in ("a", "a1", "b"))
        case = f"{env} DQN, {len(batched)} trials x {budget:,} steps"
        note = (f"(a) {steps / a:,.0f}, (a') {steps / a1:,.0f}, (b) {steps / b:,.0f} trial env steps/s; "
                f"(b) = (a') for {identical}/{len(tog)} trials")
        print(f"  {case}: {note}", flush=True)
        results.append(Result("dqn", case, "(b) batched vs (a) single engine, one trial at a time", "s", b,
                              "(a) single engine", a, note=note,
                              extra={"wall_a": a, "wall_a1": a1, "wall_b": b, "steps": steps,
                                     "identical": identical, "trials": len(tog)}))
        results.append(Result("dqn", case, "(a') batched engine alone vs (a)", "s", a1, "(a) single engine", a))
    return results


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--budget", type=int, default=3000, help="env steps per trial")
    p.add_argument("--seeds", type=int, default=2, help="seeds per d")
    p.add_argument("--rounds", type=int, default=1, help="alternating timing rounds (median)")
    standard_arguments(p)


if __name__ == "__main__":
    sys.exit(bench_main(__doc__, add_arguments, run))
