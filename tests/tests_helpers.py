"""Test-only environments (registered on import)."""

import gymnasium as gym
import numpy as np


class NaNEnv(gym.Env):
    """Pays 1 per step, then NaN on step 3."""

    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(2, np.float32), float("nan") if self.t == 3 else 1.0, False, self.t >= 10, {}


if "rlsub-test/NaNCli-v0" not in gym.registry:
    gym.register("rlsub-test/NaNCli-v0", entry_point=NaNEnv, max_episode_steps=10)


def stored(**kw):
    """Keyword arguments of ``Store.add`` for a synthetic trial (tests of analysis code)."""
    base = dict(env="CartPole-v1", kind="rl", method="cmaes", projection="dense", d=4, is_full=False, D=100,
                seed=0, config={}, fingerprint="fp", network="MLP 64-64", measure="mean episode return", moved=None,
                r_low=0.0, r_low_source="registered for CartPole-v1", r_best=500.0,
                r_best_source="registered for CartPole-v1", solved=475.0, status="done",
                final_returns=[1.0], env_steps=10, wall_time=0.1)
    base.update(kw)
    if base["moved"] is None:
        base["moved"] = base["d"]
    return base


class NegativeDrift(gym.Env):
    """Keep a drifting point near 0: reward -|x| every step (always negative), 30 steps; a plug-in
    with no registered return range (``tests_helpers:NegativeDrift``)."""

    observation_space = gym.spaces.Box(-5, 5, (2,), np.float32)
    action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.v = self.np_random.uniform(-1, 1), self.np_random.uniform(-0.1, 0.1)
        self.t = 0
        return np.array([self.x, self.v], np.float32), {}

    def step(self, action):
        self.v += (int(action) - 1) * 0.05
        self.x = float(np.clip(self.x + self.v, -5, 5))
        self.t += 1
        return np.array([self.x, self.v], np.float32), -abs(self.x), False, self.t >= 30, {}


class GaussianObs(gym.Env):
    """Observations drawn i.i.d. from N(MEAN, STD²) at every step, 25 steps of reward 1: the statistics
    an observation normaliser must find (``tests_helpers:GaussianObs``)."""

    MEAN = np.array([3.0, -2.0], np.float32)
    STD = np.array([0.5, 2.0], np.float32)
    observation_space = gym.spaces.Box(-100, 100, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def _obs(self):
        return (self.MEAN + self.STD * self.np_random.standard_normal(2)).astype(np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), 1.0, False, self.t >= 25, {}


def alone(config):
    """The trial run by itself, as ``rlsub run`` would."""
    from rlsub.agents import get_method
    from rlsub.tasks import trial_context

    ctx = trial_context(config)
    try:
        return get_method(config.method).run(ctx)
    finally:
        ctx.close()


def assert_same_result(a, b):
    """Two runs of one trial gave the same numbers: returns, curve, steps, θ_d, info and (D, d)."""
    assert a.final_returns == b.final_returns
    assert a.curve == b.curve
    assert a.env_steps == b.env_steps
    np.testing.assert_array_equal(a.theta_d, b.theta_d)
    assert a.info == b.info
    assert (a.D, a.d) == (b.D, b.d)
