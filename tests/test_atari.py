"""Atari from pixels: preprocessing, frame stack, single vs. vector path, explicit settings, Pong runs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from rlsub.envs import PRESETS, AtariSettings, make_atari, make_atari_vec, resolve_env
from rlsub.evaluation.population import PopulationEvaluator
from rlsub.subspace import Subspace
from rlsub.tasks.rl import EnvTask, env_task

# Deterministic game: no no-op starts and no sticky actions, so both paths must match frame by frame.
DETERMINISTIC = AtariSettings(game="pong", repeat_action_probability=0.0, noop_max=0, num_threads=1)


def _short_pong(steps: int, **settings) -> EnvTask:
    base = PRESETS["Pong"]
    atari = replace(base.atari, num_threads=1, **settings)
    return EnvTask("Pong", replace(base, max_episode_steps=steps, atari=atari))


def test_preprocessing_shapes_and_dtype():
    task = _short_pong(50)
    env = task.make()
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    assert env.observation_space.shape == (4, 84, 84) and env.observation_space.dtype == np.uint8
    assert env.action_space.n == 6
    env.close()
    vec = task.make_vec(3)
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (3, 4, 84, 84) and obs.dtype == np.uint8
    assert vec.single_observation_space == env.observation_space
    assert vec.single_action_space.n == 6
    vec.close()


def test_frame_stack_order_oldest_first():
    env = make_atari("ALE/Pong-v5", DETERMINISTIC, 100)
    obs, _ = env.reset(seed=0)
    # After a reset the stack is zero-padded; the newest frame is last.
    assert not obs[:3].any() and obs[3].any()
    prev = obs
    for _ in range(3):
        obs, *_ = env.step(0)
        np.testing.assert_array_equal(obs[:3], prev[1:])  # shifted by one frame
        prev = obs
    env.close()


def test_single_and_vector_paths_agree():
    single = make_atari("ALE/Pong-v5", DETERMINISTIC, 1000)
    vec = make_atari_vec(DETERMINISTIC, 2, 1000)
    o1, _ = single.reset(seed=3)
    ov, _ = vec.reset(seed=3)
    np.testing.assert_array_equal(o1, ov[0])
    rng = np.random.default_rng(0)
    r_single = r_vec = 0.0
    for _ in range(120):
        a = int(rng.integers(6))
        o1, r1, *_ = single.step(a)
        ov, r2, *_ = vec.step(np.array([a, a]))
        np.testing.assert_array_equal(o1, ov[0])
        r_single, r_vec = r_single + r1, r_vec + float(r2[0])
    assert r_single == r_vec
    single.close()
    vec.close()


def test_episode_cap_truncates_both_paths_at_the_same_step():
    task = _short_pong(7)
    env = task.make()
    env.reset(seed=0)
    flags = [env.step(0)[3] for _ in range(7)]
    assert flags == [False] * 6 + [True]
    vec = task.make_vec(2)
    vec.reset(seed=0)
    flags = [bool(vec.step(np.zeros(2, dtype=np.int64))[3][0]) for _ in range(7)]
    assert flags == [False] * 6 + [True]
    env.close()
    vec.close()


def test_vector_env_settings_are_explicit(monkeypatch):
    import ale_py.vector_env as ve

    seen: dict = {}
    original = ve.AtariVectorEnv.__init__

    def spy(self, game, num_envs, **kwargs):
        seen.update(kwargs)
        original(self, game, num_envs, **kwargs)

    monkeypatch.setattr(ve.AtariVectorEnv, "__init__", spy)
    resolve_env("Pong").make_vec(1).close()
    assert seen["reward_clipping"] is False  # evaluation scores unclipped rewards
    assert seen["repeat_action_probability"] == 0.25
    assert seen["use_fire_reset"] is False and seen["episodic_life"] is False
    assert seen["noop_max"] == 30 and seen["frameskip"] == 4 and seen["stack_num"] == 4


def test_sticky_actions_follow_the_id_and_are_recorded():
    assert resolve_env("Pong").settings()["atari"]["repeat_action_probability"] == 0.25
    assert resolve_env("ALE/Pong-v5").settings()["atari"]["repeat_action_probability"] == 0.25
    v4 = resolve_env("PongNoFrameskip-v4")
    assert v4.settings()["atari"]["repeat_action_probability"] == 0.0
    assert v4.settings()["atari"]["reward_clipping"] is False
    assert v4.preset.return_low == -21.0 and v4.preset.return_best == 21.0


def test_large_reset_seeds_are_accepted():
    vec = make_atari_vec(DETERMINISTIC, 3, 10)
    obs, _ = vec.reset(seed=2**31 - 2)  # ale_py alone rejects seed + i >= 2^31
    assert obs.shape == (3, 4, 84, 84)
    vec.close()


def test_pong_policy_spec_is_nature_cnn():
    spec = env_task("Pong").policy_spec()
    assert spec.family == "cnn" and spec.obs_shape == (4, 84, 84) and spec.action.n == 6
    assert spec.hidden == (512,) and spec.activation == "relu"


def test_population_evaluation_on_short_pong():
    task = _short_pong(12)
    spec = task.policy_spec()
    sub = Subspace(spec.build(0), d=16, projection="fastfood", seed=0)
    ev = PopulationEvaluator(task, sub, spec)
    try:
        thetas = np.random.default_rng(0).normal(size=(2, 16)).astype(np.float32)
        res = ev.evaluate(thetas, episodes=2, seed=5)
        assert res.returns.shape == (2, 2)
        assert res.steps == 2 * 2 * 12
        again = ev.evaluate(thetas, episodes=2, seed=5)
        np.testing.assert_array_equal(res.returns, again.returns)
    finally:
        ev.close()


@pytest.mark.slow
@pytest.mark.parametrize("method,params", [("cmaes", (("popsize", 4),)), ("es", (("popsize", 4),))])
def test_short_pong_trial(method, params):
    """A short Pong trial trains, stores D exactly and its score is a real rollout of its θ_d: evaluating
    the returned θ_d again on the trial's test seeds gives the same return."""
    from rlsub.tasks import run_trial, trial_context
    from rlsub.trial import TrialConfig

    torch.set_num_threads(1)
    cfg = TrialConfig("Pong", method=method, dim=1000, projection="fastfood", budget=1500,
                      episodes=1, eval_episodes=1, params=params)
    res = run_trial(cfg)
    assert res.D == 1_687_206 and res.d == 1000 and res.env_steps >= 1500
    assert np.any(res.theta_d != 0)  # the search moved θ_d
    ctx = trial_context(cfg)
    try:
        assert ctx.final_test(res.theta_d) == res.final_returns
    finally:
        ctx.close()


