"""Batched population evaluation: pop × episodes env copies stepped together.

One vector env holds an env per (member, episode); each step runs one batched forward for the
whole population (``Subspace.population_forward``) with parameters projected once per call.
Episode bookkeeping follows Gymnasium 1.x NEXT_STEP autoreset: an env's return is counted until its
first termination or truncation; later steps of that env (its autoreset) are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rlsub.errors import NonFiniteReturn
from rlsub.policies import PolicySpec
from rlsub.subspace import Subspace


@dataclass
class EvalResult:
    """Returns of each member's episodes (``[pop, episodes]``) and env steps consumed."""

    returns: np.ndarray
    steps: int

    @property
    def fitness(self) -> np.ndarray:
        """Mean return per member."""
        return self.returns.mean(axis=1)


class PopulationEvaluator:
    """Evaluate populations of θ_d on a task with batched envs and a batched policy forward.

    The vector env is built lazily and reused while the number of env copies stays the same.
    """

    def __init__(self, task, subspace: Subspace, spec: PolicySpec, device: str | torch.device = "cpu"):
        self.task = task
        self.subspace = subspace
        self.spec = spec
        self.device = torch.device(device)
        self._env = None
        self._num_envs = 0

    def _vec(self, num_envs: int):
        if self._env is None or self._num_envs != num_envs:
            self.close()
            self._env = self.task.make_vec(num_envs)
            self._num_envs = num_envs
        return self._env

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None

    @torch.no_grad()
    def evaluate(self, thetas: torch.Tensor | np.ndarray, episodes: int, seed: int) -> EvalResult:
        """Run ``episodes`` episodes for each row of ``thetas`` (``[pop, d]``), seeded by ``seed``."""
        thetas = torch.as_tensor(np.asarray(thetas) if not torch.is_tensor(thetas) else thetas)
        thetas = thetas.to(self.device, torch.float32).reshape(-1, self.subspace.d)
        pop = thetas.shape[0]
        n = pop * episodes
        env = self._vec(n)
        params = self.subspace.population_params(thetas)
        obs, _ = env.reset(seed=int(seed) % 2**31)
        returns = np.zeros(n, dtype=np.float64)
        done = np.zeros(n, dtype=bool)
        steps = 0
        obs_shape = self.spec.obs_shape
        for _ in range(self.task.max_episode_steps + 1):
            x = torch.as_tensor(obs, dtype=torch.float32, device=self.device).reshape(pop, episodes, *obs_shape)
            out = self.subspace.population_forward(params, x)
            action = self.spec.action.to_env(out.reshape(n, -1))
            obs, reward, terminated, truncated, _ = env.step(action)
            active = ~done
            r = np.asarray(reward, dtype=np.float64)[active]
            if not np.all(np.isfinite(r)):
                raise NonFiniteReturn(f"environment {self.task.name} returned a non-finite reward ({r[~np.isfinite(r)][0]})")
            returns[active] += r
            steps += int(active.sum())
            done |= np.asarray(terminated) | np.asarray(truncated)
            if done.all():
                break
        return EvalResult(returns.reshape(pop, episodes), steps)
