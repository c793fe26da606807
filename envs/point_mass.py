"""A complete example of a plugged-in env: steer a 2-D point mass to a random goal.

Unlike CartPole it has continuous 2-d actions, a dense distance cost and a fixed horizon (it never
terminates early), so it exercises the tanh-scaled Box action head. Usable three ways::

    rlsub run --env rlsub.envs.point_mass:PointMassEnv ...   # plug-in by module:Class
    rlsub run --env rlsub/PointMass-v0 ...                   # its Gymnasium id
    rlsub run --env PointMass-v0 ...                         # the preset (return range, budget)

State: position p ∈ [-1, 1]², velocity v (|v_i| ≤ 2), goal g ∈ [-1, 1]², all drawn at reset.
Observation: ``[p, v, g - p]`` (6 floats). Action: force a ∈ [-1, 1]².
Dynamics (dt = 0.1): v ← clip(v + dt·(4a − v), ±2); p ← p + dt·v, stopped at the walls.
Reward: −|g − p| − 0.01·|a|² per step; the episode truncates after ``max_steps`` (100) steps.
Standing still scores about −107 on average; a tuned PD controller about −6.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

DT = 0.1
ACCEL = 4.0
DAMPING = 1.0
VMAX = 2.0


class PointMassEnv(gym.Env[np.ndarray, np.ndarray]):
    """2-D point-mass reaching task with continuous actions (see the module docstring)."""

    metadata = {"render_modes": []}

    def __init__(self, max_steps: int = 100, control_cost: float = 0.01) -> None:
        self.max_steps = int(max_steps)
        self.control_cost = float(control_cost)
        high = np.array([1.0, 1.0, VMAX, VMAX, 2.0, 2.0], dtype=np.float32)
        self.observation_space = gym.spaces.Box(-high, high, dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self._pos = np.zeros(2)
        self._vel = np.zeros(2)
        self._goal = np.zeros(2)
        self._t = 0

    def _obs(self) -> np.ndarray:
        return np.concatenate([self._pos, self._vel, self._goal - self._pos]).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._pos = self.np_random.uniform(-1.0, 1.0, size=2)
        self._goal = self.np_random.uniform(-1.0, 1.0, size=2)
        self._vel = np.zeros(2)
        self._t = 0
        return self._obs(), {}

    def step(self, action: np.ndarray):
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -1.0, 1.0)
        self._vel = np.clip(self._vel + DT * (ACCEL * a - DAMPING * self._vel), -VMAX, VMAX)
        pos = self._pos + DT * self._vel
        hit = np.abs(pos) > 1.0
        self._vel[hit] = 0.0  # inelastic walls: keeps the state inside the observation bounds
        self._pos = np.clip(pos, -1.0, 1.0)
        self._t += 1
        dist = float(np.linalg.norm(self._goal - self._pos))
        reward = -dist - self.control_cost * float(a @ a)
        truncated = self._t >= self.max_steps
        return self._obs(), reward, False, truncated, {"distance": dist}


ENV_ID = "rlsub/PointMass-v0"


def register() -> None:
    """Register ``rlsub/PointMass-v0`` with Gymnasium (idempotent)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point=f"{__name__}:PointMassEnv", max_episode_steps=100)


register()
