"""Presets and the --env resolver: ids, presets, vector envs, policy family choice, settings."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rlsub.envs import PRESETS, EnvPreset, resolve_env
from rlsub.errors import ConfigError
from rlsub.policies.networks import FAMILIES
from rlsub.tasks.rl import EnvTask, env_task


def test_presets_are_consistent():
    for name, p in PRESETS.items():
        assert p.name == name
        assert p.family is None or p.family in FAMILIES
        if p.return_best is not None:
            assert p.return_best > p.return_low
        if p.solved_threshold is not None and p.return_best is not None:
            assert p.return_low < p.solved_threshold <= p.return_best


def test_pong_preset_return_range_and_settings():
    p = PRESETS["Pong"]
    assert (p.return_low, p.return_best) == (-21.0, 21.0)
    assert p.atari is not None and p.atari.repeat_action_probability == 0.25
    assert p.atari.to_dict()["reward_clipping"] is False


def test_resolve_preset_and_plain_id():
    task = env_task("CartPole-v1")
    assert task.max_episode_steps == 500
    spec = task.policy_spec()
    assert spec.family == "mlp" and spec.hidden == (64, 64) and spec.action.n == 2
    acrobot = env_task("Acrobot-v1")
    assert acrobot.max_episode_steps == 500 and acrobot.preset.check is False  # trusted builtin
    assert acrobot.policy_spec(hidden=(8,)).hidden == (8,)


def test_unknown_env_suggests_close_names():
    with pytest.raises(ConfigError, match="CartPole-v1"):
        resolve_env("CartPole-v9")


def test_make_vec_uses_next_step_autoreset():
    vec = resolve_env("PointMass-v0").make_vec(3)
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (3, 6)
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    vec.close()


def test_vector_and_single_envs_share_seeds():
    task = resolve_env("PointMass-v0")
    vec = task.make_vec(2)
    obs, _ = vec.reset(seed=11)
    env = task.make()
    for i in range(2):
        np.testing.assert_array_equal(env.reset(seed=11 + i)[0], obs[i])
    vec.close()
    env.close()


def test_settings_record_the_game():
    s = resolve_env("CartPole-v1").settings()
    assert s["env_id"] == "CartPole-v1" and s["max_episode_steps"] == 500 and "atari" not in s
    assert resolve_env("Pong").settings()["atari"]["noop_max"] == 30


def test_preset_family_override_and_defaults():
    task = EnvTask("x", EnvPreset(name="x", env_id="CartPole-v1", family="mlp", hidden=(5,), activation="relu"))
    spec = task.policy_spec()
    assert spec.hidden == (5,) and spec.activation == "relu"
    with pytest.raises(ConfigError, match="not an image"):
        task.policy_spec(family="cnn")


def test_point_mass_env_solved_by_a_pd_controller():
    env = resolve_env("PointMass-v0").make()
    total, done = 0.0, False
    obs, _ = env.reset(seed=0)
    while not done:
        obs, r, term, trunc, _ = env.step(np.clip(8 * obs[4:] - 3 * obs[2:4], -1, 1))
        total += r
        done = term or trunc
    assert total > PRESETS["PointMass-v0"].solved_threshold
    env.close()


def test_point_mass_cmaes_learns():
    from rlsub.tasks import run_trial
    from rlsub.trial import TrialConfig

    runs = [run_trial(TrialConfig("PointMass-v0", method="cmaes", dim=4, budget=10_000, eval_episodes=5, seed=s))
            for s in range(3)]
    final = np.mean([r.final_mean for r in runs])
    first = np.mean([r.curve[0][1] for r in runs])
    # Better than the first generation by a clear margin, and better than standing still (return_low).
    assert final > first + 20 and final > PRESETS["PointMass-v0"].return_low
