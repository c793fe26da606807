"""A whole sweep one trial at a time vs in lockstep (``rlsub.tasks.lockstep``), in one process.

    python benchmarks/sweep.py [--quick] [--threads 1] [--slots 128] [--skip-pendulum] [--json FILE]

The README's main job (CartPole-v1, CMA-ES, d ∈ {1, 2, 4, 8, 16, 32}, 5 seeds, budget 60,000), run

* (a) as today: one trial at a time, each population evaluated by the whole-batch evaluator on
  Gymnasium's ``CartPoleVectorEnv`` (every copy stepped until the evaluation's longest episode
  ends; copies' starts from one shared RNG);
* (a') one trial at a time through the episode-scheduled evaluator (``CartPoleBatch``, only live
  episodes stepped), to separate what scheduling gains from what lockstep gains;
* (b) all trials in one ``run_lockstep``: every member of every live trial a row of one stacked
  MLP forward, every episode a copy of one ``CartPoleBatch``;
* (c) Gymnasium's raw ``CartPoleVectorEnv`` with random actions at (b)'s mean batch size (the target's
  baseline; measured right after (b), for as long as (b) ran), and the raw ``CartPoleBatch`` (its VectorEnv ``step``, autoreset included) at that size.

Printed: wall times, counted env steps/s, (b)/(a) wall-clock, (b)'s counted steps/s over (c)'s and
over the raw ``CartPoleBatch``'s (whole sweep, and inside the rollout only: the rest is pycma's ask/tell
and the projections), (b)'s
stepped/counted, the ceiling a free rollout would leave (counted steps over (b)'s time outside the
rollout, vs Gymnasium's raw rate), and d_int90 of (b) with its CI from ``rlsub.analysis.dint`` (trials written to a temporary
store). Then the inverted-pendulum sweep (CMA-ES on InvertedPendulum-v5, whose SyncVectorEnv's
sub-envs are the copies) (a) vs (b); by default a smaller grid than the README's (``--pendulum-*``).
(b)'s trials are checked against (a')'s: lockstep must give every trial the numbers it gets alone.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from unittest import mock

import numpy as np
from common import Result, bench_main, raw_rate

import rlsub.evaluation.population as evaluate_mod
from rlsub.agents import get_method
from rlsub.envs.cartpole_batch import CartPoleBatch
from rlsub.evaluation.population import PopulationEvaluator
from rlsub.tasks import trial_context
from rlsub.tasks.lockstep import LockstepStats, run_lockstep
from rlsub.trial import TrialConfig


def blas_threads(n: int | None):
    """numpy's BLAS limited to ``n`` threads for the block (threadpoolctl; a no-op without it).

    One BLAS thread, as one torch thread: with two, pycma's small eigh calls and the per-copy
    matrix products ran several-fold slower on the shared 2-core machine, for (a) and (b) alike.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(n, user_api="blas") if n else contextlib.nullcontext()


def _todays_vector_env(task, n: int):
    """The vector env rlsub used before lockstep: Gymnasium's own ``CartPoleVectorEnv`` for CartPole
    (every copy's start from one RNG), ``task.make_vec`` otherwise."""
    import gymnasium as gym

    if task.env_id.startswith("CartPole"):
        return gym.make_vec(task.env_id, num_envs=n, vectorization_mode="vector_entry_point",
                            max_episode_steps=task.max_episode_steps)
    return task.make_vec(n)


def windowed_rate(make, n: int, iters: int, seconds: float) -> tuple[float, list[float]]:
    """Steps/s of ``raw_rate(make, n, iters)`` runs repeated until ``seconds`` of stepping: the
    aggregate rate (total steps over total stepping time) and each run's."""
    rates: list[float] = []
    elapsed = 0.0
    while elapsed < seconds or not rates:
        rates.append(raw_rate(make, n, iters))
        elapsed += n * iters / rates[-1]
    return n * iters * len(rates) / elapsed, rates


