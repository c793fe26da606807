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
