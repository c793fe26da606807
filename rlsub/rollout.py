"""The episode-scheduled rollout: live episodes of any number of evaluations in one env, only they stepped.

Each (member m, episode e) of an evaluation is a *job* with its own episode seed
``seed + m * episodes + e``. A ``SlotRollout`` keeps the live episodes in a prefix of its env copies
(``CartPoleBatch``, or the sub-envs of a ``SyncVectorEnv``) and steps only those; a copy whose
episode ended takes the next waiting job (or the last live copy moves into its place), so the env
steps stepped are the steps counted. Each copy carries its own member's parameters: the policy
forward is one matrix-vector product per copy and layer over the live copies (on the CPU the
compiled loops of ``rlsub.mlp_kernel``), whose rows do not depend on which other rows share the
batch (``tests/test_lockstep.py``). That lets ``rlsub.lockstep`` put many trials' populations into one
rollout and still give each trial exactly the numbers it gets alone. ``rlsub.evaluate`` uses it for
single evaluations too.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rlsub import mlp_kernel
from rlsub.errors import NonFiniteReturn
from rlsub.jit import LazyJit
from rlsub.policies import ActionSpec
from rlsub.subspace import mlp_layers


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


#: Activation codes of ``rlsub.mlp_kernel.layer`` (the CPU forward of ``_SlotMLP``).
_KERNEL_ACT: dict[type[nn.Module] | None, int] = {None: mlp_kernel.NO_ACT, nn.Tanh: mlp_kernel.TANH, nn.ReLU: mlp_kernel.RELU}


def mlp_plan(module: nn.Module, obs_ndim: int) -> list[tuple[str, str | None, Callable | None]] | None:
    """Layers of a plain MLP (``rlsub.subspace.mlp_layers``, its Flatten over the observation dims)
    as (weight name, bias name, in-place activation), or None: evaluated with vmap instead."""
    mlp = mlp_layers(module)
    if mlp is None or (mlp[0] is not None and mlp[0] != -obs_ndim):
        return None
    return [(w, b, None if act is None else _INPLACE_ACT[act]) for w, b, act in mlp[1]]


def act_type(act: Callable | None) -> type[nn.Module] | None:
    for kind, fn in _INPLACE_ACT.items():
        if fn is act:
            return kind
    return None


# =============================================================================================
# episode-scheduled path
# =============================================================================================
@dataclass
class MLPWeights:
    """Per-member MLP parameters laid out for the stacked forward: ``W[l]`` is ``[rows, in, out]``
    (the transposed Linear weight), ``b[l]`` is ``[rows, out]`` or None. numpy on the CPU,
    torch tensors on other devices."""

    W: list
    b: list
    signature: tuple
    """(in, out, has bias, activation) per layer: rollouts only mix requests of one signature."""


class _SlotMLP:
    """Each env copy's MLP parameters (copied in when the copy takes a job) and the stacked
    forward of copies ``0..k-1``: one matrix-vector product per copy and layer.

    On the CPU a layer is one compiled loop over the copies (``rlsub.mlp_kernel``: fixed summation
    order, rlsub's own tanh), so a copy's output is the same whatever else is in the batch, and on
    any CPU. Other devices use torch's ``baddbmm``.
    """

    def __init__(self, signature: tuple, capacity: int, device: torch.device, use_numpy: bool | None = None) -> None:
        self.signature = signature
        self.device = device
        self.cpu = device.type == "cpu" if use_numpy is None else use_numpy
        self.capacity = 0
        self.W: list = []
        self.b: list = []
        self.out: list = []
        self.grow(capacity)

    def _zeros(self, *shape: int):
        return np.zeros(shape, dtype=np.float32) if self.cpu else torch.zeros(shape, device=self.device)

    def grow(self, capacity: int) -> None:
        if capacity <= self.capacity:
            return
        W, b, out = [], [], []
        for i, (n_in, n_out, _, _) in enumerate(self.signature):
            w_new, b_new = self._zeros(capacity, n_in, n_out), self._zeros(capacity, n_out)
            if self.capacity:
                w_new[: self.capacity] = self.W[i]
                b_new[: self.capacity] = self.b[i]
            W.append(w_new)
            b.append(b_new)
            out.append(self._zeros(capacity, n_out))
        self.W, self.b, self.out, self.capacity = W, b, out, capacity
        self._acts = [_KERNEL_ACT[act] for *_, act in self.signature]

    def load(self, slots: np.ndarray, weights: MLPWeights, rows: np.ndarray) -> None:
        """Copies ``slots[i]`` take member ``rows[i]`` of ``weights``."""
        if not self.cpu:
            slots_t, rows_t = torch.as_tensor(slots, device=self.device), torch.as_tensor(rows, device=self.device)
        for i in range(len(self.signature)):
            if self.cpu:
                self.W[i][slots] = weights.W[i][rows]
                if weights.b[i] is not None:
                    self.b[i][slots] = weights.b[i][rows]
            else:
                self.W[i][slots_t] = weights.W[i][rows_t]
                if weights.b[i] is not None:
                    self.b[i][slots_t] = weights.b[i][rows_t]

    def move(self, src: np.ndarray, dst: np.ndarray) -> None:
        if not self.cpu:
            src, dst = torch.as_tensor(src, device=self.device), torch.as_tensor(dst, device=self.device)
        for W, b in zip(self.W, self.b):
            W[dst] = W[src]
            b[dst] = b[src]

    def __call__(self, x: np.ndarray, k: int) -> np.ndarray:
        """Outputs ``[k, out]`` (numpy) of copies ``0..k-1`` for their inputs ``x`` ``[k, in]`` (float32)."""
        if self.cpu:
            h = x
            for W, b, out, act in zip(self.W, self.b, self.out, self._acts):
                mlp_kernel.layer(h, W, b, out, k, act)
                h = out
            return h[:k]
        h = torch.as_tensor(x, device=self.device)
        for (_, _, _, act), W, b in zip(self.signature, self.W, self.b):
            h = torch.baddbmm(b[:k].unsqueeze(1), h.unsqueeze(1), W[:k]).squeeze(1)
            if act is not None:
                h = torch.tanh(h) if act is nn.Tanh else torch.relu(h)
        return h.cpu().numpy()


class RolloutRequest:
    """One evaluation inside a ``SlotRollout``: ``rows`` members × ``episodes`` episodes.

    Job ``j = row * episodes + e`` plays an episode seeded ``seeds[j]`` with member ``row``'s
    parameters. ``obs_norm`` = (mean, std): observations are standardised as
    ``((obs - mean) / std).astype(float32)`` before the forward; ``record`` keeps the raw
    observations the policy acted on (``observations``, ordered by job, then time step, so the
    order does not depend on scheduling). ``owner`` is free for the caller (``rlsub.lockstep``).
    """

    def __init__(self, weights: MLPWeights, rows: int, episodes: int, seeds: np.ndarray,
                 obs_norm: tuple[np.ndarray, np.ndarray] | None = None, record: bool = False,
                 owner: object = None) -> None:
        self.weights, self.rows, self.episodes = weights, int(rows), int(episodes)
        self.seeds = np.asarray(seeds, dtype=np.int64)
        self.n_jobs = self.rows * self.episodes
        if len(self.seeds) != self.n_jobs:
            raise ValueError(f"{self.n_jobs} jobs but {len(self.seeds)} seeds")
        self.obs_norm, self.record, self.owner = obs_norm, record, owner
        self.returns = np.zeros(self.n_jobs, dtype=np.float64)
        self.steps = 0
        self.next_job = 0
        self.remaining = self.n_jobs
        self.error: Exception | None = None
        self.observations: np.ndarray | None = None
        self._seen: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    @property
    def done(self) -> bool:
        return self.remaining == 0 or self.error is not None

    def result(self) -> EvalResult:
        """The evaluation's returns ``[rows, episodes]`` and counted steps (raises its error, if any)."""
        if self.error is not None:
            raise self.error
        return EvalResult(self.returns.reshape(self.rows, self.episodes), self.steps)

    def _complete(self) -> None:
        if self.record and self._seen:
            jobs = np.concatenate([j for j, _, _ in self._seen])
            ts = np.concatenate([t for _, t, _ in self._seen])
            obs = np.concatenate([o for _, _, o in self._seen])
            self.observations = obs[np.lexsort((ts, jobs))]
        self._seen = []


class _EnvSlots:
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
    import gymnasium as gym

    vec = vector_env(task, num_envs) if vec is None else vec
    if has_slot_api(vec):
        return vec
    if type(vec) is gym.vector.SyncVectorEnv:
        return _EnvSlots(vec.envs, vec.env_fns[0])
    return None


def _count_step_numpy(reward, terminated, truncated, live, ret, t, max_steps, done):
    """One step's bookkeeping for copies ``0..k-1`` (k = ``len(reward)``): returns += reward, step
    counts += 1, ``done[:k]`` = ended (terminated, truncated, or ``max_steps`` reached when > 0) and
    live (``live`` None: all are). Returns (episodes that ended, whether every reward is finite)."""
    k = len(reward)
    ret[:k] += reward
    t[:k] += 1
    np.logical_or(terminated, truncated, out=done)
    if max_steps > 0:
        done |= t[:k] >= max_steps
    if live is not None:
        done &= live[:k]
    return int(done.sum()), bool(np.isfinite(reward).all())


def _count_step_kernel(reward, terminated, truncated, live, ret, t, max_steps, done):  # pragma: no cover - compiled
    n, finite = 0, True
    for i in range(reward.shape[0]):
        r = reward[i]
        ret[i] += r
        t[i] += 1
        d = terminated[i] or truncated[i] or (max_steps > 0 and t[i] >= max_steps)
        if live is not None:
            d = d and live[i]
        done[i] = d
        n += d
        finite = finite and math.isfinite(r)
    return n, finite


_count_kernel = LazyJit(_count_step_kernel)


def _count_step(reward, terminated, truncated, live, ret, t, max_steps, done) -> tuple[int, bool]:
    """``_count_step_numpy``, compiled where numba is installed (the same arithmetic: float64
    returns, integer counts); one call instead of a dozen small array operations a step."""
    kernel = _count_kernel.get()
    if kernel is None:
        return _count_step_numpy(reward, terminated, truncated, live, ret, t, max_steps, done)
    return kernel(reward, terminated, truncated, live, ret, t, max_steps, done)


class SlotRollout:
    """Runs the jobs of any number of ``RolloutRequest`` s in one slot env.

    Episodes occupy copies ``0..k-1``; each step runs the stacked forward of those copies, maps
    outputs to actions (argmax, or tanh scaled to the bounds) and steps those copies only. When an
    episode ends its return is booked at once, and its copy goes idle; idle copies are reclaimed in
    batches (once they are ``idle_fraction`` of the copies in use): they take the next queued
    jobs, or the last busy copies move into their places. Batching the reclaim saves a dozen small
    array operations per finished episode and costs at most that fraction of extra copy-steps
    (idle copies keep stepping, their results are ignored; ``_EnvSlots`` does not step them).
    ``stepped`` counts copy-steps taken, ``counted`` the steps of booked episodes.

    Args:
        env: slot env (``slot_env``).
        signature: the MLP layer signature every request must have.
        action: the policy's action head.
        obs_size: flattened observation size.
        max_steps: episode cap (an episode still running after this many steps is truncated).
        task_name: for error messages.
        capacity: most episodes live at once (env copies used).
        device: where the forward runs.
        idle_fraction: reclaim idle copies once they are this fraction of the copies in use.
    """

    def __init__(self, env, signature: tuple, action: ActionSpec, obs_size: int, max_steps: int, task_name: str,
                 capacity: int, device: torch.device | str = "cpu", idle_fraction: float = 0.125) -> None:
        self.env = env
        self.signature = signature
        self.action = action
        self.obs_size = int(obs_size)
        self.max_steps = int(max_steps)
        self.task_name = task_name
        self.device = torch.device(device)
        self.idle_fraction = float(idle_fraction)
        self.mlp = _SlotMLP(signature, 0, self.device)
        self.capacity = 0
        self.k = 0
        self.n_idle = 0
        self.stepped = 0
        self.counted = 0
        self.iterations = 0
        self._queue: deque[RolloutRequest] = deque()
        self._owners: dict[int, RolloutRequest] = {}
        self._ids = itertools.count()
        self._normalize = False
        self._recording = 0
        self._obs: np.ndarray | None = None
        # Envs that cap episodes themselves need no step-count check here.
        self._own_cap = getattr(env, "max_episode_steps", None) is not None and env.max_episode_steps <= self.max_steps
        if action.kind == "box":
            self._low = np.asarray(action.low, dtype=np.float32)
            self._span = np.asarray(action.high, dtype=np.float32) - self._low
        self.ensure_capacity(capacity)

    # -- bookkeeping arrays -------------------------------------------------------------------
    def ensure_capacity(self, capacity: int) -> None:
        """Allow up to ``capacity`` live episodes."""
        if capacity <= self.capacity:
            return

        def grown(old, shape, dtype, fill=0):
            new = np.full(shape, fill, dtype=dtype)
            if old is not None:
                new[: len(old)] = old
            return new

        c, n = capacity, self.obs_size
        old = self.capacity > 0
        self.slot_req = grown(self.slot_req if old else None, c, np.int64, -1)
        self.slot_job = grown(self.slot_job if old else None, c, np.int64)
        self.ret = grown(self.ret if old else None, c, np.float64)
        self.t = grown(self.t if old else None, c, np.int64)
        self.rec = grown(self.rec if old else None, c, bool)
        self.live = grown(self.live if old else None, c, bool)
        self._done = np.zeros(c, dtype=bool)
        self.mean = grown(self.mean if old else None, (c, n), np.float64)
        self.std = grown(self.std if old else None, (c, n), np.float64, 1.0)
        if self._obs is not None:
            self._obs = grown(self._obs, (c, n), self._obs.dtype)
        self.mlp.grow(c)
        self.capacity = c

    # -- requests -------------------------------------------------------------------------------
    def submit(self, req: RolloutRequest) -> None:
        """Queue ``req``'s jobs (they start as copies free up)."""
        if req.weights.signature != self.signature:
            raise ValueError(f"request's network {req.weights.signature} differs from this rollout's {self.signature}")
        rid = next(self._ids)
        req._id = rid  # type: ignore[attr-defined]
        self._owners[rid] = req
        if req.obs_norm is not None:
            self._normalize = True
        if req.record:
            self._recording += 1
        if req.n_jobs == 0:
            req.remaining = 0
            self._close(req)
            return
        self._queue.append(req)

    @property
    def busy(self) -> bool:
        """Whether any job is live or queued."""
        return self.k > self.n_idle or bool(self._queue)

    def run(self, req: RolloutRequest) -> RolloutRequest:
        """Submit ``req`` and step until it is done (``req.result()`` then gives its result)."""
        self.submit(req)
        while not req.done:
            self.advance()
        return req

    def advance(self) -> list[RolloutRequest]:
        """Step until at least one request is done (or nothing is left); the requests that finished."""
        while True:
            if self.n_idle and (self.n_idle >= self.idle_fraction * self.k or self.n_idle == self.k):
                self._reclaim()
            if self._queue and self.k < self.capacity:
                self.k += self._assign(np.arange(self.k, self.capacity))
            if self.k == self.n_idle:
                if self.k:
                    self._reclaim()
                return []
            finished = self._step()
            if finished:
                return finished

    # -- internals --------------------------------------------------------------------------------
    def _close(self, req: RolloutRequest) -> None:
        req._complete()
        if req.record:
            self._recording -= 1
        del self._owners[req._id]  # type: ignore[attr-defined]

    def _assign(self, slots: np.ndarray) -> int:
        """Give queued jobs to copies ``slots`` (in order); how many got one."""
        filled = 0
        while filled < len(slots) and self._queue:
            req = self._queue[0]
            c = min(len(slots) - filled, req.n_jobs - req.next_job)
            tgt = slots[filled: filled + c]
            jobs = np.arange(req.next_job, req.next_job + c)
            req.next_job += c
            if req.next_job == req.n_jobs:
                self._queue.popleft()
            self.env.grow(int(tgt[-1]) + 1)
            obs = np.asarray(self.env.reset_copies(tgt, req.seeds[jobs])).reshape(c, -1)
            if self._obs is None:
                self._obs = np.zeros((self.capacity, self.obs_size), dtype=obs.dtype)
            self._obs[tgt] = obs
            self.mlp.load(tgt, req.weights, jobs // req.episodes)
            self.slot_req[tgt] = req._id  # type: ignore[attr-defined]
            self.slot_job[tgt] = jobs
            self.ret[tgt] = 0.0
            self.t[tgt] = 0
            self.rec[tgt] = req.record
            self.live[tgt] = True
            if req.obs_norm is not None:
                self.mean[tgt] = np.asarray(req.obs_norm[0], dtype=np.float64).reshape(-1)
                self.std[tgt] = np.asarray(req.obs_norm[1], dtype=np.float64).reshape(-1)
            elif self._normalize:
                # (obs - 0) / 1 in float64 then float32 is exactly the plain cast.
                self.mean[tgt] = 0.0
                self.std[tgt] = 1.0
            filled += c
        return filled

    def _record(self, k: int) -> None:
        sel = np.flatnonzero(self.rec[:k] & self.live[:k])
        if not len(sel):
            return
        owners = self.slot_req[sel]
        jobs, ts = self.slot_job[sel], self.t[sel]
        obs = self._obs[sel].astype(np.float64)
        for rid in np.unique(owners).tolist():
            m = owners == rid
            self._owners[rid]._seen.append((jobs[m], ts[m], obs[m]))

    def _actions(self, out: np.ndarray) -> np.ndarray:
        if self.action.kind == "discrete":
            return out.argmax(axis=1)
        act = self._low + (mlp_kernel.tanh32(out) + 1.0) * 0.5 * self._span
        return act.reshape(out.shape[0], *self.action.shape)

    def _step(self) -> list[RolloutRequest]:
        k = self.k
        obs = self._obs[:k]
        if self._recording:
            self._record(k)
        if self._normalize:
            x = ((obs - self.mean[:k]) / self.std[:k]).astype(np.float32)
        else:
            x = obs if obs.dtype == np.float32 else obs.astype(np.float32)
        live = self.live[:k] if self.n_idle else None
        o2, reward, terminated, truncated = self.env.step_copies(k, self._actions(self.mlp(x, k)), live)
        self.iterations += 1
        self.stepped += k
        obs[:] = o2.reshape(k, -1)
        done = self._done[:k]
        n_done, finite = _count_step(np.asarray(reward), np.asarray(terminated), np.asarray(truncated), live,
                                     self.ret, self.t, 0 if self._own_cap else self.max_steps, done)
        failed: list[RolloutRequest] = []
        if not finite:
            bad = ~np.isfinite(reward)
            if live is not None:
                bad &= live
            for s in np.flatnonzero(bad).tolist():
                req = self._owners[int(self.slot_req[s])]
                if req.error is None:
                    req.error = NonFiniteReturn(f"environment {self.task_name} returned a non-finite reward ({reward[s]})")
                    failed.append(req)
            for req in failed:
                done |= self.slot_req[:k] == req._id  # type: ignore[attr-defined]
                if req in self._queue:
                    self._queue.remove(req)
            if live is not None:
                done &= live
            n_done = int(done.sum())
        if not n_done:
            return failed
        return self._book(np.flatnonzero(done), failed)

    def _book(self, slots: np.ndarray, failed: list[RolloutRequest]) -> list[RolloutRequest]:
        """Book the episodes that ended in ``slots`` (their copies go idle); close finished and
        ``failed`` requests. The requests that are done."""
        finished = []
        for s in slots.tolist():
            req = self._owners[int(self.slot_req[s])]
            if req.error is not None:
                continue
            req.returns[self.slot_job[s]] = self.ret[s]
            steps = int(self.t[s])
            req.steps += steps
            self.counted += steps
            req.remaining -= 1
            if req.remaining == 0:
                finished.append(req)
        self.live[slots] = False
        self.n_idle += len(slots)
        for req in finished + failed:
            self._close(req)
        return failed + finished

    def _reclaim(self) -> None:
        """Idle copies take queued jobs; the rest are compacted away."""
        holes = np.flatnonzero(~self.live[: self.k])
        n = self._assign(holes)
        if n < len(holes):
            self._compact(holes[n:])
        self.n_idle = 0

    def _compact(self, holes: np.ndarray) -> None:
        """Move the busy copies beyond the new prefix into ``holes`` (sorted, all < k)."""
        k = self.k
        new_k = k - len(holes)
        tail = np.ones(k - new_k, dtype=bool)
        tail[holes[holes >= new_k] - new_k] = False
        src = np.flatnonzero(tail) + new_k
        dst = holes[holes < new_k]
        if len(src):
            self.env.move(src, dst)
            self.mlp.move(src, dst)
            for arr in (self._obs, self.slot_req, self.slot_job, self.ret, self.t, self.rec, self.live, self.mean, self.std):
                arr[dst] = arr[src]
        self.k = new_k

    def close(self) -> None:
        self.env.close()