def configs(env: str, dims: list[int], seeds: int, budget: int) -> list[TrialConfig]:
    return [TrialConfig(env=env, method="cmaes", dim=d, seed=s, budget=budget) for d in dims for s in range(seeds)]


def one_at_a_time(cfgs: list[TrialConfig], today: bool) -> tuple[float, dict]:
    """Wall seconds and results of running ``cfgs`` one by one; ``today``: whole-batch evaluator."""
    with contextlib.ExitStack() as stack:
        if today:  # no scheduled path; task.make_vec's own vector env (Gymnasium's CartPoleVectorEnv)
            stack.enter_context(mock.patch.object(PopulationEvaluator, "rollout", lambda self, capacity: None))
            stack.enter_context(mock.patch.object(evaluate_mod, "vector_env", _todays_vector_env))
        results = {}
        t = time.perf_counter()
        for c in cfgs:
            ctx = trial_context(c)
            try:
                results[c] = get_method(c.method).run(ctx)
            finally:
                ctx.close()
        return time.perf_counter() - t, results


def lockstep(cfgs: list[TrialConfig], slots: int) -> tuple[float, dict, LockstepStats]:
    stats = LockstepStats()
    t = time.perf_counter()
    results = dict(run_lockstep(cfgs, trial_context, slots=slots, stats=stats))
    return time.perf_counter() - t, results, stats


def counted_steps(results: dict, eval_episodes_steps: bool = True) -> int:
    """Env steps of every evaluation: training (incl. checks/validation) plus, for tasks that pay 1
    per step (CartPole, InvertedPendulum), the final test's (the sum of its returns)."""
    return sum(r.env_steps + (int(sum(r.final_returns)) if eval_episodes_steps else 0) for r in results.values())


def dint_of(results: dict) -> str:
    """d_int90 [CI] of the results by rlsub.analysis.dint, through a temporary store (as a sweep writes them)."""
    try:
        from rlsub.analysis.dint import compute_dint
        from rlsub.execution.runner import commit, outcome
        from rlsub.results.store import Store
        from rlsub.tasks import resolve_task

        with tempfile.TemporaryDirectory() as d:
            store = Store(d)
            try:
                for c, r in results.items():
                    commit(store, d, c, outcome(c, resolve_task(c.env, c.env_def), r))
                res = compute_dint(list(store.rows()))
            finally:
                store.close()
        return "; ".join(f"d_int90 = {x.dint} CI [{x.dint_ci[0]}, {x.dint_ci[1]}], per-d mean perf "
                         + ", ".join(f"{s.d}: {s.mean:.2f}" for s in x.dims) for x in res)
    except Exception as e:  # noqa: BLE001 - the store/dint API is not this benchmark's subject
        return f"unavailable ({type(e).__name__}: {e})"


def same_results(a: dict, b: dict) -> int:
    """How many trials of ``b`` have exactly ``a``'s result (final returns, curve, θ_d, info)."""
    n = 0
    for c, r in b.items():
        o = a[c]
        n += (o.final_returns == r.final_returns and o.curve == r.curve and o.env_steps == r.env_steps
              and np.array_equal(o.theta_d, r.theta_d) and o.info == r.info)
    return n


def run(args) -> list[Result]:
    with blas_threads(getattr(args, "blas_threads", 1)):
        return _run(args)


