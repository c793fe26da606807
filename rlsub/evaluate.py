"""Batched population evaluation: pop × episodes env copies stepped together.

One vector env holds an env per (member, episode); each step runs one batched forward for the
whole population (``Subspace.population_forward``) with parameters projected once per call.
Episode bookkeeping follows Gymnasium 1.x NEXT_STEP autoreset: an env's return is counted until its
first termination or truncation; later steps of that env (its autoreset) are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

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


#: In-place activations of the MLP fast path (the activations ``rlsub.policies`` builds).
def _tanh_(h: torch.Tensor) -> torch.Tensor:
    """In-place tanh. On the CPU numpy's SIMD tanh is ~10x faster than torch's kernel on these
    small batches (it was a quarter of the whole CartPole evaluation step); elementwise, so a
    member slice still gets bit-identical activations."""
    if h.device.type == "cpu" and h.is_contiguous():
        a = h.numpy()
        np.tanh(a, out=a)
        return h
    return h.tanh_()


_INPLACE_ACT: dict[type[nn.Module], Callable[[torch.Tensor], torch.Tensor]] = {
    nn.Tanh: _tanh_,
    nn.ReLU: torch.relu_,
}


def _mlp_plan(module: nn.Module, obs_ndim: int) -> list[tuple[str, str | None, Callable | None]] | None:
    """Layers of a plain MLP as (weight name, bias name, in-place activation), or None.

    Recognises ``nn.Sequential`` of [Flatten (first, over the observation dims)] then Linear
    layers each followed by at most one Tanh/ReLU: what ``rlsub.policies.build_mlp`` makes.
    Anything else returns None and is evaluated with vmap.
    """
    if not isinstance(module, nn.Sequential):
        return None
    plan: list[tuple[str, str | None, Callable | None]] = []
    for i, layer in enumerate(module):
        if isinstance(layer, nn.Flatten):
            if i != 0 or layer.end_dim != -1 or layer.start_dim != -obs_ndim:
                return None
        elif type(layer) is nn.Linear:
            plan.append((f"{i}.weight", f"{i}.bias" if layer.bias is not None else None, None))
        elif type(layer) in _INPLACE_ACT and plan and plan[-1][2] is None:
            w, b, _ = plan[-1]
            plan[-1] = (w, b, _INPLACE_ACT[type(layer)])
        else:
            return None
    return plan or None


class PopulationEvaluator:
    """Evaluate populations of θ_d on a task with batched envs and a batched policy forward.

    The vector env is built lazily and reused while the number of env copies stays the same.
    MLP policies (``rlsub.policies.build_mlp``) run as one batched GEMM per layer (bmm + bias +
    in-place activation) into preallocated buffers, without vmap's per-step overhead (2-3× per
    step on CartPole); other networks go through ``Subspace.population_forward``.

    ``pipeline``: with vector envs that step asynchronously (``send``/``recv``: ale_py's
    ``AtariVectorEnv``) a population of two or more members is split into two halves, each in its
    own vector env, and one half's policy forward runs while the other half's games step (the
    halves' envs are seeded exactly as the copies of one env: same returns, see ``evaluate``).
    """

    def __init__(self, task, subspace: Subspace, spec: PolicySpec, device: str | torch.device = "cpu",
                 pipeline: bool = True):
        self.task = task
        self.subspace = subspace
        self.spec = spec
        self.device = torch.device(device)
        self.pipeline = pipeline
        self._async: bool | None = None
        self._envs: dict[tuple[int, int], object] = {}

    def _vec(self, num_envs: int, lane: int = 0):
        """A vector env of ``num_envs`` copies, kept for reuse (MuJoCo/Atari envs are slow to build);
        ``lane`` tells apart the envs of a pipelined evaluation's two halves."""
        if (num_envs, lane) not in self._envs:
            self._envs[num_envs, lane] = self.task.make_vec(num_envs)
        return self._envs[num_envs, lane]

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs.clear()

    def _policy(self, params: dict[str, torch.Tensor], pop: int, episodes: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """A function ``x [pop, episodes, *obs] -> out [pop, episodes, out_dim]`` for these params."""
        obs_ndim = len(self.spec.obs_shape)
        plan = _mlp_plan(self.subspace.module, obs_ndim)
        if plan is None:
            return lambda x: self.subspace.population_forward(params, x)
        layers = []
        for w_name, b_name, act in plan:
            w = params[w_name]  # [pop, out, in]
            wt = w.transpose(1, 2).contiguous()  # once per evaluation: bmm is ~15% faster on it
            b = params[b_name].unsqueeze(1) if b_name is not None else None  # [pop, 1, out]
            buf = torch.empty(pop, episodes, w.shape[1], dtype=w.dtype, device=w.device)
            layers.append((wt, b, act, buf))

        def forward(x: torch.Tensor) -> torch.Tensor:
            h = x.reshape(pop, episodes, -1)
            for wt, b, act, buf in layers:
                # baddbmm fuses the bias into the product (one kernel, one pass over the output).
                h = torch.baddbmm(b, h, wt, out=buf) if b is not None else torch.bmm(h, wt, out=buf)
                if act is not None:
                    act(h)
            return h

        return forward

    @torch.no_grad()
    def evaluate(self, thetas: torch.Tensor | np.ndarray, episodes: int, seed: int,
                 members: tuple[int, int] | None = None) -> EvalResult:
        """Run ``episodes`` episodes for each row of ``thetas`` (``[pop, d]``), seeded by ``seed``.

        Member m's episode e runs in env copy ``m * episodes + e`` of one vector env reset with
        ``seed``. ``members=(lo, hi)`` evaluates only rows lo:hi, with exactly the returns a full
        evaluation gives them (used to split a population across workers): vector envs that seed
        copy i with ``seed + i`` are built at the slice's size and reset with ``seed + lo*episodes``;
        others (one RNG for all copies, e.g. CartPole's) are built at full size, and the copies of
        other members get a filler action and are ignored.
        """
        thetas = torch.as_tensor(np.asarray(thetas) if not torch.is_tensor(thetas) else thetas)
        thetas = thetas.to(self.device, torch.float32).reshape(-1, self.subspace.d)
        pop = thetas.shape[0]
        lo, hi = members if members is not None else (0, pop)
        if not 0 <= lo < hi <= pop:
            raise ValueError(f"bad member slice {lo}:{hi} of a population of {pop}")
        # θ_0 + Pθ_d for the whole population (same shapes as an unsplit call: bit-identical params).
        params = self.subspace.population_params(thetas)
        k, first = hi - lo, lo * episodes
        m = k * episodes
        if k != pop:
            params = {name: v[lo:hi] for name, v in params.items()}
        seed = int(seed) % 2**31
        if self._can_pipeline(k, episodes):
            return self._evaluate_pipelined(params, k, episodes, seed + first)
        policy = self._policy(params, k, episodes)
        mine: slice | None = None
        if k == pop:
            env = self._vec(m)
            obs, _ = env.reset(seed=seed)
        elif _seeds_each_copy(self._vec(m)):
            env = self._vec(m)
            obs, _ = env.reset(seed=seed + first)
        else:
            env = self._vec(pop * episodes)
            obs, _ = env.reset(seed=seed)
            mine = slice(first, first + m)
        tally = _Tally(m, self.task.name)
        for _ in range(self.task.max_episode_steps + 1):
            action = self._act(policy, obs if mine is None else obs[mine], k, episodes)
            if mine is not None:
                full = np.empty((pop * episodes, *action.shape[1:]), dtype=action.dtype)
                full[:] = action[0]
                full[mine] = action
                action = full
            obs, reward, terminated, truncated, _ = env.step(action)
            if mine is not None:
                reward, terminated, truncated = np.asarray(reward)[mine], np.asarray(terminated)[mine], np.asarray(truncated)[mine]
            tally.add(reward, terminated, truncated)
            if tally.finished:
                break
        return EvalResult(tally.returns.reshape(k, episodes), tally.steps)

    def _act(self, policy: Callable[[torch.Tensor], torch.Tensor], obs: np.ndarray, k: int, episodes: int) -> np.ndarray:
        """Env actions of ``k`` members × ``episodes`` copies for observations ``obs``."""
        x = torch.as_tensor(obs, device=self.device)
        # Pixels travel as uint8 (4x less traffic to a GPU); the CNN scales them itself.
        if self.spec.family != "cnn":
            x = x.to(torch.float32)
        out = policy(x.reshape(k, episodes, *self.spec.obs_shape))
        return self.spec.action.to_env(out.reshape(k * episodes, -1))

    def _can_pipeline(self, k: int, episodes: int) -> bool:
        """Whether ``k`` members can be evaluated pipelined (decided once, from the first half's env)."""
        if not (self.pipeline and k >= 2):
            return False
        if self._async is None:
            env = self._vec((k // 2) * episodes, lane=1)
            self._async = hasattr(env, "send") and hasattr(env, "recv") and _seeds_each_copy(env)
        return self._async

    def _evaluate_pipelined(self, params: dict[str, torch.Tensor], k: int, episodes: int, seed: int) -> EvalResult:
        """``evaluate`` for members 0..k of ``params`` in two halves that overlap policy and env time.

        Half h's envs are copies ``lo_h·episodes…`` of the unsplit env, reset with ``seed +
        lo_h·episodes`` (these envs seed copy i with seed + i), so every episode is the one an
        unsplit evaluation plays; each half steps until its own envs are done.
        """
        cut = k // 2
        lanes = []
        for i, (lo, hi) in enumerate(((0, cut), (cut, k))):
            env = self._vec((hi - lo) * episodes, lane=i + 1)
            obs, _ = env.reset(seed=seed + lo * episodes)
            policy = self._policy({name: v[lo:hi] for name, v in params.items()}, hi - lo, episodes)
            lanes.append(_Lane(env, policy, hi - lo, obs, _Tally((hi - lo) * episodes, self.task.name)))
        try:
            for lane in lanes:
                lane.send(self._act(lane.policy, lane.obs, lane.members, episodes))
            active = list(lanes)
            while active:
                for lane in list(active):
                    # While this half is received and its next actions computed, the other half's
                    # games step in the env's own threads.
                    obs, reward, terminated, truncated, _ = lane.recv()
                    lane.tally.add(reward, terminated, truncated)
                    lane.iterations += 1
                    if lane.tally.finished or lane.iterations > self.task.max_episode_steps:
                        active.remove(lane)
                    else:
                        lane.send(self._act(lane.policy, obs, lane.members, episodes))
        finally:
            for lane in lanes:  # an error mid-step (a NaN reward) must not leave a step in flight
                if lane.in_flight:
                    lane.recv()
        returns = np.concatenate([lane.tally.returns for lane in lanes])
        return EvalResult(returns.reshape(k, episodes), sum(lane.tally.steps for lane in lanes))


class _Tally:
    """Returns of ``m`` env copies until each one's first episode end (NEXT_STEP autoreset: later
    steps of a copy are ignored), and the env steps that counted."""

    def __init__(self, m: int, task_name: str) -> None:
        self.returns = np.zeros(m, dtype=np.float64)
        self.done = np.zeros(m, dtype=bool)
        self.n_done = self.steps = 0
        self.task_name = task_name

    def add(self, reward, terminated, truncated) -> None:
        reward = np.asarray(reward, dtype=np.float64)
        if not np.isfinite(reward).all():  # only rewards of still-counted envs matter
            bad = ~np.isfinite(reward) & ~self.done
            if bad.any():
                raise NonFiniteReturn(f"environment {self.task_name} returned a non-finite reward ({reward[bad][0]})")
        np.add(self.returns, reward, out=self.returns, where=~self.done)
        self.steps += len(self.done) - self.n_done
        self.done |= np.asarray(terminated)
        self.done |= np.asarray(truncated)
        self.n_done = int(np.count_nonzero(self.done))

    @property
    def finished(self) -> bool:
        return self.n_done == len(self.done)


class _Lane:
    """One half of a pipelined evaluation: its env, policy and bookkeeping, and whether a step is in flight."""

    def __init__(self, env, policy, members: int, obs: np.ndarray, tally: _Tally) -> None:
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


def _seeds_each_copy(env) -> bool:
    """Whether ``env.reset(seed=s)`` seeds copy i with ``s + i`` (so a member slice can run alone)."""
    import gymnasium as gym

    kinds: tuple[type, ...] = (gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv)
    try:
        from ale_py.vector_env import AtariVectorEnv

        kinds += (AtariVectorEnv,)
    except ImportError:  # pragma: no cover - ale-py is a dependency
        pass
    return isinstance(env, kinds)
