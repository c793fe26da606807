"""A trial's numbers do not depend on what shares its batch: the checks that stand in for "the README's test
command on an AMD EPYC" (issue 31) on whatever CPU runs them. See docs/guide/determinism.md.

Each probe trains one trial T alone (a batch of one) and again beside other trials (batches of 2 and 7, T at
odd and even places, the order shuffled by a seeded permutation; 64 under ``-m slow``) and compares T's θ_d,
returns and curve bit for bit. Batch mates differ in d, seed and projection (dense, sparse, Fastfood). The DQN
T (CartPole-v1's MLP 64-64, D = 4,610; dense P, d = 2) is the case that broke: stacked as a row of a [K, D]
tensor, every odd row lies 8 bytes off a 16-byte boundary, and MKL on an AMD EPYC with AVX-512 rounds the
matrix-vector product P_t·g by the address of g at d = 2. The code before issue 31 fails these probes there.

The probes run in this process (1 torch thread, tests/conftest.py) and in fresh processes (the DQN probe
there with batches of 2 only: a few hundred tiny ops a step on 2 threads of a busy 2-core box cost ~10×) with 2
threads and, under ``-m slow``, with ``MKL_ENABLE_INSTRUCTIONS`` = SSE4_2 / AVX2 and ``ATEN_CPU_CAPABILITY=avx2``: each
setting must be exact within itself. Across settings nothing is claimed bit for bit (a BLAS may round
differently with another kernel); the tiny trials here are compared within a tolerance only where they took the
same actions. float64 is not varied: the engines train float32 networks only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

#: T is the first config of each list; the others are its batch mates (differ in d, seed, projection).
DQN_PARAMS = (("batch_size", 16), ("engine", "batched"), ("gradient_steps", 2), ("learning_starts", 40),
              ("target_update", 5), ("train_freq", 8))
PROJECTIONS = ("dense", "sparse", "fastfood")


def _dqn_configs(n: int, budget: int = 300):
    from rlsub.trial import TrialConfig

    return [TrialConfig("CartPole-v1", method="dqn", dim=2 + k % 4, seed=k, budget=budget, eval_episodes=2,
                        projection=PROJECTIONS[k % 3], params=DQN_PARAMS) for k in range(n)]


def _orders(n: int, seed: int) -> list[list[int]]:
    """Orders of configs 0..n-1 with T (0) at place 1, at the last place and at a seeded random place."""
    rest = list(np.random.default_rng(seed).permutation(np.arange(1, n)))
    orders = [[rest[0], 0, *rest[1:]], [*rest, 0]]
    place = int(np.random.default_rng(seed + 1).integers(0, n))
    orders.append([*rest[:place], 0, *rest[place:]])
    unique = {tuple(int(i) for i in o): None for o in orders}
    return [list(o) for o in unique]


def _dqn_outcome(results) -> dict:
    r = results
    return {"theta_d": [float(x) for x in r.theta_d], "returns": list(map(float, r.final_returns)),
            "curve": [list(map(float, p)) for p in r.curve], "steps": int(r.info["gradient_steps"])}


def dqn_probe(sizes=(2, 7)) -> dict[str, list[dict]]:
    """T's outcome alone and in every batch of ``sizes`` (each in the orders of ``_orders``)."""
    from rlsub.agents.dqn.engines import train_batched
    from rlsub.agents.dqn.single import resolve_config
    from rlsub.tasks import trial_context

    def run(configs):
        ctxs = [trial_context(c) for c in configs]
        try:
            return train_batched([(ctx, *resolve_config(ctx)) for ctx in ctxs])
        finally:
            for ctx in ctxs:
                ctx.close()

    out: dict[str, list[dict]] = {"alone": [_dqn_outcome(run(_dqn_configs(1))[0])]}
    for n in sizes:
        configs = _dqn_configs(n)
        out[str(n)] = []
        for order in _orders(n, seed=n):
            results = run([configs[i] for i in order])
            out[str(n)].append(_dqn_outcome(results[order.index(0)]))
    return out


def supervised_probe(sizes=(2, 7)) -> dict[str, list[dict]]:
    """The same for ``--batch-seeds``: T (seed 0) alone and trained with 1 or 6 other seeds of its config."""
    from rlsub.supervised.training import train_one, train_seeds
    from rlsub.tasks.supervised import supervised_task
    from rlsub.trial import TrialConfig

    task = supervised_task("digits-fc")
    configs = [TrialConfig("digits-fc", method="adam", dim=5, seed=s, budget=160, projection="fastfood")
               for s in range(max(sizes, default=1))]

    def outcome(r) -> dict:
        return {"theta_d": [float(x) for x in r.theta_d], "returns": list(map(float, r.final_returns)),
                "curve": [list(map(float, p)) for p in r.curve], "steps": int(r.info["steps"])}

    out: dict[str, list[dict]] = {"alone": [outcome(train_one(task, configs[0]))]}
    for n in sizes:
        out[str(n)] = []
        for order in _orders(n, seed=10 + n):
            results = train_seeds(task, [configs[i] for i in order])
            out[str(n)].append(outcome(results[order.index(0)]))
    return out


