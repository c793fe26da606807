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
    """

    def __init__(self, task, subspace: Subspace, spec: PolicySpec, device: str | torch.device = "cpu"):
        self.task = task
        self.subspace = subspace
        self.spec = spec
        self.device = torch.device(device)
        self._envs: dict[int, object] = {}

    def _vec(self, num_envs: int):
        """A vector env of ``num_envs`` copies, kept for reuse (MuJoCo/Atari envs are slow to build)."""
        if num_envs not in self._envs:
            self._envs[num_envs] = self.task.make_vec(num_envs)
        return self._envs[num_envs]

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
        policy = self._policy(params, k, episodes)
        seed = int(seed) % 2**31
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
        returns = np.zeros(m, dtype=np.float64)
        done = np.zeros(m, dtype=bool)
        n_done = 0
        steps = 0
        obs_shape = self.spec.obs_shape
        # Pixels travel as uint8 (4x less traffic to a GPU); the CNN scales them itself.
        as_float = self.spec.family != "cnn"
        for _ in range(self.task.max_episode_steps + 1):
            x = torch.as_tensor(obs if mine is None else obs[mine], device=self.device)
            if as_float:
                x = x.to(torch.float32)
            out = policy(x.reshape(k, episodes, *obs_shape))
            action = self.spec.action.to_env(out.reshape(m, -1))
            if mine is not None:
                full = np.empty((pop * episodes, *action.shape[1:]), dtype=action.dtype)
                full[:] = action[0]
                full[mine] = action
                action = full
            obs, reward, terminated, truncated, _ = env.step(action)
            reward = np.asarray(reward, dtype=np.float64)
            terminated, truncated = np.asarray(terminated), np.asarray(truncated)
            if mine is not None:
                reward, terminated, truncated = reward[mine], terminated[mine], truncated[mine]
            if not np.isfinite(reward).all():  # only rewards of still-counted envs matter
                bad = ~np.isfinite(reward) & ~done
                if bad.any():
                    raise NonFiniteReturn(
                        f"environment {self.task.name} returned a non-finite reward ({reward[bad][0]})"
                    )
            np.add(returns, reward, out=returns, where=~done)
            steps += m - n_done
            done |= terminated
            done |= truncated
            n_done = int(np.count_nonzero(done))
            if n_done == m:
                break
        return EvalResult(returns.reshape(k, episodes), steps)


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
