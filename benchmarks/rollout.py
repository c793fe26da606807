"""Population evaluation throughput: policy-environment steps per second on CartPole-v1.

    python benchmarks/rollout.py [--threads 1] [--quick] [--json FILE]

Compared in one run, with the preset MLP (4-64-64-2, tanh) in a d=100 dense subspace:

* ``evaluator``: ``rlsub.evaluation.population.PopulationEvaluator``, episode-scheduled: every (member,
  episode) a copy of one ``CartPoleBatch``, only live episodes stepped, one stacked policy forward
  per step over the live copies' own parameters;
* ``evaluator (vmap path)``: the same evaluator forced through ``Subspace.population_forward``
  (vmap + functional_call) on the whole-batch path (every copy stepped until the longest episode
  ends), the path before the MLP fast path;
* ``whole-batch GEMM path``: the same evaluator without the scheduled path, its MLP as one batched
  GEMM per layer on the whole-batch path (what MLPs on vector envs without the slot interface run,
  e.g. Atari RAM), against the vmap path: why ``rlsub.evaluation.population`` keeps both whole-batch forwards;
* (a) ``per-member loop``: one Gymnasium CartPole env and the same torch policy, member by member,
  episode by episode (how GymNE-style tools evaluate);
* (b) ``EvoTorch GymNE`` evaluating the same policies (their full-space parameters θ_0 + Pθ_d,
  same architecture and argmax head), if ``evotorch`` imports (skipped with a message otherwise);
* (c) ``raw CartPoleVectorEnv``: the vector env alone at the same batch size, random actions.

Steps are *counted* steps (each (member, episode) until its first termination/truncation); the
*stepped* rate counts every copy-step the evaluator took (finished copies wait at most a few steps
to be reclaimed: stepped ÷ counted is printed, target ≤ 1.2 on the random population; the
whole-batch path steps batch × longest episode), and is what compares with the raw env rate.
The main population is "trained": a few rounds of select-and-mutate random search on CartPole
(most episodes last long, as in a working search); a random population (mean episode ~20 steps,
a few long ones) is also reported, where most of the batched work is stepping finished envs.
"""

from __future__ import annotations

import argparse
import sys
import time
from unittest import mock

import numpy as np
import torch
from common import Result, bench_main, interleaved, raw_rate, skipped

import rlsub.evaluation.population as evaluate_mod
from rlsub.envs.cartpole_batch import CartPoleBatch
from rlsub.evaluation.population import PopulationEvaluator
from rlsub.subspace import Subspace
from rlsub.tasks.rl import env_task

D_SUB = 100


def trained_population(ev: PopulationEvaluator, pop: int, rounds: int, gen: torch.Generator) -> torch.Tensor:
    """``pop`` θ_d from ``rounds`` of (evaluate 8·pop, keep the best pop, mutate): long episodes."""
    cand = torch.randn(8 * pop, D_SUB, generator=gen) * 3
    top = cand[:pop]
    for r in range(rounds):
        res = ev.evaluate(cand, 1, 1000 + r)
        top = cand[np.argsort(-res.returns[:, 0], kind="stable")[:pop]]
        cand = top.repeat(8, 1) + 0.5 * torch.randn(8 * pop, D_SUB, generator=gen)
    return top


def loop_rate(task, sub: Subspace, thetas: torch.Tensor, episodes: int, seed: int) -> tuple[float, int]:
    """(a): steps/s of a per-member, per-episode loop over one env with the same torch policy."""
    env = task.make()
    steps = 0
    t = time.perf_counter()
    with torch.no_grad():
        for m, th in enumerate(thetas):
            params = sub.params(th)  # projected once per member, as the evaluator does
            for e in range(episodes):
                obs, _ = env.reset(seed=seed + m * episodes + e)
                while True:
                    out = sub.call(params, torch.as_tensor(obs, dtype=torch.float32))
                    obs, _, term, trunc, _ = env.step(int(out.argmax()))
                    steps += 1
                    if term or trunc:
                        break
    dt = time.perf_counter() - t
    env.close()
    return steps / dt, steps


def evotorch_rate(sub: Subspace, thetas: torch.Tensor, episodes: int, hidden: tuple[int, ...]) -> tuple[float, int] | str:
    """(b): steps/s of EvoTorch's GymNE evaluating the same full-space policies (no Ray actors)."""
    try:
        import logging

        from evotorch.neuroevolution import GymNE  # type: ignore[import-not-found]

        logging.getLogger("evotorch").setLevel(logging.WARNING)
    except Exception as e:  # ImportError, or a broken optional dependency
        return f"evotorch not importable ({type(e).__name__}: {e}); pip install evotorch to compare"
    layers = ["Linear(obs_length, %d) >> Tanh()" % hidden[0]]
    layers += ["Linear(%d, %d) >> Tanh()" % (a, b) for a, b in zip(hidden[:-1], hidden[1:])]
    layers += ["Linear(%d, act_length)" % hidden[-1]]
    prob = GymNE(env="CartPole-v1", network=" >> ".join(layers), num_actors=0, num_episodes=episodes, observation_normalization=False)
    with torch.no_grad():
        flat = sub.flat(thetas)
    if flat.shape[1] != prob.solution_length:
        return f"EvoTorch network has {prob.solution_length} parameters, ours {flat.shape[1]}"
    batch = prob.generate_batch(len(thetas))
    batch.set_values(flat)
    before = prob.interaction_count
    t = time.perf_counter()
    prob.evaluate(batch)
    dt = time.perf_counter() - t
    steps = prob.interaction_count - before
    return steps / dt, steps


