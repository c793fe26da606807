"""Pieces of the whole-batch evaluation path ([`rlsub.evaluation.population`][rlsub.evaluation.population]): every (member, episode) a copy of one
vector env, stepped together until the last episode ends.

``mlp_plan`` reads a plain MLP's layers (also the scheduled path's layer signature); ``EpisodeTally``
books returns under Gymnasium's NEXT_STEP autoreset and refuses non-finite rewards and observations.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rlsub.errors import NonFiniteObservation, NonFiniteReturn
from rlsub.subspace import mlp_layers


def _tanh_(h: torch.Tensor) -> torch.Tensor:
    """In-place tanh. On the CPU numpy's SIMD tanh is ~10x faster than torch's kernel on these
    small batches (it was a quarter of the whole CartPole evaluation step); elementwise, so a
    member slice still gets bit-identical activations."""
    # np.tanh, not rlsub.kernels.mlp_forward.tanh32 (the scheduled path's): whole-batch results were stored with it.
    if h.device.type == "cpu" and h.is_contiguous():
        a = h.numpy()
        np.tanh(a, out=a)
        return h
    return h.tanh_()


#: In-place activations of the whole-batch MLP path (the activations ``rlsub.policies.networks`` builds).
_INPLACE_ACT: dict[type[nn.Module], Callable[[torch.Tensor], torch.Tensor]] = {
    nn.Tanh: _tanh_,
    nn.ReLU: torch.relu_,
}


def mlp_plan(module: nn.Module, obs_ndim: int) -> list[tuple[str, str | None, Callable | None]] | None:
    """Layers of a plain MLP ([`rlsub.subspace.mlp_layers`][rlsub.subspace.mlp_layers], its Flatten over the observation dims)
    as (weight name, bias name, in-place activation), or None: evaluated with vmap instead."""
    mlp = mlp_layers(module)
    if mlp is None or (mlp[0] is not None and mlp[0] != -obs_ndim):
        return None
    return [(w, b, None if act is None else _INPLACE_ACT[act]) for w, b, act in mlp[1]]


def act_type(act: Callable | None) -> type[nn.Module] | None:
    """The module type of an in-place activation of ``mlp_plan`` (None: no activation)."""
    for kind, fn in _INPLACE_ACT.items():
        if fn is act:
            return kind
    return None


class EpisodeTally:
    """Returns of ``m`` env copies until each one's first episode end (NEXT_STEP autoreset: later
    steps of a copy are ignored), and the env steps that counted. A non-finite reward, or
    observation, of a still-counted copy ends the evaluation (``NonFiniteReturn``)."""

    def __init__(self, m: int, task_name: str) -> None:
        self.returns = np.zeros(m, dtype=np.float64)
        self.done = np.zeros(m, dtype=bool)
        self.n_done = self.steps = self.iterations = 0
        self.task_name = task_name

    def add(self, reward, terminated, truncated, obs: np.ndarray | None = None) -> None:
        """Book one step of every copy; ``obs``: the observations it returned (checked when given)."""
        reward = np.asarray(reward, dtype=np.float64)
        self.iterations += 1
        if not np.isfinite(reward).all():  # only rewards of still-counted envs matter
            bad = ~np.isfinite(reward) & ~self.done
            if bad.any():
                raise NonFiniteReturn(f"environment {self.task_name} returned a non-finite reward ({reward[bad][0]})")
        if obs is not None:
            self.check_observations(obs)
        np.add(self.returns, reward, out=self.returns, where=~self.done)
        self.steps += len(self.done) - self.n_done
        self.done |= np.asarray(terminated)
        self.done |= np.asarray(truncated)
        self.n_done = int(np.count_nonzero(self.done))

    def check_observations(self, obs: np.ndarray) -> None:
        """Raise ``NonFiniteObservation`` when a still-counted copy's observation (``obs[i]``, after
        ``iterations`` steps: 0 is the reset) has a NaN or infinity. Integer observations pass as they are."""
        obs = np.asarray(obs)
        if obs.dtype.kind not in "fc" or np.isfinite(obs).all():
            return
        bad = ~np.isfinite(obs.reshape(len(self.done), -1)).all(axis=1) & ~self.done
        if bad.any():
            raise NonFiniteObservation(f"environment {self.task_name} returned a non-finite observation "
                                       f"at step {self.iterations}")

    @property
    def finished(self) -> bool:
        return self.n_done == len(self.done)


class Lane:
    """One half of a pipelined evaluation: its env, policy and bookkeeping, and whether a step is in flight."""

    def __init__(self, env, policy, members: int, obs: np.ndarray, tally: EpisodeTally) -> None:
        self.env, self.policy, self.members, self.obs, self.tally = env, policy, members, obs, tally
        self.iterations = 0
        self.in_flight = False

    def send(self, action: np.ndarray) -> None:
        self.env.send(action)
        self.in_flight = True

    def recv(self):
        out = self.env.recv()
        self.in_flight = False
        return out


def seeds_each_copy(env) -> bool:
    """Whether ``env.reset(seed=s)`` seeds copy i with ``s + i`` (so a member slice can run alone)."""
    if getattr(env, "seeds_each_copy", False):  # rlsub's own batched envs (CartPoleBatch) say so themselves
        return True
    kinds: tuple[type, ...] = (gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv)
    try:
        from ale_py.vector_env import AtariVectorEnv

        kinds += (AtariVectorEnv,)
    except ImportError:  # pragma: no cover - ale-py is a dependency
        pass
    return isinstance(env, kinds)


__all__ = ["EpisodeTally", "Lane", "act_type", "mlp_plan", "seeds_each_copy"]
