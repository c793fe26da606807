"""The batched DQN engine's training envs: one env per trial, kept in the order of the live trials.

Both kinds step every live trial's env once per round and reset an ended episode at once (SAME_STEP
autoreset, the true last observation returned beside the next episode's first), as ``dqn.train``'s
``make_train_envs`` does for one env.
"""

from __future__ import annotations

import numpy as np

from rlsub.evaluation.slot_envs import has_slot_api


class CopyEnvs:
    """The trials' envs as copies ``0..n-1`` of one slot env (``CartPoleBatch``), in live order."""

    def __init__(self, vec) -> None:
        self.vec, self.n = vec, 0

    def add(self, seed: int) -> np.ndarray:
        self.vec.grow(self.n + 1)
        obs = self.vec.reset_copies([self.n], [seed])[0]
        self.n += 1
        return obs

    def remove(self, i: int) -> None:
        if i + 1 < self.n:  # later copies shift down one place (live order is kept)
            self.vec.move(np.arange(i + 1, self.n), np.arange(i, self.n - 1))
        self.n -= 1

    def step(self, actions: np.ndarray):
        obs, rew, term, trunc = self.vec.step_copies(self.n, actions)
        obs = np.array(obs, dtype=np.float32)
        done = term | trunc
        last = obs.copy()
        idx = np.flatnonzero(done)
        if len(idx):  # SAME_STEP autoreset: the next episode continues each copy's own stream
            obs[idx] = self.vec.reset_copies(idx, [None] * len(idx))
        return obs, np.asarray(rew, dtype=np.float64), term, trunc, last

    def close(self) -> None:
        self.vec.close()


class SingleEnvs:
    """The trials' envs as single Gymnasium envs (``task.make``), in live order."""

    def __init__(self, make) -> None:
        self.make, self.envs = make, []

    def add(self, seed: int) -> np.ndarray:
        env = self.make()
        self.envs.append(env)
        return np.asarray(env.reset(seed=seed)[0], dtype=np.float32)

    def remove(self, i: int) -> None:
        self.envs.pop(i).close()

    def step(self, actions: np.ndarray):
        n = len(self.envs)
        obs, last = [], []
        rew, term, trunc = np.zeros(n), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        for i, (env, a) in enumerate(zip(self.envs, actions.tolist())):
            o, rew[i], term[i], trunc[i], _ = env.step(a)
            o = np.asarray(o, dtype=np.float32)
            last.append(o)
            obs.append(np.asarray(env.reset()[0], dtype=np.float32) if term[i] or trunc[i] else o)
        return np.stack(obs), rew, term, trunc, np.stack(last)

    def close(self) -> None:
        for env in self.envs:
            env.close()


def train_envs(task, single: bool = False) -> CopyEnvs | SingleEnvs:
    """The task's slot env when it has one (CartPole), else single envs; ``single`` forces the latter."""
    if not single:
        vec = task.make_vec(1)
        if has_slot_api(vec):
            return CopyEnvs(vec)
        vec.close()
    return SingleEnvs(task.make)


__all__ = ["CopyEnvs", "SingleEnvs", "train_envs"]