def test_pipelined_evaluation_plays_the_same_episodes():
    """Two halves overlapping policy and env time give exactly the unsplit evaluation's returns."""
    task = _short_pong(150, repeat_action_probability=0.25, noop_max=30)  # per-copy RNGs in play
    spec = task.policy_spec()
    sub = Subspace(spec.build(0), d=16, projection="fastfood", seed=0)
    thetas = np.random.default_rng(1).normal(size=(5, 16)).astype(np.float32) * 20
    plain = PopulationEvaluator(task, sub, spec, pipeline=False)
    piped = PopulationEvaluator(task, sub, spec)
    try:
        a = plain.evaluate(thetas, episodes=2, seed=9)
        b = piped.evaluate(thetas, episodes=2, seed=9)
        assert piped._async and {lane for _, lane in piped._envs} == {1, 2}
        assert np.any(a.returns != 0), "episodes too short to score: the comparison would be vacuous"
        np.testing.assert_array_equal(b.returns, a.returns)
        assert b.steps == a.steps
        part = piped.evaluate(thetas, episodes=2, seed=9, members=(1, 4))  # a pipelined member slice
        np.testing.assert_array_equal(part.returns, a.returns[1:4])
        one = piped.evaluate(thetas[:1], episodes=2, seed=9)  # one member: not split
        np.testing.assert_array_equal(one.returns, a.returns[:1])
    finally:
        plain.close()
        piped.close()
