"""Env copies behind the slot interface a ``SlotRollout`` steps: ``reset_copies``, ``step_copies``, ``move``, ``grow``.

``CartPoleBatch`` has the interface itself; a plain ``SyncVectorEnv`` lends its sub-envs (``EnvSlots``);
other vector envs have none, and evaluations on them take the whole-batch path ([`rlsub.evaluation.population`][rlsub.evaluation.population]).
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np


class EnvSlots:
    """The slot interface over single Gymnasium envs (a ``SyncVectorEnv``'s sub-envs): copies are
    stepped one by one, only the live ones; ``move`` swaps env objects."""

    def __init__(self, envs: list, make: Callable[[], object]) -> None:
        self.envs, self.make = list(envs), make

    @property
    def num_envs(self) -> int:
        return len(self.envs)

    def grow(self, n: int) -> None:
        while len(self.envs) < n:
            self.envs.append(self.make())

    def reset_copies(self, idx: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        return np.stack([np.asarray(self.envs[i].reset(seed=int(s))[0]) for i, s in zip(idx.tolist(), seeds.tolist())])

    def step_copies(self, n: int, actions: np.ndarray, live: np.ndarray | None = None):
        """Step copies ``0..n-1``; those with ``live`` False (finished episodes) are not stepped
        and report zeros."""
        on = [True] * n if live is None else live.tolist()
        out = [env.step(a) if go else None for env, a, go in zip(self.envs[:n], actions, on)]
        if not all(on):
            shape = np.asarray(next(o for o in out if o is not None)[0]).shape
            idle = (np.zeros(shape), 0.0, False, False)
            out = [idle if o is None else o for o in out]
        obs = np.stack([np.asarray(o[0]) for o in out])
        reward = np.array([o[1] for o in out], dtype=np.float64)
        terminated = np.array([o[2] for o in out], dtype=bool)
        truncated = np.array([o[3] for o in out], dtype=bool)
        return obs, reward, terminated, truncated

    def move(self, src: np.ndarray, dst: np.ndarray) -> None:
        for s, d in zip(src.tolist(), dst.tolist()):
            self.envs[d], self.envs[s] = self.envs[s], self.envs[d]

    def close(self) -> None:
        for env in self.envs:
            env.close()


def vector_env(task, num_envs: int):
    """``task.make_vec(num_envs)`` (CartPole tasks get ``CartPoleBatch``: copy i seeded ``seed + i`` like
    a ``SyncVectorEnv``, so an episode depends only on its own seed, on both evaluation paths)."""
    return task.make_vec(num_envs)


def has_slot_api(vec) -> bool:
    """Whether ``vec`` has the slot interface itself (``reset_copies``/``step_copies``/``move``/``grow``,
    as ``CartPoleBatch``)."""
    return all(hasattr(vec, m) for m in ("reset_copies", "step_copies", "move", "grow"))


def slot_env(task, num_envs: int, vec=None):
    """An env with the slot interface (``reset_copies``/``step_copies``/``move``/``grow``) for
    ``task``, or None when its vector env has none (then evaluations use the whole-batch path).

    ``vec`` is ``vector_env(task, num_envs)`` when the caller already built it. ``CartPoleBatch``
    has the interface itself; a plain ``SyncVectorEnv`` lends its sub-envs.
    """
    vec = vector_env(task, num_envs) if vec is None else vec
    if has_slot_api(vec):
        return vec
    # Exactly SyncVectorEnv, not a subclass: a subclass may change step/reset (an async send/recv
    # front, as in tests/test_evaluate.py), which stepping its sub-envs one by one would bypass.
    if type(vec) is gym.vector.SyncVectorEnv:
        return EnvSlots(vec.envs, vec.env_fns[0])
    return None


__all__ = ["EnvSlots", "has_slot_api", "slot_env", "vector_env"]
