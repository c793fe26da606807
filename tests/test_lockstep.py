"""Lockstep trials and the episode-scheduled evaluator: every trial's numbers equal its lone run."""

from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch
from tests_helpers import alone, assert_same_result
from torch import nn

from rlsub.agents.direct_search import Evaluation, direct_search, run_search
from rlsub.errors import NonFiniteReturn
from rlsub.evaluation.population import PopulationEvaluator
from rlsub.evaluation.slot_envs import slot_env
from rlsub.evaluation.slot_mlp import KERNEL_ACT as _KERNEL_ACT
from rlsub.evaluation.slot_mlp import SlotMLP as _SlotMLP
from rlsub.evaluation.slot_rollout import SlotRollout
from rlsub.kernels import mlp_forward as mlp_kernel
from rlsub.subspace import Subspace
from rlsub.tasks import trial_context
from rlsub.tasks.lockstep import LockstepStats, group_for_lockstep, lockstep_key, run_lockstep
from rlsub.tasks.rl import env_task
from rlsub.trial import TrialConfig
from rlsub.utils.seeding import derive_seed


# -- the stacked forward ----------------------------------------------------------------------
@pytest.mark.parametrize("act", [nn.Tanh, nn.ReLU])
def test_a_rows_output_does_not_depend_on_the_batch(act):
    """Each row of the stacked forward is computed alone: same bits at any batch size, any slot,
    whatever the other rows hold (the property lockstep's exactness rests on)."""
    sig = ((4, 64, True, act), (64, 64, True, act), (64, 3, True, None))
    rng = np.random.default_rng(0)
    n = 300
    weights = [rng.standard_normal((n, i, o)).astype(np.float32) for i, o, _, _ in sig]
    biases = [rng.standard_normal((n, o)).astype(np.float32) for _, o, _, _ in sig]
    x = rng.standard_normal((n, 4)).astype(np.float32)

    def run(rows, capacity):
        mlp = _SlotMLP(sig, capacity, torch.device("cpu"))
        k = len(rows)
        for layer in range(len(sig)):
            mlp.W[layer][:k] = weights[layer][rows]
            mlp.b[layer][:k] = biases[layer][rows]
        return mlp(x[rows], k).copy()

    ref = np.stack([run(np.array([r]), 1)[0] for r in range(n)])  # one row at a time
    for _ in range(25):
        k = int(rng.integers(1, n + 1))
        rows = rng.choice(n, k, replace=False)
        got = run(rows, int(rng.integers(k, n + 8)))
        np.testing.assert_array_equal(got, ref[rows])


def test_the_torch_forward_for_accelerators_agrees_with_the_numpy_one():
    """The torch path (used on GPUs) computes the same network; run here on the CPU."""
    sig = ((4, 16, True, nn.Tanh), (16, 16, True, nn.ReLU), (16, 2, True, None))
    x = np.random.default_rng(3).standard_normal((7, 4)).astype(np.float32)
    outs = []
    for use_numpy in (True, False):
        mlp = _SlotMLP(sig, 10, torch.device("cpu"), use_numpy=use_numpy)
        for layer, (i, o, _, _) in enumerate(sig):
            w = np.random.default_rng(layer).standard_normal((10, i, o)).astype(np.float32)
            b = np.random.default_rng(layer + 9).standard_normal((10, o)).astype(np.float32)
            mlp.W[layer][:] = w if use_numpy else torch.from_numpy(w)
            mlp.b[layer][:] = b if use_numpy else torch.from_numpy(b)
        outs.append(np.array(mlp(x, 7)))
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    assert np.abs(outs[0]).max() > 0.1


# -- the scheduled evaluator ------------------------------------------------------------------
def _cartpole(d=8, seed=0, projection="dense"):
    task = env_task("CartPole-v1")
    spec = task.policy_spec()
    sub = Subspace(spec.build(seed), d=d, projection=projection, seed=seed)
    return task, spec, sub


