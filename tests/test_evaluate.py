"""Batched population evaluator against plain single-env rollouts."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlsub.errors import NonFiniteReturn
from rlsub.evaluation.population import PopulationEvaluator
from rlsub.subspace import Subspace
from rlsub.tasks.rl import env_task


def single_env_return(task, spec, sub, theta, seed):
    env = task.make()
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        with torch.no_grad():
            out = sub(torch.as_tensor(obs, dtype=torch.float32)[None], theta_d=theta)
        obs, r, term, trunc, _ = env.step(spec.action.to_env(out)[0])
        total += r
        done = term or trunc
    return total


@pytest.mark.parametrize("env_id", ["Acrobot-v1", "Pendulum-v1"])
def test_matches_single_env_rollouts(env_id):
    """Sync vector envs seed copy i with seed + i: each (member, episode) must match a lone env."""
    task = env_task(env_id)
    spec = task.policy_spec(hidden=(8,))
    sub = Subspace(spec.build(0), d=3, projection="dense", seed=0)
    thetas = torch.randn(3, 3, generator=torch.Generator().manual_seed(0)) * 3
    res = PopulationEvaluator(task, sub, spec).evaluate(thetas, episodes=2, seed=100)
    assert res.returns.shape == (3, 2)
    for m in range(3):
        for e in range(2):
            ref = single_env_return(task, spec, sub, thetas[m], seed=100 + m * 2 + e)
            assert res.returns[m, e] == pytest.approx(ref, rel=1e-5, abs=1e-4)


class _ResetCounter(gym.Wrapper):
    """Counts its env's resets (a vector env's autoreset shows up as a second reset)."""

    def __init__(self, env):
        super().__init__(env)
        self.resets = 0

    def reset(self, **kw):
        self.resets += 1
        return super().reset(**kw)


class _AutoresetVec(gym.vector.SyncVectorEnv):
    """A plain-behaving SyncVectorEnv (NEXT_STEP autoreset) that is not ``SyncVectorEnv`` itself,
    so evaluations take the whole-batch path, where finished copies keep stepping into new episodes."""


def test_counts_each_episode_once_under_autoreset():
    """Whole-batch path on a Gymnasium vector env that autoresets: each copy's return is its first
    episode only (checked against lone envs seeded ``seed + copy``), and steps are those episodes' lengths."""
    task = env_task("CartPole-v1")
    task.make_vec = lambda n: _AutoresetVec([lambda: _ResetCounter(task.make()) for _ in range(n)])
    spec = task.policy_spec()
    sub = Subspace(spec.build(0), d=4, projection="dense", seed=0)
    thetas = np.random.default_rng(1).normal(size=(4, 4)).astype(np.float32) * 3
    ev = PopulationEvaluator(task, sub, spec, pipeline=False)
    res = ev.evaluate(thetas, episodes=3, seed=7)
    assert ev._scheduled is False  # the whole-batch path, one copy per (member, episode)
    copies = ev._envs[12, 0].envs
    lone = np.array([[single_env_return(task, spec, sub, torch.as_tensor(thetas[m]), seed=7 + m * 3 + e)
                      for e in range(3)] for m in range(4)])
    assert len(set(lone.ravel())) > 3  # episodes of varied length: the short ones ended long before the last
    assert sum(c.resets > 1 for c in copies) > 0  # some copies really autoreset into a second episode
    np.testing.assert_array_equal(res.returns, lone)
    assert res.steps == lone.sum()  # CartPole pays 1 per step: a lone episode's return is its length


def test_nan_reward_raises():
    from tests_helpers import NaNEnv  # noqa: F401  (registers rlsub-test/NaNCli-v0)

    task = env_task("rlsub-test/NaNCli-v0")
    spec = task.policy_spec(hidden=(4,))
    sub = Subspace(spec.build(0), d=2, projection="dense", seed=0)
    with pytest.raises(NonFiniteReturn, match="non-finite"):
        PopulationEvaluator(task, sub, spec).evaluate(np.zeros((2, 2)), 1, 0)


class _SendRecvVec(gym.vector.SyncVectorEnv):
    """A SyncVectorEnv with an async-style ``send``/``recv`` (like ale_py's AtariVectorEnv) that
    refuses to reset or send while a step is in flight."""

    pending = None

    def send(self, actions):
        if self.pending is not None:
            raise RuntimeError("step already in flight")
        self.pending = actions

    def recv(self):
        actions, self.pending = self.pending, None
        return self.step(actions)

    def reset(self, **kw):
        if self.pending is not None:
            raise RuntimeError("reset with a step in flight")
        return super().reset(**kw)


def _async_task(env_id: str):
    task = env_task(env_id)
    task.make_vec = lambda n: _SendRecvVec([lambda: task.make() for _ in range(n)])
    return task


def test_pipelined_evaluation_equals_sequential_on_cartpole():
    task = _async_task("CartPole-v1")
    spec = task.policy_spec()
    sub = Subspace(spec.build(0), d=8, projection="dense", seed=0)
    thetas = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32) * 3
    a = PopulationEvaluator(task, sub, spec, pipeline=False).evaluate(thetas, episodes=2, seed=4)
    ev = PopulationEvaluator(task, sub, spec)
    b = ev.evaluate(thetas, episodes=2, seed=4)
    assert ev._async and len(set(a.returns.ravel())) > 2  # really split, and episodes of varied length
    np.testing.assert_array_equal(b.returns, a.returns)
    assert b.steps == a.steps


def test_pipelined_nan_reward_raises_and_leaves_no_step_in_flight():
    from tests_helpers import NaNEnv  # noqa: F401  (registers rlsub-test/NaNCli-v0)

    task = _async_task("rlsub-test/NaNCli-v0")
    spec = task.policy_spec(hidden=(4,))
    sub = Subspace(spec.build(0), d=2, projection="dense", seed=0)
    ev = PopulationEvaluator(task, sub, spec)
    for _ in range(2):  # the second call would hit "in flight" if the first left a step pending
        with pytest.raises(NonFiniteReturn, match="non-finite"):
            ev.evaluate(np.zeros((4, 2)), 1, 0)
    assert ev._async
