"""What smaller lockstep groups cost: the same trials run as one group vs split into groups of k.

    python benchmarks/lockstep_groups.py [--quick] [--rounds 3] [--sizes 30,15,10,5,2] [--json FILE]

``group_for_lockstep`` caps a group at ``MAX_GROUP_STEPS`` env steps (a group's trials finish together, so a
killed group loses them all). Splitting a group costs batching: fewer live episodes per batched step. This
measures that cost on the README's main job (CartPole-v1, CMA-ES, d ∈ {1, …, 32}, 5 seeds, budget 60,000:
30 trials), run in one process as groups of each size in turn (interleaved rounds, median), wall time against
one group of all 30. The groups are ``group_for_lockstep``'s own, made with ``max_steps`` = size × budget.
Then, for a few budgets, how many trials the default cap leaves in a group (and so which row of the table a
sweep of that budget pays).
"""

from __future__ import annotations

import argparse

from common import Result, bench_main, interleaved

from rlsub.tasks import trial_context
from rlsub.tasks.lockstep import MAX_GROUP_STEPS, group_for_lockstep, run_lockstep
from rlsub.trial import TrialConfig


def configs(dims: list[int], seeds: int, budget: int) -> list[TrialConfig]:
    return [TrialConfig(env="CartPole-v1", method="cmaes", dim=d, seed=s, budget=budget) for d in dims for s in range(seeds)]


def run_groups(cfgs: list[TrialConfig], size: int, budget: int) -> dict:
    out = {}
    for group in group_for_lockstep(cfgs, groups=1, max_steps=size * budget):
        out.update(run_lockstep(group, trial_context))
    return out


def run(args) -> list[Result]:
    dims, seeds, budget = ([1, 4, 16], 2, 20_000) if args.quick else ([1, 2, 4, 8, 16, 32], 5, 60_000)
    cfgs = configs(dims, seeds, budget)
    sizes = sorted({min(int(s), len(cfgs)) for s in args.sizes.split(",")}, reverse=True)
    fns = {size: (lambda size=size: run_groups(cfgs, size, budget)) for size in sizes}
    ref = run_groups(cfgs, len(cfgs), budget)
    for size in sizes[1:]:  # the numbers never depend on the grouping (lockstep's exactness)
        got = run_groups(cfgs, size, budget)
        assert all(got[c].final_returns == ref[c].final_returns for c in cfgs), f"groups of {size} changed a result"
    times = interleaved(fns, args.rounds)
    whole = times[sizes[0]]
    results = [Result("lockstep_groups", f"main job, groups of {size}", "wall", "s", times[size],
                      f"one group of {sizes[0]}", whole, note="" if size != sizes[-1] else
                      "ratio < 1: the split costs that much (same trials, same numbers)")
               for size in sizes[1:]]
    print(f"default cap: MAX_GROUP_STEPS = {MAX_GROUP_STEPS:,} env steps per group")
    for b in (60_000, 200_000, 1_000_000, 4_000_000, 10_000_000):
        print(f"  budget {b:>10,} per trial: up to {max(1, MAX_GROUP_STEPS // b)} trials per group")
    return results


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="a tiny sweep (smoke test)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--sizes", default="30,15,10,5,2", help="trials per group, the first the baseline")
    p.add_argument("--json", help="write the results here")


def main(argv: list[str] | None = None) -> int:
    return bench_main(__doc__, add_arguments, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