def test_cartpole_uses_per_copy_seeds_and_matches_single_envs():
    task, spec, sub = _cartpole()
    thetas = np.random.default_rng(1).normal(size=(5, 8)).astype(np.float32) * 3
    ev = PopulationEvaluator(task, sub, spec)
    res = ev.evaluate(thetas, episodes=2, seed=77)
    assert ev._rollout is not None and type(ev._rollout.env).__name__ == "CartPoleBatch"
    acts = [_KERNEL_ACT[act] for *_, act in ev.mlp_signature()]
    for m in range(5):
        w = ev.weights(thetas[m:m + 1])  # member m alone: the same bits as in the population
        for e in range(2):
            env = gym.make("CartPole-v1")
            obs, _ = env.reset(seed=77 + m * 2 + e)
            total, done = 0.0, False
            while not done:
                h = np.asarray(obs, dtype=np.float32)[None]
                for W, b, act in zip(w.W, w.b, acts):  # the forward's numpy form, one copy
                    out = np.zeros((1, W.shape[2]), dtype=np.float32)
                    mlp_kernel.layer_numpy(h, np.ascontiguousarray(W), b, out, 1, act)
                    h = out
                obs, r, term, trunc, _ = env.step(int(h.argmax()))
                total, done = total + r, term or trunc
            assert res.returns[m, e] == total
    assert res.steps == res.returns.sum()  # CartPole pays 1 per step


def test_stepped_steps_are_about_the_counted_ones():
    """The random population of benchmarks/rollout.py: short episodes and a few long ones."""
    task, spec, sub = _cartpole(d=100)
    thetas = torch.randn(64, 100, generator=torch.Generator().manual_seed(0)) * 3
    ev = PopulationEvaluator(task, sub, spec)
    res = ev.evaluate(thetas, episodes=2, seed=10_000)
    ro = ev._rollout
    assert ro.counted == res.steps
    assert res.returns.max() > 5 * res.returns.mean()  # the whole-batch path would step ~128 x longest
    assert ro.stepped / ro.counted <= 1.2


def test_episode_returns_do_not_depend_on_scheduling():
    """The same request alone, with few copies (episodes wait for a free one), and among others."""
    task, spec, sub = _cartpole()
    _, _, other = _cartpole(d=8, seed=5)
    thetas = np.random.default_rng(2).normal(size=(6, 8)).astype(np.float32) * 2
    ev, ev2 = PopulationEvaluator(task, sub, spec), PopulationEvaluator(task, other, spec)
    ref = ev.evaluate(thetas, 3, 123)
    for capacity in (1, 4, 64):
        ro = SlotRollout(slot_env(task, capacity), ev.mlp_signature(), spec.action, 4, 500, "CartPole-v1", capacity)
        noise = [ev2.request(np.random.default_rng(i).normal(size=(7, 8)) * 2, 2, 9 + i) for i in range(3)]
        ro.submit(noise[0])
        req = ev.request(thetas, 3, 123)
        ro.submit(req)
        for r in noise[1:]:
            ro.submit(r)
        while ro.busy:
            ro.advance()
        np.testing.assert_array_equal(ev.collect(req).returns, ref.returns)
        assert req.steps == ref.steps
    part = ev.evaluate(thetas, 3, 123, members=(2, 5))
    np.testing.assert_array_equal(part.returns, ref.returns[2:5])


# -- lockstep against lone runs ------------------------------------------------------------------
def _mixed_batch(budget: int) -> list[TrialConfig]:
    out = []
    for method, params in (("cmaes", ()), ("es", (("popsize", 10),))):
        for dim, proj in ((1, "dense"), (2, "sparse"), (8, "fastfood"), (16, "dense")):
            for seed in (0, 1):
                out.append(TrialConfig(env="CartPole-v1", method=method, dim=dim, projection=proj, seed=seed,
                                       budget=budget, params=params))
    # IPOP restarts: a tiny step size and population stop early and restart.
    out.append(TrialConfig(env="CartPole-v1", method="cmaes", dim=2, seed=2, budget=budget,
                           params=(("popsize", 4), ("sigma0", 0.05))))
    out.append(TrialConfig(env="CartPole-v1", method="es", dim=4, seed=3, budget=budget,
                           params=(("obs_norm", True), ("popsize", 8))))
    return out