def lockstep_probe(sizes=(2, 7)) -> dict[str, list[dict]]:
    """The same for direct search in lockstep: T (CMA-ES, CartPole-v1) run alone and in lockstep groups."""
    from rlsub.tasks import resolve_task
    from rlsub.trial import TrialConfig

    task = resolve_task("CartPole-v1")
    configs = [TrialConfig("CartPole-v1", method="cmaes" if k % 2 == 0 else "es", dim=2 + k % 4, seed=k,
                           budget=2000, eval_episodes=2, projection=PROJECTIONS[k % 3])
               for k in range(max(sizes, default=1))]

    def outcome(r) -> dict:
        return {"theta_d": [float(x) for x in r.theta_d], "returns": list(map(float, r.final_returns)),
                "curve": [list(map(float, p)) for p in r.curve], "steps": int(r.env_steps)}

    out: dict[str, list[dict]] = {"alone": [outcome(task.run(configs[0]))]}
    for n in sizes:
        out[str(n)] = []
        for order in _orders(n, seed=20 + n):
            results = dict((c.key(), r) for c, r in task.run_stream([configs[i] for i in order]))
            out[str(n)].append(outcome(results[configs[0].key()]))
    return out


def assert_exact_within(probe: dict[str, list[dict]]) -> None:
    """Every outcome of T equals its lone run's, bit for bit."""
    (alone,) = probe["alone"]
    assert alone["steps"] > 0 and max(abs(x) for x in alone["theta_d"]) > 0  # it trained
    for size, outcomes in probe.items():
        for k, o in enumerate(outcomes):
            assert o == alone, f"batch of {size}, order {k}: T's numbers differ from its lone run's"


def _probe_in_subprocess(threads: int, **env: str) -> dict:
    """The probes in a fresh interpreter with ``threads`` torch threads and ``env`` set before torch loads."""
    code = (f"import json, sys, torch; torch.set_num_threads({threads}); sys.path.insert(0, {str(ROOT / 'tests')!r}); "
            "import test_cpu_invariance as t; "
            "print(json.dumps({'dqn': t.dqn_probe((2,)), 'sup': t.supervised_probe((7,)), 'lock': t.lockstep_probe((7,))}))")
    run_env = {**os.environ, **env}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=run_env, cwd=ROOT,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_batched_dqn_trial_is_its_lone_run_whatever_its_batch_mates_and_place():
    assert_exact_within(dqn_probe())


def test_seeds_trained_together_are_their_lone_runs_whatever_their_order():
    assert_exact_within(supervised_probe())


def test_a_lockstep_direct_search_trial_is_its_lone_run_whatever_its_group():
    assert_exact_within(lockstep_probe())


@pytest.fixture(scope="module")
def in_process():
    return {"dqn": dqn_probe(sizes=()), "sup": supervised_probe(sizes=()), "lock": lockstep_probe(sizes=())}


def _close_across_settings(a: dict, b: dict) -> None:
    """Two settings (threads, instruction sets): no bit-for-bit claim; where T took the same actions (the
    same curve), θ_d agrees to float32 rounding carried through a few hundred tiny updates."""
    (x,), (y,) = a["alone"], b["alone"]
    if x["curve"] == y["curve"]:
        np.testing.assert_allclose(x["theta_d"], y["theta_d"], rtol=1e-4, atol=1e-5)


def test_two_threads_exact_within_and_close_to_one_thread(in_process):
    out = _probe_in_subprocess(2)
    for kind in ("dqn", "sup", "lock"):
        assert_exact_within(out[kind])
        _close_across_settings(out[kind], in_process[kind])


@pytest.mark.slow
@pytest.mark.parametrize("env", [{"MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}, {"MKL_ENABLE_INSTRUCTIONS": "AVX2"},
                                 {"ATEN_CPU_CAPABILITY": "avx2"}], ids=["mkl-sse42", "mkl-avx2", "aten-avx2"])
def test_other_instruction_sets_exact_within(in_process, env):
    out = _probe_in_subprocess(1, **env)
    for kind in ("dqn", "sup", "lock"):
        assert_exact_within(out[kind])
        _close_across_settings(out[kind], in_process[kind])


@pytest.mark.slow
def test_a_batch_of_64_dqn_trials():
    assert_exact_within(dqn_probe(sizes=(64,)))