def _run(args) -> list[Result]:
    out: list[Result] = []
    if args.quick:
        main = configs("CartPole-v1", [1, 2, 4], 2, 6000)
    else:
        main = configs("CartPole-v1", [1, 2, 4, 8, 16, 32], 5, 60_000)
    case = f"CartPole-v1 CMA-ES, {len(main)} trials"
    if not args.no_warmup:
        # (b) runs first: without this its time would include the process's one-time costs (first env
        # and network builds, lazy imports) that (a) and (a') then find paid.
        warm = configs("CartPole-v1", [2, 8], 1, 2000)
        lockstep(warm, args.slots)
        one_at_a_time(warm, today=False)
        one_at_a_time(warm, today=True)
    print(f"[sweep] {case}: (b) lockstep ...", flush=True)
    wall_b, res_b, st = lockstep(main, args.slots)
    print(f"  (b) {wall_b:.2f} s, rollout {st.rollout_wall:.2f} s, mean batch {st.mean_batch:.1f}", flush=True)
    n = max(1, int(round(st.mean_batch)))
    iters = 300 if args.quick else 3000
    import gymnasium as gym

    # (c) right after (b) and for as long as (b) ran: on this shared machine one 0.4 s measurement
    # swings 2x within seconds (376k-754k steps/s in one 5 s stretch), so a short (c) compares
    # (b)'s average against one moment. The aggregate rate over the window, chunks' range printed.
    rate_gym, gym_rates = windowed_rate(
        lambda k: gym.make_vec("CartPole-v1", num_envs=k, vectorization_mode="vector_entry_point"), n, iters, wall_b)
    print("[sweep] (a') one at a time, scheduled evaluator ...", flush=True)
    wall_a2, res_a2 = one_at_a_time(main, today=False)
    print(f"  (a') {wall_a2:.2f} s", flush=True)
    print("[sweep] (a) one at a time, today's whole-batch evaluator ...", flush=True)
    wall_a, res_a = one_at_a_time(main, today=True)
    print(f"  (a) {wall_a:.2f} s", flush=True)
    identical = same_results(res_a2, res_b)
    rate_c = raw_rate(lambda k: CartPoleBatch(k), n, iters)
    rate_c_slots = raw_rate(lambda k: CartPoleBatch(k), args.slots, iters)
    counted_b, counted_a = counted_steps(res_b), counted_steps(res_a)
    rate_b = counted_b / wall_b
    rollout_b = st.counted / st.rollout_wall if st.rollout_wall else None
    dint = dint_of(res_b)
    note = (f"(b) {wall_b:.2f} s for {counted_b:,} counted steps (stepped/counted {st.stepped / max(1, st.counted):.3f}, "
            f"mean batch {st.mean_batch:.1f} of {args.slots} slots, {st.rollout_wall:.2f} s in the rollout); "
            f"(a) {counted_a:,} steps; (b) = (a') for {identical}/{len(main)} trials; {dint}")
    print(f"  {note}", flush=True)
    extra = dict(blas_threads=getattr(args, "blas_threads", 1), wall_a=wall_a, wall_a_scheduled=wall_a2, wall_b=wall_b, rollout_wall=st.rollout_wall,
                 counted_b=counted_b, counted_a=counted_a, stepped_b=st.stepped, counted_rollout=st.counted,
                 mean_batch=st.mean_batch, identical=identical, trials=len(main), dint=dint,
                 load_avg=os.getloadavg() if hasattr(os, "getloadavg") else None)
    out.append(Result("sweep", case, "(b) lockstep vs (a) one at a time, today", "s", wall_b, "(a) today", wall_a,
                      target=5.0, note=note, extra=extra))
    out.append(Result("sweep", case, "(b) lockstep vs (a') one at a time, scheduled", "s", wall_b, "(a') scheduled",
                      wall_a2))
    # (c) as the issue defines it: Gymnasium's own CartPoleVectorEnv, random actions, (b)'s batch.
    out.append(Result("sweep", case, f"(b) counted steps/s vs (c) raw Gymnasium CartPoleVectorEnv, batch {n}",
                      "steps/s", rate_b, "(c) Gymnasium", rate_gym, True, target=0.3,
                      note=f"(c) over {wall_b:.1f} s right after (b), {len(gym_rates)} runs of {iters} steps "
                           f"({min(gym_rates):,.0f}-{max(gym_rates):,.0f}); vs the raw CartPoleBatch "
                           f"(b) steps, at batch {n}: {rate_c:,.0f} steps/s (ratio {rate_b / rate_c:.2f}); at "
                           f"{args.slots}: {rate_c_slots:,.0f}"))
    out.append(Result("sweep", case, f"(b) counted steps/s vs raw CartPoleBatch, batch {n}", "steps/s", rate_b,
                      "raw CartPoleBatch", rate_c, True))
    if rollout_b is not None:
        out.append(Result("sweep", case, f"(b) inside the rollout vs (c), batch {n}", "steps/s", rollout_b,
                          "(c) Gymnasium", rate_gym, True))
    outside = wall_b - st.rollout_wall
    if outside > 0:
        # What the target can reach on this machine: the trials' own work (pycma's ask/tell above
        # all, which lockstep cannot batch) costs this much even if the rollout were free.
        out.append(Result("sweep", case, f"(b) ceiling with a free rollout vs Gymnasium CartPoleVectorEnv, batch {n}",
                          "steps/s", counted_b / outside, "(c) Gymnasium", rate_gym, True,
                          note=f"(b) spends {outside:.2f} s of {wall_b:.2f} s outside the rollout (optimizer ask/tell, "
                               f"projections, bookkeeping): counted steps / that time"))
    if not args.skip_pendulum:
        out += pendulum(args)
    return out