def test_lockstep_trials_equal_their_lone_runs_bit_for_bit():
    configs = _mixed_batch(budget=5000)
    stats = LockstepStats()
    got = dict(run_lockstep(configs, trial_context, slots=48, stats=stats))
    assert set(got) == set(configs) and stats.alone == 0
    assert stats.mean_batch > 20  # trials really shared the rollout
    for c in configs:
        assert_same_result(alone(c), got[c])
    assert any(r.info.get("restarts", 0) > 0 for r in got.values())
    assert any(r.info.get("early_stop") for r in got.values())
    assert "obs_norm" in got[configs[-1]].info


def test_lockstep_results_do_not_depend_on_the_company():
    configs = _mixed_batch(budget=3000)
    full = dict(run_lockstep(configs, trial_context, slots=64))
    few = dict(run_lockstep(configs[::3], trial_context, slots=7, max_active=2))
    for c, r in few.items():
        assert_same_result(full[c], r)


def test_trials_of_another_env_run_alone_not_in_the_rollout():
    """Acrobot's trials cannot share CartPole's copies: they run alone, with their lone results."""
    cp = TrialConfig(env="CartPole-v1", method="cmaes", dim=2, seed=0, budget=1000)
    ac = TrialConfig(env="Acrobot-v1", method="cmaes", dim=2, seed=0, budget=1000, eval_episodes=2)
    stats = LockstepStats()
    got = dict(run_lockstep([cp, ac], trial_context, stats=stats))
    assert stats.alone == 1
    assert_same_result(alone(ac), got[ac])
    assert_same_result(alone(cp), got[cp])


def test_run_lockstep_yields_each_trial_as_it_finishes():
    quick = TrialConfig(env="CartPole-v1", method="cmaes", dim=2, seed=0, budget=300)
    slow = [TrialConfig(env="CartPole-v1", method="cmaes", dim=1, seed=s, budget=20_000) for s in (1, 2)]
    it = run_lockstep([slow[0], quick, slow[1]], trial_context)
    config, result = next(it)
    assert config == quick and result.env_steps < 2000
    rest = dict(it)
    assert set(rest) == set(slow)


def test_lockstep_on_a_sync_vector_env_task():
    """InvertedPendulum-v5 has no native vector env: its SyncVectorEnv's sub-envs are the copies."""
    pytest.importorskip("mujoco")
    configs = [TrialConfig(env="InvertedPendulum-v5", method="cmaes", dim=4, seed=0, budget=3000),
               TrialConfig(env="InvertedPendulum-v5", method="es", dim=2, seed=1, budget=3000,
                           params=(("obs_norm", True), ("popsize", 6)))]
    got = dict(run_lockstep(configs, trial_context, slots=16))
    for c in configs:
        assert_same_result(alone(c), got[c])


# -- failures ------------------------------------------------------------------------------------
def _bad_seeds(trial_seed: int, pop: int) -> set[int]:
    base = derive_seed(trial_seed, "train", 0) % 2**31
    return {base + j for j in range(pop)}


class _SometimesNaN(gym.Env):
    """Pays 1 per step for 20 steps; NaN on step 3 of episodes whose seed is in ``BAD``."""

    BAD: set[int] = set()
    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.bad = 0, seed in self.BAD
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        reward = float("nan") if self.bad and self.t == 3 else 1.0
        return np.full(2, 0.1 * action, np.float32), reward, False, self.t >= 20, {}


if "rlsub-test/SometimesNaN-v0" not in gym.registry:
    gym.register("rlsub-test/SometimesNaN-v0", entry_point=_SometimesNaN, max_episode_steps=20)