def run(args) -> list[Result]:
    results: list[Result] = []
    task = env_task("CartPole-v1")
    spec = task.policy_spec()
    sub = Subspace(spec.build(0), d=D_SUB, projection="dense", seed=0)
    ev = PopulationEvaluator(task, sub, spec)
    ev_vmap = PopulationEvaluator(task, sub, spec)
    ev_gemm = PopulationEvaluator(task, sub, spec)
    gen = torch.Generator().manual_seed(0)
    pop = 8 if args.quick else args.pop
    episodes = args.episodes
    n = pop * episodes
    print("[rollout] selecting a trained population ...", flush=True)
    pops = {
        "trained": trained_population(ev, pop, 1 if args.quick else 3, gen),
        "random": torch.randn(pop, D_SUB, generator=gen) * 3,
    }
    loop_members = 2 if args.quick else args.loop_members
    for name, thetas in pops.items():
        case = f"{name} pop={pop}x{episodes} eps"
        seeds = iter(range(10_000, 20_000))
        last: dict[str, object] = {}

        def run_ev(e: PopulationEvaluator, key: str) -> None:
            before = e._rollout.stepped if e._rollout is not None else 0
            last[key] = e.evaluate(thetas, episodes, next(seeds))
            last[key + "_stepped"] = (e._rollout.stepped if e._rollout is not None else 0) - before

        def run_vmap() -> None:
            with mock.patch.object(evaluate_mod, "mlp_plan", lambda *a: None):
                run_ev(ev_vmap, "vmap")

        def run_gemm() -> None:
            with mock.patch.object(PopulationEvaluator, "rollout", lambda self, capacity: None):
                run_ev(ev_gemm, "gemm")

        t = interleaved({"fast": lambda: run_ev(ev, "fast"), "vmap": run_vmap, "gemm": run_gemm}, args.rounds)
        res_fast, res_vmap, res_gemm = last["fast"], last["vmap"], last["gemm"]
        counted = res_fast.steps / t["fast"]
        counted_vmap = res_vmap.steps / t["vmap"]
        counted_gemm = res_gemm.steps / t["gemm"]
        longest = int(res_fast.returns.max())  # CartPole pays 1 per step: the longest episode
        per_counted = last["fast_stepped"] / res_fast.steps
        stepped = last["fast_stepped"] / t["fast"]
        mean_len = float(res_fast.returns.mean())
        whole = n * longest / res_fast.steps  # what the whole-batch path steps per counted step
        verdict = "ok" if per_counted <= 1.2 else "MISS"
        print(f"  {case}: mean episode {mean_len:.0f} steps, longest {longest}; evaluator {counted:,.0f} counted steps/s, "
              f"stepped/counted {per_counted:.3f} (whole-batch path {whole:.1f})", flush=True)
        results.append(Result("rollout", case, "evaluator vs vmap path", "steps/s", counted, "vmap path", counted_vmap, True,
                              note=f"mean ep {mean_len:.0f}; stepped/counted {per_counted:.3f} (target <= 1.2 "
                                   f"{verdict if name == 'random' else '-'}; whole-batch path {whole:.1f})",
                              extra={"stepped_per_counted": per_counted, "whole_batch_stepped_per_counted": whole}))
        results.append(Result("rollout", case, "whole-batch GEMM path vs vmap path", "steps/s", counted_gemm, "vmap path",
                              counted_vmap, True, note="both whole-batch: every copy stepped until the longest episode ends"))
        # (a) per-member loop on the first loop_members members
        rate_a, steps_a = loop_rate(task, sub, thetas[:loop_members], episodes, 10_000)
        results.append(
            Result("rollout", case, "evaluator vs (a) per-member loop", "steps/s", counted, "(a) loop", rate_a, True,
                   target=50.0 if name == "trained" else None, extra={"loop_steps": steps_a})
        )
        # (b) EvoTorch GymNE
        b = evotorch_rate(sub, thetas[:loop_members], episodes, spec.hidden)
        if isinstance(b, str):
            results.append(skipped("rollout", case + " (b)", b))
        else:
            results.append(
                Result("rollout", case, "evaluator vs (b) EvoTorch GymNE", "steps/s", counted, "(b) EvoTorch", b[0], True,
                       target=1.0 if name == "trained" else None, extra={"evotorch_steps": b[1]})
            )
        # (c) raw vector env at the same batch size (task.make_vec: Gymnasium's CartPoleVectorEnv;
        # CartPoleBatch's own VectorEnv step is in the note): compare the *stepped* rate
        rate_c = raw_rate(task.make_vec, n, 100 if args.quick else 500)
        rate_cb = raw_rate(lambda k: CartPoleBatch(k), n, 100 if args.quick else 500)
        results.append(
            Result("rollout", case, "evaluator stepped vs (c) raw vector env", "steps/s", stepped, "(c) raw env", rate_c, True,
                   target=0.3 if name == "trained" else None,
                   note=f"ratio = fraction of the raw env rate; raw CartPoleBatch {rate_cb:,.0f} steps/s")
        )
    for e in (ev, ev_vmap, ev_gemm):
        e.close()
    return results


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: stable on a shared box)")
    p.add_argument("--quick", action="store_true", help="tiny population (smoke test)")
    p.add_argument("--pop", type=int, default=64)
    p.add_argument("--episodes", type=int, default=2, help="episodes per member (CartPole preset: 2)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds of evaluator timings")
    p.add_argument("--loop-members", type=int, default=4, help="members run by the single-env baselines")
    p.add_argument("--json", help="write the results here")


def main(argv: list[str] | None = None) -> int:
    return bench_main(__doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