def pendulum(args) -> list[Result]:
    try:
        import mujoco  # noqa: F401
    except ImportError:
        from common import skipped

        return [skipped("sweep", "InvertedPendulum-v5", "mujoco not installed")]
    dims = [int(x) for x in args.pendulum_dims.split(",")]
    cfgs = configs("InvertedPendulum-v5", dims[:2] if args.quick else dims, 1 if args.quick else args.pendulum_seeds,
                   3000 if args.quick else args.pendulum_budget)
    case = f"InvertedPendulum-v5 CMA-ES, {len(cfgs)} trials"
    print(f"[sweep] {case}: (b) lockstep ...", flush=True)
    wall_b, res_b, st = lockstep(cfgs, args.slots)
    print(f"  (b) {wall_b:.2f} s; (a') one at a time, scheduled ...", flush=True)
    wall_a2, res_a2 = one_at_a_time(cfgs, today=False)
    print(f"  (a') {wall_a2:.2f} s; (a) one at a time, today ...", flush=True)
    wall_a, res_a = one_at_a_time(cfgs, today=True)
    print(f"  (a) {wall_a:.2f} s", flush=True)
    identical = same_results(res_a2, res_b)
    note = (f"(b) {st.counted:,} steps counted, stepped/counted {st.stepped / max(1, st.counted):.3f}, mean batch "
            f"{st.mean_batch:.1f}, {st.rollout_wall:.2f} s in the rollout; (a) {counted_steps(res_a, False):,} "
            f"training steps; (b) = (a') for {identical}/{len(cfgs)} trials")
    print(f"  {note}", flush=True)
    extra = dict(wall_a=wall_a, wall_a_scheduled=wall_a2, wall_b=wall_b, counted_b=st.counted, stepped_b=st.stepped,
                 mean_batch=st.mean_batch, identical=identical)
    return [Result("sweep", case, "(b) lockstep vs (a) one at a time, today", "s", wall_b, "(a) today", wall_a,
                   note=note, extra=extra),
            Result("sweep", case, "(b) lockstep vs (a') one at a time, scheduled", "s", wall_b, "(a') scheduled",
                   wall_a2)]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--quick", action="store_true", help="tiny sweeps (smoke test)")
    p.add_argument("--slots", type=int, default=128, help="env copies of the lockstep rollout")
    p.add_argument("--blas-threads", type=int, default=1, help="numpy BLAS threads (0: leave as is)")
    p.add_argument("--skip-pendulum", action="store_true", help="only the CartPole main job")
    p.add_argument("--no-warmup", action="store_true",
                   help="time (b) cold (the default first runs a tiny sweep through every path)")
    p.add_argument("--pendulum-dims", default="2,8,32", help="d grid of the pendulum sweep (README: 1,2,4,8,16,32,64)")
    p.add_argument("--pendulum-seeds", type=int, default=1, help="README: 5")
    p.add_argument("--pendulum-budget", type=int, default=15_000,
                   help="README: 100000 (then (a) alone takes tens of minutes)")
    p.add_argument("--json", help="write the results here")


def main(argv: list[str] | None = None) -> int:
    return bench_main(__doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