def test_a_failing_trial_does_not_stop_the_others():
    _SometimesNaN.BAD = _bad_seeds(0, 6)  # CMA-ES at d = 2: 6 members x 1 episode
    bad, good = (TrialConfig(env="rlsub-test/SometimesNaN-v0", method="cmaes", dim=2, seed=s, budget=800,
                             episodes=1) for s in (0, 1))
    got = dict(run_lockstep([bad, good], trial_context, slots=8))
    assert isinstance(got[bad], NonFiniteReturn)
    assert_same_result(alone(good), got[good])
    with pytest.raises(NonFiniteReturn):
        alone(bad)


# -- grouping -----------------------------------------------------------------------------------
def test_group_for_lockstep():
    cp = [TrialConfig(env="CartPole-v1", method=m, dim=d, seed=s) for m in ("cmaes", "es") for d in (1, 2) for s in (0, 1, 2)]
    ip = [TrialConfig(env="InvertedPendulum-v5", method="cmaes", dim=2, seed=s) for s in (0, 1)]
    dqn = [TrialConfig(env="CartPole-v1", method="dqn", dim=8, seed=0)]
    groups = group_for_lockstep(cp + ip + dqn, groups=2)
    assert sorted(len(g) for g in groups) == [1, 1, 1, 6, 6]
    assert lockstep_key(dqn[0]) is None and [dqn[0]] in groups
    for g in groups:
        assert len({lockstep_key(c) for c in g}) == 1
    assert sorted(c.key() for g in groups for c in g) == sorted(c.key() for c in cp + ip + dqn)
    assert group_for_lockstep(cp, groups=1) == [cp]


def test_lockstep_groups_are_capped_in_env_steps_and_a_multiple_of_the_workers():
    """A group's trials finish together, so a killed group loses them all: long sweeps get more, smaller groups."""
    long = [TrialConfig(env="HalfCheetah-v5", method="ars", dim=d, seed=s, budget=4_000_000)
            for d in (1, 2, 4, 8, 16, 32, 64) for s in range(5)]
    groups = group_for_lockstep(long, groups=2, max_steps=20_000_000)
    assert len(groups) % 2 == 0 and all(len(g) * 4_000_000 <= 20_000_000 for g in groups)
    assert len(groups) == 8 and sorted(c.key() for g in groups for c in g) == sorted(c.key() for c in long)
    assert len(group_for_lockstep(long, groups=2, max_steps=None)) == 2
    # a trial over the cap is a group of its own, never split
    assert [len(g) for g in group_for_lockstep(long[:3], groups=1, max_steps=1_000_000)] == [1, 1, 1]
    # the README's main job (30 trials x 60k steps) stays one group per worker
    main = [TrialConfig(env="CartPole-v1", method="cmaes", dim=d, seed=s, budget=60_000)
            for d in (1, 2, 4, 8, 16, 32) for s in range(5)]
    assert [len(g) for g in group_for_lockstep(main, groups=2)] == [15, 15]
    # no budget: the preset's (CartPole's 100k x 30 = 3M: two groups of at most 2M)
    assert len(group_for_lockstep([replace(c, budget=None) for c in main], groups=1, max_steps=2_000_000)) == 2


def test_direct_search_generator_asks_what_run_direct_search_evaluates():
    """The generator's requests are exactly ctx.evaluate's calls (kinds in order, test last)."""
    from rlsub.agents.cmaes import CMAES

    config = TrialConfig(env="CartPole-v1", method="cmaes", dim=2, seed=0, budget=400)
    ctx = trial_context(config)
    seen: list[Evaluation] = []
    search = direct_search(ctx, CMAES(2, 0))
    try:
        ev = next(search)
        while True:
            seen.append(ev)
            ev = search.send(ctx.evaluate(ev.thetas, ev.episodes, *ev.stream))
    except StopIteration as stop:
        result = stop.value
    finally:
        ctx.close()
    kinds = [e.kind for e in seen]
    assert kinds[0] == "train" and kinds[-1] == "test" and kinds.count("test") == 1
    assert seen[-1].episodes == config.eval_episodes
    assert_same_result(result, alone(config))
    ctx = trial_context(config)
    try:
        assert_same_result(result, run_search(ctx, direct_search(ctx, CMAES(2, 0))))
    finally:
        ctx.close()
